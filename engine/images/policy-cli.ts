/**
 * `gitops image-policy select`: prints the tag Flux's image-reflector-controller would select for
 * an ImagePolicy manifest, from a tags file or straight from a registry.
 */
import * as fs from "fs";
import { parseAllDocuments } from "yaml";
import type { Command } from "../util/cli";
import { GitopsError, isGitopsError } from "../errors";
import type { ImagePolicyChoice, TagFilter } from "../flux/api";
import { parseFlags } from "../util/cli";
import { compilePolicy } from "./policy";
import { DEFAULT_EXCLUSION_LIST, listTags } from "./registry";

const NAME = "image-policy select";

const HELP = `Usage: gitops image-policy select --policy FILE (--tags FILE | --registry REPO) [options]

Prints the tag Flux would select for an ImagePolicy, alone on stdout.

  --policy FILE        an ImagePolicy manifest (YAML): spec.policy (semver.range, numerical.order
                       or alphabetical.order) and optional spec.filterTags (pattern, extract)
  --tags FILE          one tag per line (blank lines are ignored); "-" reads stdin
  --registry REPO      list the tags from an OCI registry instead, e.g. ghcr.io/org/app or
                       http://127.0.0.1:5000/team/app (no tag)
  --insecure           plain HTTP for a --registry without a scheme
  --username NAME      registry user; the password is read from $GITOPS_REGISTRY_PASSWORD
  --token TOKEN        a ready bearer token for the registry
  --page-size N        tags per page when listing (n=)
  --exclude REGEXP     Go regexp of tags to drop before the policy, repeatable
                       (default: ${DEFAULT_EXCLUSION_LIST.join(" ")}, like ImageRepository exclusionList)

Exits 1 with a message naming the file and key when the policy is invalid or no tag matches.
`;

interface LoadedPolicy {
    policy: ImagePolicyChoice;
    filter?: TagFilter;
    specPath: string;
}

/** Reads the ImagePolicy from a YAML file; errors name the file (and line) and the key. */
export function loadImagePolicy(file: string): LoadedPolicy {
    let text: string;
    try {
        text = fs.readFileSync(file, "utf8");
    } catch (err) {
        throw new GitopsError(file, `cannot read the policy file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const docs = parseAllDocuments(text);
    if (!Array.isArray(docs)) throw new GitopsError(file, "not a YAML document stream");
    const found: Array<{ obj: Record<string, any>; index: number }> = [];
    for (const [index, doc] of docs.entries()) {
        if (doc.errors.length) {
            const e = doc.errors[0];
            const line = e.linePos?.[0]?.line;
            throw new GitopsError(line ? `${file}:${line}` : file, `invalid YAML: ${e.message.split("\n")[0]}`);
        }
        const obj = doc.toJS();
        if (obj && typeof obj === "object" && (obj.kind === "ImagePolicy" || (obj.kind === undefined && obj.spec))) found.push({ obj, index });
    }
    if (found.length === 0) throw new GitopsError(file, "no ImagePolicy in the file", "give a manifest with kind: ImagePolicy and spec.policy");
    if (found.length > 1) throw new GitopsError(file, `${found.length} ImagePolicy documents in the file`, "give one policy per file");
    const { obj } = found[0];
    if (obj.apiVersion !== undefined && !String(obj.apiVersion).startsWith("image.toolkit.fluxcd.io/")) {
        throw new GitopsError(`${file}: apiVersion`, `expected image.toolkit.fluxcd.io/v1 (or a beta), got ${JSON.stringify(obj.apiVersion)}`);
    }
    const spec = obj.spec;
    if (!spec || typeof spec !== "object") throw new GitopsError(`${file}: spec`, "missing spec");
    if (!spec.policy || typeof spec.policy !== "object") throw new GitopsError(`${file}: spec.policy`, "missing policy", "set one of semver.range, numerical.order or alphabetical.order");
    const ft = spec.filterTags;
    if (ft !== undefined && ft !== null) {
        if (typeof ft !== "object") throw new GitopsError(`${file}: spec.filterTags`, "must be a mapping with pattern and extract");
        for (const k of ["pattern", "extract"]) {
            if (ft[k] !== undefined && typeof ft[k] !== "string") throw new GitopsError(`${file}: spec.filterTags.${k}`, `must be a string, got ${JSON.stringify(ft[k])}`, "quote it in YAML");
        }
    }
    const sv = spec.policy.semver;
    if (sv !== undefined && sv !== null && typeof sv.range !== "string" && sv.range !== undefined) {
        throw new GitopsError(`${file}: spec.policy.semver.range`, `must be a string, got ${JSON.stringify(sv.range)}`, "quote it in YAML");
    }
    return { policy: spec.policy, filter: ft ?? undefined, specPath: "spec" };
}

function readTags(file: string): string[] {
    let text: string;
    try {
        text = fs.readFileSync(file === "-" ? 0 : file, "utf8");
    } catch (err) {
        throw new GitopsError(file, `cannot read the tags file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    return text.split("\n").map((l) => l.trim()).filter((l) => l !== "");
}

export const policySelectCommand: Command = {
    path: ["image-policy", "select"],
    summary: "print the tag Flux would select for an ImagePolicy (from a tags file or a registry)",
    help: HELP,
    async run(args, io) {
        const { values: flags } = parseFlags(
            NAME,
            args,
            {
                policy: { type: "string" },
                tags: { type: "string" },
                registry: { type: "string" },
                username: { type: "string" },
                token: { type: "string" },
                "page-size": { type: "string" },
                exclude: { type: "string", multiple: true },
                insecure: { type: "boolean" },
            },
            { required: ["policy"] },
        );
        if ((flags.tags === undefined) === (flags.registry === undefined)) {
            throw new GitopsError(`gitops ${NAME}`, "give exactly one of --tags FILE or --registry REPO", `see 'gitops ${NAME} --help'`);
        }
        const file = flags.policy!;
        try {
            const loaded = loadImagePolicy(file);
            // Compile first: an invalid policy fails before any registry traffic.
            const compiled = compilePolicy(loaded.policy, loaded.filter, { origin: file, specPath: loaded.specPath });
            let tags: string[];
            if (flags.tags !== undefined) {
                tags = readTags(flags.tags);
            } else {
                const pageSize = flags["page-size"];
                const password = process.env.GITOPS_REGISTRY_PASSWORD;
                tags = await listTags(flags.registry!, {
                    insecure: !!flags.insecure,
                    pageSize: pageSize === undefined ? undefined : Number(pageSize),
                    exclusionList: flags.exclude,
                    auth: {
                        username: flags.username,
                        password: flags.username !== undefined ? password ?? "" : undefined,
                        token: flags.token,
                    },
                });
            }
            if (flags.tags !== undefined && flags.exclude) {
                // Same exclusion semantics as the registry path.
                const { compileUserRegexp } = await import("./policy");
                const res = flags.exclude.map((p, i) => compileUserRegexp(p, `--exclude[${i}]`));
                tags = tags.filter((t) => !res.some((r) => r.test(t)));
            }
            io.out(compiled.select(tags) + "\n");
            return 0;
        } catch (err) {
            if (isGitopsError(err)) {
                io.err(err.message + "\n");
                return 1;
            }
            throw err;
        }
    },
};
