/**
 * Conformance: the real `kubectl` (1.32) against the test API server, so the server cannot drift
 * from the protocol kubectl speaks: discovery (aggregated), OpenAPI v3 (field validation),
 * server-side apply and its conflicts, Tables, selectors, managedFields, delete (which waits via
 * GET), wait (watch), rollout status, client-side apply (strategic merge patch), protobuf create.
 * kubectl runs asynchronously: the server lives in this process.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { kubectl as run, KubectlResult } from "../kube-apiserver/client";
import { fluxCrds } from "../kube-apiserver/crds";

const CM = `apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels:
    app: web
    tier: front
data:
  color: blue
  size: large
`;

describe("kube-apiserver: kubectl conformance", function () {
    this.timeout(120000);
    let api: TestApiServer;
    let cache: string;
    const kubectl = (args: string[], input?: string): Promise<KubectlResult> => run(api.kubeconfigPath, cache, args, input);

    before(async () => {
        api = await startTestApiServer({ crdEstablishDelayMs: 200 });
        cache = fs.mkdtempSync(path.join(os.tmpdir(), "kubectl-cache-"));
    });
    after(async () => {
        await api.stop();
        fs.rmSync(cache, { recursive: true, force: true });
    });

    it("api-resources lists the built-in kinds from aggregated discovery", async () => {
        const r = await kubectl(["api-resources", "--no-headers"]);
        assert.equal(r.code, 0, r.stderr);
        const rows = r.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/));
        const find = (name: string) => rows.find((x) => x[0] === name);
        assert.deepEqual(find("configmaps"), ["configmaps", "cm", "v1", "true", "ConfigMap"]);
        assert.deepEqual(find("deployments"), ["deployments", "deploy", "apps/v1", "true", "Deployment"]);
        assert.deepEqual(find("clusterroles"), ["clusterroles", "rbac.authorization.k8s.io/v1", "false", "ClusterRole"]);
        assert.deepEqual(find("customresourcedefinitions"), ["customresourcedefinitions", "crd,crds", "apiextensions.k8s.io/v1", "false", "CustomResourceDefinition"]);
        assert.ok(api.requests.some((q) => q.path === "/apis" && /as=APIGroupDiscoveryList/.test(q.accept ?? "")));
    });

    it("get namespaces prints the server-side Table", async () => {
        const r = await kubectl(["get", "namespaces"]);
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stdout.trim().split("\n");
        assert.match(lines[0], /^NAME\s+AGE$/);
        assert.deepEqual(lines.slice(1).map((l) => l.split(/\s+/)[0]).sort(), ["default", "kube-system"]);
    });

    it("apply --server-side creates, then a second apply is unchanged", async () => {
        const r = await kubectl(["apply", "--server-side", "-f", "-"], CM);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), "configmap/settings serverside-applied");
        const patch = api.requests.filter((q) => q.method === "PATCH").pop()!;
        assert.equal(patch.contentType, "application/apply-patch+yaml");
        assert.match(patch.query!, /fieldManager=kubectl/);
        assert.equal(api.get("v1", "ConfigMap", "settings").data.color, "blue");
        const rv = api.get("v1", "ConfigMap", "settings").metadata.resourceVersion;
        const again = await kubectl(["apply", "--server-side", "-f", "-"], CM);
        assert.equal(again.code, 0, again.stderr);
        assert.equal(api.get("v1", "ConfigMap", "settings").metadata.resourceVersion, rv);
    });

    it("get -o yaml --show-managed-fields shows FieldsV1 per manager", async () => {
        const r = await kubectl(["get", "configmap", "settings", "-o", "yaml", "--show-managed-fields"]);
        assert.equal(r.code, 0, r.stderr);
        const obj = YAML.parse(r.stdout);
        assert.equal(obj.metadata.managedFields.length, 1);
        const e = obj.metadata.managedFields[0];
        assert.equal(e.manager, "kubectl");
        assert.equal(e.operation, "Apply");
        assert.deepEqual(e.fieldsV1, {
            "f:data": { "f:color": {}, "f:size": {} },
            "f:metadata": { "f:labels": { "f:app": {}, "f:tier": {} } },
        });
        const plain = await kubectl(["get", "configmap", "settings", "-o", "yaml"]);
        assert.equal(YAML.parse(plain.stdout).metadata.managedFields, undefined, "kubectl hides managedFields by default");
    });

    it("a conflicting apply fails without --force-conflicts and succeeds with it", async () => {
        const other = CM.replace("color: blue", "color: red");
        const r = await kubectl(["apply", "--server-side", "--field-manager=intruder", "-f", "-"], other);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /Apply failed with 1 conflict: conflict with "kubectl": \.data\.color/);
        assert.match(r.stderr, /--force-conflicts/);
        assert.equal(api.get("v1", "ConfigMap", "settings").data.color, "blue");
        const f = await kubectl(["apply", "--server-side", "--field-manager=intruder", "--force-conflicts", "-f", "-"], other);
        assert.equal(f.code, 0, f.stderr);
        const cm = api.get("v1", "ConfigMap", "settings");
        assert.equal(cm.data.color, "red");
        const owners = Object.fromEntries(cm.metadata.managedFields.map((e: any) => [e.manager, Object.keys(e.fieldsV1["f:data"] ?? {})]));
        assert.deepEqual(owners.intruder.sort(), ["f:color", "f:size"]);
        assert.deepEqual(owners.kubectl, ["f:size"]);
    });

    it("get -l filters with label selectors", async () => {
        await kubectl(["apply", "--server-side", "-f", "-"], CM.replace("name: settings", "name: other").replace("tier: front", "tier: back"));
        const names = async (sel: string) => {
            const r = await kubectl(["get", "configmaps", "-l", sel, "-o", "name"]);
            assert.equal(r.code, 0, r.stderr);
            return r.stdout.trim().split("\n").filter((x) => x).sort().join(" ");
        };
        assert.equal(await names("app=web"), "configmap/other configmap/settings");
        assert.equal(await names("tier=front"), "configmap/settings");
        assert.equal(await names("tier!=front"), "configmap/other");
        assert.equal(await names("tier in (back,middle)"), "configmap/other");
        assert.equal(await names("tier notin (back)"), "configmap/settings");
        assert.equal(await names("!tier"), "");
    });

    it("label (merge patch) and client-side apply (strategic merge patch) work", async () => {
        const l = await kubectl(["label", "configmap", "other", "team=blue"]);
        assert.equal(l.code, 0, l.stderr);
        assert.equal(api.get("v1", "ConfigMap", "other").metadata.labels.team, "blue");
        const dep = (image: string) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: ${image}
`;
        const a = await kubectl(["apply", "-f", "-"], dep("nginx:1"));
        assert.equal(a.code, 0, a.stderr);
        const b = await kubectl(["apply", "-f", "-"], dep("nginx:2"));
        assert.equal(b.code, 0, b.stderr);
        assert.ok(api.requests.some((q) => q.method === "PATCH" && q.contentType === "application/strategic-merge-patch+json"));
        const d = api.get("apps/v1", "Deployment", "web");
        assert.equal(d.spec.template.spec.containers[0].image, "nginx:2");
        assert.equal(d.metadata.generation, 2);
        const s = await kubectl(["rollout", "status", "deployment/web", "--timeout=20s"]);
        assert.equal(s.code, 0, s.stderr);
        assert.match(s.stdout, /successfully rolled out/);
    });

    it("create namespace/configmap/secret (protobuf bodies) work", async () => {
        const ns = await kubectl(["create", "namespace", "team-a"]);
        assert.equal(ns.code, 0, ns.stderr);
        const s = await kubectl(["create", "secret", "generic", "creds", "-n", "team-a", "--from-literal=password=hunter2"]);
        assert.equal(s.code, 0, s.stderr);
        assert.equal(Buffer.from(api.get("v1", "Secret", "creds", "team-a").data.password, "base64").toString(), "hunter2");
        const c = await kubectl(["create", "configmap", "cfg", "-n", "team-a", "--from-literal=a=1"]);
        assert.equal(c.code, 0, c.stderr);
        assert.deepEqual(api.get("v1", "ConfigMap", "cfg", "team-a").data, { a: "1" });
    });

    it("CRDs applied with kubectl become kinds kubectl can apply, get and wait on", async () => {
        const crds = fluxCrds().map((c) => YAML.stringify(c)).join("---\n");
        const r = await kubectl(["apply", "--server-side", "-f", "-"], crds);
        assert.equal(r.code, 0, r.stderr);
        const w = await kubectl(["wait", "--for=condition=Established", "crd/kustomizations.kustomize.toolkit.fluxcd.io", "--timeout=20s"]);
        assert.equal(w.code, 0, w.stderr);
        await kubectl(["create", "namespace", "flux-system"]);
        api.flux.setRevision("main@sha1:1234567");
        const k = await kubectl(["apply", "--server-side", "-f", "-"], `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: apps
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
`);
        assert.equal(k.code, 0, k.stderr);
        const ready = await kubectl(["wait", "-n", "flux-system", "--for=condition=Ready", "kustomization/apps", "--timeout=20s"]);
        assert.equal(ready.code, 0, ready.stderr);
        assert.match(ready.stdout, /condition met/);
        const get = await kubectl(["get", "kustomizations", "-n", "flux-system"]);
        assert.equal(get.code, 0, get.stderr);
        assert.match(get.stdout.split("\n")[0], /^NAME\s+READY\s+STATUS\s+AGE$/);
        assert.match(get.stdout.split("\n")[1], /^apps\s+True\s+Applied revision: main@sha1:1234567\s+\d+s$/);
        const rev = await kubectl(["get", "kustomization", "apps", "-n", "flux-system", "-o", "jsonpath={.status.lastAppliedRevision}"]);
        assert.equal(rev.stdout, "main@sha1:1234567");
    });

    it("an unknown kind is an error like the real server's", async () => {
        const r = await kubectl(["apply", "--server-side", "-f", "-"], "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n");
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /no matches for kind "Widget" in version "example.com\/v1"/);
        const g = await kubectl(["get", "widgets"]);
        assert.notEqual(g.code, 0);
        assert.match(g.stderr, /the server doesn't have a resource type "widgets"/);
    });

    it("delete removes objects; with a finalizer it waits until the finalizer is gone", async () => {
        const d = await kubectl(["delete", "configmap", "other"]);
        assert.equal(d.code, 0, d.stderr);
        assert.equal(d.stdout.trim(), 'configmap "other" deleted');
        assert.equal(api.get("v1", "ConfigMap", "other"), undefined);
        await kubectl(["apply", "--server-side", "-f", "-"], "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n");
        const pending = kubectl(["delete", "configmap", "held", "--timeout=20s"]);
        const cm = await waitFor(() => api.get("v1", "ConfigMap", "held")?.metadata.deletionTimestamp ? api.get("v1", "ConfigMap", "held") : undefined);
        assert.ok(cm.metadata.deletionTimestamp);
        const rm = await kubectl(["patch", "configmap", "held", "--type=merge", "-p", '{"metadata":{"finalizers":null}}']);
        assert.equal(rm.code, 0, rm.stderr);
        const done = await pending;
        assert.equal(done.code, 0, done.stderr);
        assert.equal(api.get("v1", "ConfigMap", "held"), undefined);
        const missing = await kubectl(["delete", "configmap", "held"]);
        assert.notEqual(missing.code, 0);
        assert.match(missing.stderr, /Error from server \(NotFound\): configmaps "held" not found/);
    });

    it("retries through injected 429s (Retry-After) and reports 500s", async () => {
        const hits = () => api.requests.filter((q) => q.path === "/api/v1/namespaces/default/configmaps/settings").length;
        const before = hits();
        api.faults.next(2, "429", (q) => q.path === "/api/v1/namespaces/default/configmaps/settings");
        const r = await kubectl(["get", "configmap", "settings", "-o", "name"]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), "configmap/settings");
        assert.equal(hits() - before, 3, "two 429s, then the answer");
        api.faults.next(1, "500", (q) => q.path === "/api/v1/namespaces/default/configmaps/settings");
        const e = await kubectl(["get", "configmap", "settings"]);
        assert.notEqual(e.code, 0);
        assert.match(e.stderr, /InternalError|Internal error/);
    });
});

async function waitFor<T>(fn: () => T | undefined, ms = 10000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
        const v = fn();
        if (v) return v;
        if (Date.now() > end) throw new Error("timed out waiting");
        await new Promise((r) => setTimeout(r, 20));
    }
}

describe("kube-apiserver: kubectl on legacy discovery", function () {
    this.timeout(60000);
    let api: TestApiServer;
    let cache: string;
    before(async () => {
        api = await startTestApiServer({ aggregatedDiscovery: false });
        cache = fs.mkdtempSync(path.join(os.tmpdir(), "kubectl-cache-"));
    });
    after(async () => {
        await api.stop();
        fs.rmSync(cache, { recursive: true, force: true });
    });

    it("falls back to /api/v1 and /apis/<group>/<version> and still applies and gets", async () => {
        const r = await run(api.kubeconfigPath, cache, ["api-resources", "--no-headers", "-o", "name"]);
        assert.equal(r.code, 0, r.stderr);
        assert.ok(r.stdout.split("\n").includes("deployments.apps"));
        assert.ok(api.requests.some((q) => q.path === "/apis/apps/v1"), "legacy per-group-version discovery was used");
        const a = await run(api.kubeconfigPath, cache, ["apply", "--server-side", "-f", "-"], CM);
        assert.equal(a.code, 0, a.stderr);
        const g = await run(api.kubeconfigPath, cache, ["get", "cm", "settings", "-o", "jsonpath={.data.color}"]);
        assert.equal(g.stdout, "blue");
    });
});
