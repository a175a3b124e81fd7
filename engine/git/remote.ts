/**
 * A remote repository seen through a local bare cache: one cache per repo URL under
 * GITOPS_CACHE_DIR (default ~/.cache/gitops/git), serialized by an in-process queue plus a
 * lock file across processes. The cache never stores the URL's credentials or any remote
 * config: every fetch/push names the URL explicitly and auth travels in the environment.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GitopsError } from "../errors";
import { authSecrets, GitAuth, Identity, RunOptions, RunResult, redact, runGit, withAuth } from "./exec";
import { isRemoteUrl } from "./url";

export function cacheRoot(): string {
    return process.env.GITOPS_CACHE_DIR || path.join(os.homedir(), ".cache", "gitops", "git");
}

export { isRemoteUrl };

export interface NormalizedRepo {
    /** What git is given: an absolute path for local repos, the URL (without credentials) otherwise. */
    url: string;
    /** Auth, with credentials lifted out of the URL if it carried any. */
    auth?: GitAuth;
    /** For messages: the URL with credentials removed. */
    display: string;
    local: boolean;
}

export function normalizeRepo(repo: string, auth?: GitAuth): NormalizedRepo {
    if (!repo || typeof repo !== "string") throw new GitopsError("repo", "no repository given", "pass a URL or a path to a git repository");
    if (isRemoteUrl(repo)) {
        const m = /^(https?:\/\/)([^/@\s]+)@(.*)$/i.exec(repo);
        if (m) {
            const [user, pass] = m[2].split(":");
            const url = m[1] + m[3];
            const lifted: GitAuth = { ...(auth ?? {}) };
            if (pass !== undefined && !lifted.httpsToken) {
                lifted.httpsToken = decodeURIComponent(pass);
                lifted.httpsUser = decodeURIComponent(user);
            } else if (pass === undefined && !lifted.httpsToken) {
                lifted.httpsToken = decodeURIComponent(user);
            }
            return { url, auth: lifted, display: url, local: false };
        }
        return { url: repo, auth, display: repo, local: false };
    }
    const p = path.resolve(repo.replace(/^file:\/\//i, ""));
    return { url: p, auth, display: p, local: true };
}

// ---------------------------------------------------------------------------------------------
// Locks

const queues = new Map<string, Promise<unknown>>();

async function fileLock(lockPath: string): Promise<() => void> {
    const deadline = Date.now() + 10 * 60_000;
    let delay = 10;
    for (;;) {
        try {
            const fd = fs.openSync(lockPath, "wx", 0o600);
            fs.writeSync(fd, String(process.pid));
            fs.closeSync(fd);
            return () => fs.rmSync(lockPath, { force: true });
        } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
            let holder = NaN;
            try {
                holder = Number(fs.readFileSync(lockPath, "utf8"));
            } catch {
                /* vanished or being written */
            }
            if (holder && holder !== process.pid && !alive(holder)) {
                fs.rmSync(lockPath, { force: true });
                continue;
            }
            if (Date.now() > deadline) throw new GitopsError(lockPath, "cache lock held for over 10 minutes", `remove ${lockPath} if no gitops process is running`);
            await new Promise((r) => setTimeout(r, delay));
            delay = Math.min(delay * 2, 200);
        }
    }
}

function alive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return true;
    } catch (e) {
        return (e as NodeJS.ErrnoException).code === "EPERM";
    }
}

/** Serializes `fn` with every other use of the same cache (in this process and across processes). */
export async function withCacheLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = queues.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    queues.set(key, tail);
    await prev.catch(() => undefined);
    try {
        fs.mkdirSync(path.dirname(key), { recursive: true });
        const unlock = await fileLock(key + ".lock");
        try {
            return await fn();
        } finally {
            unlock();
        }
    } finally {
        release();
        if (queues.get(key) === tail) queues.delete(key);
    }
}

// ---------------------------------------------------------------------------------------------
// The cache repository

export interface RemoteRefs {
    /** Branch the remote HEAD points at, if any. */
    head?: string;
    /** refs/... -> sha (tags peeled where the remote advertises ^{}). */
    refs: Map<string, string>;
}

/** One remote, through its cache. Use only inside `Remote.open(...)` (which holds the lock). */
export class Remote {
    private constructor(
        readonly repo: NormalizedRepo,
        readonly gitDir: string,
        private readonly env: Record<string, string>,
    ) {}

    /** Opens the cache for `repo` under the lock and runs `fn`; auth material lives only during `fn`. */
    static async open<T>(repo: string, auth: GitAuth | undefined, fn: (r: Remote) => Promise<T>): Promise<T> {
        const norm = normalizeRepo(repo, auth);
        if (norm.local && !fs.existsSync(norm.url)) {
            throw new GitopsError(norm.display, "repository does not exist", "check the path, or create the repository with `git init --bare <path>`");
        }
        const key = crypto.createHash("sha256").update(norm.url).digest("hex").slice(0, 16);
        const base = path.basename(norm.url).replace(/\.git$/, "").replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 40) || "repo";
        const gitDir = path.join(cacheRoot(), `${base}-${key}.git`);
        return withCacheLock(gitDir, () =>
            withAuth(norm.auth, async (env) => {
                if (!fs.existsSync(path.join(gitDir, "HEAD"))) {
                    fs.rmSync(gitDir, { recursive: true, force: true });
                    fs.mkdirSync(gitDir, { recursive: true });
                    await runGit(["init", "--bare", "--quiet", gitDir], { env });
                    await runGit(["config", "gc.auto", "0"], { gitDir, env });
                }
                return fn(new Remote(norm, gitDir, env));
            }),
        );
    }

    /** Runs git in the cache repo with the auth env. */
    git(args: string[], opts: Omit<RunOptions, "gitDir" | "env"> & { env?: Record<string, string> } = {}): Promise<RunResult> {
        return runGit(args, { ...opts, gitDir: this.gitDir, env: { ...this.env, ...(opts.env ?? {}) }, secrets: this.secrets(), where: opts.where ?? this.repo.display });
    }

    /** Runs git in a work tree of the cache repo. */
    gitIn(workTree: string, args: string[], opts: Omit<RunOptions, "cwd" | "env"> = {}): Promise<RunResult> {
        return runGit(args, { ...opts, cwd: workTree, env: this.env, secrets: this.secrets(), where: opts.where ?? this.repo.display });
    }

    private secrets(): string[] {
        return authSecrets(this.repo.auth);
    }

    redact(text: string): string {
        return redact(text, this.secrets());
    }

    /** `git ls-remote --symref`: the remote's branches, tags and default branch. */
    async lsRemote(patterns: string[] = []): Promise<RemoteRefs> {
        const r = await this.git(["ls-remote", "--symref", this.repo.url, "HEAD", ...patterns], { allowFail: true });
        if (r.code !== 0) {
            throw new GitopsError(this.repo.display, `cannot reach repository: ${r.stderr.trim() || "git ls-remote failed"}`, "check the URL, network access and credentials");
        }
        const refs = new Map<string, string>();
        let head: string | undefined;
        for (const line of r.stdout.split("\n")) {
            if (!line) continue;
            const [left, name] = line.split("\t");
            if (left.startsWith("ref: ")) {
                if (name === "HEAD") head = left.slice(5).replace(/^refs\/heads\//, "");
                continue;
            }
            if (name.endsWith("^{}")) refs.set(name.slice(0, -3), left);
            else if (!refs.has(name)) refs.set(name, left);
        }
        return { head, refs };
    }

    /** True when the cache already has `sha` as a commit. */
    async hasCommit(sha: string): Promise<boolean> {
        const r = await this.git(["cat-file", "-e", `${sha}^{commit}`], { allowFail: true });
        return r.code === 0;
    }

    async isShallow(): Promise<boolean> {
        return fs.existsSync(path.join(this.gitDir, "shallow"));
    }

    /**
     * Fetches branches into refs/remotes/origin/<b>. `depth` 1 for a snapshot; `full` for history
     * (unshallows the cache if an earlier snapshot fetch left it shallow).
     */
    async fetchBranches(branches: string[], mode: "shallow" | "full"): Promise<void> {
        if (branches.length === 0) return;
        const args = ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head"];
        if (mode === "shallow") args.push("--depth=1");
        else if (await this.isShallow()) args.push("--unshallow");
        args.push(this.repo.url, ...branches.map((b) => `+refs/heads/${b}:refs/remotes/origin/${b}`));
        await this.git(args);
    }

    /** Fetches one commit by sha (falls back to every branch and tag when the server refuses). */
    async fetchCommit(sha: string): Promise<boolean> {
        if (await this.hasCommit(sha)) return true;
        if (/^[0-9a-f]{40}$/.test(sha)) {
            const r = await this.git(["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--depth=1", this.repo.url, sha], { allowFail: true });
            if (r.code === 0 && (await this.hasCommit(sha))) return true;
        }
        const args = ["fetch", "--quiet", "--no-write-fetch-head"];
        if (await this.isShallow()) args.push("--unshallow");
        args.push(this.repo.url, "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*");
        await this.git(args, { allowFail: true });
        return this.hasCommit(sha);
    }

    /**
     * Resolves a git revision to a commit in the cache; undefined if none. A branch, tag or
     * (abbreviated) sha, or any of them followed by `~N` / `^N` suffixes (HEAD~1, main^2, v1.2~3):
     * the base is resolved on the remote, its history fetched, and the rest is `git rev-parse
     * --verify`.
     */
    /** resolve(), or an error naming the repository and revision and how to give one. */
    async revision(ref?: string): Promise<{ sha: string; branch?: string }> {
        const resolved = await this.resolve(ref);
        if (!resolved) throw new GitopsError(`${this.repo.display}@${ref}`, `no branch, tag or commit named '${ref}'`, "give a branch, tag or commit, optionally with ~N or ^N (e.g. HEAD~1, v1.2^)");
        return resolved;
    }

    async resolve(ref?: string): Promise<{ sha: string; branch?: string } | undefined> {
        if (ref?.startsWith("-")) throw new GitopsError(`${this.repo.display}@${ref}`, "a revision cannot start with '-'", "give a branch, tag or commit");
        const rel = ref ? /^(.*?)((?:[~^]\d*)+)$/.exec(ref) : null;
        if (rel) {
            const base = await this.resolve(rel[1] || "HEAD");
            if (!base) return undefined;
            if (base.branch) await this.fetchBranches([base.branch], "full");
            else await this.fetchCommit(base.sha);
            if (await this.isShallow()) await this.git(["fetch", "--quiet", "--no-write-fetch-head", "--unshallow", this.repo.url, "+refs/heads/*:refs/remotes/origin/*"], { allowFail: true });
            const r = await this.git(["rev-parse", "--verify", "--quiet", `${base.sha}${rel[2]}^{commit}`], { allowFail: true });
            return r.code === 0 ? { sha: r.stdout.trim() } : undefined;
        }
        if (ref === "HEAD" || ref === "") ref = undefined;
        const want = ref ? [`refs/heads/${ref}`, `refs/tags/${ref}`] : [];
        if (ref?.startsWith("refs/")) want.push(ref);
        const remote = await this.lsRemote(want);
        let branch = ref;
        if (!ref) {
            if (!remote.head) {
                if (remote.refs.size === 0) throw new GitopsError(this.repo.display, "repository is empty", "push a first commit to it");
                throw new GitopsError(this.repo.display, "remote HEAD points nowhere", "name a branch explicitly");
            }
            branch = remote.head;
            const sha = remote.refs.get("HEAD");
            if (sha) remote.refs.set(`refs/heads/${branch}`, sha);
        }
        const headSha = remote.refs.get(`refs/heads/${branch}`) ?? (branch!.startsWith("refs/heads/") ? remote.refs.get(branch!) : undefined);
        if (headSha) {
            const b = branch!.replace(/^refs\/heads\//, "");
            if (!(await this.hasCommit(headSha))) await this.fetchBranches([b], "shallow");
            return { sha: headSha, branch: b };
        }
        const tagSha = remote.refs.get(`refs/tags/${ref}`) ?? (ref?.startsWith("refs/tags/") ? remote.refs.get(ref) : undefined);
        if (tagSha) {
            if ((await this.git(["cat-file", "-e", tagSha], { allowFail: true })).code !== 0) {
                const t = ref!.replace(/^refs\/tags\//, "");
                await this.git(["fetch", "--quiet", "--no-write-fetch-head", "--depth=1", this.repo.url, `+refs/tags/${t}:refs/tags/${t}`]);
            }
            const peeled = await this.git(["rev-parse", "--verify", `${tagSha}^{commit}`]);
            return { sha: peeled.stdout.trim() };
        }
        if (ref && /^[0-9a-f]{4,40}$/i.test(ref)) {
            if (await this.fetchCommit(ref.toLowerCase())) {
                const r = await this.git(["rev-parse", "--verify", `${ref}^{commit}`]);
                return { sha: r.stdout.trim() };
            }
        }
        return undefined;
    }

    /** Pushes `sha` to refs/heads/<branch>; never forces. */
    async push(sha: string, branch: string): Promise<PushOutcome> {
        const r = await this.git(["push", "--porcelain", this.repo.url, `${sha}:refs/heads/${branch}`], { allowFail: true });
        if (r.code === 0) return { ok: true };
        const text = `${r.stdout}\n${r.stderr}`;
        const nonFastForward = /\[rejected\]|non-fast-forward|fetch first|\[remote rejected\].*(cannot lock ref|failed to update ref|incorrect old value)/i.test(text);
        return { ok: false, nonFastForward, message: this.redact(r.stderr.trim() || r.stdout.trim()) };
    }
}

/** The error for a push the remote refused for a reason other than a moved branch. */
export function pushError(where: string, message = ""): GitopsError {
    if (/checked out|denyCurrentBranch/i.test(message)) {
        return new GitopsError(where, `push refused: the branch is checked out in the target repository: ${message}`, "use a bare repository as the remote (`git init --bare`) or check out another branch there");
    }
    return new GitopsError(where, `push failed: ${message}`, "check write access to the repository and its hooks");
}

export interface PushOutcome {
    ok: boolean;
    nonFastForward?: boolean;
    message?: string;
}

/** Creates a bare repository at `p` (initial branch `main`) unless one is already there. */
export async function ensureBareRepo(p: string, initialBranch = "main"): Promise<string> {
    const abs = path.resolve(p);
    if (fs.existsSync(abs)) {
        const r = await runGit(["rev-parse", "--absolute-git-dir"], { cwd: abs, allowFail: true });
        const gitDir = r.stdout.trim();
        if (r.code !== 0 || (gitDir !== fs.realpathSync(abs) && gitDir !== path.join(fs.realpathSync(abs), ".git"))) throw new GitopsError(abs, "exists but is not a git repository", "remove it or point at another path");
        return abs;
    }
    fs.mkdirSync(abs, { recursive: true });
    await runGit(["init", "--bare", "--quiet", `--initial-branch=${initialBranch}`, abs]);
    return abs;
}

export type { Identity };
