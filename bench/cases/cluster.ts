/**
 * Cluster engine benchmarks against the Kubernetes API test server (run in a child process so
 * the peer's blocking spawn cannot stall it, and so this process's RSS is the engine's own):
 *   apply-2000           applyStaged of 2000 objects vs `kubectl apply --server-side -f` (fresh server each)
 *   noop-reconcile-2000  applyStaged again with nothing changed; peer = the first apply
 *   preview-diff-5000    diffCluster of 5000 objects (50 drifted) with an inventory; no peer
 */
import { spawn, ChildProcess } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as readline from "readline";
import { stringify } from "yaml";
import { report, timePeer } from "../lib";

if (process.env.CLUSTER_BENCH_SERVER === "1") {
    // Child mode: serve, print the kubeconfig path, obey "wipe" / "stop" lines on stdin.
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { startTestApiServer } = require("../../test/kube-apiserver");
    (async () => {
        const api = await startTestApiServer();
        api.flux.auto = false;
        api.flagger.auto = false;
        process.stdout.write(`READY ${api.kubeconfigPath}\n`);
        const rl = readline.createInterface({ input: process.stdin });
        rl.on("line", async (line) => {
            if (line === "wipe") {
                api.wipe();
                api.requests.length = 0;
                process.stdout.write("OK\n");
            } else if (line === "cpu") {
                const u = process.cpuUsage();
                process.stdout.write(`${(u.user + u.system) / 1e6}\n`);
            } else if (line === "stop") {
                await api.stop();
                process.exit(0);
            }
        });
    })();
} else {
    main().catch((err) => {
        console.error(err);
        process.exit(1);
    });
}

interface Server {
    kubeconfigPath: string;
    wipe(): Promise<void>;
    /** CPU seconds the server process has used so far. */
    cpu(): Promise<number>;
    stop(): Promise<void>;
}

async function startServer(): Promise<Server> {
    const child: ChildProcess = spawn(process.execPath, ["-r", "sucrase/register/ts", __filename], {
        env: { ...process.env, CLUSTER_BENCH_SERVER: "1" },
        stdio: ["pipe", "pipe", "inherit"],
    });
    const rl = readline.createInterface({ input: child.stdout! });
    const waiters: Array<(l: string) => void> = [];
    rl.on("line", (l) => waiters.shift()?.(l));
    child.on("error", (e) => waiters.shift()?.(`ERROR cannot start ${process.execPath}: ${e.message}`));
    const nextLine = () => new Promise<string>((r) => waiters.push(r));
    const ready = await nextLine();
    if (!ready.startsWith("READY ")) throw new Error(`server did not start: ${ready}`);
    return {
        kubeconfigPath: ready.slice(6),
        async wipe() {
            child.stdin!.write("wipe\n");
            await nextLine();
        },
        async cpu() {
            child.stdin!.write("cpu\n");
            return parseFloat(await nextLine());
        },
        async stop() {
            child.stdin!.write("stop\n");
            await new Promise((r) => child.once("exit", r));
        },
    };
}

function objects(n: number, namespaces = 10): any[] {
    const out: any[] = [];
    for (let i = 0; i < namespaces; i++) out.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: `bench-${i}` } });
    for (let i = 0; out.length < n; i++) {
        const ns = `bench-${i % namespaces}`;
        if (i % 4 === 0) {
            out.push({
                apiVersion: "apps/v1",
                kind: "Deployment",
                metadata: { name: `app-${i}`, namespace: ns, labels: { app: `app-${i}` } },
                spec: {
                    replicas: 2,
                    selector: { matchLabels: { app: `app-${i}` } },
                    template: {
                        metadata: { labels: { app: `app-${i}` } },
                        spec: { containers: [{ name: "app", image: `ghcr.io/stefanprodan/podinfo:6.${i % 9}.0`, ports: [{ containerPort: 9898 }] }] },
                    },
                },
            });
        } else {
            out.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `cfg-${i}`, namespace: ns }, data: { key: `value-${i}`, other: "x".repeat(64) } });
        }
    }
    return out;
}

async function main(): Promise<void> {
    const { ClusterClient, applyStaged, diffCluster, inventoryOf } = await import("../../engine/cluster");
    const server = await startServer();
    const kubeconfig = fs.readFileSync(server.kubeconfigPath, "utf8");
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-cluster-"));
    try {
        // apply-2000 ------------------------------------------------------------------------
        const objs2000 = objects(2000);
        const file = path.join(tmp, "objects.yaml");
        fs.writeFileSync(file, objs2000.map((o) => stringify(o)).join("---\n"));
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
        let peer = Infinity;
        let peerServerCpu = 0;
        for (let i = 0; i < 2; i++) {
            await server.wipe();
            const cpu0 = await server.cpu();
            const before = peer;
            peer = Math.min(peer, timePeer("kubectl", ["--kubeconfig", server.kubeconfigPath, "apply", "--server-side", "--validate=false", "--field-manager", "bench", "-f", file], {}, 1));
            if (peer < before) peerServerCpu = (await server.cpu()) - cpu0;
        }
        // The test server is single-threaded: its CPU time per request bounds any client.
        console.error(`apply-2000: test server CPU ${serverCpu.toFixed(2)}s + engine CPU ${ownCpu.toFixed(2)}s during ours (${ours.toFixed(2)}s wall, ${stats}), ${peerServerCpu.toFixed(2)}s during kubectl (${peer.toFixed(2)}s wall)`);
        report("apply-2000", ours, peer);
        report("noop-reconcile-2000", noop, ours);

        // preview-diff-5000 -----------------------------------------------------------------
        await server.wipe();
        const objs5000 = objects(5000, 20);
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
        fs.rmSync(tmp, { recursive: true, force: true });
    }
}
