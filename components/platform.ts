/**
 * Platform: one environment of the GitOps platform, built from one validated stack config. A thin
 * wrapper over three things:
 *
 *   the fleet plan (engine/fleet/layout.ts renderFleet): every file the environment commits, built
 *     once; its Flux objects appear in the graph as typed views (components/flux/objects.ts)
 *   the cluster (k3d | kind | aks | existing | local | none), with the FluxBootstrap FleetSync applies
 *     to it, and the GitHub FleetRepository when the fleet repo lives on GitHub
 *   FleetSync: commits the plan's files, applies the bootstrap, waits for Flux to apply the commit
 *
 * Ownership: Pulumi applies directly only the bootstrap and what lives outside the cluster; every
 * other object is a file in the fleet repo that Flux applies.
 */
import * as pulumi from "@pulumi/pulumi";
import { NS, SECRET_KEYS, StackConfig } from "../engine/config";
import { dockerAuth, dockerConfigSecret, registrySecrets } from "../engine/delivery";
import { isGitopsError } from "../engine/errors";
import type { KubeObject } from "../engine/flux/api";
import { FleetPlan, stackPlan } from "../engine/fleet/layout";
import { providerSecretName, RECEIVER_SECRET } from "../engine/fleet/objects";
import { projectRepo } from "../engine/git/url";
import { registryHost } from "../engine/images/ref";
import { ClusterOutputs, createCluster } from "./cluster";
import type { StackSecrets } from "./config";
import { FleetSync } from "./fleet-sync";
import { FluxBootstrap } from "./flux/bootstrap";
import { declareFleetObjects, FleetObject } from "./flux/objects";
import { FleetRepository } from "./github/repository";
import type { CanaryTimes } from "../engine/delivery";

export interface PlatformArgs {
    readonly config: StackConfig;
    readonly secrets: StackSecrets;
    /** Directory that relative paths in the config (fleet.url, flux.componentsFile) resolve against. */
    readonly projectDir: string;
    /** Names of the GitHub Actions secrets (values come from secrets.actionsSecrets). */
    readonly actionsSecretNames?: string[];
}

/** What the Platform's body gives the class to assign. */
interface PlatformParts {
    plan: FleetPlan;
    declared: FleetObject[];
    canaryTimes: Record<string, CanaryTimes>;
    receiverWebhookUrl?: pulumi.Output<string>;
    cluster?: ClusterOutputs;
    bootstrap?: FluxBootstrap;
    repository?: FleetRepository;
    fleetUrl: string;
    fleetSync: FleetSync;
}

export class Platform extends pulumi.ComponentResource {
    /** The fleet plan: every file this environment commits, and the objects in them. */
    readonly plan: FleetPlan;
    /** One typed view per Flux object the plan declares (manifest = the object as committed, path = its file). */
    readonly declared: FleetObject[];
    /** Per app with a canary: analysis steps, minimum seconds to full promotion and seconds to roll back. */
    readonly canaryTimes: Record<string, CanaryTimes>;
    /** The GitHub webhook URL of the fleet Receiver (secret), when notifications.receiver.enabled. */
    readonly receiverWebhookUrl?: pulumi.Output<string>;
    readonly cluster?: ClusterOutputs;
    readonly bootstrap?: FluxBootstrap;
    readonly repository?: FleetRepository;
    /** The fleet repository as git is given it (a local path resolved against the project). */
    readonly fleetUrl: string;
    readonly fleetSync: FleetSync;

    constructor(name: string, args: PlatformArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:index:Platform", name, {}, opts);
        const parts = createPlatform(name, this, args);
        this.plan = parts.plan;
        this.declared = parts.declared;
        this.canaryTimes = parts.canaryTimes;
        this.receiverWebhookUrl = parts.receiverWebhookUrl;
        this.cluster = parts.cluster;
        this.bootstrap = parts.bootstrap;
        this.repository = parts.repository;
        this.fleetUrl = parts.fleetUrl;
        this.fleetSync = parts.fleetSync;
        this.registerOutputs({
            fleetUrl: this.fleetUrl,
            commit: this.fleetSync.commit,
            appliedRevision: this.fleetSync.appliedRevision,
            recoverySeconds: this.fleetSync.recoverySeconds,
            canaryTimes: this.canaryTimes,
            receiverWebhookUrl: this.receiverWebhookUrl,
            artifactDigest: this.fleetSync.artifactDigest,
        });
    }
}

/** The Platform's body: the plan, its views, the cluster and bootstrap, the repository, FleetSync. */
export function createPlatform(name: string, self: pulumi.ComponentResource, args: PlatformArgs): PlatformParts {
    const cfg = args.config;
    const plan = fleetPlan(self, args);
    const views = declareFleetObjects(name, self, cfg, plan, args.secrets.receiverToken);
    const cluster = createCluster(`${name}-cluster`, cfg.cluster, args.secrets.kubeconfig, { parent: self }, { dir: args.projectDir, fleetUrl: cfg.fleet.url });
    const bootstrap = cluster ? fluxBootstrap(name, self, cfg, plan, cluster) : undefined;
    const repository = fleetRepository(name, self, args, bootstrap);
    const fleetUrl = projectRepo(args.projectDir, cfg.fleet.url);
    const fleetSync = fleetSyncOf(name, self, args, { plan, cluster, bootstrap, repository, fleetUrl });
    return { plan, declared: views.objects, canaryTimes: views.canaryTimes, receiverWebhookUrl: views.receiverWebhookUrl, cluster, bootstrap, repository, fleetUrl, fleetSync };
}

/** The fleet plan, built once; config the plan cannot use fails here, pointing at the Platform. */
function fleetPlan(self: pulumi.Resource, args: PlatformArgs): FleetPlan {
    const cfg = args.config;
    if (cfg.notifications.receiver.enabled && !args.secrets.receiverToken) {
        throw new pulumi.ResourceError("gitops:notifications.receiver.enabled needs a token: run `pulumi config set --secret gitops:receiverToken $(openssl rand -hex 32)`", self);
    }
    try {
        return stackPlan(cfg, args.projectDir, { notificationSecrets: args.secrets.notificationSecrets !== undefined });
    } catch (e) {
        // e.g. the upstream Flux install is not cached: the message names the config key and folder.
        if (isGitopsError(e)) throw new pulumi.ResourceError(e.message, self);
        throw e;
    }
}

/** The bootstrap FleetSync applies: the whole flux-system, or only its sync where Flux is already installed. */
function fluxBootstrap(name: string, self: pulumi.Resource, cfg: StackConfig, plan: FleetPlan, cluster: ClusterOutputs): FluxBootstrap {
    return new FluxBootstrap(
        `${name}-flux`,
        {
            objects: cluster.installsFlux ? plan.bootstrap : plan.bootstrap.filter((o) => o.kind === "GitRepository" || o.kind === "OCIRepository" || o.kind === "Kustomization"),
            namespace: cfg.flux.namespace,
            clusterUrl: cfg.fleet.clusterUrl,
            needsWrite: cfg.imageAutomation.enabled,
        },
        { parent: self },
    );
}

/** The repository on GitHub, with the deploy key Flux pulls with (gitops:fleet.github). */
function fleetRepository(name: string, self: pulumi.Resource, args: PlatformArgs, bootstrap: FluxBootstrap | undefined): FleetRepository | undefined {
    const gh = args.config.fleet.github;
    if (!gh) return undefined;
    return new FleetRepository(
        `${name}-fleet`,
        {
            owner: gh.owner,
            name: gh.name,
            visibility: gh.visibility,
            adopt: gh.adopt,
            protectedBranches: gh.protectedBranches,
            deployKey: bootstrap?.publicKey,
            deployKeyReadOnly: bootstrap?.readOnly ?? true,
            token: args.secrets.githubToken,
            actionsSecrets: args.secrets.actionsSecrets && args.actionsSecretNames?.length ? { names: args.actionsSecretNames, values: args.secrets.actionsSecrets } : undefined,
        },
        { parent: self },
    );
}

/** The Secrets FleetSync applies directly (never in Git): deploy key, notification, receiver and registry credentials. */
function clusterSecrets(self: pulumi.Resource, args: PlatformArgs, bootstrap: FluxBootstrap): pulumi.Output<KubeObject[]> {
    const cfg = args.config;
    const s = args.secrets;
    const secrets: pulumi.Output<KubeObject[]>[] = [bootstrap.secrets];
    if (s.notificationSecrets) secrets.push(notificationSecretObjects(cfg, s.notificationSecrets));
    if (s.receiverToken) secrets.push(receiverSecretObject(cfg, s.receiverToken));
    if (s.registryCredentials && cfg.imageAutomation.enabled) secrets.push(registrySecretObjects(cfg, s.registryCredentials, self));
    if (s.registryCredentials && cfg.fleet.oci?.secretRef) secrets.push(fleetPullSecret(cfg, s.registryCredentials));
    return pulumi.all(secrets).apply((lists) => lists.flat()) as unknown as pulumi.Output<KubeObject[]>;
}

/** FleetSync: commits the plan, applies the bootstrap and Secrets, waits for Flux. */
function fleetSyncOf(
    name: string,
    self: pulumi.Resource,
    args: PlatformArgs,
    p: { plan: FleetPlan; cluster?: ClusterOutputs; bootstrap?: FluxBootstrap; repository?: FleetRepository; fleetUrl: string },
): FleetSync {
    const cfg = args.config;
    const gitAuth = args.secrets.githubToken && /^https:\/\//.test(p.fleetUrl) ? args.secrets.githubToken.apply((t) => ({ httpsToken: t })) : undefined;
    const oci = cfg.fleet.oci;
    return new FleetSync(
        `${name}-fleet-sync`,
        {
            stack: cfg.stack,
            repo: p.fleetUrl,
            branch: cfg.fleet.branch,
            files: p.plan.files,
            owned: p.plan.owned,
            author: cfg.fleet.author,
            kubeconfig: p.cluster?.kubeconfig,
            context: p.cluster?.context,
            bootstrap: p.bootstrap ? p.bootstrap.objects : [],
            secrets: p.bootstrap ? clusterSecrets(self, args, p.bootstrap) : undefined,
            fluxNamespace: cfg.flux.namespace,
            kustomizations: p.plan.kustomizations,
            gitAuth,
            // Delete reads the token back from the stack config, so no output keeps it.
            gitAuthConfig: gitAuth ? { httpsToken: `${NS}:${SECRET_KEYS.githubToken}` } : undefined,
            oci: oci ? { repository: oci.repository, tag: oci.tag, insecure: oci.insecure } : undefined,
            ociAuth: oci && args.secrets.registryCredentials ? args.secrets.registryCredentials.apply((v) => dockerAuth(v[registryHost(oci.repository)])) : undefined,
        },
        // The repository (and its deploy key) must exist before the first push and sync.
        { parent: self, dependsOn: p.repository ? [p.repository] : [] },
    );
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

/** gitops:fleet.oci.secretRef: the flux-system OCIRepository's pull secret, from gitops:registryCredentials (never in Git). */
function fleetPullSecret(cfg: StackConfig, values: pulumi.Output<Record<string, string>>): pulumi.Output<KubeObject[]> {
    const oci = cfg.fleet.oci!;
    const host = registryHost(oci.clusterRepository);
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
