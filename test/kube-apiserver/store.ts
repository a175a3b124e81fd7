/**
 * The object store and its write pipeline: create, update (PUT), patch (merge, JSON, strategic,
 * apply), delete with finalizers, managedFields per manager, resourceVersion, generation, the
 * status subresource, namespaces, owner-reference cleanup, and the event history behind watch.
 * Everything here is generic over the resource registry; kind-specific bits are the defaults
 * and CRD validation at the bottom.
 */
import { randomUUID } from "crypto";
import {
    applyMerge, clone, decodeFieldsV1, deepEqual, diffSets, encodeFieldsV1, fieldSetOf, FieldSet, getAt, leaves,
    pathString, removeAt, Scope,
} from "./fields";
import { jsonPatch, mergePatch, PatchError, strategicMergePatch } from "./patch";
import { apiVersionOf, Registry, ResourceType, splitApiVersion } from "./registry";
import { matchLabels, parseFieldSelector, parseLabelSelector, SelectorError } from "./selectors";

/** An error the API server answers with a Status body. */
export class ApiError extends Error {
    constructor(readonly code: number, readonly reason: string, message: string, readonly details?: any) {
        super(message);
    }
    status(): any {
        const s: any = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message: this.message, reason: this.reason };
        if (this.details) s.details = this.details;
        s.code = this.code;
        return s;
    }
}

export function notFound(t: ResourceType, name: string): ApiError {
    return new ApiError(404, "NotFound", `${resourceName(t)} "${name}" not found`, { name, group: t.group || undefined, kind: t.plural });
}

function resourceName(t: ResourceType): string {
    return t.group ? `${t.plural}.${t.group}` : t.plural;
}

export function noSuchResource(): ApiError {
    return new ApiError(404, "NotFound", "the server could not find the requested resource", {});
}

function badRequest(message: string): ApiError {
    return new ApiError(400, "BadRequest", message);
}

function invalid(t: ResourceType, name: string, causes: Array<{ field: string; message: string }>): ApiError {
    return new ApiError(422, "Invalid",
        `${t.kind}${t.group ? `.${t.group}` : ""} "${name}" is invalid: ${causes.map((c) => `${c.field}: ${c.message}`).join(", ")}`,
        { name, group: t.group || undefined, kind: t.kind, causes: causes.map((c) => ({ reason: "FieldValueInvalid", message: c.message, field: c.field })) });
}

export function now(): string {
    return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

export interface WriteOptions {
    manager: string;
    dryRun?: boolean;
    subresource?: "status";
    force?: boolean;
    /** Writes by the emulated controllers do not trigger the controller hooks again. */
    internal?: boolean;
    /** ?fieldValidation=Strict|Warn|Ignore (default Warn): unknown fields of a CRD's schema. */
    fieldValidation?: string;
    /** Warnings for the Warning response header (filled in by the write). */
    warnings?: string[];
}

export interface WatchEvent {
    type: "ADDED" | "MODIFIED" | "DELETED";
    rv: number;
    group: string;
    kind: string;
    object: any;
    /** The object before a MODIFIED event (for filtered watches). */
    previous?: any;
}

/**
 * What a watcher filtered by `filter` sees of an event: a MODIFIED object that starts matching is
 * ADDED, one that stops matching is DELETED, like the real watch cache.
 */
export function filteredEvent(ev: WatchEvent, filter: (o: any) => boolean): WatchEvent | undefined {
    const now = filter(ev.object);
    if (ev.type !== "MODIFIED" || !ev.previous) return now ? ev : undefined;
    const before = filter(ev.previous);
    if (now && before) return ev;
    if (now) return { ...ev, type: "ADDED" };
    if (before) return { ...ev, type: "DELETED" };
    return undefined;
}

export interface Watcher {
    group: string;
    kind: string;
    namespace?: string;
    filter: (obj: any) => boolean;
    send(ev: WatchEvent): void;
    close(): void;
}

export type Hook = (t: ResourceType, old: any | undefined, next: any | undefined, opts: WriteOptions) => void;

interface Entry {
    manager: string;
    operation: "Apply" | "Update";
    apiVersion: string;
    time?: string;
    subresource?: string;
    set: FieldSet;
}

const HISTORY = 20000;
const BUILTIN_NAMESPACES = ["default", "kube-system"];
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export class Store {
    readonly registry = new Registry();
    private objects = new Map<string, any>();
    private counter = 1;
    private history: WatchEvent[] = [];
    private historyFloor = 0;
    readonly watchers = new Set<Watcher>();
    readonly hooks: Hook[] = [];
    private ipCounter = 10;

    constructor() {
        this.seed();
    }

    private seed(): void {
        const ns = this.registry.byKind("v1", "Namespace")!;
        for (const name of BUILTIN_NAMESPACES) {
            this.create(ns, undefined, { apiVersion: "v1", kind: "Namespace", metadata: { name } }, { manager: "kube-apiserver", internal: true });
        }
    }

    get resourceVersion(): number {
        return this.counter;
    }

    private key(group: string, kind: string, ns: string | undefined, name: string): string {
        return `${group}/${kind}/${ns ?? ""}/${name}`;
    }

    /** The stored object (internal: not a copy). */
    raw(t: ResourceType, ns: string | undefined, name: string): any | undefined {
        return this.objects.get(this.key(t.group, t.kind, t.namespaced ? ns : undefined, name));
    }

    /** A copy of the object as served at t's version. */
    get(t: ResourceType, ns: string | undefined, name: string): any | undefined {
        const o = this.raw(t, ns, name);
        return o && this.render(t, o);
    }

    render(t: ResourceType, o: any): any {
        const out = clone(o);
        out.apiVersion = apiVersionOf(t);
        return out;
    }

    /** Every stored object (copies), optionally of one group/kind. */
    all(group?: string, kind?: string): any[] {
        const out: any[] = [];
        for (const [k, o] of this.objects) {
            const [g, kd] = k.split("/");
            if (group !== undefined && g !== group) continue;
            if (kind !== undefined && kd !== kind) continue;
            out.push(clone(o));
        }
        return out;
    }

    list(t: ResourceType, ns: string | undefined, labelSelector?: string, fieldSelector?: string): any[] {
        const filter = this.filter(labelSelector, fieldSelector);
        const out: any[] = [];
        for (const o of this.objects.values()) {
            if (splitApiVersion(o.apiVersion).group !== t.group || o.kind !== t.kind) continue;
            if (ns && t.namespaced && o.metadata.namespace !== ns) continue;
            if (filter(o)) out.push(this.render(t, o));
        }
        return out.sort((a, b) => `${a.metadata.namespace ?? ""}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace ?? ""}/${b.metadata.name}`));
    }

    filter(labelSelector?: string, fieldSelector?: string): (o: any) => boolean {
        try {
            const reqs = labelSelector ? parseLabelSelector(labelSelector) : [];
            const fields = fieldSelector ? parseFieldSelector(fieldSelector) : () => true;
            return (o) => matchLabels(reqs, o.metadata?.labels) && fields(o);
        } catch (e) {
            if (e instanceof SelectorError) throw badRequest(e.message);
            throw e;
        }
    }

    // ------------------------------------------------------------------------------------------
    // Writes

    private checkNamespace(t: ResourceType, ns: string | undefined, creating: boolean): void {
        if (!t.namespaced) return;
        if (!ns) throw badRequest("the server could not find the requested resource (namespace is required)");
        const nsType = this.registry.byKind("v1", "Namespace")!;
        const n = this.raw(nsType, undefined, ns);
        if (!n) throw new ApiError(404, "NotFound", `namespaces "${ns}" not found`, { name: ns, kind: "namespaces" });
        if (creating && n.metadata.deletionTimestamp) {
            throw new ApiError(403, "Forbidden",
                `${t.plural} is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
                { name: ns, kind: t.plural, causes: [{ reason: "NamespaceTerminating", message: `namespace ${ns} is being terminated`, field: "metadata.namespace" }] });
        }
    }

    private checkMeta(t: ResourceType, body: any, ns: string | undefined, name?: string): void {
        if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("the request body must be an object");
        body.metadata ??= {};
        if (name !== undefined && body.metadata.name !== undefined && body.metadata.name !== name) {
            throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
        }
        if (t.namespaced && body.metadata.namespace !== undefined && ns !== undefined && body.metadata.namespace !== ns) {
            throw badRequest("the namespace of the provided object does not match the namespace sent on the request");
        }
        if (body.kind !== undefined && body.kind !== t.kind) {
            throw badRequest(`the kind of the object (${body.kind}) does not match the kind of the URL (${t.kind})`);
        }
        if (body.apiVersion !== undefined) {
            const { group, version } = splitApiVersion(body.apiVersion);
            if (group !== t.group || version !== t.version) {
                throw badRequest(`the API version in the data (${body.apiVersion}) does not match the expected API version (${apiVersionOf(t)})`);
            }
        }
    }

    create(t: ResourceType, ns: string | undefined, body: any, opts: WriteOptions): any {
        this.checkMeta(t, body, ns);
        const obj = clone(body);
        obj.apiVersion = apiVersionOf(t);
        obj.kind = t.kind;
        if (!obj.metadata.name && obj.metadata.generateName) {
            obj.metadata.name = obj.metadata.generateName + Math.random().toString(36).slice(2, 7);
        }
        const name = obj.metadata.name;
        if (!name) throw invalid(t, "", [{ field: "metadata.name", message: "Required value: name or generateName is required" }]);
        if (t.namespaced) obj.metadata.namespace = ns;
        else delete obj.metadata.namespace;
        this.checkNamespace(t, ns, true);
        if (this.raw(t, ns, name)) {
            throw new ApiError(409, "AlreadyExists", `${resourceName(t)} "${name}" already exists`, { name, group: t.group || undefined, kind: t.plural });
        }
        for (const k of ["uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"]) {
            delete obj.metadata[k];
        }
        if (t.statusSubresource && t.kind !== "Namespace") delete obj.status;
        this.prune(t, obj, opts);
        this.validate(t, obj);
        defaults(t, obj, undefined, this);
        const entries: Entry[] = [];
        updateEntries(entries, t, {}, obj, opts, "main");
        writeEntries(obj, entries);
        obj.metadata.uid = randomUUID();
        obj.metadata.creationTimestamp = now();
        if (t.generation) obj.metadata.generation = 1;
        return this.commit(t, undefined, obj, opts);
    }

    /** PUT: replaces the object (or its status), with optimistic concurrency on resourceVersion. */
    update(t: ResourceType, ns: string | undefined, name: string, body: any, opts: WriteOptions): any {
        this.checkMeta(t, body, ns, name);
        const old = this.raw(t, ns, name);
        // No kind here allows create-on-update (the real server allows it only for a few others).
        if (!old) throw notFound(t, name);
        this.checkVersion(t, old, body.metadata.resourceVersion);
        let cand = clone(body);
        cand.apiVersion = old.apiVersion;
        cand.kind = t.kind;
        this.prune(t, cand, opts);
        const given = cand.metadata.managedFields;
        const next = this.prepare(t, old, cand, opts);
        const entries = readEntries(Array.isArray(given) && given.length ? { metadata: { managedFields: given } } : old);
        if (Array.isArray(given) && given.length === 1 && !Object.keys(given[0] ?? {}).length) entries.length = 0;
        updateEntries(entries, t, old, next, opts, opts.subresource ?? "main");
        writeEntries(next, entries);
        return this.finish(t, old, next, opts);
    }

    patch(t: ResourceType, ns: string | undefined, name: string, contentType: string, raw: string, opts: WriteOptions): any {
        const type = contentType.split(";")[0].trim();
        if (type === "application/apply-patch+yaml" || type === "application/apply-patch+cbor") {
            return this.apply(t, ns, name, raw, opts);
        }
        let body: any;
        try {
            body = JSON.parse(raw);
        } catch (e) {
            throw badRequest(`error decoding patch: ${(e as Error).message}`);
        }
        const old = this.raw(t, ns, name);
        if (!old) throw notFound(t, name);
        let patched: any;
        try {
            switch (type) {
                case "application/merge-patch+json": patched = mergePatch(old, body); break;
                case "application/json-patch+json": patched = jsonPatch(old, body); break;
                case "application/strategic-merge-patch+json":
                    if (!t.builtin) {
                        throw new ApiError(415, "UnsupportedMediaType",
                            "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml");
                    }
                    patched = strategicMergePatch(old, body, t);
                    break;
                default:
                    throw new ApiError(415, "UnsupportedMediaType",
                        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${t.builtin ? ", application/strategic-merge-patch+json" : ""}`);
            }
        } catch (e) {
            if (e instanceof PatchError) throw new ApiError(e.code, e.code === 400 ? "BadRequest" : "Invalid", e.message);
            throw e;
        }
        if (typeof patched !== "object" || patched === null) throw badRequest("the patched object must be an object");
        patched.metadata ??= {};
        if (patched.metadata.resourceVersion !== undefined && patched.metadata.resourceVersion !== old.metadata.resourceVersion) {
            this.checkVersion(t, old, patched.metadata.resourceVersion);
        }
        this.prune(t, patched, opts);
        if (patched.metadata.name !== name) throw badRequest(`metadata.name: Invalid value: the name of the object cannot be changed by a patch`);
        const next = this.prepare(t, old, patched, opts);
        const entries = readEntries(old);
        updateEntries(entries, t, old, next, opts, opts.subresource ?? "main");
        writeEntries(next, entries);
        return this.finish(t, old, next, opts);
    }

    /** Server-side apply: ownership per field manager, conflicts unless force. */
    apply(t: ResourceType, ns: string | undefined, name: string, raw: string, opts: WriteOptions): any {
        let body: any;
        try {
            body = (require("yaml") as typeof import("yaml")).parse(raw);
        } catch (e) {
            throw badRequest(`error decoding YAML: ${(e as Error).message}`);
        }
        if (!opts.manager) throw badRequest("PATCH /apply requires fieldManager to be set: fieldManager is required for apply requests");
        if (typeof body !== "object" || body === null || Array.isArray(body)) throw badRequest("the applied configuration must be an object");
        if (!body.apiVersion || !body.kind) throw badRequest("invalid object type: apiVersion and kind must be set in an applied configuration");
        this.checkMeta(t, body, ns, name);
        if (body.metadata.managedFields !== undefined) throw badRequest("metadata.managedFields must be nil");
        const scope: Scope = opts.subresource ?? "main";
        const old = this.raw(t, ns, name);
        if (!old) {
            if (opts.subresource) throw notFound(t, name);
            this.checkNamespace(t, ns, true);
        }
        if (old && body.metadata.resourceVersion !== undefined) this.checkVersion(t, old, body.metadata.resourceVersion);
        const base = old ?? { apiVersion: apiVersionOf(t), kind: t.kind, metadata: { name, ...(t.namespaced ? { namespace: ns } : {}) } };
        const applied = clone(body);
        delete applied.metadata.resourceVersion;
        if (scope === "status") {
            for (const k of Object.keys(applied)) if (k !== "status" && k !== "apiVersion" && k !== "kind") delete applied[k];
        } else if (t.statusSubresource && t.kind !== "Namespace") delete applied.status;
        this.prune(t, applied, opts);
        const A = fieldSetOf(applied, t, scope);
        const entries = readEntries(base);
        const mine = entries.find((e) => e.manager === opts.manager && e.operation === "Apply" && (e.subresource ?? "") === (opts.subresource ?? ""));
        const conflicts: Array<{ entry: Entry; path: string }> = [];
        const aLeaves = leaves(A);
        for (const e of entries) {
            if (e === mine) continue;
            for (const p of aLeaves) {
                if (e.set.has(p) && !deepEqual(getAt(base, p), getAt(applied, p))) conflicts.push({ entry: e, path: p });
            }
        }
        if (conflicts.length && !opts.force) throw conflictError(conflicts);
        for (const c of conflicts) c.entry.set.delete(c.path);
        let merged = applyMerge(base, { ...applied, apiVersion: base.apiVersion }, t);
        const previous = mine?.set ?? new Set<string>();
        const others = entries.filter((e) => e !== mine);
        const dropped = [...previous].filter((p) => !A.has(p)).sort(); // parents before children
        for (const p of dropped) {
            if (others.some((e) => e.set.has(p) || [...e.set].some((q) => q.startsWith(p + "\n")))) continue;
            removeAt(merged, p);
        }
        let next: any;
        if (old) {
            next = this.prepare(t, old, merged, opts);
        } else {
            merged.metadata.name = name;
            for (const k of ["uid", "resourceVersion", "generation", "creationTimestamp"]) delete merged.metadata[k];
            this.validate(t, merged);
            defaults(t, merged, undefined, this);
            merged.metadata.uid = randomUUID();
            merged.metadata.creationTimestamp = now();
            if (t.generation) merged.metadata.generation = 1;
            next = merged;
        }
        const entry: Entry = mine ?? { manager: opts.manager, operation: "Apply", apiVersion: apiVersionOf(t), set: new Set() };
        if (!mine) entries.push(entry);
        const changedOwnership = !setsEqual(entry.set, A) || conflicts.length > 0;
        entry.set = A;
        entry.apiVersion = apiVersionOf(t);
        if (opts.subresource) entry.subresource = opts.subresource;
        if (changedOwnership || !old || !deepEqual(stripMeta(old), stripMeta(next))) entry.time = now();
        writeEntries(next, entries);
        if (!old) return this.commit(t, undefined, next, opts);
        return this.finish(t, old, next, opts);
    }

    private checkVersion(t: ResourceType, old: any, rv: unknown): void {
        if (rv === undefined || rv === null || rv === "") return;
        if (String(rv) !== old.metadata.resourceVersion) {
            throw new ApiError(409, "Conflict",
                `Operation cannot be fulfilled on ${resourceName(t)} "${old.metadata.name}": the object has been modified; please apply your changes to the latest version and try again`,
                { name: old.metadata.name, group: t.group || undefined, kind: t.plural });
        }
    }

    /** The candidate next state of `old`, with system metadata kept and status/spec scoping applied. */
    private prepare(t: ResourceType, old: any, cand: any, opts: WriteOptions): any {
        let next: any;
        if (opts.subresource === "status") {
            next = clone(old);
            if (cand.status === undefined) delete next.status;
            else next.status = clone(cand.status);
        } else {
            next = clone(cand);
            next.apiVersion = old.apiVersion;
            next.kind = old.kind;
            next.metadata ??= {};
            if (t.statusSubresource && t.kind !== "Namespace") {
                if (old.status === undefined) delete next.status;
                else next.status = clone(old.status);
            }
            if (t.kind === "Namespace") next.status = clone(old.status);
        }
        const m = next.metadata;
        for (const k of ["name", "namespace", "uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "resourceVersion"]) {
            if (old.metadata[k] === undefined) delete m[k];
            else m[k] = old.metadata[k];
        }
        if (old.metadata.deletionTimestamp) {
            const had = new Set<string>(old.metadata.finalizers ?? []);
            const added = (m.finalizers ?? []).filter((f: string) => !had.has(f));
            if (added.length) {
                throw invalid(t, old.metadata.name, [{ field: "metadata.finalizers", message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}` }]);
            }
        }
        this.validate(t, next);
        defaults(t, next, old, this);
        if (t.generation && !deepEqual(specOf(t, old), specOf(t, next))) m.generation = (old.metadata.generation ?? 1) + 1;
        return next;
    }

    /** Commits an update unless nothing changed (a no-op keeps resourceVersion, like the real server). */
    private finish(t: ResourceType, old: any, next: any, opts: WriteOptions): any {
        if (deepEqual(old, next)) return this.render(t, old);
        if (deepEqual(stripMeta(old), stripMeta(next)) && sameOwnership(old, next)) return this.render(t, old);
        return this.commit(t, old, next, opts);
    }

    private commit(t: ResourceType, old: any | undefined, next: any | undefined, opts: WriteOptions): any {
        if (opts.dryRun) {
            const out = next ?? old;
            return out && this.render(t, out);
        }
        const meta = (next ?? old).metadata;
        const key = this.key(t.group, t.kind, t.namespaced ? meta.namespace : undefined, meta.name);
        const rv = ++this.counter;
        if (next) {
            next.metadata.resourceVersion = String(rv);
            if (next.metadata.deletionTimestamp && !(next.metadata.finalizers ?? []).length && !(t.kind === "Namespace" && (next.spec?.finalizers ?? []).length)) {
                // The last finalizer is gone: the object goes away.
                this.objects.delete(key);
                this.emit({ type: "DELETED", rv, group: t.group, kind: t.kind, object: clone(next) });
                this.afterRemove(t, next);
                return this.render(t, next);
            }
            this.objects.set(key, next);
            this.emit({ type: old ? "MODIFIED" : "ADDED", rv, group: t.group, kind: t.kind, object: clone(next), ...(old ? { previous: clone(old) } : {}) });
            for (const h of this.hooks) h(t, old, next, opts);
            return this.render(t, this.objects.get(key) === next ? next : next);
        }
        const gone = clone(old);
        gone.metadata.resourceVersion = String(rv);
        this.objects.delete(key);
        this.emit({ type: "DELETED", rv, group: t.group, kind: t.kind, object: clone(gone) });
        this.afterRemove(t, gone);
        return this.render(t, gone);
    }

    private emit(ev: WatchEvent): void {
        this.history.push(ev);
        if (this.history.length > HISTORY) this.historyFloor = this.history.shift()!.rv;
        for (const w of this.watchers) {
            if (w.group !== ev.group || w.kind !== ev.kind) continue;
            if (w.namespace && ev.object.metadata.namespace !== w.namespace) continue;
            const seen = filteredEvent(ev, w.filter);
            if (seen) w.send(seen);
        }
    }

    /** Events after `rv` for a watcher, or undefined when history no longer reaches back that far. */
    eventsSince(rv: number): WatchEvent[] | undefined {
        if (rv < this.historyFloor) return undefined;
        return this.history.filter((e) => e.rv > rv);
    }

    delete(t: ResourceType, ns: string | undefined, name: string, options: any, opts: WriteOptions): { code: number; object: any } {
        const old = this.raw(t, ns, name);
        if (!old) throw notFound(t, name);
        const pre = options?.preconditions ?? {};
        if (pre.uid && pre.uid !== old.metadata.uid) {
            throw new ApiError(409, "Conflict", `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${old.metadata.uid}`, { name, kind: t.plural });
        }
        if (pre.resourceVersion) this.checkVersion(t, old, pre.resourceVersion);
        const policy = options?.propagationPolicy ?? (options?.orphanDependents ? "Orphan" : undefined);
        if (policy && !["Orphan", "Background", "Foreground"].includes(policy)) {
            throw invalid(t, name, [{ field: "propagationPolicy", message: `Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"` }]);
        }
        const orphan = policy === "Orphan";
        const finalizers: string[] = old.metadata.finalizers ?? [];
        if (t.kind === "Namespace") {
            if (!old.metadata.deletionTimestamp) {
                const next = clone(old);
                next.metadata.deletionTimestamp = now();
                next.status = { ...(next.status ?? {}), phase: "Terminating" };
                const out = this.commit(t, old, next, opts);
                if (!opts.dryRun) this.drainNamespace(name);
                return { code: 200, object: out };
            }
            return { code: 200, object: this.render(t, old) };
        }
        if (finalizers.length) {
            if (old.metadata.deletionTimestamp) return { code: 202, object: this.render(t, old) };
            const next = clone(old);
            next.metadata.deletionTimestamp = now();
            next.metadata.deletionGracePeriodSeconds = 0;
            if (t.generation) next.metadata.generation = (old.metadata.generation ?? 1) + 1;
            return { code: 202, object: this.commit(t, old, next, opts) };
        }
        const out = this.commit(t, old, undefined, { ...opts, ...(orphan ? { orphan: true } : {}) } as WriteOptions);
        if (!opts.dryRun && orphan) this.orphaned.add(old.metadata.uid);
        return { code: 200, object: out };
    }

    private orphaned = new Set<string>();

    /** After an object is gone: dependents are deleted (or orphaned), a terminating namespace may finish. */
    private afterRemove(t: ResourceType, gone: any): void {
        const uid = gone.metadata.uid;
        if (t.kind === "CustomResourceDefinition") this.removeCrd(gone);
        const orphan = this.orphaned.delete(uid);
        for (const o of [...this.objects.values()]) {
            const refs: any[] = o.metadata.ownerReferences ?? [];
            if (!refs.some((r) => r.uid === uid)) continue;
            const ot = this.typeOf(o);
            if (!ot) continue;
            if (orphan) {
                const next = clone(o);
                next.metadata.ownerReferences = refs.filter((r) => r.uid !== uid);
                if (!next.metadata.ownerReferences.length) delete next.metadata.ownerReferences;
                this.commit(ot, o, next, { manager: "kube-controller-manager", internal: true });
            } else if (!o.metadata.deletionTimestamp) {
                this.delete(ot, o.metadata.namespace, o.metadata.name, {}, { manager: "kube-controller-manager", internal: true });
            }
        }
        const ns = gone.metadata.namespace;
        if (ns) this.maybeFinishNamespace(ns);
    }

    /** The registered type (any served version) of a stored object. */
    typeOf(o: any): ResourceType | undefined {
        return this.registry.byKind(o.apiVersion, o.kind) ?? this.registry.anyVersion(splitApiVersion(o.apiVersion).group, o.kind);
    }

    private drainNamespace(ns: string): void {
        for (const o of [...this.objects.values()]) {
            if (o.metadata.namespace !== ns || o.metadata.deletionTimestamp) continue;
            const t = this.typeOf(o);
            if (t && this.raw(t, ns, o.metadata.name)) this.delete(t, ns, o.metadata.name, {}, { manager: "namespace-controller", internal: true });
        }
        this.maybeFinishNamespace(ns);
    }

    private maybeFinishNamespace(ns: string): void {
        const nsType = this.registry.byKind("v1", "Namespace")!;
        const n = this.raw(nsType, undefined, ns);
        if (!n?.metadata.deletionTimestamp) return;
        for (const o of this.objects.values()) if (o.metadata.namespace === ns) return;
        this.commit(nsType, n, undefined, { manager: "namespace-controller", internal: true });
    }

    deleteCollection(t: ResourceType, ns: string | undefined, labelSelector: string | undefined, fieldSelector: string | undefined, options: any, opts: WriteOptions): any[] {
        return this.list(t, ns, labelSelector, fieldSelector).map((o) =>
            this.delete(t, o.metadata.namespace, o.metadata.name, options, opts).object);
    }

    // ------------------------------------------------------------------------------------------
    // Controller-side helpers

    /**
     * Rewrites an object's status as a controller would (an Update on the status subresource, or
     * on the main resource for kinds without one). `mutate` edits a copy of the object.
     */
    writeStatus(t: ResourceType, ns: string | undefined, name: string, manager: string, mutate: (o: any) => void): any | undefined {
        const old = this.raw(t, ns, name);
        if (!old) return undefined;
        const cand = clone(old);
        mutate(cand);
        const opts: WriteOptions = { manager, internal: true, ...(t.statusSubresource ? { subresource: "status" as const } : {}) };
        const next = this.prepare(t, old, cand, opts);
        const entries = readEntries(old);
        updateEntries(entries, t, old, next, opts, opts.subresource ?? "main");
        writeEntries(next, entries);
        return this.finish(t, old, next, opts);
    }

    /** Drops every object (CRDs too) and recreates the built-in namespaces; resourceVersion keeps counting. */
    wipe(): void {
        this.objects.clear();
        this.registry.resetCrds();
        this.history = [];
        this.historyFloor = this.counter + 1; // every resourceVersion handed out so far is now too old
        for (const w of [...this.watchers]) w.close();
        this.seed();
    }

    snapshot(): { objects: Array<[string, any]>; crds: any[] } {
        return { objects: [...this.objects].map(([k, v]) => [k, clone(v)]), crds: this.all("apiextensions.k8s.io", "CustomResourceDefinition") };
    }

    restore(s: { objects: Array<[string, any]> }): void {
        this.objects = new Map(s.objects.map(([k, v]) => [k, clone(v)]));
        this.registry.resetCrds();
        for (const crd of this.all("apiextensions.k8s.io", "CustomResourceDefinition")) {
            if ((crd.status?.conditions ?? []).some((c: any) => c.type === "Established" && c.status === "True")) this.registry.registerCrd(crd);
        }
        this.history = [];
        this.historyFloor = ++this.counter;
        for (const w of [...this.watchers]) w.close();
    }

    // ------------------------------------------------------------------------------------------
    // Kind-specific validation

    private validate(t: ResourceType, obj: any): void {
        const name = obj.metadata?.name ?? "";
        const re = t.kind === "Namespace" || t.kind === "Service" ? DNS1123_LABEL : DNS1123_SUBDOMAIN;
        const rbac = t.group === "rbac.authorization.k8s.io";
        if (!rbac && (!re.test(name) || name.length > 253)) {
            throw invalid(t, name, [{
                field: "metadata.name",
                message: `Invalid value: "${name}": a lowercase RFC 1123 ${re === DNS1123_LABEL ? "label" : "subdomain"} must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
            }]);
        }
        for (const [k, v] of Object.entries(obj.metadata?.labels ?? {})) {
            if (typeof v !== "string") {
                throw invalid(t, name, [{ field: `metadata.labels`, message: `Invalid value: ${JSON.stringify(v)}: label ${k} must be a string` }]);
            }
        }
        if (t.kind === "CustomResourceDefinition") validateCrd(t, obj);
    }

    /**
     * Drops fields a CRD's structural schema does not declare (unless it preserves unknown
     * fields there), like the real server's pruning; with fieldValidation=Strict they are an error,
     * with Warn (the default) a warning.
     */
    private prune(t: ResourceType, obj: any, opts: WriteOptions): void {
        if (t.builtin || !t.schema) return;
        const unknown: string[] = [];
        const walk = (v: any, schema: any, path: string): void => {
            if (!schema || v === null || typeof v !== "object") return;
            if (Array.isArray(v)) {
                for (let i = 0; i < v.length; i++) walk(v[i], schema.items, `${path}[${i}]`);
                return;
            }
            const props = schema.properties;
            const extra = schema.additionalProperties;
            for (const k of Object.keys(v)) {
                const child = path ? `${path}.${k}` : k;
                if (props && k in props) walk(v[k], props[k], child);
                else if (extra && typeof extra === "object") walk(v[k], extra, child);
                else if (extra === true || schema["x-kubernetes-preserve-unknown-fields"]) continue;
                else if (!props && !extra && schema.type !== "object") continue;
                else {
                    unknown.push(child);
                    delete v[k];
                }
            }
        };
        for (const k of Object.keys(obj)) {
            if (k === "apiVersion" || k === "kind" || k === "metadata") continue;
            const top = t.schema.properties?.[k];
            if (top) walk(obj[k], top, k);
            else if (!t.schema["x-kubernetes-preserve-unknown-fields"]) {
                unknown.push(k);
                delete obj[k];
            }
        }
        if (!unknown.length) return;
        const mode = opts.fieldValidation ?? "Warn";
        if (mode === "Strict") {
            throw badRequest(`${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${unknown.map((u) => `unknown field "${u}"`).join(", ")}`);
        }
        if (mode === "Warn") for (const u of unknown) (opts.warnings ??= []).push(`unknown field "${u}"`);
    }

    private removeCrd(crd: any): void {
        const gone = this.registry.unregisterCrd(crd.metadata.name);
        const group = crd.spec?.group, kind = crd.spec?.names?.kind;
        if (!gone.length && !group) return;
        for (const [k, o] of [...this.objects]) {
            if (splitApiVersion(o.apiVersion).group === group && o.kind === kind) {
                this.objects.delete(k);
                this.emit({ type: "DELETED", rv: ++this.counter, group, kind, object: clone(o) });
            }
        }
    }

    allocateClusterIP(): string {
        const n = this.ipCounter++;
        return `10.96.${Math.floor(n / 250)}.${(n % 250) + 1}`;
    }
}

function validateCrd(t: ResourceType, crd: any): void {
    const spec = crd.spec ?? {};
    const causes: Array<{ field: string; message: string }> = [];
    const names = spec.names ?? {};
    if (!spec.group) causes.push({ field: "spec.group", message: "Required value" });
    if (!names.plural) causes.push({ field: "spec.names.plural", message: "Required value" });
    if (!names.kind) causes.push({ field: "spec.names.kind", message: "Required value" });
    if (spec.scope !== "Namespaced" && spec.scope !== "Cluster") {
        causes.push({ field: "spec.scope", message: `Unsupported value: ${JSON.stringify(spec.scope ?? "")}: supported values: "Cluster", "Namespaced"` });
    }
    if (names.plural && spec.group && crd.metadata.name !== `${names.plural}.${spec.group}`) {
        causes.push({ field: "metadata.name", message: `Invalid value: "${crd.metadata.name}": must be spec.names.plural+"."+spec.group` });
    }
    const versions: any[] = spec.versions ?? [];
    if (!versions.length) causes.push({ field: "spec.versions", message: "Invalid value: must have exactly one version marked as storage version" });
    else if (versions.filter((v) => v.storage).length !== 1) {
        causes.push({ field: "spec.versions", message: "Invalid value: must have exactly one version marked as storage version" });
    }
    if (causes.length) throw invalid(t, crd.metadata.name, causes);
}

/** Everything but metadata (and status when it is a subresource): what bumps generation, as for CRs. */
function specOf(t: ResourceType, o: any): any {
    const { metadata, status, ...rest } = o;
    return t.statusSubresource ? rest : { ...rest, status };
}

function stripMeta(o: any): any {
    const c = clone(o);
    delete c.metadata.managedFields;
    delete c.metadata.resourceVersion;
    return c;
}

function setsEqual(a: Set<string>, b: Set<string>): boolean {
    return a.size === b.size && [...a].every((x) => b.has(x));
}

function sameOwnership(a: any, b: any): boolean {
    const strip = (o: any) => (o.metadata.managedFields ?? []).map((e: any) => ({ ...e, time: undefined }));
    return deepEqual(JSON.parse(JSON.stringify(strip(a))), JSON.parse(JSON.stringify(strip(b))));
}

function readEntries(o: any): Entry[] {
    return (o?.metadata?.managedFields ?? []).filter((e: any) => e && e.manager !== undefined).map((e: any) => ({
        manager: e.manager, operation: e.operation, apiVersion: e.apiVersion, time: e.time,
        ...(e.subresource ? { subresource: e.subresource } : {}), set: decodeFieldsV1(e.fieldsV1 ?? {}),
    }));
}

function writeEntries(o: any, entries: Entry[]): void {
    const kept = entries.filter((e) => e.set.size);
    if (!kept.length) { delete o.metadata.managedFields; return; }
    o.metadata.managedFields = kept.map((e) => {
        const out: any = { manager: e.manager, operation: e.operation, apiVersion: e.apiVersion };
        if (e.time) out.time = e.time;
        out.fieldsType = "FieldsV1";
        out.fieldsV1 = encodeFieldsV1(e.set);
        if (e.subresource) out.subresource = e.subresource;
        return out;
    });
}

/** An Update by `opts.manager`: it takes the fields it changed; removed fields leave every set. */
function updateEntries(entries: Entry[], t: ResourceType, before: any, after: any, opts: WriteOptions, scope: Scope): void {
    const { changed, removed } = diffSets(before, after, t, scope);
    const sub = scope === "status" ? "status" : "";
    let mine = entries.find((e) => e.manager === opts.manager && e.operation === "Update" && (e.subresource ?? "") === sub);
    for (const e of entries) {
        for (const p of removed) e.set.delete(p);
        if (e !== mine) for (const p of changed) e.set.delete(p);
        // Paths (in this write's scope) that no longer exist are nobody's any more.
        for (const p of [...e.set]) {
            const top = p.slice(0, p.indexOf("\n") < 0 ? undefined : p.indexOf("\n"));
            const inScope = scope === "status" ? top === "f:status" : !(top === "f:status" && t.statusSubresource);
            if (inScope && getAt(after, p) === undefined) e.set.delete(p);
        }
    }
    if (!changed.length) return;
    if (!mine) {
        mine = { manager: opts.manager, operation: "Update", apiVersion: apiVersionOf(t), set: new Set(), ...(sub ? { subresource: sub } : {}) };
        entries.push(mine);
    }
    for (const p of changed) mine.set.add(p);
    mine.apiVersion = apiVersionOf(t);
    mine.time = now();
}

function conflictError(conflicts: Array<{ entry: Entry; path: string }>): ApiError {
    const who = (e: Entry) => {
        let s = JSON.stringify(e.manager);
        if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
        if (e.operation === "Update") s += e.time ? ` using ${e.apiVersion} at ${e.time}` : ` using ${e.apiVersion}`;
        return s;
    };
    let message: string;
    if (conflicts.length === 1) {
        message = `Apply failed with 1 conflict: conflict with ${who(conflicts[0].entry)}: ${pathString(conflicts[0].path)}`;
    } else {
        const by = new Map<string, string[]>();
        for (const c of conflicts) by.set(who(c.entry), [...(by.get(who(c.entry)) ?? []), pathString(c.path)]);
        const lines: string[] = [];
        for (const m of [...by.keys()].sort()) {
            lines.push(`conflicts with ${m}:`);
            for (const p of by.get(m)!) lines.push(`- ${p}`);
        }
        message = `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
    }
    return new ApiError(409, "Conflict", message, {
        causes: conflicts.map((c) => ({ reason: "FieldManagerConflict", message: `conflict with ${who(c.entry)}`, field: pathString(c.path) })),
    });
}

// ----------------------------------------------------------------------------------------------
// Defaults the real API server fills in (the ones clients commonly compare against)

function defaults(t: ResourceType, o: any, old: any | undefined, store: Store): void {
    if (!t.builtin) return;
    switch (t.kind) {
        case "Namespace":
            o.metadata.labels = { ...(o.metadata.labels ?? {}), "kubernetes.io/metadata.name": o.metadata.name };
            o.spec = { ...(o.spec ?? {}), finalizers: o.spec?.finalizers ?? old?.spec?.finalizers ?? ["kubernetes"] };
            o.status ??= old?.status ?? { phase: "Active" };
            break;
        case "Secret":
            o.type ??= old?.type ?? "Opaque";
            if (o.stringData) {
                o.data = { ...(o.data ?? {}) };
                for (const [k, v] of Object.entries(o.stringData)) o.data[k] = Buffer.from(String(v)).toString("base64");
                delete o.stringData;
            }
            break;
        case "Service": {
            const spec = (o.spec ??= {});
            spec.type ??= "ClusterIP";
            if (spec.type !== "ExternalName") {
                spec.clusterIP ??= old?.spec?.clusterIP ?? store.allocateClusterIP();
                spec.clusterIPs ??= [spec.clusterIP];
            }
            spec.sessionAffinity ??= "None";
            spec.internalTrafficPolicy ??= "Cluster";
            for (const p of spec.ports ?? []) {
                p.protocol ??= "TCP";
                p.targetPort ??= p.port;
            }
            o.status ??= old?.status ?? { loadBalancer: {} };
            break;
        }
        case "Deployment": {
            const spec = (o.spec ??= {});
            spec.replicas ??= 1;
            spec.revisionHistoryLimit ??= 10;
            spec.progressDeadlineSeconds ??= 600;
            spec.strategy ??= { type: "RollingUpdate", rollingUpdate: { maxSurge: "25%", maxUnavailable: "25%" } };
            for (const c of spec.template?.spec?.containers ?? []) for (const p of c.ports ?? []) p.protocol ??= "TCP";
            break;
        }
    }
}
