/**
 * Pure parts of engine/cluster: ids and inventory, retry policy and bounded concurrency, kstatus
 * rules, field comparison, staging order, revision matching, diff summaries. No server needed;
 * the API-server behaviour is in cluster-apiserver.test.ts.
 */
import * as assert from "assert";
import { KubeObject } from "../../engine/flux/api";
import {
    backoffDelay,
    computeHealth,
    declaredPaths,
    deleteRank,
    formatChange,
    inventoryDiff,
    inventoryOf,
    isRetryableError,
    isRetryableStatus,
    judge,
    kustomizationAt,
    mapLimit,
    objectChanges,
    objectId,
    ownedLeafPaths,
    parseId,
    parseRetryAfter,
    revisionMatches,
    revisionSha,
    stageOf,
    subsetChanges,
    summarize,
    undeclaredOwnedPaths,
    validateObjects,
    withoutServerFields,
} from "../../engine/cluster";
import { isGitopsError } from "../../engine/errors";

const deploy = (extra: Record<string, unknown> = {}, status?: Record<string, unknown>): KubeObject => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "podinfo", namespace: "apps", generation: 2 },
    spec: { replicas: 3, progressDeadlineSeconds: 600, ...extra },
    ...(status ? { status } : {}),
});

describe("cluster: ids and inventory", () => {
    it("formats Flux inventory ids: namespace empty when cluster-scoped, group empty for core", () => {
        assert.strictEqual(objectId(deploy()), "apps_podinfo_apps_Deployment");
        assert.strictEqual(objectId({ apiVersion: "v1", kind: "Namespace", metadata: { name: "apps" } }), "_apps__Namespace");
        assert.strictEqual(objectId({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", namespace: "n" } }), "n_c__ConfigMap");
        assert.strictEqual(
            objectId({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "canaries.flagger.app" } }),
            "_canaries.flagger.app_apiextensions.k8s.io_CustomResourceDefinition",
        );
    });

    it("parses ids back and rejects malformed ones with a GitopsError", () => {
        assert.deepStrictEqual(parseId("apps_podinfo_apps_Deployment", "v1"), { namespace: "apps", name: "podinfo", group: "apps", kind: "Deployment", version: "v1" });
        assert.deepStrictEqual(parseId("_apps__Namespace"), { namespace: "", name: "apps", group: "", kind: "Namespace", version: "" });
        assert.throws(() => parseId("a_b_c"), (e: unknown) => isGitopsError(e) && /inventory id/.test((e as Error).message));
    });

    it("writes an RBAC name's ':' as '__' (as Flux's inventory does), and an id stored before that rule is the same object, never pruned", () => {
        const role = { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "system:reader" } };
        assert.strictEqual(objectId(role), "_system__reader_rbac.authorization.k8s.io_ClusterRole");
        assert.strictEqual(parseId(objectId(role)).name, "system:reader");
        const stored = { entries: [{ id: "_system:reader_rbac.authorization.k8s.io_ClusterRole", v: "v1" }, { id: "_gone_rbac.authorization.k8s.io_ClusterRole", v: "v1" }] };
        assert.deepStrictEqual(inventoryDiff(stored, inventoryOf([role as any])).map((e) => e.id), ["_gone_rbac.authorization.k8s.io_ClusterRole"]);
    });

    it("builds a sorted, de-duplicated inventory with versions, and diffs old minus new", () => {
        const inv = inventoryOf([deploy(), { apiVersion: "v1", kind: "Namespace", metadata: { name: "apps" } }, deploy()]);
        assert.deepStrictEqual(inv.entries, [
            { id: "_apps__Namespace", v: "v1" },
            { id: "apps_podinfo_apps_Deployment", v: "v1" },
        ]);
        const gone = inventoryDiff(inv, { entries: [{ id: "_apps__Namespace", v: "v1" }] });
        assert.deepStrictEqual(gone, [{ id: "apps_podinfo_apps_Deployment", v: "v1" }]);
        assert.deepStrictEqual(inventoryDiff(undefined, inv), []);
    });
});

describe("cluster: retry policy and concurrency", () => {
    it("retries 429 and 5xx but not 4xx or 501", () => {
        for (const s of [429, 500, 502, 503, 504]) assert.ok(isRetryableStatus(s), String(s));
        for (const s of [400, 403, 404, 409, 422, 501]) assert.ok(!isRetryableStatus(s), String(s));
    });

    it("retries connection resets and hang-ups, not other errors", () => {
        assert.ok(isRetryableError(Object.assign(new Error("x"), { code: "ECONNRESET" })));
        assert.ok(isRetryableError(new Error("socket hang up")));
        assert.ok(!isRetryableError(new Error("certificate has expired")));
        assert.ok(!isRetryableError(undefined));
    });

    it("honours Retry-After (seconds and HTTP dates), capped by the policy", () => {
        assert.strictEqual(parseRetryAfter("2"), 2000);
        assert.strictEqual(parseRetryAfter(undefined), undefined);
        assert.strictEqual(parseRetryAfter("soon"), undefined);
        const now = Date.parse("2026-01-01T00:00:00Z");
        assert.strictEqual(parseRetryAfter("Thu, 01 Jan 2026 00:00:03 GMT", now), 3000);
        const policy = { attempts: 5, baseMs: 100, maxMs: 1500 };
        assert.strictEqual(backoffDelay(1, policy, 1000), 1000);
        assert.strictEqual(backoffDelay(1, policy, 60_000), 1500);
    });

    it("backs off exponentially with jitter inside [ceiling/2, ceiling]", () => {
        const policy = { attempts: 5, baseMs: 100, maxMs: 1000 };
        assert.strictEqual(backoffDelay(1, policy, undefined, () => 0), 50);
        assert.strictEqual(backoffDelay(1, policy, undefined, () => 1), 100);
        assert.strictEqual(backoffDelay(3, policy, undefined, () => 1), 400);
        assert.strictEqual(backoffDelay(10, policy, undefined, () => 1), 1000);
    });

    it("mapLimit keeps at most N in flight, keeps order and reports failures per item", async () => {
        let inFlight = 0;
        let peak = 0;
        const rs = await mapLimit([...Array(40).keys()], 8, async (i) => {
            inFlight++;
            peak = Math.max(peak, inFlight);
            await new Promise((r) => setTimeout(r, 2 + (i % 3)));
            inFlight--;
            if (i === 7) throw new Error("seven");
            return i * 2;
        });
        assert.strictEqual(peak, 8);
        assert.strictEqual(rs.length, 40);
        assert.deepStrictEqual(rs[3], { ok: true, value: 6 });
        assert.strictEqual(rs[7].ok, false);
    });
});

describe("cluster: staging and deletion order", () => {
    it("puts CRDs and Namespaces in stage 0 and everything else in stage 1", () => {
        assert.strictEqual(stageOf({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition" }), 0);
        assert.strictEqual(stageOf({ apiVersion: "v1", kind: "Namespace" }), 0);
        assert.strictEqual(stageOf({ apiVersion: "apps/v1", kind: "Deployment" }), 1);
        assert.strictEqual(stageOf({ apiVersion: "example.com/v1", kind: "Namespace" }), 1);
    });

    it("deletes in reverse: namespaced objects, then Namespaces, then CRDs", () => {
        const ids = ["_canaries.flagger.app_apiextensions.k8s.io_CustomResourceDefinition", "_apps__Namespace", "apps_podinfo_apps_Deployment", "_admin_rbac.authorization.k8s.io_ClusterRole"];
        const sorted = [...ids].sort((a, b) => deleteRank(parseId(a)) - deleteRank(parseId(b)));
        assert.deepStrictEqual(sorted, ["apps_podinfo_apps_Deployment", "_admin_rbac.authorization.k8s.io_ClusterRole", "_apps__Namespace", "_canaries.flagger.app_apiextensions.k8s.io_CustomResourceDefinition"]);
    });

    it("rejects objects without apiVersion, kind or name before anything is applied", () => {
        assert.throws(() => validateObjects([deploy(), { kind: "ConfigMap", metadata: { name: "x" } } as KubeObject]), /object #2 \(ConfigMap x\): has no apiVersion/);
        assert.throws(() => validateObjects([{ apiVersion: "v1", kind: "ConfigMap", metadata: {} } as KubeObject]), /has no metadata.name/);
    });
});

describe("cluster: kstatus health", () => {
    it("Deployment: rolled out is Current; partial rollouts are InProgress with the count", () => {
        const ok = deploy({}, {
            observedGeneration: 2, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3,
            conditions: [{ type: "Progressing", status: "True", reason: "NewReplicaSetAvailable" }, { type: "Available", status: "True" }],
        });
        assert.strictEqual(computeHealth(ok).status, "Current");
        const partial = deploy({}, { observedGeneration: 2, replicas: 3, updatedReplicas: 1, readyReplicas: 3, availableReplicas: 3 });
        assert.deepStrictEqual([computeHealth(partial).status, computeHealth(partial).message], ["InProgress", "Updated: 1/3"]);
        const stale = deploy({}, { observedGeneration: 1, replicas: 3, updatedReplicas: 3, readyReplicas: 3, availableReplicas: 3 });
        assert.match(computeHealth(stale).message, /generation is 2, but latest observed generation is 1/);
    });

    it("Deployment: ProgressDeadlineExceeded is Failed", () => {
        const h = computeHealth(deploy({}, { observedGeneration: 2, conditions: [{ type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: "ReplicaSet timed out" }] }));
        assert.strictEqual(h.status, "Failed");
        assert.strictEqual(h.message, "ReplicaSet timed out");
    });

    it("Flux objects: Ready=True at the observed generation is Current; Ready=False is Failed with its message; Reconciling is InProgress", () => {
        const ks = (conds: unknown[], observedGeneration = 1): KubeObject => ({
            apiVersion: "kustomize.toolkit.fluxcd.io/v1",
            kind: "Kustomization",
            metadata: { name: "apps", namespace: "flux-system", generation: 1 },
            status: { observedGeneration, conditions: conds },
        });
        assert.strictEqual(computeHealth(ks([{ type: "Ready", status: "True", reason: "ReconciliationSucceeded" }])).status, "Current");
        const f = computeHealth(ks([{ type: "Ready", status: "False", reason: "BuildFailed", message: "kustomization.yaml not found" }]));
        assert.deepStrictEqual([f.status, f.reason, f.message], ["Failed", "BuildFailed", "kustomization.yaml not found"]);
        assert.strictEqual(computeHealth(ks([{ type: "Reconciling", status: "True" }, { type: "Ready", status: "False" }])).status, "InProgress");
        assert.strictEqual(computeHealth(ks([{ type: "Stalled", status: "True", message: "bad" }])).status, "Failed");
        assert.strictEqual(computeHealth(ks([{ type: "Ready", status: "True" }], 0)).status, "InProgress");
        assert.strictEqual(computeHealth(ks([])).status, "InProgress");
        // Waiting for dependsOn or the source is not a failure of the Kustomization.
        assert.strictEqual(computeHealth(ks([{ type: "Ready", status: "False", reason: "DependencyNotReady", message: "dependency 'flux-system/infra' is not ready" }])).status, "InProgress");
    });

    it("Jobs: Complete is Current, Failed is Failed, running is InProgress", () => {
        const job = (status: Record<string, unknown>): KubeObject => ({ apiVersion: "batch/v1", kind: "Job", metadata: { name: "j", namespace: "n" }, status });
        assert.strictEqual(computeHealth(job({ startTime: "t", conditions: [{ type: "Complete", status: "True" }] })).status, "Current");
        assert.strictEqual(computeHealth(job({ startTime: "t", conditions: [{ type: "Failed", status: "True", message: "BackoffLimitExceeded" }] })).status, "Failed");
        assert.strictEqual(computeHealth(job({ startTime: "t", active: 1 })).status, "InProgress");
        assert.strictEqual(computeHealth(job({})).message, "Job not started");
    });

    it("Canary: Initialized and Succeeded are healthy, Failed fails, Progressing waits", () => {
        const c = (phase?: string): KubeObject => ({ apiVersion: "flagger.app/v1beta1", kind: "Canary", metadata: { name: "podinfo", namespace: "apps" }, status: phase ? { phase } : {} });
        assert.strictEqual(computeHealth(c("Initialized")).status, "Current");
        assert.strictEqual(computeHealth(c("Succeeded")).status, "Current");
        assert.strictEqual(computeHealth(c("Failed")).status, "Failed");
        assert.strictEqual(computeHealth(c("Progressing")).status, "InProgress");
        assert.strictEqual(computeHealth(c()).status, "InProgress");
    });

    it("CRDs: Established=True is Current; NamesAccepted=False is Failed; missing is NotFound; deleting is Terminating", () => {
        const crd = (conds: unknown[]): KubeObject => ({ apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition", metadata: { name: "x.y" }, status: { conditions: conds } });
        assert.strictEqual(computeHealth(crd([{ type: "Established", status: "True" }])).status, "Current");
        assert.strictEqual(computeHealth(crd([{ type: "NamesAccepted", status: "False", reason: "ListKindConflict" }])).status, "Failed");
        assert.strictEqual(computeHealth(crd([])).status, "InProgress");
        assert.strictEqual(computeHealth(undefined).status, "NotFound");
        assert.strictEqual(computeHealth({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c", deletionTimestamp: "now" } }).status, "Terminating");
        assert.strictEqual(computeHealth({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: "c" } }).status, "Current");
    });
});

describe("cluster: field comparison", () => {
    it("compares only declared fields: defaults, status and server metadata do not count", () => {
        const desired = deploy({ template: { spec: { containers: [{ name: "app", image: "podinfo:6.0" }] } } });
        const live = {
            ...deploy({ strategy: { type: "RollingUpdate" }, template: { spec: { containers: [{ name: "app", image: "podinfo:6.0", imagePullPolicy: "IfNotPresent" }] } } }),
            status: { replicas: 3 },
        };
        (live.metadata as Record<string, unknown>).resourceVersion = "42";
        (live.metadata as Record<string, unknown>).uid = "u";
        assert.deepStrictEqual(subsetChanges(desired, live), []);
    });

    it("reports changed, missing and list-length changes with paths", () => {
        const desired = deploy({ replicas: 3, template: { spec: { containers: [{ name: "app", image: "podinfo:6.1" }] } } });
        const live = deploy({ replicas: 2, template: { spec: { containers: [{ name: "app", image: "podinfo:6.0" }] } } });
        const changes = subsetChanges(desired, live).map(formatChange);
        assert.deepStrictEqual(changes, ["spec.replicas: 2 -> 3", "spec.template.spec.containers[0].image: podinfo:6.0 -> podinfo:6.1"]);
        const fewer = subsetChanges(deploy({ ports: [1, 2] }), deploy({ ports: [1] }));
        assert.strictEqual(fewer[0].path, "spec.ports");
    });

    it("reads owned leaf paths from managedFields and flags fields we own but no longer declare", () => {
        const fieldsV1 = { "f:metadata": { "f:labels": { "f:app": {} } }, "f:spec": { "f:replicas": {}, "f:paused": {}, "f:template": { "f:spec": { "f:containers": { 'k:{"name":"app"}': { ".": {}, "f:image": {} } } } } } };
        assert.deepStrictEqual(ownedLeafPaths(fieldsV1).sort(), ["metadata.labels.app", "spec.paused", "spec.replicas", "spec.template.spec.containers"]);
        const desired = deploy({ template: { spec: { containers: [{ name: "app", image: "x" }] } } });
        (desired.metadata as Record<string, unknown>).labels = { app: "podinfo" };
        const live = { ...desired, metadata: { ...desired.metadata, managedFields: [{ manager: "gitops-platform", operation: "Apply", fieldsV1 }] } };
        assert.deepStrictEqual(undeclaredOwnedPaths(desired, live as KubeObject, "gitops-platform"), ["spec.paused"]);
        assert.strictEqual(undeclaredOwnedPaths(desired, live as KubeObject, "someone-else"), undefined);
        assert.ok(declaredPaths(desired).has("spec.template.spec.containers"));
        const v = judge(desired, live as KubeObject, "gitops-platform");
        assert.strictEqual(v.action, "configured");
    });

    it("judges missing as created, matching as unchanged, and unowned-but-matching as needing an apply", () => {
        const d = deploy();
        assert.strictEqual(judge(d, undefined, "m").action, "created");
        const owned = { ...d, metadata: { ...d.metadata, managedFields: [{ manager: "m", operation: "Apply", fieldsV1: { "f:spec": { "f:replicas": {}, "f:progressDeadlineSeconds": {} } } }] } };
        assert.deepStrictEqual(judge(d, owned as KubeObject, "m"), { action: "unchanged", changes: [], needsApply: false });
        const foreign = { ...d, metadata: { ...d.metadata, managedFields: [{ manager: "kubectl", operation: "Update", fieldsV1: {} }] } };
        assert.deepStrictEqual(judge(d, foreign as KubeObject, "m"), { action: "unchanged", changes: [], needsApply: true });
    });

    it("compares whole objects (dry-run result vs live) ignoring server metadata", () => {
        const a = { ...deploy({ replicas: 2 }), status: { x: 1 } } as KubeObject;
        const b = { ...deploy({ replicas: 3 }), status: { x: 2 } } as KubeObject;
        (b.metadata as Record<string, unknown>).resourceVersion = "9";
        (b.metadata as Record<string, unknown>).generation = 3;
        assert.deepStrictEqual(objectChanges(withoutServerFields(a), withoutServerFields(b)).map(formatChange), ["spec.replicas: 2 -> 3"]);
    });
});

describe("cluster: revisions", () => {
    it("matches Flux's <branch>@sha1:<sha>, sha1:<sha>, legacy <branch>/<sha> and bare shas", () => {
        const sha = "0123456789abcdef0123456789abcdef01234567";
        assert.strictEqual(revisionSha(`main@sha1:${sha}`), sha);
        assert.ok(revisionMatches(`main@sha1:${sha}`, sha));
        assert.ok(revisionMatches(`refs/heads/main@sha1:${sha}`, `main@sha1:${sha}`));
        assert.ok(revisionMatches(`sha1:${sha}`, sha));
        assert.ok(revisionMatches(`main/${sha}`, sha));
        assert.ok(revisionMatches(`main@sha1:${sha}`, sha.slice(0, 7)));
        assert.ok(!revisionMatches(`main@sha1:${sha}`, "0123"));
        assert.ok(!revisionMatches(`main@sha1:${"f".repeat(40)}`, sha));
        assert.ok(!revisionMatches(undefined, sha));
    });

    it("judges a Kustomization against a revision", () => {
        const rev = "main@sha1:" + "a".repeat(40);
        const k = (status: Record<string, unknown>): KubeObject => ({ apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "apps", namespace: "flux-system", generation: 1 }, status });
        assert.strictEqual(kustomizationAt(k({ observedGeneration: 1, lastAppliedRevision: rev, conditions: [{ type: "Ready", status: "True" }] }), rev).status, "Current");
        assert.strictEqual(kustomizationAt(k({ observedGeneration: 1, lastAppliedRevision: "main@sha1:" + "b".repeat(40), conditions: [{ type: "Ready", status: "True" }] }), rev).status, "InProgress");
        const failed = kustomizationAt(k({ observedGeneration: 1, lastAttemptedRevision: rev, conditions: [{ type: "Ready", status: "False", reason: "HealthCheckFailed", message: "timeout waiting for Deployment/apps/podinfo" }] }), rev);
        assert.deepStrictEqual([failed.status, failed.message], ["Failed", "timeout waiting for Deployment/apps/podinfo"]);
        assert.strictEqual(kustomizationAt(k({ observedGeneration: 1, lastAttemptedRevision: rev, conditions: [{ type: "Ready", status: "False", reason: "DependencyNotReady" }] }), rev).status, "InProgress");
        // Ready=False about an older revision is not this revision's failure.
        assert.strictEqual(kustomizationAt(k({ observedGeneration: 1, lastAttemptedRevision: "old", conditions: [{ type: "Ready", status: "False" }] }), rev).status, "InProgress");
    });
});

describe("cluster: diff summary", () => {
    it("prints counts, then one line per object that would change", () => {
        const s = summarize([
            { id: "apps_podinfo_apps_Deployment", action: "configured", changes: ["spec.replicas: 2 -> 3"] },
            { id: "apps_cfg__ConfigMap", action: "unchanged" },
            { id: "_apps__Namespace", action: "created" },
            { id: "apps_old__ConfigMap", action: "deleted" },
            { id: "apps_keep__ConfigMap", action: "skipped", message: "kustomize.toolkit.fluxcd.io/prune: disabled" },
        ]);
        assert.strictEqual(
            s,
            "1 created, 1 configured, 1 unchanged, 1 deleted, 1 skipped\n" +
                "configured apps_podinfo_apps_Deployment (spec.replicas: 2 -> 3)\n" +
                "created _apps__Namespace\n" +
                "deleted apps_old__ConfigMap\n" +
                "skipped apps_keep__ConfigMap (kustomize.toolkit.fluxcd.io/prune: disabled)\n",
        );
    });
});
