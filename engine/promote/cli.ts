/**
 * `gitops promote`: promote one stage to the next, roll back, carry a hotfix back, and show the
 * promotion trail. One command (one registration line); `log`, `rollback` and `hotfix` are
 * sub-verbs.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { isStackName, loadStackFile, stackFilePath } from "../config/load";
import { projectRepo } from "../git/url";
import type { Command, CliIO } from "../util/cli";
import { GitopsError } from "../errors";
import type { GitAuth, Identity } from "../git/exec";
import { parseFlags } from "../util/cli";

const HELP = `Usage:
  gitops promote --from STAGE --to STAGE --verified-revision SHA [--repo URL|DIR] [options]
  gitops promote log --repo URL|DIR [--branch B]... [--json]
  gitops promote rollback --repo URL|DIR --branch B --commit SHA [--stage S] [--reason TEXT] [--dry-run]
  gitops promote hotfix --repo URL|DIR --from-stage prod --commit SHA... [--from-branch B] [--to main] [--dry-run]

Promotes the source stage to the next one (dev -> test -> prod), only when the source stage is
verified healthy at the revision given, and records who promoted what, from which revision and
when in commit trailers (Promoted-From/-To/-By/-At), which 'promote log' reads back.

Defaults come from the stack configs in the project directory (--project, default .):
Pulumi.<to>.yaml gives the fleet repository (gitops:fleet.url), the model
(gitops:promotion.model, default overlays), the stage order (gitops:promotion.order) and, for
overlays, the branch every stage syncs (gitops:fleet.branch); each stage's own Pulumi.<stage>.yaml
gives its branch in the branches model. The overlays are the fleet's apps/<stage> directories,
where image tags are pinned. So on the fleet this program generates (dev and test both sync main)
'gitops promote --from dev --to test --verified-revision SHA' copies dev's pinned versions in
apps/dev to apps/test on main. Flags override every default; the command prints which it used.

--verified-revision is the fleet commit the source stage is verified healthy at: the revision
its Kustomizations applied (gitops get ks --kubeconfig <source cluster> shows it), after your
checks passed.

Models (--model):
  branches   one branch per stage; the first stage's branch is main (override with
             --branch-map dev=main,test=test,prod=prod). Promoting merges the source branch into
             the target with a merge commit (--no-ff), even when nothing changed.
             --verified-revision must equal the source branch head.
  overlays   one branch (--branch, default gitops:fleet.branch, else the remote HEAD) with
             <overlay-root>/<stage> overlays (--overlay-root, default apps). Promoting copies pinned versions (image tags and
             digests, HelmRelease chart versions, OCIRepository tags) from the source overlay at
             the verified revision to the target overlay. The source overlay must not have
             changed since the verified revision.

Options:
  --repo URL|DIR             the fleet repository (default: gitops:fleet.url of Pulumi.<to>.yaml)
  --project DIR              where the Pulumi.<stack>.yaml files are (default .)
  --from STAGE --to STAGE    adjacent stages, in order
  --model branches|overlays  default gitops:promotion.model (overlays); branches without stack files
  --verified-revision SHA    the revision the source stage is verified healthy at (required)
  --stages a,b,c             stage order (default gitops:promotion.order, else dev,test,prod)
  --allow-diverged           branches model: promote even though a rollback on the target keeps
                             it from matching the source (the command explains; default: refuse)
  --author "Name <email>"    default $GITOPS_AUTHOR, else $GIT_AUTHOR_NAME/$GIT_AUTHOR_EMAIL, else git's
                             user.name/user.email, else gitops <gitops@localhost>
  --dry-run                  build the change and print it; push nothing
  --json                     print the result as JSON

Credentials come from the environment: GITOPS_GIT_TOKEN (HTTPS token, user GITOPS_GIT_USER),
or GITOPS_SSH_KEY_FILE (+ GITOPS_KNOWN_HOSTS_FILE). They are never printed.
`;

function authFromEnv(): GitAuth | undefined {
    const e = process.env;
    const a: GitAuth = {};
    if (e.GITOPS_GIT_TOKEN) {
        a.httpsToken = e.GITOPS_GIT_TOKEN;
        if (e.GITOPS_GIT_USER) a.httpsUser = e.GITOPS_GIT_USER;
    }
    if (e.GITOPS_SSH_KEY_FILE) a.sshPrivateKey = readEnvFile("GITOPS_SSH_KEY_FILE", e.GITOPS_SSH_KEY_FILE);
    if (e.GITOPS_KNOWN_HOSTS_FILE) a.knownHosts = readEnvFile("GITOPS_KNOWN_HOSTS_FILE", e.GITOPS_KNOWN_HOSTS_FILE);
    return Object.keys(a).length ? a : undefined;
}

function readEnvFile(name: string, p: string): string {
    try {
        return fs.readFileSync(p, "utf8");
    } catch (err) {
        throw new GitopsError(`env:${name}`, `cannot read ${p}: ${(err as Error).message}`);
    }
}

export function parseAuthor(text: string | undefined, where = "gitops promote --author"): Identity {
    const env = process.env;
    const t = text ?? env.GITOPS_AUTHOR;
    if (t) {
        const m = /^\s*([^<>]+?)\s*<([^<>\s]+)>\s*$/.exec(t);
        if (!m) throw new GitopsError(where, `'${t}' is not "Name <email>"`);
        return { name: m[1], email: m[2] };
    }
    if (env.GIT_AUTHOR_NAME && env.GIT_AUTHOR_EMAIL) return { name: env.GIT_AUTHOR_NAME, email: env.GIT_AUTHOR_EMAIL };
    // the user's own git identity, so Promoted-By names a person when one runs the CLI
    const name = gitConfig("user.name");
    const email = gitConfig("user.email");
    if (name && email) return { name, email };
    return { name: "gitops", email: "gitops@localhost" };
}

function gitConfig(key: string): string | undefined {
    try {
        return execFileSync("git", ["config", "--get", key], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() || undefined;
    } catch {
        return undefined;
    }
}

function parseBranchMap(text: string | undefined): Record<string, string> | undefined {
    if (!text) return undefined;
    const out: Record<string, string> = {};
    for (const part of text.split(",")) {
        const [k, v] = part.split("=").map((s) => s.trim());
        if (!k || !v) throw new GitopsError("gitops promote --branch-map", `'${part}' is not stage=branch`, "e.g. dev=main,test=test,prod=prod");
        out[k] = v;
    }
    return out;
}

function short(s: string | null | undefined): string {
    return s ? s.slice(0, 12) : "(none)";
}

async function runPromote(args: string[], io: CliIO): Promise<number> {
    const { values: f } = parseFlags(
        "promote",
        args,
        {
            repo: { type: "string" },
            project: { type: "string" },
            from: { type: "string" },
            to: { type: "string" },
            model: { type: "string" },
            "allow-diverged": { type: "boolean" },
            "verified-revision": { type: "string" },
            stages: { type: "string" },
            "branch-map": { type: "string" },
            branch: { type: "string" },
            "overlay-root": { type: "string" },
            author: { type: "string" },
            "dry-run": { type: "boolean" },
            json: { type: "boolean" },
        },
        { required: ["from", "to"] },
    );
    const d = stageDefaults(path.resolve(f.project ?? "."), f.from!, f.to!);
    const model = f.model ?? d.model ?? "branches";
    const repo = f.repo ?? d.repo;
    if (!repo) throw new GitopsError("gitops promote", `no fleet repository: no --repo and no Pulumi.${f.to}.yaml in ${path.resolve(f.project ?? ".")}`, "pass --repo URL|DIR, or run from the Pulumi project (or pass --project DIR)");
    const stages = f.stages?.split(",").map((s) => s.trim()).filter(Boolean) ?? d.stages;
    const branches = parseBranchMap(f["branch-map"]) ?? (model === "branches" ? d.branches : undefined);
    const branch = f.branch ?? (model === "overlays" ? d.branch : undefined);
    const overlayRoot = f["overlay-root"] ?? (model === "overlays" && d.files.length ? "apps" : undefined);
    if (d.files.length && !f.json) {
        const used = [
            !f.repo && `repo ${repo}`,
            !f.model && `model ${model}`,
            !f.stages && d.stages && `stages ${d.stages.join(",")}`,
            !f["branch-map"] && branches && `branches ${Object.entries(branches).map(([k, v]) => `${k}=${v}`).join(",")}`,
            !f.branch && branch && `branch ${branch}`,
            !f["overlay-root"] && overlayRoot && `overlay root ${overlayRoot}`,
        ].filter(Boolean);
        if (used.length) io.err(`using ${used.join(", ")} (from ${d.files.join(", ")})\n`);
    }
    if (model !== "branches" && model !== "overlays") throw new GitopsError("gitops promote --model", `unknown model '${model}'`, "use branches or overlays");
    const { promote } = await import("./index");
    const res = await promote({
        repo,
        auth: authFromEnv(),
        from: f.from!,
        to: f.to!,
        model,
        stages,
        branches,
        branch,
        overlayRoot,
        allowDiverged: !!f["allow-diverged"],
        verifiedRevision: f["verified-revision"],
        author: parseAuthor(f.author),
        dryRun: !!f["dry-run"],
    });
    if (f.json) {
        io.out(JSON.stringify(res, null, 2) + "\n");
        return 0;
    }
    const verb = res.pushed ? "promoted" : "would promote";
    io.out(`${verb} ${res.from} -> ${res.to} (${res.model}) from ${res.from}@${short(res.sourceRevision)} onto '${res.branch}'\n`);
    io.out(`  commit ${short(res.commit)}${res.pushed ? "" : " (not pushed)"}, previous ${short(res.previous)}${res.empty ? ", no file changed (the commit records the promotion)" : ""}\n`);
    for (const p of res.pins ?? []) io.out(`  pin ${p.key} ${p.field}: ${p.from} -> ${p.to} (${p.path}:${p.line})\n`);
    for (const s of res.skipped ?? []) io.out(`  skipped ${s.key} ${s.field}: ${s.reason}\n`);
    for (const c of res.files) io.out(`  ${c.action} ${c.path}\n`);
    for (const w of res.warnings ?? []) io.err(`warning: ${w}\n`);
    if (res.model === "overlays" && res.pins?.length === 0) {
        io.err(`note: no pinned version differed between ${res.from} and ${res.to} under ${overlayRoot ?? "clusters"}/ (nothing to copy; the commit records the promotion)\n`);
    }
    return 0;
}

interface StageDefaults {
    files: string[];
    repo?: string;
    model?: "branches" | "overlays";
    stages?: string[];
    branch?: string;
    branches?: Record<string, string>;
}

/**
 * Promotion defaults from the stack configs: Pulumi.<to>.yaml for the repository, model, order
 * and overlays branch; each stage's Pulumi.<stage>.yaml (when present) for its branch. Missing
 * files give no defaults; an invalid one is an error naming its key.
 */
export function stageDefaults(project: string, from: string, to: string): StageDefaults {
    const file = (s: string) => stackFilePath(project, s);
    // A stage that cannot be a stack has no stack file to give defaults.
    if (!isStackName(to) || !fs.existsSync(file(to))) return { files: [] };
    const target = loadStackFile(project, to).config;
    const files = [`Pulumi.${to}.yaml`];
    const url = target.fleet.url;
    const repo = projectRepo(project, url);
    const branches: Record<string, string> = {};
    for (const s of target.promotion.order) {
        if (s === to) branches[s] = target.fleet.branch;
        else if (fs.existsSync(file(s))) {
            branches[s] = loadStackFile(project, s).config.fleet.branch;
            if (s === from) files.push(`Pulumi.${s}.yaml`);
        }
    }
    return { files, repo, model: target.promotion.model, stages: target.promotion.order, branch: target.fleet.branch, branches };
}

async function runLog(args: string[], io: CliIO): Promise<number> {
    const { values: f } = parseFlags(
        "promote log",
        args,
        { repo: { type: "string" }, branch: { type: "string", multiple: true }, json: { type: "boolean" } },
        { required: ["repo"] },
    );
    const { listPromotions } = await import("./index");
    const recs = await listPromotions(f.repo!, { auth: authFromEnv(), branches: f.branch });
    if (f.json) {
        io.out(JSON.stringify(recs, null, 2) + "\n");
        return 0;
    }
    if (recs.length === 0) io.out("no promotions recorded\n");
    for (const r of recs) {
        const when = r.at ?? "";
        if (r.kind === "promotion") io.out(`${when}  promotion  ${r.from?.stage}@${short(r.from?.revision)} -> ${r.to}  by ${r.by}  (${short(r.commit)}, ${r.model})\n`);
        else if (r.kind === "rollback") io.out(`${when}  rollback   of ${short(r.reverts)} on ${r.to}  by ${r.by}  (${short(r.commit)})\n`);
        else io.out(`${when}  hotfix     ${r.from?.stage}@${short(r.from?.revision)} -> ${r.to}  by ${r.by}  (${short(r.commit)})\n`);
    }
    return 0;
}

async function runRollback(args: string[], io: CliIO): Promise<number> {
    const { values: f } = parseFlags(
        "promote rollback",
        args,
        {
            repo: { type: "string" },
            branch: { type: "string" },
            commit: { type: "string" },
            stage: { type: "string" },
            reason: { type: "string" },
            author: { type: "string" },
            "dry-run": { type: "boolean" },
            json: { type: "boolean" },
        },
        { required: ["repo", "branch", "commit"] },
    );
    const { rollback } = await import("./index");
    const res = await rollback({
        repo: f.repo!,
        auth: authFromEnv(),
        branch: f.branch!,
        commit: f.commit!,
        stage: f.stage,
        reason: f.reason,
        author: parseAuthor(f.author, "gitops promote rollback --author"),
        dryRun: !!f["dry-run"],
    });
    if (f.json) io.out(JSON.stringify(res, null, 2) + "\n");
    else {
        io.out(`${res.pushed ? "rolled back" : "would roll back"} ${short(f.commit)} on '${res.branch}' with revert ${short(res.commit)}\n`);
        for (const c of res.files) io.out(`  ${c.action} ${c.path}\n`);
    }
    return 0;
}

async function runHotfix(args: string[], io: CliIO): Promise<number> {
    const { values: f } = parseFlags(
        "promote hotfix",
        args,
        {
            repo: { type: "string" },
            "from-stage": { type: "string" },
            "from-branch": { type: "string" },
            commit: { type: "string", multiple: true },
            to: { type: "string" },
            author: { type: "string" },
            "dry-run": { type: "boolean" },
            json: { type: "boolean" },
        },
        { required: ["repo", "from-stage", "commit"] },
    );
    const { hotfix } = await import("./index");
    const res = await hotfix({
        repo: f.repo!,
        auth: authFromEnv(),
        fromStage: f["from-stage"]!,
        fromBranch: f["from-branch"],
        commits: f.commit!,
        to: f.to,
        author: parseAuthor(f.author, "gitops promote hotfix --author"),
        dryRun: !!f["dry-run"],
    });
    if (f.json) io.out(JSON.stringify(res, null, 2) + "\n");
    else {
        io.out(`${res.pushed ? "carried" : "would carry"} ${f.commit!.map((c) => short(c)).join(", ")} from ${f["from-stage"]} onto '${res.branch}' as ${short(res.commit)}\n`);
        for (const c of res.files) io.out(`  ${c.action} ${c.path}\n`);
    }
    return 0;
}

export const promoteCommand: Command = {
    path: ["promote"],
    summary: "promote a stage to the next (dev -> test -> prod); log, rollback, hotfix",
    help: HELP,
    async run(args, io) {
        switch (args[0]) {
            case "log":
                return runLog(args.slice(1), io);
            case "rollback":
                return runRollback(args.slice(1), io);
            case "hotfix":
                return runHotfix(args.slice(1), io);
            default:
                return runPromote(args, io);
        }
    },
};
