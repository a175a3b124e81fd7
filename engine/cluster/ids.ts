/**
 * Object identity in Flux's inventory format: `<namespace>_<name>_<group>_<kind>`, with the
 * namespace empty for cluster-scoped objects and the group empty for the core API. An inventory
 * entry pairs the id with the API version it was applied at (Flux's ResourceInventory `{id, v}`).
 */
import { GitopsError } from "../errors";
import { KubeObject } from "../flux/api";

/** One inventory entry, as Flux's ResourceInventory stores it. */
export interface InventoryEntry {
    /** `<namespace>_<name>_<group>_<kind>`. */
    readonly id: string;
    /** The API version the object was applied at, e.g. "v1" or "v1beta1". */
    readonly v: string;
}

/** What the engine keeps in the resource's outputs between runs. */
export interface Inventory {
    readonly entries: InventoryEntry[];
}

/** The parts of an id, plus the version when known. */
export interface ObjectRef {
    readonly namespace: string;
    readonly name: string;
    readonly group: string;
    readonly kind: string;
    readonly version: string;
}

/** Splits `group/version` (or a core `version`) into its two parts. */
export function splitApiVersion(apiVersion: string): { group: string; version: string } {
    const slash = apiVersion.indexOf("/");
    return slash < 0
        ? { group: "", version: apiVersion }
        : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** Joins a group and a version back into an apiVersion. */
export function joinApiVersion(group: string, version: string): string {
    return group ? `${group}/${version}` : version;
}

/** The inventory id of an object. `namespace` may be omitted for cluster-scoped objects. */
export function objectId(obj: Pick<KubeObject, "apiVersion" | "kind" | "metadata">): string {
    const { group } = splitApiVersion(obj.apiVersion);
    return formatId({ namespace: obj.metadata.namespace ?? "", name: obj.metadata.name, group, kind: obj.kind });
}

export function formatId(ref: { namespace: string; name: string; group: string; kind: string }): string {
    return `${ref.namespace}_${ref.name}_${ref.group}_${ref.kind}`;
}

/**
 * Parses an id. Names and namespaces cannot contain "_" (DNS-1123), groups cannot either, and
 * kinds are CamelCase, so splitting on "_" is unambiguous. Exception: names of some kinds (RBAC
 * roles) may contain ":", which is fine, but never "_" — a "_" is rejected as malformed.
 */
export function parseId(id: string, version = ""): ObjectRef {
    const parts = id.split("_");
    if (parts.length !== 4 || !parts[1] || !parts[3]) {
        throw new GitopsError(
            id,
            "not an inventory id",
            "expected <namespace>_<name>_<group>_<kind> (namespace empty for cluster-scoped objects, group empty for core kinds)",
        );
    }
    return { namespace: parts[0], name: parts[1], group: parts[2], kind: parts[3], version };
}

/** The inventory entry for an object. */
export function inventoryEntry(obj: KubeObject): InventoryEntry {
    return { id: objectId(obj), v: splitApiVersion(obj.apiVersion).version };
}

/** Builds an inventory from objects, sorted by id (Flux keeps it sorted too) and de-duplicated. */
export function inventoryOf(objects: KubeObject[]): Inventory {
    return normalizeInventory(objects.map(inventoryEntry));
}

/** Sorts by id and drops duplicate ids (the last entry wins). */
export function normalizeInventory(entries: InventoryEntry[]): Inventory {
    const byId = new Map<string, InventoryEntry>();
    for (const e of entries) byId.set(e.id, e);
    return { entries: [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}

/** Entries of `oldInv` whose id is not in `newInv`: what left the inventory and may be pruned. */
export function inventoryDiff(oldInv: Inventory | undefined, newInv: Inventory | undefined): InventoryEntry[] {
    const keep = new Set((newInv?.entries ?? []).map((e) => e.id));
    return (oldInv?.entries ?? []).filter((e) => !keep.has(e.id));
}
