/**
 * Hostile input and partial failure, class "inventory": an apply killed partway, a Namespace pruned
 * with objects nobody declared, fields taken from another field manager.
 *
 * - `gitops cluster apply --inventory` is killed (SIGKILL) after it created part of a new set; the
 *   set then changes, and the rerun with --prune leaves no orphan: the inventory recorded the
 *   intended set before the first write.
 * - The preview (`gitops cluster diff`) and the prune warn when a pruned Namespace holds objects
 *   outside the inventory, and say how many.
 * - Apply names the fields it took over from another field manager.
 *
 * Run against the API test server, and against the real kube-apiserver + etcd when
 * scripts/e2e-build.sh has built them (GITOPS_E2E_BIN or /var/cache/gitops-e2e/bin).
 */
import { strict as assert } from "assert";
import { spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main } from "../../engine/cli";
import { ClusterClient } from "../../engine/cluster";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { LocalControlPlane } from "../../engine/localcluster/controlplane";
import { fleetSyncProvider } from "../../components/fleet-sync";
import { git, TempGit } from "../helpers/git";
import { until } from "../helpers/wait";
import { appliedIds, fleetSyncFixture, FluxGitEmulation, kubeconfigWithToken, serializeProvider, startProviderHost } from "../helpers/provider-host";

const ROOT = path.join(__dirname, "../..");
const BIN = path.join(ROOT, "bin/gitops");
const E2E_BIN = process.env.GITOPS_E2E_BIN ?? "/var/cache/gitops-e2e/bin";
const haveRealApiServer = ["etcd", "kube-apiserver"].every((b) => fs.existsSync(path.join(E2E_BIN, b)) && fs.readFileSync(path.join(E2E_BIN, "status", b), "utf8").startsWith("ok"));

interface Backend {
    name: string;
    start(dir: string): Promise<string /* kubeconfig path */>;
    stop(): Promise<void>;
}

const backends: Backend[] = [
    (() => {
        let api: TestApiServer;
        return {
            name: "API test server",
            async start() {
                api = await startTestApiServer();
                return api.kubeconfigPath;
            },
            async stop() {
                await api?.stop();
            },
        };
    })(),
    (() => {
        let c: LocalControlPlane | undefined;
        return {
            name: "real kube-apiserver",
            async start(dir: string) {
                c = await LocalControlPlane.start({ dir: path.join(dir, "kube"), bin: E2E_BIN, pieces: "api" });
                return c.kubeconfigPath;
            },
            async stop() {
                await c?.stop();
            },
        };
    })(),
];

const ns = (name: string, annotations?: Record<string, string>) => ({ apiVersion: "v1", kind: "Namespace", metadata: { name, ...(annotations ? { annotations } : {}) } });
const cm = (namespace: string, name: string, data: Record<string, string> = { v: "1" }) => ({ apiVersion: "v1", kind: "ConfigMap", metadata: { name, namespace }, data });
const svc = (namespace: string, name: string) => ({ apiVersion: "v1", kind: "Service", metadata: { name, namespace }, spec: { ports: [{ port: 80 }], selector: { app: name } } });
const yaml = (objs: object[]) => objs.map((o) => JSON.stringify(o)).join("\n---\n") + "\n";

for (const backend of backends) {
    (backend.name.startsWith("real") && !haveRealApiServer ? describe.skip : describe)(`hostile input: inventory, prune and field ownership (${backend.name})`, function () {
        this.timeout(300_000);
        let dir: string;
        let kubeconfig: string;
        let client: ClusterClient;
        let other: ClusterClient;

        async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
            const out: string[] = [];
            const err: string[] = [];
            const code = await main([args[0], args[1], "--kubeconfig", kubeconfig, ...args.slice(2)], { out: (t) => void out.push(t), err: (t) => void err.push(t) });
            return { code, out: out.join(""), err: err.join("") };
        }
        const file = (name: string, objs: object[]) => {
            const p = path.join(dir, name);
            fs.writeFileSync(p, yaml(objs));
            return p;
        };
        /**
         * Ids of the live (not terminating) objects outside the system namespaces that no other
         * manager wrote: what our applies left. (An applied Namespace that declares no field has
         * no managedFields entry at all, on the real server too, so ownership cannot tell.)
         */
        async function ours(): Promise<string[]> {
            const system = new Set(["default", "kube-system", "kube-public", "kube-node-lease"]);
            const ids: string[] = [];
            const kinds: Array<[string, string]> = [["v1", "Namespace"], ["v1", "ConfigMap"], ["v1", "Service"]];
            for (const [av, kind] of kinds) {
                for (const o of await client.list(av, kind)) {
                    const m = o.metadata as { namespace?: string; name: string; deletionTimestamp?: string; managedFields?: Array<{ manager?: string }> };
                    if (system.has(m.namespace ?? m.name) || m.deletionTimestamp || m.name === "kube-root-ca.crt") continue;
                    if ((m.managedFields ?? []).some((f) => f.manager === "kubectl-edit")) continue;
                    ids.push(`${m.namespace ?? ""}_${m.name}__${kind}`);
                }
            }
            return ids.sort();
        }
        const invIds = () => (JSON.parse(fs.readFileSync(path.join(dir, "inv.json"), "utf8")).entries as Array<{ id: string }>).map((e) => e.id).sort();

        before(async () => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-hostile-inventory-"));
            kubeconfig = await backend.start(dir);
            const text = fs.readFileSync(kubeconfig, "utf8");
            client = ClusterClient.fromKubeconfig(text);
            other = ClusterClient.fromKubeconfig(text, undefined, { fieldManager: "kubectl-edit" });
        });
        after(async () => {
            client?.close();
            other?.close();
            await backend.stop();
            if (dir) fs.rmSync(dir, { recursive: true, force: true });
        });

        it("an apply killed partway, then a different object set: the rerun with --prune leaves no orphan", async () => {
            // Run 1 completes: the recorded inventory is {team, team/a}.
            const s1 = [ns("team"), cm("team", "a")];
            let r = await run("cluster", "apply", "--file", file("s1.yaml", s1), "--inventory", path.join(dir, "inv.json"), "--prune");
            assert.equal(r.code, 0, r.err);
            // A foreign object in a namespace we keep: nothing may touch it.
            await other.apply(cm("team", "foreign", { owner: "someone else" }));
            const foreignBefore = await client.get("v1", "ConfigMap", "foreign", "team");

            // Run 2, a new set (a namespace, a Service, hundreds of ConfigMaps), killed partway.
            const BULK = 600;
            const s2 = [...s1, ns("extra"), svc("team", "web"), cm("team", "b"), ...Array.from({ length: BULK }, (_, i) => cm("extra", `bulk-${i}`))];
            const child = spawn(process.execPath, [BIN, "cluster", "apply", "--kubeconfig", kubeconfig, "--file", file("s2.yaml", s2), "--inventory", path.join(dir, "inv.json"), "--prune"], { stdio: "ignore" });
            const exited = new Promise((resolve) => child.on("exit", resolve));
            await until("the killed apply to create 20 bulk ConfigMaps", async () => ((await client.list("v1", "ConfigMap", "extra")).length >= 20 ? true : undefined), 60_000, 20);
            child.kill("SIGKILL");
            await exited;
            const created = (await client.list("v1", "ConfigMap", "extra")).length;
            assert.ok(created >= 20 && created < BULK, `the apply was killed partway: ${created} of ${BULK} bulk ConfigMaps exist`);
            assert.ok(!fs.readdirSync(dir).some((f) => f.endsWith(".tmp")), "no half-written inventory left");

            // Run 3: the set changed again (extra, web, b and the bulk are gone; d is new).
            const s3 = [...s1, cm("team", "d")];
            r = await run("cluster", "apply", "--file", file("s3.yaml", s3), "--inventory", path.join(dir, "inv.json"), "--prune");
            assert.equal(r.code, 0, r.err);
            assert.match(r.out, /^created team_d__ConfigMap$/m);
            assert.match(r.out, /^deleted extra_bulk-0__ConfigMap$/m);
            assert.match(r.out, /^deleted _extra__Namespace$/m);
            assert.deepEqual(await ours(), ["_team__Namespace", "team_a__ConfigMap", "team_d__ConfigMap"], "no orphan of the killed run");
            assert.deepEqual(invIds(), ["_team__Namespace", "team_a__ConfigMap", "team_d__ConfigMap"]);
            assert.deepEqual(await client.get("v1", "ConfigMap", "foreign", "team"), foreignBefore, "a foreign object changed");
        });

        it("the preview and the prune warn when a pruned Namespace holds objects outside the inventory, and how many", async () => {
            const s = [ns("team"), cm("team", "a"), cm("team", "d"), ns("doomed"), cm("doomed", "ours")];
            let r = await run("cluster", "apply", "--file", file("s4.yaml", s), "--inventory", path.join(dir, "inv.json"), "--prune");
            assert.equal(r.code, 0, r.err);
            await other.apply(cm("doomed", "theirs"));
            await other.apply(svc("doomed", "their-svc"));
            const rv = (await client.get("v1", "ConfigMap", "theirs", "doomed"))?.metadata.resourceVersion;

            const without = file("s5.yaml", [ns("team"), cm("team", "a"), cm("team", "d")]);
            r = await run("cluster", "diff", "--file", without, "--inventory", path.join(dir, "inv.json"));
            assert.equal(r.code, 0, r.err);
            assert.match(
                r.out,
                /^deleted _doomed__Namespace \(warning: the namespace holds 2 objects outside the inventory that deleting it deletes too: doomed_their-svc__Service, doomed_theirs__ConfigMap; move them out or annotate the Namespace kustomize\.toolkit\.fluxcd\.io\/prune: disabled\)$/m,
            );
            assert.match(r.out, /^deleted doomed_ours__ConfigMap$/m);
            assert.equal((await client.get("v1", "ConfigMap", "theirs", "doomed"))?.metadata.resourceVersion, rv, "the preview changed something");
            assert.ok(await client.get("v1", "Namespace", "doomed"), "the preview deleted the namespace");

            r = await run("cluster", "apply", "--file", without, "--inventory", path.join(dir, "inv.json"), "--prune");
            assert.equal(r.code, 0, r.err);
            assert.match(r.out, /^deleted _doomed__Namespace \(warning: the namespace holds 2 objects outside the inventory/m);
        });

        it("apply names the fields it took over from another field manager", async () => {
            await other.apply(cm("team", "shared", { level: "info", owner: "ops" }));
            const r = await run("cluster", "apply", "--file", file("s6.yaml", [ns("team"), cm("team", "shared", { level: "debug", owner: "ops" })]));
            assert.equal(r.code, 0, r.err);
            assert.match(r.out, /^configured team_shared__ConfigMap \(data\.level: info -> debug\) \[took over from kubectl-edit: data\.level\]$/m);
            const live = await client.get("v1", "ConfigMap", "shared", "team");
            assert.deepEqual((live as { data?: Record<string, string> }).data, { level: "debug", owner: "ops" });
        });
    });
}

describe("hostile input: a killed `pulumi up` mid-bootstrap, then a smaller bootstrap (FleetSync, API test server)", function () {
    this.timeout(300_000);

    it("the next run prunes what the killed one created: the cluster holds exactly the new inventory", async () => {
        const t = new TempGit("gitops-hostile-killed-bootstrap-");
        const api = await startTestApiServer();
        const env = { GITOPS_CACHE_DIR: process.env.GITOPS_CACHE_DIR! };
        let host = await startProviderHost({ env });
        let flux: FluxGitEmulation | undefined;
        try {
            const repo = t.bare("fleet", { "README.md": "fleet\n" });
            const fx = fleetSyncFixture({ repo, kubeconfig: kubeconfigWithToken(api.kubeconfig) });
            flux = new FluxGitEmulation(api, { repo, clusterPath: fx.clusterPath }).start();
            const provider = await serializeProvider(fleetSyncProvider);

            // Deployments cannot be applied (connections reset, retried): the host is killed while stage 1 is in flight.
            api.faults.next(10_000, "reset", (r) => r.method === "PATCH" && r.path.includes("/deployments/"));
            const inputs = (await host.check({}, { ...fx.inputs, __provider: provider })).inputs;
            host.create(inputs).catch(() => undefined);
            await until("the killed run to reach stage 1 (a Deployment PATCH)", async () => (api.requests.some((r) => r.method === "PATCH" && r.path.includes("/deployments/")) ? true : undefined), 60_000, 50);
            host.kill();
            await host.stop();
            api.faults.clear();
            assert.ok(api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "helmreleases.helm.toolkit.fluxcd.io"), "the killed run created the helm CRDs");
            assert.ok(!api.get("apps/v1", "Deployment", "helm-controller", "flux-system"), "the killed run did not finish");

            // The next `pulumi up` has no state (the create never returned) and no helm-controller.
            const helm = (o: { kind: string; metadata: { name: string }; spec?: { group?: string } }) =>
                o.metadata.name === "helm-controller" || (o.kind === "CustomResourceDefinition" && o.spec?.group === "helm.toolkit.fluxcd.io");
            const smaller = { ...fx.inputs, bootstrap: fx.inputs.bootstrap.filter((o: any) => !helm(o)), __provider: provider };
            host = await startProviderHost({ env });
            const { outs } = await host.create((await host.check({}, smaller)).inputs);
            const inventory = (outs.inventory as Array<{ id: string }>).map((e) => e.id).sort();
            assert.ok(!inventory.some((id) => id.includes("helm-controller") || id.includes("helm.toolkit")), inventory.join(","));
            assert.deepEqual(appliedIds(api), inventory, "the cluster holds exactly the inventory: nothing orphaned by the killed run");
            assert.ok(!api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "helmreleases.helm.toolkit.fluxcd.io"), "the orphaned CRD was pruned");
            assert.equal(outs.commit, git(["--git-dir", repo, "rev-parse", "main"]).trim());
            // The record in the cluster says the same.
            const record = api.get("v1", "ConfigMap", "gitops-bootstrap-inventory.flux-system", "kube-system");
            assert.deepEqual(JSON.parse(record.data["inventory.json"]).entries.map((e: { id: string }) => e.id).sort(), inventory);
        } finally {
            await flux?.stop();
            await host.stop();
            await api.stop();
            t.cleanup();
        }
    });
});
