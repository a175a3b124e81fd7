/**
 * A real OCI Distribution registry for tests: Debian's `docker-registry` (distribution 2.8) on
 * 127.0.0.1 with a free port and a temporary storage directory, optionally with htpasswd (basic)
 * auth. `pushTags` uploads a config and a layer blob once and PUTs one manifest per tag over the
 * registry's HTTP API, so no docker client is needed.
 *
 *   const reg = await startRegistry();           // or startRegistry({ htpasswd: file })
 *   await pushTags(reg.url, "team/app", ["1.0.0", "1.1.0"]);
 *   ...
 *   await reg.stop();                            // kills the process and removes the temp dir
 */
import { ChildProcess, spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";

export interface TestRegistry {
    /** Base URL, e.g. http://127.0.0.1:40123 */
    readonly url: string;
    /** host:port, e.g. 127.0.0.1:40123 */
    readonly host: string;
    readonly dir: string;
    stop(): Promise<void>;
}

export interface StartOptions {
    /** An htpasswd file (bcrypt) to enable basic auth. */
    readonly htpasswd?: string;
}

import { freePort } from "../../engine/util/net";

export { freePort };

export async function startRegistry(opts: StartOptions = {}): Promise<TestRegistry> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-registry-"));
    let lastErr = "";
    for (let attempt = 0; attempt < 3; attempt++) {
        const port = await freePort();
        const config = [
            "version: 0.1",
            "log:",
            "  level: error",
            "  accesslog:",
            "    disabled: true",
            "storage:",
            "  filesystem:",
            `    rootdirectory: ${JSON.stringify(path.join(dir, "data"))}`,
            "  delete:",
            "    enabled: true",
            "http:",
            `  addr: 127.0.0.1:${port}`,
            ...(opts.htpasswd ? ["auth:", "  htpasswd:", "    realm: test-realm", `    path: ${JSON.stringify(opts.htpasswd)}`] : []),
            "",
        ].join("\n");
        const cfgFile = path.join(dir, "config.yml");
        fs.writeFileSync(cfgFile, config);
        const child = spawn("docker-registry", ["serve", cfgFile], { stdio: ["ignore", "ignore", "pipe"] });
        let stderr = "";
        let spawnError: NodeJS.ErrnoException | undefined;
        // Without this handler a missing binary is an uncaught 'error' event that kills mocha.
        child.on("error", (e: NodeJS.ErrnoException) => (spawnError = e));
        child.stderr!.on("data", (d) => (stderr += d.toString()));
        const url = `http://127.0.0.1:${port}`;
        const up = await waitUntilUp(url, child, 15000, () => spawnError);
        if (spawnError) {
            fs.rmSync(dir, { recursive: true, force: true });
            throw new Error(
                spawnError.code === "ENOENT"
                    ? `docker-registry is not on PATH: install it with \`apt-get install -y docker-registry\` (\`npm test\` does this itself when run as root)`
                    : `cannot start docker-registry: ${spawnError.message}`,
            );
        }
        if (up) {
            return {
                url,
                host: `127.0.0.1:${port}`,
                dir,
                stop: async () => {
                    await kill(child);
                    fs.rmSync(dir, { recursive: true, force: true });
                },
            };
        }
        lastErr = stderr;
        await kill(child);
    }
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`docker-registry did not start: ${lastErr}`);
}

async function waitUntilUp(url: string, child: ChildProcess, timeoutMs: number, failed: () => Error | undefined): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
        if (child.exitCode !== null || failed()) return false;
        try {
            const r = await fetch(`${url}/v2/`);
            // 200 without auth, 401 with auth: either way the API answers.
            if (r.status === 200 || r.status === 401) return true;
        } catch {
            // not listening yet
        }
        await new Promise((r) => setTimeout(r, 50));
    }
    return false;
}

function kill(child: ChildProcess): Promise<void> {
    return new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 3000).unref();
    });
}

const sha256 = (b: Buffer) => "sha256:" + createHash("sha256").update(b).digest("hex");

async function must(r: Response, what: string): Promise<Response> {
    if (!r.ok) throw new Error(`${what}: HTTP ${r.status} ${await r.text()}`);
    return r;
}

async function uploadBlob(base: string, name: string, body: Buffer, headers: Record<string, string>): Promise<string> {
    const digest = sha256(body);
    const start = await must(await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: "POST", headers }), `start upload to ${name}`);
    const loc = new URL(start.headers.get("location")!, base);
    loc.searchParams.set("digest", digest);
    await must(
        await fetch(loc, { method: "PUT", headers: { ...headers, "content-type": "application/octet-stream" }, body: new Uint8Array(body) }),
        `upload blob ${digest}`,
    );
    return digest;
}

/**
 * Pushes one OCI image manifest per tag to `name` (blobs uploaded once). `auth` is sent as the
 * Authorization header value when given (e.g. "Basic ...").
 */
export async function pushTags(base: string, name: string, tags: readonly string[], auth?: string): Promise<void> {
    const headers: Record<string, string> = auth ? { authorization: auth } : {};
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [] } }));
    const layer = Buffer.from(`layer for ${name}`);
    const configDigest = await uploadBlob(base, name, config, headers);
    const layerDigest = await uploadBlob(base, name, layer, headers);
    const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.manifest.v1+json",
        config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
        layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerDigest, size: layer.length }],
    });
    // A few requests in flight at a time keeps pushing hundreds of tags quick.
    const queue = [...tags];
    const worker = async () => {
        for (let tag = queue.shift(); tag !== undefined; tag = queue.shift()) {
            await must(
                await fetch(`${base}/v2/${name}/manifests/${encodeURIComponent(tag)}`, {
                    method: "PUT",
                    headers: { ...headers, "content-type": "application/vnd.oci.image.manifest.v1+json" },
                    body: manifest,
                }),
                `push manifest ${name}:${tag}`,
            );
        }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
}

export interface Front {
    readonly url: string;
    /** Every request path+query the front served, for assertions. */
    readonly requests: string[];
    stop(): Promise<void>;
}

export interface FrontOptions {
    /** Returns undefined to let the request through, or a rejection (status + headers) to send. */
    authorize?(req: import("http").IncomingMessage, repo: string): { status: number; headers: Record<string, string> } | undefined;
}

/**
 * An HTTP front for a test registry that paginates GET /v2/<name>/tags/list per the OCI
 * Distribution spec (`n`, `last`, `Link: <...>; rel="next"`): Debian's registry 2.8 ignores `n`
 * on tags/list (pagination came in distribution v3), while ghcr.io, Docker Hub and v3 honour it.
 * The tags themselves come from the real registry. Optional `authorize` enforces auth.
 */
export async function startPaginatingFront(upstream: string, opts: FrontOptions = {}): Promise<Front> {
    const http = await import("http");
    const requests: string[] = [];
    const server = http.createServer(async (req, res) => {
        try {
            requests.push(req.url!);
            const u = new URL(req.url!, "http://front");
            const m = /^\/v2\/(.+)\/tags\/list$/.exec(u.pathname);
            if (!m) {
                res.writeHead(404).end();
                return;
            }
            const denied = opts.authorize?.(req, m[1]);
            if (denied) {
                res.writeHead(denied.status, { "content-type": "application/json", ...denied.headers }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
                return;
            }
            const up = await fetch(`${upstream}/v2/${m[1]}/tags/list`);
            if (!up.ok) {
                res.writeHead(up.status, { "content-type": "application/json" }).end(Buffer.from(await up.arrayBuffer()));
                return;
            }
            const body = (await up.json()) as { name: string; tags: string[] | null };
            let tags = [...(body.tags ?? [])].sort();
            const last = u.searchParams.get("last");
            if (last !== null) tags = tags.filter((t) => t > last);
            const headers: Record<string, string> = { "content-type": "application/json" };
            const nParam = u.searchParams.get("n");
            if (nParam !== null) {
                const n = Number(nParam);
                if (tags.length > n) {
                    tags = tags.slice(0, n);
                    headers.link = `</v2/${m[1]}/tags/list?n=${n}&last=${encodeURIComponent(tags[tags.length - 1])}>; rel="next"`;
                }
            }
            res.writeHead(200, headers).end(JSON.stringify({ name: body.name, tags }));
        } catch (err) {
            res.writeHead(502).end(String(err));
        }
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    return {
        url: `http://127.0.0.1:${port}`,
        requests,
        stop: () => new Promise<void>((r) => server.close(() => r())),
    };
}

export interface RecordingProxy {
    readonly url: string;
    /** host:port of the proxy */
    readonly host: string;
    /** "METHOD /path?query" of every request the proxy received, in order. */
    readonly requests: string[];
    /** Make the next `n` requests whose "METHOD path" matches `re` fail with `status` (retry tests). */
    failNext(re: RegExp, n: number, status?: number): void;
    stop(): Promise<void>;
}

/**
 * A transparent HTTP proxy in front of a test registry that records every request (method and
 * path), so tests can count blob uploads and manifest PUTs; optional `authorize` enforces auth,
 * and `failNext` injects transient failures. The Host header is passed through, so the
 * registry's Location headers point back at the proxy.
 */
export async function startRecordingProxy(upstream: string, opts: FrontOptions = {}): Promise<RecordingProxy> {
    const http = await import("http");
    const requests: string[] = [];
    const failures: Array<{ re: RegExp; n: number; status: number }> = [];
    const up = new URL(upstream);
    const server = http.createServer((req, res) => {
        const line = `${req.method} ${req.url}`;
        requests.push(line);
        const f = failures.find((x) => x.n > 0 && x.re.test(line));
        if (f) {
            f.n--;
            req.resume();
            res.writeHead(f.status, { "content-type": "application/json" }).end('{"errors":[{"code":"UNAVAILABLE","message":"injected"}]}');
            return;
        }
        const m = /^\/v2\/(.+?)\/(blobs|manifests|tags)\//.exec(new URL(req.url!, "http://x").pathname);
        const denied = m ? opts.authorize?.(req, m[1]) : undefined;
        if (denied) {
            req.resume();
            res.writeHead(denied.status, { "content-type": "application/json", ...denied.headers }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
            return;
        }
        const headers = { ...req.headers };
        delete headers.authorization; // the proxy decides auth; the registry behind it has none
        const preq = http.request({ host: up.hostname, port: up.port, method: req.method, path: req.url, headers }, (pres) => {
            res.writeHead(pres.statusCode ?? 502, pres.headers);
            pres.pipe(res);
        });
        preq.on("error", (e) => res.writeHead(502).end(String(e)));
        req.pipe(preq);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as net.AddressInfo).port;
    return {
        url: `http://127.0.0.1:${port}`,
        host: `127.0.0.1:${port}`,
        requests,
        failNext: (re, n, status = 503) => failures.push({ re, n, status }),
        stop: () =>
            new Promise<void>((r) => {
                server.closeAllConnections?.();
                server.close(() => r());
            }),
    };
}
