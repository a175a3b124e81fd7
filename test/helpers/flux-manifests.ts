/**
 * Mocha global setup (loaded by .mocharc.json and test/e2e/.mocharc.json): fills the upstream Flux
 * manifest cache (scripts/flux-manifests.sh, a no-op once filled) before any test renders a fleet,
 * so every stack's gotk-components.yaml is the pinned release's real install. When it cannot be
 * filled (no Go toolchain, module proxy unreachable), the rendering tests fail with the message
 * naming gitops:flux.componentsFile and the cache folder; the others still run.
 */
import { spawnSync } from "child_process";
import * as path from "path";

export function mochaGlobalSetup(): void {
    const r = spawnSync("bash", [path.join(__dirname, "..", "..", "scripts", "flux-manifests.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    if (r.status !== 0) process.stderr.write(`flux-manifests: the upstream Flux install could not be cached (exit ${r.status}):\n${r.stderr}\n`);
}
