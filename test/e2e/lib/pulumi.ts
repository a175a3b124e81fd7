/**
 * The real Pulumi CLI (built by scripts/e2e-build.sh) on a throwaway project: a copy of the
 * repo's program (Pulumi.yaml, index.ts, components/, engine/, tsconfig, package.json; node_modules
 * linked), a local file backend and its own PULUMI_HOME, so nothing touches the user's Pulumi.
 *
 * Commands run asynchronously (spawn), so a test can watch the cluster while `pulumi up` waits.
 */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { TempGit } from "../../helpers/git";

export const REPO = path.resolve(__dirname, "../../..");

/** Binaries the suite needs, with why each one is missing (from <bin>/status/<name>). */
export function binaries(bin: string, names: string[]): { missing: Record<string, string> } {
    const missing: Record<string, string> = {};
    for (const n of names) {
        const p = path.join(bin, n);
        let ok = false;
        try {
            fs.accessSync(p, fs.constants.X_OK);
            ok = true;
        } catch {
            /* missing */
        }
        if (ok) continue;
        let why = "not built; run scripts/e2e-build.sh";
        try {
            why = fs.readFileSync(path.join(bin, "status", n), "utf8").trim();
        } catch {
            /* no status */
        }
        missing[n] = why;
    }
    return { missing };
}

export interface RunResult {
    code: number;
    stdout: string;
    stderr: string;
    seconds: number;
}

export class PulumiProject {
    readonly dir: string;
    readonly env: NodeJS.ProcessEnv;

    constructor(readonly bin: string, readonly root: string, readonly stack: string) {
        this.dir = path.join(root, "project");
        fs.mkdirSync(this.dir, { recursive: true });
        for (const f of ["Pulumi.yaml", "index.ts", "package.json", "tsconfig.json"]) fs.copyFileSync(path.join(REPO, f), path.join(this.dir, f));
        for (const d of ["components", "engine"]) fs.cpSync(path.join(REPO, d), path.join(this.dir, d), { recursive: true });
        fs.symlinkSync(path.join(REPO, "node_modules"), path.join(this.dir, "node_modules"));
        fs.mkdirSync(path.join(root, "state"), { recursive: true });
        fs.mkdirSync(path.join(root, "pulumi-home"), { recursive: true });
        this.env = {
            ...process.env,
            // Our binaries first (pulumi, the language host, the plugins), then Node 24.
            PATH: [bin, path.join(REPO, "node_modules", ".bin"), process.env.PATH].join(path.delimiter),
            PULUMI_HOME: path.join(root, "pulumi-home"),
            PULUMI_BACKEND_URL: `file://${path.join(root, "state")}`,
            PULUMI_CONFIG_PASSPHRASE: "test",
            PULUMI_SKIP_UPDATE_CHECK: "true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
            PULUMI_NODEJS_TRANSPILE_ONLY: "true",
            PULUMI_SKIP_CONFIRMATIONS: "true",
            GITOPS_CACHE_DIR: path.join(root, "git-cache"),
            NO_COLOR: "1",
        };
    }

    /** Writes the stack's config, keeping what `pulumi stack init` wrote (the encryption salt). */
    writeStackConfig(yaml: string): void {
        const f = path.join(this.dir, `Pulumi.${this.stack}.yaml`);
        const kept = fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter((l) => /^encryptionsalt:/.test(l)) : [];
        fs.writeFileSync(f, [...kept, yaml].join("\n"));
    }

    /** Runs `pulumi <args>` in the project; never throws (check .code). */
    run(args: string[], timeoutMs = 900_000): Promise<RunResult> {
        const t0 = Date.now();
        return new Promise((resolve, reject) => {
            const p = spawn(path.join(this.bin, "pulumi"), [...args, "--non-interactive", "--color", "never"], { cwd: this.dir, env: this.env, stdio: ["ignore", "pipe", "pipe"] });
            let stdout = "";
            let stderr = "";
            p.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
            p.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
            const t = setTimeout(() => p.kill("SIGTERM"), timeoutMs);
            p.on("error", reject);
            p.on("close", (code, signal) => {
                clearTimeout(t);
                resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr, seconds: Math.round((Date.now() - t0) / 100) / 10 });
            });
        });
    }

    /** Like run, but fails with the command's output when it exits non-zero. */
    async ok(args: string[]): Promise<RunResult> {
        const r = await this.run(args);
        if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")} exited ${r.code} after ${r.seconds}s\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-4000)}`);
        return r;
    }

    async outputs(): Promise<Record<string, any>> {
        return JSON.parse((await this.ok(["stack", "output", "--json", "--show-secrets"])).stdout);
    }
}

/** Steps of `pulumi preview --json` (the engine's own plan). */
export interface PreviewStep {
    op: string;
    urn: string;
    diffReasons?: string[];
    detailedDiff?: Record<string, { kind: string; inputDiff?: boolean }>;
}

export function previewSteps(stdout: string): PreviewStep[] {
    const j = JSON.parse(stdout) as { steps?: PreviewStep[] };
    return j.steps ?? [];
}

/** The Pulumi CLI pieces a render-only stack (cluster.kind none) needs. */
export const PULUMI_BINARIES = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"];

/**
 * A Pulumi project with stack `stack` initialised, and a bare fleet repo with a first commit, in a
 * temp folder; skips the calling test suite (saying why) when the CLI pieces are not built.
 * Call from before(); clean up with `tmp.cleanup()` in after().
 */
export async function stackWithFleet(ctx: Mocha.Context, bin: string, prefix: string, stack: string): Promise<{ tmp: TempGit; project: PulumiProject; fleet: string }> {
    const { missing } = binaries(bin, PULUMI_BINARIES);
    if (Object.keys(missing).length > 0) {
        console.log(`      skipped (not built): ${Object.entries(missing).map(([n, why]) => `${n}: ${why}`).join("; ")}`);
        ctx.skip();
    }
    const tmp = new TempGit(prefix);
    const fleet = tmp.bare("fleet", { "README.md": "# fleet\n" });
    const project = new PulumiProject(bin, tmp.root, stack);
    await project.ok(["stack", "init", stack]);
    return { tmp, project, fleet };
}
