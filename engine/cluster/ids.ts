/**
 * Object identity in Flux's inventory format (cli-utils ObjMetadata): `<namespace>_<name>_<group>_<kind>`,
 * with the namespace empty for cluster-scoped objects and the group empty for the core API, so a
 * Namespace `apps` is `_apps__Namespace`. Colons in the names of RBAC objects (Role, ClusterRole,
 * RoleBinding, ClusterRoleBinding in rbac.authorization.k8s.io) are written as `__`. An inventory
 * entry pairs the id with the API version it was applied at (Flux's ResourceInventory `{id, v}`).
 * The one home of object ids: render, cluster, the components and the tests all use these.
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

/** The parts of an id. */
export interface ObjectKey {
    readonly namespace: string;
    readonly name: string;
    readonly group: string;
    readonly kind: string;
}

/** The parts of an id, plus the version when known. */
export interface ObjectRef extends ObjectKey {
    readonly version: string;
}

const RBAC_GROUP = "rbac.authorization.k8s.io";
const RBAC_KINDS = new Set(["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]);

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

/** The API group of an apiVersion: "apps/v1" -> "apps", "v1" -> "". */
export function groupOf(apiVersion: string): string {
    return splitApiVersion(apiVersion).group;
}

/**
 * The inventory id of an object (apiVersion, kind, metadata.name/namespace) or of its parts.
 * Missing fields count as empty, so ids of malformed documents can still be named in messages.
 */
export function objectId(obj: Pick<KubeObject, "apiVersion" | "kind" | "metadata"> | ObjectKey | { apiVersion?: unknown; kind?: unknown; metadata?: unknown }): string {
    if ("group" in obj && typeof obj.group === "string") return formatId(obj as ObjectKey);
    const o = obj as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    return formatId({
        namespace: typeof o.metadata?.namespace === "string" ? o.metadata.namespace : "",
        name: typeof o.metadata?.name === "string" ? o.metadata.name : "",
        group: groupOf(typeof o.apiVersion === "string" ? o.apiVersion : ""),
        kind: typeof o.kind === "string" ? o.kind : "",
    });
}

export function formatId(ref: ObjectKey): string {
    const name = ref.group === RBAC_GROUP && RBAC_KINDS.has(ref.kind) ? ref.name.split(":").join("__") : ref.name;
    return `${ref.namespace}_${name}_${ref.group}_${ref.kind}`;
}

/**
 * Parses an id (the inverse of objectId). Names and namespaces cannot contain "_" (DNS-1123),
 * groups cannot either, and kinds are CamelCase; an RBAC name's ":" is written "__" (an id from
 * before that rule, with the ":" as is, parses too). Throws a GitopsError naming the id when it
 * does not have four fields, or has an empty name or kind.
 */
export function parseId(id: string, version = ""): ObjectRef {
    const bad = (why: string): never => {
        throw new GitopsError(id, `not an inventory id (${why})`, "expected <namespace>_<name>_<group>_<kind> (namespace empty for cluster-scoped objects, group empty for core kinds)");
    };
    const first = id.indexOf("_");
    if (first < 0) bad("no '_' separator");
    const namespace = id.slice(0, first);
    let rest = id.slice(first + 1);
    const k = rest.lastIndexOf("_");
    if (k < 0) bad("missing group and kind");
    const kind = rest.slice(k + 1);
    rest = rest.slice(0, k);
    const g = rest.lastIndexOf("_");
    if (g < 0) bad("missing group");
    const group = rest.slice(g + 1);
    const name = rest.slice(0, g).split("__").join(":");
    if (name.includes("_")) bad("too many fields");
    if (!name) bad("empty name");
    if (!kind) bad("empty kind");
    return { namespace, name, group, kind, version };
}

/** parseId without the version: the parts of an id. */
export function parseObjectId(id: string): ObjectKey {
    const { version: _v, ...key } = parseId(id);
    return key;
}

/** The id in today's form (an RBAC name's ":" as "__"), so ids stored by older versions compare equal. */
function canonicalId(id: string): string {
    try {
        return formatId(parseId(id));
    } catch {
        return id;
    }
}

/** The inventory entry for an object. */
export function inventoryEntry(obj: KubeObject): InventoryEntry {
    return { id: objectId(obj), v: splitApiVersion(obj.apiVersion).version };
}

/** Builds an inventory from objects, sorted by id (Flux keeps it sorted too) and de-duplicated. */
export function inventoryOf(objects: KubeObject[]): Inventory {
    return normalizeInventory(objects.map(inventoryEntry));
}

/** Sorts by id and drops duplicate ids (the last entry wins); ids are brought to today's form. */
export function normalizeInventory(entries: InventoryEntry[]): Inventory {
    const byId = new Map<string, InventoryEntry>();
    for (const e of entries) {
        const id = canonicalId(e.id);
        byId.set(id, id === e.id ? e : { ...e, id });
    }
    return { entries: [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
}

/** Entries of `oldInv` whose id is not in `newInv` (ids compared in today's form): what left the inventory and may be pruned. */
export function inventoryDiff(oldInv: Inventory | undefined, newInv: Inventory | undefined): InventoryEntry[] {
    const keep = new Set((newInv?.entries ?? []).map((e) => canonicalId(e.id)));
    return (oldInv?.entries ?? []).map((e) => ({ ...e, id: canonicalId(e.id) })).filter((e) => !keep.has(e.id));
}
