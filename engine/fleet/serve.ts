/**
 * Serves local fleet repositories over Git's smart HTTP protocol (through `git http-backend`), so
 * that Flux in a local cluster (k3d, kind) can pull the embedded default's bare repository:
 * the dev stack's GitRepository points at http://host.k3d.internal:8765/fleet.git.
 * Read-only: pushes are refused (the reconcile engine writes to the repository on disk), unless
 * `auth` is given: then every request must carry those HTTP basic credentials, and pushes are
 * accepted (a stand-in for a Git host over HTTPS, for tests of credentials); or unless
 * `pushFromLoopback` is set: then pushes from a loopback address are accepted without credentials
 * (the local control plane's fleet server, where image-automation-controller pushes its commits),
 * and pushes from anywhere else are still refused.
 */
import { spawn } from "child_process";
import * as http from "http";
import * as path from "path";
import { confine } from "../util/paths";

export interface FleetServer {
    url: string;
    port: number;
    close(): Promise<void>;
}

export interface ServeOptions {
    /** Require these basic-auth credentials on every request, and accept pushes. */
    readonly auth?: { readonly user: string; readonly password: string };
    /** Accept pushes without credentials from 127.0.0.0/8 and ::1 (only those). */
    readonly pushFromLoopback?: boolean;
}

/** True for a socket's remote address on the loopback network (IPv4, IPv6, IPv4-mapped IPv6). */
export function isLoopback(address: string | undefined): boolean {
    if (!address) return false;
    const v4 = address.replace(/^::ffff:/i, "");
    return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4) || address === "::1";
}

export function serveFleet(root: string, port = 8765, host = "127.0.0.1", opts: ServeOptions = {}): Promise<FleetServer> {
    const projectRoot = path.resolve(root);
    const expected = opts.auth && `Basic ${Buffer.from(`${opts.auth.user}:${opts.auth.password}`).toString("base64")}`;
    const server = http.createServer((req, res) => {
        const url = new URL(req.url ?? "/", "http://x");
        if (expected && req.headers.authorization !== expected) {
            res.writeHead(401, { "content-type": "text/plain", "www-authenticate": 'Basic realm="fleet"' }).end("authentication required\n");
            return;
        }
        const push = url.pathname.endsWith("/git-receive-pack") || url.searchParams.get("service") === "git-receive-pack";
        const loopbackPush = !expected && push && !!opts.pushFromLoopback && isLoopback(req.socket.remoteAddress);
        if (!expected && push && !loopbackPush) {
            res.writeHead(403, { "content-type": "text/plain" }).end(opts.pushFromLoopback ? "this fleet server accepts pushes from loopback only\n" : "this fleet server is read-only\n");
            return;
        }
        // The request path must name something under the root (no "..", no link leading out).
        let pathInfo: string;
        try {
            pathInfo = decodeURIComponent(url.pathname);
            confine(projectRoot, `.${pathInfo}`, "request path");
        } catch {
            res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
            return;
        }
        const cgi = spawn("git", ["http-backend"], {
            env: {
                PATH: process.env.PATH ?? "",
                GIT_PROJECT_ROOT: projectRoot,
                GIT_HTTP_EXPORT_ALL: "1",
                PATH_INFO: pathInfo,
                QUERY_STRING: url.search.replace(/^\?/, ""),
                REQUEST_METHOD: req.method ?? "GET",
                CONTENT_TYPE: req.headers["content-type"] ?? "",
                CONTENT_LENGTH: req.headers["content-length"] ?? "",
                HTTP_CONTENT_ENCODING: req.headers["content-encoding"] ?? "",
                GIT_PROTOCOL: (req.headers["git-protocol"] as string) ?? "",
                REMOTE_ADDR: req.socket.remoteAddress ?? "",
                // http-backend enables receive-pack only for an authenticated user.
                ...(opts.auth ? { REMOTE_USER: opts.auth.user } : loopbackPush ? { REMOTE_USER: "loopback" } : {}),
            },
        });
        req.pipe(cgi.stdin);
        // Parse the CGI response: headers, a blank line, then the body.
        let head = Buffer.alloc(0);
        let headersDone = false;
        cgi.stdout.on("data", (chunk: Buffer) => {
            if (headersDone) {
                res.write(chunk);
                return;
            }
            head = Buffer.concat([head, chunk]);
            const sep = head.indexOf("\r\n\r\n") >= 0 ? head.indexOf("\r\n\r\n") : head.indexOf("\n\n");
            if (sep < 0) return;
            const sepLen = head[sep] === 13 ? 4 : 2;
            const headers: Record<string, string> = {};
            let status = 200;
            for (const line of head.subarray(0, sep).toString().split(/\r?\n/)) {
                const i = line.indexOf(":");
                if (i < 0) continue;
                const k = line.slice(0, i).trim();
                const v = line.slice(i + 1).trim();
                if (k.toLowerCase() === "status") status = parseInt(v, 10);
                else headers[k] = v;
            }
            res.writeHead(status, headers);
            headersDone = true;
            res.write(head.subarray(sep + sepLen));
        });
        cgi.on("close", () => {
            if (!headersDone) res.writeHead(502).end("git http-backend gave no response\n");
            else res.end();
        });
        cgi.on("error", (e) => {
            if (!res.headersSent) res.writeHead(500).end(`git http-backend failed: ${e.message}\n`);
        });
    });
    return new Promise((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, host, () => {
            const p = (server.address() as { port: number }).port;
            resolve({ url: `http://${host}:${p}`, port: p, close: () => new Promise((r) => server.close(() => r())) });
        });
    });
}
