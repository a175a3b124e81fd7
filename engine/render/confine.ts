/**
 * Build confinement: before kustomize runs, every local file and directory the build would load
 * is checked to lie inside the source root, as Flux's kustomize-controller enforces with a file
 * system confined to the artifact (fluxcd/pkg/kustomize/filesys, symlinks evaluated). Load
 * restrictions stay off (Flux builds with LoadRestrictionsNone): `../base` is fine while it stays
 * in the repository; `/etc/passwd`, `../../outside` and links leading out are refused, naming the
 * kustomization file and the entry.
 */
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { GitopsError } from "../errors";
import { confine, isInside, kindOf } from "../util/paths";
import { KUSTOMIZATION_FILES, scanResources } from "./generate";

/** Fields whose entries are directories kustomize builds in turn. */
const DIR_LISTS = ["resources", "bases", "components"] as const;
/** Fields whose entries are files (or, for generators & co, inline YAML). */
const FILE_LISTS = ["crds", "configurations", "generators", "transformers", "validators", "patchesStrategicMerge"] as const;
/** Fields holding lists of objects with a `path` file. */
const PATH_OBJECTS = ["patches", "patchesJson6902", "replacements"] as const;

const FIX = "Flux builds only files inside the source; move the file into the repository and refer to it by a relative path";

/** A remote resource (kustomize fetches it): a URL, an scp-like Git address or a github.com/ path. */
function isRemote(entry: string): boolean {
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(entry) || /^[^/\s]+@[^/\s]+:/.test(entry) || /^(github\.com|gitlab\.com|bitbucket\.org)\//.test(entry);
}

/** Inline YAML given in place of a file name (patchesStrategicMerge, generators, ...). */
function isInline(entry: string): boolean {
    return entry.includes("\n") || /^\s*(apiVersion|kind)\s*:/.test(entry);
}

/**
 * Throws a GitopsError when the build of `dir` would read anything outside `root`. `dir` may hold a
 * kustomization file, or none (Flux then generates one from the YAML files under it).
 */
export function checkBuildConfined(root: string, dir: string): void {
    const rootAbs = path.resolve(root);
    const shown = (abs: string) => path.relative(rootAbs, abs) || ".";
    const seen = new Set<string>();

    const visit = (d: string): void => {
        const real = fs.realpathSync(d);
        if (seen.has(real)) return;
        seen.add(real);
        const kfile = KUSTOMIZATION_FILES.map((f) => path.join(d, f)).find((f) => isFile(f));
        if (!kfile) {
            // Generated kustomization: every YAML file under d, and sub-directories with their own.
            for (const r of scanResources(d, { root: rootAbs })) {
                const abs = confine(rootAbs, r, shown(r), { allowAbsolute: true, fix: FIX });
                if (isDir(abs)) visit(abs);
            }
            return;
        }
        const where = shown(kfile);
        confine(rootAbs, kfile, where, { allowAbsolute: true, fix: FIX }); // the kustomization file itself may be a link
        let k: Record<string, unknown>;
        try {
            const doc = YAML.parse(fs.readFileSync(kfile, "utf8")) as unknown;
            k = doc && typeof doc === "object" && !Array.isArray(doc) ? (doc as Record<string, unknown>) : {};
        } catch {
            return; // kustomize reports the syntax error with its line
        }
        const check = (entry: unknown, key: string, recurse: boolean): void => {
            if (typeof entry !== "string" || entry === "" || isRemote(entry) || isInline(entry)) return;
            const abs = path.resolve(d, entry);
            if (!isInside(rootAbs, abs)) {
                throw new GitopsError(`${where}: ${key}`, `${JSON.stringify(entry)} ${path.isAbsolute(entry) ? "is an absolute path" : "leads"} outside the source root`, FIX);
            }
            confine(rootAbs, abs, `${where}: ${key}`, { allowAbsolute: true, fix: FIX });
            if (recurse && isDir(abs)) visit(abs);
        };
        const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
        for (const f of DIR_LISTS) list(k[f]).forEach((e, i) => check(e, `${f}[${i}]`, true));
        for (const f of FILE_LISTS) list(k[f]).forEach((e, i) => check(e, `${f}[${i}]`, false));
        for (const f of PATH_OBJECTS) list(k[f]).forEach((e, i) => check((e as { path?: unknown } | null)?.path, `${f}[${i}].path`, false));
        for (const g of ["configMapGenerator", "secretGenerator"]) {
            list(k[g]).forEach((e, i) => {
                const gen = (e ?? {}) as { files?: unknown; envs?: unknown; env?: unknown };
                // files entries are "path" or "key=path".
                list(gen.files).forEach((file, j) => check(typeof file === "string" ? file.slice(file.indexOf("=") + 1) : file, `${g}[${i}].files[${j}]`, false));
                list(gen.envs).forEach((file, j) => check(file, `${g}[${i}].envs[${j}]`, false));
                check(gen.env, `${g}[${i}].env`, false);
            });
        }
        const openapi = k.openapi as { path?: unknown } | undefined;
        if (openapi && typeof openapi === "object") check(openapi.path, "openapi.path", false);
        const helm = k.helmGlobals as { chartHome?: unknown; configHome?: unknown } | undefined;
        if (helm && typeof helm === "object") {
            check(helm.chartHome, "helmGlobals.chartHome", false);
            check(helm.configHome, "helmGlobals.configHome", false);
        }
        list(k.helmCharts).forEach((c, i) => check((c as { valuesFile?: unknown } | null)?.valuesFile, `helmCharts[${i}].valuesFile`, false));
    };
    visit(path.resolve(dir));
}

const isFile = (p: string) => kindOf(p) === "file";
const isDir = (p: string) => kindOf(p) === "dir";
