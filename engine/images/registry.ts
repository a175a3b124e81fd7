/**
 * Tag listing from an OCI Distribution registry, as Flux's ImageRepository reflects it:
 * GET /v2/<name>/tags/list with `n=` page size, following `Link: <...>; rel="next"` (RFC 5988)
 * until the last page; auth by bearer token (a `WWW-Authenticate: Bearer realm,service,scope`
 * challenge answered by the token endpoint, with basic credentials if given) or basic auth;
 * then `exclusionList` (Go regexps, default `^.*\.sig$`) drops tags before any policy runs.
 */
import { GitopsError } from "../errors";
import { compileUserRegexp } from "./policy";

/** Flux's ImageRepository default exclusionList (cosign signature tags). */
export const DEFAULT_EXCLUSION_LIST: readonly string[] = ["^.*\\.sig$"];

export interface RegistryAuth {
    readonly username?: string;
    readonly password?: string;
    /** A ready bearer token (skips the token endpoint). */
    readonly token?: string;
}

export interface ListTagsOptions {
    readonly auth?: RegistryAuth;
    /** Go regexps; a tag matching any is dropped. Default: DEFAULT_EXCLUSION_LIST. [] keeps all. */
    readonly exclusionList?: readonly string[];
    /** Tags per page (`n=`); default: the registry's own default. */
    readonly pageSize?: number;
    /** Use plain HTTP when the reference carries no scheme (like ImageRepository spec.insecure). */
    readonly insecure?: boolean;
    /** Where to report errors (e.g. "imagerepository/flux-system/app"); default: the image ref. */
    readonly where?: string;
    /** Safety limit on pages followed; default 10000. */
    readonly maxPages?: number;
}

export interface ImageRef {
    /** Base URL of the registry, e.g. https://ghcr.io */
    readonly base: string;
    /** Repository name, e.g. fluxcd/source-controller */
    readonly name: string;
}

/**
 * Parses "host[:port]/path", "http(s)://host/path" or a Docker Hub short name ("nginx" means
 * registry-1.docker.io/library/nginx). A tag or digest suffix is not allowed.
 */
export function parseRepositoryRef(ref: string, insecure = false): ImageRef {
    let scheme = insecure ? "http" : "https";
    let rest = ref.trim();
    const m = /^(https?):\/\/(.*)$/.exec(rest);
    if (m) {
        scheme = m[1];
        rest = m[2];
    }
    rest = rest.replace(/\/+$/, "");
    if (rest === "" || /[@\s]/.test(rest)) {
        throw new GitopsError(ref, "not an image repository reference", 'use "registry.example.com/team/app" (no tag or digest)');
    }
    const slash = rest.indexOf("/");
    const first = slash < 0 ? rest : rest.slice(0, slash);
    let host: string;
    let name: string;
    if (slash >= 0 && (first.includes(".") || first.includes(":") || first === "localhost")) {
        host = first;
        name = rest.slice(slash + 1);
    } else {
        host = "registry-1.docker.io";
        name = slash < 0 ? `library/${rest}` : rest;
    }
    if (host === "docker.io" || host === "index.docker.io") host = "registry-1.docker.io";
    if (name.includes(":")) {
        throw new GitopsError(ref, "the reference has a tag; give the repository only", `e.g. ${host}/${name.slice(0, name.lastIndexOf(":"))}`);
    }
    if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(name)) {
        throw new GitopsError(ref, `invalid repository name ${JSON.stringify(name)}`, "names are lowercase letters, digits and separators . _ - /");
    }
    return { base: `${scheme}://${host}`, name };
}

/** Parses an RFC 7235 challenge list; returns the scheme and its parameters for the first challenge. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | undefined {
    const m = /^\s*([A-Za-z][A-Za-z0-9._~+/-]*)\s*(.*)$/.exec(header);
    if (!m) return undefined;
    const params: Record<string, string> = {};
    const re = /\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?/gy;
    let p: RegExpExecArray | null;
    const s = m[2];
    re.lastIndex = 0;
    while (re.lastIndex < s.length && (p = re.exec(s))) {
        params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3];
    }
    return { scheme: m[1].toLowerCase(), params };
}

/** The `rel="next"` target of a Link header (RFC 5988), or undefined. */
export function nextLink(header: string | null): string | undefined {
    if (!header) return undefined;
    // Links are comma-separated; a URL is inside <>, so split on commas outside <>.
    const re = /<([^>]*)>((?:\s*;\s*[^;,]+)*)/g;
    let m: RegExpExecArray | null;
    while ((m = re.exec(header))) {
        const params = m[2].split(";").map((s) => s.trim());
        for (const p of params) {
            const kv = /^rel\s*=\s*"?([^"]*)"?$/i.exec(p);
            if (kv && kv[1].split(/\s+/).includes("next")) return m[1];
        }
    }
    return undefined;
}

const basic = (a: RegistryAuth) => "Basic " + Buffer.from(`${a.username ?? ""}:${a.password ?? ""}`).toString("base64");

/** Lists all tags of `imageRef`, following pagination, authenticating as needed, then applying the exclusion list. */
export async function listTags(imageRef: string, opts: ListTagsOptions = {}): Promise<string[]> {
    const where = opts.where ?? imageRef;
    const exclusions = (opts.exclusionList ?? DEFAULT_EXCLUSION_LIST).map((p, i) =>
        compileUserRegexp(p, `${where}: exclusionList[${i}]`),
    );
    const ref = parseRepositoryRef(imageRef, opts.insecure);
    const auth = opts.auth ?? {};
    const hasCreds = auth.username !== undefined || auth.password !== undefined;
    let authorization: string | undefined = auth.token ? `Bearer ${auth.token}` : undefined;
    let triedChallenge = false;

    const first = new URL(`${ref.base}/v2/${ref.name}/tags/list`);
    if (opts.pageSize !== undefined) {
        if (!Number.isInteger(opts.pageSize) || opts.pageSize < 1) throw new GitopsError(where, `page size must be a positive integer, got ${opts.pageSize}`);
        first.searchParams.set("n", String(opts.pageSize));
    }
    const tags: string[] = [];
    const seenUrls = new Set<string>();
    let url: URL | undefined = first;
    const maxPages = opts.maxPages ?? 10000;
    let pages = 0;
    while (url) {
        if (++pages > maxPages || seenUrls.has(url.href)) {
            throw new GitopsError(where, `pagination did not end after ${pages - 1} pages (last: ${url.href})`);
        }
        seenUrls.add(url.href);
        let res = await get(url, authorization, where);
        if (res.status === 401 && !triedChallenge) {
            triedChallenge = true;
            authorization = await answerChallenge(res.headers.get("www-authenticate"), auth, hasCreds, ref, where);
            res = await get(url, authorization, where);
        }
        if (res.status === 401 || res.status === 403) {
            throw new GitopsError(
                where,
                `the registry refused the credentials (HTTP ${res.status}) for ${ref.base}/v2/${ref.name}/tags/list`,
                hasCreds || auth.token ? "check the username/password or token (spec.secretRef)" : "the repository needs credentials (spec.secretRef)",
            );
        }
        if (res.status === 404) {
            throw new GitopsError(where, `repository ${JSON.stringify(ref.name)} not found at ${ref.base}`, "check spec.image");
        }
        if (!res.ok) {
            throw new GitopsError(where, `listing tags failed: HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
        }
        let body: { tags?: unknown };
        try {
            body = (await res.json()) as { tags?: unknown };
        } catch {
            throw new GitopsError(where, `the registry answered ${url.href} with a body that is not JSON`);
        }
        if (body.tags != null && !Array.isArray(body.tags)) throw new GitopsError(where, `unexpected tags list from ${url.href}`);
        for (const t of (body.tags as unknown[]) ?? []) if (typeof t === "string") tags.push(t);
        const next = nextLink(res.headers.get("link"));
        url = next ? new URL(next, url) : undefined;
    }
    return exclusions.length ? tags.filter((t) => !exclusions.some((re) => re.test(t))) : tags;
}

async function get(url: URL, authorization: string | undefined, where: string): Promise<Response> {
    try {
        return await fetch(url, {
            headers: { accept: "application/json", ...(authorization ? { authorization } : {}) },
            redirect: "follow",
            signal: AbortSignal.timeout(60000),
        });
    } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw new GitopsError(where, `cannot reach the registry at ${url.origin}: ${cause?.code ?? cause?.message ?? (err as Error).message}`, "check the host, port and scheme (http vs https)");
    }
}

async function answerChallenge(header: string | null, auth: RegistryAuth, hasCreds: boolean, ref: ImageRef, where: string): Promise<string> {
    const ch = header ? parseChallenge(header) : undefined;
    if (!ch) throw new GitopsError(where, "the registry requires authentication but sent no WWW-Authenticate challenge");
    if (ch.scheme === "basic") {
        if (!hasCreds) throw new GitopsError(where, "the registry requires basic authentication", "give a username and password (spec.secretRef)");
        return basic(auth);
    }
    if (ch.scheme !== "bearer") throw new GitopsError(where, `unsupported authentication scheme ${JSON.stringify(ch.scheme)}`);
    const realm = ch.params.realm;
    if (!realm) throw new GitopsError(where, "the Bearer challenge has no realm");
    const tokenUrl = new URL(realm);
    if (ch.params.service) tokenUrl.searchParams.set("service", ch.params.service);
    tokenUrl.searchParams.set("scope", ch.params.scope ?? `repository:${ref.name}:pull`);
    let res: Response;
    try {
        res = await fetch(tokenUrl, { headers: hasCreds ? { authorization: basic(auth) } : {}, signal: AbortSignal.timeout(60000) });
    } catch (err) {
        throw new GitopsError(where, `cannot reach the token endpoint ${tokenUrl.origin}: ${(err as Error).message}`);
    }
    if (!res.ok) {
        throw new GitopsError(where, `the token endpoint ${tokenUrl.origin}${tokenUrl.pathname} refused (HTTP ${res.status})`, hasCreds ? "check the username and password" : "the repository needs credentials (spec.secretRef)");
    }
    const body = (await res.json().catch(() => ({}))) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new GitopsError(where, `the token endpoint ${tokenUrl.origin}${tokenUrl.pathname} returned no token`);
    return `Bearer ${token}`;
}
