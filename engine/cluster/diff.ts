/**
 * Drift and preview: the live cluster against the desired objects, per object, in Flux's
 * vocabulary. Report-only: nothing here writes to the cluster (dry-run applies are not stored).
 *
 * How "differs" is decided, cheapest first:
 * 1. live objects are read with a LIST per kind and namespace;
 * 2. the declared fields are compared with the live ones (field-subset: server defaults, status
 *    and server-owned metadata do not count), plus fields our manager owns but no longer
 *    declares (server-side apply would remove them);
 * 3. only objects that look different are confirmed with a server-side apply dry-run
 *    (?dryRun=All), whose result is compared with the live object field by field — this is what
 *    the apply would really change (quantities normalised, defaults filled). When the dry-run is
 *    refused, the field-subset result stands and the entry carries the server's message.
 * Secret values are masked in every change (`data.key: *** (before) -> *** (after)`), as
 * `flux diff` masks them: only which keys changed is shown.
 */
import { KubeObject } from "../flux/api";
import { ClusterClient } from "./client";
import { FieldChange, formatChange, hasManagedFields, isCertainChange, isManagedBy, objectChanges, withoutServerFields } from "./compare";
import { Inventory, inventoryDiff, joinApiVersion, parseId } from "./ids";
import { countActions, pruneDisabled } from "./apply";
import { Action, DEFAULT_CONCURRENCY, Desired, judge, ObjectResult, readLive, resolveObjects, rethrowFirst } from "./plan";
import { mapLimit } from "./retry";
import { maskSecretChanges } from "./secrets";
import { unionInventory } from "./inventory";
import { strayObjectsIn, strayWarning } from "./strays";
import { PRUNE_ANNOTATION, DISABLED } from "../flux/api";

export interface DiffEntry extends ObjectResult {
    /** Structured field changes for configured objects. */
    readonly fields?: FieldChange[];
}

export interface DiffResult {
    /** Desired objects in input order, then inventory objects that would be pruned or skipped. */
    readonly entries: DiffEntry[];
    /** Counts per action. */
    readonly counts: Record<Action, number>;
    /** Human-readable: a counts line, then one line per object that is not unchanged. */
    readonly summary: string;
}

export interface DiffOptions {
    /**
     * Confirm differences the field-subset comparison cannot be sure of (fields the server may
     * default or normalise, fields we own but no longer declare) with a server-side dry-run
     * apply. Default true.
     */
    readonly dryRun?: boolean;
    /** Confirm every configured object with a dry-run, even plain scalar changes. Default false. */
    readonly confirmAll?: boolean;
    readonly concurrency?: number;
    /** Also list unchanged objects in the summary. Default false. */
    readonly verbose?: boolean;
}

/**
 * Compares the desired objects (and the previous inventory, for what would be pruned) with the
 * live cluster. Never writes.
 */
export async function diffCluster(client: ClusterClient, desired: readonly KubeObject[], inventory?: Inventory, opts: DiffOptions = {}): Promise<DiffResult> {
    const concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
    const ds = await resolveObjects(client, desired);
    const live = await readLive(client, ds, concurrency);
    const entries: DiffEntry[] = new Array(ds.length);
    const confirm: number[] = [];
    ds.forEach((d, i) => {
        const v = judge(d.obj, live.get(d.id), client.fieldManager);
        if (v.action === "configured") {
            const fields = maskSecretChanges(d.obj, v.changes);
            entries[i] = { id: d.id, action: "configured", fields, changes: fields.map(formatChange) };
            const certain = v.changes.every(isCertainChange);
            if (opts.dryRun !== false && d.resource && (opts.confirmAll || !certain)) confirm.push(i);
        } else entries[i] = { id: d.id, action: v.action };
    });
    rethrowFirst(
        await mapLimit(confirm, concurrency, async (i) => {
            const d = ds[i];
            const before = live.get(d.id)!;
            try {
                const res = await client.apply(d.obj, { dryRun: true });
                const fields = maskSecretChanges(d.obj, objectChanges(withoutServerFields(before), withoutServerFields(res.body)));
                entries[i] = fields.length
                    ? { id: d.id, action: "configured", fields, changes: fields.map(formatChange) }
                    : { id: d.id, action: "unchanged" };
            } catch (err) {
                entries[i] = { ...entries[i], message: `dry-run refused: ${(err as Error).message}` };
            }
        }),
    );

    // What left the inventory would be pruned, unless it opts out or is not ours. Read in the
    // same LIST-or-GET batches as the desired objects.
    const desiredIds = new Set(ds.map((d) => d.id));
    const stale = inventoryDiff(inventory, { entries: ds.map((d) => ({ id: d.id, v: "" })) }).filter((e) => !desiredIds.has(e.id));
    const staleDs: Desired[] = rethrowFirst(
        await mapLimit(stale, concurrency, async (e) => {
            const ref = parseId(e.id, e.v);
            const apiVersion = joinApiVersion(ref.group, ref.version);
            const obj: KubeObject = { apiVersion, kind: ref.kind, metadata: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) } };
            return { id: e.id, obj, resource: await client.tryResource(apiVersion, ref.kind) };
        }),
    );
    const staleLive = await readLive(client, staleDs, concurrency);
    const staleEntries: DiffEntry[] = [];
    const known = unionInventory(inventory, { entries: ds.map((d) => ({ id: d.id, v: "" })) });
    for (const d of staleDs) {
        const o = staleLive.get(d.id);
        if (!o) continue; // already gone: nothing would happen
        if (pruneDisabled(o)) staleEntries.push({ id: d.id, action: "skipped", message: `${PRUNE_ANNOTATION}: ${DISABLED}` });
        else if (hasManagedFields(o) && !isManagedBy(o, client.fieldManager)) staleEntries.push({ id: d.id, action: "skipped", message: "not owned" });
        else {
            // A pruned Namespace takes everything in it along: say what is not ours.
            const warning = d.obj.kind === "Namespace" && d.obj.apiVersion === "v1" ? strayWarning(await strayObjectsIn(client, d.obj.metadata.name, known)) : undefined;
            staleEntries.push({ id: d.id, action: "deleted", ...(warning ? { message: warning } : {}) });
        }
    }
    const all = [...entries, ...staleEntries];
    const counts = countActions(all) as Record<Action, number>;
    return { entries: all, counts, summary: summarize(all, counts, opts.verbose) };
}

/** `3 created, 1 configured, 10 unchanged, 1 deleted, 0 skipped` then one line per change. */
export function summarize(entries: readonly DiffEntry[], counts = countActions(entries) as Record<Action, number>, verbose = false): string {
    const head = (["created", "configured", "unchanged", "deleted", "skipped"] as const).map((a) => `${counts[a]} ${a}`).join(", ");
    const lines = entries
        .filter((e) => verbose || e.action !== "unchanged")
        .map((e) => {
            const detail = e.changes?.length ? e.changes.join("; ") : e.message;
            const tail = e.changes?.length && e.message ? `; ${e.message}` : "";
            return `${e.action} ${e.id}${detail ? ` (${detail}${tail})` : ""}`;
        });
    return [head, ...lines].join("\n") + "\n";
}

/** Drift report and, when asked, correction. `mode: "report"` never writes. */
export async function detectDrift(
    client: ClusterClient,
    desired: readonly KubeObject[],
    inventory: Inventory | undefined,
    opts: DiffOptions & { mode?: "report" | "correct"; onProgress?: (m: string) => void } = {},
): Promise<DiffResult & { corrected: boolean }> {
    const report = await diffCluster(client, desired, inventory, opts);
    const drifted = report.counts.created + report.counts.configured + report.counts.deleted > 0;
    if (opts.mode !== "correct" || !drifted) return { ...report, corrected: false };
    const { applyStaged, prune } = await import("./apply");
    const applied = await applyStaged(client, desired, { concurrency: opts.concurrency, onProgress: opts.onProgress });
    await prune(client, inventory, applied.inventory, { concurrency: opts.concurrency, onProgress: opts.onProgress });
    return { ...report, corrected: true };
}
