/**
 * The engine's Git side: read a repo at a ref, and make a branch hold a set of files.
 *
 * Every operation goes through a per-URL bare cache (GITOPS_CACHE_DIR, default
 * ~/.cache/gitops/git), fetched shallowly and serialized by a lock. A local path (bare or not)
 * works as a remote; `ensureBareRepo` creates one. The git CLI runs without a shell, without
 * prompts, with a clean identity, and with credentials redacted from every error.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GitopsError } from "../errors";
import { GitAuth, runGit } from "./exec";
import { Remote } from "./remote";

export type { GitAuth, Identity } from "./exec";
export { redact, runGit, withAuth } from "./exec";
export { ensureBareRepo, cacheRoot, normalizeRepo, Remote } from "./remote";
export { syncFiles, ownedBy, expandMessage, checkBranchName } from "./sync";
export type { FileChange, FileAction, SyncFilesOptions, SyncFilesResult } from "./sync";
export { blobId, checkPath, listTree, mergeTrees, commitTree, writeCommit } from "./tree";

export interface Materialized {
    /** A directory holding the files of `revision` (no .git inside). */
    dir: string;
    /** The commit sha checked out. */
    revision: string;
    /** Removes `dir`. */
    cleanup(): Promise<void>;
}

/**
 * A read-only checkout of `repo` (URL or local path, bare or not) at `ref` (branch, tag or sha;
 * default: the remote HEAD).
 */
export async function materialize(repo: string, ref?: string, auth?: GitAuth): Promise<Materialized> {
    return Remote.open(repo, auth, async (r) => {
        const resolved = await r.resolve(ref);
        if (!resolved) throw new GitopsError(`${r.repo.display}@${ref}`, `no branch, tag or commit named '${ref}'`, "give a branch, tag or commit, optionally with ~N or ^N (e.g. HEAD~1, v1.2^)");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-checkout-"));
        const index = path.join(dir, ".gitops-index");
        try {
            await runGit([`--git-dir=${r.gitDir}`, `--work-tree=${dir}`, "read-tree", "--reset", "-u", resolved.sha], {
                env: { GIT_INDEX_FILE: index },
                where: r.repo.display,
            });
        } catch (e) {
            fs.rmSync(dir, { recursive: true, force: true });
            throw e;
        } finally {
            fs.rmSync(index, { force: true });
        }
        return {
            dir,
            revision: resolved.sha,
            cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
        };
    });
}

/** The content of `path` in `repo` at `ref`; undefined when the path is not a file there. */
export async function readFileAt(repo: string, ref: string, filePath: string, auth?: GitAuth): Promise<string | undefined> {
    const p = filePath.replace(/^\.?\/+/, "");
    return Remote.open(repo, auth, async (r) => {
        const resolved = await r.resolve(ref);
        if (!resolved) throw new GitopsError(`${r.repo.display}@${ref}`, `no branch, tag or commit named '${ref}'`, "give a branch, tag or commit, optionally with ~N or ^N (e.g. HEAD~1, v1.2^)");
        const ls = await r.git(["ls-tree", "-z", "--full-tree", resolved.sha, "--", p]);
        const rec = ls.stdout.split("\0")[0];
        if (!rec) return undefined;
        const [, type, oid] = rec.slice(0, rec.indexOf("\t")).split(" ");
        if (type !== "blob") return undefined;
        const blob = await r.git(["cat-file", "blob", oid]);
        return blob.stdout;
    });
}
