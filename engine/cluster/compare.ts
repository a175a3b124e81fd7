/**
 * Comparing a desired object with a live one, the way server-side apply sees it: only the
 * fields we declare count. Server-populated fields (status, managedFields, resourceVersion, uid,
 * creationTimestamp, generation, defaults) are ignored. Pure functions.
 */
import { KubeObject } from "../flux/api";

/** One field that differs: a dotted path and the live and desired values. */
export interface FieldChange {
    readonly path: string;
    readonly from: unknown;
    readonly to: unknown;
}

/** metadata fields the server owns; never compared. */
const SERVER_METADATA = new Set([
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
]);

function isMap(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

function join(path: string, key: string | number): string {
    return typeof key === "number" ? `${path}[${key}]` : path ? `${path}.${key}` : key;
}

/**
 * Fields of `desired` whose value differs in `live` (missing counts as differing). Maps are
 * compared key by key over the desired keys only; lists must have the same length and each
 * element is compared the same way (so server defaults inside list items do not count).
 * Paths are built only for fields that differ (this runs over thousands of objects).
 */
export function subsetChanges(desired: unknown, live: unknown, path = "", out: FieldChange[] = []): FieldChange[] {
    walkSubset(desired, live, path ? [path] : [], out);
    return out;
}

function pathOf(keys: Array<string | number>): string {
    let p = "";
    for (const k of keys) p = join(p, k);
    return p;
}

function walkSubset(desired: unknown, live: unknown, keys: Array<string | number>, out: FieldChange[]): void {
    if (isMap(desired)) {
        if (!isMap(live)) {
            out.push({ path: pathOf(keys), from: live, to: desired });
            return;
        }
        const top = keys.length === 0;
        const meta = keys.length === 1 && keys[0] === "metadata";
        for (const k in desired) {
            if (top && k === "status") continue;
            if (meta && SERVER_METADATA.has(k)) continue;
            const d = desired[k];
            const l = live[k];
            if (d === l) continue;
            keys.push(k);
            walkSubset(d, l, keys, out);
            keys.pop();
        }
        return;
    }
    if (Array.isArray(desired)) {
        if (!Array.isArray(live) || live.length !== desired.length) {
            out.push({ path: pathOf(keys), from: live, to: desired });
            return;
        }
        for (let i = 0; i < desired.length; i++) {
            if (desired[i] === live[i]) continue;
            keys.push(i);
            walkSubset(desired[i], live[i], keys, out);
            keys.pop();
        }
        return;
    }
    if (!scalarEqual(desired, live)) out.push({ path: pathOf(keys), from: live, to: desired });
}

function scalarEqual(a: unknown, b: unknown): boolean {
    if (a === b) return true;
    // A declared null removes a field; a missing live field is then equal.
    if (a === null && b === undefined) return true;
    return false;
}

/** A copy without status and server-owned metadata, for comparing whole objects. */
export function withoutServerFields(obj: KubeObject): Record<string, unknown> {
    const { status: _status, ...rest } = obj as Record<string, unknown>;
    const meta = { ...(obj.metadata as Record<string, unknown>) };
    for (const k of SERVER_METADATA) delete meta[k];
    // kubectl's client-side bookkeeping is not ours to compare either.
    if (isMap(meta.annotations)) {
        const a = { ...meta.annotations };
        delete a["kubectl.kubernetes.io/last-applied-configuration"];
        meta.annotations = Object.keys(a).length ? a : undefined;
        if (meta.annotations === undefined) delete meta.annotations;
    }
    return { ...rest, metadata: meta };
}

/**
 * Every field that differs between two whole objects (used on a dry-run result against the live
 * object: both come from the server, so defaults are on both sides and cancel out).
 */
export function objectChanges(live: unknown, next: unknown, path = "", out: FieldChange[] = []): FieldChange[] {
    if (isMap(live) && isMap(next)) {
        const keys = new Set([...Object.keys(live), ...Object.keys(next)]);
        for (const k of [...keys].sort()) objectChanges(live[k], next[k], join(path, k), out);
        return out;
    }
    if (Array.isArray(live) && Array.isArray(next) && live.length === next.length) {
        live.forEach((l, i) => objectChanges(l, next[i], join(path, i), out));
        return out;
    }
    if (!deepEqual(live, next)) out.push({ path, from: live, to: next });
    return out;
}

export function deepEqual(a: unknown, b: unknown): boolean {
    if (a === b) return true;
    if (Array.isArray(a)) {
        return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
    }
    if (isMap(a) && isMap(b)) {
        const ka = Object.keys(a);
        if (ka.length !== Object.keys(b).length) return false;
        return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k]));
    }
    return false;
}

/**
 * Leaf field paths a field manager owns according to its managedFields entry (fieldsV1). Lists
 * (entries keyed k:, v:, i:) are leaves: their items are not descended into.
 */
export function ownedLeafPaths(fieldsV1: unknown, path = "", out: string[] = []): string[] {
    if (!isMap(fieldsV1)) return out;
    let children = 0;
    for (const [k, v] of Object.entries(fieldsV1)) {
        if (k.startsWith("f:")) {
            children++;
            const child = join(path, k.slice(2));
            if (isMap(v) && Object.keys(v).some((c) => c.startsWith("k:") || c.startsWith("v:") || c.startsWith("i:"))) out.push(child);
            else ownedLeafPaths(v, child, out);
        }
    }
    if (children === 0 && path) out.push(path);
    return out;
}

/** Every path a desired object declares (maps descended, lists and scalars as leaves), prefixes included. */
export function declaredPaths(obj: unknown, path = "", out = new Set<string>()): Set<string> {
    if (path) out.add(path);
    if (isMap(obj)) for (const [k, v] of Object.entries(obj)) declaredPaths(v, join(path, k), out);
    return out;
}

/**
 * Paths the live object says `manager` owns but `desired` no longer declares: server-side apply
 * would remove them, so the object is not unchanged even when every declared field matches.
 * Returns undefined when the live object carries no managedFields entry for the manager (the
 * server does not track them, or someone else created the object).
 */
export function undeclaredOwnedPaths(desired: KubeObject, live: KubeObject, manager: string): string[] | undefined {
    const mf = (live.metadata as { managedFields?: Array<{ manager?: string; operation?: string; fieldsV1?: unknown }> }).managedFields;
    if (!Array.isArray(mf)) return undefined;
    let found = false;
    const out: string[] = [];
    for (const m of mf) {
        if (m.manager !== manager || m.operation !== "Apply") continue;
        found = true;
        walkOwned(m.fieldsV1, desired, [], out);
    }
    return found ? out : undefined;
}

/** Walks a fieldsV1 set alongside the desired object; records owned fields the object lacks. */
function walkOwned(fields: unknown, desired: unknown, keys: string[], out: string[]): void {
    if (!isMap(fields)) return;
    for (const k in fields) {
        if (!k.startsWith("f:")) continue;
        const name = k.slice(2);
        if (keys.length === 0 && name === "status") continue;
        const has = isMap(desired) && Object.prototype.hasOwnProperty.call(desired, name);
        keys.push(name);
        if (!has) out.push(pathOf(keys));
        else {
            const child = fields[k];
            // A list (items keyed k:/v:/i:) is owned as a whole; its items are compared elsewhere.
            if (isMap(child) && !isListSet(child)) walkOwned(child, desired && (desired as Record<string, unknown>)[name], keys, out);
        }
        keys.pop();
    }
}

function isListSet(fields: Record<string, unknown>): boolean {
    for (const c in fields) if (c.startsWith("k:") || c.startsWith("v:") || c.startsWith("i:")) return true;
    return false;
}

type ManagedFieldsEntry = { manager?: string; operation?: string; subresource?: string; fieldsV1?: unknown };

function managedFieldsOf(o: KubeObject): ManagedFieldsEntry[] {
    const mf = (o.metadata as { managedFields?: ManagedFieldsEntry[] }).managedFields;
    return Array.isArray(mf) ? mf : [];
}

/**
 * Fields that other field managers owned in `before` and that `manager` owns instead in `after`
 * (a forced server-side apply takes fields whose values differ; equal values are shared, not
 * taken). One line per manager: `from <manager>: <path>, <path>`.
 */
export function takenOverFields(before: KubeObject, after: KubeObject, manager: string): string[] {
    const key = (m: ManagedFieldsEntry) => `${m.manager}\u0000${m.operation}\u0000${m.subresource ?? ""}`;
    const afterOwned = new Map<string, Set<string>>();
    const ours = new Set<string>();
    for (const m of managedFieldsOf(after)) {
        const paths = ownedLeafPaths(m.fieldsV1);
        afterOwned.set(key(m), new Set(paths));
        if (m.manager === manager && !m.subresource) for (const p of paths) ours.add(p);
    }
    const lost = new Map<string, string[]>();
    for (const m of managedFieldsOf(before)) {
        if (m.manager === manager || m.subresource) continue;
        const still = afterOwned.get(key(m));
        const taken = ownedLeafPaths(m.fieldsV1).filter((p) => !still?.has(p) && ours.has(p));
        if (taken.length) lost.set(m.manager ?? "?", [...(lost.get(m.manager ?? "?") ?? []), ...taken]);
    }
    return [...lost].map(([m, paths]) => `from ${m}: ${[...new Set(paths)].join(", ")}`);
}

/** True when the live object has managedFields at all (the server tracks field ownership). */
export function hasManagedFields(live: KubeObject): boolean {
    return Array.isArray((live.metadata as { managedFields?: unknown }).managedFields);
}

/** True when `manager` appears among the live object's field managers. */
export function isManagedBy(live: KubeObject, manager: string): boolean {
    const mf = (live.metadata as { managedFields?: Array<{ manager?: string }> }).managedFields;
    return Array.isArray(mf) && mf.some((m) => m.manager === manager);
}

/** Renders a value short enough for one summary line. */
export function shortValue(v: unknown, max = 60): string {
    if (v === undefined) return "<none>";
    const s = typeof v === "string" ? v : JSON.stringify(v);
    return s.length > max ? `${s.slice(0, max - 3)}...` : s;
}

/** `spec.replicas: 2 -> 3` */
export function formatChange(c: FieldChange): string {
    return `${c.path}: ${shortValue(c.from)} -> ${shortValue(c.to)}`;
}

/** Strings the API server may rewrite on the way in: resource quantities such as "1000m" or "0.5Gi". */
const QUANTITY = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+|[numkMGTPE]i?|Ki)?$/;

/**
 * True when a field-subset change is certain to be a real change, so no dry-run is needed to
 * confirm it: both sides are plain scalars of the same type that the server does not normalise
 * (numbers, booleans, strings that are not quantities). Missing fields, lists, maps, nulls and
 * quantity-like strings may be defaulted or normalised by the server and need a dry-run.
 */
export function isCertainChange(c: FieldChange): boolean {
    const t = typeof c.to;
    if (c.to === null || c.from === null || c.from === undefined || c.to === undefined) return false;
    if (t !== typeof c.from) return false;
    if (t === "number" || t === "boolean") return true;
    if (t === "string") return !QUANTITY.test(c.to as string) && !QUANTITY.test(c.from as string);
    return false;
}
