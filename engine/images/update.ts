/**
 * One image update automation run (ImageUpdateAutomation, Setters strategy): check out the fleet
 * repo, apply the setter markers under the update path, commit with a message rendered from a
 * template, push to the push branch, and optionally open a pull request on GitHub.
 *
 * The commit message template sees Flux's template data (image-automation-controller v1):
 *   .AutomationObject            namespace/name of the automation (fields .Namespace, .Name)
 *   .Changed.FileChanges         map file -> map object -> []Change, the file relative to the
 *                                update path (Flux runs its setters with spec.update.path as root)
 *   .Changed.Objects             map object -> []Change (all files)
 *   .Changed.Changes             []Change, de-duplicated
 *   .Values                      map of user values (spec.git.commit.messageTemplateValues)
 * where an object has .APIVersion .Kind .Name .Namespace and a Change has .OldValue .NewValue
 * .Setter. Maps are ranged in sorted key order, as Go's text/template does.
 *
 * The template language is a documented subset of Go's text/template: text; `{{ pipeline }}`
 * where a pipeline is `.`, `.A.B`, `$`, `$x`, `$x.A`, a "string" or a number, optionally
 * `len X`; `{{ if P }}` / `{{ else if P }}` / `{{ else }}` / `{{ end }}`; `{{ with P }}`;
 * `{{ range P }}`, `{{ range $v := P }}`, `{{ range $k, $v := P }}` with optional `{{ else }}`;
 * `{{/* comments *\/}}`; `{{-` and `-}}` trim whitespace. Anything else is an error naming the
 * template line.
 */
import { GitopsError } from "../errors";
import { confine, normalizeRelative, relativePathProblem } from "../util/paths";
import { GitAuth, Identity, materialize, syncFiles } from "../git";
import { checkBranchName } from "../git/sync";
import { ObjectId, PolicyLatest, SetterChange, SetterResult, updateWithSetters } from "./setters";
import * as fs from "fs";
import * as path from "path";

// ---------------------------------------------------------------------------------------------
// Template data (Flux's shape)

/** A Go map for templates: entries kept in sorted key order. */
export class TemplateMap {
    constructor(readonly entries: Array<[unknown, unknown]>) {}
    get size(): number {
        return this.entries.length;
    }
}

const GO_STRING = Symbol("goString");

interface GoStringer {
    [GO_STRING](): string;
}

function templateObject(id: ObjectId): Record<string, unknown> & GoStringer {
    return {
        APIVersion: id.apiVersion,
        Kind: id.kind,
        Name: id.name,
        Namespace: id.namespace,
        // fmt's %v of Flux's ObjectIdentifier{ResourceIdentifier{TypeMeta, NameMeta}}
        [GO_STRING]: () => `{{{${id.apiVersion} ${id.kind}} {${id.name} ${id.namespace}}}}`,
    };
}

function templateChange(c: SetterChange): Record<string, unknown> & GoStringer {
    return { OldValue: c.oldValue, NewValue: c.newValue, Setter: c.setter, [GO_STRING]: () => `{${c.oldValue} ${c.newValue} ${c.setter}}` };
}

function objectKey(id: ObjectId): string {
    return [id.apiVersion, id.kind, id.name, id.namespace].join("\u0000");
}

function compareIds(a: ObjectId, b: ObjectId): number {
    const ka = objectKey(a);
    const kb = objectKey(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
}

/** Builds Flux's commit template data from a setters result. */
export function templateData(
    automation: { namespace: string; name: string },
    changes: readonly SetterChange[],
    values: Record<string, string> = {},
): Record<string, unknown> {
    const byFile = new Map<string, Map<string, { id: ObjectId; changes: SetterChange[] }>>();
    for (const c of changes) {
        const objs = byFile.get(c.file) ?? new Map();
        byFile.set(c.file, objs);
        const k = objectKey(c.object);
        const entry = objs.get(k) ?? { id: c.object, changes: [] };
        objs.set(k, entry);
        entry.changes.push(c);
    }
    const files = [...byFile.keys()].sort();
    const fileChanges = new TemplateMap(
        files.map((f) => {
            const objs = [...byFile.get(f)!.values()].sort((a, b) => compareIds(a.id, b.id));
            return [f, new TemplateMap(objs.map((o) => [templateObject(o.id), o.changes.map(templateChange)]))];
        }),
    );
    // Flux's Objects(): per object across files (a later file's entry replaces an earlier one).
    const objects = new Map<string, { id: ObjectId; changes: SetterChange[] }>();
    for (const f of files) for (const [k, o] of byFile.get(f)!) objects.set(k, o);
    const objectsMap = new TemplateMap(
        [...objects.values()].sort((a, b) => compareIds(a.id, b.id)).map((o) => [templateObject(o.id), o.changes.map(templateChange)]),
    );
    const seen = new Set<string>();
    const unique: SetterChange[] = [];
    for (const f of files) {
        for (const o of [...byFile.get(f)!.values()].sort((a, b) => compareIds(a.id, b.id))) {
            for (const c of o.changes) {
                const k = `${c.oldValue}\u0000${c.newValue}\u0000${c.setter}`;
                if (!seen.has(k)) {
                    seen.add(k);
                    unique.push(c);
                }
            }
        }
    }
    return {
        AutomationObject: {
            Name: automation.name,
            Namespace: automation.namespace,
            [GO_STRING]: () => `${automation.namespace}/${automation.name}`,
        },
        Changed: { FileChanges: fileChanges, Objects: objectsMap, Changes: unique.map(templateChange) },
        Values: new TemplateMap(Object.keys(values).sort().map((k) => [k, values[k]])),
    };
}

/** Our default commit message: the automation, then per file and object, old -> new. */
export const DEFAULT_MESSAGE_TEMPLATE = `Update images from image update automation {{ .AutomationObject }}

{{ range $file, $objects := .Changed.FileChanges -}}
{{ $file }}
{{ range $object, $changes := $objects -}}
{{ range $changes }}  {{ $object.Kind }}/{{ $object.Name }}: {{ .OldValue }} -> {{ .NewValue }}
{{ end -}}
{{ end -}}
{{ end -}}
`;

// ---------------------------------------------------------------------------------------------
// The template subset

type Tok = { kind: "text"; text: string } | { kind: "action"; body: string; line: number };

type Node =
    | { t: "text"; text: string }
    | { t: "print"; expr: string; line: number }
    | { t: "if"; cond: string; line: number; then: Node[]; else: Node[]; with?: boolean }
    | { t: "range"; expr: string; vars: string[]; line: number; body: Node[]; else: Node[] };

function tokenize(src: string, where: string): Tok[] {
    const toks: Tok[] = [];
    let pos = 0;
    let line = 1;
    let trimNext = false;
    while (pos < src.length) {
        const open = src.indexOf("{{", pos);
        let text = open < 0 ? src.slice(pos) : src.slice(pos, open);
        if (trimNext) text = text.replace(/^\s+/, "");
        if (open < 0) {
            toks.push({ kind: "text", text });
            break;
        }
        const close = src.indexOf("}}", open + 2);
        if (close < 0) throw new GitopsError(`${where}:${line + countLines(src.slice(pos, open))}`, "unclosed action: '{{' without '}}'");
        let body = src.slice(open + 2, close);
        const trimPrev = body.startsWith("-") && /^-\s/.test(body);
        if (trimPrev) {
            text = text.replace(/\s+$/, "");
            body = body.slice(1);
        }
        trimNext = /\s-$/.test(body);
        if (trimNext) body = body.slice(0, -1);
        toks.push({ kind: "text", text });
        const actionLine = line + countLines(src.slice(pos, open));
        toks.push({ kind: "action", body: body.trim(), line: actionLine });
        line = actionLine + countLines(src.slice(open, close + 2));
        pos = close + 2;
    }
    return toks;
}

function countLines(s: string): number {
    let n = 0;
    for (let i = s.indexOf("\n"); i >= 0; i = s.indexOf("\n", i + 1)) n++;
    return n;
}

function parseTemplate(src: string, where: string): Node[] {
    const toks = tokenize(src, where);
    let i = 0;
    const parseList = (stops: RegExp | null): { nodes: Node[]; stop?: { body: string; line: number } } => {
        const nodes: Node[] = [];
        while (i < toks.length) {
            const tk = toks[i++];
            if (tk.kind === "text") {
                if (tk.text) nodes.push({ t: "text", text: tk.text });
                continue;
            }
            const b = tk.body;
            if (b.startsWith("/*")) {
                if (!b.endsWith("*/")) throw new GitopsError(`${where}:${tk.line}`, "unclosed comment");
                continue;
            }
            if (stops && stops.test(b)) return { nodes, stop: { body: b, line: tk.line } };
            let m: RegExpExecArray | null;
            if ((m = /^(if|with)\s+(.+)$/.exec(b))) {
                nodes.push(parseIf(m[2], tk.line, m[1] === "with"));
            } else if ((m = /^range\s+(.+)$/.exec(b))) {
                let expr = m[1];
                let vars: string[] = [];
                const decl = /^(\$\w+)(?:\s*,\s*(\$\w+))?\s*:=\s*(.+)$/.exec(expr);
                if (decl) {
                    vars = decl[2] ? [decl[1], decl[2]] : [decl[1]];
                    expr = decl[3];
                }
                const body = parseList(/^(end|else)$/);
                if (!body.stop) throw new GitopsError(`${where}:${tk.line}`, "range without {{ end }}");
                let elseNodes: Node[] = [];
                if (body.stop.body === "else") {
                    const e = parseList(/^end$/);
                    if (!e.stop) throw new GitopsError(`${where}:${tk.line}`, "range without {{ end }}");
                    elseNodes = e.nodes;
                }
                nodes.push({ t: "range", expr, vars, line: tk.line, body: body.nodes, else: elseNodes });
            } else if (/^(end|else)\b/.test(b)) {
                throw new GitopsError(`${where}:${tk.line}`, `unexpected {{ ${b} }}`);
            } else if (/^(define|template|block)\b/.test(b) || /^\$\w+\s*:?=/.test(b)) {
                throw new GitopsError(`${where}:${tk.line}`, `'{{ ${b} }}' is not supported`, "use if/else/range/with, fields, variables from range, len");
            } else {
                nodes.push({ t: "print", expr: b, line: tk.line });
            }
        }
        return { nodes };
    };
    const parseIf = (cond: string, line: number, isWith: boolean): Node => {
        const then = parseList(/^(end|else|else if\s+.+)$/);
        if (!then.stop) throw new GitopsError(`${where}:${line}`, `${isWith ? "with" : "if"} without {{ end }}`);
        let elseNodes: Node[] = [];
        if (then.stop.body.startsWith("else if")) {
            elseNodes = [parseIf(then.stop.body.replace(/^else if\s+/, ""), then.stop.line, false)];
        } else if (then.stop.body === "else") {
            const e = parseList(/^end$/);
            if (!e.stop) throw new GitopsError(`${where}:${line}`, `${isWith ? "with" : "if"} without {{ end }}`);
            elseNodes = e.nodes;
        }
        return { t: "if", cond, line, then: then.nodes, else: elseNodes, with: isWith };
    };
    const top = parseList(/^(end|else.*)$/);
    if (top.stop) throw new GitopsError(`${where}:${top.stop.line}`, `unexpected {{ ${top.stop.body} }}`);
    return top.nodes;
}

function truthy(v: unknown): boolean {
    if (v === undefined || v === null || v === false || v === 0 || v === "") return false;
    if (Array.isArray(v)) return v.length > 0;
    if (v instanceof TemplateMap) return v.size > 0;
    return true;
}

function goString(v: unknown): string {
    if (v === undefined || v === null) return "<no value>";
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    if (typeof v === "object" && GO_STRING in (v as object)) return (v as GoStringer)[GO_STRING]();
    if (Array.isArray(v)) return `[${v.map(goString).join(" ")}]`;
    if (v instanceof TemplateMap) return `map[${v.entries.map(([k, x]) => `${goString(k)}:${goString(x)}`).join(" ")}]`;
    return `{${Object.values(v as object).map(goString).join(" ")}}`;
}

interface Scope {
    dot: unknown;
    root: unknown;
    vars: Map<string, unknown>;
}

function evalExpr(expr: string, s: Scope, where: string): unknown {
    const e = expr.trim();
    const len = /^len\s+(.+)$/.exec(e);
    if (len) {
        const v = evalExpr(len[1], s, where);
        if (typeof v === "string" || Array.isArray(v)) return v.length;
        if (v instanceof TemplateMap) return v.size;
        throw new GitopsError(where, `len of a value that has no length ('${len[1]}')`);
    }
    if (/^"(?:[^"\\]|\\.)*"$/.test(e)) return JSON.parse(e) as string;
    if (/^-?\d+$/.test(e)) return Number(e);
    const m = /^(\$\w*|\.)?((?:\.\w+)*)$/.exec(e);
    if (!m || (m[1] === undefined && m[2] === "")) {
        throw new GitopsError(where, `'${e}' is not supported in this template subset`, "use ., .Field, $var, $var.Field, \"text\", len X");
    }
    let v: unknown;
    let fields = m[2];
    if (m[1] === undefined || m[1] === ".") {
        v = s.dot;
        if (m[1] === "." && fields === "") return v;
        if (m[1] === ".") fields = m[2];
    } else if (m[1] === "$") {
        v = s.root;
    } else {
        if (!s.vars.has(m[1])) throw new GitopsError(where, `undefined variable ${m[1]}`);
        v = s.vars.get(m[1]);
    }
    for (const f of fields.split(".").filter(Boolean)) {
        if (v instanceof TemplateMap) {
            v = v.entries.find(([k]) => k === f)?.[1];
        } else if (v !== null && typeof v === "object" && f in (v as object)) {
            v = (v as Record<string, unknown>)[f];
        } else {
            throw new GitopsError(where, `can't evaluate field ${f} in '${e}'`);
        }
    }
    return v;
}

function execNodes(nodes: Node[], s: Scope, where: string, out: string[]): void {
    for (const n of nodes) {
        switch (n.t) {
            case "text":
                out.push(n.text);
                break;
            case "print":
                out.push(goString(evalExpr(n.expr, s, `${where}:${n.line}`)));
                break;
            case "if": {
                const v = evalExpr(n.cond, s, `${where}:${n.line}`);
                if (truthy(v)) execNodes(n.then, n.with ? { ...s, dot: v } : s, where, out);
                else execNodes(n.else, s, where, out);
                break;
            }
            case "range": {
                const v = evalExpr(n.expr, s, `${where}:${n.line}`);
                let items: Array<[unknown, unknown]>;
                if (Array.isArray(v)) items = v.map((x, i) => [i, x]);
                else if (v instanceof TemplateMap) items = v.entries;
                else if (v === undefined || v === null) items = [];
                else throw new GitopsError(`${where}:${n.line}`, `range can't iterate over '${n.expr}'`);
                if (items.length === 0) {
                    execNodes(n.else, s, where, out);
                    break;
                }
                for (const [k, x] of items) {
                    const vars = new Map(s.vars);
                    if (n.vars.length === 1) vars.set(n.vars[0], x);
                    if (n.vars.length === 2) {
                        vars.set(n.vars[0], k);
                        vars.set(n.vars[1], x);
                    }
                    execNodes(n.body, { dot: x, root: s.root, vars }, where, out);
                }
                break;
            }
        }
    }
}

/** Renders `template` (the subset described at the top of this file) against `data`. */
export function renderMessageTemplate(template: string, data: unknown, where = "messageTemplate"): string {
    const nodes = parseTemplate(template, where);
    const out: string[] = [];
    execNodes(nodes, { dot: data, root: data, vars: new Map() }, where, out);
    return out.join("");
}

// ---------------------------------------------------------------------------------------------
// Pull requests (GitHub REST API)

export interface PullRequestOptions {
    /** API base URL. Default https://api.github.com. */
    readonly apiUrl?: string;
    readonly token?: string;
    readonly owner: string;
    readonly repo: string;
    /** Branch the pull request merges into (usually the checkout branch). */
    readonly base: string;
    /** Title. Default: the first line of the commit message. */
    readonly title?: string;
}

export interface PullRequestResult {
    readonly number: number;
    readonly url: string;
    /** False when an open pull request for the head branch already existed. */
    readonly created: boolean;
}

/**
 * Opens a pull request from `head` into `base`, unless one is already open for that head branch
 * (then that one is returned and nothing is created). Undefined when GitHub says there is nothing
 * to merge (the branch was merged already).
 */
export async function ensurePullRequest(opts: PullRequestOptions, head: string, body: string, title: string): Promise<PullRequestResult | undefined> {
    const api = (opts.apiUrl ?? "https://api.github.com").replace(/\/+$/, "");
    const where = `github:${opts.owner}/${opts.repo}`;
    const headers: Record<string, string> = {
        Accept: "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
        "User-Agent": "gitops-image-update",
    };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    const base = `${api}/repos/${encodeURIComponent(opts.owner)}/${encodeURIComponent(opts.repo)}/pulls`;
    const call = async (method: string, url: string, payload?: unknown): Promise<{ status: number; json: unknown }> => {
        let res: Response;
        try {
            res = await fetch(url, {
                method,
                headers: payload === undefined ? headers : { ...headers, "Content-Type": "application/json" },
                body: payload === undefined ? undefined : JSON.stringify(payload),
            });
        } catch (e) {
            throw new GitopsError(where, `GitHub API ${method} ${url} failed: ${(e as Error).message}`, "check the API URL and network");
        }
        const text = await res.text();
        let json: unknown;
        try {
            json = text ? JSON.parse(text) : undefined;
        } catch {
            json = text;
        }
        return { status: res.status, json };
    };
    const findOpen = async (): Promise<PullRequestResult | undefined> => {
        const q = `${base}?state=open&head=${encodeURIComponent(`${opts.owner}:${head}`)}&base=${encodeURIComponent(opts.base)}`;
        const r = await call("GET", q);
        if (r.status !== 200 || !Array.isArray(r.json)) {
            throw new GitopsError(where, `GitHub API GET pulls returned ${r.status}: ${apiMessage(r.json)}`, "check the token's pull request permission");
        }
        const pr = r.json[0] as { number?: number; html_url?: string } | undefined;
        return pr ? { number: pr.number ?? 0, url: pr.html_url ?? "", created: false } : undefined;
    };
    const existing = await findOpen();
    if (existing) return existing;
    const r = await call("POST", base, { title, head, base: opts.base, body });
    if (r.status === 201) {
        const pr = r.json as { number?: number; html_url?: string };
        return { number: pr.number ?? 0, url: pr.html_url ?? "", created: true };
    }
    if (r.status === 422 && /already exists/i.test(JSON.stringify(r.json))) {
        const again = await findOpen();
        if (again) return again;
    }
    if (r.status === 422 && /no commits between/i.test(JSON.stringify(r.json))) return undefined; // already merged
    throw new GitopsError(where, `GitHub API POST pulls returned ${r.status}: ${apiMessage(r.json)}`, "check the token, the base branch and that the head branch was pushed");
}

function apiMessage(json: unknown): string {
    if (json && typeof json === "object" && "message" in json) return String((json as { message: unknown }).message);
    return typeof json === "string" ? json.slice(0, 200) : "no message";
}

// ---------------------------------------------------------------------------------------------
// One automation run

export interface ImageUpdateRunOptions {
    /** Fleet repository: URL or local path. */
    readonly repo: string;
    readonly auth?: GitAuth;
    /** Branch checked out (spec.git.checkout.ref.branch). Default: the remote's default branch. */
    readonly checkoutBranch?: string;
    /**
     * Branch pushed to (spec.git.push.branch). Default: the checkout branch. When it differs and
     * already exists, the run builds on it (so earlier automation commits are kept); when it does
     * not exist it is created from the remote's default branch.
     */
    readonly pushBranch?: string;
    /** Update path inside the repo (spec.update.path). Default ".". */
    readonly path?: string;
    readonly policies: readonly PolicyLatest[];
    readonly author: Identity;
    /** Go-template subset; default DEFAULT_MESSAGE_TEMPLATE. */
    readonly messageTemplate?: string;
    readonly messageValues?: Record<string, string>;
    /** The ImageUpdateAutomation's identity, for .AutomationObject. */
    readonly automation: { readonly namespace: string; readonly name: string };
    /** Compute everything, commit and push nothing. */
    readonly dryRun?: boolean;
    /** Open (or find) a pull request from the push branch after pushing. */
    readonly pullRequest?: PullRequestOptions;
}

export interface ImageUpdateRunResult {
    /** The commit the changes were computed on. */
    readonly revision: string;
    /** Changes and problems; file paths relative to the repository root. */
    readonly setters: SetterResult;
    /** The rendered commit message ("" when nothing changed). */
    readonly message: string;
    readonly committed: boolean;
    readonly pushed: boolean;
    /** The push branch head after the run. */
    readonly commit?: string;
    readonly pullRequest?: PullRequestResult;
}

function normalizeUpdatePath(p: string | undefined): string {
    const problem = relativePathProblem(p ?? ".");
    if (problem) throw new GitopsError(`update.path:${p}`, `the update path must stay inside the repository (it ${problem})`, "use a relative path such as ./apps/dev");
    return normalizeRelative(p ?? ".");
}

function isMissingRef(e: unknown): boolean {
    return e instanceof GitopsError && /no branch, tag or commit named/.test(e.message);
}

/** Runs one image update automation against `opts.repo`. Bad input changes nothing remotely. */
export async function runImageUpdate(opts: ImageUpdateRunOptions): Promise<ImageUpdateRunResult> {
    const updatePath = normalizeUpdatePath(opts.path);
    if (opts.checkoutBranch) checkBranchName(opts.checkoutBranch, "checkoutBranch");
    if (opts.pushBranch) checkBranchName(opts.pushBranch, "pushBranch");
    if (!opts.author?.name || !opts.author?.email) throw new GitopsError("author", "author name and email are required");
    const template = opts.messageTemplate ?? DEFAULT_MESSAGE_TEMPLATE;
    parseTemplate(template, "messageTemplate"); // fail on a bad template before touching anything

    // Build on the push branch when it exists and differs from the checkout branch.
    let checkout;
    let baseBranch = opts.checkoutBranch;
    if (opts.pushBranch && opts.pushBranch !== opts.checkoutBranch) {
        try {
            checkout = await materialize(opts.repo, opts.pushBranch, opts.auth);
            baseBranch = opts.pushBranch;
        } catch (e) {
            if (!isMissingRef(e)) throw e;
        }
    }
    checkout ??= await materialize(opts.repo, opts.checkoutBranch, opts.auth);
    try {
        const root = confine(checkout.dir, updatePath || ".", `update.path:${opts.path}`, { fix: "point update.path at a directory of the fleet repo; symbolic links may not lead out of it" });
        if (!fs.existsSync(root)) {
            throw new GitopsError(`update.path:${opts.path}`, `no such path in ${opts.repo} at ${checkout.revision.slice(0, 12)}`, "point update.path at a directory of the fleet repo");
        }
        const result = updateWithSetters(root, opts.policies, { write: false });
        const prefix = updatePath ? `${updatePath}/` : "";
        const changes = result.changes.map((c) => ({ ...c, file: prefix + c.file }));
        const files = new Map([...result.files].map(([f, text]) => [prefix + f, text]));
        const problems = result.problems.map((p) => ({ ...p, where: prefix + p.where }));
        const setters: SetterResult = { ...result, changes, files, problems };
        if (changes.length === 0) {
            // Nothing new, but an earlier run may have pushed the push branch and then failed to
            // open its pull request: make sure one is open (finding it costs one GET).
            let pullRequest: PullRequestResult | undefined;
            const pr = opts.pullRequest;
            if (pr && !opts.dryRun && baseBranch === opts.pushBranch && opts.pushBranch !== pr.base) {
                const title = pr.title ?? `Update images from image update automation ${opts.automation.namespace}/${opts.automation.name}`;
                pullRequest = await ensurePullRequest(pr, opts.pushBranch!, "", title);
            }
            return { revision: checkout.revision, setters, message: "", committed: false, pushed: false, pullRequest };
        }
        // The template sees the files as Flux names them: relative to the update path, not the repository.
        const message = renderMessageTemplate(template, templateData(opts.automation, result.changes, opts.messageValues));
        const pushBranch = opts.pushBranch ?? opts.checkoutBranch ?? baseBranch;
        if (!pushBranch) throw new GitopsError("pushBranch", "no push branch: give pushBranch or checkoutBranch");
        const sync = await syncFiles({
            repo: opts.repo,
            auth: opts.auth,
            branch: pushBranch,
            files: Object.fromEntries(files),
            owned: [],
            author: opts.author,
            message,
            createBranch: true,
            dryRun: opts.dryRun,
        });
        let pullRequest: PullRequestResult | undefined;
        if (opts.pullRequest && sync.pushed && pushBranch !== opts.pullRequest.base) {
            pullRequest = await ensurePullRequest(opts.pullRequest, pushBranch, message, opts.pullRequest.title ?? message.split("\n")[0]);
        }
        return { revision: checkout.revision, setters, message, committed: sync.committed, pushed: sync.pushed, commit: sync.commit, pullRequest };
    } finally {
        await checkout.cleanup();
    }
}
