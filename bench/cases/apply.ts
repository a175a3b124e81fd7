/**
 * apply-2000 / apply-2000-vs-flux: the same 2,000 objects (10 Namespaces, 1,990 Deployments and
 * ConfigMaps; bench/objects.ts) applied to an empty part of the cluster three ways:
 *   - ours: applyStaged (a fresh ClusterClient, discovery included);
 *   - `kubectl apply --server-side -f` of the same objects as one YAML file (apply-2000's peer);
 *   - the real kustomize-controller applying them from a GitRepository (apply-2000-vs-flux's peer):
 *     timed from creating the Kustomization (the GitRepository's artifact is already there) until
 *     it is Ready with the commit as lastAppliedRevision (APPLY_FLUX_RUNS runs, default 1: it takes minutes).
 * Each run applies into new Namespaces (prefix per run), so every run creates all 2,000.
 *
 * server=real: the kube-apiserver + etcd of the local control plane (engine/localcluster, the
 * binaries of scripts/e2e-build.sh in $GITOPS_E2E_BIN or /var/cache/gitops-e2e/bin), with real
 * kube-controller-manager and Flux. Deployments have replicas: 0 there so no Pods are made during
 * the timings; the line also gives the CPU seconds kube-apiserver + etcd spent during each side's
 * best run (ours_server_cpu_s, peer_server_cpu_s), which the machine's load does not change. server=test: those binaries are not built; the line says why, apply-2000 runs
 * against test/kube-apiserver and apply-2000-vs-flux is skipped (no real Flux).
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { stringify } from "yaml";
import { report, load1, timePeer } from "../lib";
import { benchObjects } from "../objects";
import { commitAndPush, startPlane, whyNoRealPlane, workTree } from "../localplane";
import { startTestServer } from "../test-server";
import { readState } from "../../engine/localcluster/controlplane";

const N = 2000;
const RUNS = Number(process.env.APPLY_BENCH_RUNS ?? 3);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function objectsYaml(objs: any[]): string {
    return objs.map((o) => stringify(o)).join("---\n");
}

const objPerSec = (s: number) => (N / s).toFixed(0);

async function oursOnce(kubeconfig: string, objs: any[]): Promise<{ secs: number; stats: string }> {
    const { ClusterClient, applyStaged } = await import("../../engine/cluster");
    const client = ClusterClient.fromKubeconfig(kubeconfig);
    const t0 = process.hrtime.bigint();
    const res = await applyStaged(client, objs);
    const secs = Number(process.hrtime.bigint() - t0) / 1e9;
    if (res.results.some((r) => r.action !== "created")) throw new Error("ours: the first apply did not create everything");
    const stats = `${client.stats.requests} requests, ${client.stats.retries} retries`;
    client.close();
    return { secs, stats };
}

function kubectlOnce(kubeconfigPath: string, file: string): number {
    return timePeer("kubectl", ["--kubeconfig", kubeconfigPath, "apply", "--server-side", "--validate=false", "--field-manager", "bench", "-f", file], {}, 1);
}

async function main(): Promise<void> {
    const why = whyNoRealPlane();
    if (why) return fallback(why);
    const plane = await startPlane("apply");
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-apply-"));
    try {
        const { cp } = plane;
        const kubeconfig = fs.readFileSync(cp.kubeconfigPath, "utf8");
        // apply-2000: ours and kubectl alternate, so load drift on the shared machine hits both alike.
        let ours = Infinity;
        let peer = Infinity;
        let stats = "";
        // CPU seconds kube-apiserver + etcd spent during the best run of each: wall time on a shared
        // machine depends on its load, the server's work per object does not.
        let oursCpu = 0;
        let peerCpu = 0;
        const serverCpu = serverCpuMeter(cp.dir);
        for (let r = 0; r < RUNS; r++) {
            let c0 = serverCpu();
            const o = await oursOnce(kubeconfig, benchObjects(N, { prefix: `ours${r}`, replicas: 0 }));
            if (o.secs < ours) [ours, stats, oursCpu] = [o.secs, o.stats, serverCpu() - c0];
            await sleep(3000); // kube-controller-manager makes the ReplicaSets: let it settle
            const file = path.join(tmp, `kubectl${r}.yaml`);
            fs.writeFileSync(file, objectsYaml(benchObjects(N, { prefix: `kubectl${r}`, replicas: 0 })));
            c0 = serverCpu();
            const k = kubectlOnce(cp.kubeconfigPath, file);
            if (k < peer) [peer, peerCpu] = [k, serverCpu() - c0];
            await sleep(3000);
        }
        console.error(`apply-2000: ours best ${ours.toFixed(2)}s (${stats}), kubectl best ${peer.toFixed(2)}s, ${RUNS} runs each, real kube-apiserver ${cp.server}`);
        report("apply-2000", ours, peer, {
            server: "real",
            ours_obj_s: objPerSec(ours),
            peer_obj_s: objPerSec(peer),
            ours_server_cpu_s: oursCpu.toFixed(2),
            peer_server_cpu_s: peerCpu.toFixed(2),
            peer_is: "kubectl-apply-server-side",
            load1: load1(),
        });

        // apply-2000-vs-flux: one repo, one folder per run; the GitRepository is Ready before the timing.
        const { ClusterClient, applyStaged } = await import("../../engine/cluster");
        const client = ClusterClient.fromKubeconfig(kubeconfig);
        const flux = Number(process.env.APPLY_FLUX_RUNS ?? 1);
        const { work } = workTree(plane.fleetRoot, "apply");
        for (let r = 0; r < flux; r++) {
            fs.mkdirSync(path.join(work, `run${r}`));
            fs.writeFileSync(path.join(work, `run${r}`, "objects.yaml"), objectsYaml(benchObjects(N, { prefix: `flux${r}`, replicas: 0 })));
        }
        const commit = commitAndPush(work, "2000 objects per folder");
        fs.rmSync(work, { recursive: true, force: true });
        await applyStaged(client, [
            {
                apiVersion: "source.toolkit.fluxcd.io/v1",
                kind: "GitRepository",
                metadata: { name: "apply", namespace: "flux-system" },
                spec: { interval: "1h", url: `${cp.fleetUrl}/apply.git`, ref: { branch: "main" } },
            },
        ]);
        await until(client, "source.toolkit.fluxcd.io/v1", "GitRepository", "apply", (o) => o?.status?.artifact?.revision === `main@sha1:${commit}`, 120_000);
        let fluxBest = Infinity;
        let inventory = 0;
        for (let r = 0; r < flux; r++) {
            const name = `run${r}`;
            const t0 = process.hrtime.bigint();
            await applyStaged(client, [
                {
                    apiVersion: "kustomize.toolkit.fluxcd.io/v1",
                    kind: "Kustomization",
                    metadata: { name, namespace: "flux-system" },
                    spec: { interval: "1h", path: `./${name}`, prune: false, wait: false, timeout: "10m", sourceRef: { kind: "GitRepository", name: "apply" } },
                },
            ]);
            const ks = await until(client, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", name, (o) => {
                const ready = (o?.status?.conditions ?? []).find((c: any) => c.type === "Ready");
                if (ready?.status === "False" && ready.reason !== "Progressing" && o.status.lastAttemptedRevision) throw new Error(`Kustomization ${name}: ${ready.reason}: ${ready.message}`);
                return ready?.status === "True" && o.status.lastAppliedRevision === `main@sha1:${commit}`;
            }, 600_000);
            const secs = Number(process.hrtime.bigint() - t0) / 1e9;
            inventory = ks.status?.inventory?.entries?.length ?? 0;
            if (inventory !== N) throw new Error(`kustomize-controller applied ${inventory} objects, not ${N}`);
            fluxBest = Math.min(fluxBest, secs);
            await sleep(3000);
        }
        client.close();
        console.error(`apply-2000-vs-flux: kustomize-controller best ${fluxBest.toFixed(2)}s over ${flux} runs (inventory ${inventory} objects each), ours best ${ours.toFixed(2)}s`);
        report("apply-2000-vs-flux", ours, fluxBest, { server: "real", ours_obj_s: objPerSec(ours), peer_obj_s: objPerSec(fluxBest), peer_is: "kustomize-controller-from-GitRepository", load1: load1() });
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
        await plane.stop();
    }
}

/** A reader of the CPU seconds kube-apiserver and etcd of the plane in `dir` have used so far (from /proc). */
function serverCpuMeter(dir: string): () => number {
    const st = readState(dir)!;
    const pids = [st.pieces["kube-apiserver"]!.pid, st.pieces.etcd!.pid];
    const tick = 100; // USER_HZ on Linux
    return () =>
        pids.reduce((sum, pid) => {
            const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
            return sum + (Number(f[11]) + Number(f[12])) / tick;
        }, 0);
}

/** Polls one object every 100 ms until `ok` holds; returns it. */
async function until(client: any, apiVersion: string, kind: string, name: string, ok: (o: any) => boolean, timeoutMs: number): Promise<any> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const o = await client.get(apiVersion, kind, name, "flux-system");
        if (o && ok(o)) return o;
        if (Date.now() > deadline) throw new Error(`${kind} ${name} not there after ${timeoutMs / 1000}s: ${JSON.stringify(o?.status ?? {}).slice(0, 400)}`);
        await sleep(100);
    }
}

/** No real kube-apiserver: apply-2000 against the test server, and say why. */
async function fallback(why: string): Promise<void> {
    console.error(`apply-2000: server=test because ${why}`);
    const server = await startTestServer();
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "bench-apply-"));
    try {
        const kubeconfig = fs.readFileSync(server.kubeconfigPath, "utf8");
        const objs = benchObjects(N);
        const file = path.join(tmp, "objects.yaml");
        fs.writeFileSync(file, objectsYaml(objs));
        let ours = Infinity;
        let peer = Infinity;
        for (let r = 0; r < RUNS; r++) {
            await server.wipe();
            ours = Math.min(ours, (await oursOnce(kubeconfig, objs)).secs);
            await server.wipe();
            peer = Math.min(peer, kubectlOnce(server.kubeconfigPath, file));
        }
        report("apply-2000", ours, peer, { server: "test", ours_obj_s: objPerSec(ours), peer_obj_s: objPerSec(peer), peer_is: "kubectl-apply-server-side", why: JSON.stringify(why) });
        console.log(`BENCH apply-2000-vs-flux skipped server=test why=${JSON.stringify(`no real Flux: ${why}`)}`);
    } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
        await server.stop();
    }
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
