/**
 * Finding and asking the tools on this machine, for `gitops check`: a PATH lookup and a run that
 * never throws (a missing tool, a hung daemon and a non-zero exit are all plain results).
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";

/** Where the prerequisite checks look (shared by index.ts and pulumi.ts, so it lives below both). */
export interface CheckContext {
    env: NodeJS.ProcessEnv;
    /** The project folder (package.json, Pulumi.*.yaml, node_modules). */
    projectDir: string;
    /** Where scripts/e2e-build.sh puts its binaries. */
    bin: string;
    home: string;
}

/** The first executable file called `name` on `env.PATH`, skipping `skip(dir)` folders. */
export function which(name: string, env: NodeJS.ProcessEnv, skip: (dir: string) => boolean = () => false): string | undefined {
    for (const dir of (env.PATH ?? "").split(path.delimiter)) {
        if (!dir || skip(dir)) continue;
        const file = path.join(dir, name);
        if (isExecutable(file)) return file;
    }
    return undefined;
}

export function isExecutable(file: string): boolean {
    try {
        fs.accessSync(file, fs.constants.X_OK);
        return fs.statSync(file).isFile();
    } catch {
        return false;
    }
}

export interface RunResult {
    /** Exit code 0. */
    ok: boolean;
    stdout: string;
    stderr: string;
    /** Why it did not run or did not finish: "not found", "timed out after 10s", a spawn error. */
    failure?: string;
}

/** Runs `file args` with a timeout; resolves in every case. */
export function runQuiet(file: string, args: string[], opts: { env: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string }): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve) => {
        execFile(file, args, { env: opts.env, cwd: opts.cwd, timeout: timeoutMs, maxBuffer: 4 << 20, encoding: "utf8" }, (err, stdout, stderr) => {
            if (!err) return resolve({ ok: true, stdout, stderr });
            const e = err as NodeJS.ErrnoException & { killed?: boolean; signal?: string };
            const failure =
                e.code === "ENOENT" ? "not found" : e.killed || e.signal === "SIGTERM" ? `timed out after ${Math.round(timeoutMs / 1000)}s` : typeof e.code === "number" ? undefined : e.message;
            resolve({ ok: false, stdout: stdout ?? "", stderr: stderr ?? "", failure });
        });
    });
}

/** The first `x.y[.z]` version in a text, without a leading v. */
export function versionIn(text: string): string | undefined {
    return /v?(\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}

/** a >= b for dotted numeric versions (missing parts count as 0). */
export function versionAtLeast(a: string, b: string): boolean {
    const pa = a.split(".").map(Number);
    const pb = b.split(".").map(Number);
    for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
        const x = pa[i] ?? 0;
        const y = pb[i] ?? 0;
        if (x !== y) return x > y;
    }
    return true;
}
