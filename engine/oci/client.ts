/**
 * A small OCI Distribution API client (https://github.com/opencontainers/distribution-spec):
 * blobs by digest (HEAD, monolithic POST+PUT upload, cross-repository mount), manifests (GET,
 * HEAD, PUT by tag or digest). It authenticates on demand: a 401 challenge is answered with basic
 * credentials or a bearer token from the challenge's realm (scope pull,push for writes); it
 * retries network errors, 408/429/5xx with exponential backoff (Retry-After honoured); and every
 * refusal becomes a GitopsError that names the repository, the operation and what to do.
 */
import { GitopsError } from "../errors";
import { parseChallenge, RegistryAuth } from "../images/registry";
import { ArtifactRef, formatRef } from "./ref";
import { MEDIA_TYPE, sha256 } from "./artifact";

export type { RegistryAuth };

export interface ClientOptions {
    readonly auth?: RegistryAuth;
    /** Where credentials come from, for error messages, e.g. "--creds" or "gitops:registryCredentials". */
    readonly credsFrom?: string;
    /** Attempts for a retryable failure. Default 4. */
    readonly attempts?: number;
    /** First backoff delay in ms (doubles each attempt). Default 250. */
    readonly backoffMs?: number;
    /** Per-request timeout in ms. Default 60000. */
    readonly timeoutMs?: number;
}

const RETRYABLE = new Set([408, 429, 500, 502, 503, 504]);
const ACCEPT_MANIFEST = [MEDIA_TYPE.manifest, MEDIA_TYPE.index, "application/vnd.docker.distribution.manifest.v2+json"].join(", ");

export interface FetchedManifest {
    digest: string;
    mediaType: string;
    bytes: Buffer;
}

interface RequestOptions {
    headers?: Record<string, string>;
    body?: Buffer;
    /** Statuses that are answers, not errors (e.g. 404 for HEAD). */
    ok?: number[];
    /** What the request does, for messages: "upload blob sha256:...". */
    what: string;
    /** Needs push access (token scope pull,push). */
    write?: boolean;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RegistryClient {
    /** Requests sent (method + path), for tests and progress. */
    readonly log: string[] = [];
    private authorization: string | undefined;
    private scopeGranted: "pull" | "pull,push" | undefined;

    constructor(
        readonly ref: ArtifactRef,
        private readonly opts: ClientOptions = {},
    ) {}

    private get repo(): string {
        return formatRef({ host: this.ref.host, name: this.ref.name });
    }

    private credsHint(): string {
        const from = this.opts.credsFrom ?? "--creds";
        const a = this.opts.auth;
        return a && (a.username !== undefined || a.token) ? `check the credentials in ${from} for ${this.ref.host}` : `give credentials for ${this.ref.host} with ${from}`;
    }

    /** One request with auth, retries and errors. */
    async request(method: string, path: string, o: RequestOptions): Promise<Response> {
        const url = path.startsWith("http") ? path : `${this.ref.base}${path}`;
        const attempts = this.opts.attempts ?? 4;
        let challenged = false;
        for (let attempt = 1; ; attempt++) {
            let res: Response;
            try {
                this.log.push(`${method} ${new URL(url).pathname}${new URL(url).search}`);
                res = await fetch(url, {
                    method,
                    headers: { "user-agent": "gitops-platform", ...(o.headers ?? {}), ...(this.authorization ? { authorization: this.authorization } : {}) },
                    body: o.body ? new Uint8Array(o.body) : undefined,
                    redirect: "follow",
                    signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60000),
                });
            } catch (err) {
                if (attempt < attempts) {
                    await sleep(this.backoff(attempt));
                    continue;
                }
                const cause = (err as { cause?: { code?: string; message?: string } }).cause;
                throw new GitopsError(this.repo, `cannot reach the registry at ${this.ref.base} to ${o.what} (${attempts} attempts): ${cause?.code ?? cause?.message ?? (err as Error).message}`, "check the host and port, and http vs https (--insecure)");
            }
            if (res.status === 401 && (!challenged || (o.write && this.scopeGranted !== "pull,push"))) {
                challenged = true;
                await res.arrayBuffer().catch(() => undefined);
                await this.login(res.headers.get("www-authenticate"), o);
                attempt--; // authenticating is not a retry
                continue;
            }
            if (RETRYABLE.has(res.status) && attempt < attempts && !(o.ok ?? []).includes(res.status)) {
                await res.arrayBuffer().catch(() => undefined);
                const after = Number(res.headers.get("retry-after"));
                await sleep(Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 30000) : this.backoff(attempt));
                continue;
            }
            if (res.ok || (o.ok ?? []).includes(res.status)) return res;
            throw await this.refusal(res, o);
        }
    }

    private backoff(attempt: number): number {
        const base = this.opts.backoffMs ?? 250;
        return base * 2 ** (attempt - 1);
    }

    private async login(header: string | null, o: RequestOptions): Promise<void> {
        const a = this.opts.auth ?? {};
        const hasCreds = a.username !== undefined || a.password !== undefined;
        const ch = header ? parseChallenge(header) : undefined;
        if (!ch) throw new GitopsError(this.repo, `the registry requires authentication to ${o.what} but sent no WWW-Authenticate challenge`, this.credsHint());
        if (ch.scheme === "basic") {
            if (!hasCreds) throw new GitopsError(this.repo, `the registry requires credentials to ${o.what}`, this.credsHint());
            this.authorization = "Basic " + Buffer.from(`${a.username ?? ""}:${a.password ?? ""}`).toString("base64");
            this.scopeGranted = "pull,push";
            return;
        }
        if (ch.scheme !== "bearer") throw new GitopsError(this.repo, `unsupported authentication scheme ${JSON.stringify(ch.scheme)}`);
        if (a.token && !ch.params.realm) {
            this.authorization = `Bearer ${a.token}`;
            this.scopeGranted = "pull,push";
            return;
        }
        const realm = ch.params.realm;
        if (!realm) throw new GitopsError(this.repo, "the Bearer challenge has no realm");
        const scope = o.write ? "pull,push" : "pull";
        const tokenUrl = new URL(realm);
        if (ch.params.service) tokenUrl.searchParams.set("service", ch.params.service);
        tokenUrl.searchParams.set("scope", ch.params.scope ?? `repository:${this.ref.name}:${scope}`);
        let res: Response;
        try {
            this.log.push(`GET ${tokenUrl.pathname} (token)`);
            res = await fetch(tokenUrl, { headers: hasCreds ? { authorization: "Basic " + Buffer.from(`${a.username ?? ""}:${a.password ?? ""}`).toString("base64") } : {}, signal: AbortSignal.timeout(this.opts.timeoutMs ?? 60000) });
        } catch (err) {
            throw new GitopsError(this.repo, `cannot reach the token endpoint ${tokenUrl.origin}: ${(err as Error).message}`);
        }
        if (!res.ok) throw new GitopsError(this.repo, `the token endpoint ${tokenUrl.origin}${tokenUrl.pathname} refused (HTTP ${res.status}) to ${o.what}`, this.credsHint());
        const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
        const token = body.token ?? body.access_token;
        if (!token) throw new GitopsError(this.repo, `the token endpoint ${tokenUrl.origin}${tokenUrl.pathname} returned no token`);
        this.authorization = `Bearer ${token}`;
        this.scopeGranted = scope;
    }

    /** A clear error for a refused request, quoting the registry's error codes. */
    private async refusal(res: Response, o: RequestOptions): Promise<GitopsError> {
        const text = await res.text().catch(() => "");
        let detail = "";
        try {
            const errs = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors ?? [];
            detail = errs.map((e) => [e.code, e.message].filter(Boolean).join(": ")).join("; ");
        } catch {
            detail = text.slice(0, 200).trim();
        }
        const said = detail ? `: ${detail}` : "";
        switch (res.status) {
            case 401:
                return new GitopsError(this.repo, `the registry refused the credentials (HTTP 401) to ${o.what}${said}`, this.credsHint());
            case 403:
                return new GitopsError(this.repo, `access denied (HTTP 403) to ${o.what}${said}`, o.write ? `the credentials need push access to ${this.ref.name}` : `the credentials need pull access to ${this.ref.name}`);
            case 404:
                return new GitopsError(this.repo, `not found (HTTP 404) to ${o.what}${said}`, "check the repository name and the tag or digest");
            case 405:
                return new GitopsError(this.repo, `the registry does not allow this operation (HTTP 405) to ${o.what}${said}`, "is it a read-only registry or a pull-through cache?");
            case 413:
                return new GitopsError(this.repo, `the registry refused the size (HTTP 413) to ${o.what}${said}`, "the artifact is larger than the registry accepts; leave large files out with --ignore-paths");
            default:
                return new GitopsError(this.repo, `the registry refused (HTTP ${res.status}) to ${o.what}${said}`, RETRYABLE.has(res.status) ? "the registry is failing; try again later" : undefined);
        }
    }

    // --- blobs

    async hasBlob(digest: string): Promise<boolean> {
        const r = await this.request("HEAD", `/v2/${this.ref.name}/blobs/${digest}`, { ok: [404], what: `check blob ${digest}` });
        return r.status === 200;
    }

    async getBlob(digest: string): Promise<Buffer> {
        const r = await this.request("GET", `/v2/${this.ref.name}/blobs/${digest}`, { what: `fetch blob ${digest}` });
        const b = Buffer.from(await r.arrayBuffer());
        if (sha256(b) !== digest) throw new GitopsError(this.repo, `blob ${digest} came back with digest ${sha256(b)}`, "the registry or a proxy altered the content; try again");
        return b;
    }

    /** Monolithic upload: POST to open an upload session, PUT the bytes with ?digest=. */
    async putBlob(bytes: Buffer, digest = sha256(bytes)): Promise<string> {
        const start = await this.request("POST", `/v2/${this.ref.name}/blobs/uploads/`, { what: `start a blob upload`, write: true, ok: [202] });
        await start.arrayBuffer().catch(() => undefined);
        const loc = start.headers.get("location");
        if (!loc) throw new GitopsError(this.repo, "the registry opened an upload without a Location header");
        const u = new URL(loc, this.ref.base);
        u.searchParams.set("digest", digest);
        const put = await this.request("PUT", u.href, { what: `upload blob ${digest}`, write: true, body: bytes, headers: { "content-type": "application/octet-stream" } });
        await put.arrayBuffer().catch(() => undefined);
        return digest;
    }

    /** Cross-repository mount (same registry): true when mounted, false when the registry declined. */
    async mountBlob(digest: string, from: string): Promise<boolean> {
        const r = await this.request("POST", `/v2/${this.ref.name}/blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`, { what: `mount blob ${digest} from ${from}`, write: true, ok: [201, 202] });
        await r.arrayBuffer().catch(() => undefined);
        if (r.status === 202) {
            // An upload session was opened instead; abandon it (a registry cleans it up).
            const loc = r.headers.get("location");
            if (loc) await fetch(new URL(loc, this.ref.base), { method: "DELETE", headers: this.authorization ? { authorization: this.authorization } : {} }).catch(() => undefined);
        }
        return r.status === 201;
    }

    // --- manifests

    /** The manifest at a tag or digest, or undefined when there is none. */
    async getManifest(reference: string): Promise<FetchedManifest | undefined> {
        const r = await this.request("GET", `/v2/${this.ref.name}/manifests/${reference}`, { what: `fetch manifest ${reference}`, ok: [404], headers: { accept: ACCEPT_MANIFEST } });
        if (r.status === 404) {
            await r.arrayBuffer().catch(() => undefined);
            return undefined;
        }
        const bytes = Buffer.from(await r.arrayBuffer());
        const digest = sha256(bytes);
        if (reference.startsWith("sha256:") && digest !== reference) {
            throw new GitopsError(this.repo, `manifest ${reference} came back with digest ${digest}`, "the registry or a proxy altered the manifest");
        }
        return { digest, mediaType: (r.headers.get("content-type") ?? "").split(";")[0], bytes };
    }

    /** The digest a tag points at, or undefined. */
    async resolve(reference: string): Promise<string | undefined> {
        const r = await this.request("HEAD", `/v2/${this.ref.name}/manifests/${reference}`, { what: `resolve ${reference}`, ok: [404], headers: { accept: ACCEPT_MANIFEST } });
        if (r.status === 404) return undefined;
        return r.headers.get("docker-content-digest") ?? (await this.getManifest(reference))?.digest;
    }

    /** PUT a manifest under a tag or its digest; checks the registry stored the same digest. */
    async putManifest(reference: string, bytes: Buffer, mediaType: string = MEDIA_TYPE.manifest): Promise<string> {
        const digest = sha256(bytes);
        const r = await this.request("PUT", `/v2/${this.ref.name}/manifests/${reference}`, { what: `push manifest ${reference}`, write: true, body: bytes, headers: { "content-type": mediaType } });
        await r.arrayBuffer().catch(() => undefined);
        const stored = r.headers.get("docker-content-digest");
        if (stored && stored !== digest) throw new GitopsError(this.repo, `the registry stored manifest ${reference} as ${stored}, expected ${digest}`, "the registry rewrote the manifest; use a registry that keeps OCI manifests as sent");
        return digest;
    }
}
