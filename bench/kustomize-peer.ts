/**
 * A second render peer: the `kustomize` CLI at the release whose kustomize/api the pinned
 * kustomize-controller builds with, built from its published Go module (never vendored).
 *
 *   kustomize-controller v1.9.6 go.mod: sigs.k8s.io/kustomize/api v0.21.1
 *   sigs.k8s.io/kustomize/kustomize/v5 v5.8.1 go.mod: sigs.k8s.io/kustomize/api v0.21.1
 *
 * The build checks both go.mod files (via `go mod download -json`) before building, and is
 * cached in ${GITOPS_E2E_CACHE:-/var/cache/gitops-e2e}/bench-bin. Returns undefined (after saying
 * why on stderr) when Go or the module proxy is not available.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export const KUSTOMIZE_CONTROLLER = "v1.9.6";
export const KUSTOMIZE_CLI = "v5.8.1";

function goEnv(cache: string): NodeJS.ProcessEnv {
    return { ...process.env, GOCACHE: path.join(cache, "gocache"), GOMODCACHE: path.join(cache, "gomod"), GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod" };
}

/** The kustomize/api version a module's go.mod requires. */
function apiVersionOf(mod: string, env: NodeJS.ProcessEnv): string | undefined {
    const r = spawnSync("go", ["mod", "download", "-json", mod], { env, encoding: "utf8", cwd: "/" });
    if (r.status !== 0) return undefined;
    const gomod = (JSON.parse(r.stdout) as { GoMod?: string }).GoMod;
    if (!gomod) return undefined;
    const text = fs.readFileSync(gomod, "utf8");
    // A replace directive wins over the require.
    return /sigs\.k8s\.io\/kustomize\/api\s*=>\s*sigs\.k8s\.io\/kustomize\/api\s+(v\S+)/.exec(text)?.[1] ?? /sigs\.k8s\.io\/kustomize\/api\s+(v\S+)/.exec(text)?.[1];
}

export function kustomizePeer(): string | undefined {
    const cache = process.env.GITOPS_E2E_CACHE || "/var/cache/gitops-e2e";
    const bin = path.join(cache, "bench-bin", `kustomize-${KUSTOMIZE_CLI}`);
    if (fs.existsSync(bin)) return bin;
    const env = goEnv(cache);
    const skip = (why: string): undefined => {
        process.stderr.write(`render bench: no kustomize ${KUSTOMIZE_CLI} peer (${why})\n`);
        return undefined;
    };
    if (spawnSync("go", ["version"], { env }).status !== 0) return skip("go is not on PATH");
    const controllerApi = apiVersionOf(`github.com/fluxcd/kustomize-controller@${KUSTOMIZE_CONTROLLER}`, env);
    const cliApi = apiVersionOf(`sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_CLI}`, env);
    if (!controllerApi || !cliApi) return skip("the module proxy did not serve the go.mod files");
    if (controllerApi !== cliApi) return skip(`kustomize-controller ${KUSTOMIZE_CONTROLLER} uses kustomize/api ${controllerApi}, kustomize ${KUSTOMIZE_CLI} uses ${cliApi}: update KUSTOMIZE_CLI`);
    fs.mkdirSync(path.dirname(bin), { recursive: true });
    const gobin = fs.mkdtempSync(path.join(path.dirname(bin), ".build-"));
    try {
        const r = spawnSync("nice", ["go", "install", `sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_CLI}`], { env: { ...env, GOBIN: gobin }, encoding: "utf8", cwd: "/" });
        if (r.status !== 0) return skip(`go install failed: ${(r.stderr ?? "").trim().split("\n").slice(-3).join(" ")}`);
        fs.renameSync(path.join(gobin, "kustomize"), bin);
        return bin;
    } finally {
        fs.rmSync(gobin, { recursive: true, force: true });
    }
}
