/**
 * Test helper: temp bare repos and clones driven by the real git CLI.
 *
 *   const t = new TempGit();                      // one temp root; t.cleanup() removes it
 *   const remote = t.bare("fleet", { "README.md": "hi\n" });   // bare repo with a first commit on main
 *   t.commit(remote, "main", { "a.txt": "x\n" }, "add a");     // another writer pushes
 *   t.read(remote, "main", "a.txt"); t.head(remote, "main"); t.log(remote, "main");
 *
 * Also sets GITOPS_CACHE_DIR to a dir under the temp root (restored by cleanup()).
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const TEST_IDENTITY = { name: "Test Writer", email: "test@example.com" };

export function git(args: string[], cwd?: string, input?: string): string {
    return execFileSync("git", args, {
        cwd,
        input,
        encoding: "utf8",
        stdio: ["pipe", "pipe", "pipe"],
        env: {
            ...process.env,
            GIT_AUTHOR_NAME: "Other Writer",
            GIT_AUTHOR_EMAIL: "other@example.com",
            GIT_COMMITTER_NAME: "Other Writer",
            GIT_COMMITTER_EMAIL: "other@example.com",
            GIT_TERMINAL_PROMPT: "0",
            GIT_CONFIG_NOSYSTEM: "1",
            GIT_CONFIG_GLOBAL: "/dev/null",
        },
    });
}

export class TempGit {
    readonly root: string;
    private readonly prevCache: string | undefined;
    private n = 0;

    constructor(prefix = "gitops-test-") {
        this.root = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
        this.prevCache = process.env.GITOPS_CACHE_DIR;
        process.env.GITOPS_CACHE_DIR = path.join(this.root, "cache");
    }

    /** A bare repo (default branch main); with `files`, a first commit holding them. */
    bare(name = "remote", files?: Record<string, string>, branch = "main"): string {
        const dir = path.join(this.root, `${name}.git`);
        git(["init", "--bare", "--quiet", `--initial-branch=${branch}`, dir]);
        if (files) this.commit(dir, branch, files, "initial");
        return dir;
    }

    /** Clones `remote` into a fresh work tree (full history) and returns its path. */
    clone(remote: string, branch?: string): string {
        const dir = path.join(this.root, `clone-${++this.n}`);
        const args = ["clone", "--quiet", remote, dir];
        if (branch) args.splice(2, 0, "--branch", branch);
        git(args);
        return dir;
    }

    /**
     * Commits `files` (content, or null to delete) to `branch` of `remote` as another writer and
     * pushes; creates the branch (from `from`, or orphan) when missing. Returns the new sha.
     */
    commit(remote: string, branch: string, files: Record<string, string | null>, message: string, from?: string): string {
        const dir = path.join(this.root, `w-${++this.n}`);
        git(["init", "--quiet", dir]);
        git(["remote", "add", "origin", remote], dir);
        const has = git(["ls-remote", "origin", `refs/heads/${branch}`], dir).trim() !== "";
        if (has) {
            git(["fetch", "--quiet", "origin", branch], dir);
            git(["checkout", "--quiet", "-B", branch, "FETCH_HEAD"], dir);
        } else if (from) {
            git(["fetch", "--quiet", "origin", from], dir);
            git(["checkout", "--quiet", "-B", branch, "FETCH_HEAD"], dir);
        } else {
            git(["checkout", "--quiet", "--orphan", branch], dir);
        }
        for (const [p, c] of Object.entries(files)) {
            const f = path.join(dir, p);
            if (c === null) fs.rmSync(f, { force: true });
            else {
                fs.mkdirSync(path.dirname(f), { recursive: true });
                fs.writeFileSync(f, c);
            }
        }
        git(["add", "-A"], dir);
        git(["commit", "--quiet", "--allow-empty", "-m", message], dir);
        git(["push", "--quiet", "origin", `HEAD:refs/heads/${branch}`], dir);
        const sha = git(["rev-parse", "HEAD"], dir).trim();
        fs.rmSync(dir, { recursive: true, force: true });
        return sha;
    }

    /** The sha `branch` points at in `remote`, or "" when missing. */
    head(remote: string, branch: string): string {
        try {
            return git(["rev-parse", "--verify", "--quiet", `refs/heads/${branch}`], remote).trim();
        } catch {
            return "";
        }
    }

    /** A file at `ref` of `remote`, or undefined. */
    read(remote: string, ref: string, p: string): string | undefined {
        try {
            return git(["show", `${ref}:${p}`], remote);
        } catch {
            return undefined;
        }
    }

    /** All paths at `ref` of `remote`. */
    files(remote: string, ref: string): string[] {
        return git(["ls-tree", "-r", "--name-only", "--full-tree", ref], remote).split("\n").filter(Boolean).sort();
    }

    /** Number of commits reachable from `ref`. */
    count(remote: string, ref: string): number {
        return Number(git(["rev-list", "--count", ref], remote).trim());
    }

    /** Every ref and its sha (to prove a repo was left untouched). */
    refs(remote: string): string {
        return git(["for-each-ref", "--format=%(refname) %(objectname)"], remote);
    }

    /** Removes everything and restores GITOPS_CACHE_DIR. */
    cleanup(): void {
        if (this.prevCache === undefined) delete process.env.GITOPS_CACHE_DIR;
        else process.env.GITOPS_CACHE_DIR = this.prevCache;
        fs.rmSync(this.root, { recursive: true, force: true });
    }
}
