/**
 * The steps of `npm run up` that read config and the cluster (engine/up): the stack file Pulumi
 * gets when the local control plane stands in, and the summary, read with real kubectl from the
 * Kubernetes API test server (its Flux emulation sets Ready and lastAppliedRevision).
 */
import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "yaml";
import { main } from "../../engine/cli";
import { atCommit, collectSummary, formatSummary, localStackFile } from "../../engine/up";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { until } from "../helpers/wait";

const ROOT = path.resolve(__dirname, "../..");
const SHA = "0123456789abcdef0123456789abcdef01234567";

describe("npm run up: stack file and summary (engine/up)", function () {
    this.timeout(120_000);
    let tmp: string;
    let project: string;
    beforeEach(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-up-"));
        project = path.join(tmp, "project");
        fs.mkdirSync(project);
        fs.copyFileSync(path.join(ROOT, "Pulumi.dev.yaml"), path.join(project, "Pulumi.dev.yaml"));
    });
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    describe("the stack file when the local control plane stands in", () => {
        it("says kind local, leaves out what needs Helm charts and says why, keeps every other setting, secret and comment; Pulumi.dev.yaml is unchanged", () => {
            const file = path.join(project, "Pulumi.dev.yaml");
            fs.appendFileSync(file, "encryptionsalt: v1:abc:def\n");
            fs.writeFileSync(file, fs.readFileSync(file, "utf8").replace("config:\n", "config:\n  gitops:githubToken:\n    secure: v1:AAAA\n"));
            const before = fs.readFileSync(file, "utf8");
            const { text, leftOut } = localStackFile(project, "dev");
            assert.strictEqual(fs.readFileSync(file, "utf8"), before);
            const derived = parse(text);
            const original = parse(before);
            assert.strictEqual(derived.config["gitops:cluster"].kind, "local");
            // The embedded dev stack has Helm releases, Helm sources and progressive delivery.
            assert.ok(original.config["gitops:releases"]?.length && original.config["gitops:delivery"], "Pulumi.dev.yaml has releases and delivery");
            assert.deepStrictEqual(leftOut.map((l) => l.key), ["gitops:releases", "gitops:sources (kind helm)", "gitops:delivery", "gitops:apps[0].canary"]);
            assert.ok(original.config["gitops:apps"][0].canary, "the dev app has a canary");
            assert.ok(!("canary" in derived.config["gitops:apps"][0]), "the copy rolls it out without one");
            delete original.config["gitops:apps"][0].canary;
            assert.match(leftOut[0].why, /metrics-server: .*kwok/);
            assert.match(leftOut[2].why, /istio, flagger, prometheus, grafana/);
            for (const l of leftOut) assert.ok(text.includes(`# Left out here: ${l.key}: `), `the file says it left out ${l.key}`);
            const helmSources = (original.config["gitops:sources"] as any[]).filter((s) => s.kind === "helm");
            const rest = (original.config["gitops:sources"] as any[]).filter((s) => s.kind !== "helm");
            assert.ok(helmSources.length > 0);
            if (rest.length) assert.deepStrictEqual(derived.config["gitops:sources"], rest);
            else assert.ok(!("gitops:sources" in derived.config));
            for (const k of ["gitops:releases", "gitops:sources", "gitops:delivery"]) {
                delete derived.config[k];
                delete original.config[k];
            }
            derived.config["gitops:cluster"].kind = original.config["gitops:cluster"].kind;
            assert.deepStrictEqual(derived, original);
            assert.match(text, /^# Written by npm run up from Pulumi\.dev\.yaml/);
            assert.ok(text.includes("# Notifications: secrets (webhook URLs, tokens) come from"), "comments are kept");
        });

        it("a stack without Helm settings leaves nothing out", () => {
            fs.writeFileSync(path.join(project, "Pulumi.dev.yaml"), "config:\n  gitops:cluster:\n    kind: k3d\n  gitops:fleet:\n    url: .fleet/fleet.git\n");
            const { text, leftOut } = localStackFile(project, "dev");
            assert.deepStrictEqual(leftOut, []);
            assert.strictEqual(parse(text).config["gitops:cluster"].kind, "local");
            assert.ok(!text.includes("Left out"));
        });

        it("gitops up config writes it; bad config is refused and writes nothing", async () => {
            const out = path.join(tmp, "up", "Pulumi.dev.yaml");
            const io = { out: "", err: "" };
            const cli = { out: (t: string) => (io.out += t), err: (t: string) => (io.err += t) };
            assert.strictEqual(await main(["up", "config", "--stack", "dev", "--out", out, "--project", project], cli), 0, io.err);
            assert.strictEqual(parse(fs.readFileSync(out, "utf8")).config["gitops:cluster"].kind, "local");
            fs.rmSync(out);
            fs.writeFileSync(path.join(project, "Pulumi.dev.yaml"), "config:\n  gitops:cluster:\n    kind: eks\n");
            assert.strictEqual(await main(["up", "config", "--stack", "dev", "--out", out, "--project", project], cli), 1);
            assert.match(io.err, /gitops:cluster\.kind must be one of/);
            assert.ok(!fs.existsSync(out));
        });
    });

    describe("the summary", () => {
        let api: TestApiServer;
        before(async () => {
            api = await startTestApiServer();
        });
        after(async () => api?.stop());

        /** Real kubectl, asynchronously: the test API server answers from this process. */
        const kubectl = (args: string[], input?: string) =>
            new Promise<string>((resolve, reject) => {
                const p = execFile("kubectl", ["--kubeconfig", api.kubeconfigPath, ...args], { encoding: "utf8" }, (e, out, err) => (e ? reject(new Error(`${e.message}${err}`)) : resolve(out)));
                p.stdin!.end(input ?? "");
            });
        const kustomization = (name: string) =>
            `apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata: {name: ${name}, namespace: flux-system}\nspec: {interval: 1m, path: ./clusters/dev, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}\n`;
        const deployment = `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: echo-version, namespace: echo}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: echo-version}}\n  template:\n    metadata: {labels: {app: echo-version}}\n    spec: {containers: [{name: app, image: "ghcr.io/gitops-platform/echo-version:main-0a1b2c3-1700000000"}]}\n`;
        /** The local control plane's state file, pointing at the test API server. */
        const localState = () => {
            fs.mkdirSync(path.join(project, ".gitops", "local"), { recursive: true });
            fs.writeFileSync(
                path.join(project, ".gitops", "local", "state.json"),
                JSON.stringify({
                    kubeconfig: api.kubeconfigPath, server: api.url, fleetUrl: "http://127.0.0.1:8765", fleetRoot: path.join(project, ".fleet"),
                    pieces: { etcd: {}, "kube-apiserver": {}, "kube-controller-manager": {}, "source-controller": {}, "kustomize-controller": {}, "helm-controller": {}, fleet: {} },
                }),
            );
        };
        /** Polls until ok() (failing after 30 s, not going on as if it held). */
        const waitFor = (what: string, ok: () => boolean) => until(what, async () => (ok() ? true : undefined), 30_000, 25);

        it("counts Kustomizations Ready at the fleet commit, names the one that is not, and shows the app's Deployment", async () => {
            await kubectl(["apply", "-f", path.join(ROOT, "test/fixtures/cluster/crds.yaml")]);
            await kubectl(["create", "namespace", "flux-system"]);
            await kubectl(["create", "namespace", "echo"]);
            api.flux.setRevision(`main@sha1:${SHA}`);
            await kubectl(["apply", "-f", "-"], [kustomization("flux-system"), kustomization("apps"), deployment].join("---\n"));
            api.flux.fail("Kustomization", "apps", "kustomize build failed: accumulating resources");
            await waitFor("every Kustomization to have a status", () => api.list("kustomize.toolkit.fluxcd.io/v1", "Kustomization").every((k) => k.status?.conditions));
            localState();
            const s = await collectSummary({ projectDir: project, stack: "dev", kind: "local", outputs: { fleetCommit: SHA, fleetRepository: ".fleet/fleet.git" }, kubeconfigOut: path.join(tmp, "kc"), hasGet: false });
            const text = formatSummary(s, project);
            assert.match(text, /^== dev is up\nruns: +local control plane \(\.gitops\/local\)/);
            assert.match(text, /real Flux: source-controller, kustomize-controller, helm-controller; fleet served at/, "the controllers that run, no others");
            assert.match(text, new RegExp(`fleet: +\\.fleet/fleet\\.git at ${SHA.slice(0, 12)}`));
            assert.match(text, new RegExp(`Flux: +1/2 Kustomizations Ready at ${SHA.slice(0, 12)}`));
            assert.match(text, new RegExp(`✔ flux-system/flux-system  main@sha1:${SHA}`));
            assert.match(text, /✗ flux-system\/apps  not Ready .*kustomize build failed/);
            assert.match(text, /app: +Deployment echo\/echo-version \d\/1 available \(ghcr\.io\/gitops-platform\/echo-version:main-0a1b2c3-1700000000\)/);
            assert.match(text, new RegExp(`kubectl --kubeconfig ${api.kubeconfigPath.replace(/[.]/g, "\\.")} get kustomizations`));
            assert.match(text, /tear down: +npm run down +\(pulumi destroy, then the local control plane down\)/);
            assert.ok(!text.includes("gitops get"), "gitops get is named only when it exists");
        });

        it("cluster.kind none: the fleet commit and how to look at it, no cluster", async () => {
            const s = await collectSummary({ projectDir: project, stack: "dev", kind: "none", outputs: { fleetCommit: SHA }, kubeconfigOut: path.join(tmp, "kc"), hasGet: false });
            const text = formatSummary(s, project);
            assert.match(text, /runs: +no cluster/);
            assert.ok(!/Flux:|app:/.test(text));
            assert.match(text, /tear down: +npm run down +\(pulumi destroy\)\n$/);
        });
    });

    it("a revision is at a commit only when its sha is that commit", () => {
        assert.ok(atCommit(`main@sha1:${SHA}`, SHA));
        assert.ok(atCommit(`sha1:${SHA}`, SHA));
        assert.ok(!atCommit(`main@sha1:${"f".repeat(40)}`, SHA));
        assert.ok(!atCommit("", ""));
    });
});
