/**
 * Running the git CLI: no shell (spawn with an argument vector), no prompts, a clean identity,
 * and secrets redacted from everything that can end up in an error message.
 *
 * Auth material is handed to git through the environment only:
 * - SSH: the private key goes to a 0600 file in a fresh 0700 temp dir, referenced from
 *   GIT_SSH_COMMAND; the dir is removed when the operation ends (and at process exit as a
 *   last resort).
 * - HTTPS: the token goes into an `http.extraHeader` set through GIT_CONFIG_COUNT/KEY/VALUE, so
 *   it is never in argv (visible in `ps`), never in a URL and never in a config file.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GitopsError } from "../errors";
import { redactSecrets } from "../util/redact";

export interface GitAuth {
    /** PEM/OpenSSH private key. Written to a 0600 temp file for the duration of one operation. */
    sshPrivateKey?: string;
    /** known_hosts lines for the SSH host. Without it, ssh's own known_hosts and strict checking apply. */
    knownHosts?: string;
    /** HTTPS token (GitHub PAT, app token, ...). Sent as HTTP basic auth with `httpsUser`. */
    httpsToken?: string;
    /** HTTPS user for the token; default `x-access-token`. */
    httpsUser?: string;
}

export interface Identity {
    name: string;
    email: string;
}

export interface RunOptions {
    /** Working directory (a work tree); or use gitDir. */
    cwd?: string;
    /** Runs `git --git-dir=<gitDir>`. */
    gitDir?: string;
    /** Extra environment (already contains the auth env when run inside withAuth). */
    env?: Record<string, string>;
    /** Bytes written to stdin. */
    input?: string | Buffer;
    /** Do not throw on a non-zero exit; the caller inspects `code`. */
    allowFail?: boolean;
    /** Identity used for author and committer. */
    identity?: Identity;
    /** Strings that must never appear in output or errors. */
    secrets?: string[];
    /** `where` for the GitopsError thrown on failure. */
    where?: string;
}

export interface RunResult {
    stdout: string;
    /** stdout as bytes (for binary or length-prefixed output such as `cat-file --batch`). */
    stdoutBytes: Buffer;
    stderr: string;
    code: number;
}

/** Environment variables that would make git act on another repo or another identity. */
const SCRUBBED = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_AUTHOR_NAME",
    "GIT_AUTHOR_EMAIL",
    "GIT_AUTHOR_DATE",
    "GIT_COMMITTER_NAME",
    "GIT_COMMITTER_EMAIL",
    "GIT_COMMITTER_DATE",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
];

/** Replaces every secret (and URL credentials) in `text` with `***`. */
export function redact(text: string, secrets: readonly string[] = []): string {
    let out = redactSecrets(text, secrets);
    // user:password@ (or token@) in URLs
    out = out.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, "$1***@");
    return out;
}

function baseEnv(identity?: Identity): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) {
        if (v === undefined) continue;
        if (SCRUBBED.includes(k) || /^GIT_CONFIG_(KEY|VALUE)_\d+$/.test(k)) continue;
        env[k] = v;
    }
    env.GIT_TERMINAL_PROMPT = "0";
    env.GCM_INTERACTIVE = "never";
    env.LC_ALL = "C";
    env.LANGUAGE = "C";
    const id = identity ?? { name: "gitops", email: "gitops@localhost" };
    env.GIT_AUTHOR_NAME = env.GIT_COMMITTER_NAME = id.name;
    env.GIT_AUTHOR_EMAIL = env.GIT_COMMITTER_EMAIL = id.email;
    return env;
}

let gitCalls = 0;
/** How many git processes this process has started (for benchmarks and tests). */
export function gitCallCount(): number {
    return gitCalls;
}

/** Runs git with `args` (no shell). Throws a GitopsError with redacted stderr on failure. */
export function runGit(args: string[], opts: RunOptions = {}): Promise<RunResult> {
    const fullArgs = opts.gitDir ? [`--git-dir=${opts.gitDir}`, ...args] : args;
    const env = { ...baseEnv(opts.identity), ...(opts.env ?? {}) };
    const secrets = [...(opts.secrets ?? []), ...secretsOfEnv(opts.env)];
    gitCalls++;
    const trace = process.env.GITOPS_GIT_TRACE ? Date.now() : 0;
    return new Promise((resolve, reject) => {
        const child = spawn("git", fullArgs, { cwd: opts.cwd, env, stdio: ["pipe", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (b: Buffer) => out.push(b));
        child.stderr.on("data", (b: Buffer) => err.push(b));
        child.on("error", (e) => reject(new GitopsError(opts.where ?? "git", `cannot run git: ${e.message}`, "install git and put it on PATH")));
        child.stdin.on("error", () => undefined); // git may exit before reading all input
        child.on("close", (code) => {
            if (trace) process.stderr.write(`gitops: git ${redact(fullArgs.join(" "), secrets)} (${Date.now() - trace} ms, exit ${code})\n`);
            const bytes = Buffer.concat(out);
            const res: RunResult = {
                stdout: bytes.toString("utf8"),
                stdoutBytes: bytes,
                stderr: redact(Buffer.concat(err).toString("utf8"), secrets),
                code: code ?? 1,
            };
            if (res.code !== 0 && !opts.allowFail) {
                const cmd = redact(["git", ...args.slice(0, 3)].join(" "), secrets);
                reject(new GitopsError(opts.where ?? "git", `${cmd} failed (exit ${res.code}): ${res.stderr.trim() || res.stdout.trim()}`));
                return;
            }
            resolve(res);
        });
        if (opts.input !== undefined) child.stdin.end(opts.input);
        else child.stdin.end();
    });
}

/** Secrets we put in an env ourselves (auth header values) so redaction always covers them. */
const envSecrets = new WeakMap<Record<string, string>, string[]>();
function secretsOfEnv(env?: Record<string, string>): string[] {
    return (env && envSecrets.get(env)) || [];
}

/** Temp dirs holding key material that must go if the process exits mid-operation. */
const liveKeyDirs = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
    if (exitHookInstalled) return;
    exitHookInstalled = true;
    process.on("exit", () => {
        for (const d of liveKeyDirs) {
            try {
                fs.rmSync(d, { recursive: true, force: true });
            } catch {
                /* best effort */
            }
        }
    });
}

/** Quotes a word for the POSIX shell git uses to run GIT_SSH_COMMAND. */
function shq(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The values that must be redacted for `auth`. */
export function authSecrets(auth?: GitAuth): string[] {
    if (!auth) return [];
    const s: string[] = [];
    if (auth.httpsToken) {
        const user = auth.httpsUser ?? "x-access-token";
        s.push(auth.httpsToken, Buffer.from(`${user}:${auth.httpsToken}`).toString("base64"));
    }
    if (auth.sshPrivateKey) s.push(auth.sshPrivateKey.trim());
    return s;
}

/**
 * Runs `fn` with an environment carrying `auth`. Key material lives only while `fn` runs.
 * The ssh program is `ssh` unless GITOPS_SSH names another (tests use a fake one).
 */
export async function withAuth<T>(auth: GitAuth | undefined, fn: (env: Record<string, string>) => Promise<T>): Promise<T> {
    const env: Record<string, string> = {};
    envSecrets.set(env, authSecrets(auth));
    if (!auth || (!auth.sshPrivateKey && !auth.httpsToken)) return fn(env);
    let keyDir: string | undefined;
    try {
        if (auth.httpsToken) {
            const user = auth.httpsUser ?? "x-access-token";
            const basic = Buffer.from(`${user}:${auth.httpsToken}`).toString("base64");
            env.GIT_CONFIG_COUNT = "1";
            env.GIT_CONFIG_KEY_0 = "http.extraHeader";
            env.GIT_CONFIG_VALUE_0 = `Authorization: Basic ${basic}`;
        }
        if (auth.sshPrivateKey) {
            installExitHook();
            keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-ssh-"));
            liveKeyDirs.add(keyDir);
            fs.chmodSync(keyDir, 0o700);
            const keyFile = path.join(keyDir, "id");
            const key = auth.sshPrivateKey.endsWith("\n") ? auth.sshPrivateKey : auth.sshPrivateKey + "\n";
            fs.writeFileSync(keyFile, key, { mode: 0o600 });
            fs.chmodSync(keyFile, 0o600);
            const ssh = process.env.GITOPS_SSH || "ssh";
            const parts = [shq(ssh), "-i", shq(keyFile), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes"];
            if (auth.knownHosts) {
                const kh = path.join(keyDir, "known_hosts");
                fs.writeFileSync(kh, auth.knownHosts.endsWith("\n") ? auth.knownHosts : auth.knownHosts + "\n", { mode: 0o600 });
                parts.push("-o", shq(`UserKnownHostsFile=${kh}`), "-o", "StrictHostKeyChecking=yes");
            }
            env.GIT_SSH_COMMAND = parts.join(" ");
        }
        return await fn(env);
    } finally {
        if (keyDir) {
            fs.rmSync(keyDir, { recursive: true, force: true });
            liveKeyDirs.delete(keyDir);
        }
    }
}
