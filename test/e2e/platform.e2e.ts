/**
 * End to end with the real parts: the Pulumi CLI and Node.js language host, the Kubernetes
 * provider plugin, and the local control plane (engine/localcluster/controlplane.ts): etcd,
 * kube-apiserver, kube-controller-manager, kube-scheduler, kwok (a fake Node), and the real Flux
 * source-controller and kustomize-controller as processes, pulling the fleet repo over Git smart
 * HTTP. All built from Go modules by scripts/e2e-build.sh. The stack says `cluster.kind: local`,
 * so its LocalControlPlane resource adopts the running control plane. Nothing imitates Flux: every
 * status the suite waits on is written by the real controllers.
 *
 * Run: npm run test:e2e  (= scripts/e2e-build.sh, then mocha --config test/e2e/.mocharc.json)
 * A piece that could not be built is named with the reason, and only what needs it is skipped.
 */
import { strict as assert } from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { LocalControlPlane, missingBinaries, missingBinary, status } from "../../engine/localcluster/controlplane";
import { until } from "../helpers/wait";
import { binaries, previewSteps, PulumiProject, REPO } from "./lib/pulumi";

const BIN = process.env.GITOPS_E2E_BIN || "/var/cache/gitops-e2e/bin";
const STACK = "dev";
const PULUMI = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"];

function git(args: string[], cwd?: string): string {
    return execFileSync("git", args, {
        cwd,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, GIT_AUTHOR_NAME: "e2e", GIT_AUTHOR_EMAIL: "e2e@example.com", GIT_COMMITTER_NAME: "e2e", GIT_COMMITTER_EMAIL: "e2e@example.com", GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" },
    });
}

/** A bare fleet repo with a first commit on main (as `gitops` expects of an existing repo). */
function fleetRepo(root: string): string {
    const bare = path.join(root, "fleet.git");
    git(["init", "--bare", "--quiet", "--initial-branch=main", bare]);
    const w = path.join(root, "fleet-init");
    git(["init", "--quiet", "--initial-branch=main", w]);
    fs.writeFileSync(path.join(w, "README.md"), "# fleet (e2e)\n");
    git(["add", "-A"], w);
    git(["commit", "--quiet", "-m", "initial"], w);
    git(["push", "--quiet", bare, "HEAD:refs/heads/main"], w);
    fs.rmSync(w, { recursive: true, force: true });
    return bare;
}

/** Messages of the diagnostics in `pulumi preview --json` output. */
function diagnostics(stdout: string): string[] {
    const j = JSON.parse(stdout) as { diagnostics?: Array<{ message?: string }> };
    return (j.diagnostics ?? []).map((d) => d.message ?? "");
}

const head = (bare: string) => git(["rev-parse", "refs/heads/main"], bare).trim();
const tree = (bare: string) => git(["ls-tree", "-r", "--name-only", "refs/heads/main"], bare).split("\n").filter(Boolean);
const show = (bare: string, file: string) => git(["show", `refs/heads/main:${file}`], bare);

function stackConfig(o: { cluster: "local" | "none"; fleet: string; dir?: string; fleetPort?: number; tag: string }): string {
    return [
        "config:",
        "  gitops:cluster:",
        `    kind: ${o.cluster}`,
        ...(o.cluster === "local" ? ["    local:", `      dir: ${o.dir}`, `      fleetPort: ${o.fleetPort}`] : []),
        "  gitops:fleet:",
        `    url: ${o.fleet}`,
        "    branch: main",
        "  gitops:promotion:",
        "    order: [dev, test]",
        "  gitops:apps:",
        "    - name: echo-version",
        "      namespace: echo",
        "      image: registry.example.com/echo-version",
        `      tag: ${o.tag}`,
        "      port: 8080",
        "",
    ].join("\n");
}



const missingPulumi = binaries(BIN, PULUMI).missing;
const missingCluster = missingBinaries(BIN);
function explain(m: Record<string, string>): string {
    return Object.entries(m)
        .map(([n, why]) => `  ${n}: ${why.split("\n").join("\n    ")}`)
        .join("\n");
}
if (Object.keys(missingPulumi).length || Object.keys(missingCluster).length) {
    console.log(`e2e: pieces missing from ${BIN} (the tests that need them are skipped):\n${explain({ ...missingPulumi, ...missingCluster })}`);
}
const helmMissing = missingBinary(BIN, "helm-controller");
if (helmMissing) console.log(`e2e: helm-controller is not built here, so no HelmRelease is installed (its CRD comes with the upstream install): ${helmMissing}`);

describe("e2e: real Pulumi engine, real Flux on the local control plane (cluster.kind local)", function () {
    let root: string;
    let cp: LocalControlPlane;
    let project: PulumiProject;
    let fleet: string;
    const timings: Record<string, number> = {};

    before(async function () {
        if (Object.keys(missingPulumi).length || Object.keys(missingCluster).length) {
            console.log(`  skipped: needs ${Object.keys({ ...missingPulumi, ...missingCluster }).join(", ")}`);
            this.skip();
        }
        root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-e2e-"));
        fleet = fleetRepo(root);
        const t0 = Date.now();
        const lines: string[] = [];
        cp = await LocalControlPlane.start({ dir: path.join(root, "cp"), bin: BIN, fleetRoot: root, progress: (l) => lines.push(l) });
        timings.controlPlaneStart = (Date.now() - t0) / 1000;
        console.log(`  ${lines.join("\n  ")}`);
        project = new PulumiProject(BIN, root, STACK);
        await project.ok(["stack", "init", STACK]);
        project.writeStackConfig(stackConfig({ cluster: "local", fleet, dir: cp.dir, fleetPort: Number(new URL(cp.fleetUrl).port), tag: "1.0.0" }));
    });

    after(async function () {
        if (Object.keys(timings).length) console.log(`  timings (s): ${JSON.stringify(timings)}`);
        await cp?.stop();
        if (root && !process.env.GITOPS_E2E_KEEP) fs.rmSync(root, { recursive: true, force: true });
        else if (root) console.log(`  kept ${root}`);
    });

    const kubectl = (args: string[], input?: string) => cp.kubectl(args, input);
    const json = async (args: string[]) => JSON.parse(await kubectl([...args, "-o", "json"]));
    const ready = (o: any) => (o.status?.conditions ?? []).find((c: any) => c.type === "Ready");

    /** Every Kustomization in the cluster, with Ready and lastAppliedRevision. */
    async function kustomizations(): Promise<Array<{ name: string; ready: string; message: string; revision: string }>> {
        const items = (await json(["get", "kustomizations.kustomize.toolkit.fluxcd.io", "-A"])).items as any[];
        return items.map((k) => ({
            name: `${k.metadata.namespace}/${k.metadata.name}`,
            ready: ready(k)?.status ?? "<none>",
            message: ready(k)?.message ?? "",
            revision: k.status?.lastAppliedRevision ?? "<none>",
        }));
    }

    async function assertAllReadyAt(sha: string, expected: string[]) {
        const ks = await kustomizations();
        assert.deepEqual(ks.map((k) => k.name).sort(), expected.map((n) => `flux-system/${n}`).sort());
        for (const k of ks) {
            assert.equal(k.ready, "True", `${k.name} Ready: ${k.message}`);
            assert.equal(k.revision, `main@sha1:${sha}`, `${k.name} lastAppliedRevision`);
        }
    }

    /** The echo-version Deployment: Available, with the image kustomize-controller applied. */
    async function echoVersion(): Promise<{ available: string; image: string; managers: string[] }> {
        const d = await json(["get", "deployment", "echo-version", "-n", "echo", "--show-managed-fields"]);
        return {
            available: (d.status?.conditions ?? []).find((c: any) => c.type === "Available")?.status ?? "<none>",
            image: d.spec.template.spec.containers[0].image,
            managers: (d.metadata.managedFields ?? []).filter((m: any) => m.operation === "Apply").map((m: any) => m.manager),
        };
    }

    async function requestReconcile(kind: "gitrepositories.source.toolkit.fluxcd.io" | "kustomizations.kustomize.toolkit.fluxcd.io", name: string) {
        await kubectl(["annotate", "--overwrite", "-n", "flux-system", `${kind}/${name}`, `reconcile.fluxcd.io/requestedAt=${new Date().toISOString()}`]);
    }

    let firstCommit = "";
    let expectedKs: string[] = [];

    it("pulumi preview plans the whole stack and writes nothing", async function () {
        const before = head(fleet);
        const r = await project.ok(["preview", "--json"]);
        timings.preview = r.seconds;
        const steps = previewSteps(r.stdout);
        const sync = steps.find((s) => /FleetSync::/.test(s.urn));
        assert.ok(sync, `a FleetSync step in ${steps.map((s) => s.urn).join("\n")}`);
        assert.equal(sync!.op, "create");
        assert.ok(steps.some((s) => /gitops:LocalControlPlane::/.test(s.urn) && s.op === "create"), "the LocalControlPlane is planned");
        assert.ok(!steps.some((s) => /pulumi:providers:kubernetes::/.test(s.urn)), "no k8s.Provider: FleetSync applies the bootstrap through the engine");
        assert.equal(head(fleet), before, "preview must not push");
        assert.deepEqual((await json(["get", "gitrepositories.source.toolkit.fluxcd.io", "-A"])).items, [], "preview must not bootstrap");
    });

    it("pulumi up commits the fleet; real kustomize-controller applies it; FleetSync returns when every Kustomization reports the commit", async function () {
        const r = await project.ok(["up", "--yes", "--skip-preview"]);
        timings.up = r.seconds;
        const out = await project.outputs();
        firstCommit = head(fleet);
        assert.equal(out.fleetCommit, firstCommit, "fleetCommit output is the fleet head");
        assert.match(String(out.appliedRevision), new RegExp(firstCommit.slice(0, 12)));
        assert.ok(tree(fleet).includes(`clusters/${STACK}/flux-system/gotk-sync.yaml`), `fleet tree: ${tree(fleet).join(", ")}`);
        expectedKs = (await kustomizations()).map((k) => k.name.split("/")[1]);
        for (const k of ["flux-system", "apps"]) assert.ok(expectedKs.includes(k), `Kustomizations: ${expectedKs.join(", ")}`);
        // FleetSync returned only after every Kustomization applied the commit: no waiting here.
        await assertAllReadyAt(firstCommit, expectedKs);
        const gr = await json(["get", "gitrepositories.source.toolkit.fluxcd.io", "flux-system", "-n", "flux-system"]);
        assert.equal(gr.spec.url, `${cp.fleetUrl}/fleet.git`, "Flux pulls the fleet over HTTP from the control plane's fleet server");
        assert.equal(gr.status.artifact.revision, `main@sha1:${firstCommit}`);
        const echo = await echoVersion();
        assert.equal(echo.available, "True", "echo-version Deployment Available (its Pod Ready on the kwok node)");
        assert.equal(echo.image, "registry.example.com/echo-version:1.0.0");
        assert.deepEqual(echo.managers, ["kustomize-controller"], "applied by the real kustomize-controller");
        const pods = (await json(["get", "pods", "-n", "echo"])).items as any[];
        assert.ok(pods.some((p) => p.spec.nodeName === "kwok-node-0" && p.status.phase === "Running"), "a Running Pod on the fake node");
    });

    it("a second pulumi up shows no changes", async function () {
        const p = await project.run(["preview", "--expect-no-changes", "--diff"]);
        assert.equal(p.code, 0, `preview after up shows changes:\n${p.stdout.slice(-4000)}\n${p.stderr.slice(-2000)}`);
        const r = await project.ok(["up", "--yes", "--expect-no-changes"]);
        timings.upNoop = r.seconds;
        assert.equal(head(fleet), firstCommit, "no new fleet commit");
    });

    it("drift: a kubectl edit of a Flux-managed Deployment is named by the drift report, and Flux restores it at the next reconcile", async function () {
        await kubectl(["set", "image", "-n", "echo", "deployment/echo-version", "echo-version=registry.example.com/echo-version:hand-edited"]);
        assert.equal((await echoVersion()).image, "registry.example.com/echo-version:hand-edited");
        // The drift report: what Flux would apply (gitops render of the stack's apps path at the
        // fleet head, as kustomize-controller builds it) against the live cluster.
        const manifests = path.join(root, "apps-dev.yaml");
        const render = spawnSync(process.execPath, [path.join(REPO, "bin/gitops"), "render", "--repo", fleet, "--path", `apps/${STACK}`, "--ref", "main", "--var", `cluster_env=${STACK}`], { encoding: "utf8" });
        assert.equal(render.status, 0, render.stderr);
        fs.writeFileSync(manifests, render.stdout);
        const diff = spawnSync(process.execPath, [path.join(REPO, "bin/gitops"), "cluster", "diff", "--kubeconfig", cp.kubeconfigPath, "--file", manifests, "--exit-code"], { encoding: "utf8" });
        assert.equal(diff.status, 3, `drift exits 3:\n${diff.stdout}\n${diff.stderr}`);
        assert.match(diff.stdout, /echo_echo-version_apps_Deployment/, `the report names the Deployment:\n${diff.stdout}`);
        assert.match(diff.stdout, /hand-edited|image/, diff.stdout);
        const t0 = Date.now();
        await requestReconcile("kustomizations.kustomize.toolkit.fluxcd.io", "apps");
        await until("Flux to restore the image", async () => ((await echoVersion()).image === "registry.example.com/echo-version:1.0.0" ? true : undefined));
        timings.driftRestored = (Date.now() - t0) / 1000;
        assert.equal(head(fleet), firstCommit);
    });

    let updateCommit = "";
    it("an image update committed by the engine reaches the cluster", async function () {
        project.writeStackConfig(stackConfig({ cluster: "local", fleet, dir: cp.dir, fleetPort: Number(new URL(cp.fleetUrl).port), tag: "1.0.1" }));
        const r = await project.ok(["up", "--yes", "--skip-preview"]);
        timings.imageUpdateUp = r.seconds;
        updateCommit = head(fleet);
        assert.notEqual(updateCommit, firstCommit);
        assert.match(show(fleet, `apps/${STACK}/kustomization.yaml`), /newTag: 1\.0\.1/);
        await assertAllReadyAt(updateCommit, expectedKs);
        const echo = await echoVersion();
        assert.equal(echo.image, "registry.example.com/echo-version:1.0.1");
        await until("echo-version Available at 1.0.1", async () => ((await echoVersion()).available === "True" ? true : undefined));
        assert.equal((await project.outputs()).appliedRevision.includes(updateCommit.slice(0, 12)), true);
    });

    it("promotion dev -> test, gated on the revision real Flux reports Ready in dev", async function () {
        // The test stage: render-only (cluster.kind none) in the same fleet repo.
        const testProject = new PulumiProject(BIN, path.join(root, "test-stage"), "test");
        await testProject.ok(["stack", "init", "test"]);
        testProject.writeStackConfig(stackConfig({ cluster: "none", fleet, tag: "1.0.0" }));
        await testProject.ok(["up", "--yes", "--skip-preview"]);
        assert.match(show(fleet, "apps/test/kustomization.yaml"), /newTag: 1\.0\.0/);
        // What dev is verified healthy at: the revision every Kustomization reports Ready.
        const ks = await kustomizations();
        const revisions = new Set(ks.filter((k) => k.ready === "True").map((k) => k.revision));
        assert.equal(revisions.size, 1, `one Ready revision in dev: ${JSON.stringify(ks)}`);
        assert.equal(ks.filter((k) => k.ready === "True").length, ks.length, "every Kustomization Ready");
        const verified = [...revisions][0].replace(/^main@sha1:/, "");
        assert.equal(verified, updateCommit);
        const promote = (rev: string) =>
            spawnSync(process.execPath, [path.join(REPO, "bin/gitops"), "promote", "--repo", fleet, "--from", "dev", "--to", "test", "--model", "overlays", "--branch", "main", "--overlay-root", "apps", "--stages", "dev,test", "--verified-revision", rev, "--author", "e2e <e2e@example.com>"], { encoding: "utf8" });
        // A revision that is not what dev runs now (dev's overlay changed after it) is refused.
        const before = head(fleet);
        const refused = promote(firstCommit);
        assert.equal(refused.status, 1, `promoting an outdated revision must fail:\n${refused.stdout}\n${refused.stderr}`);
        assert.match(refused.stderr, /refus|changed since/i);
        assert.equal(head(fleet), before, "a refused promotion pushes nothing");
        const ok = promote(verified);
        assert.equal(ok.status, 0, `${ok.stdout}\n${ok.stderr}`);
        assert.match(show(fleet, "apps/test/kustomization.yaml"), /newTag: 1\.0\.1/, "test now pins what dev verified");
        assert.match(git(["log", "-1", "--format=%B", "refs/heads/main"], fleet), /Promoted-From: dev/);
        await testProject.ok(["destroy", "--yes", "--skip-preview"]);
    });

    it("DR drill: wipe etcd, pulumi up bootstraps Flux's sync again, Flux re-applies from Git, and the recovery seconds are printed", async function () {
        const commit = head(fleet);
        await cp.wipe();
        assert.deepEqual((await json(["get", "gitrepositories.source.toolkit.fluxcd.io", "-A"])).items, [], "the wiped cluster has no sync");
        assert.throws(() => execFileSync("kubectl", ["--kubeconfig", cp.kubeconfigPath, "get", "namespace", "echo"], { stdio: "pipe" }), /NotFound|not found/);
        const p = await project.ok(["preview", "--json"]);
        const ops = previewSteps(p.stdout).filter((s) => /FleetSync::/.test(s.urn)).map((s) => s.op);
        assert.ok(ops.includes("update"), `preview after the wipe plans a FleetSync update: ${ops.join(", ")}`);
        assert.ok(diagnostics(p.stdout).some((m) => /\+ cluster\["flux-system_flux-system_source\.toolkit\.fluxcd\.io_GitRepository"\]/.test(m)), "the preview lists the bootstrap objects to create");
        const r = await project.ok(["up", "--yes", "--skip-preview"]);
        timings.recoveryUp = r.seconds;
        const out = await project.outputs();
        assert.equal(head(fleet), commit, "recovery reuses the commit in Git");
        assert.equal(typeof out.recoverySeconds, "number", `recoverySeconds output: ${JSON.stringify(out.recoverySeconds)}`);
        timings.recoverySeconds = out.recoverySeconds;
        console.log(`  DR drill: recovered from Git in ${out.recoverySeconds}s (pulumi up ${r.seconds}s)`);
        await assertAllReadyAt(commit, expectedKs);
        assert.equal((await echoVersion()).image, "registry.example.com/echo-version:1.0.1");
        await until("echo-version Available after recovery", async () => ((await echoVersion()).available === "True" ? true : undefined));
    });

    it("pulumi destroy removes the stack's files from the fleet and stops the local control plane", async function () {
        const r = await project.ok(["destroy", "--yes", "--skip-preview"]);
        timings.destroy = r.seconds;
        const files = tree(fleet);
        assert.ok(!files.some((f) => f.startsWith(`clusters/${STACK}/`)), `left behind: ${files.join(", ")}`);
        const state = JSON.parse((await project.ok(["stack", "export"])).stdout);
        assert.equal((state.deployment.resources ?? []).length, 0, "no resources left in the state");
        const s = await status(cp.dir);
        assert.deepEqual(s.pieces.filter((p) => p.state === "running").map((p) => p.piece), [], "no piece runs after destroy");
    });
});

describe("e2e: real Pulumi engine, render-only stack (cluster.kind none) — runs when the cluster pieces are missing", function () {
    let root: string;
    let project: PulumiProject;
    let fleet: string;

    before(async function () {
        if (Object.keys(missingPulumi).length) {
            console.log(`  skipped: needs ${Object.keys(missingPulumi).join(", ")}`);
            this.skip();
        }
        if (!Object.keys(missingCluster).length && !process.env.GITOPS_E2E_ALL) this.skip();
        root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-e2e-none-"));
        fleet = fleetRepo(root);
        project = new PulumiProject(BIN, root, STACK);
        await project.ok(["stack", "init", STACK]);
        project.writeStackConfig(stackConfig({ cluster: "none", fleet, tag: "1.0.0" }));
    });

    after(function () {
        if (root) fs.rmSync(root, { recursive: true, force: true });
    });

    it("preview, up, an up with no changes, destroy", async function () {
        const first = head(fleet);
        const p = await project.ok(["preview", "--json"]);
        assert.equal(previewSteps(p.stdout).find((s) => /FleetSync::/.test(s.urn))?.op, "create");
        assert.equal(head(fleet), first);
        await project.ok(["up", "--yes", "--skip-preview"]);
        const commit = head(fleet);
        assert.notEqual(commit, first);
        assert.equal((await project.outputs()).fleetCommit, commit);
        await project.ok(["up", "--yes", "--expect-no-changes"]);
        assert.equal(head(fleet), commit);
        await project.ok(["destroy", "--yes", "--skip-preview"]);
        assert.ok(!tree(fleet).some((f) => f.startsWith(`clusters/${STACK}/`)));
    });
});
