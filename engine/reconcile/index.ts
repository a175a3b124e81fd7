/**
 * One environment's reconcile, as FleetSync runs it on `pulumi up` (and `gitops` can run it
 * without Pulumi): a straight line.
 *
 *   1. Git: commit the files the stack declares to the fleet repo (idempotent; owned paths only).
 *   2. Cluster (when there is one): apply the bootstrap (Flux controllers, flux-system sync, deploy
 *      key Secret) with server-side apply, CRDs and Namespaces first; prune what left the
 *      bootstrap inventory. The inventory is recorded in the cluster (kube-system ConfigMap
 *      gitops-bootstrap-inventory.<flux namespace>) before the first write and after the last.
 *   3. Ask Flux to reconcile and wait until the GitRepository has the commit and every
 *      Kustomization of the environment is Ready at it.
 *
 * `planReconcile` is the preview: the same inputs, nothing written.
 */
import { createHash } from "crypto";
import type { KubeObject } from "../flux/api";
import type { FileChange, GitAuth } from "../git";
import type { InventoryEntry } from "../cluster/ids";
import { isRemoteUrl } from "../git/url";

export interface FleetTarget {
    /** Repo URL or local path (a local bare repo is created when missing). */
    repo: string;
    branch: string;
    auth?: GitAuth;
    author: { name: string; email: string };
    /** Commit message template ({{changes}}, {{branch}}, {{count}}). */
    message: string;
    files: Record<string, string>;
    owned: string[];
}

export interface ClusterTarget {
    kubeconfig: string;
    context?: string;
    /** Objects applied directly: Flux controllers and the flux-system sync. */
    bootstrap: KubeObject[];
    /** Secrets applied directly and never written anywhere else (deploy key). */
    secrets?: KubeObject[];
    fluxNamespace: string;
    /** Kustomizations (in fluxNamespace) that must be Ready at the commit. */
    kustomizations: string[];
    /** Wait for Flux to apply the commit. Default true. */
    wait?: boolean;
    waitTimeoutMs?: number;
    pollMs?: number;
}

/** gitops:fleet.oci: publish each fleet commit as an OCI artifact that the cluster's flux-system OCIRepository pulls. */
export interface OciTarget {
    /** oci://host/repository (no tag), as FleetSync reaches it. */
    repository: string;
    /** The environment's tag. */
    tag: string;
    insecure?: boolean;
    /** Registry credentials (from gitops:registryCredentials); never written anywhere. */
    auth?: { username?: string; password?: string };
}

export interface ReconcileInput {
    fleet: FleetTarget;
    oci?: OciTarget;
    cluster?: ClusterTarget;
    /** Report drift but never correct the cluster or write Git. */
    reportOnly?: boolean;
}

export type { InventoryEntry };

export interface ReconcileResult {
    /** The fleet branch head after the sync. */
    commit: string;
    /** The head before, or null for a new branch. */
    previous: string | null;
    /** Per-file changes in Flux's vocabulary. */
    changes: FileChange[];
    committed: boolean;
    /** The revision every Kustomization reported as applied, when waited for. */
    appliedRevision?: string;
    /** The bootstrap inventory (ids and versions) after the run. */
    inventory: InventoryEntry[];
    /** Identifies the cluster the bootstrap went to (hash of its server and CA), to notice a replaced cluster. */
    clusterFingerprint?: string;
    /** Seconds from the start of the bootstrap to every Kustomization Ready, when the cluster was new (disaster recovery). */
    recoverySeconds?: number;
    /** Seconds spent waiting for Flux to apply the commit. */
    waitSeconds?: number;
    /** Per-action counts of the bootstrap apply. */
    applied?: Record<string, number>;
    /** gitops:fleet.oci: the artifact the commit was published as. */
    artifact?: { url: string; digest: string; tag: string; pushed: boolean };
}

export interface PlanResult {
    changes: FileChange[];
    /** Objects of the bootstrap, per id: created/configured/unchanged/deleted/skipped (when the cluster is reachable). */
    objects?: Array<{ id: string; action: string; changes?: string[] }>;
    clusterSummary?: string;
    /** Why the cluster side was not compared, when it was not. */
    clusterSkipped?: string;
}

/** A stable identity for the cluster a kubeconfig points at: its server URL and CA, nothing secret. */
export function clusterFingerprint(kubeconfig: string, context?: string): string {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { parse } = require("yaml") as typeof import("yaml");
    const kc = parse(kubeconfig) ?? {};
    const ctxName = context ?? kc["current-context"];
    const ctx = (kc.contexts ?? []).find((c: { name: string }) => c.name === ctxName)?.context ?? {};
    const cluster = (kc.clusters ?? []).find((c: { name: string }) => c.name === ctx.cluster)?.cluster ?? {};
    return createHash("sha256")
        .update(`${cluster.server ?? ""}\n${cluster["certificate-authority-data"] ?? cluster["certificate-authority"] ?? ""}`)
        .digest("hex")
        .slice(0, 16);
}

/** Where the bootstrap inventory of the Flux install in `fluxNamespace` is recorded in the cluster. */
function bootstrapInventoryStore(cluster: typeof import("../cluster"), client: import("../cluster").ClusterClient, fluxNamespace: string) {
    return cluster.clusterInventoryStore(client, `gitops-bootstrap-inventory.${fluxNamespace}`);
}

function log(progress: ((m: string) => void) | undefined, m: string): void {
    progress?.(m);
}

/** A fleet repo given as a plain path (not a remote URL, not file://): it is created as a bare repo when missing. */
function isLocalPath(repo: string): boolean {
    return !isRemoteUrl(repo) && !/^file:\/\//i.test(repo);
}

export async function reconcile(input: ReconcileInput, previous: { inventory?: InventoryEntry[]; clusterFingerprint?: string } = {}, progress?: (m: string) => void): Promise<ReconcileResult> {
    const git = await import("../git");
    const f = input.fleet;
    if (isLocalPath(f.repo)) await git.ensureBareRepo(f.repo);
    log(progress, `committing ${Object.keys(f.files).length} files to ${f.branch}`);
    const sync = await git.syncFiles({ ...f, createBranch: true, dryRun: input.reportOnly });
    const result: ReconcileResult = { commit: sync.commit, previous: sync.previous, changes: sync.changes, committed: sync.committed, inventory: previous.inventory ?? [] };
    if (input.oci && !input.reportOnly) {
        const { publishFleetCommit } = await import("../oci/fleet");
        const o = input.oci;
        const a = await publishFleetCommit({
            repo: f.repo,
            branch: f.branch,
            commit: sync.commit,
            auth: f.auth,
            target: { repository: o.repository, tag: o.tag, insecure: o.insecure, auth: o.auth, credsFrom: "gitops:registryCredentials" },
        });
        result.artifact = { url: a.url, digest: a.digest, tag: a.tag, pushed: a.pushed };
        log(progress, `${a.pushed ? "published" : "unchanged"} ${a.repository}:${a.tag} at ${a.digest}`);
    }
    if (!input.cluster || input.reportOnly) return result;

    const c = input.cluster;
    const cluster = await import("../cluster");
    const client = cluster.ClusterClient.fromKubeconfig(c.kubeconfig, c.context);
    const fingerprint = clusterFingerprint(c.kubeconfig, c.context);
    const t0 = Date.now();
    const objects = [...c.bootstrap, ...(c.secrets ?? [])];
    log(progress, `applying ${objects.length} bootstrap objects`);
    // The inventory is recorded in the cluster as the run goes, so a run killed midway is pruned
    // correctly by the next one, whatever that one declares.
    const { applied, inventory } = await cluster.applyWithInventory(client, objects, {
        store: bootstrapInventoryStore(cluster, client, c.fluxNamespace),
        previous: previous.inventory ? { entries: previous.inventory } : undefined,
        onProgress: progress,
    });
    result.inventory = [...inventory.entries];
    result.applied = cluster.countActions(applied.results);
    result.clusterFingerprint = fingerprint;
    // A cluster that lost Flux's sync: its namespace, or (where the cluster brings Flux itself, as the
    // local control plane and the AKS extension do) the flux-system GitRepository, had to be created again.
    const lost = [`_${c.fluxNamespace}__Namespace`, `${c.fluxNamespace}_flux-system_source.toolkit.fluxcd.io_GitRepository`];
    const nsCreated = applied.results.some((r) => lost.includes(r.id) && r.action === "created");
    const recovered = nsCreated && previous.inventory !== undefined && previous.inventory.length > 0;

    if (c.wait !== false) {
        log(progress, `waiting for Flux to apply ${result.artifact ? result.artifact.digest.slice(0, 19) : sync.commit.slice(0, 12)} (${c.kustomizations.length} Kustomizations)`);
        // waitForRevision asks Flux to reconcile: the source at once, the Kustomizations when the
        // source has the commit. On a new (or rebuilt) cluster only the bootstrap's GitRepository
        // and Kustomization exist: Flux creates the others when flux-system applies the commit,
        // so a missing one is waited for, not an error.
        const sourceKind = result.artifact ? ("OCIRepository" as const) : ("GitRepository" as const);
        const w = await cluster.waitForRevision(client, {
            gitRepository: { name: "flux-system", namespace: c.fluxNamespace },
            sourceKind,
            kustomizations: c.kustomizations.map((name) => ({ name, namespace: c.fluxNamespace })),
            // With an OCI fleet, Flux reports `<tag>@sha256:<digest>`: wait on the digest.
            revision: result.artifact?.digest ?? sync.commit,
            timeoutMs: c.waitTimeoutMs,
            pollMs: c.pollMs,
            onProgress: progress,
        });
        result.appliedRevision = w.revision;
        result.waitSeconds = Math.round(w.elapsedMs / 100) / 10;
    }
    if (recovered || (previous.clusterFingerprint !== undefined && previous.clusterFingerprint !== fingerprint)) {
        result.recoverySeconds = Math.round((Date.now() - t0) / 100) / 10;
        log(progress, `cluster recovered from Git in ${result.recoverySeconds}s`);
    }
    return result;
}

/** The preview: what `reconcile` would change, in Git per file and in the cluster per object. Writes nothing. */
export async function planReconcile(input: ReconcileInput, previous: { inventory?: InventoryEntry[] } = {}): Promise<PlanResult> {
    const git = await import("../git");
    const f = input.fleet;
    const fs = await import("fs");
    let changes: FileChange[];
    if (isLocalPath(f.repo) && !fs.existsSync(f.repo)) {
        changes = Object.keys(f.files).map((path) => ({ path, action: "created" as const }));
    } else {
        changes = (await git.syncFiles({ ...f, createBranch: true, dryRun: true })).changes;
    }
    const out: PlanResult = { changes };
    if (!input.cluster) return out;
    try {
        const cluster = await import("../cluster");
        const client = cluster.ClusterClient.fromKubeconfig(input.cluster.kubeconfig, input.cluster.context);
        // The same objects reconcile applies (bootstrap and secrets): the inventory holds both, so
        // leaving the secrets out would preview them as deleted.
        const objects = [...input.cluster.bootstrap, ...(input.cluster.secrets ?? [])];
        const known = previous.inventory ? { entries: previous.inventory } : undefined;
        const d = await cluster.diffCluster(client, objects, await cluster.previousInventory(bootstrapInventoryStore(cluster, client, input.cluster.fluxNamespace), known));
        out.objects = d.entries.map((e) => ({ id: e.id, action: e.action, changes: e.changes }));
        out.clusterSummary = d.summary;
    } catch (e) {
        // A preview must not fail because the cluster is not there (yet): say so instead.
        out.clusterSkipped = (e as Error).message;
    }
    return out;
}
