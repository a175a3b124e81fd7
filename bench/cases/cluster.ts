/**
 * Cluster engine benchmarks against the Kubernetes API test server (bench/test-server.ts, in a
 * child process so this process's RSS is the engine's own):
 *   noop-reconcile-2000  applyStaged again with nothing changed; peer = the first apply
 *   preview-diff-5000    diffCluster of 5000 objects (50 drifted) with an inventory; no peer
 * apply-2000 against the real kube-apiserver, kubectl and kustomize-controller is bench/cases/apply.ts.
 */
import * as fs from "fs";
import { report } from "../lib";
import { benchObjects as objects } from "../objects";
import { startTestServer as startServer } from "../test-server";

main().catch((err) => {
    console.error(err);
    process.exit(1);
});

async function main(): Promise<void> {
    const { ClusterClient, applyStaged, diffCluster, inventoryOf } = await import("../../engine/cluster");
    const server = await startServer();
    const kubeconfig = fs.readFileSync(server.kubeconfigPath, "utf8");
    try {
        // noop-reconcile-2000 ---------------------------------------------------------------
        const objs2000 = objects(2000);
        let ours = Infinity;
        let noop = Infinity;
        let serverCpu = 0;
        let ownCpu = 0;
        let stats = "";
        for (let i = 0; i < 3; i++) {
            await server.wipe();
            const client = ClusterClient.fromKubeconfig(kubeconfig);
            const cpu0 = await server.cpu();
            const own0 = process.cpuUsage();
            const t0 = process.hrtime.bigint();
            const res = await applyStaged(client, objs2000);
            const dt = Number(process.hrtime.bigint() - t0) / 1e9;
            if (dt < ours) {
                serverCpu = (await server.cpu()) - cpu0;
                const own = process.cpuUsage(own0);
                ownCpu = (own.user + own.system) / 1e6;
                stats = `${client.stats.requests} requests, ${client.stats.retries} retries`;
            }
            ours = Math.min(ours, dt);
            if (res.results.some((r) => r.action !== "created")) throw new Error("first apply did not create everything");
            const t1 = process.hrtime.bigint();
            const again = await applyStaged(client, objs2000);
            noop = Math.min(noop, Number(process.hrtime.bigint() - t1) / 1e9);
            if (again.results.some((r) => r.action !== "unchanged")) throw new Error("no-op reconcile changed something");
            client.close();
        }
        // The test server is single-threaded: its CPU time per request bounds any client.
        console.error(`first apply of 2000 on the test server: server CPU ${serverCpu.toFixed(2)}s + engine CPU ${ownCpu.toFixed(2)}s (${ours.toFixed(2)}s wall, ${stats})`);
        report("noop-reconcile-2000", noop, ours, { server: "test", peer_is: "our-first-apply" });

        // preview-diff-5000 -----------------------------------------------------------------
        await server.wipe();
        const objs5000 = objects(5000, { namespaces: 20 });
        const client = ClusterClient.fromKubeconfig(kubeconfig);
        await applyStaged(client, objs5000);
        const inventory = inventoryOf(objs5000);
        const desired = objs5000.slice(0, 4950).map((o, i) => (o.kind === "Deployment" && i % 40 === 0 ? { ...o, spec: { ...o.spec, replicas: 3 } } : o));
        let diffTime = Infinity;
        let summaryHead = "";
        for (let i = 0; i < 3; i++) {
            const t0 = process.hrtime.bigint();
            const d = await diffCluster(client, desired, inventory);
            diffTime = Math.min(diffTime, Number(process.hrtime.bigint() - t0) / 1e9);
            summaryHead = d.summary.split("\n")[0];
        }
        client.close();
        console.error(`preview-diff-5000: ${summaryHead}`);
        report("preview-diff-5000", diffTime);
    } finally {
        await server.stop();
    }
}
