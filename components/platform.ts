/**
 * Platform: one environment of the GitOps platform, built from one validated stack config.
 *
 *   cluster (k3d | kind | aks | existing | local | none)
 *   FluxBootstrap (controllers + flux-system sync + deploy key), handed to FleetSync
 *   GitHub FleetRepository (when the fleet repo lives on GitHub)
 *   typed Flux components (sources, Kustomizations, HelmReleases) whose manifests are the fleet files
 *   FleetSync: commits the fleet files, applies the bootstrap, waits for Flux to apply the commit
 *
 * Ownership: Pulumi applies directly only the bootstrap and what lives outside the cluster; every
 * other object is a file in the fleet repo that Flux applies.
 */
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { NS, projectFile, SECRET_KEYS, StackConfig } from "../engine/config";
import type { KubeObject } from "../engine/flux/api";
import { FleetPlan, renderFleet } from "../engine/fleet/layout";
import { isGitopsError } from "../engine/errors";
import { providerSecretName, RECEIVER_SECRET } from "../engine/fleet/objects";
import { ClusterOutputs, createCluster } from "./cluster";
import type { StackSecrets } from "./config";
import { FleetSync } from "./fleet-sync";
import { FluxBootstrap } from "./flux/bootstrap";
import { ManifestComponent } from "./flux/manifest";
import { sourceComponent } from "./flux/sources";
import { FluxHelmRelease, FluxKustomization } from "./flux/sync";
import { FleetRepository } from "./github/repository";
import { deliveryComponents, Flagger, FlaggerCanary, FlaggerMetricTemplate, IstioMesh, Monitoring } from "./delivery";
import { FluxImagePolicy, FluxImageRepository, FluxImageUpdateAutomation } from "./images";
import { NotificationAlert, NotificationProvider, WebhookReceiver } from "./notify";
import { appPolicyName, receiverName } from "../engine/fleet/layout";
import { dockerAuth, dockerConfigSecret, registrySecrets } from "../engine/delivery";

export interface PlatformArgs {
    readonly config: StackConfig;
    readonly secrets: StackSecrets;
    /** Directory that relative paths in the config (fleet.url, flux.componentsFile) resolve against. */
    readonly projectDir: string;
    /** Names of the GitHub Actions secrets (values come from secrets.actionsSecrets). */
    readonly actionsSecretNames?: string[];
}

export class Platform extends pulumi.ComponentResource {
    readonly plan: FleetPlan;
    readonly cluster?: ClusterOutputs;
    readonly bootstrap?: FluxBootstrap;
    readonly repository?: FleetRepository;
    readonly fleetSync: FleetSync;
    /** The typed Flux objects this environment declares into the fleet repo. */
    readonly declared: ManifestComponent<KubeObject>[] = [];
    readonly fleetUrl: string;
    /** Istio, Flagger, Prometheus/Grafana, as gitops:delivery asks. */
    readonly delivery: Array<IstioMesh | Flagger | Monitoring> = [];
    /** One Flagger Canary per app with a canary. */
    readonly canaries: FlaggerCanary[] = [];
    /** Per app with a canary: minimum seconds to full promotion and seconds to roll back. */
    readonly canaryTimes: Record<string, { steps: number; promotionSeconds: number; rollbackSeconds: number }> = {};
    /** The GitHub webhook Receiver, when notifications.receiver.enabled. */
    readonly receiver?: WebhookReceiver;

    constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:index:Platform", name, {}, opts);
        const cfg = args.config;
        const child = { parent: this };

        let componentsFile: string | undefined;
        if (cfg.flux.componentsFile) {
            try {
                componentsFile = projectFile(args.projectDir, "flux.componentsFile", cfg.flux.componentsFile);
            } catch (e) {
                throw new pulumi.ResourceError((e as Error).message, this);
            }
        }
        if (cfg.notifications.receiver.enabled && !args.secrets.receiverToken) {
            throw new pulumi.ResourceError("gitops:notifications.receiver.enabled needs a token: run `pulumi config set --secret gitops:receiverToken $(openssl rand -hex 32)`", this);
        }
        const providerSecretNames = args.secrets.notificationSecrets ? cfg.notifications.providers.map((p) => p.name) : [];
        try {
            this.plan = renderFleet(cfg, { componentsFile, providerSecrets: providerSecretNames });
        } catch (e) {
            // e.g. the upstream Flux install is not cached: the message names the config key and folder.
            if (isGitopsError(e)) throw new pulumi.ResourceError(e.message, this);
            throw e;
        }

        // Typed declarations of what goes into the fleet repo (their manifests are in plan.files).
        for (const s of cfg.sources) this.declared.push(sourceComponent(s, child));
        for (const r of cfg.releases) this.declared.push(new FluxHelmRelease(`${name}-${r.name}`, { ...r, objectName: r.name, sourceNamespace: cfg.flux.namespace }, child));
        const chain: Array<[string, string, string[]]> = [
            ["infrastructure-releases", `infrastructure/${cfg.stack}/releases`, []],
            ["infrastructure-manifests", `infrastructure/${cfg.stack}/manifests`, ["infrastructure-releases"]],
            ["apps", `apps/${cfg.stack}`, ["infrastructure-manifests"]],
        ];
        for (const [kname, kpath, deps] of chain) {
            this.declared.push(
                new FluxKustomization(
                    `${name}-${kname}`,
                    {
                        objectName: kname,
                        namespace: cfg.flux.namespace,
                        path: kpath,
                        dependsOn: deps,
                        interval: cfg.sync.interval,
                        retryInterval: cfg.sync.retryInterval,
                        timeout: cfg.sync.timeout,
                        wait: cfg.sync.wait,
                        substitute: cfg.sync.substitute,
                        substituteFrom: cfg.sync.substituteFrom,
                        decryption: cfg.sync.decryption,
                    },
                    child,
                ),
            );
        }
        for (const k of cfg.kustomizations) {
            const src = k.source ? cfg.sources.find((s) => s.name === k.source) : undefined;
            this.declared.push(
                new FluxKustomization(
                    `${name}-${k.name}`,
                    {
                        ...k,
                        objectName: k.name,
                        namespace: cfg.flux.namespace,
                        sourceRef: src ? { kind: src.kind === "oci" ? "OCIRepository" : "GitRepository", name: src.name, namespace: src.namespace } : undefined,
                    },
                    child,
                ),
            );
        }

        // Progressive delivery: the mesh and Flagger stack, metric templates, one Canary per app.
        this.delivery = deliveryComponents(name, cfg.delivery, cfg.flux.namespace, child);
        for (const g of this.delivery) {
            this.declared.push(...g.sources, ...g.releases);
            if (g instanceof IstioMesh && g.gateway) this.declared.push(g.gateway);
        }
        if (cfg.delivery.flagger.enabled) for (const t of cfg.delivery.metricTemplates) this.declared.push(new FlaggerMetricTemplate(`${name}-${t.name}`, t, child));
        cfg.apps.forEach((a, i) => {
            if (!a.canary) return;
            const c = new FlaggerCanary(
                `${name}-${a.name}-canary`,
                { app: a, gateway: cfg.delivery.istio.enabled && cfg.delivery.istio.gateway, hosts: cfg.delivery.istio.gatewayHosts, templates: cfg.delivery.metricTemplates, key: `gitops:apps[${i}].canary` },
                child,
            );
            this.canaries.push(c);
            this.declared.push(c);
            this.canaryTimes[a.name] = { steps: c.steps, promotionSeconds: c.promotionSeconds, rollbackSeconds: c.rollbackSeconds };
        });

        // Image automation: a repository and a policy per automated app, one automation per environment.
        const automated = cfg.apps.filter((a) => a.imagePolicy);
        if (cfg.imageAutomation.enabled && automated.length > 0) {
            for (const a of automated) {
                const p = a.imagePolicy!;
                const objectName = appPolicyName(a);
                this.declared.push(
                    new FluxImageRepository(`${name}-${a.name}-image`, { objectName, namespace: cfg.flux.namespace, image: a.image, interval: p.interval, secretRef: p.secretRef, exclusionList: p.exclusionList, provider: p.provider }, child),
                    new FluxImagePolicy(`${name}-${a.name}-policy`, { objectName, namespace: cfg.flux.namespace, semver: p.semver, numerical: p.numerical, alphabetical: p.alphabetical, filterTags: p.filterTags }, child),
                );
            }
            const ia = cfg.imageAutomation;
            this.declared.push(
                new FluxImageUpdateAutomation(
                    `${name}-image-automation`,
                    { objectName: cfg.stack, namespace: cfg.flux.namespace, interval: ia.interval, checkoutBranch: ia.checkoutBranch, pushBranch: ia.pushBranch, path: ia.path, author: ia.author, messageTemplate: ia.messageTemplate },
                    child,
                ),
            );
        }

        // Notifications: providers (secrets applied by FleetSync), alerts, the webhook receiver.
        for (const p of cfg.notifications.providers) {
            this.declared.push(new NotificationProvider(p.name, { type: p.type, channel: p.channel, address: p.address, hasSecret: providerSecretNames.includes(p.name), namespace: cfg.flux.namespace }, child));
        }
        for (const a of cfg.notifications.alerts) {
            this.declared.push(new NotificationAlert(a.name, { provider: a.provider, severity: a.severity, sources: a.sources, exclusionList: a.exclusionList, namespace: cfg.flux.namespace }, child));
        }
        if (cfg.notifications.receiver.enabled && args.secrets.receiverToken) {
            this.receiver = new WebhookReceiver(
                receiverName(cfg.stack),
                { type: cfg.notifications.receiver.type, token: args.secrets.receiverToken, address: cfg.notifications.receiver.address, namespace: cfg.flux.namespace },
                child,
            );
            this.declared.push(this.receiver);
        }

        // The cluster, and the bootstrap FleetSync applies to it.
        this.cluster = createCluster(`${name}-cluster`, cfg.cluster, args.secrets.kubeconfig, child, { dir: args.projectDir, fleetUrl: cfg.fleet.url });
        const secrets: pulumi.Output<KubeObject[]>[] = [];
        if (this.cluster) {
            this.bootstrap = new FluxBootstrap(
                `${name}-flux`,
                {
                    objects: this.cluster.installsFlux ? this.plan.bootstrap : this.plan.bootstrap.filter((o) => o.kind === "GitRepository" || o.kind === "OCIRepository" || o.kind === "Kustomization"),
                    namespace: cfg.flux.namespace,
                    clusterUrl: cfg.fleet.clusterUrl,
                    needsWrite: cfg.imageAutomation.enabled,
                },
                child,
            );
            secrets.push(this.bootstrap.secrets);
            if (args.secrets.notificationSecrets) secrets.push(notificationSecretObjects(cfg, args.secrets.notificationSecrets));
            if (args.secrets.receiverToken) secrets.push(receiverSecretObject(cfg, args.secrets.receiverToken));
            if (args.secrets.registryCredentials && cfg.imageAutomation.enabled) secrets.push(registrySecretObjects(cfg, args.secrets.registryCredentials, this));
            if (args.secrets.registryCredentials && cfg.fleet.oci?.secretRef) secrets.push(fleetPullSecret(cfg, args.secrets.registryCredentials));
        }

        // The repository on GitHub, with the deploy key Flux pulls with.
        const gh = cfg.fleet.github;
        if (gh) {
            this.repository = new FleetRepository(
                `${name}-fleet`,
                {
                    owner: gh.owner,
                    name: gh.name,
                    visibility: gh.visibility,
                    adopt: gh.adopt,
                    protectedBranches: gh.protectedBranches,
                    deployKey: this.bootstrap?.publicKey,
                    deployKeyReadOnly: this.bootstrap?.readOnly ?? true,
                    token: args.secrets.githubToken,
                    actionsSecrets: args.secrets.actionsSecrets && args.actionsSecretNames?.length ? { names: args.actionsSecretNames, values: args.secrets.actionsSecrets } : undefined,
                },
                child,
            );
        }

        // A local fleet repo path is resolved against the project, so every run agrees on it.
        const local = !/^(ssh|https?|git|file):\/\//.test(cfg.fleet.url) && !/^[^/]+@[^:]+:/.test(cfg.fleet.url);
        this.fleetUrl = local ? path.resolve(args.projectDir, cfg.fleet.url) : cfg.fleet.url;
        const gitAuth = args.secrets.githubToken && /^https:\/\//.test(this.fleetUrl) ? args.secrets.githubToken.apply((t) => ({ httpsToken: t })) : undefined;
        this.fleetSync = new FleetSync(
            `${name}-fleet-sync`,
            {
                stack: cfg.stack,
                repo: this.fleetUrl,
                branch: cfg.fleet.branch,
                files: this.plan.files,
                owned: this.plan.owned,
                author: cfg.fleet.author,
                kubeconfig: this.cluster?.kubeconfig,
                bootstrap: this.bootstrap ? this.bootstrap.objects : [],
                secrets: secrets.length ? pulumi.all(secrets).apply((lists) => lists.flat()) : undefined,
                fluxNamespace: cfg.flux.namespace,
                kustomizations: this.plan.kustomizations,
                gitAuth,
                // Delete reads the token back from the stack config, so no output keeps it.
                gitAuthConfig: gitAuth ? { httpsToken: `${NS}:${SECRET_KEYS.githubToken}` } : undefined,
                oci: cfg.fleet.oci ? { repository: cfg.fleet.oci.repository, tag: cfg.fleet.oci.tag, insecure: cfg.fleet.oci.insecure } : undefined,
                ociAuth: cfg.fleet.oci && args.secrets.registryCredentials ? args.secrets.registryCredentials.apply((v) => dockerAuth(v[ociHost(cfg.fleet.oci!.repository)])) : undefined,
            },
            // The repository (and its deploy key) must exist before the first push and sync.
            { parent: this, dependsOn: this.repository ? [this.repository] : [] },
        );
        this.registerOutputs({
            fleetUrl: this.fleetUrl,
            commit: this.fleetSync.commit,
            appliedRevision: this.fleetSync.appliedRevision,
            recoverySeconds: this.fleetSync.recoverySeconds,
            canaryTimes: this.canaryTimes,
            receiverWebhookUrl: this.receiver?.webhookUrl,
            artifactDigest: this.fleetSync.artifactDigest,
        });
    }
}

function notificationSecretObjects(cfg: StackConfig, values: pulumi.Output<Record<string, string>>): pulumi.Output<KubeObject[]> {
    return pulumi.secret(
        values.apply((v) =>
            cfg.notifications.providers
                .filter((p) => v[p.name] !== undefined)
                .map(
                    (p): KubeObject => ({
                        apiVersion: "v1",
                        kind: "Secret",
                        metadata: { name: providerSecretName(p.name), namespace: cfg.flux.namespace },
                        type: "Opaque",
                        stringData: p.type === "github" ? { token: v[p.name] } : { address: v[p.name] },
                    }),
                ),
        ),
    ) as unknown as pulumi.Output<KubeObject[]>;
}

/** dockerconfigjson Secrets for the ImageRepositories' secretRef, from gitops:registryCredentials (never in Git). */
function registrySecretObjects(cfg: StackConfig, values: pulumi.Output<Record<string, string>>, resource: pulumi.Resource): pulumi.Output<KubeObject[]> {
    return pulumi.secret(
        values.apply((v) => {
            const { secrets, missing } = registrySecrets(cfg.apps, cfg.flux.namespace, v);
            if (missing.length) pulumi.log.warn(`gitops:registryCredentials has no "user:password" for the registry of ${missing.join(", ")}; their ImageRepository secretRef will not exist`, resource);
            return secrets;
        }),
    ) as unknown as pulumi.Output<KubeObject[]>;
}

/** The host[:port] of an oci:// repository URL (the key of gitops:registryCredentials). */
function ociHost(repository: string): string {
    return repository.replace(/^oci:\/\//, "").split("/")[0];
}

/** gitops:fleet.oci.secretRef: the flux-system OCIRepository's pull secret, from gitops:registryCredentials (never in Git). */
function fleetPullSecret(cfg: StackConfig, values: pulumi.Output<Record<string, string>>): pulumi.Output<KubeObject[]> {
    const oci = cfg.fleet.oci!;
    const host = ociHost(oci.clusterRepository);
    return pulumi.secret(
        values.apply((v) => {
            const entry = dockerAuth(v[host]);
            return entry ? [dockerConfigSecret(oci.secretRef!, cfg.flux.namespace, { [host]: entry })] : [];
        }),
    ) as unknown as pulumi.Output<KubeObject[]>;
}

function receiverSecretObject(cfg: StackConfig, token: pulumi.Output<string>): pulumi.Output<KubeObject[]> {
    return pulumi.secret(
        token.apply((t): KubeObject[] => [
            { apiVersion: "v1", kind: "Secret", metadata: { name: RECEIVER_SECRET, namespace: cfg.flux.namespace }, type: "Opaque", stringData: { token: t } },
        ]),
    ) as unknown as pulumi.Output<KubeObject[]>;
}
