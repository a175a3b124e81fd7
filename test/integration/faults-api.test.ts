/**
 * Faults on the way to the cluster, through the real provider host: the API server answering
 * 429/500 or resetting connections in the middle of the bootstrap apply. A run either rides them
 * out (retries) or fails; the next run converges with nothing lost and nothing orphaned.
 */
import { strict as assert } from "assert";
import { fleetSyncProvider } from "../../components/fleet-sync";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { git, TempGit } from "../helpers/git";
import { appliedIds, DEPLOY_KEY_MARKER, fleetSyncFixture, FleetSyncFixture, FluxGitEmulation, KUBE_TOKEN, kubeconfigWithToken, ProviderHost, serializeProvider, startProviderHost } from "../helpers/provider-host";

describe("faults: API server errors and resets mid-apply", function () {
    this.timeout(180_000);
    let t: TempGit;
    let api: TestApiServer;
    let host: ProviderHost;
    let flux: FluxGitEmulation;
    let provider: string;
    let repo: string;
    let fx: FleetSyncFixture;

    beforeEach(async () => {
        t = new TempGit("fleetsync-faults-");
        api = await startTestApiServer();
        provider ??= await serializeProvider(fleetSyncProvider);
        host = await startProviderHost({ env: { GITOPS_CACHE_DIR: process.env.GITOPS_CACHE_DIR! } });
        repo = t.bare("fleet", { "README.md": "fleet\n" });
        fx = fleetSyncFixture({ repo, kubeconfig: kubeconfigWithToken(api.kubeconfig) });
        flux = new FluxGitEmulation(api, { repo, clusterPath: fx.clusterPath }).start();
    });
    afterEach(async () => {
        await flux?.stop();
        await host?.stop();
        await api?.stop();
        t?.cleanup();
    });

    /** Converged: one commit on top of the base holding our files, every object applied and in the inventory, Flux at the commit. */
    function assertConverged(outs: Record<string, any>): void {
        const head = git(["--git-dir", repo, "rev-parse", "main"]).trim();
        assert.equal(outs.commit, head);
        assert.equal(git(["--git-dir", repo, "rev-list", "--count", "main"]).trim(), "2", "exactly one commit by us");
        assert.equal(outs.appliedRevision, `main@sha1:${head}`);
        const inventory = (outs.inventory as Array<{ id: string }>).map((e) => e.id).sort();
        assert.equal(inventory.length, fx.inputs.bootstrap.length + 1, "every bootstrap object and the deploy key");
        assert.deepEqual(appliedIds(api), inventory, "the cluster holds exactly the inventory: nothing lost, nothing orphaned");
        for (const k of fx.kustomizations) assert.equal(api.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", k, "flux-system")?.status?.lastAppliedRevision, `main@sha1:${head}`, k);
    }

    it("429 and 500 answers mid-apply are retried within the run", async () => {
        let faulted = 0;
        const applies = (r: { method: string; path: string }) => r.method === "PATCH" && /\/(deployments|services|customresourcedefinitions)\//.test(r.path) && ++faulted > 0;
        api.faults.next(3, "429", applies);
        api.faults.next(4, "500", applies);
        const inputs = (await host.check({}, { ...fx.inputs, __provider: provider })).inputs;
        const { outs } = await host.create(inputs);
        assert.equal(faulted, 7, "every injected fault was hit");
        assertConverged(outs);
    });

    it("a server that echoes the deploy key Secret back in its error: the error names the Secret and carries no secret; the next run converges", async () => {
        // The fault hits the one object that holds a secret, and quotes it back: the only way a
        // secret can reach the error. Resets or 500s on other kinds could never put one there.
        let echoed = 0;
        api.faults.next(100, "echo", (r) => r.method === "PATCH" && r.path.includes("/secrets/") && ++echoed > 0);
        const inputs = (await host.check({}, { ...fx.inputs, __provider: provider })).inputs;
        await assert.rejects(host.create(inputs), (e: Error) => {
            assert.match(e.message, /flux-system_flux-system__Secret: apply failed: HTTP 500: "upstream rejected the request: /);
            assert.ok(!e.message.includes(KUBE_TOKEN) && !e.message.includes(DEPLOY_KEY_MARKER), `a secret in the error: ${e.message}`);
            assert.ok(!/PRIVATE KEY-----\\n[A-Za-z0-9]/.test(e.message), `a key body in the error: ${e.message}`);
            return true;
        });
        assert.ok(echoed >= 1, `echo faults hit: ${echoed}`);
        const said = [...host.messages(), ...host.stdout, ...host.stderr].join("\n");
        assert.ok(!said.includes(DEPLOY_KEY_MARKER) && !said.includes(KUBE_TOKEN), "a secret in the provider's output");
        assert.equal(api.get("v1", "Secret", "flux-system", "flux-system"), undefined, "the Secret was not applied");

        api.faults.clear();
        const { outs } = await host.create(inputs);
        assertConverged(outs);
    });

    it("connection resets beyond the retry budget fail the run after the commit; the next run converges", async () => {
        let resets = 0;
        // Every Deployment PATCH resets until cleared: a finite count could run out before any one
        // request used up its budget (8 attempts, plus up to 3 resends on a reused socket), as six
        // Deployments share the faults.
        api.faults.next(10_000, "reset", (r) => r.method === "PATCH" && r.path.includes("/deployments/") && ++resets > 0);
        const inputs = (await host.check({}, { ...fx.inputs, __provider: provider })).inputs;
        await assert.rejects(host.create(inputs), (e: Error) => {
            assert.match(e.message, /_apps_Deployment: apply failed: .*(ECONNRESET|socket hang up)/);
            assert.ok(!e.message.includes(KUBE_TOKEN) && !e.message.includes(DEPLOY_KEY_MARKER), "a secret in the error");
            return true;
        });
        assert.ok(resets >= 8, `resets hit: ${resets}`);
        const committed = git(["--git-dir", repo, "rev-parse", "main"]).trim();
        assert.equal(git(["--git-dir", repo, "rev-list", "--count", "main"]).trim(), "2", "the commit happened before the apply failed");
        assert.ok(!api.get("apps/v1", "Deployment", "source-controller", "flux-system") || appliedIds(api).length < fx.inputs.bootstrap.length + 1, "the first run did not finish the apply");

        // The failed create left no state: the engine runs Create again.
        api.faults.clear();
        const { outs } = await host.create(inputs);
        assert.equal(outs.commit, committed, "no second commit");
        assertConverged(outs);
    });
});
