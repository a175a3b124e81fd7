/**
 * dr-recover: disaster recovery on the local control plane with real Flux. The cluster is wiped
 * (every piece stopped, etcd's data and source-controller's artifacts deleted, started again:
 * only the Flux CRDs and the flux-system Namespace come back, as the plane installs them before
 * the controllers), then timed until every Kustomization of the environment (flux-system and
 * one per app, DR_APPS apps) is Ready at the commit the fleet was at before the wipe.
 *
 * - ours: the engine's reconcile with the inventory and cluster fingerprint of the run before
 *   the wipe, as FleetSync runs it on `pulumi up` after the cluster was replaced: apply the
 *   bootstrap (the upstream Flux install + the flux-system sync), request reconciliation, watch
 *   until every Kustomization is Ready at the commit. The fleet commit does not change.
 * - by hand, what `flux bootstrap` does: `kubectl apply --server-side` of the same upstream
 *   install, then of the sync manifests, then polling every 2 s (the flux CLI's poll interval)
 *   with `kubectl get kustomizations` until all of them are Ready at the commit.
 * ratio = by hand / ours. The restart of the wiped plane is timed apart (restart_s), not in
 * either figure. Needs the binaries of scripts/e2e-build.sh; without them the case says why and skips.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { execFileSync } from "child_process";
import { stringify } from "yaml";
import { load1 } from "../lib";
import { benchFleet, startPlane, whyNoRealPlane } from "../localplane";

const APPS = Number(process.env.DR_APPS ?? 3);
const RUNS = Number(process.env.DR_RUNS ?? 1);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
    const why = whyNoRealPlane();
    if (why) {
        console.log(`BENCH dr-recover skipped why=${JSON.stringify(`no real Flux: ${why}`)}`);
        return;
    }
    const { reconcile } = await import("../../engine/reconcile");
    const { fluxSync } = await import("../../engine/fleet/flux-sync");
    const { loadUpstreamInstall } = await import("../../engine/flux/upstream");
    let upstream: { version: string; components: string; objects: any[] };
    try {
        upstream = loadUpstreamInstall();
    } catch (e) {
        console.log(`BENCH dr-recover skipped why=${JSON.stringify(`the upstream Flux install is not cached: ${(e as Error).message.split("\n")[0]}`)}`);
        return;
    }
    const plane = await startPlane("dr");
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-dr-"));
    try {
        const { cp } = plane;
        const kubeconfig = fs.readFileSync(cp.kubeconfigPath, "utf8");
        const sync = fluxSync({ namespace: "flux-system", url: `${cp.fleetUrl}/dr.git`, branch: "main", path: "clusters/dr", interval: "1h", syncInterval: "1h", secret: false });
        const fleet = benchFleet("dr", APPS, "before the disaster");
        const input = {
            fleet: { repo: path.join(plane.fleetRoot, "dr.git"), branch: "main", author: { name: "bench", email: "bench@example.com" }, message: "bench: {{changes}}", files: fleet.files, owned: ["clusters", "apps"] },
            cluster: { kubeconfig, bootstrap: [...upstream.objects, ...sync], fluxNamespace: "flux-system", kustomizations: fleet.kustomizations, waitTimeoutMs: 600_000 },
        };
        const first = await reconcile(input);
        const commit = first.commit;
        const installFile = path.join(tmp, "install.yaml");
        const syncFile = path.join(tmp, "sync.yaml");
        fs.writeFileSync(installFile, upstream.components);
        fs.writeFileSync(syncFile, sync.map((o) => stringify(o)).join("---\n"));
        const kubectl = (args: string[]) => execFileSync("kubectl", ["--kubeconfig", cp.kubeconfigPath, ...args], { encoding: "utf8", maxBuffer: 1 << 26, stdio: ["ignore", "pipe", "pipe"] });

        let ours = Infinity;
        let byHand = Infinity;
        let restart = Infinity;
        let recoverySeconds: number | undefined;
        const wipe = async () => {
            const t0 = Date.now();
            await cp.wipe();
            restart = Math.min(restart, (Date.now() - t0) / 1000);
            const left = JSON.parse(kubectl(["get", "kustomizations.kustomize.toolkit.fluxcd.io", "-A", "-o", "json"])).items.length;
            if (left !== 0) throw new Error(`the wipe left ${left} Kustomizations`);
            await sleep(2000);
        };
        for (let r = 0; r < RUNS; r++) {
            await wipe();
            let t0 = Date.now();
            const res = await reconcile(input, { inventory: first.inventory, clusterFingerprint: first.clusterFingerprint }, (m) =>
                process.stderr.write(`dr: ours +${((Date.now() - t0) / 1000).toFixed(2)}s ${m.slice(0, 160)}\n`),
            );
            ours = Math.min(ours, (Date.now() - t0) / 1000);
            if (res.commit !== commit || res.committed) throw new Error(`recovery made a commit (${res.commit}), it must apply ${commit}`);
            recoverySeconds = res.recoverySeconds;

            await wipe();
            t0 = Date.now();
            kubectl(["apply", "--server-side", "--force-conflicts", "-f", installFile]);
            kubectl(["apply", "--server-side", "--force-conflicts", "-f", syncFile]);
            for (;;) {
                const items = JSON.parse(kubectl(["get", "kustomizations.kustomize.toolkit.fluxcd.io", "-n", "flux-system", "-o", "json"])).items as any[];
                const at = items.filter((k) => k.status?.lastAppliedRevision === `main@sha1:${commit}` && (k.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True"));
                if (at.length === fleet.kustomizations.length) break;
                if (Date.now() - t0 > 600_000) throw new Error(`by hand: ${at.length}/${fleet.kustomizations.length} Kustomizations at ${commit} after 10 minutes`);
                await sleep(2000);
            }
            byHand = Math.min(byHand, (Date.now() - t0) / 1000);
        }
        console.error(`dr-recover: ours ${ours.toFixed(1)}s (reconcile's recoverySeconds ${recoverySeconds}), by hand ${byHand.toFixed(1)}s, restart of the wiped plane ${restart.toFixed(1)}s; ${fleet.kustomizations.length} Kustomizations, ${upstream.objects.length} upstream install objects (Flux ${upstream.version})`);
        console.log(
            `BENCH dr-recover ours=${ours.toFixed(4)} peer=${byHand.toFixed(4)} ratio=${(byHand / ours).toFixed(2)} kustomizations=${fleet.kustomizations.length} same_commit=${commit.slice(0, 12)}` +
                ` peer_is=kubectl-apply-install-and-sync-then-poll-2s restart_s=${restart.toFixed(1)} runs=${RUNS} server=real load1=${load1()}`,
        );
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
        await plane.stop();
    }
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
