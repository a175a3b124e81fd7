/**
 * FleetSync Create through the real dynamic provider host (gRPC), against real git and the API
 * test server: commits the fleet, applies the bootstrap, waits for Flux, returns no secret.
 */
import { strict as assert } from "assert";
import { fleetSyncProvider } from "../../components/fleet-sync";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { git, TempGit } from "../helpers/git";
import {
    allStrings, DEPLOY_KEY_MARKER, fleetSyncFixture, FluxGitEmulation, KUBE_TOKEN, kubeconfigWithToken, ProviderHost,
    secret, serializeProvider, startProviderHost,
} from "../helpers/provider-host";

const GIT_TOKEN = "ghp_fleetsync0create0test0token0x";

describe("FleetSync through the provider host: create", function () {
    this.timeout(120_000);
    let t: TempGit;
    let api: TestApiServer;
    let host: ProviderHost;
    let flux: FluxGitEmulation;
    let provider: string;

    before(async () => {
        t = new TempGit("fleetsync-create-");
        api = await startTestApiServer();
        provider = await serializeProvider(fleetSyncProvider);
        host = await startProviderHost({ env: { GITOPS_CACHE_DIR: process.env.GITOPS_CACHE_DIR!, ...(process.env.PROVIDER_HOST_TRACE ? { GITOPS_GIT_TRACE: "1" } : {}) } });
    });
    after(async () => {
        await flux?.stop();
        await host?.stop();
        await api?.stop();
        t?.cleanup();
    });

    it("commits the fleet, bootstraps the cluster, waits until Flux applied the commit, and returns no secret", async () => {
        const repo = t.bare("fleet", { "README.md": "fleet\n" });
        const kc = kubeconfigWithToken(api.kubeconfig);
        const fx = fleetSyncFixture({ repo, kubeconfig: kc });
        // A git credential too: it must stay an input (test/engine/hostile-secrets.test.ts pushes with one).
        fx.inputs.gitAuth = secret({ httpsToken: GIT_TOKEN });
        flux = new FluxGitEmulation(api, { repo, clusterPath: fx.clusterPath }).start();

        // The dynamic provider host does not accept secrets, so (like the engine) we send them plain.
        assert.equal(host.acceptSecrets, false);
        const checked = await host.check({}, { ...fx.inputs, __provider: provider });
        assert.deepEqual(checked.failures, []);
        const { id, outs } = await host.create(checked.inputs);
        assert.equal(id, "dev:main");

        // Git: one new commit on main holding every declared file, README kept.
        const head = git(["--git-dir", repo, "rev-parse", "main"]).trim();
        assert.equal(outs.commit, head);
        assert.equal(git(["--git-dir", repo, "rev-list", "--count", "main"]).trim(), "2");
        const tree = git(["--git-dir", repo, "ls-tree", "-r", "--name-only", "main"]).trim().split("\n").sort();
        assert.deepEqual(tree, ["README.md", ...Object.keys(fx.files)].sort());
        for (const [p, content] of Object.entries(fx.files)) assert.equal(git(["--git-dir", repo, "show", `main:${p}`]), content, p);

        // Cluster: namespace, CRDs, controllers, the deploy key Secret.
        assert.ok(api.get("v1", "Namespace", "flux-system"));
        for (const crd of ["gitrepositories.source.toolkit.fluxcd.io", "kustomizations.kustomize.toolkit.fluxcd.io", "helmreleases.helm.toolkit.fluxcd.io"]) {
            assert.ok(api.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd), crd);
        }
        for (const d of ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"]) assert.ok(api.get("apps/v1", "Deployment", d, "flux-system"), d);
        const key = api.get("v1", "Secret", "flux-system", "flux-system");
        assert.ok(key, "deploy key Secret applied");
        assert.ok(Buffer.from(key.data.identity, "base64").toString().includes(DEPLOY_KEY_MARKER));

        // Flux Ready at the commit, for every Kustomization of the environment.
        assert.equal(outs.appliedRevision, `main@sha1:${head}`);
        for (const k of fx.kustomizations) {
            const o = api.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", k, "flux-system");
            assert.ok(o, k);
            assert.equal(o.status.lastAppliedRevision, `main@sha1:${head}`, k);
        }
        assert.equal(api.get("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system").status.artifact.revision, `main@sha1:${head}`);

        // Outputs: commit, inventory, and no secret anywhere (the Struct the host returned).
        assert.equal(outs.previous, git(["--git-dir", repo, "rev-parse", "main~1"]).trim());
        const ids = (outs.inventory as Array<{ id: string }>).map((e) => e.id);
        assert.ok(ids.includes("_flux-system__Namespace"), ids.join(","));
        assert.ok(ids.includes("flux-system_flux-system__Secret"), ids.join(","));
        assert.ok(ids.includes("flux-system_flux-system_kustomize.toolkit.fluxcd.io_Kustomization"), ids.join(","));
        assert.equal(ids.length, fx.inputs.bootstrap.length + 1);
        const text = JSON.stringify(outs);
        assert.ok(!text.includes(DEPLOY_KEY_MARKER), "private key in outputs");
        assert.ok(!text.includes(KUBE_TOKEN), "kubeconfig token in outputs");
        assert.ok(!text.includes(GIT_TOKEN), "git token in outputs");
        assert.equal(outs.gitAuth, undefined);
        assert.ok(!allStrings(outs).some((s) => s.includes("PRIVATE KEY")), "a private key in outputs");
        assert.equal(outs.kubeconfig, undefined);
        assert.equal(outs.secrets, undefined);
        assert.equal(typeof outs.__provider, "string");
        assert.match(outs.summary, /commit [0-9a-f]{12}/);

        // Progress lines reached the user.
        await host.waitForMessage(/committing \d+ files to main/);
        await host.waitForMessage(/waiting for Flux to apply [0-9a-f]{12} \(4 Kustomizations\)/);
        await host.waitForMessage(/revision \S+ applied by 4 Kustomizations/);
        const said = [...host.messages(), ...host.stdout, ...host.stderr, ...host.logs.map((l) => l.message)].join("\n");
        assert.ok(!said.includes(DEPLOY_KEY_MARKER) && !said.includes(KUBE_TOKEN) && !said.includes(GIT_TOKEN), "a secret in the provider's output");
    });
});
