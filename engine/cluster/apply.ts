/**
 * Staged server-side apply and inventory-based pruning, in the shape of Flux's reconcile loop
 * (fluxcd/pkg/ssa): CRDs and Namespaces first, wait until they are established, then the rest;
 * record the inventory; delete what left it, in reverse stage order.
 */
import { GitopsError } from "../errors";
import { DISABLED, KubeObject, PRUNE_ANNOTATION } from "../flux/api";
import { ClusterClient } from "./client";
import { formatChange, hasManagedFields, isManagedBy, objectChanges, takenOverFields, withoutServerFields } from "./compare";
import { Inventory, InventoryEntry, inventoryDiff, joinApiVersion, normalizeInventory, parseId, splitApiVersion } from "./ids";
import { computeHealth } from "./kstatus";
import { DEFAULT_CONCURRENCY, deleteRank, Desired, judge, ObjectResult, readLive, resolveObjects, stageOf } from "./plan";
import { mapLimit, sleep } from "./retry";
import { maskSecretChanges } from "./secrets";
import { strayObjectsIn, strayWarning } from "./strays";

export interface ApplyOptions {
    /** Requests in flight at once. Default DEFAULT_CONCURRENCY (32). */
    readonly concurrency?: number;
    /** How long to wait for CRDs to be established and Namespaces to be active. Default 60 s. */
    readonly establishTimeoutMs?: number;
    /** Progress messages (the provider logs them, the CLI prints a progress line). */
    readonly onProgress?: (msg: string) => void;
}

export interface ApplyResult {
    /** One entry per desired object, in input order: created, configured or unchanged. */
    readonly results: ObjectResult[];
    /** The new inventory: every desired object. */
    readonly inventory: Inventory;
}

/** Thrown when some objects could not be applied; says which, and what was applied before. */
export class ApplyError extends GitopsError {
    constructor(
        where: string,
        message: string,
        /** Results for the objects that were applied before the failure. */
        readonly results: ObjectResult[],
        /** Errors per failed object id. */
        readonly failures: Array<{ id: string; error: string }>,
    ) {
        super(where, message);
        this.name = "ApplyError";
    }
}

/**
 * Applies `objects` with server-side apply under our field manager, in stages. Objects whose
 * live state already matches are not sent again (so a no-op reconcile is a handful of LISTs).
 * All objects are checked before anything is applied. On failures, throws ApplyError after the
 * current stage finished (later stages are not started).
 */
export async function applyStaged(client: ClusterClient, objects: readonly KubeObject[], opts: ApplyOptions = {}): Promise<ApplyResult> {
    const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
    const progress = opts.onProgress ?? (() => undefined);
    // Validate and normalise all objects first: bad input fails before any write.
    let desired = await resolveObjects(client, objects);
    const byId = new Map<string, ObjectResult>();
    const stages: Array<0 | 1> = [0, 1];
    for (const stage of stages) {
        if (stage === 1 && desired.some((d) => !d.resource)) {
            // CRDs were applied in stage 0: learn their kinds now.
            client.invalidateDiscovery();
            desired = await resolveObjects(client, objects);
        }
        const batch = desired.filter((d) => stageOf(d.obj) === stage);
        if (batch.length === 0) continue;
        progress(`applying ${batch.length} ${stage === 0 ? "CRDs and Namespaces" : "objects"}`);
        const results = await applyBatch(client, batch, concurrency);
        const failures: Array<{ id: string; error: string }> = [];
        results.forEach((r, i) => {
            if (r.ok) byId.set(batch[i].id, r.value);
            else failures.push({ id: batch[i].id, error: (r.error as Error).message ?? String(r.error) });
        });
        if (failures.length) {
            const done = desired.filter((d) => byId.has(d.id)).map((d) => byId.get(d.id)!);
            const first = failures[0];
            const more = failures.length > 1 ? ` (and ${failures.length - 1} more: ${failures.slice(1, 4).map((f) => f.id).join(", ")}${failures.length > 4 ? ", ..." : ""})` : "";
            // The first error already names its object; keep its text whole.
            throw new ApplyError(first.id, `${stripWhere(first.error, first.id)}${more}`, done, failures);
        }
        if (stage === 0) await waitEstablished(client, batch, opts.establishTimeoutMs ?? 60_000, progress);
    }
    const results = desired.map((d) => byId.get(d.id)!);
    for (const r of results) if (r.takenOver?.length) progress(`${r.id}: took over fields ${r.takenOver.join("; ")}`);
    const counts = countActions(results);
    progress(`applied: ${Object.entries(counts).filter(([, n]) => n).map(([a, n]) => `${n} ${a}`).join(", ") || "nothing"}`);
    return { results, inventory: normalizeInventory(desired.map((d) => ({ id: d.id, v: splitApiVersion(d.obj.apiVersion).version }))) };
}

function stripWhere(message: string, id: string): string {
    return message.startsWith(`${id}: `) ? message.slice(id.length + 2) : message;
}

export function countActions(results: readonly ObjectResult[]): Record<string, number> {
    const c: Record<string, number> = { created: 0, configured: 0, unchanged: 0, deleted: 0, skipped: 0 };
    for (const r of results) c[r.action]++;
    return c;
}

async function applyBatch(client: ClusterClient, batch: Desired[], concurrency: number) {
    const live = await readLive(client, batch, concurrency);
    return mapLimit(batch, concurrency, async (d): Promise<ObjectResult> => {
        const before = live.get(d.id);
        const verdict = judge(d.obj, before, client.fieldManager);
        if (!verdict.needsApply) return { id: d.id, action: "unchanged" };
        const res = await client.apply(d.obj);
        if (!before) return { id: d.id, action: "created" };
        const after = res.body;
        const rvSame = after?.metadata?.resourceVersion !== undefined && after.metadata.resourceVersion === before.metadata.resourceVersion;
        if (rvSame || verdict.action === "unchanged") return { id: d.id, action: "unchanged" };
        // What really changed is the server's answer against the live object (for a Secret, the
        // data keys stringData became); the field-subset verdict stands when there is no answer.
        const real = after ? objectChanges(withoutServerFields(before), withoutServerFields(after)) : [];
        const takenOver = after ? takenOverFields(before, after, client.fieldManager) : [];
        return {
            id: d.id,
            action: "configured",
            changes: maskSecretChanges(d.obj, real.length ? real : verdict.changes).map(formatChange),
            ...(takenOver.length ? { takenOver } : {}),
        };
    });
}

/** Waits until the CRDs of a stage are Established and its Namespaces exist and are not terminating. */
async function waitEstablished(client: ClusterClient, batch: Desired[], timeoutMs: number, progress: (m: string) => void): Promise<void> {
    const pending = batch.filter((d) => d.obj.kind === "CustomResourceDefinition" || d.obj.kind === "Namespace");
    if (pending.length === 0) return;
    const deadline = Date.now() + timeoutMs;
    let left = pending;
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
        const live = await readLive(client, left);
        const waiting: Array<{ d: Desired; why: string }> = [];
        for (const d of left) {
            const o = live.get(d.id);
            const h = computeHealth(o);
            if (d.obj.kind === "CustomResourceDefinition") {
                if (h.status === "Failed") throw new GitopsError(d.id, `CustomResourceDefinition not established: ${h.reason}: "${h.message}"`, "fix the CRD's names or schema");
                if (h.status !== "Current") waiting.push({ d, why: h.message });
            } else if (!o) waiting.push({ d, why: "not found" });
            else if ((o.status as { phase?: string } | undefined)?.phase === "Terminating") waiting.push({ d, why: "namespace is terminating" });
        }
        if (waiting.length === 0) return;
        left = waiting.map((w) => w.d);
        if (Date.now() >= deadline) {
            const w = waiting[0];
            throw new GitopsError(w.d.id, `not ready after ${Math.round(timeoutMs / 1000)}s: ${w.why}`, "check the API server's apiextensions controller, or raise the timeout");
        }
        progress(`waiting for ${waiting.length} CRDs/Namespaces to be established`);
        await sleep(delay);
    }
}

export interface PruneResult {
    /** deleted or skipped, per object that left the inventory. */
    readonly results: ObjectResult[];
    /** The inventory to record: the new one plus every object whose delete failed. */
    readonly inventory: Inventory;
    /** Objects whose delete failed (they stay in the inventory, so the next run retries). */
    readonly failures: Array<{ id: string; error: string }>;
}

export interface PruneOptions {
    readonly concurrency?: number;
    readonly onProgress?: (msg: string) => void;
}

/** True when the live object opts out of pruning by annotation or label. */
export function pruneDisabled(live: KubeObject): boolean {
    return live.metadata.annotations?.[PRUNE_ANNOTATION] === DISABLED || live.metadata.labels?.[PRUNE_ANNOTATION] === DISABLED;
}

/**
 * Deletes what left the inventory (old minus new) and nothing else: namespaced and other objects
 * first, then Namespaces, then CRDs. An object whose live copy has the prune-disabled annotation
 * or label is skipped, as is one that our field manager does not manage (someone else owns it).
 * A failed delete goes back into the returned inventory.
 */
export async function prune(client: ClusterClient, oldInventory: Inventory | undefined, newInventory: Inventory, opts: PruneOptions = {}): Promise<PruneResult> {
    const stale = inventoryDiff(oldInventory, newInventory).map((e) => ({ e, ref: parseId(e.id, e.v) }));
    const results: ObjectResult[] = [];
    const failures: Array<{ id: string; error: string }> = [];
    const failedEntries: InventoryEntry[] = [];
    const known = normalizeInventory([...(oldInventory?.entries ?? []), ...newInventory.entries]);
    for (const rank of [0, 1, 2]) {
        const batch = stale.filter((s) => deleteRank(s.ref) === rank);
        if (batch.length === 0) continue;
        opts.onProgress?.(`pruning ${batch.length} ${["objects", "namespaces", "CRDs"][rank]}`);
        const rs = await mapLimit(batch, opts.concurrency ?? DEFAULT_CONCURRENCY, async ({ e, ref }): Promise<ObjectResult> => {
            const apiVersion = joinApiVersion(ref.group, ref.version);
            const ns = ref.namespace || undefined;
            const live = await client.get(apiVersion, ref.kind, ref.name, ns);
            if (!live) return { id: e.id, action: "deleted", message: "already gone" };
            if (pruneDisabled(live)) return { id: e.id, action: "skipped", message: `${PRUNE_ANNOTATION}: ${DISABLED}` };
            if (hasManagedFields(live) && !isManagedBy(live, client.fieldManager)) {
                return { id: e.id, action: "skipped", message: `not owned: field manager ${client.fieldManager} does not manage it` };
            }
            const warning = rank === 1 ? strayWarning(await strayObjectsIn(client, ref.name, known)) : undefined;
            await client.delete(apiVersion, ref.kind, ref.name, ns);
            return { id: e.id, action: "deleted", ...(warning ? { message: warning } : {}) };
        });
        // Deleted CRDs take their kinds with them.
        if (rank === 2) client.invalidateDiscovery();
        rs.forEach((r, i) => {
            if (r.ok) results.push(r.value);
            else {
                failures.push({ id: batch[i].e.id, error: (r.error as Error).message ?? String(r.error) });
                failedEntries.push(batch[i].e);
            }
        });
    }
    return { results, failures, inventory: normalizeInventory([...newInventory.entries, ...failedEntries]) };
}
