/**
 * Objects a Namespace prune would take with it: those in the namespace that are not in the
 * inventory. Used by apply (prune) and diff (preview); below both, so neither imports the other's
 * module for it.
 */
import { KubeObject } from "../flux/api";
import { ClusterClient } from "./client";
import { Inventory, objectId } from "./ids";
import { mapLimit } from "./retry";
import { rethrowFirst } from "./plan";

/** Objects the cluster itself puts in every namespace, and kinds that are records rather than objects. */
function isNamespaceFurniture(o: KubeObject): boolean {
    if (o.kind === "Event") return true;
    if (o.kind === "ServiceAccount" && o.metadata.name === "default") return true;
    if (o.kind === "ConfigMap" && o.metadata.name === "kube-root-ca.crt") return true;
    // Dependents (ReplicaSets, Pods, Endpoints...) go with their owner; count the owner only.
    return Array.isArray((o.metadata as { ownerReferences?: unknown[] }).ownerReferences) && ((o.metadata as { ownerReferences?: unknown[] }).ownerReferences!.length > 0);
}

/**
 * Ids of the objects in `namespace` that are not in `inventory`: deleting the Namespace deletes
 * them too, although nobody asked for them to be pruned. The objects every namespace gets
 * (default ServiceAccount, kube-root-ca.crt), Events and dependents of other objects are left out.
 */
export async function strayObjectsIn(client: ClusterClient, namespace: string, inventory: Inventory | undefined): Promise<string[]> {
    const known = new Set((inventory?.entries ?? []).map((e) => e.id));
    const kinds = await client.namespacedKinds();
    const lists = rethrowFirst(await mapLimit(kinds, 8, (k) => client.list(k.apiVersion, k.kind, namespace)));
    const ids = new Set<string>();
    for (const o of lists.flat()) {
        if (isNamespaceFurniture(o)) continue;
        const id = objectId(o);
        if (!known.has(id)) ids.add(id);
    }
    return [...ids].sort();
}

/** The warning for a Namespace about to be pruned with objects outside the inventory, or undefined. */
export function strayWarning(strays: readonly string[]): string | undefined {
    if (strays.length === 0) return undefined;
    const shown = strays.slice(0, 5).join(", ");
    return `warning: the namespace holds ${strays.length} object${strays.length === 1 ? "" : "s"} outside the inventory that deleting it deletes too: ${shown}${strays.length > 5 ? ", ..." : ""}; move them out or annotate the Namespace kustomize.toolkit.fluxcd.io/prune: disabled`;
}
