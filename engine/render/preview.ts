/**
 * A pull request's effect on what Flux would apply: every Kustomization path rendered at the base
 * and at the head revision (through the render cache, so only paths whose folders changed are
 * built again), then compared object by object.
 */
import type { Action } from "../cluster/plan";
import { renderRevisions, RenderRevisionOptions, RevisionItem, RevisionRender } from "./cache";

export type RenderChangeAction = Extract<Action, "created" | "configured" | "deleted">;

export interface RenderChange {
    /** The Kustomization path the object belongs to. */
    path: string;
    /** The object's inventory id. */
    id: string;
    action: RenderChangeAction;
}

export interface RenderPreview {
    base: string;
    head: string;
    /** Changed objects, in head order per path, then deletions in base order. */
    changes: RenderChange[];
    counts: Record<RenderChangeAction | "unchanged", number>;
    baseRenders: RevisionRender[];
    headRenders: RevisionRender[];
}

/**
 * Renders `items` at `baseRef` and `headRef` of `repo` and lists the objects that differ. A path
 * that is missing at one side renders as no objects there (a Kustomization added or removed).
 */
export async function previewRevisions(
    repo: string,
    baseRef: string,
    headRef: string,
    items: readonly RevisionItem[],
    opts: Omit<RenderRevisionOptions, "missingIsEmpty"> = {},
): Promise<RenderPreview> {
    const [base, head] = await renderRevisions(repo, [baseRef, headRef], items, { ...opts, missingIsEmpty: true });
    const changes: RenderChange[] = [];
    const counts = { created: 0, configured: 0, deleted: 0, unchanged: 0 };
    items.forEach((item, i) => {
        const b = base.renders[i];
        const h = head.renders[i];
        if (b.key !== undefined && b.key === h.key) {
            // Same key, same render: nothing to compare.
            counts.unchanged += h.result.objects.length;
            return;
        }
        const before = new Map(base.renders[i].result.objects.map((o) => [o.id, o.yaml]));
        const after = new Set<string>();
        for (const o of head.renders[i].result.objects) {
            after.add(o.id);
            const old = before.get(o.id);
            const action = old === undefined ? "created" : old === o.yaml ? "unchanged" : "configured";
            counts[action]++;
            if (action !== "unchanged") changes.push({ path: item.path, id: o.id, action });
        }
        for (const id of before.keys()) {
            if (after.has(id)) continue;
            counts.deleted++;
            changes.push({ path: item.path, id, action: "deleted" });
        }
    });
    return { base: base.revision, head: head.revision, changes, counts, baseRenders: base.renders, headRenders: head.renders };
}
