/**
 * The Kubernetes API test server, over real HTTP: server-side apply ownership and conflicts,
 * resourceVersion conflicts, finalizers, generation, selectors, the status subresource, CRD
 * establishment and discovery, watch, faults, and the Flux/Flagger emulation. Each describe
 * starts its own server and stops it afterwards.
 */
import { strict as assert } from "assert";
import * as http from "http";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { call } from "../kube-apiserver/client";
import { crd, fluxCrds } from "../kube-apiserver/crds";

const APPLY = "application/apply-patch+yaml";
const MERGE = "application/merge-patch+json";
const JSONPATCH = "application/json-patch+json";
const SMP = "application/strategic-merge-patch+json";

function cm(name: string, data: Record<string, string>, labels?: Record<string, string>): any {
    return { apiVersion: "v1", kind: "ConfigMap", metadata: { name, ...(labels ? { labels } : {}) }, data };
}

function useServer(opts?: { crdEstablishDelayMs?: number }): () => TestApiServer {
    let api: TestApiServer | undefined;
    before(async () => { api = await startTestApiServer(opts); });
    after(async () => { await api?.stop(); });
    return () => api!;
}

async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, ms = 5000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
        const v = await fn();
        if (v) return v;
        if (Date.now() > end) throw new Error("timed out waiting");
        await new Promise((r) => setTimeout(r, 10));
    }
}

/**
 * Streams a watch; events are parsed JSON lines. `opened` resolves with the response headers,
 * which the server sends once the watch is registered: a change made after it is in `events`.
 */
function watch(base: string, path: string): { events: any[]; close(): void; ended: Promise<void>; opened: Promise<void> } {
    const events: any[] = [];
    let buf = "";
    let resolveEnd!: () => void;
    const ended = new Promise<void>((r) => (resolveEnd = r));
    let resolveOpened!: () => void;
    const opened = new Promise<void>((r) => (resolveOpened = r));
    const req = http.get(base + path, (res) => {
        resolveOpened();
        res.setEncoding("utf8");
        res.on("data", (d: string) => {
            buf += d;
            let i;
            while ((i = buf.indexOf("\n")) >= 0) {
                events.push(JSON.parse(buf.slice(0, i)));
                buf = buf.slice(i + 1);
            }
        });
        res.on("end", resolveEnd);
        res.on("close", resolveEnd);
    });
    req.on("error", () => (resolveEnd(), resolveOpened()));
    return { events, close: () => req.destroy(), ended, opened };
}

describe("kube-apiserver: discovery and basic REST", () => {
    const api = useServer();
    const req = (m: string, p: string, b?: unknown, ct?: string, h?: Record<string, string>) => call(api().url, m, p, b, ct, h);

    it("serves legacy discovery for core and groups", async () => {
        const v = await req("GET", "/api");
        assert.deepEqual(v.body.versions, ["v1"]);
        const core = await req("GET", "/api/v1");
        const cmRes = core.body.resources.find((r: any) => r.name === "configmaps");
        assert.equal(cmRes.kind, "ConfigMap");
        assert.equal(cmRes.namespaced, true);
        assert.deepEqual(cmRes.shortNames, ["cm"]);
        const groups = await req("GET", "/apis");
        const names = groups.body.groups.map((g: any) => g.name);
        for (const g of ["apps", "batch", "rbac.authorization.k8s.io", "apiextensions.k8s.io", "networking.k8s.io"]) assert.ok(names.includes(g), g);
        const apps = await req("GET", "/apis/apps/v1");
        assert.ok(apps.body.resources.some((r: any) => r.name === "deployments/status"));
        assert.equal((await req("GET", "/apis/nope.example.com/v1")).status, 404);
    });

    it("serves aggregated discovery when asked for it", async () => {
        const r = await req("GET", "/apis", undefined, undefined, { Accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json" });
        assert.match(r.headers.get("content-type")!, /as=APIGroupDiscoveryList/);
        assert.equal(r.body.kind, "APIGroupDiscoveryList");
        const apps = r.body.items.find((i: any) => i.metadata.name === "apps");
        assert.equal(apps.versions[0].resources.find((x: any) => x.resource === "deployments").scope, "Namespaced");
    });

    it("creates, gets, lists and deletes; namespaces must exist; names must be unique", async () => {
        const c = await req("POST", "/api/v1/namespaces/default/configmaps", cm("one", { a: "1" }));
        assert.equal(c.status, 201);
        assert.ok(c.body.metadata.uid);
        assert.match(c.body.metadata.resourceVersion, /^\d+$/);
        assert.equal((await req("POST", "/api/v1/namespaces/default/configmaps", cm("one", { a: "1" }))).body.reason, "AlreadyExists");
        const missing = await req("POST", "/api/v1/namespaces/nowhere/configmaps", cm("x", {}));
        assert.equal(missing.status, 404);
        assert.equal(missing.body.message, 'namespaces "nowhere" not found');
        assert.equal((await req("GET", "/api/v1/namespaces/default/configmaps/one")).body.data.a, "1");
        const list = await req("GET", "/api/v1/configmaps");
        assert.equal(list.body.kind, "ConfigMapList");
        assert.ok(list.body.items.some((o: any) => o.metadata.name === "one"));
        assert.equal(list.body.items[0].kind, undefined, "typed lists omit kind on items, like the real server");
        assert.equal(api().get("v1", "ConfigMap", "one", "default").data.a, "1");
        const del = await req("DELETE", "/api/v1/namespaces/default/configmaps/one");
        assert.equal(del.status, 200);
        const gone = await req("GET", "/api/v1/namespaces/default/configmaps/one");
        assert.equal(gone.status, 404);
        assert.equal(gone.body.reason, "NotFound");
        assert.equal(gone.body.message, 'configmaps "one" not found');
    });

    it("answers 404 'could not find the requested resource' for unknown kinds", async () => {
        const r = await req("POST", "/apis/example.com/v1/namespaces/default/widgets", { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w" } });
        assert.equal(r.status, 404);
        assert.equal(r.body.message, "the server could not find the requested resource");
        const r2 = await req("GET", "/api/v1/namespaces/default/widgets");
        assert.equal(r2.status, 404);
    });

    it("rejects invalid names and mismatched URLs", async () => {
        const bad = await req("POST", "/api/v1/namespaces/default/configmaps", cm("Bad_Name", {}));
        assert.equal(bad.status, 422);
        assert.equal(bad.body.reason, "Invalid");
        const mismatch = await req("PUT", "/api/v1/namespaces/default/configmaps/a", cm("b", {}));
        assert.equal(mismatch.status, 400);
    });

    it("label selectors: =, !=, in, notin, exists, !exists", async () => {
        await req("POST", "/api/v1/namespaces/default/configmaps", cm("s1", {}, { app: "web", tier: "front" }));
        await req("POST", "/api/v1/namespaces/default/configmaps", cm("s2", {}, { app: "api", tier: "back" }));
        await req("POST", "/api/v1/namespaces/default/configmaps", cm("s3", {}, { app: "db" }));
        const names = async (sel: string) => (await req("GET", `/api/v1/namespaces/default/configmaps?labelSelector=${encodeURIComponent(sel)}`))
            .body.items.map((o: any) => o.metadata.name).filter((n: string) => /^s\d$/.test(n)).sort().join(",");
        assert.equal(await names("app=web"), "s1");
        assert.equal(await names("app==api"), "s2");
        assert.equal(await names("app!=web"), "s2,s3");
        assert.equal(await names("app in (web,db)"), "s1,s3");
        assert.equal(await names("app notin (web,db)"), "s2");
        assert.equal(await names("tier"), "s1,s2");
        assert.equal(await names("!tier"), "s3");
        assert.equal(await names("app in (web,api),tier=back"), "s2");
        const field = await req("GET", "/api/v1/namespaces/default/configmaps?fieldSelector=metadata.name%3Ds3");
        assert.deepEqual(field.body.items.map((o: any) => o.metadata.name), ["s3"]);
        assert.equal((await req("GET", "/api/v1/namespaces/default/configmaps?labelSelector=%3D%3Dx")).status, 400);
    });

    it("resourceVersion is a global counter; a stale PUT is a 409 Conflict", async () => {
        const a = await req("POST", "/api/v1/namespaces/default/configmaps", cm("rv", { v: "1" }));
        const b = await req("POST", "/api/v1/namespaces/default/configmaps", cm("rv2", { v: "1" }));
        assert.ok(Number(b.body.metadata.resourceVersion) > Number(a.body.metadata.resourceVersion));
        const upd = await req("PUT", "/api/v1/namespaces/default/configmaps/rv", { ...a.body, data: { v: "2" } });
        assert.equal(upd.status, 200);
        assert.ok(Number(upd.body.metadata.resourceVersion) > Number(b.body.metadata.resourceVersion));
        const stale = await req("PUT", "/api/v1/namespaces/default/configmaps/rv", { ...a.body, data: { v: "3" } });
        assert.equal(stale.status, 409);
        assert.equal(stale.body.reason, "Conflict");
        assert.match(stale.body.message, /Operation cannot be fulfilled on configmaps "rv": the object has been modified/);
        assert.equal(api().get("v1", "ConfigMap", "rv").data.v, "2");
        // A no-op update does not bump resourceVersion.
        const same = await req("PUT", "/api/v1/namespaces/default/configmaps/rv", upd.body);
        assert.equal(same.body.metadata.resourceVersion, upd.body.metadata.resourceVersion);
    });

    it("merge patch, JSON patch and strategic merge patch", async () => {
        await req("POST", "/api/v1/namespaces/default/configmaps", cm("p", { a: "1", b: "2" }));
        const m = await req("PATCH", "/api/v1/namespaces/default/configmaps/p", { data: { a: null, c: "3" } }, MERGE);
        assert.deepEqual(m.body.data, { b: "2", c: "3" });
        const j = await req("PATCH", "/api/v1/namespaces/default/configmaps/p",
            [{ op: "test", path: "/data/b", value: "2" }, { op: "replace", path: "/data/b", value: "x" }, { op: "add", path: "/data/d", value: "4" }], JSONPATCH);
        assert.deepEqual(j.body.data, { b: "x", c: "3", d: "4" });
        const failed = await req("PATCH", "/api/v1/namespaces/default/configmaps/p", [{ op: "test", path: "/data/b", value: "nope" }], JSONPATCH);
        assert.equal(failed.status, 422);
        const dep = {
            apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web" },
            spec: {
                selector: { matchLabels: { app: "web" } },
                template: { metadata: { labels: { app: "web" } }, spec: { containers: [{ name: "app", image: "app:1" }, { name: "side", image: "side:1" }] } },
            },
        };
        await req("POST", "/apis/apps/v1/namespaces/default/deployments", dep);
        const s = await req("PATCH", "/apis/apps/v1/namespaces/default/deployments/web",
            { spec: { template: { spec: { containers: [{ name: "app", image: "app:2" }, { name: "side", $patch: "delete" }, { name: "new", image: "n:1" }] } } } }, SMP);
        assert.equal(s.status, 200, s.text);
        assert.deepEqual(s.body.spec.template.spec.containers.map((c: any) => `${c.name}=${c.image}`), ["app=app:2", "new=n:1"]);
    });

    it("paginates lists with limit and continue", async () => {
        for (const n of ["pg-a", "pg-b", "pg-c"]) await req("POST", "/api/v1/namespaces/kube-system/configmaps", cm(n, {}));
        const first = await req("GET", "/api/v1/namespaces/kube-system/configmaps?limit=2");
        assert.deepEqual(first.body.items.map((o: any) => o.metadata.name), ["pg-a", "pg-b"]);
        assert.equal(first.body.metadata.remainingItemCount, 1);
        assert.ok(first.body.metadata.continue);
        const second = await req("GET", `/api/v1/namespaces/kube-system/configmaps?limit=2&continue=${encodeURIComponent(first.body.metadata.continue)}`);
        assert.deepEqual(second.body.items.map((o: any) => o.metadata.name), ["pg-c"]);
        assert.equal(second.body.metadata.continue, undefined);
        assert.equal(second.body.metadata.resourceVersion, first.body.metadata.resourceVersion);
    });

    it("generation is bumped on spec changes only", async () => {
        const dep = {
            apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "gen" },
            spec: { selector: { matchLabels: { app: "g" } }, template: { metadata: { labels: { app: "g" } }, spec: { containers: [{ name: "c", image: "i:1" }] } } },
        };
        api().flux.rollout = false;
        const c = await req("POST", "/apis/apps/v1/namespaces/default/deployments", dep);
        assert.equal(c.body.metadata.generation, 1);
        const l = await req("PATCH", "/apis/apps/v1/namespaces/default/deployments/gen", { metadata: { labels: { x: "y" } } }, MERGE);
        assert.equal(l.body.metadata.generation, 1);
        const st = await req("PATCH", "/apis/apps/v1/namespaces/default/deployments/gen/status", { status: { observedGeneration: 1, replicas: 1 } }, MERGE);
        assert.equal(st.body.metadata.generation, 1);
        assert.equal(st.body.status.replicas, 1);
        const sp = await req("PATCH", "/apis/apps/v1/namespaces/default/deployments/gen", { spec: { replicas: 3 } }, MERGE);
        assert.equal(sp.body.metadata.generation, 2);
        assert.equal(sp.body.status.observedGeneration, 1, "observedGeneration is left to controllers");
        api().flux.rollout = true;
    });
});

describe("kube-apiserver: server-side apply", () => {
    const api = useServer();
    const req = (m: string, p: string, b?: unknown, ct?: string) => call(api().url, m, p, b, ct);
    const apply = (path: string, yaml: string, manager: string, force = false) =>
        req("PATCH", `${path}?fieldManager=${manager}${force ? "&force=true" : ""}`, yaml, APPLY);
    const CM = "/api/v1/namespaces/default/configmaps/cfg";

    it("creates the object and records the manager's fields in FieldsV1", async () => {
        const r = await apply(CM, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  labels:\n    app: x\ndata:\n  a: '1'\n  b: '2'\n", "alice");
        assert.equal(r.status, 201, r.text);
        const mf = r.body.metadata.managedFields;
        assert.equal(mf.length, 1);
        assert.equal(mf[0].manager, "alice");
        assert.equal(mf[0].operation, "Apply");
        assert.equal(mf[0].fieldsType, "FieldsV1");
        assert.deepEqual(mf[0].fieldsV1, { "f:data": { "f:a": {}, "f:b": {} }, "f:metadata": { "f:labels": { "f:app": {} } } });
    });

    it("re-applying the same configuration is a no-op (resourceVersion unchanged)", async () => {
        const before = api().get("v1", "ConfigMap", "cfg");
        const r = await apply(CM, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  labels:\n    app: x\ndata:\n  a: '1'\n  b: '2'\n", "alice");
        assert.equal(r.status, 200);
        assert.equal(r.body.metadata.resourceVersion, before.metadata.resourceVersion);
    });

    it("conflicts with another manager's field: 409 with the real Status body", async () => {
        const r = await apply(CM, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: 'changed'\n", "bob");
        assert.equal(r.status, 409);
        assert.equal(r.body.kind, "Status");
        assert.equal(r.body.reason, "Conflict");
        assert.equal(r.body.message, 'Apply failed with 1 conflict: conflict with "alice": .data.a');
        assert.deepEqual(r.body.details.causes, [{ reason: "FieldManagerConflict", message: 'conflict with "alice"', field: ".data.a" }]);
        assert.equal(api().get("v1", "ConfigMap", "cfg").data.a, "1");
    });

    it("lists every conflicting field and manager", async () => {
        const r = await apply(CM, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: 'x'\n  b: 'y'\n", "bob");
        assert.equal(r.status, 409);
        assert.equal(r.body.message, 'Apply failed with 2 conflicts: conflicts with "alice":\n- .data.a\n- .data.b');
        assert.equal(r.body.details.causes.length, 2);
    });

    it("the same value is shared ownership, not a conflict", async () => {
        const r = await apply(CM, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  b: '2'\n  c: '3'\n", "bob");
        assert.equal(r.status, 200, r.text);
        const bob = r.body.metadata.managedFields.find((e: any) => e.manager === "bob");
        assert.deepEqual(bob.fieldsV1, { "f:data": { "f:b": {}, "f:c": {} } });
    });

    it("force=true takes the fields over", async () => {
        const r = await apply(CM, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: 'bob'\n  b: '2'\n  c: '3'\n", "bob", true);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.body.data.a, "bob");
        const alice = r.body.metadata.managedFields.find((e: any) => e.manager === "alice");
        assert.deepEqual(alice.fieldsV1, { "f:data": { "f:b": {} }, "f:metadata": { "f:labels": { "f:app": {} } } });
    });

    it("a field dropped from the applied configuration is removed unless someone else owns it", async () => {
        // alice drops b (bob still owns b) and the label app (only alice owns it).
        const r = await apply(CM, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata: {}\n", "alice");
        assert.equal(r.status, 200, r.text);
        assert.deepEqual(r.body.data, { a: "bob", b: "2", c: "3" });
        assert.equal(r.body.metadata.labels, undefined);
    });

    it("conflicts with an Update manager name its apiVersion", async () => {
        await req("PATCH", "/api/v1/namespaces/default/configmaps/cfg?fieldManager=editor", { data: { e: "1" } }, MERGE);
        const r = await apply(CM, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  e: '2'\n", "bob");
        assert.equal(r.status, 409);
        assert.match(r.body.message, /^Apply failed with 1 conflict: conflict with "editor" using v1( at \S+)?: \.data\.e$/);
    });

    it("merges map-lists by key: two managers own different containers", async () => {
        const D = "/apis/apps/v1/namespaces/default/deployments/two";
        const base = (containers: string) => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: two\nspec:\n  selector:\n    matchLabels: {app: two}\n  template:\n    metadata:\n      labels: {app: two}\n    spec:\n      containers:\n${containers}`;
        const a = await apply(D, base("      - name: app\n        image: app:1\n"), "team-a");
        assert.equal(a.status, 201, a.text);
        const b = await apply(D, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: two\nspec:\n  template:\n    spec:\n      containers:\n      - name: sidecar\n        image: side:1\n", "team-b");
        assert.equal(b.status, 200, b.text);
        assert.deepEqual(b.body.spec.template.spec.containers.map((c: any) => c.name), ["app", "sidecar"]);
        const own = b.body.metadata.managedFields.find((e: any) => e.manager === "team-b").fieldsV1;
        assert.deepEqual(own["f:spec"]["f:template"]["f:spec"]["f:containers"], {
            'k:{"name":"sidecar"}': { ".": {}, "f:image": {}, "f:name": {} },
        });
        const c = await apply(D, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: two\nspec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: app:2\n", "team-b");
        assert.equal(c.status, 409);
        assert.equal(c.body.details.causes[0].field, '.spec.template.spec.containers[name="app"].image');
        // team-b stops managing its sidecar: the container goes away, team-a's stays.
        const d = await apply(D, "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: two\n", "team-b");
        assert.deepEqual(d.body.spec.template.spec.containers.map((x: any) => x.name), ["app"]);
    });

    it("Update operations own the maps they create, and atomic selectors whole", async () => {
        const c = await req("POST", "/api/v1/namespaces/default/configmaps?fieldManager=kubectl-create", cm("upd", { a: "1" }, { app: "x" }));
        assert.deepEqual(c.body.metadata.managedFields.map((e: any) => [e.manager, e.operation, e.fieldsV1]), [["kubectl-create", "Update", {
            "f:data": { ".": {}, "f:a": {} }, "f:metadata": { "f:labels": { ".": {}, "f:app": {} } },
        }]]);
        const d = await req("POST", "/apis/apps/v1/namespaces/default/deployments?fieldManager=kubectl-create", {
            apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "upd" },
            spec: { selector: { matchLabels: { app: "u" } }, template: { metadata: { labels: { app: "u" } }, spec: { containers: [{ name: "c", image: "i" }] } } },
        });
        const spec = d.body.metadata.managedFields[0].fieldsV1["f:spec"];
        assert.deepEqual(spec["f:selector"], {});
        assert.equal(spec["."], undefined);
        assert.deepEqual(spec["f:strategy"]["f:rollingUpdate"], { ".": {}, "f:maxSurge": {}, "f:maxUnavailable": {} });
        assert.deepEqual(spec["f:template"]["f:spec"]["f:containers"], { 'k:{"name":"c"}': { ".": {}, "f:image": {}, "f:name": {} } });
        // Removing the labels map drops it from the creator's set.
        const r = await req("PATCH", "/api/v1/namespaces/default/configmaps/upd?fieldManager=editor", { metadata: { labels: null } }, MERGE);
        assert.deepEqual(r.body.metadata.managedFields[0].fieldsV1, { "f:data": { ".": {}, "f:a": {} } });
    });

    it("requires fieldManager, and rejects managedFields in the configuration", async () => {
        const r = await req("PATCH", CM, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n", APPLY);
        assert.equal(r.status, 400);
        const m = await apply(CM, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  managedFields: []\n", "x");
        assert.equal(m.status, 400);
    });

    it("dryRun=All answers without storing", async () => {
        const r = await req("PATCH", "/api/v1/namespaces/default/configmaps/dry?fieldManager=x&dryRun=All", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dry\ndata: {a: b}\n", APPLY);
        assert.equal(r.status, 201);
        assert.equal(r.body.data.a, "b");
        assert.equal(api().get("v1", "ConfigMap", "dry"), undefined);
    });
});

describe("kube-apiserver: CRDs, status subresource, finalizers, namespaces", () => {
    // The first test makes two requests before the CRD is Established: 1 s leaves room for a
    // loaded machine (150 ms did not: a GC pause or two busy cores and the timer fires first).
    const api = useServer({ crdEstablishDelayMs: 1000 });
    const req = (m: string, p: string, b?: unknown, ct?: string) => call(api().url, m, p, b, ct);
    const W = "/apis/example.com/v1/namespaces/default/widgets";

    it("a CRD is served only after it is Established", async () => {
        const c = await req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd("example.com/v1", "Widget", { shortNames: ["wd"] }));
        assert.equal(c.status, 201, c.text);
        assert.equal((await req("GET", "/apis/example.com/v1")).status, 404);
        assert.equal((await req("POST", W, { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "early" } })).status, 404);
        const est = await waitFor(async () => {
            const r = await req("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com");
            return (r.body.status?.conditions ?? []).find((x: any) => x.type === "Established" && x.status === "True") ? r.body : undefined;
        });
        assert.ok(est.status.conditions.some((x: any) => x.type === "NamesAccepted" && x.status === "True"));
        assert.equal(est.status.acceptedNames.kind, "Widget");
        const list = await req("GET", "/apis/example.com/v1");
        assert.deepEqual(list.body.resources.map((r: any) => r.name), ["widgets", "widgets/status"]);
        assert.ok((await req("GET", "/apis")).body.groups.some((g: any) => g.name === "example.com"));
    });

    it("prunes fields a structural schema does not declare; fieldValidation=Strict rejects them", async () => {
        const strict = crd("example.com/v1", "Gizmo");
        strict.spec.versions[0].schema.openAPIV3Schema.properties.spec = { type: "object", properties: { size: { type: "integer" } } };
        await req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", strict);
        await waitFor(async () => (await req("GET", "/apis/example.com/v1")).body?.resources?.some((r: any) => r.name === "gizmos"));
        const G = "/apis/example.com/v1/namespaces/default/gizmos";
        const body = { apiVersion: "example.com/v1", kind: "Gizmo", metadata: { name: "g" }, spec: { size: 1, colour: "red" } };
        const s = await req("POST", `${G}?fieldValidation=Strict`, body);
        assert.equal(s.status, 400);
        assert.match(s.body.message, /strict decoding error: unknown field "spec.colour"/);
        const w = await req("POST", G, body);
        assert.equal(w.status, 201);
        assert.deepEqual(w.body.spec, { size: 1 });
        assert.match(w.headers.get("warning") ?? "", /unknown field \\"spec.colour\\"/);
    });

    it("rejects a CRD whose name is not plural.group", async () => {
        const bad = crd("example.com/v1", "Gadget");
        bad.metadata.name = "wrong";
        const r = await req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", bad);
        assert.equal(r.status, 422);
    });

    it("status subresource: status ignored on the main resource, spec ignored on /status", async () => {
        const c = await req("POST", W, { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "w1" }, spec: { size: 1 }, status: { ok: true } });
        assert.equal(c.status, 201, c.text);
        assert.equal(c.body.status, undefined);
        assert.equal(c.body.metadata.generation, 1);
        const s = await req("PUT", `${W}/w1/status`, { ...c.body, spec: { size: 99 }, status: { ok: true } });
        assert.equal(s.status, 200, s.text);
        assert.deepEqual(s.body.spec, { size: 1 });
        assert.deepEqual(s.body.status, { ok: true });
        assert.equal(s.body.metadata.generation, 1);
        const m = await req("PUT", `${W}/w1`, { ...s.body, spec: { size: 2 }, status: { ok: false } });
        assert.deepEqual(m.body.status, { ok: true });
        assert.equal(m.body.metadata.generation, 2);
        const smp = await req("PATCH", `${W}/w1`, { spec: { size: 3 } }, SMP);
        assert.equal(smp.status, 415);
    });

    it("deletion with finalizers: deletionTimestamp set, object kept until finalizers are gone", async () => {
        await req("POST", W, { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "fin", finalizers: ["example.com/cleanup"] } });
        const d = await req("DELETE", `${W}/fin?propagationPolicy=Foreground`);
        assert.equal(d.status, 202);
        assert.ok(d.body.metadata.deletionTimestamp);
        const still = await req("GET", `${W}/fin`);
        assert.equal(still.status, 200);
        assert.ok(still.body.metadata.deletionTimestamp);
        assert.equal(still.body.metadata.generation, 2);
        const add = await req("PATCH", `${W}/fin`, { metadata: { finalizers: ["example.com/cleanup", "more"] } }, MERGE);
        assert.equal(add.status, 422);
        const rm = await req("PATCH", `${W}/fin`, { metadata: { finalizers: null } }, MERGE);
        assert.equal(rm.status, 200);
        assert.equal((await req("GET", `${W}/fin`)).status, 404);
    });

    it("deleting a namespace deletes its objects, then the namespace", async () => {
        await req("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "team" } });
        const ns = api().get("v1", "Namespace", "team");
        assert.equal(ns.status.phase, "Active");
        assert.equal(ns.metadata.labels["kubernetes.io/metadata.name"], "team");
        await req("POST", "/api/v1/namespaces/team/configmaps", cm("a", {}));
        await req("POST", "/apis/example.com/v1/namespaces/team/widgets", { apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "held", finalizers: ["x/y"] } });
        await req("DELETE", "/api/v1/namespaces/team");
        assert.equal(api().get("v1", "ConfigMap", "a", "team"), undefined);
        assert.equal(api().get("v1", "Namespace", "team").status.phase, "Terminating");
        const blocked = await req("POST", "/api/v1/namespaces/team/configmaps", cm("b", {}));
        assert.equal(blocked.status, 403);
        await req("PATCH", "/apis/example.com/v1/namespaces/team/widgets/held", { metadata: { finalizers: null } }, MERGE);
        assert.equal(api().get("v1", "Namespace", "team"), undefined);
    });

    it("dependents are deleted with their owner", async () => {
        const owner = await req("POST", "/api/v1/namespaces/default/configmaps", cm("owner", {}));
        const dep = cm("dependent", {});
        dep.metadata.ownerReferences = [{ apiVersion: "v1", kind: "ConfigMap", name: "owner", uid: owner.body.metadata.uid }];
        await req("POST", "/api/v1/namespaces/default/configmaps", dep);
        await req("DELETE", "/api/v1/namespaces/default/configmaps/owner");
        assert.equal(api().get("v1", "ConfigMap", "dependent"), undefined);
    });

    it("cluster-scoped CRDs and CRD deletion", async () => {
        await req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd("example.com/v1", "Realm", { scope: "Cluster" }));
        await waitFor(() => api().list("apiextensions.k8s.io/v1", "CustomResourceDefinition")
            .find((c) => c.metadata.name === "realms.example.com" && c.status?.conditions?.some((x: any) => x.type === "Established")));
        const r = await req("POST", "/apis/example.com/v1/realms", { apiVersion: "example.com/v1", kind: "Realm", metadata: { name: "r1" } });
        assert.equal(r.status, 201, r.text);
        assert.equal(r.body.metadata.namespace, undefined);
        assert.equal((await req("POST", "/apis/example.com/v1/namespaces/default/realms", { apiVersion: "example.com/v1", kind: "Realm", metadata: { name: "r2" } })).status, 404);
        await req("DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/realms.example.com");
        assert.equal((await req("GET", "/apis/example.com/v1/realms/r1")).status, 404);
        assert.equal(api().list("example.com/v1", "Realm").length, 0);
    });

    it("wipe drops everything but the built-in namespaces; snapshot/restore brings it back", async () => {
        const snap = api().snapshot();
        api().wipe();
        assert.deepEqual(api().list("v1", "Namespace").map((n) => n.metadata.name).sort(), ["default", "kube-system"]);
        assert.equal(api().list("apiextensions.k8s.io/v1", "CustomResourceDefinition").length, 0);
        assert.equal((await req("GET", "/apis/example.com/v1")).status, 404);
        api().restore(snap);
        assert.equal((await req("GET", "/apis/example.com/v1")).status, 200);
        assert.ok(api().get("example.com/v1", "Widget", "w1"));
    });
});

describe("kube-apiserver: watch", () => {
    const api = useServer();

    it("streams ADDED, MODIFIED and DELETED events as JSON lines", async () => {
        const url = api().url;
        await call(url, "POST", "/api/v1/namespaces/default/configmaps", cm("before", {}));
        const w = watch(api().url, "/api/v1/namespaces/default/configmaps?watch=1");
        await waitFor(() => w.events.length >= 1);
        assert.deepEqual(w.events.map((e) => `${e.type} ${e.object.metadata.name}`), ["ADDED before"]);
        await call(url, "POST", "/api/v1/namespaces/default/configmaps", cm("w", { a: "1" }));
        await call(url, "PATCH", "/api/v1/namespaces/default/configmaps/w", { data: { a: "2" } }, MERGE);
        await call(url, "DELETE", "/api/v1/namespaces/default/configmaps/w");
        await waitFor(() => w.events.length >= 4);
        assert.deepEqual(w.events.map((e) => `${e.type} ${e.object.metadata.name}`), ["ADDED before", "ADDED w", "MODIFIED w", "DELETED w"]);
        assert.equal(w.events[2].object.data.a, "2");
        w.close();
    });

    it("resumes from a resourceVersion and filters by fieldSelector", async () => {
        const url = api().url;
        const a = await call(url, "POST", "/api/v1/namespaces/default/configmaps", cm("x1", {}));
        await call(url, "POST", "/api/v1/namespaces/default/configmaps", cm("x2", {}));
        await call(url, "PATCH", "/api/v1/namespaces/default/configmaps/x1", { data: { k: "v" } }, MERGE);
        const w = watch(api().url, `/api/v1/namespaces/default/configmaps?watch=true&resourceVersion=${a.body.metadata.resourceVersion}&fieldSelector=metadata.name%3Dx1&timeoutSeconds=1`);
        await w.ended;
        assert.deepEqual(w.events.map((e) => `${e.type} ${e.object.metadata.name}`), ["MODIFIED x1"]);
    });
});

describe("kube-apiserver: watch after a wipe", () => {
    const api = useServer();

    it("resuming from a resourceVersion older than the wipe is 410 Gone (the client must relist)", async () => {
        const c = await call(api().url, "POST", "/api/v1/namespaces/default/configmaps", cm("old", {}));
        api().wipe();
        const w = watch(api().url, `/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=${c.body.metadata.resourceVersion}`);
        await w.ended;
        assert.equal(w.events.length, 1);
        assert.equal(w.events[0].type, "ERROR");
        assert.equal(w.events[0].object.code, 410);
        assert.equal(w.events[0].object.reason, "Expired");
    });
});

describe("kube-apiserver: watch with a label selector", () => {
    const api = useServer();

    it("an object that starts matching is ADDED, one that stops matching is DELETED", async () => {
        const url = api().url;
        const events: string[] = [];
        const ctl = new AbortController();
        const res = await fetch(`${url}/api/v1/namespaces/default/configmaps?watch=1&labelSelector=team%3Dblue`, { signal: ctl.signal });
        const reader = res.body!.getReader();
        const pump = (async () => {
            let buf = "";
            try {
                for (;;) {
                    const { value, done } = await reader.read();
                    if (done) return;
                    buf += Buffer.from(value).toString("utf8");
                    let i;
                    while ((i = buf.indexOf("\n")) >= 0) {
                        const e = JSON.parse(buf.slice(0, i));
                        events.push(`${e.type} ${e.object.metadata.name}`);
                        buf = buf.slice(i + 1);
                    }
                }
            } catch { /* aborted */ }
        })();
        await call(url, "POST", "/api/v1/namespaces/default/configmaps", cm("m", {}, { team: "red" }));
        await call(url, "PATCH", "/api/v1/namespaces/default/configmaps/m", { metadata: { labels: { team: "blue" } } }, MERGE);
        await call(url, "PATCH", "/api/v1/namespaces/default/configmaps/m", { data: { a: "1" } }, MERGE);
        await call(url, "PATCH", "/api/v1/namespaces/default/configmaps/m", { metadata: { labels: { team: "green" } } }, MERGE);
        await waitFor(() => events.length >= 3);
        assert.deepEqual(events, ["ADDED m", "MODIFIED m", "DELETED m"]);
        ctl.abort();
        await pump;
    });
});

describe("kube-apiserver: faults", () => {
    const api = useServer();

    it("429 with Retry-After, 500, then normal answers", async () => {
        api().faults.next(1, "429");
        api().faults.next(1, "500");
        const a = await call(api().url, "GET", "/api/v1/namespaces");
        assert.equal(a.status, 429);
        assert.equal(a.headers.get("retry-after"), "1");
        assert.equal(a.body.reason, "TooManyRequests");
        const b = await call(api().url, "GET", "/api/v1/namespaces");
        assert.equal(b.status, 500);
        assert.equal(b.body.reason, "InternalError");
        assert.equal((await call(api().url, "GET", "/api/v1/namespaces")).status, 200);
    });

    it("connection resets and delays, only for matching requests", async () => {
        api().faults.next(1, "reset", (r) => r.method === "POST");
        assert.equal((await call(api().url, "GET", "/api/v1/namespaces")).status, 200);
        await assert.rejects(call(api().url, "POST", "/api/v1/namespaces/default/configmaps", cm("r", {})));
        assert.equal(api().get("v1", "ConfigMap", "r"), undefined);
        api().faults.next(1, { delayMs: 200 });
        const t0 = Date.now();
        assert.equal((await call(api().url, "GET", "/api/v1/namespaces")).status, 200);
        assert.ok(Date.now() - t0 >= 180);
        api().faults.next(5, "500");
        api().faults.clear();
        assert.equal((await call(api().url, "GET", "/api/v1/namespaces")).status, 200);
        const logged = api().requests.filter((r) => r.method === "POST");
        assert.ok(logged.some((r) => r.path === "/api/v1/namespaces/default/configmaps" && r.contentType === "application/json"));
    });
});

describe("kube-apiserver: Flux and Flagger emulation", () => {
    const api = useServer();
    const req = (m: string, p: string, b?: unknown, ct?: string) => call(api().url, m, p, b, ct);
    const K = "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations";
    const ready = (o: any) => o?.status?.conditions?.find((c: any) => c.type === "Ready");

    before(async () => {
        for (const c of fluxCrds()) assert.equal((await req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", c)).status, 201);
        await req("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "flux-system" } });
    });

    it("a new Kustomization becomes Ready at the controlled revision", async () => {
        api().flux.setRevision("main@sha1:aaaa");
        const r = await req("PATCH", `${K}/apps?fieldManager=gitops`,
            "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\n  namespace: flux-system\nspec:\n  interval: 1m\n  path: ./apps\n  prune: true\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n", APPLY);
        assert.equal(r.status, 201, r.text);
        const k = api().get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system");
        assert.equal(k.status.observedGeneration, 1);
        assert.equal(k.status.lastAppliedRevision, "main@sha1:aaaa");
        assert.equal(ready(k).status, "True");
        assert.ok(k.metadata.managedFields.some((e: any) => e.manager === "kustomize-controller" && e.subresource === "status"));
    });

    it("setRevision moves sources and Kustomizations; fail() reports Ready=False", async () => {
        await req("POST", "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories",
            { apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", metadata: { name: "flux-system" }, spec: { interval: "1m", url: "ssh://git@example.com/fleet" } });
        api().flux.setRevision("main@sha1:bbbb");
        assert.equal(api().get("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system").status.artifact.revision, "main@sha1:bbbb");
        assert.equal(api().get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system").status.lastAppliedRevision, "main@sha1:bbbb");
        api().flux.fail("Kustomization", "apps", "kustomization path not found");
        const k = api().get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system");
        assert.equal(ready(k).status, "False");
        assert.equal(ready(k).message, "kustomization path not found");
        api().flux.recover("Kustomization", "apps");
        assert.equal(ready(api().get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system")).status, "True");
    });

    it("reconcile.fluxcd.io/requestedAt is handled; auto=false leaves status alone", async () => {
        await req("PATCH", `${K}/apps`, { metadata: { annotations: { "reconcile.fluxcd.io/requestedAt": "2026-01-01T00:00:00Z" } } }, MERGE);
        assert.equal(api().get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system").status.lastHandledReconcileAt, "2026-01-01T00:00:00Z");
        api().flux.auto = false;
        await req("PATCH", `${K}/apps`, { spec: { path: "./other" } }, MERGE);
        const k = api().get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system");
        assert.equal(k.metadata.generation, 2);
        assert.equal(k.status.observedGeneration, 1);
        api().flux.auto = true;
    });

    it("disaster recovery drill: wipe, bootstrap again, and the same revision is applied again", async () => {
        api().flux.setRevision("main@sha1:dddd");
        const before = api().get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system");
        assert.equal(before.status.lastAppliedRevision, "main@sha1:dddd");
        api().wipe();
        assert.equal(api().get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system"), undefined);
        assert.equal((await req("GET", "/apis/kustomize.toolkit.fluxcd.io/v1")).status, 404);
        for (const c of fluxCrds()) assert.equal((await req("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", c)).status, 201);
        await req("POST", "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: "flux-system" } });
        const { metadata, spec } = before;
        const r = await req("POST", K, { apiVersion: before.apiVersion, kind: "Kustomization", metadata: { name: metadata.name }, spec });
        assert.equal(r.status, 201, r.text);
        const after = api().get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system");
        assert.notEqual(after.metadata.uid, before.metadata.uid);
        assert.equal(after.status.lastAppliedRevision, "main@sha1:dddd");
    });

    it("Deployments are marked rolled out", async () => {
        const r = await req("POST", "/apis/apps/v1/namespaces/default/deployments", {
            apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "podinfo" },
            spec: { replicas: 2, selector: { matchLabels: { app: "p" } }, template: { metadata: { labels: { app: "p" } }, spec: { containers: [{ name: "p", image: "p:1" }] } } },
        });
        assert.equal(r.status, 201);
        const d = api().get("apps/v1", "Deployment", "podinfo");
        assert.equal(d.status.observedGeneration, 1);
        assert.equal(d.status.availableReplicas, 2);
        assert.equal(d.status.conditions.find((c: any) => c.type === "Available").status, "True");
    });

    it("Canary: Initializing -> Initialized, then Progressing -> Succeeded or Failed", async () => {
        api().flagger.stepMs = 30;
        const w = watch(api().url, "/apis/flagger.app/v1beta1/namespaces/default/canaries?watch=1");
        // Registered before the Canary is created: else, 30 ms late on a busy machine, it would start at Initialized.
        await w.opened;
        const phases: string[] = [];
        const seen = () => {
            for (const e of w.events.splice(0)) {
                const p = e.object.status?.phase;
                if (p && phases[phases.length - 1] !== p) phases.push(p);
            }
            return phases[phases.length - 1];
        };
        await req("POST", "/apis/flagger.app/v1beta1/namespaces/default/canaries", {
            apiVersion: "flagger.app/v1beta1", kind: "Canary", metadata: { name: "podinfo" },
            spec: { targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" }, analysis: { threshold: 5 } },
        });
        await waitFor(() => seen() === "Initialized");
        await req("PATCH", "/apis/apps/v1/namespaces/default/deployments/podinfo", { spec: { template: { spec: { containers: [{ name: "p", image: "p:2" }] } } } }, SMP);
        await waitFor(() => seen() === "Succeeded");
        assert.deepEqual(phases, ["Initializing", "Initialized", "Progressing", "Succeeded"]);
        api().flagger.fail("podinfo", "default", "Halt advancement podinfo-primary.default: error rate 20% > 1%");
        await req("PATCH", "/apis/apps/v1/namespaces/default/deployments/podinfo", { spec: { template: { spec: { containers: [{ name: "p", image: "p:3" }] } } } }, SMP);
        await waitFor(() => seen() === "Failed");
        const c = api().get("flagger.app/v1beta1", "Canary", "podinfo");
        assert.equal(c.status.failedChecks, 5);
        assert.equal(c.status.conditions[0].message, "Halt advancement podinfo-primary.default: error rate 20% > 1%");
        assert.equal(c.status.conditions[0].status, "False");
        assert.deepEqual(phases.slice(4), ["Progressing", "Failed"]);
        w.close();
    });
});
