/**
 * The local control plane with real Flux (engine/localcluster) for the benches that need a real
 * kube-apiserver and real Flux controllers: started in a temporary folder, or the reason it
 * cannot be (a binary of scripts/e2e-build.sh that is not built), so a case can fall back or skip
 * and say why.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { defaultBin, LocalControlPlane, missingBinaries } from "../engine/localcluster/controlplane";

export interface BenchPlane {
    readonly cp: LocalControlPlane;
    /** Bare repos here are served at `${cp.fleetUrl}/<name>.git`. */
    readonly fleetRoot: string;
    readonly root: string;
    stop(): Promise<void>;
}

/** Why the real control plane cannot run here, or undefined when every binary is built. */
export function whyNoRealPlane(): string | undefined {
    const bin = defaultBin();
    const missing = missingBinaries(bin);
    if (!Object.keys(missing).length) return undefined;
    return `binaries not built in ${bin} (set GITOPS_E2E_BIN or run scripts/e2e-build.sh): ${Object.keys(missing).join(", ")}`;
}

export async function startPlane(tag: string): Promise<BenchPlane> {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${tag}-`));
    const fleetRoot = path.join(root, "repos");
    fs.mkdirSync(fleetRoot);
    const t0 = Date.now();
    const cp = await LocalControlPlane.start({ dir: path.join(root, "cp"), fleetRoot, progress: (l) => process.stderr.write(`${tag}: ${l}\n`) });
    process.stderr.write(`${tag}: local control plane up in ${((Date.now() - t0) / 1000).toFixed(1)}s (${cp.server})\n`);
    return {
        cp,
        fleetRoot,
        root,
        async stop() {
            await cp.stop();
            fs.rmSync(root, { recursive: true, force: true });
        },
    };
}

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: "bench", GIT_AUTHOR_EMAIL: "bench@example.com", GIT_COMMITTER_NAME: "bench", GIT_COMMITTER_EMAIL: "bench@example.com", GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };

export function git(args: string[], cwd?: string): string {
    return execFileSync("git", args, { cwd, encoding: "utf8", env: GIT_ENV, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 28 }).trim();
}

/** A work tree of the bare repo <fleetRoot>/<name>.git (created when missing), on branch main. */
export function workTree(fleetRoot: string, name: string): { bare: string; work: string } {
    const bare = path.join(fleetRoot, `${name}.git`);
    if (!fs.existsSync(bare)) git(["init", "--bare", "--quiet", "--initial-branch=main", bare]);
    const work = fs.mkdtempSync(path.join(os.tmpdir(), `bench-work-${name}-`));
    git(["clone", "--quiet", bare, work]);
    git(["checkout", "-q", "-B", "main"], work);
    return { bare, work };
}

/** Commits everything in the work tree and pushes it to main; returns the commit. */
export function commitAndPush(work: string, message: string): string {
    git(["add", "-A"], work);
    git(["commit", "--quiet", "--allow-empty", "-m", message], work);
    git(["push", "--quiet", "origin", "main"], work);
    return git(["rev-parse", "HEAD"], work);
}

export function percentile(values: readonly number[], p: number): number {
    const s = [...values].sort((a, b) => a - b);
    if (!s.length) return NaN;
    // Nearest rank: the smallest value with at least p% of the values at or below it.
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
