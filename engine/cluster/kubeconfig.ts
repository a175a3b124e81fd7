/**
 * Reading a kubeconfig. The common cases (client certificates, bearer tokens, token files,
 * basic auth, CA data or files, insecure-skip-tls-verify) are read here directly: loading
 * @kubernetes/client-node costs seconds and ~100 MB, which a CLI call or a Pulumi provider
 * should not pay for a certificate and a URL. Users with `exec` or `auth-provider` entries need
 * the library's plugin machinery, so for them credentials are resolved through it (lazily).
 */
import * as fs from "fs";
import { parse } from "yaml";
import { GitopsError } from "../errors";

export interface Connection {
    /** The API server URL. */
    readonly server: string;
    readonly ca?: Buffer;
    readonly cert?: Buffer;
    readonly key?: Buffer;
    readonly rejectUnauthorized: boolean;
    readonly servername?: string;
    /** Authorization and other headers to send. */
    readonly headers: Record<string, string>;
    /** The context's namespace, or "default". */
    readonly namespace: string;
    readonly contextName: string;
}

/** The parts of a kubeconfig that select a connection, before credentials are resolved. */
export interface KubeconfigSelection {
    readonly server: string;
    readonly namespace: string;
    readonly contextName: string;
    /** Needs @kubernetes/client-node to resolve credentials (exec / auth-provider). */
    readonly needsPlugins: boolean;
    /** Resolves credentials (may run an exec plugin). */
    resolve(): Promise<Connection>;
}

function dataOrFile(data: unknown, file: unknown, where: string): Buffer | undefined {
    if (typeof data === "string" && data) return Buffer.from(data, "base64");
    if (typeof file === "string" && file) {
        try {
            return fs.readFileSync(file);
        } catch (err) {
            throw new GitopsError(where, `cannot read ${file}: ${(err as Error).message}`);
        }
    }
    return undefined;
}

function named(list: unknown, name: string, key: string, what: string): Record<string, any> {
    const arr = Array.isArray(list) ? (list as Array<{ name?: string }>) : [];
    const hit = arr.find((x) => x?.name === name) as Record<string, any> | undefined;
    if (!hit) throw new GitopsError(`kubeconfig ${what} ${name}`, `not found in the kubeconfig`, `it has: ${arr.map((x) => x?.name).join(", ") || "none"}`);
    return (hit[key] ?? {}) as Record<string, any>;
}

/** Parses a kubeconfig YAML text and selects a context (default: current-context). */
export function selectKubeconfig(yamlText: string, context?: string): KubeconfigSelection {
    let doc: any;
    try {
        doc = parse(yamlText);
    } catch (err) {
        throw new GitopsError("kubeconfig", `cannot read the kubeconfig: ${(err as Error).message.split("\n")[0]}`, "pass the cluster component's kubeconfig output (YAML)");
    }
    if (!doc || typeof doc !== "object") throw new GitopsError("kubeconfig", "cannot read the kubeconfig: not a YAML mapping", "pass the cluster component's kubeconfig output (YAML)");
    const contexts: Array<{ name?: string }> = Array.isArray(doc.contexts) ? doc.contexts : [];
    const ctxName = context ?? doc["current-context"];
    if (context !== undefined && !contexts.some((c) => c?.name === context)) {
        throw new GitopsError(`kubeconfig context ${context}`, `no such context; the kubeconfig has: ${contexts.map((c) => c?.name).join(", ") || "none"}`);
    }
    if (!ctxName) throw new GitopsError("kubeconfig", "no current-context and no context given", "set current-context or pass a context name");
    const ctx = named(doc.contexts, ctxName, "context", "context");
    const cluster = named(doc.clusters, ctx.cluster, "cluster", "cluster");
    const user = ctx.user ? named(doc.users, ctx.user, "user", "user") : {};
    if (typeof cluster.server !== "string" || !cluster.server) {
        throw new GitopsError(`kubeconfig cluster ${ctx.cluster}`, "has no server URL");
    }
    const namespace = (typeof ctx.namespace === "string" && ctx.namespace) || "default";
    const needsPlugins = !!(user.exec || user["auth-provider"]);
    return {
        server: cluster.server,
        namespace,
        contextName: ctxName,
        needsPlugins,
        async resolve(): Promise<Connection> {
            const where = `kubeconfig user ${ctx.user}`;
            const headers: Record<string, string> = {};
            let cert = dataOrFile(user["client-certificate-data"], user["client-certificate"], where);
            let key = dataOrFile(user["client-key-data"], user["client-key"], where);
            if (needsPlugins) {
                // Exec plugins and auth providers: let the library run them.
                // eslint-disable-next-line @typescript-eslint/no-var-requires
                const k8s = require("@kubernetes/client-node") as typeof import("@kubernetes/client-node");
                const kc = new k8s.KubeConfig();
                kc.loadFromString(yamlText);
                kc.setCurrentContext(ctxName);
                // Only credentials are taken from the library; TLS is ours. A copy that skips its
                // TLS checks keeps it from refusing plain-HTTP servers.
                const authKc = new k8s.KubeConfig();
                authKc.loadFromOptions({
                    clusters: kc.clusters.map((c) => (c.name === ctx.cluster ? { ...c, skipTLSVerify: true } : c)),
                    users: kc.users,
                    contexts: kc.contexts,
                    currentContext: ctxName,
                });
                const o: { headers?: Record<string, string>; cert?: Buffer; key?: Buffer; auth?: string } = {};
                await authKc.applyToHTTPSOptions(o as never);
                if (o.auth) headers.Authorization = `Basic ${Buffer.from(o.auth).toString("base64")}`;
                Object.assign(headers, o.headers ?? {});
                cert = o.cert ?? cert;
                key = o.key ?? key;
            } else if (typeof user.token === "string" && user.token) headers.Authorization = `Bearer ${user.token}`;
            else if (typeof user.tokenFile === "string" && user.tokenFile) {
                headers.Authorization = `Bearer ${dataOrFile(undefined, user.tokenFile, where)!.toString("utf8").trim()}`;
            } else if (typeof user.username === "string" && user.username) {
                headers.Authorization = `Basic ${Buffer.from(`${user.username}:${user.password ?? ""}`).toString("base64")}`;
            }
            return {
                server: cluster.server,
                ca: dataOrFile(cluster["certificate-authority-data"], cluster["certificate-authority"], `kubeconfig cluster ${ctx.cluster}`),
                cert,
                key,
                rejectUnauthorized: cluster["insecure-skip-tls-verify"] !== true,
                servername: typeof cluster["tls-server-name"] === "string" ? cluster["tls-server-name"] : undefined,
                headers,
                namespace,
                contextName: ctxName,
            };
        },
    };
}
