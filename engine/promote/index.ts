/**
 * Promotion across stacks (dev -> test -> prod), in either of two repository models:
 *
 * - branches: one branch per stage; the first stage's branch is the trunk (`main`), which holds
 *   every stage's config. Promoting merges the source branch into the target with a real
 *   (--no-ff) merge commit, so even a promotion that changes nothing is recorded.
 * - overlays: one branch with `clusters/<stage>` overlays. Promoting copies the pinned versions
 *   (image tags and digests, chart versions, OCI tags) from the source overlay, as it was at the
 *   verified revision, into the target overlay.
 *
 * A promotion happens only when the source stage is verified healthy at the revision being
 * promoted (an input here: the cluster side supplies it). Rollback is a revert commit on top,
 * never a reset or a force-push; a hotfix on prod is cherry-picked back to the trunk. Every
 * operation writes trailers (see trail.ts) so `listPromotions` recovers the trail from history.
 *
 * Nothing is pushed until the whole change is built; a conflict or a refusal leaves the remote
 * untouched.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GitopsError } from "../errors";
import { GitAuth, Identity } from "../git/exec";
import { pushError, Remote } from "../git/remote";
import { FileChange } from "../git/sync";
import { checkPath, commitTree, listTree, mergeTrees, TreeEdit, writeCommit } from "../git/tree";
import { applyPins, extractPins, PinChange, PinSkip } from "./pins";
import { ident, message, parseLog, parseTrailers, TrailRecord } from "./trail";

export * from "./pins";
export * from "./trail";

export type PromotionModel = "branches" | "overlays";

export const DEFAULT_STAGES = ["dev", "test", "prod"] as const;

export interface PromoteOptions {
    repo: string;
    auth?: GitAuth;
    from: string;
    to: string;
    /** default "branches" */
    model?: PromotionModel;
    /** The stage order; default dev, test, prod. */
    stages?: string[];
    /** branches model: stage -> branch. Default: the first stage -> "main", every other stage -> its own name. */
    branches?: Record<string, string>;
    /** overlays model: the branch holding every overlay; default the remote's HEAD branch. */
    branch?: string;
    /** overlays model: the directory holding one overlay per stage; default "clusters". */
    overlayRoot?: string;
    /** The revision of the source stage verified healthy. Required: no verification, no promotion. */
    verifiedRevision?: string;
    author: Identity;
    /** Build the promotion and report it; push nothing. */
    dryRun?: boolean;
    /** branches model: promote even when a rollback on the target keeps it from matching the source (warns). */
    allowDiverged?: boolean;
    /** non-fast-forward retries, default 5 */
    maxRetries?: number;
    /** Test seam: runs after the commit is built and before it is pushed. */
    beforePush?: (attempt: number) => Promise<void> | void;
}

export interface PromotionResult {
    model: PromotionModel;
    from: string;
    to: string;
    /** The branch written. */
    branch: string;
    /** The source revision promoted (the verified one). */
    sourceRevision: string;
    /** The target branch head before; null when the branch was created. */
    previous: string | null;
    /** The promotion commit (built but not pushed in a dry run). */
    commit: string;
    pushed: boolean;
    /** True when the promotion changed no file (the commit still records it). */
    empty: boolean;
    /** Files the promotion changes in the target. */
    files: FileChange[];
    /** overlays model: pins copied, and source pins the target does not have. */
    pins?: PinChange[];
    skipped?: PinSkip[];
    /** Why the target will not equal the source after this promotion (only with allowDiverged). */
    warnings?: string[];
}

/** Checks that `from` -> `to` is one step forward in `stages`. */
export function checkOrder(stages: readonly string[], from: string, to: string): void {
    const list = stages.join(" -> ");
    const fi = stages.indexOf(from);
    const ti = stages.indexOf(to);
    if (fi < 0) throw new GitopsError(`stage:${from}`, `unknown stage '${from}'`, `stages are ${list}`);
    if (ti < 0) throw new GitopsError(`stage:${to}`, `unknown stage '${to}'`, `stages are ${list}`);
    if (ti === fi) throw new GitopsError(`stage:${to}`, `cannot promote '${from}' to itself`, `stages are ${list}`);
    if (ti < fi) throw new GitopsError(`stage:${to}`, `'${from}' -> '${to}' goes backwards`, `promotion runs ${list}; to undo a promotion, roll back on '${from}'`);
    if (ti > fi + 1) {
        throw new GitopsError(`stage:${to}`, `'${from}' -> '${to}' skips ${stages.slice(fi + 1, ti).map((s) => `'${s}'`).join(", ")}`, `promote '${from}' -> '${stages[fi + 1]}' first`);
    }
}

export function stageBranches(stages: readonly string[], overrides: Record<string, string> = {}): Record<string, string> {
    const out: Record<string, string> = {};
    stages.forEach((s, i) => (out[s] = overrides[s] ?? (i === 0 ? "main" : s)));
    for (const k of Object.keys(overrides)) {
        if (!stages.includes(k)) throw new GitopsError(`branches:${k}`, `unknown stage '${k}' in the branch map`, `stages are ${stages.join(", ")}`);
    }
    return out;
}

function shortSha(s: string): string {
    return s.slice(0, 12);
}

function checkVerified(v: string | undefined, where: string, stage: string): string {
    if (!v) {
        throw new GitopsError(where, `stage '${stage}' has no verified revision; refusing to promote`, `pass the revision '${stage}' is verified healthy at (--verified-revision SHA)`);
    }
    if (!/^[0-9a-f]{7,40}$/i.test(v)) throw new GitopsError(where, `verified revision '${v}' is not a commit sha`, "pass at least 7 hex digits");
    return v.toLowerCase();
}

/** Builds a commit for the current head of `branch` and pushes it, re-building on a non-fast-forward. */
export async function commitWithRetry<T extends { commit: string }>(
    r: Remote,
    branch: string,
    opts: { dryRun?: boolean; maxRetries?: number; beforePush?: (attempt: number) => Promise<void> | void },
    build: (head: string | null) => Promise<T>,
): Promise<T & { previous: string | null; pushed: boolean }> {
    const max = opts.maxRetries ?? 5;
    for (let attempt = 0; ; attempt++) {
        const refs = await r.lsRemote([`refs/heads/${branch}`]);
        const head = refs.refs.get(`refs/heads/${branch}`) ?? null;
        if (head) await r.fetchBranches([branch], "full");
        const built = await build(head);
        if (opts.dryRun) return { ...built, previous: head, pushed: false };
        if (opts.beforePush) await opts.beforePush(attempt);
        const p = await r.push(built.commit, branch);
        if (p.ok) return { ...built, previous: head, pushed: true };
        const where = `${r.repo.display}#${branch}`;
        if (!p.nonFastForward) throw pushError(where, p.message);
        if (attempt >= max) throw new GitopsError(where, `push rejected ${attempt + 1} times because '${branch}' kept moving; nothing was pushed`, "retry later");
    }
}

async function changedFiles(r: Remote, from: string | null, to: string): Promise<FileChange[]> {
    const args = from ? ["diff", "--name-status", "--no-renames", "-z", from, to] : ["diff-tree", "-r", "--root", "--name-status", "--no-renames", "-z", to];
    const res = await r.git(args);
    const parts = res.stdout.split("\0").filter((x) => x.length > 0);
    const start = from ? 0 : 1; // diff-tree --root prints the commit id first
    const out: FileChange[] = [];
    for (let i = start; i + 1 < parts.length; i += 2) {
        const s = parts[i][0];
        out.push({ path: parts[i + 1], action: s === "A" ? "created" : s === "D" ? "deleted" : "configured" });
    }
    return out;
}

async function treeOf(r: Remote, rev: string, sub?: string): Promise<string | undefined> {
    const res = await r.git(["rev-parse", "--verify", "--quiet", sub ? `${rev}:${sub}` : `${rev}^{tree}`], { allowFail: true });
    return res.code === 0 ? res.stdout.trim() : undefined;
}

async function readDir(r: Remote, rev: string, dir: string): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const [p, e] of await listTree(r, rev, dir + "/")) {
        if (e.type !== "blob") continue;
        out[p] = (await r.git(["cat-file", "blob", e.oid])).stdout;
    }
    return out;
}

/** Promotes `from` -> `to`. See the module comment for the two models. */
export async function promote(o: PromoteOptions): Promise<PromotionResult> {
    const stages = o.stages ?? [...DEFAULT_STAGES];
    checkOrder(stages, o.from, o.to);
    const model = o.model ?? "branches";
    if (model !== "branches" && model !== "overlays") throw new GitopsError("model", `unknown promotion model '${model}'`, "use branches or overlays");
    if (!o.author?.name || !o.author?.email) throw new GitopsError("author", "author name and email are required");
    return model === "branches" ? promoteBranches(o, stages) : promoteOverlays(o);
}

async function promoteBranches(o: PromoteOptions, stages: string[]): Promise<PromotionResult> {
    const branches = stageBranches(stages, o.branches);
    const fromBranch = branches[o.from];
    const toBranch = branches[o.to];
    return Remote.open(o.repo, o.auth, async (r) => {
        const srcWhere = `${r.repo.display}#${fromBranch}`;
        const verified = checkVerified(o.verifiedRevision, srcWhere, o.from);
        const refs = await r.lsRemote([`refs/heads/${fromBranch}`]);
        const source = refs.refs.get(`refs/heads/${fromBranch}`);
        if (!source) throw new GitopsError(srcWhere, `branch '${fromBranch}' of stage '${o.from}' does not exist`, "check the stage's branch (--branch-map)");
        if (!source.startsWith(verified)) {
            throw new GitopsError(
                srcWhere,
                `stage '${o.from}' is at ${shortSha(source)} but the verified healthy revision is ${verified}; refusing to promote an unverified revision`,
                `wait until '${o.from}' is verified at ${shortSha(source)}`,
            );
        }
        await r.fetchBranches([fromBranch], "full");
        const at = new Date().toISOString();
        let warnings: string[] = [];
        const built = await commitWithRetry(r, toBranch, o, async (target) => {
            const msg = message(`promote ${o.from} -> ${o.to}: ${fromBranch}@${shortSha(source)}`, `Merge branch '${fromBranch}' (stage ${o.from}) into '${toBranch}' (stage ${o.to}).`, [
                ["Promoted-From", `${o.from}@${source}`],
                ["Promoted-To", o.to],
                ["Promoted-By", ident(o.author)],
                ["Promoted-At", at],
                ["Promotion-Model", "branches"],
            ]);
            if (!target) {
                // First promotion: the stage branch starts as a commit on top of the source.
                const tree = (await treeOf(r, source))!;
                return { commit: await commitTree(r, tree, [source], msg, o.author), empty: false };
            }
            const merged = await mergeTrees(r, target, source);
            if (merged.conflicts.length > 0) {
                throw new GitopsError(
                    `${r.repo.display}#${toBranch}`,
                    `merging '${fromBranch}' into '${toBranch}' conflicts in: ${merged.conflicts.join(", ")}; nothing was pushed`,
                    `resolve the conflict on '${toBranch}' (for example by reverting the change there) and promote again`,
                );
            }
            const empty = merged.tree === (await treeOf(r, target));
            warnings = await divergence(r, o, { source, target, mergedTree: merged.tree, fromBranch, toBranch });
            return { commit: await commitTree(r, merged.tree, [target, source], msg, o.author), empty };
        });
        return {
            model: "branches",
            from: o.from,
            to: o.to,
            branch: toBranch,
            sourceRevision: source,
            previous: built.previous,
            commit: built.commit,
            pushed: built.pushed,
            empty: built.empty,
            files: await changedFiles(r, built.previous, built.commit),
            ...(warnings.length ? { warnings } : {}),
        };
    });
}

/**
 * Branches model: a promotion merge that was rolled back on the target stays "merged" for git, so
 * promoting the same changes again does not bring them back and the stages silently diverge.
 * Finds rollbacks of promotions on the target (commits not on the source with a Rolled-Back
 * trailer naming a Promoted-From commit) when the merge result still differs from the source:
 * refuses with the fix, or with allowDiverged returns the explanation as warnings.
 */
async function divergence(r: Remote, o: PromoteOptions, x: { source: string; target: string; mergedTree: string; fromBranch: string; toBranch: string }): Promise<string[]> {
    if (x.mergedTree === (await treeOf(r, x.source))) return [];
    const log = await r.git(["log", "--format=%H%x00%B%x01", `${x.source}..${x.target}`]);
    const found: string[] = [];
    for (const rec of log.stdout.split("\x01")) {
        const [sha, body] = rec.trim().split("\0");
        if (!sha || !body) continue;
        const undone = parseTrailers(body)["Rolled-Back"];
        if (!undone) continue;
        const orig = await r.git(["log", "-1", "--format=%B", undone], { allowFail: true });
        if (orig.code !== 0 || !parseTrailers(orig.stdout)["Promoted-From"]) continue;
        found.push(
            `'${x.toBranch}' rolled back the promotion ${shortSha(undone)} with ${shortSha(sha)}; git counts those changes of '${x.fromBranch}' as merged, so promoting again does not bring them back and '${o.to}' would differ from '${o.from}'. To re-apply them, revert the rollback first: gitops promote rollback --repo ${o.repo} --branch ${x.toBranch} --commit ${shortSha(sha)}`,
        );
    }
    if (found.length && !o.allowDiverged) {
        throw new GitopsError(`${r.repo.display}#${x.toBranch}`, `stage '${o.to}' has diverged from '${o.from}' after a rollback; nothing was pushed. ${found.join(". ")}`, "or pass --allow-diverged to promote anyway and keep the rollback");
    }
    return found;
}

async function promoteOverlays(o: PromoteOptions): Promise<PromotionResult> {
    const root = (o.overlayRoot ?? "clusters").replace(/\/+$/, "");
    const srcDir = checkPath(`${root}/${o.from}`, "overlay");
    const dstDir = checkPath(`${root}/${o.to}`, "overlay");
    return Remote.open(o.repo, o.auth, async (r) => {
        let branch = o.branch;
        if (!branch) {
            const head = (await r.lsRemote()).head;
            if (!head) throw new GitopsError(r.repo.display, "repository has no default branch", "pass the branch holding the overlays (--branch)");
            branch = head;
        }
        const where = `${r.repo.display}#${branch}`;
        const verified = checkVerified(o.verifiedRevision, `${where}:${srcDir}`, o.from);
        const at = new Date().toISOString();
        let pins: PinChange[] = [];
        let skipped: PinSkip[] = [];
        let sourceRevision = "";
        const built = await commitWithRetry(r, branch, o, async (head) => {
            if (!head) throw new GitopsError(where, `branch '${branch}' does not exist`, "pass the branch holding the overlays (--branch)");
            const v = await r.git(["rev-parse", "--verify", "--quiet", `${verified}^{commit}`], { allowFail: true });
            if (v.code !== 0) throw new GitopsError(where, `verified revision ${verified} is not a commit of '${branch}'`, "pass the revision the source stage reports");
            sourceRevision = v.stdout.trim();
            const anc = await r.git(["merge-base", "--is-ancestor", sourceRevision, head], { allowFail: true });
            if (anc.code !== 0) throw new GitopsError(where, `verified revision ${shortSha(sourceRevision)} is not on branch '${branch}'`, "pass a revision from the branch the stages sync");
            const srcAtVerified = await treeOf(r, sourceRevision, srcDir);
            if (!srcAtVerified) throw new GitopsError(`${where}:${srcDir}`, `overlay '${srcDir}' of stage '${o.from}' does not exist at ${shortSha(sourceRevision)}`, `check the stage name and --overlay-root`);
            const srcAtHead = await treeOf(r, head, srcDir);
            if (srcAtHead !== srcAtVerified) {
                throw new GitopsError(
                    `${where}:${srcDir}`,
                    `overlay '${srcDir}' changed after the verified revision ${shortSha(sourceRevision)} (head ${shortSha(head)}); refusing to promote an unverified state`,
                    `wait until '${o.from}' is verified at ${shortSha(head)}`,
                );
            }
            if (!(await treeOf(r, head, dstDir))) throw new GitopsError(`${where}:${dstDir}`, `overlay '${dstDir}' of stage '${o.to}' does not exist`, `create ${dstDir} first`);
            const sourcePins = extractPins(await readDir(r, sourceRevision, srcDir));
            const target = await readDir(r, head, dstDir);
            const applied = applyPins(sourcePins, target);
            pins = applied.changes;
            skipped = applied.skipped;
            const body = pins.length > 0 ? pins.map((c) => `- ${c.key} ${c.field}: ${c.from} -> ${c.to} (${c.path})`).join("\n") : "No pinned version changed.";
            const msg = message(`promote ${o.from} -> ${o.to}: ${srcDir}@${shortSha(sourceRevision)}`, body, [
                ["Promoted-From", `${o.from}@${sourceRevision}`],
                ["Promoted-To", o.to],
                ["Promoted-By", ident(o.author)],
                ["Promoted-At", at],
                ["Promotion-Model", "overlays"],
            ]);
            const edits: TreeEdit[] = Object.entries(applied.files).map(([p, content]) => ({ path: p, content }));
            const commit = await writeCommit(r, { parents: [head], edits, message: msg, author: o.author });
            return { commit, empty: edits.length === 0 };
        });
        return {
            model: "overlays",
            from: o.from,
            to: o.to,
            branch,
            sourceRevision,
            previous: built.previous,
            commit: built.commit,
            pushed: built.pushed,
            empty: built.empty,
            files: await changedFiles(r, built.previous, built.commit),
            pins,
            skipped,
        };
    });
}

// ---------------------------------------------------------------------------------------------
// Rollback and hotfix: revert / cherry-pick in a temporary work tree of the cache.

async function withWorktree<T>(r: Remote, at: string, fn: (dir: string) => Promise<T>): Promise<T> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-wt-"));
    await r.git(["worktree", "add", "--detach", "--quiet", dir, at]);
    try {
        return await fn(dir);
    } finally {
        await r.git(["worktree", "remove", "--force", dir], { allowFail: true });
        fs.rmSync(dir, { recursive: true, force: true });
        await r.git(["worktree", "prune"], { allowFail: true });
    }
}

async function unmerged(r: Remote, dir: string): Promise<string[]> {
    const res = await r.gitIn(dir, ["diff", "--name-only", "--diff-filter=U", "-z"], { allowFail: true });
    return res.stdout.split("\0").filter(Boolean);
}

async function parentCount(r: Remote, sha: string): Promise<number> {
    const res = await r.git(["rev-list", "--parents", "-n", "1", sha]);
    return res.stdout.trim().split(" ").length - 1;
}

async function resolveCommit(r: Remote, rev: string, where: string): Promise<string> {
    if (!/^[0-9a-f]{4,40}$/i.test(rev)) throw new GitopsError(where, `'${rev}' is not a commit sha`);
    const res = await r.git(["rev-parse", "--verify", "--quiet", `${rev}^{commit}`], { allowFail: true });
    if (res.code !== 0) throw new GitopsError(where, `commit ${rev} not found`, "check the sha (git log)");
    return res.stdout.trim();
}

export interface RollbackOptions {
    repo: string;
    auth?: GitAuth;
    /** The branch to roll back (a stage branch, or the overlays branch). */
    branch: string;
    /** The commit to undo (a promotion merge, or any commit on the branch). */
    commit: string;
    /** Stage name for the trail; default the branch. */
    stage?: string;
    author: Identity;
    reason?: string;
    dryRun?: boolean;
    maxRetries?: number;
}

export interface CommitResult {
    branch: string;
    previous: string | null;
    commit: string;
    pushed: boolean;
    files: FileChange[];
}

/** Undoes `commit` on `branch` with a revert commit on top (never a reset or force-push). */
export async function rollback(o: RollbackOptions): Promise<CommitResult> {
    if (!o.author?.name || !o.author?.email) throw new GitopsError("author", "author name and email are required");
    return Remote.open(o.repo, o.auth, async (r) => {
        const where = `${r.repo.display}#${o.branch}`;
        const at = new Date().toISOString();
        const built = await commitWithRetry(r, o.branch, o, async (head) => {
            if (!head) throw new GitopsError(where, `branch '${o.branch}' does not exist`);
            const target = await resolveCommit(r, o.commit, where);
            const anc = await r.git(["merge-base", "--is-ancestor", target, head], { allowFail: true });
            if (anc.code !== 0) throw new GitopsError(where, `commit ${shortSha(target)} is not on '${o.branch}'`, "roll back a commit of that branch");
            const subject = (await r.git(["log", "-1", "--format=%s", target])).stdout.trim();
            return withWorktree(r, head, async (dir) => {
                const args = ["revert", "--no-commit"];
                if ((await parentCount(r, target)) > 1) args.push("-m", "1");
                const rev = await r.gitIn(dir, [...args, target], { allowFail: true, identity: o.author });
                if (rev.code !== 0) {
                    const paths = await unmerged(r, dir);
                    await r.gitIn(dir, ["revert", "--abort"], { allowFail: true });
                    throw new GitopsError(where, `reverting ${shortSha(target)} conflicts${paths.length ? ` in: ${paths.join(", ")}` : `: ${rev.stderr.trim()}`}; nothing was pushed`, "revert by hand, or roll back the later commits first");
                }
                const st = await r.gitIn(dir, ["diff", "--cached", "--quiet"], { allowFail: true });
                if (st.code === 0) throw new GitopsError(where, `reverting ${shortSha(target)} changes nothing on '${o.branch}' (already rolled back?)`);
                const msg = message(`Revert "${subject}"`, `This reverts commit ${target}.${o.reason ? `\n\n${o.reason}` : ""}`, [
                    ["Rolled-Back", target],
                    ["Rolled-Back-On", o.stage ?? o.branch],
                    ["Rolled-Back-By", ident(o.author)],
                    ["Rolled-Back-At", at],
                ]);
                await r.gitIn(dir, ["commit", "--quiet", "--no-verify", "-F", "-"], { input: msg, identity: o.author });
                return { commit: (await r.gitIn(dir, ["rev-parse", "HEAD"])).stdout.trim() };
            });
        });
        return { branch: o.branch, previous: built.previous, commit: built.commit, pushed: built.pushed, files: await changedFiles(r, built.previous, built.commit) };
    });
}

export interface HotfixOptions {
    repo: string;
    auth?: GitAuth;
    /** The stage the hotfix was made on (for the trail), e.g. "prod". */
    fromStage: string;
    /** The branch holding the hotfix commits, e.g. "prod". Default: fromStage. */
    fromBranch?: string;
    /** The hotfix commits, oldest first. */
    commits: string[];
    /** The branch to carry them back to; default "main". */
    to?: string;
    author: Identity;
    dryRun?: boolean;
    maxRetries?: number;
}

/** Cherry-picks hotfix commits from a stage branch back onto the trunk, recording where they came from. */
export async function hotfix(o: HotfixOptions): Promise<CommitResult> {
    if (!o.author?.name || !o.author?.email) throw new GitopsError("author", "author name and email are required");
    if (!o.commits?.length) throw new GitopsError("commits", "no hotfix commit given", "pass the sha of the fix on the stage branch");
    const fromBranch = o.fromBranch ?? o.fromStage;
    const to = o.to ?? "main";
    return Remote.open(o.repo, o.auth, async (r) => {
        const where = `${r.repo.display}#${to}`;
        const srcWhere = `${r.repo.display}#${fromBranch}`;
        const refs = await r.lsRemote([`refs/heads/${fromBranch}`]);
        if (!refs.refs.get(`refs/heads/${fromBranch}`)) throw new GitopsError(srcWhere, `branch '${fromBranch}' does not exist`);
        await r.fetchBranches([fromBranch], "full");
        const at = new Date().toISOString();
        const built = await commitWithRetry(r, to, o, async (head) => {
            if (!head) throw new GitopsError(where, `branch '${to}' does not exist`);
            return withWorktree(r, head, async (dir) => {
                for (const c of o.commits) {
                    const sha = await resolveCommit(r, c, srcWhere);
                    const onSource = await r.git(["merge-base", "--is-ancestor", sha, `refs/remotes/origin/${fromBranch}`], { allowFail: true });
                    if (onSource.code !== 0) throw new GitopsError(srcWhere, `commit ${shortSha(sha)} is not on '${fromBranch}'`, "pass a commit of the hotfixed stage");
                    const args = ["cherry-pick", "--no-commit"];
                    if ((await parentCount(r, sha)) > 1) args.push("-m", "1");
                    const cp = await r.gitIn(dir, [...args, sha], { allowFail: true, identity: o.author });
                    if (cp.code !== 0) {
                        const paths = await unmerged(r, dir);
                        await r.gitIn(dir, ["cherry-pick", "--abort"], { allowFail: true });
                        throw new GitopsError(where, `cherry-picking ${shortSha(sha)} onto '${to}' conflicts${paths.length ? ` in: ${paths.join(", ")}` : `: ${cp.stderr.trim()}`}; nothing was pushed`, `apply the fix to '${to}' by hand`);
                    }
                    const orig = (await r.git(["log", "-1", "--format=%B", sha])).stdout.trim();
                    const subject = orig.split("\n")[0];
                    const body = orig.split("\n").slice(1).join("\n").trim();
                    const msg = message(subject, `${body ? body + "\n\n" : ""}(cherry picked from commit ${sha})`, [
                        ["Hotfix-From", `${o.fromStage}@${sha}`],
                        ["Hotfix-To", to],
                        ["Hotfix-By", ident(o.author)],
                        ["Hotfix-At", at],
                    ]);
                    // The fix keeps its author (and authoring date); the promoter is the committer
                    // and is named in the Hotfix-By trailer.
                    const [name, email, date] = (await r.git(["log", "-1", "--format=%an%x00%ae%x00%aI", sha])).stdout.trim().split("\0");
                    await r.gitIn(dir, ["commit", "--quiet", "--no-verify", "--allow-empty", `--author=${name} <${email}>`, `--date=${date}`, "-F", "-"], { input: msg, identity: o.author });
                }
                return { commit: (await r.gitIn(dir, ["rev-parse", "HEAD"])).stdout.trim() };
            });
        });
        return { branch: to, previous: built.previous, commit: built.commit, pushed: built.pushed, files: await changedFiles(r, built.previous, built.commit) };
    });
}

// ---------------------------------------------------------------------------------------------
// The trail

/**
 * Every promotion, rollback and hotfix recorded in the repo's history (all branches unless
 * `branches` names some), newest first, each commit once.
 */
export async function listPromotions(repo: string, opts: { auth?: GitAuth; branches?: string[] } = {}): Promise<TrailRecord[]> {
    return Remote.open(repo, opts.auth, async (r) => {
        const all = await r.lsRemote(["refs/heads/*"]);
        const heads = [...all.refs.keys()].filter((k) => k.startsWith("refs/heads/")).map((k) => k.slice("refs/heads/".length));
        const wanted = opts.branches ?? heads;
        for (const b of wanted) {
            if (!heads.includes(b)) throw new GitopsError(`${r.repo.display}#${b}`, `branch '${b}' does not exist`);
        }
        if (wanted.length === 0) return [];
        await r.fetchBranches(wanted, "full");
        const log = await r.git(["log", "--date-order", "--format=%H%x00%B%x1e", ...wanted.map((b) => `refs/remotes/origin/${b}`)]);
        return parseLog(log.stdout);
    });
}
