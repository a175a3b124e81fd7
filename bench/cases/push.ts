/**
 * push-to-applied: on the local control plane with real Flux (source-controller and
 * kustomize-controller), how long from a fleet commit until the platform has seen it applied.
 *
 * - ours: the engine's reconcile, as FleetSync runs it on `pulumi up`: commit + push the fleet
 *   files (each commit changes a ConfigMap in every app), apply the flux-system sync, annotate the
 *   GitRepository and every Kustomization with reconcile.fluxcd.io/requestedAt, and wait (watch)
 *   until every Kustomization is Ready at the commit. Timed from the call to its return, over
 *   PUSH_COMMITS (10) commits: `ours=` is the p95, `p50=` the median. An observer with its own
 *   watch records when Flux had applied each commit: `lag_p95=` is how long after that reconcile
 *   returned (the goal: `pulumi up` returns at most 2 s after the commit is applied).
 * - peer: the interval-only baseline: `git push` of the same kind of change to a repo whose
 *   GitRepository and Kustomization have interval 1m and nobody asks Flux to reconcile, timed
 *   from the push until the observer sees it applied, over PUSH_BASELINE_COMMITS (3) commits,
 *   each pushed at a random point of the interval, to keep the bench to a few minutes; `peer=` is
 *   their p95 (with 3 commits, the slowest).
 * Needs the binaries of scripts/e2e-build.sh; without them the case says why and skips.
 */
import * as fs from "fs";
import * as path from "path";
import { load1 } from "../lib";
import { AppliedObserver, benchFleet, commitAndPush, percentile, startPlane, whyNoRealPlane, workTree } from "../localplane";

const COMMITS = Number(process.env.PUSH_COMMITS ?? 10);
const BASELINE = Number(process.env.PUSH_BASELINE_COMMITS ?? 3);
const APPS = 2;

async function main(): Promise<void> {
    const why = whyNoRealPlane();
    if (why) {
        console.log(`BENCH push-to-applied skipped why=${JSON.stringify(`no real Flux: ${why}`)}`);
        return;
    }
    const { reconcile } = await import("../../engine/reconcile");
    const { fluxSync } = await import("../../engine/fleet/flux-sync");
    const plane = await startPlane("push");
    const observer = new AppliedObserver();
    try {
        const { cp } = plane;
        const kubeconfig = fs.readFileSync(cp.kubeconfigPath, "utf8");
        await observer.start(kubeconfig);
        const bootstrap = fluxSync({ namespace: "flux-system", url: `${cp.fleetUrl}/push.git`, branch: "main", path: "clusters/bench", interval: "1h", syncInterval: "1h", secret: false });
        const input = (note: string) => {
            const fleet = benchFleet("bench", APPS, note);
            return {
                fleet: { repo: path.join(plane.fleetRoot, "push.git"), branch: "main", author: { name: "bench", email: "bench@example.com" }, message: "bench: {{changes}}", files: fleet.files, owned: ["clusters", "apps"] },
                cluster: { kubeconfig, bootstrap, fluxNamespace: "flux-system", kustomizations: fleet.kustomizations, waitTimeoutMs: 300_000 },
            };
        };
        // The first reconcile bootstraps the sync and the apps (not timed).
        let previous = await reconcile(input("commit 0"));
        const names = benchFleet("bench", APPS, "").kustomizations;
        const took: number[] = [];
        const applied: number[] = [];
        const lag: number[] = [];
        for (let i = 1; i <= COMMITS; i++) {
            const t0 = Date.now();
            const r = await reconcile(input(`commit ${i}`), { inventory: previous.inventory, clusterFingerprint: previous.clusterFingerprint });
            const t1 = Date.now();
            if (!r.committed || r.commit === previous.commit) throw new Error(`commit ${i} was not made`);
            const at = await observer.applied(names, r.commit, 60_000);
            took.push((t1 - t0) / 1000);
            applied.push((at - t0) / 1000);
            lag.push((t1 - at) / 1000);
            previous = r;
        }
        console.error(`push-to-applied ours: reconcile returned after ${took.map((s) => s.toFixed(2)).join(" ")} s; applied by Flux after ${applied.map((s) => s.toFixed(2)).join(" ")} s`);

        // The interval-only baseline: its own repo, GitRepository and Kustomization, interval 1m.
        const { ClusterClient, applyStaged } = await import("../../engine/cluster");
        const client = ClusterClient.fromKubeconfig(kubeconfig);
        const { work } = workTree(plane.fleetRoot, "base");
        const write = (note: string) => {
            for (const [p, text] of Object.entries(benchFleet("base", 1, note).files)) {
                fs.mkdirSync(path.dirname(path.join(work, p)), { recursive: true });
                fs.writeFileSync(path.join(work, p), text);
            }
        };
        write("base 0");
        let commit = commitAndPush(work, "base 0");
        await applyStaged(client, [
            { apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", metadata: { name: "base", namespace: "flux-system" }, spec: { interval: "1m", url: `${cp.fleetUrl}/base.git`, ref: { branch: "main" } } },
            {
                apiVersion: "kustomize.toolkit.fluxcd.io/v1",
                kind: "Kustomization",
                metadata: { name: "base", namespace: "flux-system" },
                spec: { interval: "1m", path: "./apps/app-0", prune: true, timeout: "2m", sourceRef: { kind: "GitRepository", name: "base" } },
            },
        ]);
        client.close();
        await observer.applied(["base"], commit, 120_000);
        const base: number[] = [];
        for (let i = 1; i <= BASELINE; i++) {
            // Push at a random point of the interval: right after the previous commit was applied
            // the source has just fetched, and every sample would be a worst case.
            await new Promise((r) => setTimeout(r, Math.random() * 60_000));
            write(`base ${i}`);
            const t0 = Date.now();
            commit = commitAndPush(work, `base ${i}`);
            base.push(((await observer.applied(["base"], commit, 180_000)) - t0) / 1000);
        }
        fs.rmSync(work, { recursive: true, force: true });
        console.error(`push-to-applied baseline (interval 1m, no trigger): applied after ${base.map((s) => s.toFixed(1)).join(" ")} s`);
        const ours = percentile(took, 95);
        const peer = percentile(base, 95);
        console.log(
            `BENCH push-to-applied ours=${ours.toFixed(4)} peer=${peer.toFixed(4)} ratio=${(peer / ours).toFixed(2)} p50=${percentile(took, 50).toFixed(4)}` +
                ` applied_p95=${percentile(applied, 95).toFixed(4)} lag_p95=${percentile(lag, 95).toFixed(4)} lag_max=${Math.max(...lag).toFixed(4)} commits=${COMMITS}` +
                ` peer_is=interval-1m-no-trigger peer_commits=${BASELINE} peer_p50=${percentile(base, 50).toFixed(4)} server=real load1=${load1()}`,
        );
    } finally {
        observer.stop();
        await plane.stop();
    }
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
