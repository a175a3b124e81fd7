/**
 * FleetSync Diff, Update, Read and Delete through the real dynamic provider host (gRPC), with the
 * state passed between calls the way the engine keeps it (olds = last outputs).
 */
import { strict as assert } from "assert";
import { fleetSyncProvider } from "../../components/fleet-sync";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { git, TempGit } from "../helpers/git";
import { until } from "../helpers/wait";
import { fleetSyncFixture, FleetSyncFixture, FluxGitEmulation, kubeconfigWithToken, plain, ProviderHost, serializeProvider, startProviderHost } from "../helpers/provider-host";

/**
 * The preview lines the provider logged in its last diff: ["~ files[\"a\"]", "+ cluster[\"id\"]", ...].
 * The host's output arrives asynchronously: wait for the preview and as many lines as its header
 * counts (stdout may deliver them in pieces), or (expectNone) a moment.
 */
async function previewLines(host: ProviderHost, from: number, expectNone = false): Promise<string[]> {
    const lines = () => {
        const m = /FleetSync \S+: (\d+) change\(s\)\n((?:  [~+-] .*\n?)*)/.exec(host.messages().slice(from).join("\n") + "\n");
        return m ? { count: Number(m[1]), lines: m[2].split("\n").filter(Boolean).map((l) => l.trim()) } : undefined;
    };
    if (expectNone) {
        await new Promise((r) => setTimeout(r, 300));
        return lines()?.lines ?? [];
    }
    await host.waitForMessage(/FleetSync \S+: \d+ change\(s\)/, from);
    const got = await until("every line of the preview", async () => {
        const l = lines();
        return l && l.lines.length >= l.count ? l.lines : undefined;
    }, 30_000, 20);
    return got.value;
}

describe("FleetSync through the provider host: diff, update, read, delete", function () {
    this.timeout(120_000);
    let t: TempGit;
    let api: TestApiServer;
    let host: ProviderHost;
    let flux: FluxGitEmulation;
    let provider: string;
    let repo: string;
    let fx: FleetSyncFixture;
    let id: string;
    let state: Record<string, any>; // outputs, as the engine stores them
    let stateInputs: Record<string, any>;

    const count = () => Number(git(["--git-dir", repo, "rev-list", "--count", "main"]).trim());
    const head = () => git(["--git-dir", repo, "rev-parse", "main"]).trim();
    const news = async (inputs: Record<string, any>) => {
        const c = await host.check(plain(stateInputs ?? {}), { ...inputs, __provider: provider });
        assert.deepEqual(c.failures, []);
        return c.inputs;
    };
    const msgCount = () => host.messages().length;

    before(async () => {
        t = new TempGit("fleetsync-life-");
        api = await startTestApiServer();
        provider = await serializeProvider(fleetSyncProvider);
        host = await startProviderHost({ env: { GITOPS_CACHE_DIR: process.env.GITOPS_CACHE_DIR! } });
        repo = t.bare("fleet", { "README.md": "fleet\n", "docs/notes.md": "not ours\n" });
        fx = fleetSyncFixture({ repo, kubeconfig: kubeconfigWithToken(api.kubeconfig) });
        flux = new FluxGitEmulation(api, { repo, clusterPath: fx.clusterPath }).start();
        const inputs = await news(fx.inputs);
        const r = await host.create(inputs);
        id = r.id;
        state = r.outs;
        stateInputs = inputs;
    });
    after(async () => {
        await flux?.stop();
        await host?.stop();
        await api?.stop();
        t?.cleanup();
    });

    it("diff with unchanged inputs: no changes, nothing logged as a change, nothing written", async () => {
        const before = [head(), count(), api.resourceVersion];
        const from = msgCount();
        const d = await host.diff(id, state, await news(fx.inputs), stateInputs);
        assert.equal(d.changes, "none");
        assert.deepEqual(d.replaces, []);
        assert.deepEqual(await previewLines(host, from, true), []);
        assert.deepEqual([head(), count()], before.slice(0, 2));
        assert.equal(api.resourceVersion, before[2], "a diff wrote to the cluster");
    });

    it("diff with one file changed names exactly that file", async () => {
        const path = "apps/dev/kustomization.yaml";
        const files = { ...fx.files, [path]: fx.files[path] + "# one more line\n" };
        const from = msgCount();
        const d = await host.diff(id, state, await news({ ...fx.inputs, files }), stateInputs);
        assert.equal(d.changes, "some");
        assert.deepEqual(d.replaces, []);
        assert.deepEqual(await previewLines(host, from), [`~ files["${path}"]`]);
        // The host does not forward detailedDiff (pulumi SDK dynamic provider); if it ever does, it must agree.
        if (d.hasDetailedDiff) assert.deepEqual(Object.keys(d.detailedDiff), [`files["${path}"]`]);
    });

    it("preview of a cluster change names the changed bootstrap object", async () => {
        const bootstrap = fx.inputs.bootstrap.map((o: any) =>
            o.kind === "Deployment" && o.metadata.name === "source-controller" ? { ...o, spec: { ...o.spec, replicas: 2 } } : o,
        );
        const from = msgCount();
        const d = await host.diff(id, state, await news({ ...fx.inputs, bootstrap }), stateInputs);
        assert.equal(d.changes, "some");
        const lines = await previewLines(host, from);
        assert.ok(lines.includes(`~ cluster["flux-system_source-controller_apps_Deployment"]`), lines.join("\n"));
        assert.deepEqual(lines.filter((l) => l.includes("cluster[")), [`~ cluster["flux-system_source-controller_apps_Deployment"]`]);
        assert.ok(!lines.some((l) => l.includes("files[")), lines.join("\n"));
    });

    it("update commits once more, waits for Flux at the new commit; read returns the state", async () => {
        const path = "apps/dev/kustomization.yaml";
        const files = { ...fx.files, [path]: fx.files[path] + "# one more line\n" };
        const first = head();
        const n = count();
        const inputs = await news({ ...fx.inputs, files });
        const { outs } = await host.update(id, state, inputs, stateInputs);
        assert.equal(count(), n + 1);
        assert.equal(outs.commit, head());
        assert.equal(outs.previous, first);
        assert.equal(git(["--git-dir", repo, "rev-parse", "main~1"]).trim(), first);
        assert.deepEqual(git(["--git-dir", repo, "diff", "--name-only", first, "main"]).trim().split("\n"), [path]);
        assert.equal(outs.appliedRevision, `main@sha1:${head()}`);
        assert.equal(api.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system").status.lastAppliedRevision, `main@sha1:${head()}`);
        assert.deepEqual(outs.inventory, state.inventory);
        state = outs;
        stateInputs = inputs;

        // Same inputs again: no change, no commit.
        assert.equal((await host.diff(id, state, await news({ ...fx.inputs, files }), stateInputs)).changes, "none");

        const r = await host.read(id, state, stateInputs);
        assert.equal(r.id, id);
        assert.equal(r.props.commit, state.commit);
        assert.deepEqual(r.props.inventory, state.inventory);
        assert.equal(typeof r.props.__provider, "string");
    });

    it("delete removes exactly the owned files from Git and nothing else", async () => {
        // Another writer adds a file outside the stack's paths after our last sync.
        t.commit(repo, "main", { "shared/team.yaml": "team: platform\n" }, "shared file");
        const before = head();
        const objectsBefore = api.list().length;
        await host.delete(id, state, stateInputs);
        const tree = git(["--git-dir", repo, "ls-tree", "-r", "--name-only", "main"]).trim().split("\n").sort();
        assert.deepEqual(tree, ["README.md", "docs/notes.md", "shared/team.yaml"]);
        assert.equal(git(["--git-dir", repo, "rev-parse", "main~1"]).trim(), before, "one commit on top");
        const removed = git(["--git-dir", repo, "diff", "--name-status", before, "main"]).trim().split("\n").map((l) => l.split("\t"));
        assert.deepEqual(removed.map(([s]) => s), removed.map(() => "D"));
        assert.deepEqual(removed.map(([, p]) => p).sort(), Object.keys(fx.files).sort());
        assert.equal(git(["--git-dir", repo, "show", "main:README.md"]), "fleet\n");
        // Git only: the cluster keeps what it runs.
        assert.equal(api.list().length, objectsBefore);
        assert.ok(api.get("v1", "Namespace", "flux-system"));
    });
});
