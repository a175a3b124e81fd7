/**
 * Render a Kustomization path the way Flux's kustomize-controller does:
 *  1. if the path has no kustomization file, generate one listing the path's Kubernetes YAML
 *     files (in a temporary directory; the source tree is never written);
 *  2. check that the build loads nothing outside the source root (confine.ts), as Flux's
 *     confined file system does, then `kustomize build` with Flux's build options (no load
 *     restrictions, input order), via `kubectl kustomize`;
 *  3. postBuild substitution on each object (see substitute.ts).
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { GitopsError } from "../errors";
import type { KustomizationSpec } from "../flux/api";
import { confine } from "../util/paths";
import { checkBuildConfined } from "./confine";
import { generateKustomization, hasKustomizationFile, KUSTOMIZATION_FILES } from "./generate";
import { RenderedObject, joinDocuments, splitDocuments, substituteVariables } from "./substitute";

export interface RenderOptions {
    /** postBuild variables (already merged from substituteFrom and substitute). None: no substitution. */
    substitute?: Record<string, string>;
    /** Strict substitution: an unset variable without a default is an error. */
    strict?: boolean;
    /** Substitute even with no variables (postBuild.substituteStrategy: Always). */
    always?: boolean;
    /** `kubectl` (runs `kubectl kustomize`) or a `kustomize` binary (runs `kustomize build`); default: kustomizeBinary(). */
    kustomizeBin?: string;
    /** Where the variables came from, for error messages. */
    varsWhere?: string;
    /**
     * Fields of the Flux Kustomization that change the build. Flux writes them into the path's
     * kustomization.yaml before building (namespace, patches appended, images replaced by name
     * or appended, components appended); we do the same in a temporary copy of the tree.
     */
    spec?: Pick<KustomizationSpec, "targetNamespace" | "namePrefix" | "nameSuffix" | "patches" | "images" | "components" | "ignoreMissingComponents">;
}

export interface RenderResult {
    objects: RenderedObject[];
    /** Multi-document YAML of all objects, in kustomize's order. */
    yaml: string;
}

/** Resolves `p` inside `root` (symbolic links included), refusing paths that leave it. Returns the absolute directory. */
export function resolveInside(root: string, p: string): string {
    return confine(root, p.replace(/^\/+/, "") || ".", p, { rootName: "the repository root", fix: "give a path relative to the repository root; it may not lead out of it" });
}

/**
 * Flux builds with krusty.Options{LoadRestrictions: None} and no Reorder option: files may come
 * from outside the kustomization root, and objects keep their input order (kustomization
 * sortOptions still apply). kubectl's default would sort them into "legacy" kind order.
 */
export const FLUX_BUILD_FLAGS = ["--load-restrictor=LoadRestrictionsNone", "--reorder=none"];

/**
 * The kustomize a render runs when none is given: $GITOPS_KUSTOMIZE (a `kustomize` binary, e.g. the
 * release whose kustomize/api the pinned kustomize-controller uses), else `kubectl` from PATH.
 */
export function kustomizeBinary(): string {
    return process.env.GITOPS_KUSTOMIZE || "kubectl";
}

/** Runs kustomize on `dir` and returns its output; throws GitopsError with file:line when it fails. */
export async function kustomizeBuild(dir: string, opts: { kustomizeBin?: string; root?: string; shownPath?: string; tempDir?: string } = {}): Promise<string> {
    const bin = opts.kustomizeBin ?? kustomizeBinary();
    const args = path.basename(bin).startsWith("kustomize")
        ? ["build", ...FLUX_BUILD_FLAGS, dir]
        : ["kustomize", ...FLUX_BUILD_FLAGS, dir];
    const { code, stdout, stderr } = await run(bin, args);
    if (code === 0) return stdout;
    throw kustomizeError(stderr, { dir, root: opts.root ?? dir, shownPath: opts.shownPath ?? dir, tempDir: opts.tempDir, bin });
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
        const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (b: Buffer) => out.push(b));
        child.stderr.on("data", (b: Buffer) => err.push(b));
        child.on("error", (e: NodeJS.ErrnoException) => {
            if (e.code === "ENOENT") reject(new GitopsError(cmd, "not found on PATH", "install kubectl (with kustomize built in), or point GITOPS_KUSTOMIZE at a kustomize binary"));
            else reject(e);
        });
        child.on("close", (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") }));
    });
}

/** Turns kustomize's stderr into a GitopsError whose `where` is the file (and line) it names. */
function kustomizeError(stderr: string, ctx: { dir: string; root: string; shownPath: string; tempDir?: string; bin: string }): GitopsError {
    // kubectl prints: E1122 ... run.go:72] "command failed" err="<go-quoted message>"
    let msg = stderr.trim();
    const m = /err="((?:[^"\\]|\\.)*)"/.exec(msg);
    if (m) {
        try {
            msg = JSON.parse(`"${m[1]}"`) as string;
        } catch {
            msg = m[1];
        }
    } else msg = msg.replace(/^Error:\s*/, "");
    const rootAbs = path.resolve(ctx.root);
    const show = (p: string): string => {
        let abs = p;
        if (!path.isAbsolute(abs)) {
            const candidate = path.resolve(ctx.dir, p);
            abs = fs.existsSync(candidate) ? candidate : path.join(ctx.dir, p);
        }
        if (ctx.tempDir && (abs === ctx.tempDir || abs.startsWith(ctx.tempDir + path.sep))) {
            return path.join(ctx.shownPath, path.relative(ctx.tempDir, abs) || "(generated kustomization.yaml)");
        }
        const rel = path.relative(rootAbs, abs);
        return rel.startsWith("..") ? abs : rel;
    };
    // Clean up absolute paths in the message so it reads relative to the repository root.
    const tidy = (s: string): string => s.split(rootAbs + path.sep).join("").split(ctx.tempDir ? ctx.tempDir + path.sep : "\0").join("");
    let where = ctx.shownPath;
    const file = /in File: (\S+)/.exec(msg)?.[1];
    const line = /\bline (\d+)\b/.exec(msg)?.[1];
    if (file) where = show(file);
    else if (/^invalid Kustomization/.test(msg)) where = path.join(ctx.shownPath, kustomizationFileIn(ctx.dir) ?? "kustomization.yaml");
    else {
        const missing = /lstat (\S+): no such file or directory/.exec(msg)?.[1];
        if (missing) where = show(missing);
    }
    if (line && !/:\d+$/.test(where)) where = `${where}:${line}`;
    return new GitopsError(where, `kustomize build failed: ${tidy(msg)}`, "fix the file named here and run the render again");
}

function kustomizationFileIn(dir: string): string | undefined {
    return ["kustomization.yaml", "kustomization.yml", "Kustomization"].find((f) => fs.existsSync(path.join(dir, f)));
}

/**
 * Renders `relPath` inside the checkout at `root`: kustomize build (generating a kustomization.yaml
 * when there is none), then postBuild substitution when `opts.substitute` has any variable.
 */
export async function renderPath(root: string, relPath: string, opts: RenderOptions = {}): Promise<RenderResult> {
    const shown = relPath.replace(/^\.\//, "") || ".";
    if (!fs.existsSync(root) || !fs.statSync(root).isDirectory()) {
        throw new GitopsError(root, "repository directory does not exist");
    }
    const dir = resolveInside(root, relPath);
    if (!fs.existsSync(dir)) throw new GitopsError(shown, "path not found in the repository", "check --path; it is relative to the repository root");
    if (!fs.statSync(dir).isDirectory()) throw new GitopsError(shown, "path is not a directory", "a Kustomization path must be a directory");

    let buildDir = dir;
    let buildRoot = root;
    let tempDir: string | undefined;
    const spec = opts.spec ?? {};
    const editing = !!(spec.targetNamespace || spec.namePrefix || spec.nameSuffix || spec.patches?.length || spec.images?.length || spec.components?.length);
    try {
        if (editing) {
            // Flux edits the kustomization file in its own copy of the source; so do we.
            tempDir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-render-"));
            // verbatimSymlinks: links stay as written, so the confinement check judges them as Flux would.
            fs.cpSync(path.resolve(root), tempDir, { recursive: true, verbatimSymlinks: true, filter: (src) => path.basename(src) !== ".git" });
            buildRoot = tempDir;
            buildDir = path.join(tempDir, path.relative(path.resolve(root), dir));
            if (!hasKustomizationFile(buildDir)) {
                fs.writeFileSync(path.join(buildDir, "kustomization.yaml"), generateKustomization(buildDir, { root: tempDir, relativeTo: buildDir }));
            }
            applySpec(buildDir, spec, shown);
            checkBuildConfined(tempDir, buildDir);
        } else if (!hasKustomizationFile(dir)) {
            checkBuildConfined(root, dir);
            tempDir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-render-"));
            const kustomization = generateKustomization(dir, { root, relativeTo: tempDir });
            fs.writeFileSync(path.join(tempDir, "kustomization.yaml"), kustomization);
            buildDir = tempDir;
        } else {
            checkBuildConfined(root, dir);
        }
        const out = await kustomizeBuild(buildDir, {
            kustomizeBin: opts.kustomizeBin,
            root: buildRoot,
            shownPath: shown,
            tempDir: editing ? undefined : tempDir,
        });
        const objects = substituteVariables(splitDocuments(out), opts.substitute, { strict: opts.strict, always: opts.always, varsWhere: opts.varsWhere });
        return { objects, yaml: joinDocuments(objects) };
    } finally {
        if (tempDir) fs.rmSync(tempDir, { recursive: true, force: true });
    }
}

/**
 * Writes the Flux Kustomization's build fields into the kustomization file in `dir` (a copy), as
 * fluxcd/pkg/kustomize's generator does: namespace, namePrefix, nameSuffix, patches appended,
 * components appended (local relative paths only; missing ones skipped with
 * ignoreMissingComponents), images merged by name (newName when set; newTag and digest together).
 */
function applySpec(dir: string, spec: NonNullable<RenderOptions["spec"]>, shown: string): void {
    const file = KUSTOMIZATION_FILES.map((f) => path.join(dir, f)).find((f) => fs.existsSync(f))!;
    const doc = YAML.parseDocument(fs.readFileSync(file, "utf8"));
    if (doc.errors.length > 0) {
        throw new GitopsError(path.join(shown, path.basename(file)), `invalid kustomization: ${doc.errors[0].message.split("\n")[0]}`);
    }
    const k = (doc.toJS() ?? {}) as Record<string, unknown>;
    if (spec.targetNamespace) k.namespace = spec.targetNamespace;
    if (spec.namePrefix) k.namePrefix = spec.namePrefix;
    if (spec.nameSuffix) k.nameSuffix = spec.nameSuffix;
    if (spec.patches?.length) {
        const patches = Array.isArray(k.patches) ? [...k.patches] : [];
        for (const p of spec.patches) patches.push(p.target ? { patch: p.patch, target: p.target } : { patch: p.patch });
        k.patches = patches;
    }
    if (spec.images?.length) {
        const images = (Array.isArray(k.images) ? [...k.images] : []) as Array<Record<string, string | undefined>>;
        const clean = (e: Record<string, string | undefined>) => Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined && v !== ""));
        for (const img of spec.images) {
            const i = images.findIndex((e) => e?.name === img.name);
            if (i < 0) {
                images.push(clean({ ...img }));
                continue;
            }
            const merged = { ...images[i] };
            if (img.newName) merged.newName = img.newName;
            if (img.newTag || img.digest) {
                merged.newTag = img.newTag;
                merged.digest = img.digest;
            }
            images[i] = clean(merged);
        }
        k.images = images;
    }
    if (spec.components?.length) {
        const comps: string[] = [];
        spec.components.forEach((c, i) => {
            if (path.isAbsolute(c) || /^[a-z][a-z0-9+.-]*:\/\//i.test(c)) {
                throw new GitopsError(`spec.components[${i}]`, `component path '${c}' must be local and relative`, "give a path relative to spec.path");
            }
            if (spec.ignoreMissingComponents && !fs.existsSync(path.join(dir, c))) return;
            comps.push(c);
        });
        k.components = [...(Array.isArray(k.components) ? k.components : []), ...comps];
    }
    fs.writeFileSync(file, YAML.stringify(k));
}
