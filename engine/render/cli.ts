/**
 * `gitops render`: print a Kustomization path rendered as Flux would (kustomize build + postBuild).
 */
import * as fs from "fs";
import * as path from "path";
import type { Command, CliIO } from "../cli";
import { GitopsError } from "../errors";
import { parseFlags } from "../util/args";
import { renderPath } from "./render";
import { VAR_NAME_PATTERN } from "./substitute";

const HELP = `Usage: gitops render --repo URL|DIR [--ref REF] --path PATH [--var k=v ...] [--strict] [--no-cache]

Prints the objects Flux's kustomize-controller would apply for PATH, as multi-document YAML:
kustomize build (a kustomization.yaml is generated when PATH has none), then postBuild variable
substitution (\${var}, \${var:=default}, $\${var} for a literal).

Options:
  --repo URL|DIR   a Git URL, a bare repository, or a directory (used as is unless --ref is given)
  --ref REF        branch, tag or commit to render (default: the repository's HEAD)
  --path PATH      the Kustomization path, relative to the repository root
  --var k=v        a postBuild variable (repeatable); without any --var nothing is substituted
  --strict         fail on a variable that is not set and has no default
  --no-cache       render a Git revision without the render cache

A Git revision (a URL, a bare repository, or --ref) is rendered through the render cache in
\${GITOPS_CACHE_DIR:-~/.cache/gitops}/render, keyed by the Git tree ids of every folder the
kustomization reads plus the variables; a plain directory is always built afresh.
`;

/** Parses `--var k=v` values; throws a GitopsError naming the flag for a bad one. */
export function parseVars(values: string[]): Record<string, string> | undefined {
    if (values.length === 0) return undefined;
    const vars: Record<string, string> = {};
    for (const v of values) {
        const eq = v.indexOf("=");
        if (eq <= 0) throw new GitopsError(`--var ${v}`, "expected NAME=VALUE", "e.g. --var cluster_env=prod");
        const name = v.slice(0, eq);
        if (!VAR_NAME_PATTERN.test(name)) {
            throw new GitopsError(`--var ${v}`, `'${name}' is not a valid variable name, must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'`);
        }
        vars[name] = v.slice(eq + 1).split("\n").join("");
    }
    return vars;
}

function isBareRepo(dir: string): boolean {
    return fs.existsSync(path.join(dir, "HEAD")) && fs.existsSync(path.join(dir, "objects")) && fs.existsSync(path.join(dir, "refs"));
}

function isLocalDir(repo: string): boolean {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo) || /^[^/]+@[^/]+:/.test(repo)) return false;
    try {
        return fs.statSync(repo).isDirectory();
    } catch {
        return false;
    }
}

export const renderCommand: Command = {
    path: ["render"],
    summary: "Render a Kustomization path as Flux would (kustomize build + postBuild)",
    help: HELP,
    async run(args: string[], io: CliIO): Promise<number> {
        const flags = parseFlags("render", args, {
            values: ["repo", "ref", "path", "var"],
            repeatable: ["var"],
            booleans: ["strict", "no-cache"],
            required: ["repo", "path"],
        });
        if (flags.positional.length > 0) {
            throw new GitopsError("gitops render", `unexpected argument '${flags.positional[0]}'`, "see 'gitops render --help'");
        }
        const repo = flags.get("repo")!;
        const ref = flags.get("ref");
        const vars = parseVars(flags.all("var"));
        const opts = { substitute: vars, strict: flags.has("strict"), varsWhere: "--var" };
        const relPath = flags.get("path")!;

        const local = isLocalDir(repo);
        if (local && !ref && !isBareRepo(repo)) {
            const result = await renderPath(repo, relPath, opts);
            io.out(result.yaml);
            return 0;
        }
        if (!local && !/^[a-z][a-z0-9+.-]*:\/\//i.test(repo) && !/^[^/]+@[^/]+:/.test(repo)) {
            throw new GitopsError(`--repo ${repo}`, "no such directory, and not a Git URL", "pass a Git URL, a bare repository or a directory");
        }
        // A Git URL, a bare repository, or a work tree at a given ref: render that revision.
        const { renderRevision } = await import("./cache");
        const { renders } = await renderRevision(repo, ref, [{ path: relPath, ...opts }], { cacheDir: flags.has("no-cache") ? false : undefined });
        io.out(renders[0].result.yaml);
        return 0;
    },
};
