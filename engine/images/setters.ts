/**
 * Image update automation, Setters strategy: Flux's `$imagepolicy` marker semantics
 * (image-automation-controller pkg/update, which uses kyaml's fieldmeta), applied as surgical
 * edits so every byte of a file other than the updated scalars stays as it was.
 *
 * What Flux does, and what this module does the same way:
 * - Files: the update path is walked recursively; only files ending in `.yaml` or `.yml`
 *   (case-sensitive), or named `Kustomization`, whose bytes contain the quoted token
 *   `"$imagepolicy"` are parsed. A file that then fails to parse, or holds a document that is not
 *   a mapping (kyaml reads resources only), is recorded as a problem file and skipped.
 * - Nodes: documents, mapping *values* and sequence *elements* are walked; a marker applies to a
 *   scalar (never to a key, a flow collection or an alias). Its field comment is the scalar's
 *   line comment, or, when there is none, its head comment: the single comment line above a
 *   scalar that starts its line (a sequence item, a value on its own line), blank lines between
 *   allowed, including the comment of a bare `- # ...` line above. kyaml reads only the first of
 *   the two that is non-empty, and a two-line head comment is no marker.
 *   These rules were checked against kyaml itself on 798 placements
 *   (test/fixtures/setters/kyaml-oracle).
 * - Marker: the comment with its leading `#` characters removed must be a JSON object of strings
 *   with a non-empty `$imagepolicy` value (other keys are allowed). Anything else is an ordinary
 *   comment.
 * - Setter names: `NS:NAME` writes the full reference (`name:tag`, or `name:tag@digest` when the
 *   policy reflects a digest); `NS:NAME:tag`, `NS:NAME:name`, `NS:NAME:digest` write one part.
 * - A policy without a latest image defines no setters, so its markers are left alone; so are
 *   markers naming an unknown policy or an unknown suffix. Flux skips all of these silently; we
 *   leave them unchanged too but record each as a problem with its file:line so callers can show it.
 * - Quoting: a plain scalar whose new value would read as a non-string in YAML 1.1 (`1.10`, `true`)
 *   becomes double-quoted; a quoted scalar keeps its quote style.
 * - Only files in which a value actually changed are written.
 *
 * Where we deliberately differ from Flux (documented, tested):
 * - Flux re-serialises every changed file through kyaml (re-indenting sequences, moving comments);
 *   we replace only the scalar's text range.
 * - `.git` directories are not walked, and symbolic links are never followed or written through
 *   (Flux reads a symlinked file and writes through the link); they are reported as skipped.
 * - A marker on a block scalar (`|`, `>`) or an empty value is reported and left unchanged (Flux
 *   rewrites the block).
 * - A `:digest` marker whose policy has no digest is reported and left unchanged.
 * - Screening goes one level further than Flux's: within a file, only the documents that contain
 *   the token are parsed. So a malformed document *without* markers does not stop the marked
 *   documents of the same file from being updated (Flux would skip the whole file); a malformed
 *   document with a marker still skips the whole file, reported with file:line.
 * - Flux loses the file of the items of a `kind: List` file (kyaml unwraps them without their
 *   path annotation); we keep the file and identify each item as its own object.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { GitopsError } from "../errors";
import { writeFilesAtomic } from "../util/atomic";
import { splitImageRef } from "./ref";

/** The shorthand key of a marker comment. */
export const SETTER_SHORTHAND = "$imagepolicy";
/** The screening token Flux searches for before parsing a file (the key with its quotes). */
export const SCREENING_TOKEN = `"${SETTER_SHORTHAND}"`;
const TOKEN_BYTES = Buffer.from(SCREENING_TOKEN);

/** The latest image a policy selected: ImagePolicy `.status.latestRef`. */
export interface LatestRef {
    /** Repository as given, e.g. `ghcr.io/org/app`. */
    readonly name: string;
    /** Tag, e.g. `v1.2.3`. */
    readonly tag: string;
    /** Digest when the policy reflects one, e.g. `sha256:...`. */
    readonly digest?: string;
}

/** One image policy as the setters see it. `latest` undefined: the policy has no latest image yet. */
export interface PolicyLatest {
    readonly namespace: string;
    readonly name: string;
    readonly latest?: LatestRef;
}

/** Identifies the object (a YAML document, or a `List` item) a change was made in. */
export interface ObjectId {
    readonly apiVersion: string;
    readonly kind: string;
    readonly name: string;
    readonly namespace: string;
}

/** One scalar that changed. */
export interface SetterChange {
    /** File path relative to the update root, with `/` separators. */
    readonly file: string;
    /** 1-based line of the scalar. */
    readonly line: number;
    readonly object: ObjectId;
    /** Setter name as in the marker, e.g. `apps:podinfo:tag`. */
    readonly setter: string;
    readonly oldValue: string;
    readonly newValue: string;
}

export type SetterProblemKind =
    | "unparsable" // the file has a marker but is not valid YAML
    | "not-utf8" // the file has a marker but is not UTF-8 text
    | "malformed-marker" // a comment mentions $imagepolicy but is not a valid marker
    | "malformed-policy" // the marker's policy name is not NS:NAME[:tag|:name|:digest]
    | "unknown-policy" // the marker names a policy that was not given
    | "no-latest-image" // the policy has no latest image (Flux: no setter defined)
    | "no-digest" // a :digest marker whose policy reflects no digest
    | "unsupported" // a marker on a block scalar or empty value
    | "symlink"; // a symbolic link (never followed)

/** Something left unchanged that the user may want to know about. */
export interface SetterProblem {
    readonly kind: SetterProblemKind;
    /** `file:line` (or just `file`). */
    readonly where: string;
    readonly message: string;
}

/** Outcome of applying setters to a tree (or one file). */
export interface SetterResult {
    /** All changes, ordered by file then position. */
    readonly changes: SetterChange[];
    /** Changed files (relative paths, sorted) and their new content. */
    readonly files: Map<string, string>;
    readonly problems: SetterProblem[];
    /** YAML files looked at, and how many of them contained the token. */
    readonly scanned: number;
    readonly screened: number;
}

// ---------------------------------------------------------------------------------------------
// Image references and setter names

const NAME_COMPONENT = "[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
const REGISTRY = "(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::[0-9]+)?|\\[[0-9a-fA-F:]+\\](?::[0-9]+)?)";
const REPO_RE = new RegExp(`^(?:${REGISTRY}/)?${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/**
 * Parses `name:tag[@digest]` into a LatestRef. A tag is required (a policy always selects a tag).
 * Throws GitopsError at `where` when the reference is malformed.
 */
export function parseImageRef(ref: string, where: string): LatestRef {
    const { name, tag, digest } = splitImageRef(ref);
    if (digest !== undefined && !DIGEST_RE.test(digest)) {
        throw new GitopsError(where, `image reference '${ref}' has a malformed digest '${digest}'`, "expected e.g. sha256:<64 hex>");
    }
    if (tag === undefined) {
        throw new GitopsError(where, `image reference '${ref}' has no tag`, "give NAME:TAG or NAME:TAG@DIGEST");
    }
    if (!REPO_RE.test(name)) {
        throw new GitopsError(where, `image reference '${ref}' has a malformed repository '${name}'`, "use lowercase path components, optionally after a registry host");
    }
    if (!TAG_RE.test(tag)) {
        throw new GitopsError(where, `image reference '${ref}' has a malformed tag '${tag}'`, "tags are [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    }
    return digest === undefined ? { name, tag } : { name, tag, digest };
}

/** `name:tag`, plus `@digest` when there is one: what a full-reference marker writes. */
export function imageRefString(ref: LatestRef): string {
    return `${ref.name}:${ref.tag}${ref.digest ? `@${ref.digest}` : ""}`;
}

export type SetterPart = "image" | "tag" | "name" | "digest";

const K8S_NAME_RE = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Splits a marker's setter name `NS:NAME[:tag|:name|:digest]`; returns an error text when malformed. */
export function parseSetterName(setter: string): { namespace: string; name: string; part: SetterPart } | { error: string } {
    const parts = setter.split(":");
    if (parts.length !== 2 && parts.length !== 3) {
        return { error: `policy '${setter}' is not NAMESPACE:NAME[:tag|:name|:digest]` };
    }
    const [namespace, name] = parts;
    if (!K8S_NAME_RE.test(namespace) || namespace.length > 63) {
        return { error: `policy '${setter}' has an invalid namespace '${namespace}'` };
    }
    if (!K8S_NAME_RE.test(name) || name.length > 253) {
        return { error: `policy '${setter}' has an invalid name '${name}'` };
    }
    if (parts.length === 2) return { namespace, name, part: "image" };
    const p = parts[2];
    if (p !== "tag" && p !== "name" && p !== "digest") {
        return { error: `policy '${setter}' has an unknown suffix ':${p}' (use :tag, :name or :digest)` };
    }
    return { namespace, name, part: p };
}

/** The policies by `ns:name`. */
export function policyIndex(policies: Iterable<PolicyLatest>): Map<string, PolicyLatest> {
    const m = new Map<string, PolicyLatest>();
    for (const p of policies) m.set(`${p.namespace}:${p.name}`, p);
    return m;
}

// ---------------------------------------------------------------------------------------------
// YAML 1.1 scalar resolution (kyaml quotes plain values that would not read back as strings)

const YAML11_BOOL_NULL = new Set([
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
    "on", "On", "ON", "off", "Off", "OFF", "~", "null", "Null", "NULL",
]);
const YAML11_INT = /^[-+]?(0b[01]+|0o?[0-7]+|0x[0-9a-fA-F]+|[0-9]+)$/;
const YAML11_FLOAT = /^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/;
const YAML11_SPECIAL = /^([-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN))$/;
const YAML_TIMESTAMP = /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(\.[0-9]*)?([ \t]*(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)?$/;

/** True when `value`, written plain, would read as a non-string (number, bool, null, time) in YAML 1.1. */
export function isYaml11NonString(value: string): boolean {
    if (value === "" || value.includes("\n")) return false;
    if (YAML11_BOOL_NULL.has(value)) return true;
    const plain = value.replace(/_/g, "");
    return YAML11_INT.test(plain) || YAML11_FLOAT.test(plain) || YAML11_SPECIAL.test(value) || YAML_TIMESTAMP.test(value);
}

const PLAIN_SAFE = /^[A-Za-z0-9_./][A-Za-z0-9_.:@/+=~-]*$/;

function doubleQuote(v: string): string {
    return JSON.stringify(v);
}

/** The source text for `value` replacing a scalar of the given style. */
function renderScalar(value: string, style: string): string {
    if (style === "QUOTE_DOUBLE") return doubleQuote(value);
    if (style === "QUOTE_SINGLE") return `'${value.replace(/'/g, "''")}'`;
    if (isYaml11NonString(value) || !PLAIN_SAFE.test(value) || value.includes(": ") || value.endsWith(":")) {
        return doubleQuote(value);
    }
    return value;
}

// ---------------------------------------------------------------------------------------------
// One file

/** Offsets of line starts, for offset -> line. */
class Lines {
    private starts: number[] | undefined;
    constructor(private readonly text: string) {}
    lineOf(offset: number): number {
        if (!this.starts) {
            this.starts = [0];
            for (let i = this.text.indexOf("\n"); i >= 0; i = this.text.indexOf("\n", i + 1)) this.starts.push(i + 1);
        }
        let lo = 0;
        let hi = this.starts.length - 1;
        while (lo < hi) {
            const mid = (lo + hi + 1) >> 1;
            if (this.starts[mid] <= offset) lo = mid;
            else hi = mid - 1;
        }
        return lo + 1;
    }
}

/** The line comment after a scalar ending at `end`: `# ...` up to the end of the line. */
function lineCommentAfter(text: string, end: number): string {
    let i = end;
    while (i < text.length && (text[i] === " " || text[i] === "\t")) i++;
    if (text[i] !== "#") return "";
    let j = text.indexOf("\n", i);
    if (j < 0) j = text.length;
    return text.slice(i, j).replace(/\r$/, "");
}

/** The comment on a block scalar's header line (`|-2 # comment`), if any. */
function blockHeaderComment(text: string, start: number): string {
    let j = text.indexOf("\n", start);
    if (j < 0) j = text.length;
    const header = text.slice(start, j).replace(/\r$/, "");
    const m = /[ \t](#.*)$/.exec(header);
    return m ? m[1] : "";
}

const LEADER_RE = /^[ \t]*(?:-[ \t]+)*(?:[&!][^ \t]*[ \t]+)*$/;
/** A line holding only sequence indicators, anchors or tags, and maybe a comment: `  - &a # c`. */
const DASH_ONLY_LINE = /^[ \t]*(?:-(?:[ \t]+|$))+(?:[&!][^ \t]*(?:[ \t]+|$))*(#.*)?$/;

/**
 * The head comment of a scalar starting at `start`, as go-yaml assigns it: when the scalar starts
 * its line (only indentation, `- ` indicators, anchors or tags before it), the nearest block of
 * comment lines above it (blank lines in between allowed), joined with "\n". When the scalar is
 * the content of a `-` on the line above (`- # comment` then the value on the next line), that
 * line's comment is the first line of the block (go-yaml does so even when that `-` is an empty item
 * of its own and the scalar is the next item).
 */
function headCommentBefore(text: string, start: number): string {
    const lineStart = text.lastIndexOf("\n", start - 1) + 1;
    const leader = text.slice(lineStart, start);
    if (!LEADER_RE.test(leader)) return "";
    const lines: string[] = [];
    let end = lineStart - 1; // the "\n" ending the previous line
    let seenComment = false;
    while (end >= 0) {
        const s = text.lastIndexOf("\n", end - 1) + 1;
        const line = text.slice(s, end).replace(/\r$/, "");
        const trimmed = line.trim();
        if (trimmed.startsWith("#")) {
            lines.unshift(trimmed);
            seenComment = true;
        } else if (trimmed === "" && !seenComment) {
            // blank lines between the comment and the scalar
        } else {
            const dash = DASH_ONLY_LINE.exec(line);
            if (dash?.[1]) lines.unshift(dash[1]);
            break;
        }
        end = s - 1;
    }
    return lines.join("\n");
}

type MarkerRead = { setter: string } | { malformed: string } | undefined;

/** Reads a field comment the way kyaml's fieldmeta does. */
function readMarker(comment: string): MarkerRead {
    if (!comment) return undefined;
    const body = comment.replace(/^#+/, "");
    let parsed: unknown;
    try {
        parsed = JSON.parse(body);
    } catch {
        return comment.includes(SETTER_SHORTHAND) ? { malformed: "comment mentions $imagepolicy but is not a JSON object" } : undefined;
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
        return comment.includes(SETTER_SHORTHAND) ? { malformed: "comment mentions $imagepolicy but is not a JSON object" } : undefined;
    }
    const obj = parsed as Record<string, unknown>;
    if (Object.values(obj).some((v) => typeof v !== "string")) {
        return comment.includes(SETTER_SHORTHAND) ? { malformed: "marker values must all be strings" } : undefined;
    }
    const setter = obj[SETTER_SHORTHAND] as string | undefined;
    if (!setter) {
        return comment.includes(SETTER_SHORTHAND) ? { malformed: `marker has no "${SETTER_SHORTHAND}" value` } : undefined;
    }
    return { setter };
}

const DOC_MARKER = /^(?:---|\.\.\.)(?=[ \t\r\n]|$)/gm;
const DIRECTIVE = /^%/m;
const CONTENT_LINE = /^(?![ \t]*(?:#|$))(?!(?:---|\.\.\.)(?:[ \t\r\n]|$)[ \t]*(?:#.*)?$)/m;

/**
 * Splits a file into document chunks at document marker lines (`---`, `...` at column 0, which
 * YAML forbids inside any content, so the split is exact), noting which chunks contain the
 * screening token and which hold any content. A file with directives (`%YAML`, `%TAG`) is one
 * chunk, since directives belong to the document after them.
 */
function documentChunks(text: string): Array<{ start: number; end: number; marked: boolean; content: boolean }> {
    const cuts = [0];
    if (!DIRECTIVE.test(text)) {
        DOC_MARKER.lastIndex = 0;
        for (let m = DOC_MARKER.exec(text); m; m = DOC_MARKER.exec(text)) if (m.index > 0) cuts.push(m.index);
    }
    cuts.push(text.length);
    const out = [];
    for (let i = 0; i + 1 < cuts.length; i++) {
        const chunk = text.slice(cuts[i], cuts[i + 1]);
        out.push({ start: cuts[i], end: cuts[i + 1], marked: chunk.includes(SCREENING_TOKEN), content: CONTENT_LINE.test(chunk) });
    }
    return out;
}

interface Edit {
    start: number;
    end: number;
    text: string;
}

function str(node: unknown): string {
    if (YAML.isScalar(node)) return node.value === null || node.value === undefined ? "" : String(node.value);
    return "";
}

function objectIdOf(node: unknown): ObjectId {
    if (!YAML.isMap(node)) return { apiVersion: "", kind: "", name: "", namespace: "" };
    const meta = node.get("metadata", true);
    return {
        apiVersion: str(node.get("apiVersion", true)),
        kind: str(node.get("kind", true)),
        name: YAML.isMap(meta) ? str(meta.get("name", true)) : "",
        namespace: YAML.isMap(meta) ? str(meta.get("namespace", true)) : "",
    };
}

/**
 * Applies the setters to one file's text. `file` is the relative path used in results. Returns
 * the new text (identical when nothing changed), the changes and problems. Never throws for bad
 * content: unparsable YAML is a problem and the text is returned unchanged.
 */
export function applySettersToText(
    file: string,
    text: string,
    policies: ReadonlyMap<string, PolicyLatest>,
): { text: string; changes: SetterChange[]; problems: SetterProblem[] } {
    const changes: SetterChange[] = [];
    const problems: SetterProblem[] = [];
    const lines = new Lines(text);
    // Only the documents that contain the token are parsed (see documentChunks). The failsafe
    // schema keeps every scalar a string: no tag resolution work; we only need the structure,
    // the source ranges and the errors.
    const chunks = documentChunks(text);
    const parsed: Array<{ base: number; doc: YAML.Document.Parsed }> = [];
    for (const c of chunks) {
        if (!c.marked) continue;
        const docs = YAML.parseAllDocuments(text.slice(c.start, c.end), { schema: "failsafe" });
        for (const d of Array.isArray(docs) ? docs : [docs]) {
            if (d.errors.length > 0) {
                const e = d.errors[0];
                const msg = e.message.split("\n")[0].replace(/ at line \d+, column \d+:?$/, "");
                problems.push({ kind: "unparsable", where: `${file}:${lines.lineOf(c.start + e.pos[0])}`, message: `not valid YAML, file skipped: ${msg}` });
                return { text, changes: [], problems };
            }
            parsed.push({ base: c.start, doc: d });
        }
    }
    const singleDocument = chunks.filter((c) => c.content).length === 1;
    const edits: Edit[] = [];

    let base = 0;
    const visitScalar = (node: YAML.Scalar, object: ObjectId) => {
        if (!node.range) return;
        const range = [base + node.range[0], base + node.range[1]];
        const block = node.type === "BLOCK_LITERAL" || node.type === "BLOCK_FOLDED";
        // A block scalar's line comment sits on its header line (`key: | # comment`).
        const comment = (block ? blockHeaderComment(text, range[0]) : lineCommentAfter(text, range[1])) || headCommentBefore(text, range[0]);
        const marker = readMarker(comment);
        if (!marker) return;
        const where = `${file}:${lines.lineOf(range[0])}`;
        if ("malformed" in marker) {
            problems.push({ kind: "malformed-marker", where, message: marker.malformed });
            return;
        }
        const parsed = parseSetterName(marker.setter);
        if ("error" in parsed) {
            problems.push({ kind: "malformed-policy", where, message: parsed.error });
            return;
        }
        const policy = policies.get(`${parsed.namespace}:${parsed.name}`);
        if (!policy) {
            problems.push({ kind: "unknown-policy", where, message: `marker names image policy '${parsed.namespace}:${parsed.name}', which was not given; left unchanged` });
            return;
        }
        if (!policy.latest) {
            problems.push({ kind: "no-latest-image", where, message: `image policy '${parsed.namespace}:${parsed.name}' has no latest image yet; left unchanged` });
            return;
        }
        let value: string;
        switch (parsed.part) {
            case "image": value = imageRefString(policy.latest); break;
            case "tag": value = policy.latest.tag; break;
            case "name": value = policy.latest.name; break;
            case "digest":
                if (!policy.latest.digest) {
                    problems.push({ kind: "no-digest", where, message: `image policy '${parsed.namespace}:${parsed.name}' reflects no digest (set digestReflectionPolicy); left unchanged` });
                    return;
                }
                value = policy.latest.digest;
                break;
        }
        const style = node.type ?? "PLAIN";
        if (style === "BLOCK_LITERAL" || style === "BLOCK_FOLDED" || range[0] === range[1]) {
            problems.push({ kind: "unsupported", where, message: "markers on block scalars or empty values are not supported; left unchanged" });
            return;
        }
        const old = node.source !== undefined ? String(node.source) : str(node);
        if (old === value) return;
        edits.push({ start: range[0], end: range[1], text: renderScalar(value, style) });
        changes.push({ file, line: lines.lineOf(range[0]), object, setter: marker.setter, oldValue: old, newValue: value });
    };

    const walk = (node: unknown, object: ObjectId) => {
        if (YAML.isMap(node)) {
            for (const pair of node.items) {
                if (YAML.isScalar(pair.value)) visitScalar(pair.value, object);
                else walk(pair.value, object);
            }
        } else if (YAML.isSeq(node)) {
            for (const item of node.items) {
                if (YAML.isScalar(item)) visitScalar(item, object);
                else walk(item, object);
            }
        }
    };

    for (const { base: b, doc } of parsed) {
        base = b;
        const root = doc.contents;
        if (root === null || (YAML.isScalar(root) && root.type === "PLAIN" && /^(|~|null|Null|NULL)$/.test(String(root.source ?? "")))) continue;
        if (!YAML.isMap(root)) {
            // kyaml reads every document as a resource: a sequence or scalar document is an error.
            problems.push({ kind: "unparsable", where: `${file}:${lines.lineOf(base + (root.range?.[0] ?? 0))}`, message: "document is not a mapping (Flux reads only resources), file skipped" });
            return { text, changes: [], problems };
        }
        const id = objectIdOf(root);
        // kyaml unwraps a lone `kind: List` document into its items: each item is its own object.
        if (singleDocument && id.kind === "List" && YAML.isMap(root) && YAML.isSeq(root.get("items", true))) {
            for (const pair of root.items) {
                if (YAML.isScalar(pair.key) && pair.key.value === "items" && YAML.isSeq(pair.value)) {
                    for (const item of pair.value.items) {
                        if (YAML.isScalar(item)) visitScalar(item, id);
                        else walk(item, objectIdOf(item));
                    }
                } else if (YAML.isScalar(pair.value)) visitScalar(pair.value, id);
                else walk(pair.value, id);
            }
            continue;
        }
        walk(root, id);
    }
    if (edits.length === 0) return { text, changes, problems };
    edits.sort((a, b) => a.start - b.start);
    let out = "";
    let pos = 0;
    for (const e of edits) {
        out += text.slice(pos, e.start) + e.text;
        pos = e.end;
    }
    out += text.slice(pos);
    return { text: out, changes, problems };
}

// ---------------------------------------------------------------------------------------------
// A tree

let scratch = Buffer.allocUnsafe(1 << 16);

/**
 * The file's bytes when they contain `token`, else undefined. Reads into a reused buffer, so the
 * 90% of files without a marker cost no allocation.
 */
function readIfContains(file: string, token: Buffer): Buffer | undefined {
    const fd = fs.openSync(file, "r");
    try {
        let len = 0;
        for (;;) {
            if (len === scratch.length) {
                const bigger = Buffer.allocUnsafe(scratch.length * 2);
                scratch.copy(bigger, 0, 0, len);
                scratch = bigger;
            }
            const n = fs.readSync(fd, scratch, len, scratch.length - len, null);
            if (n === 0) break;
            len += n;
        }
        const view = scratch.subarray(0, len);
        return view.indexOf(token) >= 0 ? Buffer.from(view) : undefined;
    } finally {
        fs.closeSync(fd);
    }
}

export interface UpdateOptions {
    /** Write changed files in place (default true). With false the result still has the new contents. */
    readonly write?: boolean;
    /** Test seam for the atomic write (engine/util/atomic.ts): called before each file is swapped in. */
    readonly beforeStep?: (step: string) => void;
}

/**
 * Applies setters to every marked YAML file under `root` (a directory or a single file). Problems
 * never stop the run; an unreadable root does (GitopsError).
 */
export function updateWithSetters(
    root: string,
    policies: Iterable<PolicyLatest> | ReadonlyMap<string, PolicyLatest>,
    opts: UpdateOptions = {},
): SetterResult {
    const index: ReadonlyMap<string, PolicyLatest> = policies instanceof Map ? policies : policyIndex(policies as Iterable<PolicyLatest>);
    const write = opts.write ?? true;
    let st: fs.Stats;
    try {
        st = fs.statSync(root);
    } catch {
        throw new GitopsError(root, "update path does not exist", "give an existing directory");
    }
    const base = st.isDirectory() ? root : path.dirname(root);
    const files: string[] = [];
    const problems: SetterProblem[] = [];
    // Flux considers .yaml/.yml files and kustomize's extensionless `Kustomization`.
    const isYaml = (n: string) => n.endsWith(".yaml") || n.endsWith(".yml") || n === "Kustomization";
    if (st.isDirectory()) {
        const walk = (dir: string, rel: string) => {
            const entries = fs.readdirSync(dir, { withFileTypes: true });
            entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
            for (const e of entries) {
                const r = rel ? `${rel}/${e.name}` : e.name;
                if (e.isDirectory()) {
                    if (e.name !== ".git") walk(path.join(dir, e.name), r);
                } else if (e.isSymbolicLink()) {
                    if (isYaml(e.name)) problems.push({ kind: "symlink", where: r, message: "symbolic link not followed; skipped" });
                } else if (e.isFile() && isYaml(e.name)) {
                    files.push(r);
                }
            }
        };
        walk(root, "");
    } else if (isYaml(path.basename(root))) {
        files.push(path.basename(root));
    }
    const changes: SetterChange[] = [];
    const changed = new Map<string, string>();
    let screened = 0;
    for (const rel of files) {
        const abs = path.join(base, rel);
        const buf = readIfContains(abs, TOKEN_BYTES); // fast byte screen before any decode or parse
        if (!buf) continue;
        screened++;
        const text = buf.toString("utf8");
        // Invalid UTF-8 decodes to U+FFFD; only then is the (costlier) round-trip check needed.
        if (text.includes("\uFFFD") && !Buffer.from(text, "utf8").equals(buf)) {
            problems.push({ kind: "not-utf8", where: rel, message: "file has a marker but is not valid UTF-8; skipped" });
            continue;
        }
        const r = applySettersToText(rel, text, index);
        problems.push(...r.problems);
        if (r.changes.length > 0) {
            changes.push(...r.changes);
            changed.set(rel, r.text);
        }
    }
    // All changed files land together or not at all (staged siblings, then renames).
    if (write && changed.size > 0) writeFilesAtomic(base, Object.fromEntries(changed), { where: root, beforeStep: opts.beforeStep });
    return { changes, files: changed, problems, scanned: files.length, screened };
}
