/**
 * `gitops push artifact`: publish a directory as a Flux OCI artifact, with the flags of
 * `flux push artifact` (oci://REPO:TAG --path --source --revision --creds --ignore-paths -o).
 */
import { parseArgs } from "node:util";
import type { CliIO, Command } from "../util/cli";
import { GitopsError } from "../errors";
import type { RegistryAuth } from "./client";
import { REPRODUCIBLE_CREATED } from "./artifact";
import { projectRepo } from "../git/url";
import { registryHost } from "../images/ref";

/** node:util parseArgs with our errors. */
export function parseCli<T extends NonNullable<Parameters<typeof parseArgs>[0]>["options"]>(cmd: string, args: string[], options: T) {
    try {
        return parseArgs({ args, options, allowPositionals: true, strict: true });
    } catch (err) {
        throw new GitopsError(cmd, (err as Error).message.replace(/\. To specify a positional.*$/s, ""), `see 'gitops ${cmd} --help'`);
    }
}

/**
 * Registry credentials for a host: `user:password` (flux's --creds), or from the environment
 * GITOPS_REGISTRY_CREDS, either `user:password` or a JSON map host -> "user:password" (the shape
 * of the gitops:registryCredentials secret).
 */
export function credentialsFor(host: string, creds: string | undefined, env: NodeJS.ProcessEnv = process.env): { auth?: RegistryAuth; credsFrom: string } {
    const from = creds !== undefined ? "--creds" : "GITOPS_REGISTRY_CREDS";
    let value = creds ?? env.GITOPS_REGISTRY_CREDS;
    if (value === undefined || value === "") return { credsFrom: "--creds or GITOPS_REGISTRY_CREDS" };
    if (value.trim().startsWith("{")) {
        let map: Record<string, unknown>;
        try {
            map = JSON.parse(value) as Record<string, unknown>;
        } catch {
            throw new GitopsError(from, "is not valid JSON (the value is not shown)", 'use {"host:port": "user:password"} or user:password');
        }
        const v = map[host];
        if (v === undefined) return { credsFrom: from };
        if (typeof v !== "string") throw new GitopsError(`${from}[${host}]`, 'must be a "user:password" string');
        value = v;
    }
    return { auth: userPassword(value), credsFrom: from };
}

/** "user:password" (a password may contain ':'), as flux's --creds; "user" alone means an empty password. */
export function userPassword(v: string): RegistryAuth {
    const i = v.indexOf(":");
    return i < 0 ? { username: v, password: "" } : { username: v.slice(0, i), password: v.slice(i + 1) };
}

const PUSH_HELP = `Usage:
  gitops push artifact oci://REPO:TAG --path DIR --source URL --revision REV [options]

Packs DIR (or a single file) as a Flux OCI artifact, as 'flux push artifact' does: a config blob
of media type application/vnd.cncf.flux.config.v1+json, one tar+gzip layer
(application/vnd.cncf.flux.content.v1.tar+gzip) and the annotations
org.opencontainers.image.source, .revision and .created. The tar is reproducible (sorted entries,
no owners, zero times): the same content gives the same layer digest on every machine.

Publishing is idempotent: when TAG already holds this content from the same --source and
--revision, nothing is uploaded and the existing digest is printed. Missing blobs only are
uploaded (HEAD first), by digest.

Options:
  --path DIR|FILE        what to pack (required)
  --source URL           the source address, e.g. the Git URL (required)
  --revision REV         the source revision, e.g. main@sha1:<commit> (required)
  --tag T                another tag for the same digest, e.g. 1.4.0 or latest (repeatable)
  --ignore-paths P,...   gitignore-style patterns to leave out
                         (default .git/,.gitignore,.gitmodules,.gitattributes,*.jpg,*.jpeg,*.gif,
                         *.png,*.wmv,*.flv,*.tar.gz,*.zip)
  --created TIME         org.opencontainers.image.created (RFC 3339); default now
  --reproducible         created = ${REPRODUCIBLE_CREATED}: the digest depends on content only
  --annotations k=v      more manifest annotations (repeatable)
  --creds user:password  registry credentials; else GITOPS_REGISTRY_CREDS (user:password or
                         a JSON map host -> user:password, like gitops:registryCredentials)
  --insecure             plain HTTP (loopback and private addresses always use it)
  -o, --output json|yaml print {url, repository, tag, digest, pushed, uploaded}

Loopback registries are spoken to over HTTP. Credentials are never printed.
`;

export const pushArtifactCommand: Command = {
    path: ["push", "artifact"],
    summary: "publish a directory as a Flux OCI artifact (like flux push artifact)",
    help: PUSH_HELP,
    async run(args: string[], io: CliIO): Promise<number> {
        const cmd = "push artifact";
        const { values: v, positionals } = parseCli(cmd, args, {
            path: { type: "string" },
            source: { type: "string" },
            revision: { type: "string" },
            tag: { type: "string", multiple: true },
            "ignore-paths": { type: "string", multiple: true },
            created: { type: "string" },
            reproducible: { type: "boolean" },
            annotations: { type: "string", multiple: true },
            creds: { type: "string" },
            insecure: { type: "boolean" },
            output: { type: "string", short: "o" },
        });
        if (positionals.length !== 1) throw new GitopsError(cmd, positionals.length ? `one artifact URL expected, got ${positionals.length}` : "artifact URL is required", "e.g. gitops push artifact oci://127.0.0.1:5000/fleet:dev --path ...");
        if (!v.path) throw new GitopsError("--path", "is required", "the directory (or file) to pack");
        if (!v.source) throw new GitopsError("--source", "is required", "the source address, e.g. $(git config --get remote.origin.url)");
        if (!v.revision) throw new GitopsError("--revision", "is required", 'e.g. "$(git branch --show-current)@sha1:$(git rev-parse HEAD)"');
        if (v.output !== undefined && v.output !== "json" && v.output !== "yaml") throw new GitopsError("--output", `must be json or yaml; got ${JSON.stringify(v.output)}`);
        if (v.created && v.reproducible) throw new GitopsError("--created", "conflicts with --reproducible", "give one of them");
        const annotations: Record<string, string> = {};
        for (const a of v.annotations ?? []) {
            const i = a.indexOf("=");
            if (i <= 0) throw new GitopsError("--annotations", `${JSON.stringify(a)} is not key=value`);
            annotations[a.slice(0, i)] = a.slice(i + 1);
        }
        const { parseArtifactRef } = await import("./ref");
        const { pushArtifact } = await import("./push");
        const url = positionals[0];
        const ref = parseArtifactRef(url, { insecure: v.insecure, where: cmd });
        const { auth, credsFrom } = credentialsFor(ref.host, v.creds);
        const r = await pushArtifact({
            url,
            path: v.path,
            source: v.source,
            revision: v.revision,
            tags: v.tag,
            ignorePaths: v["ignore-paths"] ? v["ignore-paths"].flatMap((p) => p.split(",")) : undefined,
            created: v.reproducible ? REPRODUCIBLE_CREATED : v.created,
            annotations,
            auth,
            credsFrom,
            insecure: v.insecure,
            where: cmd,
        });
        const info = { url: r.url, repository: r.repository, tag: r.tag, digest: r.digest, tags: r.tags, pushed: r.pushed, uploaded: r.uploaded };
        if (v.output === "json") io.out(JSON.stringify(info, null, 2) + "\n");
        else if (v.output === "yaml") io.out((await import("yaml")).stringify(info));
        else io.out(r.pushed ? `artifact successfully pushed to ${r.url}\n` : `artifact unchanged at ${r.url} (tag ${r.tag} already holds this content; nothing uploaded)\n`);
        return 0;
    },
};

const PROMOTE_HELP = `Usage:
  gitops promote artifact --from STAGE --to STAGE --verified-digest sha256:... [options]

Promotion by digest, for stacks with gitops:fleet.oci: copies the manifest the source stage is
verified at from its tag to the next stage's tag (the same digest; never a rebuild), then records
the promotion in a commit on the target stage's fleet branch (trailers Promoted-From: the source
commit the artifact was built from, Promoted-To, -By, -At, Promotion-Model: oci, Promoted-Digest,
Promoted-Artifact), which 'gitops promote log' and 'gitops report' read.

Refuses when the source tag no longer holds the verified digest. Re-running is safe: the copy is
skipped when the target tag already holds the digest.

Options:
  --from STAGE --to STAGE   stacks with Pulumi.<stage>.yaml in --dir, both with gitops:fleet.oci
  --verified-digest D       the digest the source stage is verified at (gitops status -o json)
  --dir PROJECT             the Pulumi project directory (default: .)
  --author "Name <email>"   default $GITOPS_AUTHOR, else git's identity
  --dry-run                 check and print; copy and commit nothing
  -o, --output json

Registry credentials: GITOPS_REGISTRY_CREDS (user:password or a JSON map host -> user:password);
Git: GITOPS_GIT_TOKEN.
`;

export const promoteArtifactCommand: Command = {
    path: ["promote", "artifact"],
    summary: "promote a verified OCI artifact digest to the next stage (manifest copy + Git trail)",
    help: PROMOTE_HELP,
    async run(args: string[], io: CliIO): Promise<number> {
        const cmd = "promote artifact";
        const { values: v, positionals } = parseCli(cmd, args, {
            from: { type: "string" },
            to: { type: "string" },
            "verified-digest": { type: "string" },
            dir: { type: "string" },
            author: { type: "string" },
            "dry-run": { type: "boolean" },
            output: { type: "string", short: "o" },
        });
        if (positionals.length) throw new GitopsError(cmd, `unexpected argument ${JSON.stringify(positionals[0])}`);
        if (!v.from || !v.to) throw new GitopsError(cmd, "--from and --to are required", "e.g. --from dev --to test");
        if (v.output !== undefined && v.output !== "json") throw new GitopsError("--output", `must be json; got ${JSON.stringify(v.output)}`);
        const path = await import("path");
        const dir = path.resolve(v.dir ?? ".");
        const { loadStackFile } = await import("../config/load");
        const { checkOrder } = await import("../promote");
        const { parseAuthor } = await import("../promote/cli");
        const from = loadStackFile(dir, v.from).config;
        const to = loadStackFile(dir, v.to).config;
        checkOrder(to.promotion.order, v.from, v.to);
        for (const c of [from, to]) {
            if (!c.fleet.oci) throw new GitopsError(`Pulumi.${c.stack}.yaml`, "gitops:fleet.oci is not set; promotion by digest needs both stages published as OCI artifacts", "set gitops:fleet.oci.repository, or use 'gitops promote' (Git)");
        }
        const access = (c: typeof from) => {
            const host = registryHost(c.fleet.oci!.repository);
            const { auth, credsFrom } = credentialsFor(host, undefined);
            return { auth, credsFrom, insecure: c.fleet.oci!.insecure };
        };
        const { promoteDigest } = await import("./promote");
        const r = await promoteDigest({
            from: { stage: v.from, repository: from.fleet.oci!.repository, tag: from.fleet.oci!.tag, access: access(from) },
            to: { stage: v.to, repository: to.fleet.oci!.repository, tag: to.fleet.oci!.tag, access: access(to) },
            verifiedDigest: v["verified-digest"] ?? "",
            repo: projectRepo(dir, to.fleet.url),
            branch: to.fleet.branch,
            gitAuth: process.env.GITOPS_GIT_TOKEN ? { httpsToken: process.env.GITOPS_GIT_TOKEN } : undefined,
            author: parseAuthor(v.author, "gitops promote artifact --author"),
            dryRun: v["dry-run"],
        });
        if (v.output === "json") io.out(JSON.stringify(r, null, 2) + "\n");
        else io.out(`${v["dry-run"] ? "would promote" : r.copy?.pushed === false ? "already promoted" : "promoted"} ${r.from} -> ${r.to}${r.commit ? `; trail ${r.commit.slice(0, 12)} on ${to.fleet.branch}` : ""}\n`);
        return 0;
    },
};
