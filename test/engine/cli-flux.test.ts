/**
 * `gitops get / reconcile / suspend / resume` against a Kubernetes API server with Flux's own
 * CRDs (read from the kustomize-controller and source-controller Go modules in the cache).
 *
 * The API server is the real kube-apiserver + etcd built by scripts/e2e-build.sh when they are in
 * ${GITOPS_E2E_BIN:-/var/cache/gitops-e2e/bin}; otherwise the test API server (test/kube-apiserver),
 * and the test says which in its title. The Flux controllers are not running here yet (the
 * "localcluster" control plane will bring them): a stand-in loop below answers reconcile
 * requests the way kustomize-controller and source-controller report them, by writing the status
 * subresource (lastHandledReconcileAt = the requestedAt annotation, Ready, revisions).
 */
import * as assert from "assert";
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main } from "../../engine/cli";
import { ClusterClient } from "../../engine/cluster/client";
import { KubeObject, RECONCILE_REQUESTED_AT } from "../../engine/flux/api";
import { ApiServer, capture, REAL_APISERVER, startApiServer } from "../helpers/cli";

const GOMOD = process.env.GOMODCACHE ?? "/var/cache/gitops-e2e/gomod";
const REV = `main@sha1:${"a".repeat(40)}`;

function crdFile(module: string, file: string): string | undefined {
    const base = path.join(GOMOD, "github.com", "fluxcd");
    const dirs = fs.existsSync(base) ? fs.readdirSync(base).filter((d) => d.startsWith(`${module}@`)).sort().reverse() : [];
    for (const d of dirs) {
        const f = path.join(base, d, "config", "crd", "bases", file);
        if (fs.existsSync(f)) return f;
    }
    return undefined;
}

const KS_CRD = crdFile("kustomize-controller", "kustomize.toolkit.fluxcd.io_kustomizations.yaml");
const GIT_CRD = crdFile("source-controller", "source.toolkit.fluxcd.io_gitrepositories.yaml");

(KS_CRD && GIT_CRD ? describe : describe.skip)(`gitops get/reconcile/suspend/resume (${REAL_APISERVER ? "real kube-apiserver" : "test API server"}, Flux CRDs from the Go modules)`, function () {
    this.timeout(180_000);
    let dir: string;
    let kubeconfig: string;
    let server: ApiServer;
    let c: ClusterClient;
    let stop = false;
    let loop: Promise<void> | undefined;
    const failing = new Map<string, string>();
    const kc = () => ["--kubeconfig", kubeconfig];

    /** The stand-in controller: answers each new requestedAt through the status subresource. */
    async function answer(apiVersion: string, kind: string, plural: string): Promise<void> {
        for (const o of await c.list(apiVersion, kind)) {
            const s = o as KubeObject & { spec?: { suspend?: boolean }; status?: { lastHandledReconcileAt?: string } };
            const at = o.metadata.annotations?.[RECONCILE_REQUESTED_AT];
            if (s.spec?.suspend || !at || s.status?.lastHandledReconcileAt === at) continue;
            const fail = failing.get(`${kind}/${o.metadata.name}`);
            const status: Record<string, unknown> = {
                observedGeneration: o.metadata.generation,
                lastHandledReconcileAt: at,
                conditions: [{ type: "Ready", status: fail ? "False" : "True", reason: fail ? "ReconciliationFailed" : "ReconciliationSucceeded", message: fail ?? `Applied revision: ${REV}`, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"), observedGeneration: o.metadata.generation }],
            };
            if (kind === "Kustomization" && !fail) Object.assign(status, { lastAppliedRevision: REV, lastAttemptedRevision: REV });
            if (kind === "GitRepository") status.artifact = { revision: REV, digest: `sha256:${"b".repeat(64)}`, lastUpdateTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"), path: "x", url: "http://x/x.tar.gz" };
            const res = await c.request("PATCH", `/apis/${apiVersion}/namespaces/${o.metadata.namespace}/${plural}/${o.metadata.name}/status`, { body: { status }, contentType: "application/merge-patch+json" });
            assert.ok(res.status < 300, `status write ${res.status}: ${JSON.stringify(res.body)}`);
        }
    }

    before(async () => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "cli-flux-"));
        server = await startApiServer(dir);
        if (server.test) server.test.flux.auto = false; // the stand-in below answers, the same way for both servers
        kubeconfig = server.kubeconfig;
        // Asynchronous: the test API server runs in this process.
        const kubectl = (args: string[], input?: string) =>
            new Promise<string>((resolve, reject) => {
                const child = execFile("kubectl", ["--kubeconfig", kubeconfig, ...args], { encoding: "utf8" }, (err, stdout, stderr) => (err ? reject(new Error(`kubectl ${args.join(" ")}: ${stderr}`)) : resolve(stdout)));
                child.stdin!.end(input ?? "");
            });
        await kubectl(["apply", "--server-side", "-f", KS_CRD!, "-f", GIT_CRD!]);
        if (REAL_APISERVER) await kubectl(["wait", "--for=condition=Established", "--timeout=60s", "crd/kustomizations.kustomize.toolkit.fluxcd.io", "crd/gitrepositories.source.toolkit.fluxcd.io"]);
        await kubectl(["create", "namespace", "flux-system"]);
        await kubectl(
            ["apply", "--server-side", "-f", "-"],
            [
                "apiVersion: source.toolkit.fluxcd.io/v1",
                "kind: GitRepository",
                "metadata: {name: flux-system, namespace: flux-system}",
                "spec: {interval: 1m, url: 'http://127.0.0.1:1/fleet.git', ref: {branch: main}}",
                "---",
                "apiVersion: kustomize.toolkit.fluxcd.io/v1",
                "kind: Kustomization",
                "metadata: {name: apps, namespace: flux-system}",
                "spec: {interval: 10m, path: ./apps, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}",
                "---",
                "apiVersion: kustomize.toolkit.fluxcd.io/v1",
                "kind: Kustomization",
                "metadata: {name: broken, namespace: flux-system}",
                "spec: {interval: 10m, path: ./broken, prune: true, sourceRef: {kind: GitRepository, name: flux-system}}",
                "",
            ].join("\n"),
        );
        c = ClusterClient.fromKubeconfig(fs.readFileSync(kubeconfig, "utf8"));
        failing.set("Kustomization/broken", "kustomize build failed: accumulating resources from 'missing.yaml': no such file");
        loop = (async () => {
            while (!stop) {
                await answer("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "kustomizations").catch(() => undefined);
                await answer("source.toolkit.fluxcd.io/v1", "GitRepository", "gitrepositories").catch(() => undefined);
                await new Promise((r) => setTimeout(r, 100));
            }
        })();
    });

    after(async () => {
        stop = true;
        await loop;
        c?.close();
        await server?.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("get ks before any reconcile: READY Unknown, no revision", async () => {
        const r = capture();
        assert.strictEqual(await main(["get", "ks", ...kc()], r.io), 0, r.errText());
        const line = r.text().split("\n").find((l) => l.startsWith("apps "));
        assert.ok(line, r.text());
        assert.match(line!, /^apps\s+false\s+Unknown\s+\d+s\s+waiting to be reconciled$/);
    });

    it("reconcile ks --with-source sets requestedAt, waits for lastHandledReconcileAt, prints both revisions", async () => {
        const r = capture();
        assert.strictEqual(await main(["reconcile", "ks", "apps", "--with-source", "--timeout", "60s", ...kc()], r.io), 0, r.errText());
        assert.match(r.text(), new RegExp(`^GitRepository/flux-system/flux-system reconciled: revision ${REV}$`, "m"));
        assert.match(r.text(), new RegExp(`^Kustomization/flux-system/apps reconciled: revision ${REV}$`, "m"));
        const ks = (await c.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system")) as KubeObject & { status: { lastHandledReconcileAt: string } };
        assert.strictEqual(ks.status.lastHandledReconcileAt, ks.metadata.annotations![RECONCILE_REQUESTED_AT]);
    });

    it("get sources / get all -A show Ready and the revision", async () => {
        let r = capture();
        assert.strictEqual(await main(["get", "sources", ...kc()], r.io), 0, r.errText());
        assert.match(r.text(), new RegExp(`^gitrepository/flux-system\\s+${REV}\\s+false\\s+True\\s+\\d+s\\s+Applied revision`, "m"));
        r = capture();
        assert.strictEqual(await main(["get", "all", "-A", ...kc()], r.io), 0, r.errText());
        assert.match(r.text(), /^NAMESPACE\s+NAME\s+REVISION\s+SUSPENDED\s+READY\s+AGE\s+MESSAGE$/m);
        assert.match(r.text(), new RegExp(`^flux-system\\s+kustomization/apps\\s+${REV}\\s+false\\s+True`, "m"));
    });

    it("reconcile of a failing Kustomization exits 1 quoting the controller's message", async () => {
        const r = capture();
        assert.strictEqual(await main(["reconcile", "ks", "broken", "--timeout", "60s", ...kc()], r.io), 1);
        assert.match(r.errText(), /Kustomization\/flux-system\/broken: reconcile failed: kustomize build failed: accumulating resources/);
    });

    it("suspend sets spec.suspend; reconcile then refuses naming the fix; resume reconciles again", async () => {
        let r = capture();
        assert.strictEqual(await main(["suspend", "ks", "apps", ...kc()], r.io), 0, r.errText());
        let ks = (await c.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system")) as KubeObject & { spec: { suspend?: boolean } };
        assert.strictEqual(ks.spec.suspend, true);
        r = capture();
        assert.strictEqual(await main(["get", "ks", "apps", ...kc()], r.io), 0);
        assert.match(r.text(), /^apps\s+\S+\s+true\s+/m);
        r = capture();
        assert.strictEqual(await main(["reconcile", "ks", "apps", ...kc()], r.io), 1);
        assert.match(r.errText(), /Kustomization\/flux-system\/apps: is suspended \(resume it first: gitops resume ks apps -n flux-system\)/);
        r = capture();
        assert.strictEqual(await main(["resume", "ks", "apps", "--timeout", "60s", ...kc()], r.io), 0, r.errText());
        assert.match(r.text(), /Kustomization\/flux-system\/apps resumed: revision main@sha1:a{40}/);
        ks = (await c.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "apps", "flux-system")) as typeof ks;
        assert.strictEqual(ks.spec.suspend, false);
    });

    it("errors name the object and the fix: unknown name, unknown kind, group help", async () => {
        let r = capture();
        assert.strictEqual(await main(["reconcile", "ks", "nope", ...kc()], r.io), 1);
        assert.match(r.errText(), /Kustomization\/flux-system\/nope: not found \(check the name and --namespace \(gitops get ks -A lists them\)\)/);
        r = capture();
        assert.strictEqual(await main(["get", "widgets", ...kc()], r.io), 1);
        assert.match(r.errText(), /gitops get widgets: unknown kind \(use one of: ks, kustomizations, hr, helmreleases, sources, images, all\)/);
        r = capture();
        assert.strictEqual(await main(["reconcile", "--help"], r.io), 0);
        assert.match(r.text(), /lastHandledReconcileAt/);
    });
});
