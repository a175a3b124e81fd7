/**
 * `gitops render`: print a Kustomization path rendered as Flux would (kustomize build + postBuild).
 */
import * as fs from "fs";
import * as path from "path";
import type { Command, CliIO } from "../util/cli";
import { GitopsError } from "../errors";
import { parseFlags } from "../util/cli";
import { renderPath } from "./render";
import { VAR_NAME_PATTERN } from "./substitute";
import { isRemoteUrl } from "../git/url";

const HELP = `Usage: gitops render --repo URL|DIR [--ref REV] --path PATH [--var k=v ...] [--postbuild] [--strict] [--no-cache]

Prints the objects Flux's kustomize-controller would apply for PATH, as multi-document YAML:
kustomize build (a kustomization.yaml is generated when PATH has none), then postBuild variable
substitution (\${var}, \${var:=default}, $\${var} for a literal).

Options:
  --repo URL|DIR   a Git URL, a bare repository, or a directory (used as is unless --ref is given)
  --ref REV        any git revision: branch, tag, commit, HEAD~1, v1.2^ (default: the
                   repository's HEAD)
  --path PATH      the Kustomization path, relative to the repository root
  --var k=v        a postBuild variable (repeatable)
  --postbuild      substitute even without any --var, as Flux does with
                   postBuild.substituteStrategy: Always: \${var:=default} expands and an unset
                   variable becomes empty. Without it and without --var, nothing is substituted
                   (Flux's default strategy, WithVariables, needs at least one variable).
  --strict         fail on a variable that is not set and has no default (implies --postbuild;
                   a variable set to an empty value counts as set)
  --no-cache       render a Git revision without the render cache

A variable set to "" expands to nothing: an unquoted \`key: \${v}\` then reads as null, exactly
as in kustomize-controller (kustomize drops the quotes around "\${v}" before substitution).
To render a Flux Kustomization object with its own path, postBuild, patches and images, use
'gitops build ks NAME'.

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

/** A Git URL (remote, or file://) rather than a folder. */
function isGitUrl(repo: string): boolean {
    return isRemoteUrl(repo) || /^file:\/\//i.test(repo);
}

function isLocalDir(repo: string): boolean {
    if (isGitUrl(repo)) return false;
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
        const { values: f } = parseFlags(
            "render",
            args,
            { repo: { type: "string" }, ref: { type: "string" }, path: { type: "string" }, var: { type: "string", multiple: true }, postbuild: { type: "boolean" }, strict: { type: "boolean" }, "no-cache": { type: "boolean" } },
            { required: ["repo", "path"] },
        );
        const repo = f.repo!;
        const ref = f.ref;
        const vars = parseVars(f.var ?? []);
        const opts = { substitute: vars, strict: !!f.strict, always: !!(f.postbuild || f.strict), varsWhere: "--var" };
        const relPath = f.path!;

        const local = isLocalDir(repo);
        if (local && !ref && !isBareRepo(repo)) {
            const result = await renderPath(repo, relPath, opts);
            io.out(result.yaml);
            return 0;
        }
        if (!local && !isGitUrl(repo)) {
            throw new GitopsError(`--repo ${repo}`, "no such directory, and not a Git URL", "pass a Git URL, a bare repository or a directory");
        }
        // A Git URL, a bare repository, or a work tree at a given ref: render that revision.
        const { renderRevision } = await import("./cache");
        const { renders } = await renderRevision(repo, ref, [{ path: relPath, ...opts }], { cacheDir: f["no-cache"] ? false : undefined });
        io.out(renders[0].result.yaml);
        return 0;
    },
};
