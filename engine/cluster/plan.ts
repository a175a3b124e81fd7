/**
 * Shared by apply, diff and health: checking and normalising desired objects, reading the live
 * state in few requests (a LIST per kind and namespace when several objects share one, a GET
 * otherwise), and deciding per object whether the cluster already matches.
 */
import { GitopsError } from "../errors";
import { KubeObject } from "../flux/api";
import { ApiResource, ClusterClient } from "./client";
import { FieldChange, hasManagedFields, isManagedBy, subsetChanges, undeclaredOwnedPaths } from "./compare";
import { objectId, splitApiVersion } from "./ids";
import { mapLimit } from "./retry";

/** The fixed vocabulary for what happened (or would happen) to an object. */
export type Action = "created" | "configured" | "unchanged" | "deleted" | "skipped";

export interface ObjectResult {
    readonly id: string;
    readonly action: Action;
    /** Fields that differ, `path: old -> new`, for configured objects. */
    readonly changes?: string[];
    /** Why, for skipped objects; what went wrong, for failures. */
    readonly message?: string;
    /** Fields taken from other field managers by this apply: `from <manager>: <paths>`. */
    readonly takenOver?: string[];
}

/**
 * Requests in flight at once. A real kube-apiserver and etcd spend less CPU per write when
 * writes come concurrently (etcd batches them; bench/cases/apply.ts measured 2,000 creates at 8,
 * 32 and 64 in flight); API Priority and Fairness answers 429 when a cluster wants fewer, and
 * those are retried after Retry-After.
 */
export const DEFAULT_CONCURRENCY = 32;

/** A desired object with its id and what the cluster knows about its kind. */
export interface Desired {
    readonly id: string;
    readonly obj: KubeObject;
    /** Undefined when the cluster does not serve the kind yet (its CRD is not applied). */
    readonly resource?: ApiResource;
}

/** Apply stage: 0 for CustomResourceDefinitions and Namespaces, 1 for everything else. */
export function stageOf(obj: Pick<KubeObject, "apiVersion" | "kind">): 0 | 1 {
    const { group } = splitApiVersion(obj.apiVersion);
    if (obj.kind === "CustomResourceDefinition" && group === "apiextensions.k8s.io") return 0;
    if (obj.kind === "Namespace" && group === "") return 0;
    return 1;
}

/**
 * Deletion rank, the reverse of the apply stages: 0 namespaced and other objects, 1 Namespaces,
 * 2 CustomResourceDefinitions.
 */
export function deleteRank(ref: { group: string; kind: string }): 0 | 1 | 2 {
    if (ref.kind === "CustomResourceDefinition" && ref.group === "apiextensions.k8s.io") return 2;
    if (ref.kind === "Namespace" && ref.group === "") return 1;
    return 0;
}

/** Checks the shape of every object up front, so bad input fails before anything is applied. */
export function validateObjects(objects: readonly KubeObject[]): void {
    objects.forEach((o, i) => {
        const where = `object #${i + 1}${o?.kind ? ` (${o.kind}${o?.metadata?.name ? ` ${o.metadata.name}` : ""})` : ""}`;
        if (!o || typeof o !== "object") throw new GitopsError(where, "is not an object");
        if (typeof o.apiVersion !== "string" || !o.apiVersion) throw new GitopsError(where, "has no apiVersion", "every manifest needs apiVersion and kind");
        if (typeof o.kind !== "string" || !o.kind) throw new GitopsError(where, "has no kind", "every manifest needs apiVersion and kind");
        if (!o.metadata || typeof o.metadata.name !== "string" || !o.metadata.name) {
            throw new GitopsError(where, "has no metadata.name", "generateName is not supported by server-side apply; set a name");
        }
        if (o.metadata.name.includes("_") || (o.metadata.namespace ?? "").includes("_")) {
            throw new GitopsError(where, "has '_' in its name or namespace", "Kubernetes names are DNS labels/subdomains; use '-'");
        }
    });
}

/** Scope of kinds defined by CRDs among the desired objects: `group/Kind` -> namespaced. */
function crdScopes(objects: readonly KubeObject[]): Map<string, boolean> {
    const m = new Map<string, boolean>();
    for (const o of objects) {
        if (stageOf(o) !== 0 || o.kind !== "CustomResourceDefinition") continue;
        const spec = o.spec as { group?: string; names?: { kind?: string }; scope?: string } | undefined;
        if (spec?.group && spec.names?.kind) m.set(`${spec.group}/${spec.names.kind}`, spec.scope !== "Cluster");
    }
    return m;
}

/**
 * Resolves each object's kind through discovery and fixes its namespace the way kubectl does:
 * the context's namespace for namespaced kinds without one, none for cluster-scoped kinds.
 * Kinds the cluster does not serve yet keep `resource` undefined (their scope then comes from a
 * desired CRD when there is one). Rejects duplicate ids.
 */
export async function resolveObjects(client: ClusterClient, objects: readonly KubeObject[]): Promise<Desired[]> {
    validateObjects(objects);
    const defaultNs = await client.defaultNamespace();
    const scopes = crdScopes(objects);
    const kinds = new Map<string, ApiResource | undefined>();
    for (const o of objects) {
        const key = `${o.apiVersion}\u0000${o.kind}`;
        if (!kinds.has(key)) kinds.set(key, undefined);
    }
    await mapLimit([...kinds.keys()], DEFAULT_CONCURRENCY, async (key) => {
        const [apiVersion, kind] = key.split("\u0000");
        kinds.set(key, await client.tryResource(apiVersion, kind));
    }).then(rethrowFirst);
    const seen = new Map<string, number>();
    return objects.map((o, i) => {
        const resource = kinds.get(`${o.apiVersion}\u0000${o.kind}`);
        const namespaced = resource ? resource.namespaced : scopes.get(`${splitApiVersion(o.apiVersion).group}/${o.kind}`);
        let obj = o;
        if (namespaced === true && !o.metadata.namespace) obj = { ...o, metadata: { ...o.metadata, namespace: defaultNs } };
        if (namespaced === false && o.metadata.namespace !== undefined) {
            const { namespace: _drop, ...meta } = o.metadata;
            obj = { ...o, metadata: meta };
        }
        const id = objectId(obj);
        const prev = seen.get(id);
        if (prev !== undefined) {
            throw new GitopsError(id, `declared twice (objects #${prev + 1} and #${i + 1})`, "remove one of them or give them different names");
        }
        seen.set(id, i);
        return { id, obj, resource };
    });
}

/** Throws the first failure of a mapLimit run. */
export function rethrowFirst<R>(rs: Array<{ ok: true; value: R } | { ok: false; error: unknown }>): R[] {
    for (const r of rs) if (!r.ok) throw r.error;
    return rs.map((r) => (r as { value: R }).value);
}

/** Below this many objects of one kind in one namespace, GET each instead of a LIST. */
const LIST_THRESHOLD = 3;

/**
 * Reads the live counterpart of every desired object whose kind is served. Returns id -> live
 * object (missing ids do not exist). Objects of one kind in one namespace are read with one LIST
 * when there are several of them.
 */
export async function readLive(client: ClusterClient, desired: readonly Desired[], concurrency = DEFAULT_CONCURRENCY): Promise<Map<string, KubeObject>> {
    const groups = new Map<string, Desired[]>();
    for (const d of desired) {
        if (!d.resource) continue;
        const key = `${d.obj.apiVersion}\u0000${d.obj.kind}\u0000${d.obj.metadata.namespace ?? ""}`;
        const g = groups.get(key);
        if (g) g.push(d);
        else groups.set(key, [d]);
    }
    type Job = { kind: "list"; items: Desired[] } | { kind: "get"; item: Desired };
    const jobs: Job[] = [];
    for (const items of groups.values()) {
        if (items.length >= LIST_THRESHOLD) jobs.push({ kind: "list", items });
        else for (const item of items) jobs.push({ kind: "get", item });
    }
    const live = new Map<string, KubeObject>();
    const rs = await mapLimit(jobs, concurrency, async (job) => {
        if (job.kind === "get") {
            const o = job.item.obj;
            const got = await client.get(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace);
            if (got) live.set(job.item.id, got);
            return;
        }
        const first = job.items[0].obj;
        const wanted = new Set(job.items.map((d) => d.id));
        for (const item of await client.list(first.apiVersion, first.kind, first.metadata.namespace)) {
            const id = objectId(item);
            if (wanted.has(id)) live.set(id, item);
        }
    });
    rethrowFirst(rs);
    return live;
}

/** What the cluster would do with one desired object, judged from the live object alone. */
export interface Verdict {
    readonly action: "created" | "configured" | "unchanged";
    /** Declared fields whose live value differs (or fields we own that are no longer declared). */
    readonly changes: FieldChange[];
    /**
     * True when a server-side apply is needed even though `action` may say unchanged: we do not
     * own the object's fields yet, or the verdict is uncertain.
     */
    readonly needsApply: boolean;
}

/**
 * Compares a desired object with its live counterpart (field-subset semantics). A field we
 * owned and no longer declare counts as a change (server-side apply would remove it).
 */
export function judge(desired: KubeObject, live: KubeObject | undefined, manager: string): Verdict {
    if (!live) return { action: "created", changes: [], needsApply: true };
    const changes = subsetChanges(desired, live);
    const undeclared = undeclaredOwnedPaths(desired, live, manager);
    if (undeclared) for (const p of undeclared) changes.push({ path: p, from: "<set>", to: undefined });
    const owned = !hasManagedFields(live) || isManagedBy(live, manager);
    if (changes.length === 0) return { action: "unchanged", changes, needsApply: !owned };
    return { action: "configured", changes, needsApply: true };
}
