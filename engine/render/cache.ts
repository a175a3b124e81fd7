/**
 * Incremental, content-addressed rendering of Kustomization paths at a Git revision.
 *
 * The key of one render is a hash of
 *  - the git tree id of every folder the kustomization reads: its own path, and every folder
 *    outside it that a kustomization file on the way names (resources, components, patches,
 *    generator files, ... recursively), found by reading the kustomization files from Git;
 *  - the substitution inputs (postBuild variables, strict mode) and the Flux Kustomization's build
 *    fields (targetNamespace, patches, images, components);
 *  - the kustomize binary (path, size, mtime) and the build flags.
 * A tree id changes when any file below the folder changes, so a change anywhere the build reads
 * misses, and a change anywhere else hits.
 *
 * Safe against stale hits by construction: a miss is built in a copy (written from Git) that holds
 * only the folders of its key. If the build needs anything else it fails there; it is then built again in a
 * full checkout and the result is not stored. Renders that could read outside the repository
 * (remote resources, absolute paths, symlinks, helm charts) or name a path that does not exist are
 * never cached.
 *
 * Entries live in ${GITOPS_CACHE_DIR:-~/.cache/gitops}/render/<2 hex>/<sha256>.json, written
 * atomically; a corrupt entry is a miss. Nothing evicts them: delete the folder to reclaim space.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GitopsError } from "../errors";
import { mapLimit } from "../cluster/retry";
import { checkoutInto, readBlobs, readObjects, Remote } from "../git";
import type { GitAuth, TreeEntry } from "../git";
import { FLUX_BUILD_FLAGS, kustomizeBinary, renderPath, RenderOptions, RenderResult } from "./render";
import { KUSTOMIZATION_FILES } from "./generate";
import { joinDocuments, RenderedObject } from "./substitute";
import { parseYamlDoc } from "./yamlparse";

/** Bumped when the entry format or anything else that shapes a render (outside the key) changes. */
const FORMAT = 1;

/** The render cache folder: ${GITOPS_CACHE_DIR:-~/.cache/gitops}/render. */
export function renderCacheDir(): string {
    return path.join(process.env.GITOPS_CACHE_DIR || path.join(os.homedir(), ".cache", "gitops"), "render");
}

/** A revision's tree, and its kustomization files, read once from Git. */
export interface TreeSnapshot {
    /** The commit. */
    revision: string;
    /** Tree id of the repository root. */
    rootTree: string;
    /** Every path (files and folders, recursively) -> entry. */
    entries: Map<string, TreeEntry>;
    /** Folder -> its kustomization file (kustomization.yaml, .yml or Kustomization): blob id and text. */
    kustomizations: Map<string, { oid: string; text: string }>;
}

/** Reads `sha`'s tree with one `git ls-tree`, its root tree id and kustomization files with one `git cat-file`. */
export async function readSnapshot(r: Remote, sha: string): Promise<TreeSnapshot> {
    const ls = await r.git(["ls-tree", "-r", "-t", "-z", "--full-tree", sha]);
    const entries = new Map<string, TreeEntry>();
    const kfiles: Array<{ dir: string; oid: string; rank: number }> = [];
    for (const rec of ls.stdout.split("\0")) {
        if (!rec) continue;
        const tab = rec.indexOf("\t");
        const [mode, type, oid] = rec.slice(0, tab).split(" ");
        const p = rec.slice(tab + 1);
        entries.set(p, { mode, type, oid });
        const rank = KUSTOMIZATION_FILES.indexOf(path.posix.basename(p));
        if (rank >= 0 && type === "blob") kfiles.push({ dir: parentOf(p), oid, rank });
    }
    const [root, ...blobs] = await readObjects(r, [`${sha}^{tree}`, ...kfiles.map((k) => k.oid)]);
    if (!root) throw new GitopsError(sha, "commit has no tree", "check the repository");
    const texts = new Map(kfiles.map((k, i) => [k.oid, blobs[i]?.content.toString("utf8") ?? ""]));
    const kustomizations = new Map<string, { oid: string; text: string }>();
    // kustomize takes the first of kustomization.yaml, .yml, Kustomization that exists.
    for (const k of kfiles.sort((a, b) => a.rank - b.rank)) {
        if (!kustomizations.has(k.dir)) kustomizations.set(k.dir, { oid: k.oid, text: texts.get(k.oid)! });
    }
    return { revision: sha, rootTree: root.oid, entries, kustomizations };
}

function parentOf(p: string): string {
    const i = p.lastIndexOf("/");
    return i < 0 ? "" : p.slice(0, i);
}

function isUnder(p: string, folder: string): boolean {
    return folder === "" || p === folder || p.startsWith(folder + "/");
}

/** The files (blobs) below `folders` in `snap`: [path, entry]. */
function filesUnder(snap: TreeSnapshot, folders: readonly string[]): Array<[string, TreeEntry]> {
    const out: Array<[string, TreeEntry]> = [];
    if (folders.length === 0) return out;
    for (const [p, e] of snap.entries) if (e.type === "blob" && folders.some((f) => isUnder(p, f))) out.push([p, e]);
    return out;
}

/** Writes the files below `folders` (contents from `blobs`) into the empty directory `dir`. */
function writeFolders(snap: TreeSnapshot, blobs: Map<string, Buffer>, folders: readonly string[], dir: string): void {
    for (const f of folders) fs.mkdirSync(path.join(dir, f), { recursive: true });
    for (const [p, e] of filesUnder(snap, folders)) {
        const content = blobs.get(e.oid);
        if (!content) throw new Error(`blob ${e.oid} (${p}) was not read`);
        fs.mkdirSync(path.join(dir, parentOf(p)), { recursive: true });
        fs.writeFileSync(path.join(dir, p), content, { mode: e.mode === "100755" ? 0o755 : 0o644 });
    }
}

/** The folders a render reads, or why it cannot be cached. */
export type ReadSet = { folders: string[] } | { uncacheable: string };

/**
 * The repo-relative folders that building `relPath` (with Flux's `components`, relative to it)
 * reads, from the kustomization files in `snap`. Nested folders are folded into their parent.
 */
export function foldersRead(snap: TreeSnapshot, relPath: string, components: readonly string[] = []): ReadSet {
    const start = normalize("", relPath);
    if (start === undefined) return { uncacheable: `${relPath} leaves the repository` };
    if (start !== "" && snap.entries.get(start)?.type !== "tree") return { uncacheable: `${relPath} is not a folder at this revision` };
    const folders = new Set<string>([start]);
    const visited = new Set<string>();
    let why: string | undefined;

    const visit = (dir: string): void => {
        if (why || visited.has(dir)) return;
        visited.add(dir);
        const file = snap.kustomizations.get(dir);
        if (file === undefined) {
            // Flux generates a kustomization listing the folder's YAML and its sub-kustomizations.
            for (const d of snap.kustomizations.keys()) if (d !== dir && isUnder(d, dir)) visit(d);
            return;
        }
        const k = parsedKustomization(file.oid, file.text);
        if (!k) {
            why = `${dir || "."}: its kustomization file is not valid YAML`;
            return;
        }
        if (Array.isArray(k.helmCharts) && k.helmCharts.length > 0) {
            why = `${dir || "."}: helmCharts may fetch charts`;
            return;
        }
        for (const { ref, kind } of references(k)) {
            if (why) return;
            reference(dir, ref, kind);
        }
    };

    const reference = (dir: string, ref: string, kind: "any" | "file"): void => {
        const p = normalize(dir, ref);
        const shown = `${dir || "."}: ${ref}`;
        if (p === undefined) {
            why = `${shown} is outside the repository`;
            return;
        }
        const e = p === "" ? { type: "tree" } : snap.entries.get(p);
        if (!e) {
            why = `${shown} is not in the repository (remote, or missing)`;
            return;
        }
        if (e.type === "tree" && kind === "any") {
            if (!isUnder(p, start)) folders.add(p);
            visit(p);
        } else if (!isUnder(p, start)) folders.add(parentOf(p));
    };

    visit(start);
    for (const c of components) if (!why) reference(start, c, "any");
    if (why) return { uncacheable: why };

    // Fold nested folders into their ancestors.
    const sorted = [...folders].sort();
    const kept: string[] = [];
    for (const f of sorted) if (!kept.some((k) => isUnder(f, k))) kept.push(f);
    for (const [p, e] of snap.entries) {
        if (e.mode === "120000" && kept.some((k) => isUnder(p, k))) return { uncacheable: `${p} is a symbolic link` };
    }
    return { folders: kept };
}

const parsed = new Map<string, Record<string, unknown> | undefined>();

/** A kustomization file's fields (undefined when it is not YAML), memoized by blob id. */
function parsedKustomization(oid: string, text: string): Record<string, unknown> | undefined {
    if (parsed.has(oid)) return parsed.get(oid);
    let k: Record<string, unknown> | undefined;
    try {
        const doc = parseYamlDoc(text, false);
        k = doc && typeof doc === "object" && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
    } catch {
        k = undefined;
    }
    if (parsed.size >= 20_000) parsed.clear();
    parsed.set(oid, k);
    return k;
}

/** Resolves `ref` against folder `dir` (posix, repo-relative); undefined when it leaves the root or is absolute. */
function normalize(dir: string, ref: string): string | undefined {
    if (ref.startsWith("/")) return undefined;
    const p = path.posix.normalize(path.posix.join(dir || ".", ref)).replace(/\/+$/, "");
    if (p === "..") return undefined;
    if (p.startsWith("../")) return undefined;
    return p === "." ? "" : p;
}

/** Every path a kustomization file names (kustomize's Kustomization fields that load files). */
function* references(k: Record<string, unknown>): Generator<{ ref: string; kind: "any" | "file" }> {
    const strings = (v: unknown): string[] => (Array.isArray(v) ? v.filter((s): s is string => typeof s === "string") : typeof v === "string" ? [v] : []);
    // Entries that are inline YAML (they hold a newline) load nothing by themselves.
    const paths = (v: unknown): string[] => strings(v).filter((s) => !s.includes("\n") && s.trim() !== "");
    for (const field of ["resources", "bases", "components"]) for (const ref of paths(k[field])) yield { ref, kind: "any" };
    for (const field of ["crds", "configurations", "generators", "transformers", "validators", "patchesStrategicMerge"]) {
        for (const ref of paths(k[field])) yield { ref, kind: "any" };
    }
    const objects = (v: unknown): Array<Record<string, unknown>> => (Array.isArray(v) ? v.filter((o) => o && typeof o === "object") : []);
    for (const field of ["patches", "patchesJson6902", "replacements"]) {
        for (const o of objects(k[field])) for (const ref of paths(o.path)) yield { ref, kind: "file" };
    }
    for (const field of ["configMapGenerator", "secretGenerator"]) {
        for (const o of objects(k[field])) {
            for (const f of paths(o.files)) yield { ref: f.includes("=") ? f.slice(f.indexOf("=") + 1) : f, kind: "file" };
            for (const ref of [...paths(o.envs), ...paths(o.env)]) yield { ref, kind: "file" };
        }
    }
    const openapi = k.openapi as Record<string, unknown> | undefined;
    if (openapi && typeof openapi === "object") for (const ref of paths(openapi.path)) yield { ref, kind: "file" };
}

let kustomizeIds = new Map<string, string>();

/** Identifies the kustomize binary (resolved on PATH): path, size and mtime; a new build changes it. */
function kustomizeIdentity(bin: string): string {
    let id = kustomizeIds.get(bin);
    if (id) return id;
    const candidates = bin.includes("/") ? [bin] : (process.env.PATH ?? "").split(path.delimiter).filter(Boolean).map((d) => path.join(d, bin));
    id = `${bin}:not-found`;
    for (const c of candidates) {
        try {
            const real = fs.realpathSync(c);
            const st = fs.statSync(real);
            if (st.isFile()) {
                id = `${real}:${st.size}:${st.mtimeMs}`;
                break;
            }
        } catch {
            /* next */
        }
    }
    kustomizeIds.set(bin, id);
    return id;
}

/** For tests: forget the kustomize identities seen so far. */
export function resetKustomizeIdentity(): void {
    kustomizeIds = new Map();
}

/** The cache key of rendering `relPath` with `opts` when it reads `folders` of `snap`. */
export function renderKey(snap: TreeSnapshot, relPath: string, folders: readonly string[], opts: RenderOptions): string {
    const trees = folders.map((f) => [f, f === "" ? snap.rootTree : snap.entries.get(f)!.oid]);
    const vars = opts.substitute ? Object.entries(opts.substitute).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)) : null;
    const spec = opts.spec ?? {};
    const material = JSON.stringify({
        format: FORMAT,
        kustomize: kustomizeIdentity(opts.kustomizeBin ?? kustomizeBinary()),
        flags: FLUX_BUILD_FLAGS,
        path: normalize("", relPath),
        trees,
        vars,
        strict: !!opts.strict,
        always: !!opts.always,
        spec: { targetNamespace: spec.targetNamespace ?? null, patches: spec.patches ?? null, images: spec.images ?? null, components: spec.components ?? null },
    });
    return crypto.createHash("sha256").update(material).digest("hex");
}

type StoredObject = Omit<RenderedObject, "object">;

function entryFile(dir: string, key: string): string {
    return path.join(dir, key.slice(0, 2), `${key}.json`);
}

/** A cached render, or undefined (absent or unreadable: both are a miss). */
function load(dir: string, key: string): RenderResult | undefined {
    let data: { format?: unknown; key?: unknown; objects?: unknown };
    try {
        data = JSON.parse(fs.readFileSync(entryFile(dir, key), "utf8"));
    } catch {
        return undefined;
    }
    if (data.format !== FORMAT || data.key !== key || !Array.isArray(data.objects)) return undefined;
    const objects: RenderedObject[] = [];
    for (const o of data.objects as StoredObject[]) {
        if (!o || typeof o.yaml !== "string" || typeof o.id !== "string") return undefined;
        objects.push(new CachedObject(o));
    }
    return { objects, yaml: joinDocuments(objects) };
}

/** A cached RenderedObject: `object` is parsed from its YAML on first use (as the render parsed it). */
class CachedObject implements RenderedObject {
    readonly id: string;
    readonly apiVersion: string;
    readonly kind: string;
    readonly name: string;
    readonly namespace: string;
    readonly yaml: string;
    readonly substituted: boolean;
    private parsed?: Record<string, unknown>;
    constructor(o: StoredObject) {
        this.id = o.id;
        this.apiVersion = o.apiVersion;
        this.kind = o.kind;
        this.name = o.name;
        this.namespace = o.namespace;
        this.yaml = o.yaml;
        this.substituted = o.substituted;
    }
    get object(): Record<string, unknown> {
        return (this.parsed ??= parseYamlDoc(this.yaml, this.substituted) as Record<string, unknown>);
    }
}

function store(dir: string, key: string, relPath: string, result: RenderResult): void {
    const file = entryFile(dir, key);
    const objects: StoredObject[] = result.objects.map((o) => ({ id: o.id, apiVersion: o.apiVersion, kind: o.kind, name: o.name, namespace: o.namespace, yaml: o.yaml, substituted: o.substituted }));
    try {
        fs.mkdirSync(path.dirname(file), { recursive: true });
        const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
        fs.writeFileSync(tmp, JSON.stringify({ format: FORMAT, key, path: relPath, objects }));
        fs.renameSync(tmp, file);
    } catch {
        // A cache that cannot be written only costs time.
    }
}

export interface RevisionItem extends RenderOptions {
    /** The Kustomization path, relative to the repository root. */
    path: string;
}

export type CacheStatus = "hit" | "miss" | "off";

export interface RevisionRender {
    path: string;
    result: RenderResult;
    /** hit: from the cache; miss: built and stored; off: built, not cacheable (see `reason`). */
    cache: CacheStatus;
    reason?: string;
    key?: string;
}

export interface RenderRevisionOptions {
    auth?: GitAuth;
    /** The cache folder (default renderCacheDir()); false renders without a cache. */
    cacheDir?: string | false;
    /** Builds run at once (default: twice the number of CPUs; a build waits on I/O much of the time). */
    concurrency?: number;
    /** A path that is not a folder at the revision renders as no objects instead of an error. */
    missingIsEmpty?: boolean;
}

/**
 * Renders every item's path at `ref` of `repo` (a URL or a local repository), from the cache
 * where it can. Results are in item order; the first failing item's error is thrown.
 */
export async function renderRevision(
    repo: string,
    ref: string | undefined,
    items: readonly RevisionItem[],
    opts: RenderRevisionOptions = {},
): Promise<{ revision: string; renders: RevisionRender[] }> {
    return (await renderRevisions(repo, [ref], items, opts))[0];
}

/**
 * renderRevision for several refs in one use of the repository cache: the refs are resolved one
 * after the other (a fetch writes to the cache), then rendered together.
 */
export async function renderRevisions(
    repo: string,
    refs: ReadonlyArray<string | undefined>,
    items: readonly RevisionItem[],
    opts: RenderRevisionOptions = {},
): Promise<Array<{ revision: string; renders: RevisionRender[] }>> {
    return Remote.open(repo, opts.auth, async (r) => {
        const shas: string[] = [];
        for (const ref of refs) {
            const resolved = await r.revision(ref);
            shas.push(resolved.sha);
        }
        const loaded = new Map<string, RenderResult | undefined>();
        return Promise.all(shas.map((sha) => renderAt(r, sha, items, opts, loaded)));
    });
}

type Plan =
    | { kind: "done"; render: RevisionRender }
    | { kind: "full"; relPath: string; renderOpts: RenderOptions; reason: string }
    | { kind: "cached" | "miss"; relPath: string; renderOpts: RenderOptions; key: string; folders: string[] };

/** `loaded`: entries already read in this call, by key (revisions often share most renders). */
async function renderAt(
    r: Remote,
    sha: string,
    items: readonly RevisionItem[],
    opts: RenderRevisionOptions,
    loaded: Map<string, RenderResult | undefined>,
): Promise<{ revision: string; renders: RevisionRender[] }> {
    const dir = opts.cacheDir === false ? undefined : (opts.cacheDir ?? renderCacheDir());
    const snap = await readSnapshot(r, sha);
    const temps: string[] = [];
    let full: Promise<string> | undefined;
    const fullCheckout = (): Promise<string> =>
        (full ??= (async () => {
            const d = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-render-full-"));
            temps.push(d);
            await checkoutInto(r, snap.revision, d);
            return d;
        })());
    const plans: Plan[] = items.map((item) => {
        const { path: relPath, ...renderOpts } = item;
        const p = normalize("", relPath);
        if (opts.missingIsEmpty && p !== undefined && p !== "" && snap.entries.get(p)?.type !== "tree") {
            return { kind: "done", render: { path: relPath, result: { objects: [], yaml: "" }, cache: "off", reason: "not a folder at this revision" } };
        }
        const read = dir ? foldersRead(snap, relPath, renderOpts.spec?.components ?? []) : { uncacheable: "the cache is off" };
        if ("uncacheable" in read) return { kind: "full", relPath, renderOpts, reason: read.uncacheable };
        const key = renderKey(snap, relPath, read.folders, renderOpts);
        return { kind: fs.existsSync(entryFile(dir!, key)) ? "cached" : "miss", relPath, renderOpts, key, folders: read.folders };
    });
    const concurrency = opts.concurrency ?? 2 * os.availableParallelism();

    const build = async (pl: Plan, blobs: Map<string, Buffer>): Promise<RevisionRender> => {
        if (pl.kind === "done") return pl.render;
        if (pl.kind === "full") {
            return { path: pl.relPath, result: await renderPath(await fullCheckout(), pl.relPath, pl.renderOpts), cache: "off", reason: pl.reason };
        }
        // Build in a copy of exactly the key's folders, so the key provably covers the build.
        const part = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-render-"));
        try {
            writeFolders(snap, blobs, pl.folders, part);
            const result = await renderPath(part, pl.relPath, pl.renderOpts);
            store(dir!, pl.key, pl.relPath, result);
            return { path: pl.relPath, result, cache: "miss", key: pl.key };
        } catch {
            const result = await renderPath(await fullCheckout(), pl.relPath, pl.renderOpts);
            return { path: pl.relPath, result, cache: "off", reason: "the build reads files its kustomization files do not name" };
        } finally {
            fs.rmSync(part, { recursive: true, force: true });
        }
    };
    /** Builds `which` (indexes into plans) with the files they read, fetched from Git at once. */
    const buildAll = async (which: number[]) => {
        const folders = which.flatMap((i) => { const pl = plans[i]; return pl.kind === "miss" ? pl.folders : []; });
        const blobs = await readBlobs(r, filesUnder(snap, folders).map(([, e]) => e.oid));
        return mapLimit(which, concurrency, (i) => build(plans[i], blobs));
    };

    try {
        const renders: RevisionRender[] = new Array(plans.length);
        const toBuild = plans.flatMap((pl, i) => (pl.kind === "miss" || pl.kind === "full" ? [i] : []));
        // Start the builds, then read the hits while they run.
        const building = buildAll(toBuild);
        const late: number[] = [];
        plans.forEach((pl, i) => {
            if (pl.kind === "done") renders[i] = pl.render;
            else if (pl.kind === "cached") {
                if (!loaded.has(pl.key)) loaded.set(pl.key, load(dir!, pl.key));
                const hit = loaded.get(pl.key);
                if (hit) renders[i] = { path: pl.relPath, result: hit, cache: "hit", key: pl.key };
                else {
                    // Unreadable entry: build it again.
                    plans[i] = { ...pl, kind: "miss" };
                    late.push(i);
                }
            }
        });
        const built = await building;
        const rebuilt = late.length ? await buildAll(late) : [];
        for (const [indexes, results] of [[toBuild, built], [late, rebuilt]] as const) {
            results.forEach((res, j) => {
                if (!res.ok) throw res.error;
                renders[indexes[j]] = res.value;
            });
        }
        return { revision: snap.revision, renders };
    } finally {
        if (full) await full.catch(() => undefined);
        for (const t of temps) fs.rmSync(t, { recursive: true, force: true });
    }
}
