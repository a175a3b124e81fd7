/**
 * A small Kubernetes API client for the reconcile engine.
 *
 * Design choice: @kubernetes/client-node is used only to resolve credentials that need its
 * plugin machinery (exec plugins, auth providers; see kubeconfig.ts — plain certificates,
 * tokens and CA data are read directly, since loading the library costs seconds and ~100 MB).
 * Requests are made with Node's own http/https and a keep-alive agent. The library's generic KubernetesObjectApi
 * hides the HTTP status (we need 201-vs-200, Retry-After and the Status body), does not retry,
 * and round-trips every object through its typed model serializer, which is slow for thousands
 * of objects. Here every call gets: retries with backoff on 429 (Retry-After honoured), 5xx
 * and broken connections; errors that name the object and quote the server; and discovery that
 * refreshes when a kind is unknown (CRDs applied mid-run).
 */
import * as http from "http";
import * as https from "https";
import { GitopsError } from "../errors";
import { redactObjectError } from "./secrets";
import { KubeObject } from "../flux/api";
import { formatId, joinApiVersion, objectId, splitApiVersion } from "./ids";
import { selectKubeconfig } from "./kubeconfig";
import { backoffDelay, DEFAULT_RETRY, isRetryableError, isRetryableStatus, parseRetryAfter, RetryPolicy, sleep } from "./retry";

/** The field manager every server-side apply of ours uses. */
export const FIELD_MANAGER = "gitops-platform";

/** One resource type as discovery reports it. */
export interface ApiResource {
    readonly group: string;
    readonly version: string;
    readonly kind: string;
    /** The plural resource name used in URLs, e.g. "deployments". */
    readonly plural: string;
    readonly namespaced: boolean;
}

export interface ApplyRequestOptions {
    /** Ask what the object would become, store nothing. */
    readonly dryRun?: boolean;
    /** Take ownership of conflicting fields. Default true. */
    readonly force?: boolean;
    /** Another field manager than the client's, for bookkeeping objects that are not part of the applied set. */
    readonly fieldManager?: string;
}

/** An HTTP error from the API server, with the server's own message. */
export class ApiError extends Error {
    constructor(
        readonly status: number,
        readonly reason: string,
        readonly serverMessage: string,
        readonly method: string,
        readonly path: string,
    ) {
        super(`${method} ${path}: HTTP ${status}${reason ? ` ${reason}` : ""}: ${serverMessage}`);
        this.name = "ApiError";
    }
}

export interface ClientOptions {
    /** Retry policy for every request. */
    readonly retry?: Partial<RetryPolicy>;
    /** Per-request timeout in ms. Default 30000. */
    readonly requestTimeoutMs?: number;
    /** Sockets kept per host. Default DEFAULT_CONCURRENCY (32): one per request in flight. */
    readonly maxSockets?: number;
    /** Field manager name. Default "gitops-platform". */
    readonly fieldManager?: string;
    /** How long to keep re-reading discovery for a kind that is not served yet. Default 30000. */
    readonly discoveryWaitMs?: number;
}

export interface RequestOptions {
    readonly query?: Record<string, string | undefined>;
    readonly body?: unknown;
    readonly contentType?: string;
}

export interface Response<T = any> {
    readonly status: number;
    readonly body: T;
}

/** Counters, for tests and benchmarks. */
export interface ClientStats {
    requests: number;
    retries: number;
}

interface Auth {
    readonly base: URL;
    readonly agent: http.Agent;
    readonly headers: Record<string, string>;
    readonly defaultNamespace: string;
}

/** Requests re-sent because a kept-alive socket turned out closed (they do not count as attempts). */
const MAX_STALE_SOCKET_RETRIES = 3;

export class ClusterClient {
    readonly fieldManager: string;
    readonly stats: ClientStats = { requests: 0, retries: 0 };
    private readonly retry: RetryPolicy;
    private readonly timeoutMs: number;
    private readonly discoveryWaitMs: number;
    private auth?: Promise<Auth>;
    private authValue?: Auth;
    /** groupVersion -> kind -> resource; a missing groupVersion is not read yet. */
    private readonly discovery = new Map<string, Map<string, ApiResource>>();
    private readonly discoveryInFlight = new Map<string, Promise<Map<string, ApiResource>>>();

    private constructor(
        private readonly resolveAuth: () => Promise<Auth>,
        opts: ClientOptions = {},
    ) {
        this.fieldManager = opts.fieldManager ?? FIELD_MANAGER;
        this.retry = { ...DEFAULT_RETRY, ...opts.retry };
        this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
        this.discoveryWaitMs = opts.discoveryWaitMs ?? 30_000;
    }

    /**
     * A client for the cluster a kubeconfig (YAML text) points at, optionally for a named
     * context. Credentials are resolved on the first request.
     */
    static fromKubeconfig(kubeconfigYaml: string, context?: string, opts: ClientOptions = {}): ClusterClient {
        const sel = selectKubeconfig(kubeconfigYaml, context);
        let base: URL;
        try {
            base = new URL(sel.server);
        } catch {
            throw new GitopsError("kubeconfig", `the server URL ${JSON.stringify(sel.server)} is not a URL`);
        }
        const maxSockets = opts.maxSockets ?? 32;
        return new ClusterClient(async () => {
            const c = await sel.resolve();
            const agent =
                base.protocol === "https:"
                    ? new https.Agent({
                          keepAlive: true,
                          maxSockets,
                          ca: c.ca,
                          cert: c.cert,
                          key: c.key,
                          rejectUnauthorized: c.rejectUnauthorized,
                          servername: c.servername,
                      })
                    : new http.Agent({ keepAlive: true, maxSockets });
            return { base, agent, headers: { ...c.headers }, defaultNamespace: c.namespace };
        }, opts);
    }

    private getAuth(): Promise<Auth> {
        if (!this.auth) {
            this.auth = this.resolveAuth().then((a) => (this.authValue = a));
            this.auth.catch(() => (this.auth = undefined));
        }
        return this.auth;
    }

    /** The namespace of the kubeconfig's context, "default" when it sets none. */
    async defaultNamespace(): Promise<string> {
        return (await this.getAuth()).defaultNamespace;
    }

    /** Closes idle keep-alive sockets. */
    close(): void {
        this.authValue?.agent.destroy();
    }

    /**
     * One API call with retries. Resolves for 2xx and for 404 (callers decide what missing
     * means); rejects with ApiError for other statuses once retries are spent.
     */
    async request<T = any>(method: string, path: string, opts: RequestOptions = {}): Promise<Response<T>> {
        const auth = await this.getAuth();
        const url = requestUrl(auth.base, path, opts.query);
        const payload = opts.body === undefined ? undefined : Buffer.from(typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body));
        const headers: Record<string, string> = { ...auth.headers, Accept: "application/json" };
        if (payload) {
            headers["Content-Type"] = opts.contentType ?? "application/json";
            headers["Content-Length"] = String(payload.length);
        }
        let stale = 0;
        for (let attempt = 1; ; attempt++) {
            this.stats.requests++;
            let res: { status: number; headers: http.IncomingHttpHeaders; text: string };
            try {
                res = await this.once(auth, url, method, headers, payload);
            } catch (err) {
                // A kept-alive socket that broke before any answer, most often one the server
                // closed while it sat idle (a race no backoff avoids), says nothing about the
                // server: the request goes again on a new socket without using up an attempt, as
                // Go's net/http retries a reused connection and Node's docs for keepAlive advise.
                // Bounded, in case every socket breaks.
                if ((err as { staleSocket?: boolean }).staleSocket && stale < MAX_STALE_SOCKET_RETRIES) {
                    stale++;
                    attempt--;
                    this.stats.retries++;
                    continue;
                }
                // A server that is not there (refused, or silent until our timeout) gets three
                // tries, not the full budget: a preview against a missing cluster must end soon.
                const code = (err as { code?: string }).code;
                const unreachable = code === "ECONNREFUSED" || code === "ETIMEDOUT" || code === "EHOSTUNREACH" || code === "ENOTFOUND";
                if (attempt < (unreachable ? Math.min(3, this.retry.attempts) : this.retry.attempts) && isRetryableError(err)) {
                    this.stats.retries++;
                    await sleep(backoffDelay(attempt, this.retry));
                    continue;
                }
                throw new ApiError(0, (err as { code?: string }).code ?? "", (err as Error).message, method, url.pathname);
            }
            if ((res.status >= 200 && res.status < 300) || res.status === 404) return lazyResponse<T>(res.status, res.text);
            if (attempt < this.retry.attempts && isRetryableStatus(res.status)) {
                this.stats.retries++;
                await sleep(backoffDelay(attempt, this.retry, parseRetryAfter(res.headers["retry-after"])));
                continue;
            }
            const st = parseJson(res.text) as { message?: string; reason?: string } | undefined;
            throw new ApiError(res.status, st?.reason ?? "", st?.message ?? (res.text.trim().slice(0, 500) || http.STATUS_CODES[res.status] || ""), method, url.pathname);
        }
    }

    private once(auth: Auth, url: URL, method: string, headers: Record<string, string>, payload?: Buffer) {
        const mod = url.protocol === "https:" ? https : http;
        return new Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }>((resolve, reject) => {
            let answered = false;
            const req = mod.request(url, { method, headers, agent: auth.agent }, (res) => {
                answered = true;
                const chunks: Buffer[] = [];
                res.on("data", (c: Buffer) => chunks.push(c));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }));
                res.on("error", reject);
                res.on("aborted", () => reject(Object.assign(new Error("response aborted"), { code: "ECONNRESET" })));
            });
            req.setTimeout(this.timeoutMs, () => req.destroy(Object.assign(new Error(`no answer in ${this.timeoutMs} ms`), { code: "ETIMEDOUT" })));
            req.on("error", (e: NodeJS.ErrnoException) =>
                reject(req.reusedSocket && (e.code === "ECONNRESET" || e.code === "EPIPE") && !answered ? Object.assign(e, { staleSocket: true }) : e),
            );
            req.end(payload);
        });
    }

    // ------------------------------------------------------------------------------------------
    // Discovery

    private async readGroupVersion(gv: string): Promise<Map<string, ApiResource>> {
        let p = this.discoveryInFlight.get(gv);
        if (!p) {
            p = (async () => {
                const { group, version } = splitApiVersion(gv);
                const res = await this.request<{ resources?: Array<{ name: string; kind: string; namespaced: boolean }> }>(
                    "GET",
                    group ? `/apis/${group}/${version}` : `/api/${version}`,
                );
                const kinds = new Map<string, ApiResource>();
                if (res.status !== 404) {
                    for (const r of res.body?.resources ?? []) {
                        if (r.name.includes("/")) continue; // subresources such as deployments/status
                        kinds.set(r.kind, { group, version, kind: r.kind, plural: r.name, namespaced: !!r.namespaced });
                    }
                }
                this.discovery.set(gv, kinds);
                return kinds;
            })().finally(() => this.discoveryInFlight.delete(gv));
            this.discoveryInFlight.set(gv, p);
        }
        return p;
    }

    /** Every namespaced kind the server lists, at its group's preferred version (for counting what a namespace holds). */
    async namespacedKinds(): Promise<Array<{ apiVersion: string; kind: string }>> {
        const core = await this.request<{ versions?: string[] }>("GET", "/api");
        const groups = await this.request<{ groups?: Array<{ preferredVersion?: { groupVersion?: string } }> }>("GET", "/apis");
        const gvs = [...(core.body?.versions ?? ["v1"]).slice(0, 1), ...(groups.body?.groups ?? []).map((g) => g.preferredVersion?.groupVersion).filter((v): v is string => !!v)];
        const out: Array<{ apiVersion: string; kind: string }> = [];
        for (const gv of gvs) {
            const { group, version } = splitApiVersion(gv);
            const res = await this.request<{ resources?: Array<{ name: string; kind: string; namespaced: boolean; verbs?: string[] }> }>("GET", group ? `/apis/${group}/${version}` : `/api/${version}`);
            for (const r of res.body?.resources ?? []) {
                if (r.namespaced && !r.name.includes("/") && (r.verbs ?? ["list"]).includes("list")) out.push({ apiVersion: gv, kind: r.kind });
            }
        }
        return out;
    }

    /** Forgets what discovery said, e.g. after CRDs were applied or deleted. */
    invalidateDiscovery(apiVersion?: string): void {
        if (apiVersion) this.discovery.delete(apiVersion);
        else this.discovery.clear();
    }

    /** The resource for a kind if the server serves it now; re-reads discovery once if unknown. */
    async tryResource(apiVersion: string, kind: string): Promise<ApiResource | undefined> {
        const cached = this.discovery.get(apiVersion)?.get(kind);
        if (cached) return cached;
        return (await this.readGroupVersion(apiVersion)).get(kind);
    }

    /**
     * The resource for a kind. When the server does not serve it yet (a CRD applied moments
     * ago), discovery is re-read until `waitMs` passes; then a GitopsError names the object.
     */
    async resource(apiVersion: string, kind: string, where?: string, waitMs = this.discoveryWaitMs): Promise<ApiResource> {
        const deadline = Date.now() + waitMs;
        for (let delay = 100; ; delay = Math.min(delay * 2, 2000)) {
            const r = await this.tryResource(apiVersion, kind);
            if (r) return r;
            if (Date.now() >= deadline) {
                throw new GitopsError(
                    where ?? `${apiVersion} ${kind}`,
                    `the cluster does not serve kind ${kind} in ${apiVersion}`,
                    "apply its CustomResourceDefinition first, or fix apiVersion/kind",
                );
            }
            await sleep(Math.min(delay, Math.max(0, deadline - Date.now())));
        }
    }

    // ------------------------------------------------------------------------------------------
    // Objects

    /** The URL path of a collection (namespace optional for namespaced kinds: all namespaces). */
    collectionPath(r: ApiResource, namespace?: string): string {
        const root = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
        return r.namespaced && namespace ? `${root}/namespaces/${encodeURIComponent(namespace)}/${r.plural}` : `${root}/${r.plural}`;
    }

    objectPath(r: ApiResource, name: string, namespace?: string): string {
        return `${this.collectionPath(r, namespace)}/${encodeURIComponent(name)}`;
    }

    /** Reads one object; undefined when it does not exist (or its kind is not served). */
    async get(apiVersion: string, kind: string, name: string, namespace?: string): Promise<KubeObject | undefined> {
        const r = await this.tryResource(apiVersion, kind);
        if (!r) return undefined;
        const res = await this.request<KubeObject>("GET", this.objectPath(r, name, namespace));
        return res.status === 404 ? undefined : res.body;
    }

    /** Lists all objects of a kind, in one namespace or across all, following continue tokens. */
    async list(apiVersion: string, kind: string, namespace?: string, pageSize = 500): Promise<KubeObject[]> {
        const r = await this.tryResource(apiVersion, kind);
        if (!r) return [];
        const out: KubeObject[] = [];
        let cont: string | undefined;
        do {
            const res = await this.request<{ items?: KubeObject[]; metadata?: { continue?: string } }>("GET", this.collectionPath(r, namespace), {
                query: { limit: String(pageSize), continue: cont },
            });
            if (res.status === 404) return out;
            for (const item of res.body?.items ?? []) {
                // Lists omit apiVersion/kind on items.
                item.apiVersion = joinApiVersion(r.group, r.version);
                item.kind = r.kind;
                out.push(item);
            }
            cont = res.body?.metadata?.continue || undefined;
        } while (cont);
        return out;
    }

    /**
     * Server-side apply under our field manager, taking ownership of conflicting fields (as
     * Flux does). `dryRun` asks the server what the object would become without storing it.
     */
    async apply(obj: KubeObject, opts: ApplyRequestOptions = {}): Promise<Response<KubeObject>> {
        // Whatever the server quotes back, an error never carries a Secret's values.
        return this.applyUnredacted(obj, opts).catch((err) => {
            throw redactObjectError(obj, err);
        });
    }

    private async applyUnredacted(obj: KubeObject, opts: ApplyRequestOptions): Promise<Response<KubeObject>> {
        const id = objectId(obj);
        const r = await this.resource(obj.apiVersion, obj.kind, id);
        const res = await this.request<KubeObject>("PATCH", this.objectPath(r, obj.metadata.name, obj.metadata.namespace), {
            query: {
                fieldManager: opts.fieldManager ?? this.fieldManager,
                force: opts.force === false ? undefined : "true",
                dryRun: opts.dryRun ? "All" : undefined,
            },
            body: obj,
            contentType: "application/apply-patch+yaml",
        }).catch((err) => {
            throw asObjectError(err, id, opts.dryRun ? "dry-run apply" : "apply");
        });
        if (res.status === 404) {
            // Only when the namespace is missing (or the kind vanished): say so.
            const st = res.body as { message?: string; reason?: string } | undefined;
            throw new GitopsError(id, `apply failed: HTTP 404 ${st?.reason ?? "NotFound"}: "${st?.message ?? "not found"}"`, "declare or create the namespace first, or check apiVersion/kind");
        }
        return res;
    }

    /**
     * Watches the objects of a kind (in one namespace, or in all), from now: the server first
     * sends those that exist as ADDED, then every change. Resolves once the server has accepted
     * the watch, or undefined when it will not (the kind is not served, RBAC forbids watch, the
     * server cannot be reached): callers then poll. Not retried; reopen after `ended`.
     */
    async watch(
        apiVersion: string,
        kind: string,
        namespace: string | undefined,
        onEvent: (ev: WatchEvent) => void,
        opts: { fieldSelector?: string; timeoutSeconds?: number } = {},
    ): Promise<Watch | undefined> {
        const r = await this.tryResource(apiVersion, kind).catch(() => undefined);
        if (!r) return undefined;
        const auth = await this.getAuth();
        const url = requestUrl(auth.base, this.collectionPath(r, namespace), {
            watch: "1",
            fieldSelector: opts.fieldSelector,
            timeoutSeconds: opts.timeoutSeconds === undefined ? undefined : String(Math.max(1, Math.ceil(opts.timeoutSeconds))),
        });
        const mod = url.protocol === "https:" ? https : http;
        this.stats.requests++;
        return new Promise<Watch | undefined>((resolve) => {
            let end: (why: string) => void = () => undefined;
            const ended = new Promise<string>((r) => (end = r));
            // Opening is bounded (a server that never answers means polling); an open watch is not.
            const opening = setTimeout(() => req.destroy(Object.assign(new Error(`no answer in ${this.timeoutMs} ms`), { code: "ETIMEDOUT" })), this.timeoutMs);
            const req = mod.request(url, { method: "GET", headers: { ...auth.headers, Accept: "application/json" }, agent: auth.agent }, (res) => {
                clearTimeout(opening);
                if (res.statusCode !== 200) {
                    res.resume();
                    resolve(undefined);
                    return;
                }
                resolve({ ended, stop: () => req.destroy() });
                let buf = "";
                res.setEncoding("utf8");
                res.on("data", (chunk: string) => {
                    buf += chunk;
                    for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
                        const line = buf.slice(0, nl).trim();
                        buf = buf.slice(nl + 1);
                        const ev = line ? (parseJson(line) as WatchEvent | undefined) : undefined;
                        if (!ev?.type) continue;
                        if (ev.type === "ERROR") {
                            req.destroy();
                            end(`watch error: ${(ev.object as { message?: string })?.message ?? "unknown"}`);
                            return;
                        }
                        onEvent(ev);
                    }
                });
                res.on("end", () => end("the server ended the watch"));
                res.on("close", () => end("the watch was closed"));
                res.on("error", (e) => end(e.message));
            });
            req.on("error", (e) => {
                clearTimeout(opening);
                resolve(undefined);
                end(e.message);
            });
            req.end();
        });
    }

    /** A JSON merge patch (used for annotations such as reconcile.fluxcd.io/requestedAt). */
    async mergePatch(apiVersion: string, kind: string, name: string, namespace: string | undefined, patch: unknown): Promise<KubeObject | undefined> {
        const id = formatId({ namespace: namespace ?? "", name, group: splitApiVersion(apiVersion).group, kind });
        const r = await this.resource(apiVersion, kind, id);
        const res = await this.request<KubeObject>("PATCH", this.objectPath(r, name, namespace), {
            body: patch,
            contentType: "application/merge-patch+json",
        }).catch((err) => {
            throw asObjectError(err, id, "patch");
        });
        return res.status === 404 ? undefined : res.body;
    }

    /** Deletes an object (background propagation). False when it was already gone. */
    async delete(apiVersion: string, kind: string, name: string, namespace?: string): Promise<boolean> {
        const id = formatId({ namespace: namespace ?? "", name, group: splitApiVersion(apiVersion).group, kind });
        const r = await this.tryResource(apiVersion, kind);
        if (!r) return false;
        const res = await this.request("DELETE", this.objectPath(r, name, namespace), {
            body: { kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Background" },
        }).catch((err) => {
            throw asObjectError(err, id, "delete");
        });
        return res.status !== 404;
    }
}

/** The URL of an API path on the server, keeping a path prefix of the server URL (e.g. https://host/k8s/clusters/x). */
function requestUrl(base: URL, path: string, query: Record<string, string | undefined> = {}): URL {
    const url = new URL(path, base);
    if (base.pathname !== "/" && !path.startsWith(base.pathname)) url.pathname = base.pathname.replace(/\/$/, "") + path.split("?")[0];
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    return url;
}

/** An open watch (ClusterClient.watch). */
export interface Watch {
    /** Resolves when the stream ends: the server's timeout, a broken connection, an ERROR event, or stop(). */
    readonly ended: Promise<string>;
    stop(): void;
}

/** One event of a watch stream. */
export interface WatchEvent {
    readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
    readonly object: KubeObject;
}

/** Turns an ApiError into a GitopsError that names the object and quotes the server. */
export function asObjectError(err: unknown, id: string, what: string): unknown {
    if (err instanceof ApiError) {
        const hint =
            err.status === 0
                ? "the API server could not be reached; check the kubeconfig's server address and the network"
                : err.status === 401 || err.status === 403
                  ? "the kubeconfig's credentials may not allow this; check its user and RBAC"
                  : err.status === 409
                    ? "another field manager owns these fields; resolve the conflict or let Flux own the object"
                    : err.status === 422 || err.status === 400
                      ? "fix the object in the manifests"
                      : undefined;
        return new GitopsError(id, `${what} failed: HTTP ${err.status}${err.reason ? ` ${err.reason}` : ""}: "${err.serverMessage}"`, hint);
    }
    return err;
}

/** A response whose body is parsed on first use (most applies never look at it). */
function lazyResponse<T>(status: number, text: string): Response<T> {
    let parsed = false;
    let value: T;
    return {
        status,
        get body(): T {
            if (!parsed) {
                value = parseJson(text) as T;
                parsed = true;
            }
            return value;
        },
    };
}

function parseJson(text: string): unknown {
    if (!text) return undefined;
    try {
        return JSON.parse(text);
    } catch {
        return undefined;
    }
}
