/**
 * A Kubernetes API test server speaking the real REST protocol over plain HTTP on 127.0.0.1:
 * discovery (legacy and aggregated), CRUD on core, built-in and CRD groups, server-side apply
 * with managedFields and conflicts, merge/JSON/strategic patches, the status subresource,
 * selectors, resourceVersion conflicts, finalizers, watch, server-side Tables for kubectl, plus
 * emulated Flux and Flagger controllers and fault injection. `kubectl` runs against it unchanged
 * (see test/integration/kube-apiserver.test.ts).
 *
 *   const api = await startTestApiServer();
 *   spawnSync("kubectl", ["--kubeconfig", api.kubeconfigPath, "get", "ns"]);
 *   await api.stop();
 */
import * as fs from "fs";
import * as http from "http";
import * as os from "os";
import * as path from "path";
import { AddressInfo, Socket } from "net";
import { clone } from "./fields";
import { apiVersionOf, openApiV3Doc, openApiV3Index, ResourceType } from "./registry";
import { ApiError, filteredEvent, noSuchResource, notFound, Store, Watcher, WriteOptions } from "./store";
import { toTable, wantsTable } from "./table";
import { Controllers } from "./controllers";
import { decodeProtobuf } from "./protobuf";

/**
 * "echo" answers 500 with the request body quoted back as plain text, as a misbehaving proxy or
 * admission webhook may: what a client puts in its error from such an answer must not leak secrets.
 */
export type FaultKind = "429" | "500" | "reset" | "echo" | { delayMs: number };

export interface TestApiServer {
    /** http://127.0.0.1:PORT */
    url: string;
    /** A kubeconfig YAML text pointing at url, context "test". */
    kubeconfig: string;
    /** The same written to a temp file (for kubectl --kubeconfig). */
    kubeconfigPath: string;
    stop(): Promise<void>;
    /** Drops all objects (incl. CRDs and namespaces except the built-in default/kube-system). */
    wipe(): void;
    /** Direct read, bypassing HTTP. */
    get(apiVersion: string, kind: string, name: string, namespace?: string): any | undefined;
    /** Every object, or those of one apiVersion (any version of its group) and kind. */
    list(apiVersion?: string, kind?: string): any[];
    /** Request log: path is the URL path without the query; query holds the raw query string. */
    requests: Array<{ method: string; path: string; contentType?: string; query?: string; accept?: string }>;
    faults: {
        /** The next `n` requests (matching `match`, if given) get `kind` instead of an answer. */
        next(n: number, kind: FaultKind, match?: (req: { method: string; path: string }) => boolean): void;
        clear(): void;
    };
    /** Flux controller emulation (see controllers.ts). */
    flux: {
        revision: string;
        setRevision(rev: string): void;
        fail(kind: string, name: string, message: string): void;
        /** Clears a failure set with fail() and reconciles the object again. */
        recover(kind: string, name: string): void;
        auto: boolean;
        /** Mark Deployments rolled out and Jobs complete (default true, while auto). */
        rollout: boolean;
    };
    /** Flagger emulation: Canary phases Initializing -> Initialized, Progressing -> Succeeded or Failed. */
    flagger: { auto: boolean; fail(name: string, namespace: string, message: string): void; stepMs: number };
    /** A copy of every object, to restore() later. */
    snapshot(): unknown;
    restore(snapshot: unknown): void;
    /** The current global resourceVersion. */
    readonly resourceVersion: number;
}

export interface TestApiServerOptions {
    /** Delay before a new CRD is Established and served (default 0: at once). */
    crdEstablishDelayMs?: number;
    /** Serve aggregated discovery (apidiscovery.k8s.io/v2) when asked for it (default true); false forces clients onto legacy discovery. */
    aggregatedDiscovery?: boolean;
}

interface FaultRule {
    remaining: number;
    kind: FaultKind;
    match?: (req: { method: string; path: string }) => boolean;
}

const JSON_TYPE = "application/json";

/** A gnostic openapi_v2.Document with swagger "2.0" and info {title, version}, protobuf-encoded. */
const OPENAPI_V2_EMPTY = (() => {
    const field = (num: number, payload: Buffer) => Buffer.concat([Buffer.from([(num << 3) | 2, payload.length]), payload]);
    const info = Buffer.concat([field(1, Buffer.from("Kubernetes")), field(2, Buffer.from("v1.32.0"))]);
    return Buffer.concat([field(1, Buffer.from("2.0")), field(2, info)]);
})();
const AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

export async function startTestApiServer(opts: TestApiServerOptions = {}): Promise<TestApiServer> {
    const store = new Store();
    const aggregated = opts.aggregatedDiscovery !== false;
    const requests: TestApiServer["requests"] = [];
    let rules: FaultRule[] = [];
    const sockets = new Set<Socket>();
    const controllers = new Controllers(store, { crdEstablishDelayMs: opts.crdEstablishDelayMs ?? 0 });

    const server = http.createServer((req, res) => {
        handle(req, res).catch((e) => {
            if (!res.headersSent) send(res, 500, new ApiError(500, "InternalError", `Internal error occurred: ${(e as Error).message}`).status());
            else res.destroy();
        });
    });
    server.on("connection", (s) => {
        sockets.add(s);
        s.on("close", () => sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as AddressInfo).port;
    const url = `http://127.0.0.1:${port}`;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kube-apiserver-"));
    const kubeconfig = [
        "apiVersion: v1", "kind: Config", "clusters:", "- name: test", "  cluster:", `    server: ${url}`,
        "users:", "- name: test", "  user: {}", "contexts:", "- name: test", "  context:", "    cluster: test", "    user: test",
        "    namespace: default", "current-context: test", "",
    ].join("\n");
    const kubeconfigPath = path.join(dir, "kubeconfig");
    fs.writeFileSync(kubeconfigPath, kubeconfig);

    async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
        const u = new URL(req.url ?? "/", url);
        const method = req.method ?? "GET";
        const contentType = req.headers["content-type"];
        requests.push({
            method, path: u.pathname, ...(contentType ? { contentType } : {}),
            ...(u.search ? { query: u.search.slice(1) } : {}), ...(req.headers.accept ? { accept: req.headers.accept } : {}),
        });
        const rule = rules.find((r) => r.remaining > 0 && (!r.match || r.match({ method, path: u.pathname })));
        if (rule) {
            rule.remaining--;
            rules = rules.filter((r) => r.remaining > 0);
            if (rule.kind === "reset") { req.socket.destroy(); return; }
            if (rule.kind === "429") {
                res.setHeader("Retry-After", "1");
                send(res, 429, new ApiError(429, "TooManyRequests", "the server has received too many requests and has asked us to try again later", { retryAfterSeconds: 1 }).status());
                return;
            }
            if (rule.kind === "echo") {
                const echoed = (await readBody(req)).toString("utf8");
                res.writeHead(500, { "content-type": "text/plain" }).end(`upstream rejected the request: ${echoed}`);
                return;
            }
            if (rule.kind === "500") {
                send(res, 500, new ApiError(500, "InternalError", "Internal error occurred: injected fault").status());
                return;
            }
            await new Promise((r) => setTimeout(r, (rule.kind as { delayMs: number }).delayMs));
        }
        const raw = await readBody(req);
        let body = raw.toString("utf8");
        try {
            if (contentType?.includes("protobuf")) {
                // Typed clients (kubectl create ns/cm/secret/sa) send protobuf and do not fall back.
                let decoded: any;
                try {
                    decoded = decodeProtobuf(raw);
                } catch (e) {
                    throw new ApiError(400, "BadRequest", `the body of the request could not be decoded: ${(e as Error).message}`);
                }
                if (!decoded) throw new ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml");
                body = JSON.stringify(decoded);
                req.headers["content-type"] = JSON_TYPE;
            }
            if (contentType?.includes("cbor")) {
                throw new ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml");
            }
            route(req, res, u, method, body);
        } catch (e) {
            if (e instanceof ApiError) send(res, e.code, e.status());
            else throw e;
        }
    }

    function route(req: http.IncomingMessage, res: http.ServerResponse, u: URL, method: string, body: string): void {
        const segs = u.pathname.split("/").filter((s) => s);
        const accept = String(req.headers.accept ?? "");
        const q = u.searchParams;
        if (u.pathname === "/version") {
            return send(res, 200, {
                major: "1", minor: "32", gitVersion: "v1.32.0-gitops-test", gitCommit: "0000000000000000000000000000000000000000",
                gitTreeState: "clean", buildDate: "2026-01-01T00:00:00Z", goVersion: "go1.23", compiler: "gc", platform: "linux/amd64",
            });
        }
        if (["/healthz", "/readyz", "/livez"].includes(u.pathname)) {
            res.writeHead(200, { "Content-Type": "text/plain" });
            res.end("ok");
            return;
        }
        if (u.pathname === "/openapi/v2") {
            // kubectl asks for the protobuf (gnostic) form; an empty document means "no client-side
            // schema for any kind", so kubectl leaves validation to the server (or to discovery).
            const pb = OPENAPI_V2_EMPTY;
            res.writeHead(200, { "Content-Type": "application/com.github.proto-openapi.spec.v2.v1.0+protobuf", "Content-Length": pb.length });
            res.end(pb);
            return;
        }
        if (u.pathname === "/openapi/v3") return send(res, 200, openApiV3Index(store.registry));
        if (segs[0] === "openapi" && segs[1] === "v3") {
            const doc = openApiV3Doc(store.registry, segs.slice(2).join("/"));
            if (!doc) throw noSuchResource();
            return send(res, 200, doc);
        }
        if (segs[0] === "api" && segs.length === 1) {
            if (aggregated && accept.includes("as=APIGroupDiscoveryList")) return send(res, 200, store.registry.aggregated(true), AGGREGATED);
            return send(res, 200, store.registry.apiVersions(`127.0.0.1:${port}`));
        }
        if (segs[0] === "apis" && segs.length === 1) {
            if (aggregated && accept.includes("as=APIGroupDiscoveryList")) return send(res, 200, store.registry.aggregated(false), AGGREGATED);
            return send(res, 200, store.registry.apiGroupList());
        }
        if (segs[0] === "apis" && segs.length === 2) {
            const g = store.registry.apiGroup(segs[1]);
            if (!g) throw noSuchResource();
            return send(res, 200, g);
        }
        let group: string, version: string, rest: string[];
        if (segs[0] === "api" && segs.length >= 2) {
            group = ""; version = segs[1]; rest = segs.slice(2);
        } else if (segs[0] === "apis" && segs.length >= 3) {
            group = segs[1]; version = segs[2]; rest = segs.slice(3);
        } else {
            res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
            res.end("404 page not found\n");
            return;
        }
        if (!rest.length) {
            const list = store.registry.apiResourceList(group, version);
            if (!list) throw noSuchResource();
            return send(res, 200, list);
        }
        // Resource paths.
        let ns: string | undefined, plural: string, name: string | undefined, sub: string | undefined;
        if (rest[0] === "namespaces" && rest.length >= 3 && !(rest.length === 3 && (rest[2] === "status" || rest[2] === "finalize"))) {
            ns = rest[1]; plural = rest[2]; name = rest[3]; sub = rest[4];
            if (rest.length > 5) throw noSuchResource();
        } else {
            plural = rest[0]; name = rest[1]; sub = rest[2];
            if (rest.length > 3) throw noSuchResource();
        }
        const t = store.registry.byPlural(group, version, plural);
        if (!t) throw noSuchResource();
        if (ns !== undefined && !t.namespaced) throw noSuchResource();
        if (sub !== undefined && !(sub === "status" && t.statusSubresource) && !(sub === "finalize" && t.kind === "Namespace")) throw noSuchResource();
        if (t.namespaced && name !== undefined && ns === undefined) throw noSuchResource();
        const dryRun = q.getAll("dryRun").includes("All");
        const fieldManager = q.get("fieldManager") ?? "";
        const agent = String(req.headers["user-agent"] ?? "unknown").split("/")[0];
        const warnings: string[] = [];
        const write = (manager: string): WriteOptions => ({
            manager, dryRun, ...(sub === "status" ? { subresource: "status" as const } : {}), force: ["true", "1"].includes(q.get("force") ?? ""),
            fieldValidation: q.get("fieldValidation") ?? undefined, warnings,
        });
        WARNINGS.set(res, warnings);
        const table = wantsTable(accept);
        const includeObject = q.get("includeObject") ?? undefined;
        const renderOne = (o: any) => table ? toTable(t, [o], includeObject, String(store.resourceVersion)) : o;

        if (name === undefined) {
            switch (method) {
                case "GET": {
                    if (["1", "true"].includes(q.get("watch") ?? "")) return watch(req, res, t, ns, q, table, includeObject);
                    let items = store.list(t, ns, q.get("labelSelector") ?? undefined, q.get("fieldSelector") ?? undefined);
                    let rv = String(store.resourceVersion);
                    // Pagination: limit/continue, the token carrying the list's resourceVersion and offset.
                    const meta: any = {};
                    let start = 0;
                    const cont = q.get("continue");
                    if (cont) {
                        let tok: any;
                        try {
                            tok = JSON.parse(Buffer.from(cont, "base64").toString("utf8"));
                        } catch {
                            throw new ApiError(400, "BadRequest", "continue key is not valid: illegal base64 data");
                        }
                        start = Number(tok.start) || 0;
                        rv = String(tok.rv);
                    }
                    const limit = Number(q.get("limit") ?? 0);
                    if (limit > 0 && start + limit < items.length) {
                        meta.continue = Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv: Number(rv), start: start + limit })).toString("base64");
                        meta.remainingItemCount = items.length - start - limit;
                    }
                    items = limit > 0 ? items.slice(start, start + limit) : items.slice(start);
                    if (table) return send(res, 200, { ...toTable(t, items, includeObject, rv), metadata: { resourceVersion: rv, ...meta } });
                    return send(res, 200, {
                        kind: `${t.kind}List`, apiVersion: apiVersionOf(t), metadata: { resourceVersion: rv, ...meta },
                        // Like the real server: typed (built-in) lists omit apiVersion/kind on items, CR lists keep them.
                        items: items.map((o) => {
                            const { apiVersion: _a, kind: _k, ...rest } = o;
                            return t.builtin ? rest : { apiVersion: apiVersionOf(t), kind: t.kind, ...rest };
                        }),
                    });
                }
                case "POST": {
                    const obj = parseBody(body, req.headers["content-type"]);
                    if (!t.namespaced || ns !== undefined) {
                        return send(res, 201, renderOne(store.create(t, ns, obj, write(fieldManager || agent))));
                    }
                    throw noSuchResource();
                }
                case "DELETE": {
                    const options = body.trim() ? parseBody(body, req.headers["content-type"]) : {};
                    const gone = store.deleteCollection(t, ns, q.get("labelSelector") ?? undefined, q.get("fieldSelector") ?? undefined,
                        { propagationPolicy: q.get("propagationPolicy") ?? undefined, ...options }, write(fieldManager || agent));
                    return send(res, 200, { kind: `${t.kind}List`, apiVersion: apiVersionOf(t), metadata: { resourceVersion: String(store.resourceVersion) }, items: gone });
                }
                default:
                    throw new ApiError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`);
            }
        }
        switch (method) {
            case "GET": {
                const o = store.get(t, ns, name);
                if (!o) throw notFound(t, name);
                return send(res, 200, renderOne(o));
            }
            case "PUT": {
                const obj = parseBody(body, req.headers["content-type"]);
                if (sub === "finalize") {
                    return send(res, 200, store.update(t, ns, name, obj, { ...write(fieldManager || agent), subresource: undefined }));
                }
                const old = store.raw(t, ns, name);
                const out = store.update(t, ns, name, obj, write(fieldManager || agent));
                return send(res, old ? 200 : 201, renderOne(out));
            }
            case "PATCH": {
                const ct = String(req.headers["content-type"] ?? "");
                const isApply = ct.startsWith("application/apply-patch");
                const old = store.raw(t, ns, name);
                const out = store.patch(t, ns, name, ct, body, write(isApply ? fieldManager : fieldManager || agent));
                return send(res, !old && isApply ? 201 : 200, renderOne(out));
            }
            case "DELETE": {
                const options = body.trim() ? parseBody(body, req.headers["content-type"]) : {};
                const propagationPolicy = q.get("propagationPolicy") ?? options.propagationPolicy;
                const { code, object } = store.delete(t, ns, name, { ...options, propagationPolicy }, write(fieldManager || agent));
                return send(res, code, object);
            }
            default:
                throw new ApiError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`);
        }
    }

    const openWatches = new Set<() => void>();

    function watch(req: http.IncomingMessage, res: http.ServerResponse, t: ResourceType, ns: string | undefined, q: URLSearchParams,
        table: boolean, includeObject: string | undefined): void {
        const filter = store.filter(q.get("labelSelector") ?? undefined, q.get("fieldSelector") ?? undefined);
        const rvParam = q.get("resourceVersion");
        res.writeHead(200, { "Content-Type": JSON_TYPE, "Transfer-Encoding": "chunked", "Cache-Control": "no-cache, private" });
        res.flushHeaders(); // clients wait for the headers before they count the watch as open
        const line = (type: string, object: any) => {
            const rendered = object.kind === "Status" ? object : { ...clone(object), apiVersion: apiVersionOf(t) };
            res.write(JSON.stringify({ type, object: table && object.kind !== "Status" ? toTable(t, [rendered], includeObject, rendered.metadata.resourceVersion) : rendered }) + "\n");
        };
        let closed = false;
        const w: Watcher = {
            group: t.group, kind: t.kind, namespace: t.namespaced ? ns : undefined, filter,
            send: (ev) => { if (!closed) line(ev.type, ev.object); },
            close: () => {
                if (closed) return;
                closed = true;
                store.watchers.delete(w);
                openWatches.delete(w.close);
                clearTimeout(timer);
                res.end();
            },
        };
        if (!rvParam || rvParam === "0") {
            for (const o of store.list(t, ns, q.get("labelSelector") ?? undefined, q.get("fieldSelector") ?? undefined)) line("ADDED", o);
        } else {
            const since = store.eventsSince(Number(rvParam));
            if (!since) {
                line("ERROR", new ApiError(410, "Expired", `too old resource version: ${rvParam} (${store.resourceVersion})`).status());
                res.end();
                return;
            }
            for (const ev of since) {
                if (ev.group !== t.group || ev.kind !== t.kind) continue;
                if (w.namespace && ev.object.metadata.namespace !== w.namespace) continue;
                const seen = filteredEvent(ev, filter);
                if (seen) line(seen.type, seen.object);
            }
        }
        const timeout = Number(q.get("timeoutSeconds") ?? 1800);
        const timer = setTimeout(() => w.close(), timeout * 1000);
        store.watchers.add(w);
        openWatches.add(w.close);
        req.on("close", () => w.close());
    }

    const api: TestApiServer = {
        url, kubeconfig, kubeconfigPath, requests,
        async stop() {
            controllers.stop();
            for (const close of [...openWatches]) close();
            for (const s of sockets) s.destroy();
            await new Promise<void>((resolve) => server.close(() => resolve()));
            fs.rmSync(dir, { recursive: true, force: true });
        },
        wipe() {
            // The cluster's data goes; the world outside it (Git revision, injected failures) stays.
            controllers.stop();
            store.wipe();
        },
        get(apiVersion, kind, name, namespace) {
            const t = store.registry.byKind(apiVersion, kind);
            if (!t) return undefined;
            return store.get(t, namespace ?? (t.namespaced ? "default" : undefined), name);
        },
        list(apiVersion, kind) {
            const group = apiVersion === undefined ? undefined : apiVersion.includes("/") ? apiVersion.split("/")[0] : "";
            return store.all(group, kind);
        },
        faults: {
            next(n, kind, match) { rules.push({ remaining: n, kind, match }); },
            clear() { rules = []; },
        },
        flux: controllers.flux,
        flagger: controllers.flagger,
        snapshot: () => store.snapshot(),
        restore: (s) => { controllers.stop(); store.restore(s as any); },
        get resourceVersion() { return store.resourceVersion; },
    };
    return api;
}

/** Warnings a write collected, sent as Warning headers with its answer. */
const WARNINGS = new WeakMap<http.ServerResponse, string[]>();

function send(res: http.ServerResponse, code: number, body: unknown, contentType = JSON_TYPE): void {
    const warnings = WARNINGS.get(res);
    if (warnings?.length) res.setHeader("Warning", warnings.map((w) => `299 - ${JSON.stringify(w)}`));
    const text = JSON.stringify(body);
    res.writeHead(code, { "Content-Type": contentType, "Content-Length": Buffer.byteLength(text) });
    res.end(text);
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
    return new Promise((resolve, reject) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => resolve(Buffer.concat(chunks)));
        req.on("error", reject);
    });
}

function parseBody(body: string, contentType: string | undefined): any {
    try {
        if (contentType?.includes("yaml")) return (require("yaml") as typeof import("yaml")).parse(body);
        return JSON.parse(body);
    } catch (e) {
        throw new ApiError(400, "BadRequest", `the body of the request could not be decoded: ${(e as Error).message}`);
    }
}
