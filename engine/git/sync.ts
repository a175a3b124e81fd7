/**
 * syncFiles: make a branch hold exactly the declared files under the paths a writer owns.
 *
 * The plan is computed from blob ids alone (no checkout). A commit is written only when some
 * file changes, so a second sync with identical content creates no commit. A non-fast-forward
 * push fetches the new head and re-applies our edits file by file (a three-way check against
 * the head we started from): edits to other files survive, an edit by someone else to a file we
 * also change fails with the paths in conflict and nothing is pushed.
 */
import { branchNameProblem } from "../config/validate";
import { GitopsError } from "../errors";
import { GitAuth, Identity } from "./exec";
import { pushError, Remote } from "./remote";
import { blobId, checkPath, listTree, TreeEdit, TreeEntry, writeCommit } from "./tree";

export type FileAction = "created" | "configured" | "deleted" | "unchanged";

export interface FileChange {
    path: string;
    action: FileAction;
}

export interface SyncFilesOptions {
    repo: string;
    branch: string;
    auth?: GitAuth;
    /** path -> full content the stack declares */
    files: Record<string, string>;
    /** path prefixes this writer owns: files under them that are not in `files` are deleted */
    owned: string[];
    author: Identity;
    /** template; {{changes}} {{branch}} {{count}} expand */
    message: string;
    /** compute the plan, never commit or push */
    dryRun?: boolean;
    /** create the branch (from the default branch, or as an orphan in an empty repo) if missing */
    createBranch?: boolean;
    /** With createBranch: the branch to start a missing branch from (default: the remote's default branch). */
    baseBranch?: string;
    /** non-fast-forward retries, default 5 */
    maxRetries?: number;
    /** Test seam: runs after a commit is built and before it is pushed. */
    beforePush?: (attempt: number) => Promise<void> | void;
}

export interface SyncFilesResult {
    /** The branch head after the sync (the previous head when nothing changed; "" for a dry run on a missing branch). */
    commit: string;
    /** The branch head before the sync; null when the branch did not exist. */
    previous: string | null;
    changes: FileChange[];
    committed: boolean;
    pushed: boolean;
}

interface Desired {
    path: string;
    /** undefined: delete */
    content?: string;
    oid?: string;
}

/** True when `p` is `prefix` or lies under it. An empty prefix (or ".") owns everything. */
export function ownedBy(p: string, prefix: string): boolean {
    const pre = prefix.replace(/^\.\/?/, "").replace(/\/+$/, "");
    return pre === "" || p === pre || p.startsWith(pre + "/");
}

/** Throws unless `branch` is a valid branch name (`git check-ref-format --branch`, engine/config/validate.ts). */
export function checkBranchName(branch: string, where = "branch"): string {
    const p = typeof branch === "string" ? branchNameProblem(branch) : { what: "is not a string", fix: "" };
    if (p) throw new GitopsError(`${where}:${branch}`, `invalid branch name: ${p.what.replace(/^is not a valid branch name: /, "")}`, p.fix || undefined);
    return branch;
}

/** Expands {{changes}} {{branch}} {{count}} in a commit message template. */
export function expandMessage(template: string, branch: string, changes: FileChange[]): string {
    const changed = changes.filter((c) => c.action !== "unchanged");
    const lines = changed.map((c) => `- ${c.action} ${c.path}`).join("\n");
    return template.replace(/\{\{\s*(changes|branch|count)\s*\}\}/g, (_, k: string) => (k === "changes" ? lines : k === "branch" ? branch : String(changed.length)));
}

/** What `desired` does to a tree: one FileChange per declared path and per deleted path. */
function diff(tree: Map<string, TreeEntry>, desired: Desired[]): FileChange[] {
    return desired.map((d) => {
        const cur = tree.get(d.path);
        if (d.content === undefined) return { path: d.path, action: cur ? "deleted" : "unchanged" };
        if (!cur) return { path: d.path, action: "created" };
        return { path: d.path, action: cur.oid === d.oid ? "unchanged" : "configured" };
    });
}

export async function syncFiles(opts: SyncFilesOptions): Promise<SyncFilesResult> {
    const branch = checkBranchName(opts.branch);
    const files = opts.files ?? {};
    for (const p of Object.keys(files)) {
        checkPath(p);
        if (typeof files[p] !== "string") throw new GitopsError(`files:${p}`, "content must be a string");
    }
    if (!Array.isArray(opts.owned)) throw new GitopsError("owned", "owned must be a list of path prefixes", "pass [] to delete nothing");
    const maxRetries = opts.maxRetries ?? 5;
    if (!opts.author?.name || !opts.author?.email) throw new GitopsError("author", "author name and email are required");

    return Remote.open(opts.repo, opts.auth, async (r) => {
        const where = `${r.repo.display}#${branch}`;
        // 1. Where the branch is now.
        const remote = await r.lsRemote([`refs/heads/${branch}`]);
        let previous: string | null = remote.refs.get(`refs/heads/${branch}`) ?? null;
        let parent: string | null = previous;
        if (previous) {
            if (!(await r.hasCommit(previous))) await r.fetchBranches([branch], "shallow");
        } else {
            if (!opts.createBranch) {
                throw new GitopsError(where, `branch '${branch}' does not exist`, "create it first or pass createBranch: true");
            }
            let from = remote.head;
            if (opts.baseBranch) {
                // From the named base branch, which must exist.
                from = checkBranchName(opts.baseBranch, "baseBranch");
                const b = await r.lsRemote([`refs/heads/${from}`]);
                parent = b.refs.get(`refs/heads/${from}`) ?? null;
                if (!parent) throw new GitopsError(`${r.repo.display}#${from}`, `base branch '${from}' does not exist`, "pass an existing baseBranch or omit it to start from the default branch");
            } else {
                // From the default branch (ls-remote's HEAD line carries its sha), or an orphan.
                parent = remote.head ? (remote.refs.get(`refs/heads/${remote.head}`) ?? remote.refs.get("HEAD") ?? null) : null;
            }
            if (parent && !(await r.hasCommit(parent))) await r.fetchBranches([from!], "shallow");
        }

        // 2. The plan, relative to the head we started from (base0).
        const base0 = await listTree(r, parent);
        const desiredAll: Desired[] = Object.keys(files)
            .sort()
            .map((p) => ({ path: p, content: files[p], oid: blobId(files[p]) }));
        const declared = new Set(Object.keys(files));
        for (const p of [...base0.keys()].sort()) {
            if (!declared.has(p) && opts.owned.some((o) => ownedBy(p, o))) desiredAll.push({ path: p });
        }
        // Our edits: what differs from base0. Only these are re-applied on a newer head.
        const edits = desiredAll.filter((d) => {
            const cur = base0.get(d.path);
            return d.content === undefined ? !!cur : !cur || cur.oid !== d.oid;
        });
        const edited = new Set(edits.map((e) => e.path));
        const byPath = new Map(desiredAll.map((d) => [d.path, d]));

        let tree = base0;
        for (let attempt = 0; ; attempt++) {
            const changes = diff(tree, desiredAll).map((c) =>
                // A path we do not edit keeps whatever the current head has.
                edited.has(c.path) ? c : { path: c.path, action: "unchanged" as FileAction },
            );
            const changed = changes.filter((c) => c.action !== "unchanged");
            const reportable = changes.filter((c) => c.action !== "unchanged" || declared.has(c.path));
            const mustCreateBranch = previous === null;
            if (changed.length === 0 && !mustCreateBranch) {
                return { commit: parent ?? "", previous, changes: reportable, committed: false, pushed: false };
            }
            if (opts.dryRun) {
                return { commit: previous ?? "", previous, changes: reportable, committed: false, pushed: false };
            }
            let commit: string;
            let committed = false;
            if (changed.length === 0 && parent) {
                commit = parent; // new branch at the default branch's head: nothing to commit
            } else {
                const treeEdits: TreeEdit[] = changed.map((c) => {
                    const d = byPath.get(c.path)!;
                    const cur = tree.get(c.path);
                    const mode = cur && (cur.mode === "100755" || cur.mode === "100644") ? cur.mode : "100644";
                    return { path: c.path, content: d.content, mode };
                });
                commit = await writeCommit(r, {
                    parents: parent ? [parent] : [],
                    edits: treeEdits,
                    message: expandMessage(opts.message, branch, changes),
                    author: opts.author,
                });
                committed = true;
            }
            if (opts.beforePush) await opts.beforePush(attempt);
            const pushed = await r.push(commit, branch);
            if (pushed.ok) return { commit, previous, changes: reportable, committed, pushed: true };
            if (!pushed.nonFastForward) throw pushError(where, pushed.message);
            if (attempt >= maxRetries) {
                throw new GitopsError(where, `push rejected ${attempt + 1} times because the branch kept moving; nothing was pushed`, "retry later or raise maxRetries");
            }
            // 3. Someone else pushed first: re-apply our edits on their head.
            const now = await r.lsRemote([`refs/heads/${branch}`]);
            const theirs = now.refs.get(`refs/heads/${branch}`) ?? null;
            if (!theirs) throw new GitopsError(where, `branch '${branch}' disappeared during the sync`, "check who deletes it");
            if (!(await r.hasCommit(theirs))) await r.fetchBranches([branch], "shallow");
            const theirTree = await listTree(r, theirs);
            const conflicts = edits
                .filter((e) => {
                    const b = base0.get(e.path)?.oid;
                    const t = theirTree.get(e.path)?.oid;
                    return t !== b && t !== e.oid;
                })
                .map((e) => e.path);
            if (conflicts.length > 0) {
                throw new GitopsError(
                    where,
                    `another writer changed ${conflicts.length === 1 ? "a file" : "files"} this sync also changes: ${conflicts.join(", ")}; nothing was pushed`,
                    "sync again to re-plan against the new head, or resolve who owns these paths",
                );
            }
            if (previous === null) previous = theirs;
            parent = theirs;
            tree = theirTree;
        }
    });
}
