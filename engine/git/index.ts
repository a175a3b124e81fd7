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
import { GitAuth } from "./exec";
import { Remote } from "./remote";

export type { GitAuth, Identity } from "./exec";
export { redact, runGit, withAuth } from "./exec";
export { ensureBareRepo, cacheRoot, normalizeRepo, Remote } from "./remote";
export { syncFiles, ownedBy, expandMessage, checkBranchName } from "./sync";
export type { FileChange, FileAction, SyncFilesOptions, SyncFilesResult } from "./sync";
export { blobId, checkPath, listTree, mergeTrees, commitTree, writeCommit } from "./tree";
export type { TreeEntry } from "./tree";

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
        const resolved = await r.revision(ref);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-checkout-"));
        try {
            await checkoutInto(r, resolved.sha, dir);
        } catch (e) {
            fs.rmSync(dir, { recursive: true, force: true });
            throw e;
        }
        return {
            dir,
            revision: resolved.sha,
            cleanup: async () => fs.rmSync(dir, { recursive: true, force: true }),
        };
    });
}

/** Writes the files of commit `sha` into the empty directory `dir` (no .git inside). */
export async function checkoutInto(r: Remote, sha: string, dir: string): Promise<void> {
    const index = path.join(dir, ".gitops-index");
    try {
        await r.git([`--work-tree=${dir}`, "read-tree", "--reset", "-u", sha], { env: { GIT_INDEX_FILE: index } });
    } finally {
        fs.rmSync(index, { force: true });
    }
}

/**
 * The objects named by `specs` (object ids or revision expressions such as `<sha>^{tree}`), read
 * with one `git cat-file --batch`, in input order; undefined for one that does not exist.
 */
export async function readObjects(r: Remote, specs: readonly string[]): Promise<Array<{ oid: string; type: string; content: Buffer } | undefined>> {
    if (specs.length === 0) return [];
    const res = await r.git(["cat-file", "--batch"], { input: specs.join("\n") + "\n" });
    const buf = res.stdoutBytes;
    const out: Array<{ oid: string; type: string; content: Buffer } | undefined> = [];
    let at = 0;
    while (at < buf.length && out.length < specs.length) {
        const nl = buf.indexOf(10, at);
        if (nl < 0) break;
        const [oid, type, size] = buf.subarray(at, nl).toString("utf8").split(" ");
        if (type === "missing" || type === "ambiguous" || size === undefined) {
            out.push(undefined);
            at = nl + 1;
            continue;
        }
        const n = Number(size);
        out.push({ oid, type, content: buf.subarray(nl + 1, nl + 1 + n) });
        at = nl + 1 + n + 1;
    }
    return out;
}

/** The contents of the blobs `oids` (read at once), by oid. */
export async function readBlobs(r: Remote, oids: readonly string[]): Promise<Map<string, Buffer>> {
    const unique = [...new Set(oids)];
    const out = new Map<string, Buffer>();
    (await readObjects(r, unique)).forEach((o, i) => o && out.set(unique[i], o.content));
    return out;
}

/** The content of `path` in `repo` at `ref`; undefined when the path is not a file there. */
export async function readFileAt(repo: string, ref: string, filePath: string, auth?: GitAuth): Promise<string | undefined> {
    const p = filePath.replace(/^\.?\/+/, "");
    return Remote.open(repo, auth, async (r) => {
        const resolved = await r.revision(ref);
        const ls = await r.git(["ls-tree", "-z", "--full-tree", resolved.sha, "--", p]);
        const rec = ls.stdout.split("\0")[0];
        if (!rec) return undefined;
        const [, type, oid] = rec.slice(0, rec.indexOf("\t")).split(" ");
        if (type !== "blob") return undefined;
        const blob = await r.git(["cat-file", "blob", oid]);
        return blob.stdout;
    });
}
