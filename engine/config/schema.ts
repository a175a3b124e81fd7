/**
 * The stack config schema: one typed, validated shape for every stack (dev, test, prod).
 *
 * The raw input is the `gitops:*` namespace of Pulumi.<stack>.yaml, either as Pulumi hands it to
 * the program or as `gitops fleet render` reads it from the file. `parseStackConfig` checks every
 * key, fills documented defaults, and throws one `StackConfigError` that lists every problem,
 * each naming its key and the expected shape, before any resource is registered.
 *
 * Secrets (tokens, kubeconfigs, webhook addresses) never live here: they are read separately
 * through `pulumi config set --secret` (see SECRET_KEYS) and stay Pulumi secrets.
 */
import { canaryProblems, FLAGGER_NAMESPACE, PROMETHEUS_URL } from "../delivery/canary";
import { deliveryStack } from "../delivery/mesh";
import { GitopsError } from "../errors";
import { FLUX_RELEASE } from "../flux/upstream";
import {
    ConfigErrors,
    DNS_LABEL,
    DNS_LABEL_TEXT,
    DNS_SUBDOMAIN,
    DNS_SUBDOMAIN_TEXT,
    DURATION,
    DURATION_TEXT,
    Node,
    NS,
} from "./check";
import {
    branchNameProblem,
    fullRefNameProblem,
    projectPathProblem,
    regexpProblem,
    repoPathProblem,
    SECRET_NAME,
    semverRangeProblem,
    tagNameProblem,
    urlCredentialProblem,
    webhookAddressProblem,
} from "./validate";

/** The config namespace: every setting is `gitops:<key>`. */
export { NS };

export const CLUSTER_KINDS = ["k3d", "kind", "aks", "existing", "local", "none"] as const;
export type ClusterKind = (typeof CLUSTER_KINDS)[number];

/** Flux controllers, as `flux install --components` / `--components-extra` name them. */
export const FLUX_DEFAULT_COMPONENTS = [
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "notification-controller",
] as const;
export const FLUX_EXTRA_COMPONENTS = ["image-reflector-controller", "image-automation-controller"] as const;
export type FluxComponent = (typeof FLUX_DEFAULT_COMPONENTS)[number] | (typeof FLUX_EXTRA_COMPONENTS)[number];

/**
 * Keys that may only be set with `pulumi config set --secret`. The program reads them as secrets;
 * a plain-text value is an error that says how to fix it.
 */
export const SECRET_KEYS = {
    /** GitHub token for the @pulumi/github provider (else GITHUB_TOKEN in the environment). */
    githubToken: "githubToken",
    /** Kubeconfig of an existing cluster (cluster.kind: existing), unless cluster.existing.kubeconfigPath is set. */
    kubeconfig: "kubeconfig",
    /** Map of notification provider name -> address or token (Slack/Teams webhook URL, GitHub token). */
    notificationSecrets: "notificationSecrets",
    /** Map of GitHub Actions secret name -> value, for the workflows. */
    actionsSecrets: "actionsSecrets",
    /** Token the GitHub webhook Receiver checks (HMAC). Generated when absent. */
    receiverToken: "receiverToken",
    /** Registry credentials for ImageRepositories: map of registry host -> "user:password". */
    registryCredentials: "registryCredentials",
} as const;

export interface K3dSettings {
    /** Agent (worker) nodes. Default 3. */
    agents: number;
    /** Server nodes. Default 1. */
    servers: number;
    /** Port mappings in k3d's syntax. Default ["8080:80@loadbalancer"]. */
    ports: string[];
    /** k3s image, e.g. "rancher/k3s:v1.33.4-k3s1". Default: k3d's own. */
    image?: string;
}

export interface KindSettings {
    /** Node image, e.g. "kindest/node:v1.33.1". Default: kind's own. */
    nodeImage?: string;
    /** Extra host mounts on the control-plane node. */
    extraMounts: Array<{ hostPath: string; containerPath: string; readOnly: boolean }>;
    /** Host port mappings on the control-plane node. Default 8080 -> 80. */
    portMappings: Array<{ containerPort: number; hostPort: number; protocol: "TCP" | "UDP" }>;
    /** Worker nodes. Default 0. */
    workers: number;
}

export interface AksSettings {
    /** Azure region. Required for kind aks. */
    location: string;
    /** Resource group name. Default "<cluster.name>-rg". */
    resourceGroup: string;
    /** Kubernetes version. Default: AKS's default. */
    kubernetesVersion?: string;
    /** System pool size. Default 3. */
    nodeCount: number;
    /** System pool VM size. Default "Standard_D2s_v5". */
    vmSize: string;
    /** Install Flux as the managed `microsoft.flux` extension instead of our own controllers. Default false. */
    fluxExtension: boolean;
}

export interface ExistingSettings {
    /** Context in the kubeconfig. Default: its current-context. */
    context?: string;
    /** Path of a kubeconfig file; else the secret `gitops:kubeconfig`. */
    kubeconfigPath?: string;
}

export interface LocalSettings {
    /** State folder of the local control plane (pids, ports, kubeconfig, logs), relative to the project. Default ".gitops/local". */
    dir: string;
    /** Port on 127.0.0.1 where the control plane serves the fleet repos to Flux. Default 8765. */
    fleetPort: number;
}

export interface ClusterConfig {
    kind: ClusterKind;
    /** Cluster name. Default "gitops-<stack>". Changing it replaces the cluster. */
    name: string;
    k3d: K3dSettings;
    kindConfig: KindSettings;
    aks: AksSettings;
    existing: ExistingSettings;
    /** cluster.kind local: the local control plane with real Flux as processes (engine/localcluster). */
    local: LocalSettings;
}

export interface GithubRepoSettings {
    owner: string;
    /** Repository name. */
    name: string;
    /** Default "private". */
    visibility: "private" | "public" | "internal";
    /** Adopt an existing repository instead of creating it. Default false. */
    adopt: boolean;
    /** Branches to protect (main and the environment branches). Default ["main"] (+ stage branches in the branches model). */
    protectedBranches: string[];
}

export interface FleetConfig {
    /**
     * Where the fleet repository lives, for the reconcile engine: a local path (a bare repository
     * created if missing) or a git URL. Default ".fleet/fleet.git" (the embedded default).
     */
    url: string;
    /** The URL Flux in the cluster pulls from. Default: `url` when it is ssh:// or https://; for a local repo, see README. */
    clusterUrl: string;
    /** Branch this stack syncs. Default "main" (in the branches promotion model: the stack name). */
    branch: string;
    /** Path Flux syncs for this stack. Default "clusters/<stack>". */
    path: string;
    /** Commit author for the reconcile engine's commits. */
    author: { name: string; email: string };
    /** The repository on GitHub, when it lives there. */
    github?: GithubRepoSettings;
    /** Publish the environment as an OCI artifact that Flux pulls instead of Git. Default: absent (Flux pulls Git). */
    oci?: FleetOciSettings;
}

/**
 * gitops:fleet.oci: FleetSync commits to Git as always, then publishes the commit's tree as a Flux
 * OCI artifact (revision `<branch>@sha1:<commit>`, created = the commit time, so one commit is one
 * digest), and the flux-system sync becomes an OCIRepository + Kustomization that pull it.
 */
export interface FleetOciSettings {
    /** Where FleetSync pushes: "oci://host[:port]/repository", no tag. Required. */
    repository: string;
    /** The same repository as the cluster reaches it. Default: `repository`. */
    clusterRepository: string;
    /** The tag this environment follows; promotion copies a digest to it. Default: the stack name. */
    tag: string;
    /** Plain HTTP (OCIRepository spec.insecure; the push uses HTTP for loopback and private hosts anyway). Default false. */
    insecure: boolean;
    /** Pull secret for the OCIRepository (a dockerconfigjson Secret FleetSync makes from gitops:registryCredentials). Default: none. */
    secretRef?: string;
    /** Signature verification by source-controller (OCIRepository spec.verify). Default: none. */
    verify?: { provider: "cosign" | "notation"; secretRef?: string; matchOIDCIdentity?: Array<{ issuer: string; subject: string }> };
}

export interface FluxConfig {
    /** Pinned Flux version. Default FLUX_RELEASE.version (engine/flux/upstream.ts), whose upstream install is cached. */
    version: string;
    /** Controllers. Default: the four defaults plus image-reflector and image-automation. */
    components: FluxComponent[];
    /** Namespace. Default "flux-system". */
    namespace: string;
    /** GitRepository poll interval. Default "1m0s". */
    interval: string;
    /** flux-system Kustomization interval. Default "10m0s". */
    syncInterval: string;
    /** Add Flux's network policies. Default true. */
    networkPolicy: boolean;
    /** Path to a vendored install manifest (the release's install.yaml), committed verbatim instead of the cached upstream install. */
    componentsFile?: string;
}

export type SourceKind = "git" | "oci" | "helm";

export interface SourceConfig {
    name: string;
    kind: SourceKind;
    namespace: string;
    url: string;
    interval: string;
    /** git: branch/tag/semver/commit/name; oci: tag/semver/digest. */
    ref?: Record<string, string>;
    ignore?: string;
    secretRef?: string;
    /** git: {mode, secretRef}; oci: {provider: cosign, secretRef?, matchOIDCIdentity?}. */
    verify?: { mode?: "HEAD" | "Tag" | "TagAndHEAD"; provider?: "cosign" | "notation"; secretRef?: string; matchOIDCIdentity?: Array<{ issuer: string; subject: string }> };
    layerSelector?: { mediaType?: string; operation?: "extract" | "copy" };
    /** helm: "default" or "oci". */
    type?: "default" | "oci";
    provider?: string;
    /** oci, and helm of type "oci": plain HTTP to the registry (spec.insecure). Set only when true. */
    insecure?: boolean;
}

export interface RemediationConfig {
    retries?: number;
    remediateLastFailure?: boolean;
    strategy?: "rollback" | "uninstall";
}

export interface ReleaseConfig {
    name: string;
    namespace: string;
    targetNamespace?: string;
    chart: string;
    version: string;
    /** Name of a HelmRepository source in `sources`. */
    source: string;
    interval: string;
    timeout?: string;
    values?: Record<string, unknown>;
    valuesFrom: Array<{ kind: "ConfigMap" | "Secret"; name: string; valuesKey?: string; targetPath?: string; optional?: boolean }>;
    install: { createNamespace: boolean; crds?: "Skip" | "Create" | "CreateReplace"; remediation?: RemediationConfig };
    upgrade: { crds?: "Skip" | "Create" | "CreateReplace"; remediation?: RemediationConfig; cleanupOnFail?: boolean };
    dependsOn: string[];
}

export interface SubstituteFromConfig {
    kind: "ConfigMap" | "Secret";
    name: string;
    optional: boolean;
}

export interface SyncSettings {
    /** Kustomization interval. Default "10m0s". */
    interval: string;
    /** Default "2m0s". */
    retryInterval: string;
    /** Default "5m0s". */
    timeout: string;
    /** Wait for all applied objects to be ready. Default true. */
    wait: boolean;
    /** postBuild.substitute for every Kustomization of the chain. `cluster_env` is always set to the stack. */
    substitute: Record<string, string>;
    substituteFrom: SubstituteFromConfig[];
    /** SOPS decryption with the given Secret (age or PGP keys). */
    decryption?: { provider: "sops"; secretRef: string };
}

export interface KustomizationConfig {
    name: string;
    path: string;
    /** Source name (a git or oci source in `sources`); default the flux-system GitRepository. */
    source?: string;
    prune: boolean;
    wait: boolean;
    interval: string;
    timeout?: string;
    retryInterval?: string;
    dependsOn: string[];
    healthChecks: Array<{ apiVersion?: string; kind: string; name: string; namespace?: string }>;
    targetNamespace?: string;
    substitute: Record<string, string>;
    substituteFrom: SubstituteFromConfig[];
    decryption?: { provider: "sops"; secretRef: string };
}

export interface ImagePolicyConfig {
    /** semver range, e.g. "^1.0.0". Exactly one of semver, numerical, alphabetical. */
    semver?: string;
    numerical?: "asc" | "desc";
    alphabetical?: "asc" | "desc";
    filterTags?: { pattern: string; extract?: string };
    /** ImageRepository scan interval. Default "1m0s". */
    interval: string;
    /** Tags never considered. Default Flux's ["^.*\\.sig$"]. */
    exclusionList?: string[];
    /** Registry credentials Secret name for the ImageRepository. */
    secretRef?: string;
    provider?: "generic" | "aws" | "azure" | "gcp";
}

export interface CanaryMetricConfig {
    /** A Flagger built-in (request-success-rate, request-duration) or any name with templateRef. */
    name: string;
    /** Pass when the value is within [min, max]. */
    thresholdRange: { min?: number; max?: number };
    /** Query window. Default "1m". */
    interval: string;
    /** Name of a MetricTemplate in gitops:delivery.metricTemplates. */
    templateRef?: string;
}

export interface CanaryConfig {
    /** The workload Flagger shifts traffic to. Default { kind: "Deployment", name: <app name> }. */
    targetRef: { kind: "Deployment" | "DaemonSet"; name: string };
    /** Port of the Services Flagger generates (apex, -primary, -canary). Default 80; they target the app port. */
    port: number;
    /** Time between analysis steps. Default "1m". */
    interval: string;
    /** Failed checks before rollback (at least 1). Default 5. */
    threshold: number;
    /** Canary weight at which the analysis promotes (1-100). Default 50. */
    maxWeight: number;
    /** Weight added per step. Default 10 when stepWeights is not set; not with stepWeights. */
    stepWeight?: number;
    /** Explicit increasing weights per step; the last must reach maxWeight. */
    stepWeights?: number[];
    /** Default: request-success-rate min 99 and request-duration max 500 (ms), each over 1m. */
    metrics: CanaryMetricConfig[];
    /** Generate traffic with Flagger's load tester during the analysis. Default true. */
    loadTest: boolean;
    /** URL of a confirm-promotion gate (promotion waits until it answers 200). */
    confirmPromotion?: string;
    /** URL of a rollback webhook (a 200 from it aborts the analysis and rolls back). */
    rollbackWebhook?: string;
}

export interface AppConfig {
    name: string;
    namespace: string;
    /** Image repository, e.g. "ghcr.io/acme/echo-version". */
    image: string;
    /** Tag deployed in this environment. */
    tag: string;
    port: number;
    replicas: number;
    env: Record<string, string>;
    /** Image automation for this app (needs imageAutomation.enabled). */
    imagePolicy?: ImagePolicyConfig;
    /** Pin the current tag: automation stops touching it in this environment. Default false. */
    freeze: boolean;
    canary?: CanaryConfig;
    /** Label the namespace for Istio sidecar injection. Default: delivery.istio.enabled. */
    istioInjection?: boolean;
}

export interface ImageAutomationConfig {
    enabled: boolean;
    interval: string;
    /** Branch automation checks out. Default: fleet.branch. */
    checkoutBranch: string;
    /** Branch automation pushes to. Default "__image/<stack>/project". */
    pushBranch: string;
    /** Path automation updates. Default "./apps/<stack>". */
    path: string;
    author: { name: string; email: string };
    messageTemplate?: string;
}

export interface MetricTemplateConfig {
    name: string;
    /** Default the Flagger namespace ("istio-system"). */
    namespace: string;
    /** PromQL; Flagger substitutes {{ namespace }}, {{ target }}, {{ interval }}. */
    query: string;
    /** Prometheus address. Default the platform's Prometheus ("http://prometheus-server.monitoring:80"). */
    address: string;
}

export interface DeliveryConfig {
    /** Istio base, istiod and the ingress gateway (+ the public Gateway object). Default: flagger.enabled. */
    istio: { enabled: boolean; version: string; gateway: boolean; gatewayHosts: string[] };
    /** Flagger (meshProvider istio, metrics from Prometheus) and its load tester. Default false. */
    flagger: { enabled: boolean; version: string; loadtesterVersion: string };
    /** Prometheus (prometheus-community chart). Default: flagger.enabled. */
    prometheus: { enabled: boolean; version: string };
    /** Grafana (grafana chart) with Flagger's Istio dashboard. Default false. */
    grafana: { enabled: boolean; version: string };
    /** Custom metric templates canaries may reference with templateRef. */
    metricTemplates: MetricTemplateConfig[];
}

export interface NotificationProviderConfig {
    name: string;
    type: "slack" | "msteams" | "github" | "generic";
    channel?: string;
    /** For github: the repository URL; for generic: the address (non-secret). */
    address?: string;
}

export interface AlertConfig {
    name: string;
    provider: string;
    severity: "info" | "error";
    sources: Array<{ kind: string; name: string; namespace?: string }>;
    exclusionList: string[];
}

export interface NotificationsConfig {
    providers: NotificationProviderConfig[];
    alerts: AlertConfig[];
    /** A webhook Receiver for the fleet GitRepository; address is the public base URL of notification-controller's webhook-receiver. */
    receiver: { enabled: boolean; type: "github" | "generic"; address?: string };
}

export interface PromotionConfig {
    /** "overlays": one branch with clusters/<env> overlays; "branches": one branch per stage. Default "overlays". */
    model: "overlays" | "branches";
    /** Stage order. Default ["dev", "test", "prod"]. */
    order: string[];
    /** The stage this one promotes from; default the previous stage in `order`. */
    from?: string;
    /** Stack reference ("org/project/stack") to read the source stage's verified revision from; else Git. */
    stackReference?: string;
}

export interface StackConfig {
    /** The stack (environment) name. */
    stack: string;
    cluster: ClusterConfig;
    fleet: FleetConfig;
    flux: FluxConfig;
    sources: SourceConfig[];
    releases: ReleaseConfig[];
    sync: SyncSettings;
    kustomizations: KustomizationConfig[];
    apps: AppConfig[];
    imageAutomation: ImageAutomationConfig;
    delivery: DeliveryConfig;
    notifications: NotificationsConfig;
    promotion: PromotionConfig;
}

/** Every problem found in one stack's config, each naming its key. */
export class StackConfigError extends GitopsError {
    constructor(
        readonly file: string,
        readonly problems: string[],
    ) {
        super(file, problems.length === 1 ? problems[0] : `${problems.length} problems in stack config:\n  - ${problems.join("\n  - ")}`);
        this.name = "StackConfigError";
    }
}

const TOP_KEYS = [
    "cluster",
    "fleet",
    "flux",
    "sources",
    "releases",
    "sync",
    "kustomizations",
    "apps",
    "imageAutomation",
    "delivery",
    "notifications",
    "promotion",
    ...Object.values(SECRET_KEYS),
] as const;

/**
 * Validates and types the `gitops:*` config of one stack.
 * @param raw   key (without the "gitops:" prefix) -> parsed value
 * @param stack the stack name
 * @param file  the file the values came from, for messages (e.g. "Pulumi.dev.yaml")
 */
export function parseStackConfig(raw: Record<string, unknown>, stack: string, file = `Pulumi.${stack}.yaml`): StackConfig {
    const errors = new ConfigErrors();
    if (!DNS_LABEL.test(stack)) errors.addRaw(`stack name ${JSON.stringify(stack)} must be ${DNS_LABEL_TEXT}`);
    for (const k of Object.keys(raw)) {
        if (!(TOP_KEYS as readonly string[]).includes(k)) {
            errors.addRaw(`${NS}:${k} is not a known setting; expected one of ${TOP_KEYS.join(", ")}`);
        }
    }
    const top = (k: string) => new Node(`${NS}:${k}`, raw[k], errors);

    const cluster = readCluster(top("cluster"), stack);
    const promotion = readPromotion(top("promotion"), stack);
    const fleet = readFleet(top("fleet"), stack, promotion, cluster);
    const flux = readFlux(top("flux"));
    const sources = top("sources").list(readSource);
    const releases = top("releases").list(readRelease);
    const sync = readSync(top("sync"), stack);
    const kustomizations = top("kustomizations").list(readKustomization);
    const delivery = readDelivery(top("delivery"));
    const apps = top("apps").list((n) => readApp(n, delivery));
    const imageAutomation = readImageAutomation(top("imageAutomation"), stack, fleet);
    const notifications = readNotifications(top("notifications"));

    const cfg: StackConfig = {
        stack,
        cluster,
        fleet,
        flux,
        sources,
        releases,
        sync,
        kustomizations,
        apps,
        imageAutomation,
        delivery,
        notifications,
        promotion,
    };
    crossCheck(cfg, errors);
    if (!errors.empty) throw new StackConfigError(file, errors.messages);
    return cfg;
}

function readCluster(n: Node, stack: string): ClusterConfig {
    n.object(["kind", "name", "k3d", "kindConfig", "aks", "existing", "local"]);
    const kind = n.at("kind").oneOf(CLUSTER_KINDS, "k3d");
    const name = n.at("name").string(`gitops-${stack}`, { pattern: DNS_LABEL, patternText: DNS_LABEL_TEXT });

    const k = n.at("k3d");
    k.object(["agents", "servers", "ports", "image"]);
    const k3d: K3dSettings = {
        agents: k.at("agents").int(3, 0, 20),
        servers: k.at("servers").int(1, 1, 7),
        ports: k.at("ports").list((p) => p.string(undefined, { pattern: /^([0-9.]+:)?[0-9]+(-[0-9]+)?:[0-9]+(-[0-9]+)?(\/(tcp|udp))?(@[A-Za-z0-9:_\-*\[\]]+)*$/, patternText: 'a k3d port mapping such as "8080:80@loadbalancer"' }), ["8080:80@loadbalancer"]),
        image: k.at("image").optionalString(),
    };

    const kn = n.at("kindConfig");
    kn.object(["nodeImage", "extraMounts", "portMappings", "workers"]);
    const kindSettings: KindSettings = {
        nodeImage: kn.at("nodeImage").optionalString(),
        extraMounts: kn.at("extraMounts").list((m) => {
            m.object(["hostPath", "containerPath", "readOnly"], true);
            return {
                hostPath: m.at("hostPath").string(),
                containerPath: m.at("containerPath").string(undefined, { pattern: /^\//, patternText: "an absolute path" }),
                readOnly: m.at("readOnly").bool(false),
            };
        }),
        portMappings: kn.at("portMappings").list(
            (m) => {
                m.object(["containerPort", "hostPort", "protocol"], true);
                return {
                    containerPort: m.at("containerPort").int(undefined, 1, 65535),
                    hostPort: m.at("hostPort").int(undefined, 1, 65535),
                    protocol: m.at("protocol").oneOf(["TCP", "UDP"] as const, "TCP"),
                };
            },
            [{ containerPort: 80, hostPort: 8080, protocol: "TCP" }],
        ),
        workers: kn.at("workers").int(0, 0, 20),
    };

    const a = n.at("aks");
    a.object(["location", "resourceGroup", "kubernetesVersion", "nodeCount", "vmSize", "fluxExtension"], kind === "aks");
    const aks: AksSettings = {
        location: kind === "aks" ? a.at("location").string() : a.at("location").string(""),
        resourceGroup: a.at("resourceGroup").string(`${name}-rg`),
        kubernetesVersion: a.at("kubernetesVersion").optionalString({ pattern: /^[0-9]+\.[0-9]+(\.[0-9]+)?$/, patternText: 'a Kubernetes version such as "1.33"' }),
        nodeCount: a.at("nodeCount").int(3, 1, 100),
        vmSize: a.at("vmSize").string("Standard_D2s_v5"),
        fluxExtension: a.at("fluxExtension").bool(false),
    };

    const e = n.at("existing");
    e.object(["context", "kubeconfigPath"]);
    const existing: ExistingSettings = {
        context: e.at("context").optionalString(),
        kubeconfigPath: e.at("kubeconfigPath").optionalString(),
    };
    const l = n.at("local");
    l.object(["dir", "fleetPort"]);
    const local: LocalSettings = { dir: l.at("dir").string(".gitops/local"), fleetPort: l.at("fleetPort").int(8765, 1, 65535) };
    return { kind, name, k3d, kindConfig: kindSettings, aks, existing, local };
}

function readFleet(n: Node, stack: string, promotion: PromotionConfig, cluster: ClusterConfig): FleetConfig {
    n.object(["url", "clusterUrl", "branch", "path", "author", "github", "oci"]);
    const fleetCredential = (u: string) => urlCredentialProblem(u, { secretKey: SECRET_KEYS.githubToken });
    const url = n.at("url").string(".fleet/fleet.git", { rule: fleetCredential });
    const remote = /^(ssh|https?|git):\/\//.test(url) || /^[^/]+@[^:]+:/.test(url);
    // A local repo reaches the cluster through a fleet server: k3d's host alias, or the local control plane's loopback server.
    const served = cluster.kind === "local" ? `http://127.0.0.1:${cluster.local.fleetPort}/${url.replace(/\/+$/, "").split("/").pop()}` : `http://host.k3d.internal:8765/fleet.git`;
    const clusterUrl = n.at("clusterUrl").string(remote ? url : served, {
        pattern: /^(ssh|https?):\/\//,
        patternText: "an ssh:// or http(s):// URL the cluster can reach",
        rule: fleetCredential,
    });
    const branch = n.at("branch").string(promotion.model === "branches" ? stack : "main", { rule: branchNameProblem });
    const path = n.at("path").string(`clusters/${stack}`, { pattern: /^[A-Za-z0-9._\-/]+$/, patternText: "a relative path", rule: [repoPathProblem, ownedDirProblem] });
    const au = n.at("author");
    au.object(["name", "email"]);
    const author = { name: au.at("name").string("gitops-platform"), email: au.at("email").string("gitops-platform@users.noreply.local") };
    let github: GithubRepoSettings | undefined;
    const g = n.at("github");
    if (g.object(["owner", "name", "visibility", "adopt", "protectedBranches"])) {
        github = {
            owner: g.at("owner").string(),
            name: g.at("name").string(undefined, { pattern: /^[A-Za-z0-9._-]+$/, patternText: "a GitHub repository name" }),
            visibility: g.at("visibility").oneOf(["private", "public", "internal"] as const, "private"),
            adopt: g.at("adopt").bool(false),
            protectedBranches: g.at("protectedBranches").list((b) => b.string(), promotion.model === "branches" ? ["main", ...promotion.order] : ["main"]),
        };
    }
    const oci = readFleetOci(n.at("oci"), stack);
    return { url, clusterUrl, branch, path, author, github, ...(oci ? { oci } : {}) };
}

const OCI_REPOSITORY = /^oci:\/\/[^/\s:@]+(:[0-9]+)?\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const OCI_REPOSITORY_TEXT = 'an OCI repository URL without tag, such as "oci://ghcr.io/acme/fleet"';

function readFleetOci(n: Node, stack: string): FleetOciSettings | undefined {
    if (!n.object(["repository", "clusterRepository", "tag", "insecure", "secretRef", "verify"])) return undefined;
    // Credentials first (and the value never echoed): registry credentials belong in gitops:registryCredentials.
    const ociRepository = [
        (u: string) => urlCredentialProblem(u, { secretKey: SECRET_KEYS.registryCredentials }),
        (u: string) => (OCI_REPOSITORY.test(u) ? undefined : { what: `must be ${OCI_REPOSITORY_TEXT}`, fix: "no tag, digest or credentials in it" }),
    ];
    const repository = n.at("repository").string(undefined, { rule: ociRepository });
    const o: FleetOciSettings = {
        repository,
        clusterRepository: n.at("clusterRepository").string(repository, { rule: ociRepository }),
        tag: n.at("tag").string(stack, { pattern: /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/, patternText: "an OCI tag (letters, digits, '_', '.', '-'; up to 128)" }),
        insecure: n.at("insecure").bool(false),
        secretRef: n.at("secretRef").optionalString({ pattern: DNS_SUBDOMAIN, patternText: DNS_SUBDOMAIN_TEXT }),
    };
    const v = n.at("verify");
    if (v.object(["provider", "secretRef", "matchOIDCIdentity"])) {
        o.verify = {
            provider: v.at("provider").oneOf(["cosign", "notation"] as const, "cosign"),
            secretRef: v.at("secretRef").optionalString({ pattern: DNS_SUBDOMAIN, patternText: DNS_SUBDOMAIN_TEXT }),
            matchOIDCIdentity: v.at("matchOIDCIdentity").present
                ? v.at("matchOIDCIdentity").list((m) => {
                      m.object(["issuer", "subject"], true);
                      return { issuer: m.at("issuer").string(), subject: m.at("subject").string() };
                  })
                : undefined,
        };
    }
    return o;
}

function readFlux(n: Node): FluxConfig {
    n.object(["version", "components", "namespace", "interval", "syncInterval", "networkPolicy", "componentsFile"]);
    const all = [...FLUX_DEFAULT_COMPONENTS, ...FLUX_EXTRA_COMPONENTS];
    return {
        version: n.at("version").string(FLUX_RELEASE.version, { pattern: /^v2\.[0-9]+\.[0-9]+$/, patternText: 'a Flux v2 release such as "v2.7.2"' }),
        components: n.at("components").list((c) => c.oneOf(all), [...all]),
        namespace: n.at("namespace").string("flux-system", { pattern: DNS_LABEL, patternText: DNS_LABEL_TEXT }),
        interval: n.at("interval").string("1m0s", { pattern: DURATION, patternText: DURATION_TEXT }),
        syncInterval: n.at("syncInterval").string("10m0s", { pattern: DURATION, patternText: DURATION_TEXT }),
        networkPolicy: n.at("networkPolicy").bool(true),
        componentsFile: n.at("componentsFile").optionalString({ rule: projectPathProblem }),
    };
}

const SOURCE_KEYS = ["name", "kind", "namespace", "url", "interval", "ref", "ignore", "secretRef", "verify", "layerSelector", "type", "provider", "insecure"];

function readSource(n: Node): SourceConfig {
    n.object(SOURCE_KEYS, true);
    const kind = n.at("kind").oneOf(["git", "oci", "helm"] as const);
    const s: SourceConfig = {
        name: n.at("name").string(undefined, { pattern: DNS_SUBDOMAIN, patternText: DNS_SUBDOMAIN_TEXT }),
        kind,
        namespace: n.at("namespace").string("flux-system", { pattern: DNS_LABEL, patternText: DNS_LABEL_TEXT }),
        url: n.at("url").string(undefined, { rule: (u) => urlCredentialProblem(u, { secretRefHint: `put them in a Secret in the cluster and name it in ${n.key}.secretRef` }) }),
        interval: n.at("interval").string(kind === "helm" ? "1h0m0s" : "1m0s", { pattern: DURATION, patternText: DURATION_TEXT }),
        ignore: n.at("ignore").optionalString(),
        secretRef: n.at("secretRef").optionalString({ pattern: DNS_SUBDOMAIN, patternText: DNS_SUBDOMAIN_TEXT }),
        provider: n.at("provider").optionalString(),
    };
    const refKeys = kind === "git" ? ["branch", "tag", "semver", "commit", "name"] : kind === "oci" ? ["tag", "semver", "semverFilter", "digest"] : [];
    const ref = n.at("ref");
    if (ref.present) {
        if (kind === "helm") n.errors.add(ref.key, "is not used by helm sources; remove it", ref.value);
        else if (ref.object(refKeys)) {
            s.ref = ref.stringMap();
            const rules: Record<string, (v: string) => { what: string; fix: string } | undefined> = {
                branch: branchNameProblem,
                tag: kind === "git" ? tagNameProblem : (t) => (/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/.test(t) ? undefined : { what: "is not a valid OCI tag", fix: "use letters, digits, '_', '.' and '-' (at most 128)" }),
                semver: semverRangeProblem,
                semverFilter: regexpProblem,
                name: fullRefNameProblem,
            };
            for (const [k, v] of Object.entries(s.ref)) {
                const problem = v !== "" ? rules[k]?.(v) : undefined;
                if (problem) n.errors.addRaw(`${ref.key}.${k} ${problem.what} (${problem.fix})`);
            }
            const chosen = Object.keys(s.ref).filter((k) => k !== "semverFilter");
            if (kind === "oci" && chosen.length > 1 && !chosen.includes("digest")) {
                n.errors.add(ref.key, "must set one of tag, semver or digest", s.ref);
            }
            if (kind === "git" && chosen.length === 0) n.errors.add(ref.key, `must set one of ${refKeys.join(", ")}`, s.ref);
        }
    } else if (kind === "git") {
        s.ref = { branch: "main" };
    }
    const url = s.url;
    if (kind === "git" && url && !/^(ssh|https?):\/\//.test(url)) n.errors.add(n.at("url").key, "must be an ssh:// or http(s):// URL for a git source", url);
    if (kind === "oci" && url && !url.startsWith("oci://")) n.errors.add(n.at("url").key, "must start with oci:// for an oci source", url);
    const type = n.at("type");
    if (kind === "helm") {
        s.type = type.oneOf(["default", "oci"] as const, url.startsWith("oci://") ? "oci" : "default");
        if (s.type === "oci" && !url.startsWith("oci://")) n.errors.add(n.at("url").key, 'must start with oci:// when type is "oci"', url);
        if (s.type === "default" && !/^https?:\/\//.test(url)) n.errors.add(n.at("url").key, "must be an http(s):// Helm repository URL", url);
    } else if (type.present) {
        n.errors.add(type.key, "is only used by helm sources", type.value);
    }
    const v = n.at("verify");
    if (v.present) {
        if (kind === "git") {
            v.object(["mode", "secretRef"]);
            s.verify = { mode: v.at("mode").oneOf(["HEAD", "Tag", "TagAndHEAD"] as const, "HEAD"), secretRef: v.at("secretRef").string() };
        } else if (kind === "oci") {
            v.object(["provider", "secretRef", "matchOIDCIdentity"]);
            s.verify = {
                provider: v.at("provider").oneOf(["cosign", "notation"] as const, "cosign"),
                secretRef: v.at("secretRef").optionalString(),
                matchOIDCIdentity: v.at("matchOIDCIdentity").present
                    ? v.at("matchOIDCIdentity").list((m) => {
                          m.object(["issuer", "subject"], true);
                          return { issuer: m.at("issuer").string(), subject: m.at("subject").string() };
                      })
                    : undefined,
            };
        } else n.errors.add(v.key, "is not supported for helm sources", v.value);
    }
    const insecure = n.at("insecure");
    if (insecure.present) {
        if (kind === "git" || s.type === "default") n.errors.add(insecure.key, 'is only used by oci sources and helm sources of type "oci" (plain HTTP to a registry); remove it', insecure.value);
        else if (insecure.bool(false)) s.insecure = true;
    }
    const l = n.at("layerSelector");
    if (l.present) {
        if (kind !== "oci") n.errors.add(l.key, "is only used by oci sources", l.value);
        else {
            l.object(["mediaType", "operation"]);
            s.layerSelector = { mediaType: l.at("mediaType").optionalString(), operation: l.present && l.at("operation").present ? l.at("operation").oneOf(["extract", "copy"] as const) : undefined };
        }
    }
    return s;
}

function readRemediation(n: Node): RemediationConfig | undefined {
    if (!n.object(["retries", "remediateLastFailure", "strategy"])) return undefined;
    return {
        retries: n.at("retries").optionalInt(-1, 100),
        remediateLastFailure: n.at("remediateLastFailure").optionalBool(),
        strategy: n.at("strategy").present ? n.at("strategy").oneOf(["rollback", "uninstall"] as const) : undefined,
    };
}

const CRDS = ["Skip", "Create", "CreateReplace"] as const;

function readRelease(n: Node): ReleaseConfig {
    n.object(["name", "namespace", "targetNamespace", "chart", "version", "source", "interval", "timeout", "values", "valuesFrom", "install", "upgrade", "dependsOn"], true);
    const name = n.at("name").string(undefined, { pattern: DNS_LABEL, patternText: DNS_LABEL_TEXT });
    const ins = n.at("install");
    ins.object(["createNamespace", "crds", "remediation"]);
    const up = n.at("upgrade");
    up.object(["crds", "remediation", "cleanupOnFail"]);
    return {
        name,
        namespace: n.at("namespace").string(name, { pattern: DNS_LABEL, patternText: DNS_LABEL_TEXT }),
        targetNamespace: n.at("targetNamespace").optionalString({ pattern: DNS_LABEL, patternText: DNS_LABEL_TEXT }),
        chart: n.at("chart").string(),
        version: n.at("version").string(undefined, { pattern: /^[^\s]+$/, patternText: "a pinned chart version or semver range without spaces", rule: semverRangeProblem }),
        source: n.at("source").string(),
        interval: n.at("interval").string("10m0s", { pattern: DURATION, patternText: DURATION_TEXT }),
        timeout: n.at("timeout").optionalString({ pattern: DURATION, patternText: DURATION_TEXT }),
        values: n.at("values").freeObject(),
        valuesFrom: n.at("valuesFrom").list((v) => {
            v.object(["kind", "name", "valuesKey", "targetPath", "optional"], true);
            return {
                kind: v.at("kind").oneOf(["ConfigMap", "Secret"] as const),
                name: v.at("name").string(),
                valuesKey: v.at("valuesKey").optionalString(),
                targetPath: v.at("targetPath").optionalString(),
                optional: v.at("optional").optionalBool(),
            };
        }),
        install: {
            createNamespace: ins.at("createNamespace").bool(true),
            crds: ins.at("crds").present ? ins.at("crds").oneOf(CRDS) : undefined,
            remediation: readRemediation(ins.at("remediation")) ?? { retries: 3 },
        },
        upgrade: {
            crds: up.at("crds").present ? up.at("crds").oneOf(CRDS) : undefined,
            remediation: readRemediation(up.at("remediation")) ?? { retries: 3, remediateLastFailure: true },
            cleanupOnFail: up.at("cleanupOnFail").optionalBool(),
        },
        dependsOn: n.at("dependsOn").list((d) => d.string()),
    };
}

function readSubstituteFrom(n: Node): SubstituteFromConfig[] {
    return n.list((s) => {
        s.object(["kind", "name", "optional"], true);
        return { kind: s.at("kind").oneOf(["ConfigMap", "Secret"] as const), name: s.at("name").string(), optional: s.at("optional").bool(false) };
    });
}

function readDecryption(n: Node): { provider: "sops"; secretRef: string } | undefined {
    if (!n.object(["provider", "secretRef"])) return undefined;
    return { provider: n.at("provider").oneOf(["sops"] as const, "sops"), secretRef: n.at("secretRef").string() };
}

/** postBuild variable names, as Flux validates them. */
const VAR_NAME = /^[_a-zA-Z][_a-zA-Z0-9]*$/;

function readVars(n: Node, substituteFromKey: string): Record<string, string> {
    const vars = n.stringMap();
    for (const k of Object.keys(vars)) {
        if (!VAR_NAME.test(k)) n.errors.add(`${n.key}.${k}`, "is not a valid variable name (letters, digits and '_', not starting with a digit)", k);
        else if (SECRET_NAME.test(k)) {
            n.errors.addRaw(`${n.key}.${k} names a secret but holds it in plain text, which lands in Git (put it in a Kubernetes Secret and list that Secret in ${substituteFromKey} with kind: Secret)`);
        }
    }
    return vars;
}

/** fleet.path must name a directory below the root: the stack owns (and replaces) it. */
function ownedDirProblem(p: string): { what: string; fix: string } | undefined {
    return p.replace(/^(\.\/)+/, "").replace(/^\.$/, "").replace(/\/+$/, "") === "" ? { what: "names the repository root, which the stack would own and replace", fix: 'give a directory below it, such as "clusters/dev"' } : undefined;
}

function readSync(n: Node, stack: string): SyncSettings {
    n.object(["interval", "retryInterval", "timeout", "wait", "substitute", "substituteFrom", "decryption"]);
    return {
        interval: n.at("interval").string("10m0s", { pattern: DURATION, patternText: DURATION_TEXT }),
        retryInterval: n.at("retryInterval").string("2m0s", { pattern: DURATION, patternText: DURATION_TEXT }),
        timeout: n.at("timeout").string("5m0s", { pattern: DURATION, patternText: DURATION_TEXT }),
        wait: n.at("wait").bool(true),
        substitute: { cluster_env: stack, ...readVars(n.at("substitute"), `${n.key}.substituteFrom`) },
        substituteFrom: readSubstituteFrom(n.at("substituteFrom")),
        decryption: readDecryption(n.at("decryption")),
    };
}

function readKustomization(n: Node): KustomizationConfig {
    n.object(["name", "path", "source", "prune", "wait", "interval", "timeout", "retryInterval", "dependsOn", "healthChecks", "targetNamespace", "substitute", "substituteFrom", "decryption"], true);
    return {
        name: n.at("name").string(undefined, { pattern: DNS_SUBDOMAIN, patternText: DNS_SUBDOMAIN_TEXT }),
        path: n.at("path").string(undefined, { pattern: /^\.?\/?[A-Za-z0-9._\-/]*$/, patternText: 'a path in the source such as "./apps/dev"', rule: repoPathProblem }),
        source: n.at("source").optionalString(),
        prune: n.at("prune").bool(true),
        wait: n.at("wait").bool(false),
        interval: n.at("interval").string("10m0s", { pattern: DURATION, patternText: DURATION_TEXT }),
        timeout: n.at("timeout").optionalString({ pattern: DURATION, patternText: DURATION_TEXT }),
        retryInterval: n.at("retryInterval").optionalString({ pattern: DURATION, patternText: DURATION_TEXT }),
        dependsOn: n.at("dependsOn").list((d) => d.string()),
        healthChecks: n.at("healthChecks").list((h) => {
            h.object(["apiVersion", "kind", "name", "namespace"], true);
            return { apiVersion: h.at("apiVersion").optionalString(), kind: h.at("kind").string(), name: h.at("name").string(), namespace: h.at("namespace").optionalString() };
        }),
        targetNamespace: n.at("targetNamespace").optionalString({ pattern: DNS_LABEL, patternText: DNS_LABEL_TEXT }),
        substitute: readVars(n.at("substitute"), `${n.key}.substituteFrom`),
        substituteFrom: readSubstituteFrom(n.at("substituteFrom")),
        decryption: readDecryption(n.at("decryption")),
    };
}

function readImagePolicy(n: Node): ImagePolicyConfig | undefined {
    if (!n.object(["semver", "numerical", "alphabetical", "filterTags", "interval", "exclusionList", "secretRef", "provider"])) return undefined;
    const p: ImagePolicyConfig = {
        semver: n.at("semver").optionalString({ rule: semverRangeProblem }),
        numerical: n.at("numerical").present ? n.at("numerical").oneOf(["asc", "desc"] as const) : undefined,
        alphabetical: n.at("alphabetical").present ? n.at("alphabetical").oneOf(["asc", "desc"] as const) : undefined,
        interval: n.at("interval").string("1m0s", { pattern: DURATION, patternText: DURATION_TEXT }),
        exclusionList: n.at("exclusionList").present ? n.at("exclusionList").list((e) => e.string(undefined, { rule: regexpProblem })) : undefined,
        secretRef: n.at("secretRef").optionalString(),
        provider: n.at("provider").present ? n.at("provider").oneOf(["generic", "aws", "azure", "gcp"] as const) : undefined,
    };
    const chosen = [p.semver, p.numerical, p.alphabetical].filter((x) => x !== undefined).length;
    if (chosen !== 1) n.errors.add(n.key, "must set exactly one of semver, numerical, alphabetical", n.value);
    const f = n.at("filterTags");
    if (f.object(["pattern", "extract"])) p.filterTags = { pattern: f.at("pattern").string(undefined, { rule: regexpProblem }), extract: f.at("extract").optionalString() };
    return p;
}

function readCanary(n: Node, appName: string): CanaryConfig | undefined {
    if (!n.object(["targetRef", "port", "interval", "threshold", "maxWeight", "stepWeight", "stepWeights", "metrics", "loadTest", "confirmPromotion", "rollbackWebhook"])) return undefined;
    const t = n.at("targetRef");
    t.object(["kind", "name"]);
    const stepWeights = n.at("stepWeights").present ? n.at("stepWeights").list((w) => w.int(undefined)) : undefined;
    return {
        targetRef: { kind: t.at("kind").oneOf(["Deployment", "DaemonSet"] as const, "Deployment"), name: t.at("name").string(appName, { pattern: DNS_SUBDOMAIN, patternText: DNS_SUBDOMAIN_TEXT }) },
        port: n.at("port").int(80, 1, 65535),
        interval: n.at("interval").string("1m", { pattern: DURATION, patternText: DURATION_TEXT }),
        threshold: n.at("threshold").int(5),
        maxWeight: n.at("maxWeight").int(50),
        stepWeight: n.at("stepWeight").present ? n.at("stepWeight").int(undefined) : stepWeights ? undefined : 10,
        stepWeights,
        metrics: n.at("metrics").list<CanaryMetricConfig>(
            (m) => {
                m.object(["name", "thresholdRange", "interval", "templateRef"], true);
                const tr = m.at("thresholdRange");
                tr.object(["min", "max"], true);
                const num = (x: Node) => (x.present ? (typeof x.value === "number" ? x.value : (x.errors.add(x.key, "must be a number", x.value), undefined)) : undefined);
                return {
                    name: m.at("name").string(undefined, { pattern: DNS_SUBDOMAIN, patternText: DNS_SUBDOMAIN_TEXT }),
                    thresholdRange: { min: num(tr.at("min")), max: num(tr.at("max")) },
                    interval: m.at("interval").string("1m", { pattern: DURATION, patternText: DURATION_TEXT }),
                    templateRef: m.at("templateRef").optionalString(),
                };
            },
            [
                { name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" },
                { name: "request-duration", thresholdRange: { max: 500 }, interval: "1m" },
            ],
        ),
        loadTest: n.at("loadTest").bool(true),
        confirmPromotion: n.at("confirmPromotion").optionalString({ pattern: /^https?:\/\//, patternText: "an http(s):// URL", rule: (u) => urlCredentialProblem(u) }),
        rollbackWebhook: n.at("rollbackWebhook").optionalString({ pattern: /^https?:\/\//, patternText: "an http(s):// URL", rule: (u) => urlCredentialProblem(u) }),
    };
}

function readApp(n: Node, delivery: DeliveryConfig): AppConfig {
    n.object(["name", "namespace", "image", "tag", "port", "replicas", "env", "imagePolicy", "freeze", "canary", "istioInjection"], true);
    const name = n.at("name").string(undefined, { pattern: DNS_LABEL, patternText: DNS_LABEL_TEXT });
    return {
        name,
        namespace: n.at("namespace").string(name, { pattern: DNS_LABEL, patternText: DNS_LABEL_TEXT }),
        image: n.at("image").string(undefined, { pattern: /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*$/, patternText: 'an image repository without a tag, such as "ghcr.io/acme/app"' }),
        tag: n.at("tag").string(undefined, { pattern: /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, patternText: "an image tag" }),
        port: n.at("port").int(8080, 1, 65535),
        replicas: n.at("replicas").int(1, 0, 1000),
        env: readEnv(n.at("env")),
        imagePolicy: readImagePolicy(n.at("imagePolicy")),
        freeze: n.at("freeze").bool(false),
        canary: readCanary(n.at("canary"), name),
        istioInjection: n.at("istioInjection").present ? n.at("istioInjection").bool(delivery.istio.enabled) : delivery.istio.enabled ? true : undefined,
    };
}

function readEnv(n: Node): Record<string, string> {
    const env = n.stringMap();
    for (const k of Object.keys(env)) {
        if (SECRET_NAME.test(k)) n.errors.addRaw(`${n.key}.${k} names a secret but holds it in plain text, which lands in Git (keep secrets out of stack config: give the app the value from a Kubernetes Secret)`);
    }
    return env;
}

function readImageAutomation(n: Node, stack: string, fleet: FleetConfig): ImageAutomationConfig {
    n.object(["enabled", "interval", "checkoutBranch", "pushBranch", "path", "author", "messageTemplate"]);
    const au = n.at("author");
    au.object(["name", "email"]);
    return {
        enabled: n.at("enabled").bool(false),
        interval: n.at("interval").string("30m0s", { pattern: DURATION, patternText: DURATION_TEXT }),
        checkoutBranch: n.at("checkoutBranch").string(fleet.branch, { rule: branchNameProblem }),
        pushBranch: n.at("pushBranch").string(`__image/${stack}/project`, { rule: branchNameProblem }),
        path: n.at("path").string(`./apps/${stack}`, { rule: repoPathProblem }),
        author: { name: au.at("name").string("fluxcdbot"), email: au.at("email").string("fluxcdbot@users.noreply.github.com") },
        messageTemplate: n.at("messageTemplate").optionalString(),
    };
}

function readDelivery(n: Node): DeliveryConfig {
    n.object(["istio", "flagger", "prometheus", "grafana", "metricTemplates"]);
    const i = n.at("istio");
    i.object(["enabled", "version", "gateway", "gatewayHosts"]);
    const f = n.at("flagger");
    f.object(["enabled", "version", "loadtesterVersion"]);
    const p = n.at("prometheus");
    p.object(["enabled", "version"]);
    const g = n.at("grafana");
    g.object(["enabled", "version"]);
    const flaggerEnabled = f.at("enabled").bool(false);
    return {
        istio: {
            enabled: i.at("enabled").bool(flaggerEnabled),
            version: i.at("version").string("1.27.1"),
            gateway: i.at("gateway").bool(true),
            gatewayHosts: i.at("gatewayHosts").list((h) => h.string(), ["*"]),
        },
        flagger: { enabled: flaggerEnabled, version: f.at("version").string("1.41.0"), loadtesterVersion: f.at("loadtesterVersion").string("0.35.0") },
        prometheus: { enabled: p.at("enabled").bool(flaggerEnabled), version: p.at("version").string("27.28.0") },
        grafana: { enabled: g.at("enabled").bool(false), version: g.at("version").string("9.3.0") },
        metricTemplates: n.at("metricTemplates").list((m) => {
            m.object(["name", "namespace", "query", "address"], true);
            return {
                name: m.at("name").string(undefined, { pattern: DNS_SUBDOMAIN, patternText: DNS_SUBDOMAIN_TEXT }),
                namespace: m.at("namespace").string(FLAGGER_NAMESPACE, { pattern: DNS_LABEL, patternText: DNS_LABEL_TEXT }),
                query: m.at("query").string(),
                address: m.at("address").string(PROMETHEUS_URL, { pattern: /^https?:\/\//, patternText: "an http(s):// URL", rule: (u) => urlCredentialProblem(u) }),
            };
        }),
    };
}

function readNotifications(n: Node): NotificationsConfig {
    n.object(["providers", "alerts", "receiver"]);
    const r = n.at("receiver");
    r.object(["enabled", "type", "address"]);
    return {
        providers: n.at("providers").list((p) => {
            p.object(["name", "type", "channel", "address"], true);
            const name = p.at("name").string(undefined, { pattern: DNS_SUBDOMAIN, patternText: DNS_SUBDOMAIN_TEXT });
            return {
                name,
                type: p.at("type").oneOf(["slack", "msteams", "github", "generic"] as const),
                channel: p.at("channel").optionalString(),
                address: p.at("address").optionalString({
                    rule: [(a) => webhookAddressProblem(a, name || "<provider>"), (a) => urlCredentialProblem(a, { secretKey: SECRET_KEYS.notificationSecrets, secretPath: name || "<provider>" })],
                }),
            };
        }),
        alerts: n.at("alerts").list((a) => {
            a.object(["name", "provider", "severity", "sources", "exclusionList"], true);
            return {
                name: a.at("name").string(undefined, { pattern: DNS_SUBDOMAIN, patternText: DNS_SUBDOMAIN_TEXT }),
                provider: a.at("provider").string(),
                severity: a.at("severity").oneOf(["info", "error"] as const, "info"),
                sources: a.at("sources").list<AlertConfig["sources"][number]>(
                    (s) => {
                        s.object(["kind", "name", "namespace"], true);
                        return { kind: s.at("kind").string(), name: s.at("name").string(), namespace: s.at("namespace").optionalString() };
                    },
                    [
                        { kind: "Kustomization", name: "*" },
                        { kind: "HelmRelease", name: "*" },
                    ],
                ),
                exclusionList: a.at("exclusionList").list((e) => e.string()),
            };
        }),
        receiver: {
            enabled: r.at("enabled").bool(false),
            type: r.at("type").oneOf(["github", "generic"] as const, "github"),
            address: r.at("address").optionalString({ pattern: /^https?:\/\/[^/]+\/?$/, patternText: 'the public base URL of the webhook receiver, such as "https://flux-webhook.example.com"', rule: (u) => urlCredentialProblem(u) }),
        },
    };
}

function readPromotion(n: Node, stack: string): PromotionConfig {
    n.object(["model", "order", "from", "stackReference"]);
    const order = n.at("order").list((s) => s.string(undefined, { pattern: DNS_LABEL, patternText: DNS_LABEL_TEXT }), ["dev", "test", "prod"]);
    const idx = order.indexOf(stack);
    const from = n.at("from").optionalString() ?? (idx > 0 ? order[idx - 1] : undefined);
    return { model: n.at("model").oneOf(["overlays", "branches"] as const, "overlays"), order, from, stackReference: n.at("stackReference").optionalString() };
}

/** Rules that span sections. */
function crossCheck(cfg: StackConfig, errors: ConfigErrors): void {
    const dup = (what: string, key: string, names: string[]) => {
        const seen = new Set<string>();
        for (const nm of names) {
            if (seen.has(nm)) errors.addRaw(`${NS}:${key} has two ${what} named ${JSON.stringify(nm)}; names must be unique`);
            seen.add(nm);
        }
    };
    if (cfg.fleet.oci && cfg.imageAutomation.enabled) {
        errors.addRaw(`${NS}:imageAutomation.enabled needs the flux-system GitRepository to push to, but ${NS}:fleet.oci makes Flux pull an OCI artifact; set imageAutomation.enabled: false (or drop fleet.oci)`);
    }
    dup("sources", "sources", cfg.sources.map((s) => `${s.namespace}/${s.name}`));
    dup("releases", "releases", cfg.releases.map((r) => r.name));
    dup("apps", "apps", cfg.apps.map((a) => a.name));
    dup("kustomizations", "kustomizations", cfg.kustomizations.map((k) => k.name));
    dup("notification providers", "notifications.providers", cfg.notifications.providers.map((p) => p.name));
    dup("metric templates", "delivery.metricTemplates", cfg.delivery.metricTemplates.map((t) => t.name));
    const platformOwned = deliveryStack(cfg.delivery, cfg.flux.namespace);
    cfg.sources.forEach((s, i) => {
        if (platformOwned.sources.some((d) => d.name === s.name)) errors.addRaw(`${NS}:sources[${i}].name ${JSON.stringify(s.name)} is the platform's own ${NS}:delivery source; choose another name or drop it (its version is set under ${NS}:delivery)`);
    });
    cfg.releases.forEach((r, i) => {
        if (platformOwned.releases.some((d) => d.name === r.name)) errors.addRaw(`${NS}:releases[${i}].name ${JSON.stringify(r.name)} is the platform's own ${NS}:delivery release; choose another name or set its version under ${NS}:delivery`);
    });
    if (cfg.delivery.flagger.enabled && !cfg.delivery.istio.enabled) errors.addRaw(`${NS}:delivery.flagger.enabled needs ${NS}:delivery.istio.enabled: Flagger shifts traffic through the Istio mesh`);
    if (cfg.delivery.flagger.enabled && !cfg.delivery.prometheus.enabled) errors.addRaw(`${NS}:delivery.flagger.enabled needs ${NS}:delivery.prometheus.enabled: Flagger reads its metrics from Prometheus`);

    const helmSources = new Set(cfg.sources.filter((s) => s.kind === "helm").map((s) => s.name));
    cfg.releases.forEach((r, i) => {
        if (r.source && !helmSources.has(r.source)) {
            errors.addRaw(`${NS}:releases[${i}].source names ${JSON.stringify(r.source)}, which is not a helm source in ${NS}:sources; add it there or fix the name`);
        }
        for (const d of r.dependsOn) {
            if (!cfg.releases.some((o) => o.name === d)) errors.addRaw(`${NS}:releases[${i}].dependsOn names ${JSON.stringify(d)}, which is not a release in ${NS}:releases`);
        }
    });
    const syncSources = new Set(cfg.sources.filter((s) => s.kind !== "helm").map((s) => s.name));
    const chain = ["infrastructure-releases", "infrastructure-manifests", "apps", "flux-system"];
    cfg.kustomizations.forEach((k, i) => {
        if (k.source && !syncSources.has(k.source)) errors.addRaw(`${NS}:kustomizations[${i}].source names ${JSON.stringify(k.source)}, which is not a git or oci source in ${NS}:sources`);
        if (chain.includes(k.name)) errors.addRaw(`${NS}:kustomizations[${i}].name ${JSON.stringify(k.name)} is reserved for the platform's own chain; choose another name`);
        for (const d of k.dependsOn) {
            if (!chain.includes(d) && !cfg.kustomizations.some((o) => o.name === d)) errors.addRaw(`${NS}:kustomizations[${i}].dependsOn names ${JSON.stringify(d)}, which is not a Kustomization of this stack`);
        }
    });
    const providers = new Set(cfg.notifications.providers.map((p) => p.name));
    cfg.notifications.alerts.forEach((a, i) => {
        if (!providers.has(a.provider)) errors.addRaw(`${NS}:notifications.alerts[${i}].provider names ${JSON.stringify(a.provider)}, which is not in ${NS}:notifications.providers`);
    });
    const needsImage = cfg.apps.some((a) => a.imagePolicy);
    const hasImageControllers = cfg.flux.components.includes("image-reflector-controller") && cfg.flux.components.includes("image-automation-controller");
    cfg.apps.forEach((a, i) => {
        if (a.imagePolicy && !cfg.imageAutomation.enabled) {
            errors.addRaw(`${NS}:apps[${i}].imagePolicy needs ${NS}:imageAutomation.enabled: true (or remove the policy)`);
        }
        if (a.canary && !cfg.delivery.flagger.enabled) {
            errors.addRaw(`${NS}:apps[${i}].canary needs ${NS}:delivery.flagger.enabled: true`);
        }
        if (a.canary) for (const p of canaryProblems(a.canary, `${NS}:apps[${i}].canary`, cfg.delivery.metricTemplates.map((t) => t.name))) errors.addRaw(p);
    });
    if (needsImage && cfg.imageAutomation.enabled && !hasImageControllers) {
        errors.addRaw(`${NS}:flux.components must include image-reflector-controller and image-automation-controller when image automation is enabled`);
    }
    if (!cfg.promotion.order.includes(cfg.stack)) {
        errors.addRaw(`${NS}:promotion.order ${JSON.stringify(cfg.promotion.order)} does not contain this stack ${JSON.stringify(cfg.stack)}; add it in its place`);
    }
    if (cfg.promotion.from !== undefined) {
        const fi = cfg.promotion.order.indexOf(cfg.promotion.from);
        const si = cfg.promotion.order.indexOf(cfg.stack);
        if (fi < 0) errors.addRaw(`${NS}:promotion.from ${JSON.stringify(cfg.promotion.from)} is not a stage in ${NS}:promotion.order`);
        else if (si >= 0 && fi >= si) errors.addRaw(`${NS}:promotion.from ${JSON.stringify(cfg.promotion.from)} must come before ${JSON.stringify(cfg.stack)} in ${NS}:promotion.order`);
    }
    if (cfg.cluster.kind === "aks" && cfg.cluster.aks.fluxExtension && cfg.flux.componentsFile) {
        errors.addRaw(`${NS}:flux.componentsFile cannot be used with ${NS}:cluster.aks.fluxExtension: the AKS extension installs its own controllers`);
    }
}
