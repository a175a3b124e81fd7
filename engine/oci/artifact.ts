/**
 * A Flux OCI artifact, built the way `flux push artifact` builds it (fluxcd/pkg/oci push.go and
 * fluxcd/pkg/tar): one tar+gzip content layer of a directory, a config blob, and an OCI image
 * manifest carrying the source, revision and created annotations.
 *
 * The layer is reproducible: entries in lexical walk order (the root "." first), names relative
 * to the root, uid/gid 0, no user or group names, zero times, USTAR headers. The tar bytes equal
 * what fluxcd/pkg/tar writes for the same tree (test/engine/oci.test.ts compares them with it);
 * the gzip stream is Node's zlib at level 6 with mtime 0. Go's deflate makes other (equally
 * valid) bytes, so a layer digest is stable across our runs but not equal to the flux CLI's.
 */
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { gzipSync } from "zlib";
import { GitopsError } from "../errors";

export const MEDIA_TYPE = {
    manifest: "application/vnd.oci.image.manifest.v1+json",
    index: "application/vnd.oci.image.index.v1+json",
    /** Flux's config media type (fluxcd/pkg/oci CanonicalConfigMediaType). */
    config: "application/vnd.cncf.flux.config.v1+json",
    /** Flux's content layer media type (CanonicalContentMediaType). */
    content: "application/vnd.cncf.flux.content.v1.tar+gzip",
} as const;

/** OpenContainers annotations Flux writes and source-controller reads. */
export const ANNOTATION = {
    source: "org.opencontainers.image.source",
    revision: "org.opencontainers.image.revision",
    created: "org.opencontainers.image.created",
} as const;

/** `flux push artifact`'s default --ignore-paths (sourceignore.ExcludeVCS + ExcludeExt). */
export const DEFAULT_IGNORE: readonly string[] = [
    ".git/", ".gitignore", ".gitmodules", ".gitattributes",
    "*.jpg", "*.jpeg", "*.gif", "*.png", "*.wmv", "*.flv", "*.tar.gz", "*.zip",
];

/** The created time `--reproducible` uses, as the flux CLI does. */
export const REPRODUCIBLE_CREATED = "1970-01-01T00:00:00Z";

export interface TarEntry {
    /** Slash-separated path relative to the root; "." is the root itself. */
    name: string;
    dir: boolean;
    /** Permission bits, e.g. 0o644. */
    mode: number;
    content?: Buffer;
}

export const sha256 = (b: Buffer | string): string => "sha256:" + createHash("sha256").update(b).digest("hex");

// --- gitignore-style patterns (the subset sourceignore users write: globs, "dir/", "/anchored", "!negation").

interface Pattern {
    negate: boolean;
    dirOnly: boolean;
    anchored: boolean;
    segments: RegExp[];
}

function globSegment(s: string): RegExp {
    let re = "";
    for (const ch of s) re += ch === "*" ? "[^/]*" : ch === "?" ? "[^/]" : /[\\^$.|+(){}[\]]/.test(ch) ? `\\${ch}` : ch;
    return new RegExp(`^${re}$`);
}

export function compileIgnore(patterns: readonly string[]): Pattern[] {
    const out: Pattern[] = [];
    for (let p of patterns) {
        p = p.trim();
        if (!p || p.startsWith("#")) continue;
        const negate = p.startsWith("!");
        if (negate) p = p.slice(1);
        const dirOnly = p.endsWith("/");
        p = p.replace(/\/+$/, "");
        const anchored = p.includes("/");
        p = p.replace(/^\/+/, "");
        out.push({ negate, dirOnly, anchored, segments: p.split("/").map((s) => (s === "**" ? /^.*$/ : globSegment(s))) });
    }
    return out;
}

/** Lengths of the path prefixes `segs` matches (`**` spans zero or more components). */
function prefixMatches(segs: RegExp[], parts: string[], i = 0, j = 0, out = new Set<number>()): Set<number> {
    if (i === segs.length) {
        out.add(j);
        return out;
    }
    if (segs[i].source === "^.*$") {
        for (let k = j; k <= parts.length; k++) prefixMatches(segs, parts, i + 1, k, out);
        return out;
    }
    if (j < parts.length && segs[i].test(parts[j])) prefixMatches(segs, parts, i + 1, j + 1, out);
    return out;
}

function matchOne(p: Pattern, parts: string[], isDir: boolean): boolean {
    if (!p.anchored) {
        // A bare name matches any component; a component before the last is a directory.
        return parts.some((name, i) => (i < parts.length - 1 || isDir || !p.dirOnly) && p.segments[0].test(name));
    }
    // Anchored: matches the path itself, or a directory above it (then everything inside is matched).
    for (const n of prefixMatches(p.segments, parts)) {
        if (n === 0) continue;
        if (n < parts.length || isDir || !p.dirOnly) return true;
    }
    return false;
}

/** True when the relative path is ignored (the last matching pattern wins, as in .gitignore). */
export function ignored(patterns: Pattern[], rel: string, isDir: boolean): boolean {
    const parts = rel.split("/");
    for (let i = patterns.length - 1; i >= 0; i--) if (matchOne(patterns[i], parts, isDir)) return !patterns[i].negate;
    return false;
}

// --- entries

/** Entries of a directory tree in fluxcd/pkg/tar's order (filepath.WalkDir: lexical, root first); symlinks and devices skipped. */
export function entriesFromDir(root: string, ignore: readonly string[] = DEFAULT_IGNORE): TarEntry[] {
    const st = fs.statSync(root, { throwIfNoEntry: false });
    if (!st) throw new GitopsError(root, "the path does not exist", "give --path an existing directory or file");
    const patterns = compileIgnore(ignore);
    if (st.isFile()) {
        // A single file is archived as a tree holding that one entry, as flux does.
        return [{ name: ".", dir: true, mode: 0o700 }, { name: path.basename(root), dir: false, mode: st.mode & 0o7777, content: fs.readFileSync(root) }];
    }
    if (!st.isDirectory()) throw new GitopsError(root, "not a directory or regular file");
    const out: TarEntry[] = [{ name: ".", dir: true, mode: st.mode & 0o7777 }];
    const walk = (abs: string, rel: string) => {
        const names = fs.readdirSync(abs).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        for (const n of names) {
            const p = path.join(abs, n);
            const r = rel ? `${rel}/${n}` : n;
            const s = fs.lstatSync(p);
            if (!s.isDirectory() && !s.isFile()) continue;
            if (!ignored(patterns, r, s.isDirectory())) {
                out.push(s.isDirectory() ? { name: r, dir: true, mode: s.mode & 0o7777 } : { name: r, dir: false, mode: s.mode & 0o7777, content: fs.readFileSync(p) });
            }
            if (s.isDirectory()) walk(p, r);
        }
    };
    walk(root, "");
    return out;
}

/**
 * Entries for a set of files (path -> content), with their directories, modes 0644/0755: the same
 * bytes on every machine whatever its umask.
 */
export function entriesFromFiles(files: Record<string, string | Buffer>): TarEntry[] {
    const all = new Map<string, TarEntry>([[".", { name: ".", dir: true, mode: 0o755 }]]);
    for (const [p, content] of Object.entries(files)) {
        const parts = p.split("/");
        if (p.startsWith("/") || parts.some((s) => s === "" || s === "." || s === "..")) {
            throw new GitopsError(p, "an artifact path must be relative and stay inside the artifact");
        }
        for (let i = 1; i < parts.length; i++) {
            const d = parts.slice(0, i).join("/");
            if (!all.has(d)) all.set(d, { name: d, dir: true, mode: 0o755 });
        }
        all.set(p, { name: p, dir: false, mode: 0o644, content: Buffer.isBuffer(content) ? content : Buffer.from(content) });
    }
    // WalkDir order: a directory's entries sorted by name, each directory followed by its contents.
    const key = (e: TarEntry) => (e.name === "." ? [] : e.name.split("/"));
    return [...all.values()].sort((a, b) => {
        const ka = key(a);
        const kb = key(b);
        for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
            const c = Buffer.compare(Buffer.from(ka[i]), Buffer.from(kb[i]));
            if (c !== 0) return c;
        }
        return ka.length - kb.length;
    });
}

// --- tar (USTAR, as Go's archive/tar writes it for these headers)

function octal(buf: Buffer, off: number, len: number, value: number): void {
    const s = value.toString(8).padStart(len - 1, "0");
    buf.write(s, off, "ascii");
}

function checksum(h: Buffer): void {
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "binary");
}

/** Go's formatString: copy what fits (the field is NUL-padded). */
function field(h: Buffer, off: number, len: number, s: string): void {
    Buffer.from(s, "utf8").copy(h, off, 0, len);
}

function header(name: string, prefix: string, e: TarEntry, size: number): Buffer {
    const h = Buffer.alloc(512);
    field(h, 0, 100, name);
    octal(h, 100, 8, e.mode);
    octal(h, 108, 8, 0); // uid
    octal(h, 116, 8, 0); // gid
    octal(h, 124, 12, size);
    octal(h, 136, 12, 0); // mtime: zero, as flux writes it
    h.write(e.dir ? "5" : "0", 156, "ascii");
    h.write("ustar\x0000", 257, "binary");
    octal(h, 329, 8, 0); // devmajor
    octal(h, 337, 8, 0); // devminor
    field(h, 345, 155, prefix);
    checksum(h);
    return h;
}

const isAscii = (s: string) => /^[\x00-\x7f]*$/.test(s);
const toAscii = (s: string) => s.replace(/[^\x00-\x7f]/g, "");

/** USTAR prefix/name split as Go's splitUSTARPath: the last '/' within the first 156 bytes. */
function splitUstar(name: string): [string, string] | undefined {
    if (name.length <= 100 || !isAscii(name)) return undefined;
    let length = name.length;
    if (length > 156) length = 156;
    else if (name[length - 1] === "/") length--;
    const i = name.slice(0, length).lastIndexOf("/");
    const nlen = name.length - i - 1;
    if (i <= 0 || nlen > 100 || nlen === 0 || i > 155) return undefined;
    return [name.slice(0, i), name.slice(i + 1)];
}

/** A PAX extended header carrying `path`, as Go's archive/tar writes one (PaxHeaders.0/<base>). */
function paxHeader(name: string): Buffer[] {
    const rec = (k: string, v: string) => {
        const body = ` ${k}=${v}\n`;
        const bl = Buffer.byteLength(body);
        let n = bl + String(bl).length;
        if (String(n).length !== String(n - bl).length) n = bl + String(n).length;
        return `${n}${body}`;
    };
    const data = Buffer.from(rec("path", name), "utf8");
    const slash = name.lastIndexOf("/");
    const paxName = toAscii(slash >= 0 ? `${name.slice(0, slash)}/PaxHeaders.0/${name.slice(slash + 1)}` : `PaxHeaders.0/${name}`);
    const h = Buffer.alloc(512);
    field(h, 0, 100, paxName);
    octal(h, 100, 8, 0);
    octal(h, 108, 8, 0);
    octal(h, 116, 8, 0);
    octal(h, 124, 12, data.length);
    octal(h, 136, 12, 0);
    h.write("x", 156, "ascii");
    h.write("ustar\x0000", 257, "binary");
    checksum(h);
    const pad = (512 - (data.length % 512)) % 512;
    return [h, data, Buffer.alloc(pad)];
}

export function tar(entries: readonly TarEntry[]): Buffer {
    const parts: Buffer[] = [];
    for (const e of entries) {
        const size = e.dir ? 0 : (e.content?.length ?? 0);
        if (Buffer.byteLength(e.name) <= 100 && isAscii(e.name)) parts.push(header(e.name, "", e, size));
        else {
            const split = splitUstar(e.name);
            if (split) parts.push(header(split[1], split[0], e, size));
            else parts.push(...paxHeader(e.name), header(toAscii(e.name), "", e, size));
        }
        if (size > 0) {
            parts.push(e.content!);
            const pad = (512 - (size % 512)) % 512;
            if (pad) parts.push(Buffer.alloc(pad));
        }
    }
    parts.push(Buffer.alloc(1024));
    return Buffer.concat(parts);
}

/** The content layer: tar + gzip, byte-for-byte the same for the same entries (gzip mtime 0, level 6). */
export function contentLayer(entries: readonly TarEntry[]): { bytes: Buffer; digest: string; diffId: string } {
    const t = tar(entries);
    const bytes = gzipSync(t, { level: 6 });
    return { bytes, digest: sha256(bytes), diffId: sha256(t) };
}

/**
 * The config blob: go-containerregistry's empty image config with the Flux config media type and
 * `created` set, as fluxcd/pkg/oci writes it (no rootfs diff_ids for an artifact config).
 */
export function configBlob(created: string): Buffer {
    return Buffer.from(JSON.stringify({ architecture: "", created, os: "", rootfs: { type: "layers", diff_ids: [] }, config: {} }));
}

export interface Descriptor {
    mediaType: string;
    size: number;
    digest: string;
    annotations?: Record<string, string>;
}

export interface Manifest {
    schemaVersion: 2;
    mediaType?: string;
    artifactType?: string;
    config: Descriptor;
    layers: Descriptor[];
    annotations?: Record<string, string>;
}

export interface ArtifactMeta {
    /** Where the content came from, e.g. the Git URL. */
    source: string;
    /** The source revision, e.g. `main@sha1:<commit>`. */
    revision: string;
    /** RFC 3339 time the artifact was built. */
    created: string;
}

/** Validates an RFC 3339 time the way Go's time.Parse(time.RFC3339) accepts it. */
export function checkCreated(created: string, where: string): void {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(created) || Number.isNaN(Date.parse(created))) {
        throw new GitopsError(where, `invalid created time ${JSON.stringify(created)}`, 'use RFC 3339, e.g. "2025-01-31T12:00:00Z"');
    }
}

/** The manifest bytes (keys in the order go-containerregistry marshals them; annotations sorted). */
export function manifestBytes(config: Buffer, layer: { bytes: Buffer; digest: string }, meta: ArtifactMeta, extra: Record<string, string> = {}): Buffer {
    const ann: Record<string, string> = { ...extra, [ANNOTATION.created]: meta.created, [ANNOTATION.source]: meta.source, [ANNOTATION.revision]: meta.revision };
    const sorted = Object.fromEntries(Object.keys(ann).sort().map((k) => [k, ann[k]]));
    const m: Manifest = {
        schemaVersion: 2,
        mediaType: MEDIA_TYPE.manifest,
        config: { mediaType: MEDIA_TYPE.config, size: config.length, digest: sha256(config) },
        layers: [{ mediaType: MEDIA_TYPE.content, size: layer.bytes.length, digest: layer.digest }],
        annotations: sorted,
    };
    return Buffer.from(JSON.stringify(m));
}

/** The artifact metadata a manifest carries (empty strings when an annotation is missing). */
export function metaOf(m: Manifest): ArtifactMeta {
    const a = m.annotations ?? {};
    return { source: a[ANNOTATION.source] ?? "", revision: a[ANNOTATION.revision] ?? "", created: a[ANNOTATION.created] ?? "" };
}
