/**
 * `gitops status` and `gitops promote artifact` end to end with real parts except Flux: a real
 * bare fleet repo (git CLI), the real docker-registry, stack files in a temp project, and the
 * Kubernetes API test server standing in for the cluster, whose Flux objects report the revision
 * the test sets (the e2e suite does the same with the real source-controller).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { applyStaged, ClusterClient } from "../../engine/cluster";
import { main } from "../../engine/cli";
import { API, KubeObject } from "../../engine/flux/api";
import { ensureBareRepo, runGit, syncFiles } from "../../engine/git";
import { inspectArtifact, publishFleetCommit } from "../../engine/oci";
import { computeMetrics, readHistory } from "../../engine/report/metrics";
import { reconcile } from "../../engine/reconcile";
import { listPromotions } from "../../engine/promote";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { fluxCrds } from "../kube-apiserver/crds";
import { startRegistry, TestRegistry } from "../helpers/registry";

const AUTHOR = { name: "Test", email: "test@example.org" };
const KS = ["flux-system", "infrastructure-releases", "infrastructure-manifests", "apps"];

function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = "";
    let err = "";
    return main(args, { out: (t) => void (out += t), err: (t) => void (err += t) }).then((code) => ({ code, out, err }));
}

function stackFile(dir: string, stack: string, registryHost: string): void {
    const text = [
        "config:",
        "  gitops:cluster:",
        "    kind: existing",
        "    existing:",
        "      context: test",
        "  gitops:fleet:",
        "    url: fleet.git",
        "    branch: main",
        "    oci:",
        `      repository: oci://${registryHost}/team/fleet`,
        "",
    ].join("\n");
    fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), text);
}

describe("oci: gitops status and promotion by digest (real git, real registry, API test server)", function () {
    this.timeout(120000);
    let reg: TestRegistry;
    let api: TestApiServer;
    let client: ClusterClient;
    let dir: string;
    let repo: string;
    let kubeconfig: string;
    let commit1: string;
    let digest1: string;

    before(async () => {
        reg = await startRegistry();
        api = await startTestApiServer({ crdEstablishDelayMs: 50 });
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-status-"));
        process.env.GITOPS_CACHE_DIR = path.join(dir, ".cache");
        repo = path.join(dir, "fleet.git");
        await ensureBareRepo(repo);
        stackFile(dir, "dev", reg.host);
        stackFile(dir, "test", reg.host);
        kubeconfig = path.join(dir, "kubeconfig");
        fs.writeFileSync(kubeconfig, api.kubeconfig);
        commit1 = (await syncFiles({ repo, branch: "main", files: { "clusters/dev/a.yaml": "a: 1\n", "clusters/test/a.yaml": "a: 1\n" }, owned: ["clusters/"], author: AUTHOR, message: "Reconcile dev", createBranch: true })).commit;
        digest1 = (await publishFleetCommit({ repo, branch: "main", commit: commit1, target: { repository: `oci://${reg.host}/team/fleet`, tag: "dev" } })).digest;

        client = ClusterClient.fromKubeconfig(api.kubeconfig, undefined, { retry: { baseMs: 5, maxMs: 500 } });
        api.flux.auto = true;
        api.flux.rollout = false;
        api.flux.revision = `dev@${digest1}`;
        const objs: KubeObject[] = [
            ...(fluxCrds() as KubeObject[]),
            { apiVersion: "v1", kind: "Namespace", metadata: { name: "flux-system" } },
            { apiVersion: API.source, kind: "OCIRepository", metadata: { name: "flux-system", namespace: "flux-system" }, spec: { interval: "1m", url: `oci://${reg.host}/team/fleet`, ref: { tag: "dev" } } },
            ...KS.map((name): KubeObject => ({ apiVersion: API.kustomize, kind: "Kustomization", metadata: { name, namespace: "flux-system" }, spec: { interval: "10m", path: "./clusters/dev", prune: true, sourceRef: { kind: "OCIRepository", name: "flux-system" } } })),
        ];
        await applyStaged(client, objs);
        api.flux.setRevision(`dev@${digest1}`);
    });
    after(async () => {
        client?.close();
        await api?.stop();
        await reg?.stop();
        delete process.env.GITOPS_CACHE_DIR;
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("publishing a commit is idempotent and leads back to it: revision <branch>@sha1:<commit>, created = commit time", async () => {
        const again = await publishFleetCommit({ repo, branch: "main", commit: commit1, target: { repository: `oci://${reg.host}/team/fleet`, tag: "dev" } });
        assert.strictEqual(again.digest, digest1);
        assert.strictEqual(again.pushed, false);
        const a = await inspectArtifact(`oci://${reg.host}/team/fleet:dev`);
        assert.strictEqual(a.meta.revision, `main@sha1:${commit1}`);
        assert.strictEqual(a.meta.source, repo);
        const ct = (await runGit(["show", "-s", "--format=%ct", commit1], { gitDir: repo })).stdout.trim();
        assert.strictEqual(Date.parse(a.meta.created) / 1000, Number(ct));
        // Same commit into another repository: same digest (the digest depends on the commit only).
        const other = await publishFleetCommit({ repo, branch: "main", commit: commit1, target: { repository: `oci://${reg.host}/mirror/fleet`, tag: "x" } });
        assert.strictEqual(other.digest, digest1);
    });

    it("status: in sync when every Kustomization applied the digest, with the source commit as its trail", async () => {
        const r = await run(["status", "--stack", "dev", "-o", "json", "--dir", dir, "--kubeconfig", kubeconfig, "--context", "test"]);
        assert.strictEqual(r.code, 0, r.err + r.out);
        const [env] = JSON.parse(r.out).environments;
        assert.strictEqual(env.stack, "dev");
        assert.strictEqual(env.inSync, true, env.differences.join("\n"));
        assert.strictEqual(env.desired.mode, "oci");
        assert.strictEqual(env.desired.digest, digest1);
        assert.strictEqual(env.desired.revision, `dev@${digest1}`);
        assert.strictEqual(env.desired.sourceRevision, `main@sha1:${commit1}`);
        assert.strictEqual(env.trail.commit, commit1);
        assert.strictEqual(env.actual.source.kind, "OCIRepository");
        assert.strictEqual(env.actual.source.revision, `dev@${digest1}`);
        assert.deepStrictEqual(env.actual.kustomizations.map((k: { name: string; revision: string }) => [k.name, k.revision]), KS.map((k) => [k, `dev@${digest1}`]));
        assert.ok(env.since, "since the last Ready transition");
        const text = await run(["status", "--stack", "dev", "--dir", dir, "--kubeconfig", kubeconfig, "--context", "test"]);
        assert.match(text.out, /^dev: in sync since /m);
        assert.match(text.out, new RegExp(`trail     commit ${commit1}`));
    });

    it("status: a new commit published but not applied is out of sync, naming each object and what it has", async () => {
        const c2 = (await syncFiles({ repo, branch: "main", files: { "clusters/dev/a.yaml": "a: 2\n", "clusters/test/a.yaml": "a: 1\n" }, owned: ["clusters/"], author: AUTHOR, message: "Reconcile dev", createBranch: true })).commit;
        const d2 = (await publishFleetCommit({ repo, branch: "main", commit: c2, target: { repository: `oci://${reg.host}/team/fleet`, tag: "dev" } })).digest;
        assert.notStrictEqual(d2, digest1);
        const r = await run(["status", "--stack", "dev", "-o", "json", "--dir", dir, "--kubeconfig", kubeconfig, "--context", "test"]);
        assert.strictEqual(r.code, 1);
        const [env] = JSON.parse(r.out).environments;
        assert.strictEqual(env.inSync, false);
        assert.strictEqual(env.trail.commit, c2);
        assert.strictEqual(env.differences.length, 1 + KS.length);
        assert.match(env.differences[0], new RegExp(`^OCIRepository flux-system/flux-system: artifact dev@sha256:${digest1.slice(7, 19)}, desired dev@sha256:${d2.slice(7, 19)}$`));
        assert.ok(env.since, "since the artifact was created");
        // Flux catches up.
        api.flux.setRevision(`dev@${d2}`);
        const after = JSON.parse((await run(["status", "--stack", "dev", "-o", "json", "--dir", dir, "--kubeconfig", kubeconfig, "--context", "test"])).out).environments[0];
        assert.strictEqual(after.inSync, true, after.differences.join("\n"));
        digest1 = d2;
        commit1 = c2;
    });

    it("status: an unreachable cluster is reported, not thrown, and the exit code says not in sync", async () => {
        const r = await run(["status", "--stack", "test", "-o", "json", "--dir", dir, "--kubeconfig", kubeconfig, "--context", "nope"]);
        assert.strictEqual(r.code, 1, r.err);
        const [env] = JSON.parse(r.out).environments;
        assert.match(env.actual.error, /nope/);
        assert.match(env.desired.error, /no artifact at oci:\/\/.*\/team\/fleet:test/, "test has no artifact yet");
        assert.deepStrictEqual(env.differences.map((d: string) => d.split(":")[0]), ["desired state not read", "cluster not read"]);
    });

    it("promotes dev -> test by digest: the same digest under test's tag, no rebuild, and a trail the report reads", async () => {
        const head0 = (await runGit(["rev-parse", "main"], { gitDir: repo })).stdout.trim();
        // A wrong verified digest changes nothing.
        const bad = await run(["promote", "artifact", "--from", "dev", "--to", "test", "--verified-digest", `sha256:${"f".repeat(64)}`, "--dir", dir, "--author", "Ann <ann@example.org>"]);
        assert.strictEqual(bad.code, 1);
        assert.match(bad.err, /now holds sha256:.*not the verified sha256:f{64}; refusing to promote an unverified artifact/);
        assert.strictEqual((await runGit(["rev-parse", "main"], { gitDir: repo })).stdout.trim(), head0);
        assert.strictEqual((await fetch(`${reg.url}/v2/team/fleet/manifests/test`, { method: "HEAD" })).status, 404, "test tag not written");

        const r = await run(["promote", "artifact", "--from", "dev", "--to", "test", "--verified-digest", digest1, "--dir", dir, "--author", "Ann <ann@example.org>", "-o", "json"]);
        assert.strictEqual(r.code, 0, r.err);
        const res = JSON.parse(r.out);
        assert.strictEqual(res.digest, digest1);
        assert.strictEqual(res.copy.pushed, true);
        assert.deepStrictEqual(res.copy.copied, [], "a manifest copy: no blob re-uploaded");
        assert.strictEqual((await inspectArtifact(`oci://${reg.host}/team/fleet:test`)).digest, digest1);

        const trail = await listPromotions(repo, { branches: ["main"] });
        const rec = trail.find((t) => t.commit === res.commit)!;
        assert.ok(rec, "the promotion commit is in the trail");
        assert.strictEqual(rec.kind, "promotion");
        assert.deepStrictEqual(rec.from, { stage: "dev", revision: commit1 });
        assert.strictEqual(rec.to, "test");
        assert.strictEqual(rec.model, "oci");
        assert.strictEqual(rec.by, "Ann <ann@example.org>");
        assert.strictEqual(rec.trailers["Promoted-Digest"], digest1);
        assert.strictEqual(rec.trailers["Promoted-Artifact"], `oci://${reg.host}/team/fleet:test@${digest1}`);
        assert.strictEqual((await runGit(["rev-parse", `${res.commit}^{tree}`], { gitDir: repo })).stdout.trim(), (await runGit(["rev-parse", `${head0}^{tree}`], { gitDir: repo })).stdout.trim(), "the trail commit changes no file");

        const metrics = computeMetrics({ commits: await readHistory(repo, { branches: ["main"] }) });
        const dep = metrics.deployments.find((d) => d.stack === "test" && d.commit === res.commit);
        assert.ok(dep, "gitops report counts the promotion as a deployment of test");
        assert.strictEqual(dep!.kind, "promotion");

        // Re-running is safe: nothing copied again.
        const again = JSON.parse((await run(["promote", "artifact", "--from", "dev", "--to", "test", "--verified-digest", digest1, "--dir", dir, "--author", "Ann <ann@example.org>", "-o", "json"])).out);
        assert.strictEqual(again.copy.pushed, false);
    });

    it("status of a Git stack: desired is the branch head, and the trail shows the promotion recorded on it", async () => {
        fs.writeFileSync(
            path.join(dir, "Pulumi.prod.yaml"),
            ["config:", "  gitops:cluster:", "    kind: existing", "  gitops:flux:", "    namespace: flux-git", "  gitops:fleet:", "    url: fleet.git", "    branch: main", ""].join("\n"),
        );
        const head = (await runGit(["rev-parse", "main"], { gitDir: repo })).stdout.trim();
        await applyStaged(client, [
            { apiVersion: "v1", kind: "Namespace", metadata: { name: "flux-git" } },
            { apiVersion: API.source, kind: "GitRepository", metadata: { name: "flux-system", namespace: "flux-git" }, spec: { interval: "1m", url: "http://example.invalid/fleet.git", ref: { branch: "main" } } },
            ...KS.map((name): KubeObject => ({ apiVersion: API.kustomize, kind: "Kustomization", metadata: { name, namespace: "flux-git" }, spec: { interval: "10m", path: "./clusters/dev", prune: true, sourceRef: { kind: "GitRepository", name: "flux-system" } } })),
        ]);
        api.flux.setRevision(`main@sha1:${head}`);
        const r = await run(["status", "--stack", "prod", "-o", "json", "--dir", dir, "--kubeconfig", kubeconfig, "--context", "test"]);
        assert.ok(r.out, r.err);
        const [env] = JSON.parse(r.out).environments;
        assert.strictEqual(r.code, 0, env.differences.join("\n"));
        assert.strictEqual(env.desired.mode, "git");
        assert.strictEqual(env.desired.revision, `main@sha1:${head}`);
        assert.strictEqual(env.actual.source.kind, "GitRepository");
        assert.strictEqual(env.trail.commit, head);
        assert.strictEqual(env.trail.record.kind, "promotion", "the head is the promotion commit of the previous test");
        assert.deepStrictEqual(env.trail.record.from, { stage: "dev", revision: commit1 });
        const text = (await run(["status", "--stack", "prod", "--dir", dir, "--kubeconfig", kubeconfig, "--context", "test"])).out;
        assert.match(text, new RegExp(`trail     commit ${head} \\(promotion from dev@${commit1} by Ann <ann@example.org> at `));
    });

    it("reconcile (FleetSync) with gitops:fleet.oci: commits, publishes the commit, and waits until Flux applied that digest", async () => {
        const progress: string[] = [];
        // The API test server's Flux reports whatever revision it is told: tell it the digest as soon as it is published.
        const onProgress = (m: string) => {
            progress.push(m);
            const p = /^published \S+:dev at (sha256:[a-f0-9]{64})$/.exec(m);
            if (p) api.flux.setRevision(`dev@${p[1]}`);
        };
        const files = { "clusters/dev/a.yaml": "a: 3\n", "clusters/test/a.yaml": "a: 1\n" };
        const input = {
            fleet: { repo, branch: "main", files, owned: ["clusters/"], author: AUTHOR, message: "Reconcile dev\n\n{{changes}}" },
            oci: { repository: `oci://${reg.host}/team/fleet`, tag: "dev" },
            cluster: {
                kubeconfig: api.kubeconfig,
                bootstrap: [
                    { apiVersion: API.source, kind: "OCIRepository", metadata: { name: "flux-system", namespace: "flux-system" }, spec: { interval: "1m", url: `oci://${reg.host}/team/fleet`, ref: { tag: "dev" } } },
                ] as KubeObject[],
                fluxNamespace: "flux-system",
                kustomizations: KS,
                waitTimeoutMs: 20000,
                pollMs: 50,
            },
        };
        const r = await reconcile(input, {}, onProgress);
        assert.ok(r.artifact, progress.join("\n"));
        assert.strictEqual(r.artifact!.pushed, true);
        assert.strictEqual(r.appliedRevision, `dev@${r.artifact!.digest}`);
        const a = await inspectArtifact(`oci://${reg.host}/team/fleet:dev`);
        assert.strictEqual(a.digest, r.artifact!.digest);
        assert.strictEqual(a.meta.revision, `main@sha1:${r.commit}`);
        // Nothing changed: the same commit, the same digest, nothing pushed.
        const again = await reconcile(input, { inventory: r.inventory }, onProgress);
        assert.strictEqual(again.commit, r.commit);
        assert.strictEqual(again.artifact!.digest, r.artifact!.digest);
        assert.strictEqual(again.artifact!.pushed, false);
        assert.ok(progress.some((m) => m.startsWith(`unchanged ${reg.host}/team/fleet:dev at ${r.artifact!.digest}`)), progress.join("\n"));
    });

});
