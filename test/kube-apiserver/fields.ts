/**
 * Field sets for server-side apply: which fields of an object a manager owns, encoded in the
 * FieldsV1 format of metadata.managedFields (`f:<name>`, `k:<json key>`, `v:<json value>`,
 * `i:<index>`, and `.` for a node that is itself a member and has children), plus the apply
 * merge (maps merge, map-lists merge by key, sets union, atomic lists and scalars replace).
 */
import { ListKind, listKindAt, itemKey, PathEl, ResourceType } from "./registry";

/** A set of paths; each path is its elements' FieldsV1 keys joined by "\n". */
export type FieldSet = Set<string>;

const STRIPPED_META = new Set(["name", "namespace", "uid", "resourceVersion", "generation", "creationTimestamp",
    "managedFields", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"]);

export type Scope = "main" | "status";

export function elKey(el: PathEl): string {
    if ("f" in el) return `f:${el.f}`;
    if ("k" in el) return `k:${JSON.stringify(el.k)}`;
    if ("v" in el) return `v:${JSON.stringify(el.v)}`;
    return `i:${el.i}`;
}

export function parseElKey(s: string): PathEl {
    const p = s.slice(0, 2), rest = s.slice(2);
    if (p === "f:") return { f: rest };
    if (p === "k:") return { k: JSON.parse(rest) };
    if (p === "v:") return { v: JSON.parse(rest) };
    if (p === "i:") return { i: Number(rest) };
    throw new Error(`bad FieldsV1 key ${s}`);
}

export function decodePath(p: string): PathEl[] {
    return p.split("\n").map(parseElKey);
}

/** The path as the API server prints it in conflicts: `.spec.containers[name="app"].image`. */
export function pathString(p: string): string {
    return decodePath(p).map((el) => {
        if ("f" in el) return `.${el.f}`;
        if ("k" in el) return `[${Object.entries(el.k).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(",")}]`;
        if ("v" in el) return `[=${JSON.stringify(el.v)}]`;
        return `[${el.i}]`;
    }).join("");
}

function isMap(v: unknown): v is Record<string, any> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Built-in fields that are atomic structs or maps (LabelSelector, Service.spec.selector). */
const ATOMIC_FIELDS = new Set(["selector", "podSelector", "namespaceSelector"]);

/** Built-in fields that are non-pointer structs: always present, so never "added" by an update. */
const ALWAYS_PRESENT = new Set(["spec", "status", "metadata", "template", "strategy"]);

/** The set of fields present in `obj` (for apply: what the applier states; for updates: what exists). */
export function fieldSetOf(obj: any, t: ResourceType | undefined, scope: Scope): FieldSet {
    const out: FieldSet = new Set();
    const builtin = !t || t.builtin;
    const walk = (v: any, path: string[], names: string[]): void => {
        if (isMap(v) && Object.keys(v).length && !(builtin && ATOMIC_FIELDS.has(names[names.length - 1]))) {
            for (const [k, c] of Object.entries(v)) walk(c, [...path, elKey({ f: k })], [...names, k]);
            return;
        }
        if (Array.isArray(v) && v.length) {
            const lk = listKindAt(t, names, v[0]);
            if (lk.type === "map") {
                for (const item of v) {
                    const p = [...path, elKey({ k: itemKey(item, lk.keys) })];
                    out.add(p.join("\n"));
                    if (isMap(item)) for (const [k, c] of Object.entries(item)) walk(c, [...p, elKey({ f: k })], [...names, k]);
                }
                return;
            }
            if (lk.type === "set") {
                for (const item of v) out.add([...path, elKey({ v: item })].join("\n"));
                return;
            }
        }
        out.add(path.join("\n"));
    };
    if (!isMap(obj)) return out;
    for (const [k, v] of Object.entries(obj)) {
        if (k === "apiVersion" || k === "kind") continue;
        if (scope === "status" && k !== "status") continue;
        if (scope === "main" && k === "status" && t?.statusSubresource) continue;
        if (k === "metadata" && isMap(v)) {
            for (const [mk, mv] of Object.entries(v)) {
                if (STRIPPED_META.has(mk)) continue;
                walk(mv, [elKey({ f: "metadata" }), elKey({ f: mk })], ["metadata", mk]);
            }
            continue;
        }
        walk(v, [elKey({ f: k })], [k]);
    }
    return out;
}

/** FieldsV1 tree of a set. */
export function encodeFieldsV1(set: FieldSet): any {
    type Node = { member: boolean; children: Map<string, Node> };
    const root: Node = { member: false, children: new Map() };
    for (const p of set) {
        let node = root;
        for (const el of p.split("\n")) {
            let next = node.children.get(el);
            if (!next) node.children.set(el, next = { member: false, children: new Map() });
            node = next;
        }
        node.member = true;
    }
    const finish = (node: Node): any => {
        const out: any = {};
        if (node.member && node.children.size) out["."] = {};
        for (const k of [...node.children.keys()].sort()) out[k] = finish(node.children.get(k)!);
        return out;
    };
    return finish(root);
}

export function decodeFieldsV1(tree: any): FieldSet {
    const out: FieldSet = new Set();
    const walk = (node: any, path: string[]): void => {
        const keys = Object.keys(node ?? {});
        if (path.length && (!keys.length || keys.includes("."))) out.add(path.join("\n"));
        for (const k of keys) if (k !== ".") walk(node[k], [...path, k]);
    };
    walk(tree, []);
    return out;
}

/** The field-name path of a FieldsV1 path (list items skipped), for list semantics look-ups. */
function namesOf(els: PathEl[]): string[] {
    return els.filter((e): e is { f: string } => "f" in e).map((e) => e.f);
}

function findItem(list: any[], el: PathEl): number {
    if ("k" in el) {
        const want = JSON.stringify(el.k);
        return list.findIndex((item) => JSON.stringify(itemKey(item, Object.keys(el.k))) === want);
    }
    if ("v" in el) return list.findIndex((item) => deepEqual(item, el.v));
    if ("i" in el) return el.i < list.length ? el.i : -1;
    return -1;
}

/** The value at a path, or undefined. */
export function getAt(obj: any, path: string): any {
    let cur = obj;
    for (const el of decodePath(path)) {
        if (cur === undefined || cur === null) return undefined;
        if ("f" in el) cur = isMap(cur) ? cur[el.f] : undefined;
        else if (Array.isArray(cur)) {
            const i = findItem(cur, el);
            cur = i < 0 ? undefined : cur[i];
        } else return undefined;
    }
    return cur;
}

/**
 * Removes the field or list item at a path (in place). Maps and lists the removal leaves empty
 * are dropped too, as Go's omitempty does when the API server serializes built-in kinds.
 */
export function removeAt(obj: any, path: string): void {
    const els = decodePath(path);
    const chain: any[] = [obj];
    let cur = obj;
    for (let n = 0; n < els.length - 1; n++) {
        const el = els[n];
        if ("f" in el) cur = isMap(cur) ? cur[el.f] : undefined;
        else if (Array.isArray(cur)) {
            const i = findItem(cur, el);
            cur = i < 0 ? undefined : cur[i];
        } else cur = undefined;
        if (cur === undefined || cur === null) return;
        chain.push(cur);
    }
    const drop = (container: any, el: PathEl): boolean => {
        if ("f" in el) {
            if (!isMap(container) || !(el.f in container)) return false;
            delete container[el.f];
            return true;
        }
        if (!Array.isArray(container)) return false;
        const i = findItem(container, el);
        if (i < 0) return false;
        container.splice(i, 1);
        return true;
    };
    if (!drop(cur, els[els.length - 1])) return;
    // chain[n] is the container of els[n].
    for (let n = els.length - 1; n >= 1; n--) {
        const node = chain[n];
        const empty = Array.isArray(node) ? node.length === 0 : isMap(node) && Object.keys(node).length === 0;
        if (!empty) break;
        drop(chain[n - 1], els[n - 1]);
    }
}

/** Paths of the set that have no descendants in it (the leaves whose values can conflict). */
export function leaves(set: FieldSet): string[] {
    const sorted = [...set].sort();
    return sorted.filter((p, i) => !(sorted[i + 1]?.startsWith(p + "\n")));
}

export function deepEqual(a: any, b: any): boolean {
    if (a === b) return true;
    if (typeof a !== typeof b || a === null || b === null || typeof a !== "object") return false;
    if (Array.isArray(a) !== Array.isArray(b)) return false;
    if (Array.isArray(a)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
}

export function clone<T>(v: T): T {
    return v === undefined ? v : JSON.parse(JSON.stringify(v));
}

/** Apply merge: `applied` merged into `cur` (neither modified). */
export function applyMerge(cur: any, applied: any, t: ResourceType | undefined, names: string[] = []): any {
    if (isMap(applied)) {
        const out: any = isMap(cur) ? { ...cur } : {};
        for (const [k, v] of Object.entries(applied)) out[k] = applyMerge(out[k], v, t, [...names, k]);
        return out;
    }
    if (Array.isArray(applied) && Array.isArray(cur)) {
        const lk: ListKind = listKindAt(t, names, applied[0] ?? cur[0]);
        if (lk.type === "map") {
            const out = [...cur];
            for (const item of applied) {
                const key = JSON.stringify(itemKey(item, lk.keys));
                const i = out.findIndex((x) => JSON.stringify(itemKey(x, lk.keys)) === key);
                if (i >= 0) out[i] = applyMerge(out[i], item, t, names);
                else out.push(clone(item));
            }
            return out;
        }
        if (lk.type === "set") {
            const out = [...cur];
            for (const item of applied) if (!out.some((x) => deepEqual(x, item))) out.push(clone(item));
            return out;
        }
    }
    return clone(applied);
}

/**
 * Paths whose value differs between `before` and `after` (added or changed members of `after`),
 * and paths of `before` gone from `after`.
 */
export function diffSets(before: any, after: any, t: ResourceType | undefined, scope: Scope): { changed: string[]; removed: string[] } {
    const sb = fieldSetOf(before, t, scope), sa = fieldSetOf(after, t, scope);
    const changed = leaves(sa).filter((p) => !sb.has(p) || !deepEqual(getAt(before, p), getAt(after, p)));
    for (const p of sa) if (!sb.has(p)) changed.push(p); // new list items and set values
    // Maps that an update brings into existence are owned themselves (the "." of FieldsV1), as the
    // real server records for Update operations; built-in non-pointer structs always exist.
    const builtin = !t || t.builtin;
    for (const p of sa) {
        const els = p.split("\n");
        for (let n = 1; n < els.length; n++) {
            const prefix = els.slice(0, n).join("\n");
            const last = els[n - 1];
            if (!last.startsWith("f:")) continue;
            const name = last.slice(2);
            if (n === 1 && name === "metadata") continue;
            if (builtin && ALWAYS_PRESENT.has(name)) continue;
            if (getAt(before, prefix) === undefined && isMap(getAt(after, prefix))) changed.push(prefix);
        }
    }
    const removed = [...sb].filter((p) => !sa.has(p));
    return { changed: [...new Set(changed)], removed };
}

export { namesOf };
