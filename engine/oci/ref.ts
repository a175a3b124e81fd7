/**
 * Artifact references as Flux writes them: `oci://<host>[:port]/<repository>[:tag][@sha256:<hex>]`.
 * Loopback, `localhost` and private (RFC 1918) registries are spoken to over plain HTTP, as
 * go-containerregistry does; `insecure` forces HTTP for any host.
 */
import { GitopsError } from "../errors";
import { parseRepositoryRef } from "../images/registry";

export interface ArtifactRef {
    /** Base URL of the registry API, e.g. http://127.0.0.1:5000 */
    readonly base: string;
    /** host[:port] as written, e.g. 127.0.0.1:5000 */
    readonly host: string;
    /** Repository name, e.g. team/fleet */
    readonly name: string;
    readonly tag?: string;
    readonly digest?: string;
}

/** OCI distribution tag grammar. */
export const TAG = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const DIGEST = /^sha256:[a-f0-9]{64}$/;

function plainHttp(host: string): boolean {
    const h = host.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    return (
        h === "localhost" ||
        /^127\./.test(h) ||
        h === "::1" ||
        /^10\./.test(h) ||
        /^192\.168\./.test(h) ||
        /^172\.(1[6-9]|2\d|3[01])\./.test(h) ||
        h.endsWith(".local")
    );
}

/** Parses an `oci://` URL; `where` names the flag or config key in errors. */
export function parseArtifactRef(url: string, opts: { insecure?: boolean; where?: string } = {}): ArtifactRef {
    const where = opts.where ?? url;
    const m = /^oci:\/\/(.+)$/.exec(url.trim());
    if (!m) throw new GitopsError(where, `${JSON.stringify(url)} is not an OCI artifact URL`, 'write "oci://registry.example.com/team/fleet:tag"');
    let rest = m[1];
    let digest: string | undefined;
    const at = rest.indexOf("@");
    if (at >= 0) {
        digest = rest.slice(at + 1);
        rest = rest.slice(0, at);
        if (!DIGEST.test(digest)) throw new GitopsError(where, `invalid digest ${JSON.stringify(digest)}`, "a digest is sha256: followed by 64 lowercase hex digits");
    }
    const slash = rest.indexOf("/");
    if (slash < 0) throw new GitopsError(where, `${JSON.stringify(url)} has no repository`, 'write "oci://<host>/<repository>:<tag>"');
    const host = rest.slice(0, slash);
    let path = rest.slice(slash + 1);
    let tag: string | undefined;
    const colon = path.lastIndexOf(":");
    if (colon >= 0) {
        tag = path.slice(colon + 1);
        path = path.slice(0, colon);
        if (!TAG.test(tag)) throw new GitopsError(where, `invalid tag ${JSON.stringify(tag)}`, "a tag is up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'");
    }
    const scheme = opts.insecure || plainHttp(host) ? "http" : "https";
    const r = parseRepositoryRef(`${scheme}://${host}/${path}`);
    return { base: r.base, host, name: r.name, tag, digest };
}

/** `oci://host/name[:tag][@digest]` */
export function formatRef(r: { host: string; name: string; tag?: string; digest?: string }): string {
    return `oci://${r.host}/${r.name}${r.tag ? `:${r.tag}` : ""}${r.digest ? `@${r.digest}` : ""}`;
}
