/**
 * A run that dies between the commit and the wait, through the real provider host: the commit is
 * in Git but Flux never confirmed it. The next run must converge without a second commit.
 */
import { strict as assert } from "assert";
import { fleetSyncProvider } from "../../components/fleet-sync";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { git, TempGit } from "../helpers/git";
import { appliedIds, fleetSyncFixture, FleetSyncFixture, FluxGitEmulation, kubeconfigWithToken, ProviderHost, serializeProvider, startProviderHost } from "../helpers/provider-host";

describe("faults: killed between commit and wait", function () {
    this.timeout(180_000);
    let t: TempGit;
    let api: TestApiServer;
    let host: ProviderHost;
    let flux: FluxGitEmulation;
    let provider: string;
    let repo: string;
    let fx: FleetSyncFixture;
    let id: string;
    let state: Record<string, any>;
    let stateInputs: Record<string, any>;

    const head = () => git(["--git-dir", repo, "rev-parse", "main"]).trim();
    const count = () => Number(git(["--git-dir", repo, "rev-list", "--count", "main"]).trim());
    const newHost = () => startProviderHost({ env: { GITOPS_CACHE_DIR: process.env.GITOPS_CACHE_DIR! } });
    const check = async (olds: Record<string, any>, news: Record<string, any>) => (await host.check(olds, { ...news, __provider: provider })).inputs;

    before(async () => {
        t = new TempGit("fleetsync-crash-");
        api = await startTestApiServer();
        provider = await serializeProvider(fleetSyncProvider);
        host = await newHost();
        repo = t.bare("fleet", { "README.md": "fleet\n" });
        fx = fleetSyncFixture({ repo, kubeconfig: kubeconfigWithToken(api.kubeconfig), waitTimeoutSeconds: 2 });
        flux = new FluxGitEmulation(api, { repo, clusterPath: fx.clusterPath }).start();
    });
    after(async () => {
        await flux?.stop();
        await host?.stop();
        await api?.stop();
        t?.cleanup();
    });

    it("create: Flux does not confirm in time -> create fails after the commit; the next create converges, no duplicate commit", async () => {
        flux.paused = true;
        const inputs = await check({}, fx.inputs);
        await assert.rejects(host.create(inputs), /revision [0-9a-f]{40} not applied after 2s/);
        const committed = head();
        assert.equal(count(), 2, "committed before the wait");
        assert.ok(api.get("v1", "Namespace", "flux-system"), "bootstrap applied before the wait");

        // The process is gone; a new `pulumi up` starts a new host. Flux catches up meanwhile.
        host.kill();
        await host.stop();
        host = await newHost();
        flux.paused = false;
        const r = await host.create(await check({}, fx.inputs));
        assert.equal(r.outs.commit, committed);
        assert.equal(count(), 2, "no duplicate commit");
        assert.equal(r.outs.appliedRevision, `main@sha1:${committed}`);
        assert.deepEqual(appliedIds(api), (r.outs.inventory as Array<{ id: string }>).map((e) => e.id).sort(), "nothing orphaned");
        id = r.id;
        state = r.outs;
        stateInputs = inputs;
    });

    it("update: the host is killed (SIGKILL) while waiting -> the next update converges on the same commit", async () => {
        const path = "apps/dev/kustomization.yaml";
        const files = { ...fx.files, [path]: fx.files[path] + "# v2\n" };
        const v2 = { ...fx.inputs, files, waitTimeoutSeconds: 60 };
        const before = head();
        flux.paused = true;
        const from = host.messages().length;
        const pending = host.update(id, state, await check(stateInputs, v2), stateInputs);
        pending.catch(() => undefined);
        // Wait until the commit is pushed and the provider is waiting for Flux, then kill it.
        await host.waitForMessage(/waiting for Flux to apply/, from, 30_000).then(async () => {
            for (let i = 0; i < 100 && head() === before; i++) await new Promise((r) => setTimeout(r, 50));
        });
        const committed = head();
        assert.notEqual(committed, before, "the update committed before it was killed");
        host.kill();
        await assert.rejects(pending);
        await host.stop();

        // The state still holds v1 (the update never returned). Next run: same inputs, new host.
        host = await newHost();
        flux.paused = false;
        const d = await host.diff(id, state, await check(stateInputs, v2), stateInputs);
        assert.equal(d.changes, "some", "the state is behind the inputs");
        const { outs } = await host.update(id, state, await check(stateInputs, v2), stateInputs);
        assert.equal(outs.commit, committed);
        assert.equal(head(), committed, "no duplicate commit");
        assert.equal(count(), 3);
        assert.equal(outs.appliedRevision, `main@sha1:${committed}`);
        for (const k of fx.kustomizations) assert.equal(api.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", k, "flux-system").status.lastAppliedRevision, `main@sha1:${committed}`, k);
        assert.deepEqual(appliedIds(api), (outs.inventory as Array<{ id: string }>).map((e) => e.id).sort(), "nothing orphaned");
    });
});
