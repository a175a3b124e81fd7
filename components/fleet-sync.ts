/**
 * FleetSync: the reconcile resource, one per environment. A Pulumi dynamic resource whose
 * provider runs the engine (engine/reconcile): it commits what the stack declares to the fleet
 * repo, applies the Flux bootstrap to the cluster, and waits until Flux has applied that exact
 * commit. Its diff is the pull-request preview: per file in Git and per object in the cluster.
 *
 * Serialization: Pulumi stores this provider's code in the state and runs it in its own process,
 * so the provider captures nothing: every method loads the engine at run time (components/dynamic).
 * Secrets (kubeconfig, deploy key, git credentials) are inputs only; outputs never carry them.
 */
import * as pulumi from "@pulumi/pulumi";
import type { InventoryEntry } from "../engine/cluster/ids";
import type { KubeObject } from "../engine/flux/api";
import { engine } from "./dynamic";

/** Inputs as the provider sees them (resolved). */
export interface FleetSyncInputs {
    stack: string;
    repo: string;
    branch: string;
    files: Record<string, string>;
    owned: string[];
    author: { name: string; email: string };
    message: string;
    /** Absent for cluster kind "none": Git only. */
    kubeconfig?: string;
    context?: string;
    bootstrap: KubeObject[];
    secrets?: KubeObject[];
    fluxNamespace: string;
    kustomizations: string[];
    wait: boolean;
    waitTimeoutSeconds: number;
    reportOnly: boolean;
    gitAuth?: { sshPrivateKey?: string; knownHosts?: string; httpsToken?: string; httpsUser?: string };
}

export interface FleetSyncOutputs {
    commit: string;
    previous: string | null;
    appliedRevision?: string;
    inventory: InventoryEntry[];
    clusterFingerprint?: string;
    recoverySeconds?: number;
    waitSeconds?: number;
    /** Readable summary of the last run. */
    summary: string;
    /** sha256 per declared file, to tell what changed since the last run without Git. */
    fileHashes: Record<string, string>;
    /** Hash of the bootstrap objects (never of the secrets). */
    bootstrapHash: string;
}

function toReconcileInput(i: FleetSyncInputs) {
    return {
        fleet: { repo: i.repo, branch: i.branch, files: i.files, owned: i.owned, author: i.author, message: i.message, auth: i.gitAuth },
        cluster: i.kubeconfig
            ? {
                  kubeconfig: i.kubeconfig,
                  context: i.context,
                  bootstrap: i.bootstrap,
                  secrets: i.secrets,
                  fluxNamespace: i.fluxNamespace,
                  kustomizations: i.kustomizations,
                  wait: i.wait,
                  waitTimeoutMs: i.waitTimeoutSeconds * 1000,
              }
            : undefined,
        reportOnly: i.reportOnly,
    };
}

function hashes(i: FleetSyncInputs): { fileHashes: Record<string, string>; bootstrapHash: string; kubeconfigFingerprint?: string } {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const crypto = require("crypto");
    const h = (s: string) => crypto.createHash("sha256").update(s).digest("hex");
    const fileHashes: Record<string, string> = {};
    for (const p of Object.keys(i.files).sort()) fileHashes[p] = h(i.files[p]);
    return {
        fileHashes,
        bootstrapHash: h(JSON.stringify(i.bootstrap)),
        kubeconfigFingerprint: i.kubeconfig ? engine("reconcile").clusterFingerprint(i.kubeconfig, i.context) : undefined,
    };
}

function summarize(r: { commit: string; changes: Array<{ path: string; action: string }>; appliedRevision?: string; recoverySeconds?: number; applied?: Record<string, number> }): string {
    const counts: Record<string, number> = {};
    for (const c of r.changes) counts[c.action] = (counts[c.action] ?? 0) + 1;
    const files = Object.entries(counts)
        .filter(([a]) => a !== "unchanged")
        .map(([a, n]) => `${n} ${a}`)
        .join(", ");
    const parts = [`commit ${r.commit.slice(0, 12)}`, `files: ${files || "no changes"}`];
    if (r.applied) parts.push(`bootstrap: ${Object.entries(r.applied).map(([a, n]) => `${n} ${a}`).join(", ")}`);
    if (r.appliedRevision) parts.push(`applied ${r.appliedRevision}`);
    if (r.recoverySeconds !== undefined) parts.push(`recovered in ${r.recoverySeconds}s`);
    return parts.join("; ");
}

export const fleetSyncProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: FleetSyncInputs, news: FleetSyncInputs) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        if (!news.repo) failures.push({ property: "repo", reason: "the fleet repository (gitops:fleet.url) is required" });
        if (!news.branch) failures.push({ property: "branch", reason: "the fleet branch (gitops:fleet.branch) is required" });
        for (const p of Object.keys(news.files ?? {})) {
            if (p.startsWith("/") || p.split("/").includes("..")) failures.push({ property: "files", reason: `file path ${JSON.stringify(p)} must be relative and stay inside the repository` });
        }
        return { inputs: news, failures };
    },

    async diff(_id: string, olds: FleetSyncOutputs & Partial<FleetSyncInputs>, news: FleetSyncInputs) {
        const now = hashes(news);
        const detailedDiff: Record<string, { kind: "add" | "update" | "delete"; inputDiff?: boolean }> = {};
        const oldHashes = olds.fileHashes ?? {};
        for (const [p, h] of Object.entries(now.fileHashes)) {
            if (!(p in oldHashes)) detailedDiff[`files["${p}"]`] = { kind: "add", inputDiff: true };
            else if (oldHashes[p] !== h) detailedDiff[`files["${p}"]`] = { kind: "update", inputDiff: true };
        }
        for (const p of Object.keys(oldHashes)) if (!(p in now.fileHashes)) detailedDiff[`files["${p}"]`] = { kind: "delete", inputDiff: true };
        if (olds.bootstrapHash !== now.bootstrapHash) detailedDiff["bootstrap"] = { kind: "update", inputDiff: true };
        if (olds.clusterFingerprint !== now.kubeconfigFingerprint) detailedDiff["kubeconfig"] = { kind: "update", inputDiff: true };
        for (const k of ["repo", "branch", "wait", "reportOnly"] as const) {
            if (olds[k] !== undefined && JSON.stringify(olds[k]) !== JSON.stringify(news[k])) detailedDiff[k] = { kind: "update", inputDiff: true };
        }
        // Compare with the world, not only with our last state: a fleet repo edited out of band,
        // or a cluster that lost Flux (a lost cluster re-created empty), shows as a change.
        try {
            const plan = await engine("reconcile").planReconcile(toReconcileInput(news), { inventory: olds.inventory });
            for (const c of plan.changes) {
                const key = `files["${c.path}"]`;
                if (c.action !== "unchanged" && !detailedDiff[key]) detailedDiff[key] = { kind: c.action === "created" ? "add" : c.action === "deleted" ? "delete" : "update", inputDiff: false };
            }
            for (const o of plan.objects ?? []) {
                if (o.action === "created" || o.action === "configured" || o.action === "deleted") {
                    detailedDiff[`cluster["${o.id}"]`] = { kind: o.action === "created" ? "add" : o.action === "deleted" ? "delete" : "update", inputDiff: false };
                }
            }
        } catch (e) {
            pulumi.log.warn(`FleetSync ${news.stack}: could not compare with the fleet repo or cluster: ${(e as Error).message}`);
        }
        const replaces = olds.repo !== undefined && olds.repo !== news.repo ? ["repo"] : [];
        // The dynamic provider host forwards only changes/replaces to the engine, not detailedDiff:
        // log the per-file and per-object preview so `pulumi preview` shows it.
        const keys = Object.keys(detailedDiff).sort();
        if (keys.length > 0) {
            const sign = { add: "+", update: "~", delete: "-" } as const;
            pulumi.log.info(`FleetSync ${news.stack}: ${keys.length} change(s)\n${keys.map((k) => `  ${sign[detailedDiff[k].kind]} ${k}`).join("\n")}`);
        }
        return { changes: keys.length > 0, detailedDiff, replaces, deleteBeforeReplace: false };
    },

    async create(inputs: FleetSyncInputs) {
        const r = await engine("reconcile").reconcile(toReconcileInput(inputs), {}, (m: string) => pulumi.log.info(m, undefined, undefined, true));
        const outs: FleetSyncOutputs = {
            commit: r.commit,
            previous: r.previous,
            appliedRevision: r.appliedRevision,
            inventory: r.inventory,
            clusterFingerprint: r.clusterFingerprint,
            recoverySeconds: r.recoverySeconds,
            waitSeconds: r.waitSeconds,
            summary: summarize(r),
            ...hashes(inputs),
        };
        return { id: `${inputs.stack}:${inputs.branch}`, outs: defined({ ...stripSecrets(inputs), ...outs }) };
    },

    async update(_id: string, olds: FleetSyncOutputs, news: FleetSyncInputs) {
        const r = await engine("reconcile").reconcile(
            toReconcileInput(news),
            { inventory: olds.inventory, clusterFingerprint: olds.clusterFingerprint },
            (m: string) => pulumi.log.info(m, undefined, undefined, true),
        );
        if (r.recoverySeconds !== undefined) pulumi.log.info(`FleetSync ${news.stack}: cluster recovered from Git in ${r.recoverySeconds}s`);
        const outs: FleetSyncOutputs = {
            commit: r.commit,
            previous: r.previous,
            appliedRevision: r.appliedRevision,
            inventory: r.inventory,
            clusterFingerprint: r.clusterFingerprint ?? olds.clusterFingerprint,
            recoverySeconds: r.recoverySeconds,
            waitSeconds: r.waitSeconds,
            summary: summarize(r),
            ...hashes(news),
        };
        return { outs: defined({ ...stripSecrets(news), ...outs }) };
    },

    async read(id: string, props: FleetSyncOutputs & FleetSyncInputs) {
        // Refresh reports drift but never corrects it: the state keeps what Pulumi last applied.
        return { id, props };
    },

    async delete(_id: string, props: FleetSyncOutputs & FleetSyncInputs) {
        // Remove exactly what this resource owns: its files in Git (the owned paths).
        await engine("git").syncFiles({
            repo: props.repo,
            branch: props.branch,
            files: {},
            owned: props.owned,
            author: props.author,
            auth: props.gitAuth,
            message: `Remove stack ${props.stack} from the fleet\n\n{{changes}}`,
        });
    },
};

/**
 * Drops undefined values: the provider host turns outputs into a protobuf Struct, which has no
 * undefined and rejects one ("Unexpected struct type"), failing the whole Create or Update.
 */
function defined<T extends object>(o: T): T {
    return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/**
 * Outputs keep the inputs that diff, read and delete need. The kubeconfig and the Secrets stay in
 * the inputs only (Pulumi encrypts them there). Git credentials are kept, because delete receives
 * outputs only and must push; they are a secret output (additionalSecretOutputs), encrypted in state.
 */
function stripSecrets(i: FleetSyncInputs): Partial<FleetSyncInputs> {
    const { kubeconfig: _k, secrets: _s, files: _f, bootstrap: _b, ...rest } = i;
    return rest;
}

export interface FleetSyncArgs {
    /** The stack (environment). */
    readonly stack: string;
    /** Fleet repo URL or local path. */
    readonly repo: pulumi.Input<string>;
    readonly branch: pulumi.Input<string>;
    /** path -> content of every file the stack declares. */
    readonly files: pulumi.Input<Record<string, string>>;
    /** Path prefixes the stack owns. */
    readonly owned: pulumi.Input<string[]>;
    readonly author: pulumi.Input<{ name: string; email: string }>;
    /** Commit message template. Default "Reconcile <stack>\n\n{{changes}}". */
    readonly message?: pulumi.Input<string>;
    /** Kubeconfig of the cluster (secret); absent for cluster kind "none". */
    readonly kubeconfig?: pulumi.Input<string>;
    readonly context?: pulumi.Input<string>;
    /** Bootstrap objects applied directly (Flux controllers, flux-system sync). */
    readonly bootstrap: pulumi.Input<KubeObject[]>;
    /** Secrets applied directly (the deploy key); must be secret Outputs. */
    readonly secrets?: pulumi.Input<KubeObject[]>;
    /** Default "flux-system". */
    readonly fluxNamespace?: string;
    /** Kustomizations that must be Ready at the commit. */
    readonly kustomizations: pulumi.Input<string[]>;
    /** Wait for Flux to apply the commit. Default true when there is a cluster. */
    readonly wait?: boolean;
    /** Default 600. */
    readonly waitTimeoutSeconds?: number;
    /** Report drift only; never write Git or the cluster. Default false. */
    readonly reportOnly?: boolean;
    /** Git credentials (secret). */
    readonly gitAuth?: pulumi.Input<FleetSyncInputs["gitAuth"]>;
}

export class FleetSync extends pulumi.dynamic.Resource {
    declare readonly commit: pulumi.Output<string>;
    declare readonly appliedRevision: pulumi.Output<string | undefined>;
    declare readonly inventory: pulumi.Output<InventoryEntry[]>;
    declare readonly recoverySeconds: pulumi.Output<number | undefined>;
    declare readonly waitSeconds: pulumi.Output<number | undefined>;
    declare readonly summary: pulumi.Output<string>;

    constructor(name: string, args: FleetSyncArgs, opts?: pulumi.CustomResourceOptions) {
        const inputs: Record<string, unknown> = {
            stack: args.stack,
            repo: args.repo,
            branch: args.branch,
            files: args.files,
            owned: args.owned,
            author: args.author,
            message: args.message ?? `Reconcile ${args.stack}\n\n{{changes}}`,
            kubeconfig: args.kubeconfig ? pulumi.secret(args.kubeconfig) : undefined,
            context: args.context,
            bootstrap: args.bootstrap,
            secrets: args.secrets ? pulumi.secret(args.secrets) : undefined,
            fluxNamespace: args.fluxNamespace ?? "flux-system",
            kustomizations: args.kustomizations,
            wait: args.wait ?? args.kubeconfig !== undefined,
            waitTimeoutSeconds: args.waitTimeoutSeconds ?? 600,
            reportOnly: args.reportOnly ?? false,
            gitAuth: args.gitAuth ? pulumi.secret(args.gitAuth) : undefined,
            // outputs
            commit: undefined,
            appliedRevision: undefined,
            inventory: undefined,
            recoverySeconds: undefined,
            waitSeconds: undefined,
            summary: undefined,
        };
        super(fleetSyncProvider, name, inputs, { ...opts, additionalSecretOutputs: ["gitAuth"] }, "gitops", "FleetSync");
    }
}
