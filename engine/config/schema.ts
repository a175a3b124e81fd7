/**
 * The stack config schema: one typed, validated shape for every stack (dev, test, prod).
 *
 * The raw input is the `gitops:*` namespace of Pulumi.<stack>.yaml, either as Pulumi hands it to
 * the program or as `gitops fleet render` reads it from the file. `parseStackConfig` checks every
 * key, fills documented defaults, and throws one `StackConfigError` that lists every problem,
 * each naming its key and the expected shape, before any resource is registered.
 *
 * Every setting is declared once below, with its default, its rules and its doc comment; the
 * exported types (StackConfig, AppConfig, ...) are inferred from those declarations (check.ts).
 *
 * Secrets (tokens, kubeconfigs, webhook addresses) never live here: they are read separately
 * through `pulumi config set --secret` (see SECRET_KEYS) and stay Pulumi secrets.
 */
import { canaryProblems, FLAGGER_NAMESPACE, PROMETHEUS_URL } from "../delivery/canary";
import { deliveryStack } from "../delivery/mesh";
import { GitopsError } from "../errors";
import { isRemoteUrl } from "../git/url";
import { FLUX_RELEASE } from "../flux/upstream";
import {
    AnyOf,
    bool,
    ConfigErrors,
    DNS_LABEL,
    DNS_LABEL_TEXT,
    DNS_SUBDOMAIN,
    DNS_SUBDOMAIN_TEXT,
    DURATION,
    DURATION_TEXT,
    Field,
    freeObject,
    Infer,
    int,
    isPlainObject,
    list,
    maybeBool,
    Node,
    NS,
    num,
    obj,
    oneOf,
    Rule,
    str,
    strMap,
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

const dnsLabel = { pattern: DNS_LABEL, patternText: DNS_LABEL_TEXT };
const dnsSubdomain = { pattern: DNS_SUBDOMAIN, patternText: DNS_SUBDOMAIN_TEXT };
const duration = { pattern: DURATION, patternText: DURATION_TEXT };
/** An http(s) URL without credentials in it. */
const httpUrl = { pattern: /^https?:\/\//, patternText: "an http(s):// URL", rule: (u: string) => urlCredentialProblem(u) };
/** An image or OCI artifact tag, as the OCI distribution spec allows it. */
const OCI_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const oidcIdentities = list(obj({ issuer: str(), subject: str() }, { required: true }));

// --- gitops:cluster -----------------------------------------------------------------------------

const cluster = (stack: string) =>
    obj(
        {
            kind: oneOf(CLUSTER_KINDS, "k3d"),
            /** Cluster name. Default "gitops-<stack>". Changing it replaces the cluster. */
            name: str({ def: `gitops-${stack}`, ...dnsLabel }),
            k3d: obj({
                /** Agent (worker) nodes. Default 3. */
                agents: int({ def: 3, min: 0, max: 20 }),
                /** Server nodes. Default 1. */
                servers: int({ def: 1, min: 1, max: 7 }),
                /** Port mappings in k3d's syntax. Default ["8080:80@loadbalancer"]. */
                ports: list(str({ pattern: /^([0-9.]+:)?[0-9]+(-[0-9]+)?:[0-9]+(-[0-9]+)?(\/(tcp|udp))?(@[A-Za-z0-9:_\-*\[\]]+)*$/, patternText: 'a k3d port mapping such as "8080:80@loadbalancer"' }), ["8080:80@loadbalancer"]),
                /** k3s image, e.g. "rancher/k3s:v1.33.4-k3s1". Default: k3d's own. */
                image: str().optional(),
            }),
            kindConfig: obj({
                /** Node image, e.g. "kindest/node:v1.33.1". Default: kind's own. */
                nodeImage: str().optional(),
                /** Extra host mounts on the control-plane node. */
                extraMounts: list(obj({ hostPath: str(), containerPath: str({ pattern: /^\//, patternText: "an absolute path" }), readOnly: bool(false) }, { required: true })),
                /** Host port mappings on the control-plane node. Default 8080 -> 80. */
                portMappings: list(
                    obj({ containerPort: int({ min: 1, max: 65535 }), hostPort: int({ min: 1, max: 65535 }), protocol: oneOf(["TCP", "UDP"], "TCP") }, { required: true }),
                    [{ containerPort: 80, hostPort: 8080, protocol: "TCP" }],
                ),
                /** Worker nodes. Default 0. */
                workers: int({ def: 0, min: 0, max: 20 }),
            }),
            aks: obj({
                /** Azure region. Required for kind aks. */
                location: str({ def: "" }),
                /** Resource group name. Default "<cluster.name>-rg". */
                resourceGroup: str().optional(),
                /** Kubernetes version. Default: AKS's default. */
                kubernetesVersion: str({ pattern: /^[0-9]+\.[0-9]+(\.[0-9]+)?$/, patternText: 'a Kubernetes version such as "1.33"' }).optional(),
                /** System pool size. Default 3. */
                nodeCount: int({ def: 3, min: 1, max: 100 }),
                /** System pool VM size. Default "Standard_D2s_v5". */
                vmSize: str({ def: "Standard_D2s_v5" }),
                /** Install Flux as the managed `microsoft.flux` extension instead of our own controllers. Default false. */
                fluxExtension: bool(false),
            }),
            existing: obj({
                /** Context in the kubeconfig. Default: its current-context. */
                context: str().optional(),
                /** Path of a kubeconfig file; else the secret `gitops:kubeconfig`. */
                kubeconfigPath: str().optional(),
            }),
            /** cluster.kind local: the local control plane with real Flux as processes (engine/localcluster). */
            local: obj({
                /** State folder of the local control plane (pids, ports, kubeconfig, logs), relative to the project. Default ".gitops/local". */
                dir: str({ def: ".gitops/local" }),
                /** Port on 127.0.0.1 where the control plane serves the fleet repos to Flux. Default 8765. */
                fleetPort: int({ def: 8765, min: 1, max: 65535 }),
            }),
        },
        { derive: (c) => ({ aks: { ...c.aks, resourceGroup: c.aks.resourceGroup ?? `${c.name}-rg` } }) },
    ).check((c, n) => {
        // kind aks needs the aks settings and a location.
        const a = n.at("aks");
        if (c.kind !== "aks") return;
        if (!a.present) a.object([], true);
        else if (isPlainObject(a.value) && !a.at("location").present) a.at("location").string();
    });

export type ClusterConfig = Infer<ReturnType<typeof cluster>>;
export type K3dSettings = ClusterConfig["k3d"];
export type KindSettings = ClusterConfig["kindConfig"];
export type AksSettings = ClusterConfig["aks"];
export type ExistingSettings = ClusterConfig["existing"];
export type LocalSettings = ClusterConfig["local"];

// --- gitops:fleet -------------------------------------------------------------------------------

const OCI_REPOSITORY = /^oci:\/\/[^/\s:@]+(:[0-9]+)?\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const OCI_REPOSITORY_TEXT = 'an OCI repository URL without tag, such as "oci://ghcr.io/acme/fleet"';
const ociRepository: Rule[] = [
    // Credentials first (and the value never echoed): registry credentials belong in gitops:registryCredentials.
    (u) => urlCredentialProblem(u, { secretKey: SECRET_KEYS.registryCredentials }),
    (u) => (OCI_REPOSITORY.test(u) ? undefined : { what: `must be ${OCI_REPOSITORY_TEXT}`, fix: "no tag, digest or credentials in it" }),
];
const fleetCredential: Rule = (u) => urlCredentialProblem(u, { secretKey: SECRET_KEYS.githubToken });

/** fleet.path must name a directory below the root: the stack owns (and replaces) it. */
const ownedDirProblem: Rule = (p) =>
    p.replace(/^(\.\/)+/, "").replace(/^\.$/, "").replace(/\/+$/, "") === "" ? { what: "names the repository root, which the stack would own and replace", fix: 'give a directory below it, such as "clusters/dev"' } : undefined;

/** The URL Flux pulls a local fleet repo from: k3d's host alias, or the local control plane's loopback server. */
function servedFleetUrl(url: string, c: ClusterConfig): string {
    if (isRemoteUrl(url)) return url;
    return c.kind === "local" ? `http://127.0.0.1:${c.local.fleetPort}/${url.replace(/\/+$/, "").split("/").pop()}` : `http://host.k3d.internal:8765/fleet.git`;
}

const fleet = (stack: string, promotion: PromotionConfig, c: ClusterConfig) =>
    obj(
        {
            /**
             * Where the fleet repository lives, for the reconcile engine: a local path (a bare repository
             * created if missing) or a git URL. Default ".fleet/fleet.git" (the embedded default).
             */
            url: str({ def: ".fleet/fleet.git", rule: fleetCredential }),
            /** The URL Flux in the cluster pulls from. Default: `url` when it is ssh:// or https://; for a local repo, see README. */
            clusterUrl: str({ pattern: /^(ssh|https?):\/\//, patternText: "an ssh:// or http(s):// URL the cluster can reach", rule: fleetCredential }).optional(),
            /** Branch this stack syncs. Default "main" (in the branches promotion model: the stack name). */
            branch: str({ def: promotion.model === "branches" ? stack : "main", rule: branchNameProblem }),
            /** Path Flux syncs for this stack. Default "clusters/<stack>". */
            path: str({ def: `clusters/${stack}`, pattern: /^[A-Za-z0-9._\-/]+$/, patternText: "a relative path", rule: [repoPathProblem, ownedDirProblem] }),
            /** Commit author for the reconcile engine's commits. */
            author: obj({ name: str({ def: "gitops-platform" }), email: str({ def: "gitops-platform@users.noreply.local" }) }),
            /** The repository on GitHub, when it lives there. */
            github: obj({
                owner: str(),
                /** Repository name. */
                name: str({ pattern: /^[A-Za-z0-9._-]+$/, patternText: "a GitHub repository name" }),
                /** Default "private". */
                visibility: oneOf(["private", "public", "internal"], "private"),
                /** Adopt an existing repository instead of creating it. Default false. */
                adopt: bool(false),
                /** Branches to protect (main and the environment branches). Default ["main"] (+ stage branches in the branches model). */
                protectedBranches: list(str(), promotion.model === "branches" ? ["main", ...promotion.order] : ["main"]),
            }).optional(),
            /**
             * Publish the environment as an OCI artifact that Flux pulls instead of Git. Default: absent
             * (Flux pulls Git). FleetSync commits to Git as always, then publishes the commit's tree as a
             * Flux OCI artifact (revision `<branch>@sha1:<commit>`, created = the commit time, so one
             * commit is one digest), and the flux-system sync becomes an OCIRepository + Kustomization.
             */
            oci: obj(
                {
                    /** Where FleetSync pushes: "oci://host[:port]/repository", no tag. Required. */
                    repository: str({ rule: ociRepository }),
                    /** The same repository as the cluster reaches it. Default: `repository`. */
                    clusterRepository: str({ rule: ociRepository }).optional(),
                    /** The tag this environment follows; promotion copies a digest to it. Default: the stack name. */
                    tag: str({ def: stack, pattern: OCI_TAG, patternText: "an OCI tag (letters, digits, '_', '.', '-'; up to 128)" }),
                    /** Plain HTTP (OCIRepository spec.insecure; the push uses HTTP for loopback and private hosts anyway). Default false. */
                    insecure: bool(false),
                    /** Pull secret for the OCIRepository (a dockerconfigjson Secret FleetSync makes from gitops:registryCredentials). Default: none. */
                    secretRef: str(dnsSubdomain).optional(),
                    /** Signature verification by source-controller (OCIRepository spec.verify). Default: none. */
                    verify: obj({ provider: oneOf(["cosign", "notation"], "cosign"), secretRef: str(dnsSubdomain).optional(), matchOIDCIdentity: oidcIdentities.optional() }).optional({ omitWhenAbsent: true }),
                },
                { derive: (o) => ({ clusterRepository: o.clusterRepository ?? o.repository }) },
            ).optional({ omitWhenAbsent: true }),
        },
        { derive: (f) => ({ clusterUrl: f.clusterUrl ?? servedFleetUrl(f.url, c) }) },
    );

export type FleetConfig = Infer<ReturnType<typeof fleet>>;
export type GithubRepoSettings = NonNullable<FleetConfig["github"]>;
export type FleetOciSettings = NonNullable<FleetConfig["oci"]>;

// --- gitops:flux --------------------------------------------------------------------------------

const FLUX_COMPONENTS = [...FLUX_DEFAULT_COMPONENTS, ...FLUX_EXTRA_COMPONENTS];

const flux = obj({
    /** Pinned Flux version. Default FLUX_RELEASE.version (engine/flux/upstream.ts), whose upstream install is cached. */
    version: str({ def: FLUX_RELEASE.version, pattern: /^v2\.[0-9]+\.[0-9]+$/, patternText: 'a Flux v2 release such as "v2.7.2"' }),
    /** Controllers. Default: the four defaults plus image-reflector and image-automation. */
    components: list(oneOf(FLUX_COMPONENTS), FLUX_COMPONENTS),
    /** Namespace. Default "flux-system". */
    namespace: str({ def: "flux-system", ...dnsLabel }),
    /** GitRepository poll interval. Default "1m0s". */
    interval: str({ def: "1m0s", ...duration }),
    /** flux-system Kustomization interval. Default "10m0s". */
    syncInterval: str({ def: "10m0s", ...duration }),
    /** Add Flux's network policies. Default true. */
    networkPolicy: bool(true),
    /** Path to a vendored install manifest (the release's install.yaml), committed verbatim instead of the cached upstream install. */
    componentsFile: str({ rule: projectPathProblem }).optional(),
});

export type FluxConfig = Infer<typeof flux>;

// --- gitops:sources -----------------------------------------------------------------------------

const SOURCE_KINDS = ["git", "oci", "helm"] as const;
export type SourceKind = (typeof SOURCE_KINDS)[number];

/**
 * A setting whose shape depends on the source's kind: read with that kind's field once the kind
 * is known (in the source's `derive`); set on a kind without one, it is an error saying so. Left
 * out of the source when not set.
 */
function forKind<F extends Partial<Record<SourceKind, Field<unknown>>>>(fields: F, elsewhere: string): Field<(kind: SourceKind) => Infer<NonNullable<F[keyof F]>> | undefined> {
    const read = (n: Node) => (kind: SourceKind) => {
        if (!n.present) return undefined;
        const f = fields[kind];
        if (!f) return n.errors.add(n.key, elsewhere, n.value), undefined;
        return f.read(n) as Infer<NonNullable<F[keyof F]>>;
    };
    return new Field(read, true);
}

const GIT_REF_KEYS = ["branch", "tag", "semver", "commit", "name"];
const gitRef = strMap({ keys: GIT_REF_KEYS, rules: { branch: branchNameProblem, tag: tagNameProblem, semver: semverRangeProblem, name: fullRefNameProblem } }).check((r, n) => {
    if (isPlainObject(n.value) && Object.keys(r).length === 0) n.errors.add(n.key, `must set one of ${GIT_REF_KEYS.join(", ")}`, r);
});
const ociRef = strMap({
    keys: ["tag", "semver", "semverFilter", "digest"],
    rules: { tag: (t) => (OCI_TAG.test(t) ? undefined : { what: "is not a valid OCI tag", fix: "use letters, digits, '_', '.' and '-' (at most 128)" }), semver: semverRangeProblem, semverFilter: regexpProblem },
}).check((r, n) => {
    const chosen = Object.keys(r).filter((k) => k !== "semverFilter");
    if (chosen.length > 1 && !chosen.includes("digest")) n.errors.add(n.key, "must set one of tag, semver or digest", r);
});

const INSECURE_ELSEWHERE = 'is only used by oci sources and helm sources of type "oci" (plain HTTP to a registry); remove it';

const source = obj(
    {
        name: str(dnsSubdomain),
        kind: oneOf(SOURCE_KINDS),
        namespace: str({ def: "flux-system", ...dnsLabel }),
        url: str({ rule: (u, key) => urlCredentialProblem(u, { secretRefHint: `put them in a Secret in the cluster and name it in ${key.replace(/\.url$/, ".secretRef")}` }) }),
        /** Default "1h0m0s" for helm, else "1m0s". */
        interval: str(duration).optional(),
        /** git: branch/tag/semver/commit/name (default branch main); oci: tag/semver/semverFilter/digest. */
        ref: forKind({ git: gitRef, oci: ociRef }, "is not used by helm sources; remove it"),
        ignore: str().optional(),
        secretRef: str(dnsSubdomain).optional(),
        /** git: {mode, secretRef}; oci: {provider: cosign, secretRef?, matchOIDCIdentity?}. */
        verify: forKind(
            {
                git: obj({ mode: oneOf(["HEAD", "Tag", "TagAndHEAD"], "HEAD"), secretRef: str() }),
                oci: obj({ provider: oneOf(["cosign", "notation"], "cosign"), secretRef: str().optional(), matchOIDCIdentity: oidcIdentities.optional() }),
            },
            "is not supported for helm sources",
        ),
        layerSelector: forKind({ oci: obj({ mediaType: str().optional(), operation: oneOf(["extract", "copy"]).optional() }) }, "is only used by oci sources"),
        /** helm: "default" or "oci". Default "oci" for an oci:// URL. */
        type: forKind({ helm: oneOf(["default", "oci"]) }, "is only used by helm sources"),
        provider: str().optional(),
        /** oci, and helm of type "oci": plain HTTP to the registry (spec.insecure). Default false. */
        insecure: forKind({ oci: bool(false), helm: bool(false) }, INSECURE_ELSEWHERE),
    },
    {
        required: true,
        derive: (s, n) => {
            const url = n.at("url");
            const type = s.kind === "helm" ? (s.type(s.kind) ?? (s.url.startsWith("oci://") ? "oci" : "default")) : s.type(s.kind);
            if (s.url && s.kind === "git" && !/^(ssh|https?):\/\//.test(s.url)) n.errors.add(url.key, "must be an ssh:// or http(s):// URL for a git source", s.url);
            if (s.url && s.kind === "oci" && !s.url.startsWith("oci://")) n.errors.add(url.key, "must start with oci:// for an oci source", s.url);
            if (type === "oci" && !s.url.startsWith("oci://")) n.errors.add(url.key, 'must start with oci:// when type is "oci"', s.url);
            if (type === "default" && !/^https?:\/\//.test(s.url)) n.errors.add(url.key, "must be an http(s):// Helm repository URL", s.url);
            const verify: AnyOf<NonNullable<ReturnType<typeof s.verify>>> | undefined = s.verify(s.kind);
            const insecure = s.insecure(s.kind);
            if (insecure !== undefined && type === "default") n.errors.add(n.at("insecure").key, INSECURE_ELSEWHERE, insecure);
            return {
                insecure: insecure === true ? true : undefined,
                interval: s.interval ?? (s.kind === "helm" ? "1h0m0s" : "1m0s"),
                ref: s.ref(s.kind) ?? (s.kind === "git" ? { branch: "main" } : undefined),
                verify,
                layerSelector: s.layerSelector(s.kind),
                type,
            };
        },
    },
);

export type SourceConfig = Infer<typeof source>;

// --- gitops:releases ----------------------------------------------------------------------------

const CRDS = ["Skip", "Create", "CreateReplace"] as const;
const remediation = obj({ retries: int({ min: -1, max: 100 }).optional(), remediateLastFailure: bool(false).optional(), strategy: oneOf(["rollback", "uninstall"]).optional() });
export type RemediationConfig = Infer<typeof remediation>;

const release = obj(
    {
        name: str(dnsLabel),
        /** Default: the name. */
        namespace: str(dnsLabel).optional(),
        targetNamespace: str(dnsLabel).optional(),
        chart: str(),
        version: str({ pattern: /^[^\s]+$/, patternText: "a pinned chart version or semver range without spaces", rule: semverRangeProblem }),
        /** Name of a HelmRepository source in `sources`. */
        source: str(),
        interval: str({ def: "10m0s", ...duration }),
        timeout: str(duration).optional(),
        values: freeObject(),
        valuesFrom: list(obj({ kind: oneOf(["ConfigMap", "Secret"]), name: str(), valuesKey: str().optional(), targetPath: str().optional(), optional: bool(false).optional() }, { required: true })),
        install: obj({ createNamespace: bool(true), crds: oneOf(CRDS).optional(), /** Default { retries: 3 }. */ remediation: remediation.optional({ def: { retries: 3 } }) }),
        upgrade: obj({ crds: oneOf(CRDS).optional(), /** Default { retries: 3, remediateLastFailure: true }. */ remediation: remediation.optional({ def: { retries: 3, remediateLastFailure: true } }), cleanupOnFail: bool(false).optional() }),
        dependsOn: list(str()),
    },
    { required: true, derive: (r) => ({ namespace: r.namespace ?? r.name }) },
);

export type ReleaseConfig = Infer<typeof release>;

// --- gitops:sync and gitops:kustomizations ------------------------------------------------------

/** postBuild variable names, as Flux validates them. */
const VAR_NAME = /^[_a-zA-Z][_a-zA-Z0-9]*$/;

/** postBuild.substitute: variables by name; a secret among them would land in Git. */
const substitute = strMap().check((vars, n) => {
    for (const k of Object.keys(vars)) {
        if (!VAR_NAME.test(k)) n.errors.add(`${n.key}.${k}`, "is not a valid variable name (letters, digits and '_', not starting with a digit)", k);
        else if (SECRET_NAME.test(k)) {
            n.errors.addRaw(`${n.key}.${k} names a secret but holds it in plain text, which lands in Git (put it in a Kubernetes Secret and list that Secret in ${n.key}From with kind: Secret)`);
        }
    }
});
const substituteFrom = list(obj({ kind: oneOf(["ConfigMap", "Secret"]), name: str(), optional: bool(false) }, { required: true }));
/** SOPS decryption with the given Secret (age or PGP keys). */
const decryption = obj({ provider: oneOf(["sops"], "sops"), secretRef: str() }).optional();

export type SubstituteFromConfig = Infer<typeof substituteFrom>[number];

const sync = (stack: string) =>
    obj({
        /** Kustomization interval. Default "10m0s". */
        interval: str({ def: "10m0s", ...duration }),
        /** Default "2m0s". */
        retryInterval: str({ def: "2m0s", ...duration }),
        /** Default "5m0s". */
        timeout: str({ def: "5m0s", ...duration }),
        /** Wait for all applied objects to be ready. Default true. */
        wait: bool(true),
        /** postBuild.substitute for every Kustomization of the chain. `cluster_env` is always set to the stack. */
        substitute: substitute.map((vars): Record<string, string> => ({ cluster_env: stack, ...vars })),
        substituteFrom,
        decryption,
    });

export type SyncSettings = Infer<ReturnType<typeof sync>>;

const kustomization = obj(
    {
        name: str(dnsSubdomain),
        path: str({ pattern: /^\.?\/?[A-Za-z0-9._\-/]*$/, patternText: 'a path in the source such as "./apps/dev"', rule: repoPathProblem }),
        /** Source name (a git or oci source in `sources`); default the flux-system GitRepository. */
        source: str().optional(),
        prune: bool(true),
        wait: bool(false),
        interval: str({ def: "10m0s", ...duration }),
        timeout: str(duration).optional(),
        retryInterval: str(duration).optional(),
        dependsOn: list(str()),
        healthChecks: list(obj({ apiVersion: str().optional(), kind: str(), name: str(), namespace: str().optional() }, { required: true })),
        targetNamespace: str(dnsLabel).optional(),
        substitute,
        substituteFrom,
        decryption,
    },
    { required: true },
);

export type KustomizationConfig = Infer<typeof kustomization>;

// --- gitops:apps --------------------------------------------------------------------------------

const imagePolicy = obj({
    /** semver range, e.g. "^1.0.0". Exactly one of semver, numerical, alphabetical. */
    semver: str({ rule: semverRangeProblem }).optional(),
    numerical: oneOf(["asc", "desc"]).optional(),
    alphabetical: oneOf(["asc", "desc"]).optional(),
    filterTags: obj({ pattern: str({ rule: regexpProblem }), extract: str().optional() }).optional({ omitWhenAbsent: true }),
    /** ImageRepository scan interval. Default "1m0s". */
    interval: str({ def: "1m0s", ...duration }),
    /** Tags never considered. Default Flux's ["^.*\\.sig$"]. */
    exclusionList: list(str({ rule: regexpProblem })).optional(),
    /** Registry credentials Secret name for the ImageRepository. */
    secretRef: str().optional(),
    provider: oneOf(["generic", "aws", "azure", "gcp"]).optional(),
    /** Plain HTTP to the registry (ImageRepository spec.insecure), for a registry without TLS. Default false. */
    insecure: bool(false).optional(),
}).check((p, n) => {
    if ([p.semver, p.numerical, p.alphabetical].filter((x) => x !== undefined).length !== 1) n.errors.add(n.key, "must set exactly one of semver, numerical, alphabetical", n.value);
});

export type ImagePolicyConfig = Infer<typeof imagePolicy>;

const canaryMetric = obj(
    {
        /** A Flagger built-in (request-success-rate, request-duration) or any name with templateRef. */
        name: str(dnsSubdomain),
        /** Pass when the value is within [min, max]. */
        thresholdRange: obj({ min: num().optional(), max: num().optional() }, { required: true }),
        /** Query window. Default "1m". */
        interval: str({ def: "1m", ...duration }),
        /** Name of a MetricTemplate in gitops:delivery.metricTemplates. */
        templateRef: str().optional(),
    },
    { required: true },
);

export type CanaryMetricConfig = Infer<typeof canaryMetric>;

const canary = obj(
    {
        /** The workload Flagger shifts traffic to. Default { kind: "Deployment", name: <app name> }. */
        targetRef: obj({ kind: oneOf(["Deployment", "DaemonSet"], "Deployment"), name: str(dnsSubdomain).optional() }),
        /** Port of the Services Flagger generates (apex, -primary, -canary). Default 80; they target the app port. */
        port: int({ def: 80, min: 1, max: 65535 }),
        /** Time between analysis steps. Default "1m". */
        interval: str({ def: "1m", ...duration }),
        /** Failed checks before rollback (at least 1). Default 5. */
        threshold: int({ def: 5 }),
        /** Canary weight at which the analysis promotes (1-100). Default 50. */
        maxWeight: int({ def: 50 }),
        /** Weight added per step. Default 10 when stepWeights is not set; not with stepWeights. */
        stepWeight: int().optional(),
        /** Explicit increasing weights per step; the last must reach maxWeight. */
        stepWeights: list(int()).optional(),
        /** Default: request-success-rate min 99 and request-duration max 500 (ms), each over 1m. */
        metrics: list(canaryMetric, [
            { name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" },
            { name: "request-duration", thresholdRange: { max: 500 }, interval: "1m" },
        ]),
        /** Generate traffic with Flagger's load tester during the analysis. Default true. */
        loadTest: bool(true),
        /** URL of a confirm-promotion gate (promotion waits until it answers 200). */
        confirmPromotion: str(httpUrl).optional(),
        /** URL of a rollback webhook (a 200 from it aborts the analysis and rolls back). */
        rollbackWebhook: str(httpUrl).optional(),
    },
    { derive: (c) => ({ stepWeight: c.stepWeight ?? (c.stepWeights ? undefined : 10) }) },
);

/** App env: plain values only; a secret among them would land in Git. */
const env = strMap().check((vars, n) => {
    for (const k of Object.keys(vars)) {
        if (SECRET_NAME.test(k)) n.errors.addRaw(`${n.key}.${k} names a secret but holds it in plain text, which lands in Git (keep secrets out of stack config: give the app the value from a Kubernetes Secret)`);
    }
});

const app = (delivery: DeliveryConfig) =>
    obj(
        {
            name: str(dnsLabel),
            /** Default: the name. */
            namespace: str(dnsLabel).optional(),
            /** Image repository, e.g. "ghcr.io/acme/echo-version". */
            image: str({ pattern: /^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]+)?(\/[a-z0-9]+([._-]+[a-z0-9]+)*)*$/, patternText: 'an image repository without a tag, such as "ghcr.io/acme/app"' }),
            /** Tag deployed in this environment. */
            tag: str({ pattern: OCI_TAG, patternText: "an image tag" }),
            port: int({ def: 8080, min: 1, max: 65535 }),
            replicas: int({ def: 1, min: 0, max: 1000 }),
            env,
            /** Image automation for this app (needs imageAutomation.enabled). */
            imagePolicy: imagePolicy.optional(),
            /** Pin the current tag: automation stops touching it in this environment. Default false. */
            freeze: bool(false),
            canary: canary.optional(),
            /** Label the namespace for Istio sidecar injection. Default: delivery.istio.enabled. */
            istioInjection: bool(false).optional({ def: delivery.istio.enabled ? true : undefined }),
        },
        {
            required: true,
            derive: (a) => ({
                namespace: a.namespace ?? a.name,
                canary: a.canary && { ...a.canary, targetRef: { ...a.canary.targetRef, name: a.canary.targetRef.name ?? a.name } },
            }),
        },
    );

export type AppConfig = Infer<ReturnType<typeof app>>;
export type CanaryConfig = NonNullable<AppConfig["canary"]>;

// --- gitops:imageAutomation ---------------------------------------------------------------------

const imageAutomation = (stack: string, f: FleetConfig) =>
    obj({
        enabled: bool(false),
        interval: str({ def: "30m0s", ...duration }),
        /** Branch automation checks out. Default: fleet.branch. */
        checkoutBranch: str({ def: f.branch, rule: branchNameProblem }),
        /** Branch automation pushes to. Default "__image/<stack>/project". */
        pushBranch: str({ def: `__image/${stack}/project`, rule: branchNameProblem }),
        /** Path automation updates. Default "./apps/<stack>". */
        path: str({ def: `./apps/${stack}`, rule: repoPathProblem }),
        author: obj({ name: str({ def: "fluxcdbot" }), email: str({ def: "fluxcdbot@users.noreply.github.com" }) }),
        messageTemplate: str().optional(),
    });

export type ImageAutomationConfig = Infer<ReturnType<typeof imageAutomation>>;

// --- gitops:delivery ----------------------------------------------------------------------------

const metricTemplate = obj(
    {
        name: str(dnsSubdomain),
        /** Default the Flagger namespace ("istio-system"). */
        namespace: str({ def: FLAGGER_NAMESPACE, ...dnsLabel }),
        /** PromQL; Flagger substitutes {{ namespace }}, {{ target }}, {{ interval }}. */
        query: str(),
        /** Prometheus address. Default the platform's Prometheus ("http://prometheus-server.monitoring:80"). */
        address: str({ def: PROMETHEUS_URL, ...httpUrl }),
    },
    { required: true },
);

export type MetricTemplateConfig = Infer<typeof metricTemplate>;

const delivery = obj(
    {
        /** Istio base, istiod and the ingress gateway (+ the public Gateway object). Default: flagger.enabled. */
        istio: obj({ enabled: maybeBool(), version: str({ def: "1.27.1" }), gateway: bool(true), gatewayHosts: list(str(), ["*"]) }),
        /** Flagger (meshProvider istio, metrics from Prometheus) and its load tester. Default false. */
        flagger: obj({ enabled: bool(false), version: str({ def: "1.41.0" }), loadtesterVersion: str({ def: "0.35.0" }) }),
        /** Prometheus (prometheus-community chart). Default: flagger.enabled. */
        prometheus: obj({ enabled: maybeBool(), version: str({ def: "27.28.0" }) }),
        /** Grafana (grafana chart) with Flagger's Istio dashboard. Default false. */
        grafana: obj({ enabled: bool(false), version: str({ def: "9.3.0" }) }),
        /** Custom metric templates canaries may reference with templateRef. */
        metricTemplates: list(metricTemplate),
    },
    {
        derive: (d) => ({
            istio: { ...d.istio, enabled: d.istio.enabled ?? d.flagger.enabled },
            prometheus: { ...d.prometheus, enabled: d.prometheus.enabled ?? d.flagger.enabled },
        }),
    },
);

export type DeliveryConfig = Infer<typeof delivery>;

// --- gitops:notifications -----------------------------------------------------------------------

const notificationProvider = obj(
    {
        name: str(dnsSubdomain),
        type: oneOf(["slack", "msteams", "github", "generic"]),
        channel: str().optional(),
        /** For github: the repository URL; for generic: the address (non-secret). */
        address: str().optional(),
    },
    { required: true },
).check((p, n) => {
    // The address is judged with the provider's name: its secret lives at notificationSecrets.<name>.
    const name = p.name || "<provider>";
    if (p.address) n.at("address").judge(p.address, [(a) => webhookAddressProblem(a, name), (a) => urlCredentialProblem(a, { secretKey: SECRET_KEYS.notificationSecrets, secretPath: name })]);
});

export type NotificationProviderConfig = Infer<typeof notificationProvider>;

const alert = obj(
    {
        name: str(dnsSubdomain),
        provider: str(),
        severity: oneOf(["info", "error"], "info"),
        sources: list(obj({ kind: str(), name: str(), namespace: str().optional() }, { required: true }), [
            { kind: "Kustomization", name: "*" },
            { kind: "HelmRelease", name: "*" },
        ]),
        exclusionList: list(str()),
    },
    { required: true },
);

export type AlertConfig = Infer<typeof alert>;

const notifications = obj({
    providers: list(notificationProvider),
    alerts: list(alert),
    /** A webhook Receiver for the fleet GitRepository; address is the public base URL of notification-controller's webhook-receiver. */
    receiver: obj({
        enabled: bool(false),
        type: oneOf(["github", "generic"], "github"),
        address: str({ pattern: /^https?:\/\/[^/]+\/?$/, patternText: 'the public base URL of the webhook receiver, such as "https://flux-webhook.example.com"', rule: (u) => urlCredentialProblem(u) }).optional(),
    }),
});

export type NotificationsConfig = Infer<typeof notifications>;

// --- gitops:promotion ---------------------------------------------------------------------------

const promotion = (stack: string) =>
    obj(
        {
            /** "overlays": one branch with clusters/<env> overlays; "branches": one branch per stage. Default "overlays". */
            model: oneOf(["overlays", "branches"], "overlays"),
            /** Stage order. Default ["dev", "test", "prod"]. */
            order: list(str(dnsLabel), ["dev", "test", "prod"]),
            /** The stage this one promotes from; default the previous stage in `order`. */
            from: str().optional(),
            /** Stack reference ("org/project/stack") to read the source stage's verified revision from; else Git. */
            stackReference: str().optional(),
        },
        { derive: (p) => ({ from: p.from ?? (p.order.indexOf(stack) > 0 ? p.order[p.order.indexOf(stack) - 1] : undefined) }) },
    );

export type PromotionConfig = Infer<ReturnType<typeof promotion>>;

// --- the stack ----------------------------------------------------------------------------------

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

const SECTIONS = ["cluster", "fleet", "flux", "sources", "releases", "sync", "kustomizations", "apps", "imageAutomation", "delivery", "notifications", "promotion"] as const;
const TOP_KEYS = [...SECTIONS, ...Object.values(SECRET_KEYS)];

/** The sections, each read with what its defaults depend on (the stack, and sections read before it). */
function readSections(top: (k: (typeof SECTIONS)[number]) => Node, stack: string) {
    const c = cluster(stack).read(top("cluster"));
    const p = promotion(stack).read(top("promotion"));
    const f = fleet(stack, p, c).read(top("fleet"));
    const fx = flux.read(top("flux"));
    const sources = list(source).read(top("sources"));
    const releases = list(release).read(top("releases"));
    const sy = sync(stack).read(top("sync"));
    const kustomizations = list(kustomization).read(top("kustomizations"));
    const d = delivery.read(top("delivery"));
    const apps = list(app(d)).read(top("apps"));
    const ia = imageAutomation(stack, f).read(top("imageAutomation"));
    const notes = notifications.read(top("notifications"));
    return { cluster: c, fleet: f, flux: fx, sources, releases, sync: sy, kustomizations, apps, imageAutomation: ia, delivery: d, notifications: notes, promotion: p } satisfies Record<(typeof SECTIONS)[number], unknown>;
}

export type StackConfig = { /** The stack (environment) name. */ stack: string } & ReturnType<typeof readSections>;

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
    const cfg: StackConfig = { stack, ...readSections((k) => new Node(`${NS}:${k}`, raw[k], errors), stack) };
    crossCheck(cfg, errors);
    if (!errors.empty) throw new StackConfigError(file, errors.messages);
    return cfg;
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
    cfg.notifications.providers.forEach((p, i) => {
        // notification-controller sets commit statuses on the repository the address names.
        if (p.type === "github" && !p.address) errors.addRaw(`${NS}:notifications.providers[${i}].address is required for a github provider: give the repository URL, e.g. https://github.com/org/repo`);
    });
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
