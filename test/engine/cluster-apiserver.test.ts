/**
 * engine/cluster against the Kubernetes API test server (test/kube-apiserver): staged apply,
 * no-op reconciles, 4xx errors, convergence through 429/500/resets, inventory prune, health,
 * wait-for-revision and report-only drift. Given / when / then, real HTTP on 127.0.0.1.
 */
import * as assert from "assert";
import * as http from "http";
import * as path from "path";
import { KubeObject } from "../../engine/flux/api";
import {
    applyStaged,
    ApplyError,
    checkHealth,
    ClusterClient,
    DEFAULT_CONCURRENCY,
    detectDrift,
    diffCluster,
    Inventory,
    inventoryOf,
    objectId,
    prune,
    waitForHealthy,
    waitForRevision,
} from "../../engine/cluster";
import { readManifests } from "../../engine/cluster/cli";
import { GitopsError, isGitopsError } from "../../engine/errors";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { until } from "../helpers/wait";

const FIX = path.join(__dirname, "..", "fixtures", "cluster");
const crds = () => readManifests([path.join(FIX, "crds.yaml")]);
const app = () => readManifests([path.join(FIX, "app.yaml")]);
const flux = () => readManifests([path.join(FIX, "flux.yaml")]);
const SHA = "3f5a2c7e9b1d4f6a8c0e2b4d6f8a0c2e4b6d8f0a";

function without(objs: KubeObject[], name: string): KubeObject[] {
    return objs.filter((o) => o.metadata.name !== name);
}

function writes(api: TestApiServer) {
    return api.requests.filter((r) => r.method !== "GET" && !(r.query ?? "").includes("dryRun=All"));
}

describe("cluster engine against the API test server", function () {
    this.timeout(60_000);
    let api: TestApiServer;
    let client: ClusterClient;

    before(async () => {
        api = await startTestApiServer({ crdEstablishDelayMs: 150 });
    });
    after(async () => {
        await api.stop();
    });
    beforeEach(() => {
        api.wipe();
        api.faults.clear();
        api.flux.auto = true;
        api.flux.rollout = true;
        api.flagger.auto = true;
        api.flux.revision = `main@sha1:${"0".repeat(40)}`;
        client = ClusterClient.fromKubeconfig(api.kubeconfig, undefined, { retry: { baseMs: 5, maxMs: 1500 } });
        api.requests.length = 0;
    });
    afterEach(() => client.close());

    describe("applyStaged", () => {
        it("applies CRDs and Namespaces first, waits until established, then objects of the new kinds", async () => {
            const objects = [...app(), ...crds()]; // CRDs last in the input on purpose
            const res = await applyStaged(client, objects);
            assert.deepStrictEqual(new Set(res.results.map((r) => r.action)), new Set(["created"]));
            assert.strictEqual(res.results.length, objects.length);
            assert.ok(api.get("example.com/v1", "Widget", "gizmo", "apps"), "the custom resource exists");
            const patches = api.requests.filter((r) => r.method === "PATCH").map((r) => r.path);
            const lastStage0 = Math.max(...patches.map((p, i) => (/customresourcedefinitions|\/api\/v1\/namespaces\/[^/]+$/.test(p) ? i : -1)));
            const firstStage1 = patches.findIndex((p) => p.includes("/namespaces/apps/"));
            assert.ok(lastStage0 < firstStage1, `stage 0 writes precede stage 1: ${patches.join(", ")}`);
            // The manager of every object is ours, and the inventory lists them all.
            const dep = api.get("apps/v1", "Deployment", "podinfo", "apps");
            assert.ok(dep.metadata.managedFields.some((m: { manager: string }) => m.manager === "gitops-platform"));
            assert.deepStrictEqual(res.inventory.entries.map((e) => e.id), objects.map(objectId).sort());
            assert.ok(res.inventory.entries.every((e) => e.v === (e.id.endsWith("Canary") ? "v1beta1" : "v1")));
        });

        it("a second apply of the same objects is a no-op: every object unchanged, nothing written", async () => {
            await applyStaged(client, [...crds(), ...app()]);
            api.requests.length = 0;
            const res = await applyStaged(client, [...crds(), ...app()]);
            assert.deepStrictEqual(new Set(res.results.map((r) => r.action)), new Set(["unchanged"]));
            assert.deepStrictEqual(writes(api), []);
        });

        it("reports configured with the changed fields, and removes fields no longer declared", async () => {
            await applyStaged(client, [...crds(), ...app()]);
            const next = app().map((o) => {
                if (o.kind === "Deployment") return { ...o, spec: { ...(o.spec as object), replicas: 3 } };
                if (o.metadata.name === "podinfo-config") return { ...o, data: { color: "blue" } };
                return o;
            });
            const res = await applyStaged(client, [...crds(), ...next]);
            const byId = new Map(res.results.map((r) => [r.id, r]));
            assert.deepStrictEqual(byId.get("apps_podinfo_apps_Deployment"), { id: "apps_podinfo_apps_Deployment", action: "configured", changes: ["spec.replicas: 2 -> 3"] });
            assert.strictEqual(byId.get("apps_podinfo-config__ConfigMap")!.action, "configured");
            assert.strictEqual(api.get("apps/v1", "Deployment", "podinfo", "apps").spec.replicas, 3);
            assert.deepStrictEqual(api.get("v1", "ConfigMap", "podinfo-config", "apps").data, { color: "blue" });
            assert.strictEqual(byId.get("_apps__Namespace")!.action, "unchanged");
        });

        it("names the object and quotes the server's message on a 4xx, having applied nothing invalid", async () => {
            const bad = { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "bad", namespace: "apps", labels: { n: 5 as unknown as string } }, data: {} };
            await assert.rejects(
                applyStaged(client, [...app().filter((o) => o.kind === "Namespace"), bad]),
                (e: unknown) => {
                    assert.ok(e instanceof ApplyError);
                    assert.strictEqual(e.where, "apps_bad__ConfigMap");
                    assert.match(e.message, /HTTP 422/);
                    assert.match(e.message, /label n must be a string/);
                    assert.deepStrictEqual(e.results.map((r) => r.action), ["created"]); // the namespace, stage 0
                    return true;
                },
            );
            assert.strictEqual(api.get("v1", "ConfigMap", "bad", "apps"), undefined);
        });

        it("rejects malformed and duplicate objects before writing anything", async () => {
            const dup = [...app(), app()[1]];
            await assert.rejects(applyStaged(client, dup), /apps_podinfo_apps_Deployment: declared twice/);
            await assert.rejects(applyStaged(client, [...app(), { apiVersion: "v1", kind: "ConfigMap", metadata: {} } as KubeObject]), /has no metadata.name/);
            assert.deepStrictEqual(writes(api), []);
        });

        it("fails with a clear message when a kind is not served and no CRD declares it", async () => {
            const c = ClusterClient.fromKubeconfig(api.kubeconfig, undefined, { discoveryWaitMs: 300 });
            try {
                await assert.rejects(
                    applyStaged(c, [{ apiVersion: "nope.example.com/v1", kind: "Thing", metadata: { name: "t", namespace: "default" } }]),
                    /default_t_nope.example.com_Thing: .*the cluster does not serve kind Thing in nope.example.com\/v1/,
                );
            } finally {
                c.close();
            }
        });

        it("converges with nothing lost when the server answers 429, 500 and resets connections mid-apply", async () => {
            const objects: KubeObject[] = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "load" } }];
            for (let i = 0; i < 80; i++) objects.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `cm-${i}`, namespace: "load" }, data: { i: String(i) } });
            const isPatch = (r: { method: string; path: string }) => r.method === "PATCH" && r.path.includes("/configmaps/");
            api.faults.next(4, "429", isPatch);
            api.faults.next(6, "500", isPatch);
            api.faults.next(6, "reset", isPatch);
            api.faults.next(2, "reset", (r) => r.method === "GET");
            const res = await applyStaged(client, objects);
            assert.strictEqual(res.results.filter((r) => r.action === "created").length, 81);
            for (let i = 0; i < 80; i++) assert.deepStrictEqual(api.get("v1", "ConfigMap", `cm-${i}`, "load")?.data, { i: String(i) }, `cm-${i}`);
            assert.ok(client.stats.retries >= 18, `retried ${client.stats.retries} times`);
            const patches = api.requests.filter((r) => r.method === "PATCH").length;
            assert.ok(patches >= 81 + 16, `${patches} PATCH requests: every fault was retried`);
        });

        it("keeps DEFAULT_CONCURRENCY writes in flight at once, no more", async () => {
            const objects: KubeObject[] = [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "wide" } }];
            for (let i = 0; i < 2 * DEFAULT_CONCURRENCY; i++) objects.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `cm-${i}`, namespace: "wide" }, data: { i: String(i) } });
            // Every PATCH of a ConfigMap is held 1 s: none of the first wave answers before the
            // window closes, so the arrivals in it are exactly the requests in flight.
            const arrivals: number[] = [];
            api.faults.next(2 * DEFAULT_CONCURRENCY, { delayMs: 1000 }, (r) => {
                const hit = r.method === "PATCH" && r.path.includes("/configmaps/");
                if (hit) arrivals.push(Date.now());
                return hit;
            });
            const res = await applyStaged(client, objects);
            assert.strictEqual(res.results.filter((r) => r.action === "created").length, 2 * DEFAULT_CONCURRENCY + 1);
            const firstWave = arrivals.filter((t) => t < arrivals[0] + 800).length;
            assert.strictEqual(firstWave, DEFAULT_CONCURRENCY, `${firstWave} PATCHes in flight in the first 0.8 s`);
            assert.strictEqual(arrivals.length, 2 * DEFAULT_CONCURRENCY);
        });

        it("gives up after its retries on a persistent 500 and names the object", async () => {
            const c = ClusterClient.fromKubeconfig(api.kubeconfig, undefined, { retry: { attempts: 3, baseMs: 1, maxMs: 5 } });
            try {
                api.faults.next(1000, "500", (r) => r.method === "PATCH" && r.path.endsWith("/configmaps/podinfo-config"));
                await assert.rejects(applyStaged(c, without(app(), "gizmo")), (e: unknown) => {
                    assert.ok(isGitopsError(e));
                    assert.strictEqual((e as GitopsError).where, "apps_podinfo-config__ConfigMap");
                    assert.match((e as Error).message, /HTTP 500 InternalError: "Internal error occurred: injected fault"/);
                    return true;
                });
            } finally {
                c.close();
            }
        });
    });

    describe("kept-alive sockets", () => {
        // The race behind a CI flake: the server closes an idle kept-alive socket just as the
        // client sends the next request on it. This server answers the first request on each
        // socket, and breaks the socket when a second request arrives on it.
        async function oneShotServer(): Promise<{ kubeconfig: string; sockets: () => number; stop: () => Promise<void> }> {
            const seen = new WeakSet<import("net").Socket>();
            let sockets = 0;
            const server = http.createServer((req, res) => {
                if (seen.has(req.socket)) return void req.socket.destroy();
                seen.add(req.socket);
                res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ kind: "Namespace", apiVersion: "v1", metadata: { name: "a" } }));
            });
            server.on("connection", () => sockets++);
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            const port = (server.address() as import("net").AddressInfo).port;
            const kubeconfig = api.kubeconfig.replace(/server: http:\/\/127\.0\.0\.1:\d+/, `server: http://127.0.0.1:${port}`);
            return { kubeconfig, sockets: () => sockets, stop: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
        }

        it("a request on a kept-alive socket the server closed goes again on a new socket, without using up an attempt", async () => {
            const srv = await oneShotServer();
            // One attempt and no backoff: only the stale-socket rule can make the later calls pass.
            const c = ClusterClient.fromKubeconfig(srv.kubeconfig, undefined, { retry: { attempts: 1, baseMs: 1, maxMs: 1 } });
            try {
                for (let i = 0; i < 4; i++) assert.strictEqual((await c.request("GET", "/api/v1/namespaces/a")).status, 200, `call ${i + 1}`);
                assert.ok(srv.sockets() >= 4, `each call needed a fresh socket (${srv.sockets()} sockets)`);
                assert.ok(c.stats.retries >= 3, `the broken reuses were retried (${c.stats.retries})`);
            } finally {
                c.close();
                await srv.stop();
            }
        });
    });

    describe("prune", () => {
        async function applied(objs: KubeObject[]): Promise<Inventory> {
            return (await applyStaged(client, objs)).inventory;
        }

        it("deletes only what left the inventory, respects prune: disabled, never touches other objects", async () => {
            const old = await applied([...crds(), ...app()]);
            // Someone else's object in the same namespace, never in our inventory.
            const other = ClusterClient.fromKubeconfig(api.kubeconfig, undefined, { fieldManager: "someone-else" });
            await other.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "outsider", namespace: "apps" }, data: { a: "b" } });
            other.close();
            const next = without(without(without(app(), "old-config"), "keep-me"), "keep-me-too");
            const res = await applyStaged(client, [...crds(), ...next]);
            const p = await prune(client, old, res.inventory);
            const actions = Object.fromEntries(p.results.map((r) => [r.id, r.action]));
            assert.deepStrictEqual(actions, {
                "apps_old-config__ConfigMap": "deleted",
                "apps_keep-me__ConfigMap": "skipped",
                "apps_keep-me-too__ConfigMap": "skipped",
            });
            assert.strictEqual(api.get("v1", "ConfigMap", "old-config", "apps"), undefined);
            assert.ok(api.get("v1", "ConfigMap", "keep-me", "apps"));
            assert.ok(api.get("v1", "ConfigMap", "keep-me-too", "apps"));
            assert.ok(api.get("v1", "ConfigMap", "outsider", "apps"));
            assert.deepStrictEqual(p.inventory, res.inventory);
            assert.deepStrictEqual(p.failures, []);
        });

        it("deletes in reverse stage order: namespaced objects, then namespaces, then CRDs", async () => {
            const old = await applied([...crds(), ...app()]);
            api.requests.length = 0;
            const p = await prune(client, old, { entries: [] });
            assert.ok(p.results.every((r) => r.action === "deleted" || r.action === "skipped"));
            const deletes = api.requests.filter((r) => r.method === "DELETE").map((r) => r.path);
            const rank = (p: string) => (p.includes("customresourcedefinitions") ? 2 : /^\/api\/v1\/namespaces\/[^/]+$/.test(p) ? 1 : 0);
            const ranks = deletes.map(rank);
            assert.deepStrictEqual(ranks, [...ranks].sort(), deletes.join("\n"));
            assert.ok(ranks.includes(0) && ranks.includes(1) && ranks.includes(2));
            assert.strictEqual(api.list("apiextensions.k8s.io/v1", "CustomResourceDefinition").length, 0);
        });

        it("keeps an object whose delete failed in the inventory, and deletes it on the next run", async () => {
            const c = ClusterClient.fromKubeconfig(api.kubeconfig, undefined, { retry: { attempts: 2, baseMs: 1, maxMs: 5 } });
            try {
                const objs = without(app(), "gizmo");
                const old = (await applyStaged(c, objs)).inventory;
                const next = (await applyStaged(c, without(objs, "old-config"))).inventory;
                api.faults.next(1000, "500", (r) => r.method === "DELETE" && r.path.endsWith("/old-config"));
                const p = await prune(c, old, next);
                assert.deepStrictEqual(p.failures.map((f) => f.id), ["apps_old-config__ConfigMap"]);
                assert.match(p.failures[0].error, /delete failed: HTTP 500/);
                assert.ok(p.inventory.entries.some((e) => e.id === "apps_old-config__ConfigMap"));
                assert.ok(api.get("v1", "ConfigMap", "old-config", "apps"));
                api.faults.clear();
                const again = await prune(c, p.inventory, next);
                assert.deepStrictEqual(again.results.map((r) => [r.id, r.action]), [["apps_old-config__ConfigMap", "deleted"]]);
                assert.deepStrictEqual(again.inventory, next);
                assert.strictEqual(api.get("v1", "ConfigMap", "old-config", "apps"), undefined);
            } finally {
                c.close();
            }
        });

        it("skips an inventory object that our field manager does not manage", async () => {
            const other = ClusterClient.fromKubeconfig(api.kubeconfig, undefined, { fieldManager: "someone-else" });
            await other.apply({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "theirs", namespace: "default" }, data: {} });
            other.close();
            const p = await prune(client, { entries: [{ id: "default_theirs__ConfigMap", v: "v1" }] }, { entries: [] });
            assert.deepStrictEqual(p.results.map((r) => r.action), ["skipped"]);
            assert.match(p.results[0].message!, /not owned/);
            assert.ok(api.get("v1", "ConfigMap", "theirs", "default"));
        });
    });

    describe("health", () => {
        it("reports kstatus health: rolled-out Deployment and established CRDs are Current, missing is NotFound", async () => {
            await applyStaged(client, [...crds(), ...app()]);
            const hs = await checkHealth(client, [...crds().slice(0, 1), ...app().filter((o) => o.kind === "Deployment"), { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "missing", namespace: "apps" } }]);
            assert.deepStrictEqual(hs.map((h) => h.status), ["Current", "Current", "NotFound"]);
        });

        it("waits for a Deployment rollout and fails naming the Canary that failed, quoting Flagger's message", async () => {
            api.flux.rollout = false;
            await applyStaged(client, [...crds(), ...app()]);
            const dep = app().filter((o) => o.kind === "Deployment");
            const h = await checkHealth(client, dep);
            assert.strictEqual(h[0].status, "InProgress");
            await assert.rejects(waitForHealthy(client, dep, { timeoutMs: 200, pollMs: 20 }), /apps_podinfo_apps_Deployment: not healthy after .*InProgress/);

            const canary = { apiVersion: "flagger.app/v1beta1", kind: "Canary", metadata: { name: "podinfo", namespace: "apps" }, spec: { targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" }, analysis: { threshold: 2 } } };
            await applyStaged(client, [canary]);
            const progress: string[] = [];
            const ok = await waitForHealthy(client, [canary], { timeoutMs: 30_000, pollMs: 20, onProgress: (m) => progress.push(m) });
            assert.strictEqual(ok[0].status, "Current"); // Initialized counts as healthy
            api.flagger.fail("podinfo", "apps", "Halt advancement podinfo-canary.apps: request success rate 80% < 99%");
            await applyStaged(client, [{ ...canary, spec: { ...canary.spec, analysis: { threshold: 3 } } }]);
            await assert.rejects(waitForHealthy(client, [canary], { timeoutMs: 30_000, pollMs: 20 }), (e: unknown) => {
                assert.strictEqual((e as GitopsError).where, "apps_podinfo_flagger.app_Canary");
                assert.match((e as Error).message, /request success rate 80% < 99%/);
                return true;
            });
        });
    });

    describe("waitForRevision", () => {
        beforeEach(async () => {
            await applyStaged(client, [...crds(), ...flux()]);
        });
        const ks = [{ name: "infrastructure" }, { name: "apps" }];

        it("triggers Flux with requestedAt and returns once the source and every Kustomization are at the commit", async () => {
            api.flux.revision = `main@sha1:${SHA}`; // Flux learns of it only when asked to reconcile
            const progress: string[] = [];
            const res = await waitForRevision(client, { gitRepository: { name: "flux-system" }, kustomizations: ks, revision: SHA, timeoutMs: 30_000, pollMs: 20, onProgress: (m) => progress.push(m) });
            assert.strictEqual(res.revision, `main@sha1:${SHA}`);
            assert.deepStrictEqual(Object.keys(res.applied).sort(), ["flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization", "flux-system_infrastructure_kustomize.toolkit.fluxcd.io_Kustomization"]);
            const repo = api.get("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system");
            assert.ok(repo.metadata.annotations["reconcile.fluxcd.io/requestedAt"]);
            // The new artifact made Flux reconcile the Kustomizations: they were not asked (no second reconcile).
            assert.strictEqual(api.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system").metadata.annotations?.["reconcile.fluxcd.io/requestedAt"], undefined);
            assert.deepStrictEqual(progress.filter((m) => /requesting reconciliation/.test(m)), ["requesting reconciliation of flux-system_flux-system_source.toolkit.fluxcd.io_GitRepository"]);
            // Flux's own format is accepted as the wanted revision too.
            await waitForRevision(client, { gitRepository: { name: "flux-system" }, kustomizations: ks, revision: `main@sha1:${SHA}`, timeoutMs: 2000, pollMs: 20, trigger: false });
        });

        const requestedAt = (kind: string, name: string) =>
            api.get(kind === "GitRepository" ? "source.toolkit.fluxcd.io/v1" : "kustomize.toolkit.fluxcd.io/v1", kind, name, "flux-system").metadata.annotations?.["reconcile.fluxcd.io/requestedAt"];
        const setStatus = (plural: string, name: string, status: Record<string, unknown>) =>
            client.request("PATCH", `/apis/${plural === "gitrepositories" ? "source" : "kustomize"}.toolkit.fluxcd.io/v1/namespaces/flux-system/${plural}/${name}/status`, {
                body: { status: { observedGeneration: api.get(`${plural === "gitrepositories" ? "source" : "kustomize"}.toolkit.fluxcd.io/v1`, plural === "gitrepositories" ? "GitRepository" : "Kustomization", name, "flux-system").metadata.generation, ...status } },
                contentType: "application/merge-patch+json",
            });
        const readyAt = (rev: string, reason = "ReconciliationSucceeded", status = "True") => ({
            lastAppliedRevision: rev,
            lastAttemptedRevision: rev,
            conditions: [{ type: "Ready", status, reason, message: reason, lastTransitionTime: new Date().toISOString() }],
        });

        it("asks the Kustomizations when the source already had the revision (nothing else would wake them)", async () => {
            api.flux.auto = false; // nothing moves unless the test moves it
            await setStatus("gitrepositories", "flux-system", { artifact: { revision: `main@sha1:${SHA}` } });
            const said: string[] = [];
            const waiting = waitForRevision(client, { gitRepository: { name: "flux-system" }, kustomizations: ks, revision: SHA, timeoutMs: 60_000, pollMs: 50, onProgress: (m) => said.push(m) });
            waiting.catch(() => undefined); // awaited below; not unhandled if an assertion fails first
            // Until the wait asked them (not a fixed sleep: a loaded machine may take longer).
            await until("the Kustomizations asked", async () => (requestedAt("Kustomization", "apps") && requestedAt("Kustomization", "infrastructure") ? true : undefined), 30_000, 20);
            assert.ok(requestedAt("GitRepository", "flux-system"), "the source is asked");
            await setStatus("kustomizations", "apps", readyAt(`main@sha1:${SHA}`));
            await setStatus("kustomizations", "infrastructure", readyAt(`main@sha1:${SHA}`));
            await waiting;
            assert.deepStrictEqual(said.filter((m) => /requesting reconciliation/.test(m)), ["requesting reconciliation of flux-system_flux-system_source.toolkit.fluxcd.io_GitRepository", "requesting reconciliation of 2 Kustomizations"]);
        });

        it("asks a Kustomization held back by a dependency again as soon as the dependency is at the revision", async () => {
            api.flux.auto = false;
            const old = `main@sha1:${"0".repeat(40)}`;
            await client.mergePatch("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system", { spec: { dependsOn: [{ name: "infrastructure" }] } });
            await setStatus("kustomizations", "apps", readyAt(old, "DependencyNotReady", "False"));
            await setStatus("kustomizations", "infrastructure", readyAt(old));
            const said: string[] = [];
            const waiting = waitForRevision(client, { gitRepository: { name: "flux-system" }, kustomizations: ks, revision: SHA, timeoutMs: 60_000, pollMs: 50, onProgress: (m) => said.push(m) });
            waiting.catch(() => undefined); // awaited below; not unhandled if an assertion fails first
            // The wait asked the source while it was behind (so it leaves the Kustomizations to Flux).
            await until("the source asked", async () => (requestedAt("GitRepository", "flux-system") ? true : undefined), 30_000, 20);
            // The source gets the revision (so Flux reconciles the Kustomizations by itself), then the dependency does.
            await setStatus("gitrepositories", "flux-system", { artifact: { revision: `main@sha1:${SHA}` } });
            // Until the wait has seen it: it then waits for the Kustomizations (apps held back by its dependency).
            await until("the wait to see the source at the revision", async () => (said.some((m) => m.startsWith("waiting for flux-system_infrastructure_")) ? true : undefined), 30_000, 20);
            assert.strictEqual(requestedAt("Kustomization", "apps"), undefined, "not asked while its dependency is behind");
            await setStatus("kustomizations", "infrastructure", readyAt(`main@sha1:${SHA}`));
            await until("apps asked once the dependency is at the revision", async () => (requestedAt("Kustomization", "apps") ? true : undefined), 30_000, 20);
            assert.strictEqual(requestedAt("Kustomization", "infrastructure"), undefined);
            await setStatus("kustomizations", "apps", readyAt(`main@sha1:${SHA}`));
            await waiting;
            assert.ok(said.includes("requesting reconciliation of 1 Kustomizations whose dependencies are at the revision"), said.join("\n"));
        });

        it("wakes on a watch event: returns as soon as Flux reports the revision, not at the next poll", async () => {
            const flip = setTimeout(() => api.flux.setRevision(`main@sha1:${SHA}`), 300);
            try {
                const t0 = Date.now();
                // One poll at the start, the next only after 20 s: only the watch can end it sooner.
                const res = await waitForRevision(client, { gitRepository: { name: "flux-system" }, kustomizations: ks, revision: SHA, timeoutMs: 30_000, pollMs: 20_000, trigger: false });
                const took = Date.now() - t0;
                assert.strictEqual(res.revision, `main@sha1:${SHA}`);
                assert.ok(took >= 250 && took < 10_000, `returned after ${took} ms`);
                const watches = api.requests.filter((r) => r.method === "GET" && /(^|&)watch=1(&|$)/.test(r.query ?? ""));
                assert.deepStrictEqual(watches.map((r) => r.path.split("/").pop()).sort(), ["gitrepositories", "kustomizations"]);
                assert.ok(watches.find((r) => r.path.endsWith("/gitrepositories"))!.query!.includes("fieldSelector=metadata.name%3Dflux-system"), "the source is watched by name");
            } finally {
                clearTimeout(flip);
            }
        });

        it("polls when the server refuses to watch", async () => {
            api.faults.next(100, "500", (r) => r.method === "GET" && /\/(gitrepositories|kustomizations)$/.test(r.path));
            const gets = () => api.requests.filter((r) => r.method === "GET" && r.path.endsWith("/kustomizations/apps")).length;
            const before = gets();
            const waiting = waitForRevision(client, { gitRepository: { name: "flux-system" }, kustomizations: ks, revision: SHA, timeoutMs: 60_000, pollMs: 50, trigger: false });
            waiting.catch(() => undefined); // awaited below; not unhandled if the count is never reached
            // Flux moves only after the wait polled a few times (counted, not timed: a loaded machine polls less often).
            await until("3 polls of apps", async () => (gets() - before >= 3 ? true : undefined), 30_000, 20);
            api.flux.setRevision(`main@sha1:${SHA}`);
            const res = await waiting;
            assert.strictEqual(res.revision, `main@sha1:${SHA}`);
            assert.ok(gets() - before >= 4, `${gets() - before} polls of apps`);
        });

        it("fails at once naming the Kustomization and quoting its Ready message", async () => {
            api.flux.revision = `main@sha1:${SHA}`;
            api.flux.fail("Kustomization", "apps", "kustomize build failed: accumulating resources: 'apps/missing.yaml' not found");
            const t0 = Date.now();
            await assert.rejects(waitForRevision(client, { gitRepository: { name: "flux-system" }, kustomizations: ks, revision: SHA, timeoutMs: 40_000, pollMs: 20 }), (e: unknown) => {
                assert.strictEqual((e as GitopsError).where, "flux-system_apps_kustomize.toolkit.fluxcd.io_Kustomization");
                assert.match((e as Error).message, /ReconciliationFailed.*'apps\/missing.yaml' not found/);
                return true;
            });
            assert.ok(Date.now() - t0 < 20_000, "did not wait for the timeout (40 s)");
        });

        it("times out naming the object still behind, and its state", async () => {
            api.flux.auto = false;
            await assert.rejects(waitForRevision(client, { gitRepository: { name: "flux-system" }, kustomizations: ks, revision: SHA, timeoutMs: 300, pollMs: 20 }), (e: unknown) => {
                assert.strictEqual((e as GitopsError).where, "flux-system_flux-system_source.toolkit.fluxcd.io_GitRepository");
                assert.match((e as Error).message, new RegExp(`revision ${SHA} not applied after 300ms: artifact at main@sha1:0{40}`));
                return true;
            });
        });

        it("waits for a Kustomization a parent has not created yet (no immediate failure), and says so", async () => {
            api.flux.setRevision(`main@sha1:${SHA}`); // the source has it already: the Kustomizations are asked
            const said: string[] = [];
            await assert.rejects(
                waitForRevision(client, { gitRepository: { name: "flux-system" }, kustomizations: [{ name: "nope" }], revision: SHA, timeoutMs: 300, pollMs: 20, onProgress: (m) => said.push(m) }),
                /not applied after 300ms/,
            );
            assert.ok(said.some((m) => /not in the cluster yet.*flux-system_nope_kustomize\.toolkit\.fluxcd\.io_Kustomization/.test(m)), said.join("\n"));
        });
    });

    describe("diffCluster and drift", () => {
        it("reports created, configured, unchanged, deleted and skipped in Flux's words, writing nothing", async () => {
            const old = (await applyStaged(client, [...crds(), ...app()])).inventory;
            const desired = [
                ...crds(),
                ...without(without(app(), "old-config"), "keep-me").map((o) => {
                    if (o.kind === "Deployment") return { ...o, spec: { ...(o.spec as object), replicas: 3 } };
                    if (o.metadata.name === "podinfo-config") return { ...o, data: { color: "blue" } }; // "message" no longer declared
                    return o;
                }),
                { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "new-config", namespace: "apps" }, data: { a: "1" } },
            ];
            api.requests.length = 0;
            const d = await diffCluster(client, desired, old);
            const byId = Object.fromEntries(d.entries.map((e) => [e.id, e.action]));
            assert.strictEqual(byId["apps_podinfo_apps_Deployment"], "configured");
            assert.strictEqual(byId["apps_podinfo-config__ConfigMap"], "configured");
            assert.strictEqual(byId["apps_new-config__ConfigMap"], "created");
            assert.strictEqual(byId["apps_keep-me-too__ConfigMap"], "unchanged");
            assert.strictEqual(byId["apps_old-config__ConfigMap"], "deleted");
            assert.strictEqual(byId["apps_keep-me__ConfigMap"], "skipped");
            assert.deepStrictEqual(d.counts, { created: 1, configured: 2, unchanged: desired.length - 3, deleted: 1, skipped: 1 });
            assert.match(d.summary, /^1 created, 2 configured, \d+ unchanged, 1 deleted, 1 skipped\n/);
            assert.match(d.summary, /\nconfigured apps_podinfo_apps_Deployment \(spec\.replicas: 2 -> 3\)\n/);
            // A field we own but no longer declare is confirmed by a dry-run apply: SSA removes it.
            assert.match(d.summary, /\nconfigured apps_podinfo-config__ConfigMap \(data\.message: hello -> <none>\)\n/);
            const dryRuns = api.requests.filter((r) => (r.query ?? "").includes("dryRun=All")).map((r) => r.path);
            assert.deepStrictEqual(dryRuns, ["/api/v1/namespaces/apps/configmaps/podinfo-config"], "only the uncertain difference was dry-run");
            assert.deepStrictEqual(writes(api), [], "report-only: no write reached the server");
            assert.strictEqual(api.get("apps/v1", "Deployment", "podinfo", "apps").spec.replicas, 2);

            // Confirming everything by dry-run gives the same verdicts.
            api.requests.length = 0;
            const all = await diffCluster(client, desired, old, { confirmAll: true });
            assert.strictEqual(all.summary, d.summary);
            assert.strictEqual(api.requests.filter((r) => (r.query ?? "").includes("dryRun=All")).length, 2);
            assert.deepStrictEqual(writes(api), []);
        });

        it("sees drift made by someone else, reports it without correcting, and corrects it when asked", async () => {
            const objs = [...crds(), ...app()];
            const inv = (await applyStaged(client, objs)).inventory;
            await client.mergePatch("apps/v1", "Deployment", "podinfo", "apps", { spec: { replicas: 5 } });
            const report = await detectDrift(client, objs, inv, { mode: "report" });
            assert.strictEqual(report.corrected, false);
            assert.match(report.summary, /configured apps_podinfo_apps_Deployment \(spec\.replicas: 5 -> 2\)/);
            assert.strictEqual(api.get("apps/v1", "Deployment", "podinfo", "apps").spec.replicas, 5);
            const fixed = await detectDrift(client, objs, inv, { mode: "correct" });
            assert.strictEqual(fixed.corrected, true);
            assert.strictEqual(api.get("apps/v1", "Deployment", "podinfo", "apps").spec.replicas, 2);
            const clean = await diffCluster(client, objs, inv);
            assert.strictEqual(clean.counts.configured + clean.counts.created + clean.counts.deleted, 0, clean.summary);
        });

        it("compares only declared fields: server defaults and controller status are not drift", async () => {
            const objs = [...crds(), ...app()];
            const inv = inventoryOf(objs);
            await applyStaged(client, objs);
            // The emulated controllers wrote status; a field-subset comparison without dry-run agrees.
            const d = await diffCluster(client, objs, inv, { dryRun: false });
            assert.strictEqual(d.counts.unchanged, objs.length, d.summary);
        });
    });

    describe("gitops cluster commands", () => {
        function io() {
            const out: string[] = [];
            const err: string[] = [];
            return { out, err, io: { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) } };
        }

        it("apply writes the inventory and prunes with it; diff reports drift with --exit-code; health lists statuses", async () => {
            const { main } = await import("../../engine/cli");
            const fs = await import("fs");
            const os = await import("os");
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "cluster-cli-"));
            try {
                const inv = path.join(dir, "inventory.json");
                const kc = ["--kubeconfig", api.kubeconfigPath];
                let r = io();
                assert.strictEqual(await main(["cluster", "apply", ...kc, "--file", path.join(FIX, "crds.yaml"), "--file", path.join(FIX, "app.yaml"), "--inventory", inv], r.io), 0);
                assert.match(r.out.join(""), /^created apps_podinfo_apps_Deployment$/m);
                const recorded = JSON.parse(fs.readFileSync(inv, "utf8")) as Inventory;
                assert.ok(recorded.entries.some((e) => e.id === "apps_old-config__ConfigMap"));

                const smaller = path.join(dir, "app.yaml");
                fs.writeFileSync(smaller, fs.readFileSync(path.join(FIX, "app.yaml"), "utf8").replace(/---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: old-config[\s\S]*?(?=---)/, ""));
                r = io();
                assert.strictEqual(await main(["cluster", "diff", ...kc, "--file", path.join(FIX, "crds.yaml"), "--file", smaller, "--inventory", inv, "--exit-code"], r.io), 3);
                assert.match(r.out.join(""), /^deleted apps_old-config__ConfigMap$/m);
                assert.ok(api.get("v1", "ConfigMap", "old-config", "apps"), "diff wrote nothing");

                r = io();
                assert.strictEqual(await main(["cluster", "apply", ...kc, "--file", path.join(FIX, "crds.yaml"), "--file", smaller, "--inventory", inv, "--prune"], r.io), 0);
                assert.match(r.out.join(""), /^deleted apps_old-config__ConfigMap$/m);
                assert.strictEqual(api.get("v1", "ConfigMap", "old-config", "apps"), undefined);
                assert.ok(!(JSON.parse(fs.readFileSync(inv, "utf8")) as Inventory).entries.some((e) => e.id === "apps_old-config__ConfigMap"));

                r = io();
                assert.strictEqual(await main(["cluster", "diff", ...kc, "--file", path.join(FIX, "crds.yaml"), "--file", smaller, "--inventory", inv, "--exit-code"], r.io), 0);
                assert.match(r.out.join(""), /^0 created, 0 configured, \d+ unchanged, 0 deleted, 0 skipped$/m);

                r = io();
                assert.strictEqual(await main(["cluster", "health", ...kc, "--file", smaller], r.io), 0);
                assert.match(r.out.join(""), /^Current +apps_podinfo_apps_Deployment/m);

                r = io();
                assert.strictEqual(await main(["cluster", "apply", ...kc, "--file", path.join(dir, "missing.yaml")], r.io), 1);
                assert.match(r.err.join(""), /missing.yaml: cannot read/);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    });

    describe("kubeconfig", () => {
        it("says to create the namespace when an object's namespace does not exist", async () => {
            await assert.rejects(
                applyStaged(client, [{ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "nowhere" }, data: {} }]),
                (e: unknown) => {
                    assert.strictEqual((e as GitopsError).where, "nowhere_c__ConfigMap");
                    assert.match((e as Error).message, /nowhere/);
                    return true;
                },
            );
        });

        it("gives up soon on a server that is not there, saying it could not be reached", async () => {
            const port = new URL(api.url).port;
            const dead = ClusterClient.fromKubeconfig(api.kubeconfig.replace(`127.0.0.1:${port}`, "127.0.0.1:1"), undefined, { retry: { baseMs: 5 } });
            try {
                await assert.rejects(diffCluster(dead, app()), /ECONNREFUSED|could not be reached/);
                // Discovery of v1, apps/v1 and example.com/v1, three tries each.
                assert.strictEqual(dead.stats.requests, 9);
            } finally {
                dead.close();
            }
        });

        it("rejects unreadable kubeconfigs and unknown contexts with where and what to do", () => {
            assert.throws(() => ClusterClient.fromKubeconfig(":\n  - [", undefined), /kubeconfig: cannot read the kubeconfig/);
            assert.throws(() => ClusterClient.fromKubeconfig(api.kubeconfig, "prod"), /kubeconfig context prod: no such context; the kubeconfig has: test/);
        });
    });
});
