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

/**
 * A small fleet as the platform writes it: clusters/<env>/apps.yaml declares one Flux
 * Kustomization per app (apps/<app>, applied from the flux-system GitRepository), each app a
 * Namespace, a ConfigMap carrying `note` and a one-replica Deployment (its Pod runs on kwok).
 * Returns the files and the names of every Kustomization that must be Ready (flux-system first).
 */
export function benchFleet(env: string, apps: number, note: string): { files: Record<string, string>; kustomizations: string[] } {
    const files: Record<string, string> = {};
    const names: string[] = [];
    const docs: string[] = [];
    for (let i = 0; i < apps; i++) {
        const app = `app-${i}`;
        names.push(app);
        docs.push(
            [
                "apiVersion: kustomize.toolkit.fluxcd.io/v1",
                "kind: Kustomization",
                `metadata: {name: ${app}, namespace: flux-system}`,
                `spec: {interval: 1h, path: ./apps/${app}, prune: true, timeout: 2m, sourceRef: {kind: GitRepository, name: flux-system}}`,
                "",
            ].join("\n"),
        );
        files[`apps/${app}/app.yaml`] = [
            "apiVersion: v1",
            "kind: Namespace",
            `metadata: {name: ${env}-${app}}`,
            "---",
            "apiVersion: v1",
            "kind: ConfigMap",
            `metadata: {name: note, namespace: ${env}-${app}}`,
            `data: {note: ${JSON.stringify(note)}}`,
            "---",
            "apiVersion: apps/v1",
            "kind: Deployment",
            `metadata: {name: web, namespace: ${env}-${app}}`,
            "spec:",
            "  replicas: 1",
            `  selector: {matchLabels: {app: ${app}}}`,
            "  template:",
            `    metadata: {labels: {app: ${app}}}`,
            "    spec: {containers: [{name: web, image: registry.example.com/web:1.0.0}]}",
            "",
        ].join("\n");
    }
    files[`clusters/${env}/apps.yaml`] = docs.join("---\n");
    return { files, kustomizations: ["flux-system", ...names] };
}

/**
 * Records, from a watch of its own, when each Kustomization in a namespace was first seen Ready
 * with a given lastAppliedRevision: the moment Flux had applied a commit, independent of the
 * code under test.
 */
export class AppliedObserver {
    private readonly firstReady = new Map<string, number>();
    private watch?: { stop(): void };
    private client: any;

    async start(kubeconfig: string, namespace = "flux-system"): Promise<void> {
        const { ClusterClient } = await import("../engine/cluster");
        this.client = ClusterClient.fromKubeconfig(kubeconfig);
        const w = await this.client.watch("kustomize.toolkit.fluxcd.io/v1", "Kustomization", namespace, (ev: any) => {
            const o = ev.object;
            const ready = (o?.status?.conditions ?? []).find((c: any) => c.type === "Ready");
            const rev = o?.status?.lastAppliedRevision;
            if (ready?.status !== "True" || !rev) return;
            const key = `${o.metadata.name} ${rev}`;
            if (!this.firstReady.has(key)) this.firstReady.set(key, Date.now());
        });
        if (!w) throw new Error("the observer could not watch Kustomizations");
        this.watch = w;
    }

    /** When the last of `names` was first Ready at the commit (waits for it). */
    async applied(names: readonly string[], commit: string, timeoutMs: number): Promise<number> {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
            const at = names.map((n) => this.firstReady.get(`${n} main@sha1:${commit}`));
            if (at.every((t) => t !== undefined)) return Math.max(...(at as number[]));
            if (Date.now() > deadline) throw new Error(`not applied after ${timeoutMs / 1000}s: ${names.filter((_, i) => at[i] === undefined).join(", ")} at ${commit}`);
            await new Promise((r) => setTimeout(r, 20));
        }
    }

    stop(): void {
        this.watch?.stop();
        this.client?.close();
    }
}
