/**
 * `gitops image-update`: applies Flux image-policy setter markers under a directory, in place.
 */
import * as fs from "fs";
import type { Command, CliIO } from "../util/cli";
import { GitopsError } from "../errors";
import { parseFlags } from "../util/cli";
import { parseImageRef, parseSetterName, PolicyLatest, updateWithSetters } from "./setters";

const NAME = "image-update";

const HELP = `Usage: gitops image-update --path DIR --latest NS:NAME=IMAGE_REF [--latest ...] [--dry-run]

Applies Flux image automation setter markers (Setters strategy) to the YAML files under DIR,
in place, changing only the marked scalars.

A marker is a field comment naming an image policy:
  image: ghcr.io/org/app:v1.0.0 # {"$imagepolicy": "apps:app"}          full reference
  tag: v1.0.0                   # {"$imagepolicy": "apps:app:tag"}      tag only
  repository: ghcr.io/org/app   # {"$imagepolicy": "apps:app:name"}     repository only
  digest: sha256:...            # {"$imagepolicy": "apps:app:digest"}   digest only

Options:
  --path DIR                  directory (or single file) to update; .yaml/.yml files are considered
  --latest NS:NAME=IMAGE_REF  the latest image of policy NS:NAME, as NAME:TAG or NAME:TAG@DIGEST
                              (repeatable; the full-reference marker writes NAME:TAG@DIGEST)
  --dry-run                   print the changes without writing files

Output: one line per change, '<file>:<line>: <old> -> <new>', then a summary. Markers that
were left alone (unknown policy, malformed marker, unparsable file) are listed on stderr with
file:line; Flux skips them silently.

Exit status: 0 when it ran (even with warnings), 1 on bad input (malformed --latest, missing DIR).
`;

/** Parses one `--latest NS:NAME=IMAGE_REF` value. */
export function parseLatestFlag(value: string): PolicyLatest {
    const where = `gitops ${NAME} --latest ${value}`;
    const eq = value.indexOf("=");
    if (eq < 0) throw new GitopsError(where, "expected NS:NAME=IMAGE_REF", "e.g. --latest apps:podinfo=ghcr.io/stefanprodan/podinfo:6.5.0");
    const key = value.slice(0, eq);
    const parsed = parseSetterName(key);
    if ("error" in parsed) throw new GitopsError(where, parsed.error);
    if (parsed.part !== "image") throw new GitopsError(where, `give the policy as NS:NAME, without ':${parsed.part}'`);
    return { namespace: parsed.namespace, name: parsed.name, latest: parseImageRef(value.slice(eq + 1), where) };
}

export const imageUpdateCommand: Command = {
    path: [NAME],
    summary: "apply Flux $imagepolicy setter markers under a directory",
    help: HELP,
    async run(args: string[], io: CliIO): Promise<number> {
        const { values: flags } = parseFlags(
            NAME,
            args,
            { path: { type: "string" }, latest: { type: "string", multiple: true }, "dry-run": { type: "boolean" } },
            { required: ["path", "latest"] },
        );
        const dir = flags.path!;
        if (!fs.existsSync(dir)) throw new GitopsError(`--path ${dir}`, "no such file or directory", "give the directory holding the manifests");
        const policies = new Map<string, PolicyLatest>();
        for (const v of flags.latest ?? []) {
            const p = parseLatestFlag(v);
            const key = `${p.namespace}:${p.name}`;
            if (policies.has(key)) throw new GitopsError(`gitops ${NAME} --latest ${v}`, `policy '${key}' is given more than once`);
            policies.set(key, p);
        }
        const result = updateWithSetters(dir, policies, { write: !flags["dry-run"] });
        for (const c of result.changes) io.out(`${c.file}:${c.line}: ${c.oldValue} -> ${c.newValue}\n`);
        const verb = flags["dry-run"] ? "would change" : "changed";
        io.out(`${verb} ${result.changes.length} value(s) in ${result.files.size} file(s); ${result.screened} of ${result.scanned} YAML file(s) had markers\n`);
        for (const p of result.problems) io.err(`warning: ${p.where}: ${p.message}\n`);
        return 0;
    },
};
