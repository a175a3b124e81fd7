/**
 * The kustomization.yaml Flux generates for a path that has none (fluxcd/pkg kustomize generator):
 *  - walk the path in lexical order;
 *  - a sub-directory holding a kustomization file is added as a resource and not descended into;
 *  - every *.yaml / *.yml file is added, after checking it decodes as Kubernetes YAML;
 *  - files source-controller leaves out of an artifact by default are skipped (.git/, .github/,
 *    .circleci/, CI configs such as .gitlab-ci.yml, .sops.yaml, .goreleaser.yml, .flux.yaml).
 * Resources are written relative to a temporary directory the file is written to (the source tree
 * is never touched); the build then runs with load restrictions off, as Flux's does.
 */
import * as fs from "fs";
import * as path from "path";
import { GitopsError } from "../errors";
import { confine } from "../util/paths";
import { parseYamlDoc, YamlSyntaxError } from "./yamlparse";

export const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

// source-controller's default exclusions (sourceignore: VCS, CI and extra patterns), by name.
const EXCLUDED_DIRS = new Set([".git", ".github", ".circleci"]);
const EXCLUDED_FILES = new Set([
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    ".goreleaser.yml",
    ".sops.yaml",
    ".flux.yaml",
]);

export function hasKustomizationFile(dir: string): boolean {
    return KUSTOMIZATION_FILES.some((f) => {
        try {
            return fs.statSync(path.join(dir, f)).isFile();
        } catch {
            return false;
        }
    });
}

/** The resources Flux would list for `dir` (absolute paths, in walk order). */
export function scanResources(dir: string, opts: { root?: string } = {}): string[] {
    const root = path.resolve(opts.root ?? dir);
    const found: string[] = [];
    const walk = (d: string): void => {
        const names = fs.readdirSync(d).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        for (const name of names) {
            const p = path.join(d, name);
            const st = fs.lstatSync(p);
            if (st.isDirectory()) {
                if (EXCLUDED_DIRS.has(name)) continue;
                if (hasKustomizationFile(p)) found.push(p);
                else walk(p);
                continue;
            }
            if (EXCLUDED_FILES.has(name)) continue;
            const ext = path.extname(name);
            if (ext !== ".yaml" && ext !== ".yml") continue;
            // A link is followed only when it stays inside the source root (checked before reading it).
            if (st.isSymbolicLink()) confine(root, p, path.relative(root, p), { allowAbsolute: true, fix: "Flux builds only files inside the source; replace the link with the file" });
            checkKubernetesYaml(p, path.relative(root, p));
            found.push(p);
        }
    };
    walk(path.resolve(dir));
    return found;
}

/** Throws a GitopsError naming file:line when `file` is not Kubernetes YAML. */
function checkKubernetesYaml(file: string, shown: string): void {
    const text = fs.readFileSync(file, "utf8");
    const lines = text.split("\n");
    let docStart = 0;
    const flush = (end: number): void => {
        const doc = lines.slice(docStart, end).join("\n");
        if (!/^\s*[^\s#]/m.test(doc)) return;
        let obj: unknown;
        try {
            obj = parseYamlDoc(doc, false);
        } catch (err) {
            const line = err instanceof YamlSyntaxError && err.line ? docStart + err.line : docStart + 1;
            throw new GitopsError(`${shown}:${line}`, `failed to decode Kubernetes YAML: ${(err as Error).message}`);
        }
        if (obj === null || obj === undefined) return;
        const o = obj as { apiVersion?: unknown; kind?: unknown };
        if (typeof obj !== "object" || Array.isArray(obj) || typeof o.kind !== "string" || typeof o.apiVersion !== "string") {
            throw new GitopsError(
                `${shown}:${docStart + 1}`,
                "failed to decode Kubernetes YAML: a document without apiVersion and kind",
                "only Kubernetes objects may sit under a path without kustomization.yaml; move other YAML out or add a kustomization.yaml",
            );
        }
    };
    for (let i = 0; i < lines.length; i++) {
        if (/^---(\s|$)/.test(lines[i])) {
            flush(i);
            docStart = i + 1;
        }
    }
    flush(lines.length);
}

/**
 * The text of the generated kustomization.yaml for `dir`. Resources are absolute paths, or
 * relative to `relativeTo` (the directory the file will be written to) when given; kustomize
 * needs the latter for directories outside the kustomization root.
 */
export function generateKustomization(dir: string, opts: { root?: string; relativeTo?: string } = {}): string {
    let resources = scanResources(dir, opts);
    if (opts.relativeTo) resources = resources.map((r) => path.relative(opts.relativeTo!, r));
    const lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization"];
    if (resources.length === 0) lines.push("resources: []");
    else {
        lines.push("resources:");
        for (const r of resources) lines.push(`- ${JSON.stringify(r)}`);
    }
    return lines.join("\n") + "\n";
}
