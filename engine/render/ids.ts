/**
 * Object ids in Flux's inventory format (cli-utils ObjMetadata): `<namespace>_<name>_<group>_<kind>`.
 * The namespace is empty for cluster-scoped objects and the group is empty for the core API, so a
 * Namespace `apps` is `_apps__Namespace`. Colons in the names of RBAC objects (Role, ClusterRole,
 * RoleBinding, ClusterRoleBinding in rbac.authorization.k8s.io) are written as `__`.
 */
import { GitopsError } from "../errors";

export interface ObjectRef {
    namespace: string;
    name: string;
    group: string;
    kind: string;
}

const RBAC_GROUP = "rbac.authorization.k8s.io";
const RBAC_KINDS = new Set(["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"]);

/** The API group of an apiVersion: "apps/v1" -> "apps", "v1" -> "". */
export function groupOf(apiVersion: string): string {
    const slash = apiVersion.indexOf("/");
    return slash < 0 ? "" : apiVersion.slice(0, slash);
}

/** The inventory id of a Kubernetes object (apiVersion, kind, metadata.name/namespace). */
export function objectId(obj: { apiVersion?: unknown; kind?: unknown; metadata?: unknown } | ObjectRef): string {
    let ref: ObjectRef;
    if ("group" in obj && typeof obj.group === "string") ref = obj as ObjectRef;
    else {
        const o = obj as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
        ref = {
            namespace: typeof o.metadata?.namespace === "string" ? o.metadata.namespace : "",
            name: typeof o.metadata?.name === "string" ? o.metadata.name : "",
            group: groupOf(typeof o.apiVersion === "string" ? o.apiVersion : ""),
            kind: typeof o.kind === "string" ? o.kind : "",
        };
    }
    let name = ref.name;
    if (ref.group === RBAC_GROUP && RBAC_KINDS.has(ref.kind)) name = name.split(":").join("__");
    return `${ref.namespace}_${name}_${ref.group}_${ref.kind}`;
}

/**
 * Parses an inventory id back into its parts (the inverse of objectId). Throws a GitopsError naming
 * the id when it does not have four fields, or has an empty name or kind.
 */
export function parseObjectId(id: string): ObjectRef {
    const bad = (why: string): never => {
        throw new GitopsError(id, `not an object id (${why})`, "expected <namespace>_<name>_<group>_<kind>");
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
    return { namespace, name, group, kind };
}
