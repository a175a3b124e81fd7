/**
 * Disaster-recovery drill through the real dynamic provider host: the cluster is lost (the API
 * test server wiped), the next preview must show it, and the next update rebuilds it from Git at
 * the same revision without touching Git.
 */
import { strict as assert } from "assert";
import { fleetSyncProvider } from "../../components/fleet-sync";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { git, TempGit } from "../helpers/git";
import { fleetSyncFixture, FluxGitEmulation, kubeconfigWithToken, ProviderHost, serializeProvider, startProviderHost } from "../helpers/provider-host";

describe("DR drill: FleetSync rebuilds a lost cluster from Git", function () {
    this.timeout(120_000);
    let t: TempGit;
    let api: TestApiServer;
    let host: ProviderHost;
    let flux: FluxGitEmulation;

    before(async () => {
        t = new TempGit("fleetsync-dr-");
        api = await startTestApiServer();
        // Progress goes over the Engine's gRPC Log here (PULUMI_NODEJS_ENGINE set for the host).
        host = await startProviderHost({ env: { GITOPS_CACHE_DIR: process.env.GITOPS_CACHE_DIR! }, engineEnv: true });
    });
    after(async () => {
        await flux?.stop();
        await host?.stop();
        await api?.stop();
        t?.cleanup();
    });

    it("wipe -> diff shows the loss -> update re-bootstraps and waits for the same revision; Git untouched", async () => {
        const provider = await serializeProvider(fleetSyncProvider);
        const repo = t.bare("fleet", { "README.md": "fleet\n" });
        const fx = fleetSyncFixture({ repo, kubeconfig: kubeconfigWithToken(api.kubeconfig) });
        flux = new FluxGitEmulation(api, { repo, clusterPath: fx.clusterPath }).start();
        const inputs = (await host.check({}, { ...fx.inputs, __provider: provider })).inputs;
        const { id, outs: state } = await host.create(inputs);
        const commit = state.commit as string;
        const commits = git(["--git-dir", repo, "rev-list", "--count", "main"]).trim();
        assert.equal(state.recoverySeconds, undefined, "a first create is not a recovery");

        // The cluster is lost and comes back empty at the same address.
        api.wipe();
        assert.equal(api.get("v1", "Namespace", "flux-system"), undefined);

        // The preview must not be a silent no-op.
        const logsBefore = host.logs.length;
        const d = await host.diff(id, state, (await host.check(inputs, { ...fx.inputs, __provider: provider })).inputs, inputs);
        assert.equal(d.changes, "some");
        const preview = await host.waitForMessage(/change\(s\)/, logsBefore);
        assert.match(preview, /\+ cluster\["_flux-system__Namespace"\]/);
        assert.match(preview, /\+ cluster\["flux-system_flux-system_kustomize\.toolkit\.fluxcd\.io_Kustomization"\]/);
        assert.match(preview, /\+ cluster\["flux-system_flux-system__Secret"\]/);
        assert.doesNotMatch(preview, /files\[/, "Git did not change");

        // The update rebuilds it.
        const { outs } = await host.update(id, state, inputs, inputs);
        assert.equal(outs.commit, commit, "same commit");
        assert.equal(git(["--git-dir", repo, "rev-parse", "main"]).trim(), commit, "no new commit");
        assert.equal(git(["--git-dir", repo, "rev-list", "--count", "main"]).trim(), commits);
        assert.equal(outs.appliedRevision, `main@sha1:${commit}`);
        for (const k of fx.kustomizations) {
            const o = api.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", k, "flux-system");
            assert.ok(o, `${k} back`);
            assert.equal(o.status.lastAppliedRevision, `main@sha1:${commit}`, k);
            assert.equal(o.status.conditions.find((c: any) => c.type === "Ready").status, "True", k);
        }
        assert.deepEqual(outs.inventory, state.inventory, "same inventory");
        for (const e of outs.inventory as Array<{ id: string }>) {
            const [ns, name, group, kind] = e.id.split("_");
            const found = api.list().some((o: any) => o.kind === kind && o.metadata.name === name && (o.metadata.namespace ?? "") === ns && (o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : "") === group);
            assert.ok(found, `${e.id} back in the cluster`);
        }
        assert.ok(api.get("v1", "Secret", "flux-system", "flux-system"), "deploy key back");
        assert.equal(typeof outs.recoverySeconds, "number");
        assert.ok(outs.recoverySeconds >= 0 && outs.recoverySeconds < 60, String(outs.recoverySeconds));
        assert.match(outs.summary, /recovered in [\d.]+s/);
        await host.waitForMessage(/cluster recovered from Git in [\d.]+s/);
        assert.ok(host.logs.some((l) => l.message.startsWith("committing") && l.ephemeral), "progress lines are ephemeral Log calls");

        // And now it is in sync again.
        const again = await host.diff(id, outs, (await host.check(inputs, { ...fx.inputs, __provider: provider })).inputs, inputs);
        assert.equal(again.changes, "none");
    });

    it("a replaced cluster (new API server address): diff names the kubeconfig, update bootstraps the new one at the same revision", async () => {
        const provider = await serializeProvider(fleetSyncProvider);
        const repo = t.bare("fleet-replaced", { "README.md": "fleet\n" });
        const fx = fleetSyncFixture({ repo, kubeconfig: kubeconfigWithToken(api.kubeconfig) });
        await flux?.stop();
        flux = new FluxGitEmulation(api, { repo, clusterPath: fx.clusterPath }).start();
        const inputs = (await host.check({}, { ...fx.inputs, __provider: provider })).inputs;
        const { id, outs: state } = await host.create(inputs);

        const api2 = await startTestApiServer();
        const flux2 = new FluxGitEmulation(api2, { repo, clusterPath: fx.clusterPath }).start();
        try {
            const moved = { ...fx.inputs, kubeconfig: kubeconfigWithToken(api2.kubeconfig) };
            const news = (await host.check(inputs, { ...moved, __provider: provider })).inputs;
            const from = host.logs.length;
            const d = await host.diff(id, state, news, inputs);
            assert.equal(d.changes, "some");
            assert.deepEqual(d.replaces, [], "a new cluster is an update, not a replacement of the fleet");
            const preview = await host.waitForMessage(/change\(s\)/, from);
            assert.match(preview, /~ kubeconfig/);
            assert.match(preview, /\+ cluster\["_flux-system__Namespace"\]/);

            const { outs } = await host.update(id, state, news, inputs);
            assert.equal(outs.commit, state.commit, "same commit");
            assert.equal(git(["--git-dir", repo, "rev-list", "--count", "main"]).trim(), "2", "no new commit");
            assert.equal(outs.appliedRevision, `main@sha1:${state.commit}`);
            assert.notEqual(outs.clusterFingerprint, state.clusterFingerprint);
            assert.equal(typeof outs.recoverySeconds, "number");
            assert.deepEqual(outs.inventory, state.inventory);
            for (const k of fx.kustomizations) assert.equal(api2.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", k, "flux-system")?.status?.lastAppliedRevision, `main@sha1:${state.commit}`, k);
            assert.ok(api2.get("v1", "Secret", "flux-system", "flux-system"), "deploy key on the new cluster");
        } finally {
            await flux2.stop();
            await api2.stop();
        }
    });
});
