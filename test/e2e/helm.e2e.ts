/**
 * A Helm release end to end with real parts: the test writes a small chart, packages it as
 * `helm package` does and pushes it as a Helm OCI artifact (test/e2e/lib/helm-chart.ts) to Debian's
 * docker-registry on 127.0.0.1. A stack declares the registry as a helm source (`oci://`, plain
 * HTTP) and the chart as a release; its rendered fleet is committed to a bare repo served over
 * HTTP by the local control plane. There the real kustomize-controller applies the HelmRepository
 * and HelmRelease, the real source-controller pulls the chart, and the real helm-controller
 * installs it: the HelmRelease is Ready, the chart's Deployment is Available on the kwok node,
 * and its ConfigMap carries the stack's value. A new chart version and value in the stack, committed,
 * is seen as a Helm upgrade.
 *
 * helm-controller is optional in scripts/e2e-build.sh (`bash scripts/e2e-build.sh helm`): when it
 * is not built, this suite is skipped and says why.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { ClusterClient, applyStaged, waitForRevision } from "../../engine/cluster";
import { parseStackConfig } from "../../engine/config";
import { renderFleet } from "../../engine/fleet/layout";
import { ensureBareRepo, syncFiles } from "../../engine/git";
import { LocalControlPlane, missingBinaries, missingBinary } from "../../engine/localcluster/controlplane";
import { startRegistry, TestRegistry } from "../helpers/registry";
import { until } from "../helpers/wait";
import { packageChart, pushChart } from "./lib/helm-chart";

const BIN = process.env.GITOPS_E2E_BIN || "/var/cache/gitops-e2e/bin";
const AUTHOR = { name: "e2e", email: "e2e@example.com" };
const CHART = "hello";
const TARGET_NS = "hello";

/** Why this suite cannot run here, or undefined. */
function unavailable(): string | undefined {
    const missing = { ...missingBinaries(BIN) };
    const helm = missingBinary(BIN, "helm-controller");
    if (helm) missing["helm-controller"] = helm;
    const why = Object.entries(missing).map(([k, v]) => `${k}: ${v}`);
    return why.length ? why.join("; ") : undefined;
}

/** The chart at a version: a ConfigMap with a value, and a Deployment that reads it. */
function chartFiles(version: string, imageTag: string): Record<string, string> {
    return {
        "Chart.yaml": ["apiVersion: v2", `name: ${CHART}`, "description: A tiny chart for the e2e suite", "type: application", `version: ${version}`, `appVersion: "${imageTag}"`, ""].join("\n"),
        "values.yaml": ["greeting: hello from the chart defaults", "replicas: 1", "image:", "  repository: registry.example.com/hello", `  tag: "${imageTag}"`, ""].join("\n"),
        "templates/configmap.yaml": [
            "apiVersion: v1",
            "kind: ConfigMap",
            "metadata:",
            "  name: {{ .Release.Name }}-config",
            "data:",
            "  greeting: {{ .Values.greeting | quote }}",
            "  chartVersion: {{ .Chart.Version | quote }}",
            "",
        ].join("\n"),
        "templates/deployment.yaml": [
            "apiVersion: apps/v1",
            "kind: Deployment",
            "metadata:",
            "  name: {{ .Release.Name }}",
            "  labels:",
            "    app: {{ .Release.Name }}",
            "spec:",
            "  replicas: {{ .Values.replicas }}",
            "  selector:",
            "    matchLabels:",
            "      app: {{ .Release.Name }}",
            "  template:",
            "    metadata:",
            "      labels:",
            "        app: {{ .Release.Name }}",
            "      annotations:",
            "        checksum/greeting: {{ .Values.greeting | sha256sum }}",
            "    spec:",
            "      containers:",
            "        - name: hello",
            '          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"',
            "          env:",
            "            - name: GREETING",
            "              valueFrom:",
            "                configMapKeyRef:",
            "                  name: {{ .Release.Name }}-config",
            "                  key: greeting",
            "",
        ].join("\n"),
    };
}

const why = unavailable();

describe("e2e: a chart pushed as OCI is installed and upgraded by the real helm-controller", function () {
    let root: string;
    let reg: TestRegistry;
    let cp: LocalControlPlane | undefined;
    let client: ClusterClient | undefined;

    before(async function () {
        if (why) {
            console.log(`    skipped: ${why}`);
            this.skip();
        }
        root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-helm-e2e-"));
        reg = await startRegistry();
        const lines: string[] = [];
        cp = await LocalControlPlane.start({ dir: path.join(root, "cp"), bin: BIN, fleetRoot: root, helm: true, progress: (l) => lines.push(l) });
        console.log(`    ${lines.join("\n    ")}`);
        client = ClusterClient.fromKubeconfig(fs.readFileSync(cp.kubeconfigPath, "utf8"));
    });
    after(async () => {
        client?.close();
        await cp?.stop();
        await reg?.stop();
        if (root && !process.env.GITOPS_E2E_KEEP) fs.rmSync(root, { recursive: true, force: true });
        else if (root) console.log(`    kept ${root}`);
    });

    /** The stack: the Flux install is not in the fleet (the controllers run as processes), the registry is a helm source. */
    function stack(version: string, greeting: string) {
        const raw = {
            cluster: { kind: "aks", aks: { location: "local", fluxExtension: true } },
            fleet: { url: path.join(root, "fleet.git"), clusterUrl: `${cp!.fleetUrl}/fleet.git` },
            sources: [{ name: "charts", kind: "helm", url: `oci://${reg.host}/charts`, insecure: true }],
            releases: [{ name: CHART, namespace: "flux-system", targetNamespace: TARGET_NS, chart: CHART, version, source: "charts", interval: "1m", values: { greeting } }],
        };
        return parseStackConfig(raw, "dev");
    }

    const kubectl = (args: string[]) => cp!.kubectl(args);
    const json = async (args: string[]) => JSON.parse(await kubectl([...args, "-o", "json"]));
    const condition = (o: any, type: string) => (o?.status?.conditions ?? []).find((c: any) => c.type === type);

    /** Commits the stack's fleet and waits, as FleetSync does, until every Kustomization applied it (infrastructure-releases waits for the HelmRelease to be Ready). */
    async function commitAndApply(cfg: ReturnType<typeof stack>, first: boolean): Promise<{ commit: string; at: number; seconds: number }> {
        const plan = renderFleet(cfg);
        const repo = path.join(root, "fleet.git");
        if (first) await ensureBareRepo(repo);
        const c = await syncFiles({ repo, branch: "main", files: plan.files, owned: plan.owned, author: AUTHOR, message: "Reconcile dev", createBranch: true });
        if (first) await applyStaged(client!, plan.bootstrap);
        const t0 = Date.now();
        await waitForRevision(client!, {
            gitRepository: { name: "flux-system" },
            kustomizations: plan.kustomizations.map((name) => ({ name })),
            revision: c.commit,
            timeoutMs: 420_000,
            pollMs: 1000,
        }).catch(async (e) => {
            const hr = await json(["get", "helmreleases.helm.toolkit.fluxcd.io", "-n", "flux-system", CHART]).catch(() => undefined);
            throw new Error(`${(e as Error).message}\nHelmRelease Ready: ${JSON.stringify(condition(hr, "Ready"))}\nhelm-controller log:\n${tailLog("helm-controller")}`);
        });
        return { commit: c.commit, at: t0, seconds: (Date.now() - t0) / 1000 };
    }

    function tailLog(piece: "helm-controller" | "source-controller"): string {
        const f = cp!.state.pieces[piece]?.log;
        return f && fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").slice(-25).join("\n") : "(no log)";
    }

    /** What helm-controller installed: the HelmRelease's state, the Deployment, the ConfigMap. */
    async function installed() {
        const hr = await json(["get", "helmreleases.helm.toolkit.fluxcd.io", "-n", "flux-system", CHART]);
        const dep = await json(["get", "deployment", CHART, "-n", TARGET_NS, "--show-managed-fields"]);
        const cm = await json(["get", "configmap", `${CHART}-config`, "-n", TARGET_NS]);
        const pods = (await json(["get", "pods", "-n", TARGET_NS, "-l", `app=${CHART}`])).items as any[];
        return {
            ready: condition(hr, "Ready")?.status,
            readyMessage: condition(hr, "Ready")?.message,
            history: (hr.status?.history ?? []).map((h: any) => ({ version: h.version, chartVersion: h.chartVersion, status: h.status })),
            lastDeployed: Date.parse(hr.status?.history?.[0]?.lastDeployed ?? ""),
            lastAttemptedRevision: hr.status?.lastAttemptedRevision,
            available: condition(dep, "Available")?.status,
            image: dep.spec.template.spec.containers[0].image,
            managers: (dep.metadata.managedFields ?? []).map((m: any) => m.manager),
            config: cm.data,
            nodes: pods.filter((p) => !p.metadata.deletionTimestamp).map((p) => p.spec.nodeName),
        };
    }

    it("installs the chart: HelmRelease Ready, Deployment Available on the kwok node, ConfigMap with the stack's value; then upgrades it", async function () {
        const c1 = packageChart(chartFiles("0.1.0", "1.0.0"));
        const p1 = await pushChart(`oci://${reg.host}/charts`, c1);
        assert.match(p1.digest, /^sha256:[a-f0-9]{64}$/);

        const first = await commitAndApply(stack("0.1.0", "hello from the stack"), true);
        const hrepo = await json(["get", "helmrepositories.source.toolkit.fluxcd.io", "-n", "flux-system", "charts"]);
        assert.equal(hrepo.spec.type, "oci");
        assert.equal(hrepo.spec.insecure, true, "the rendered HelmRepository speaks plain HTTP to the loopback registry");
        // Available needs the Pod Ready on the kwok node: wait for it, the release is already Ready.
        const v1 = (
            await until("the hello Deployment Available", async () => {
                const s = await installed();
                return s.available === "True" ? s : undefined;
            }, 120_000, 500)
        ).value;
        console.log(`    installed ${((v1.lastDeployed - first.at) / 1000).toFixed(1)}s after the commit, every Kustomization applied after ${first.seconds.toFixed(1)}s: ${JSON.stringify(v1.history)}`);
        assert.equal(v1.ready, "True", v1.readyMessage);
        assert.deepEqual(v1.history, [{ version: 1, chartVersion: "0.1.0", status: "deployed" }]);
        assert.equal(v1.lastAttemptedRevision, "0.1.0");
        assert.deepEqual(v1.config, { greeting: "hello from the stack", chartVersion: "0.1.0" }, "the stack's value overrides the chart default");
        assert.equal(v1.image, "registry.example.com/hello:1.0.0");
        assert.ok(v1.managers.includes("helm-controller"), `helm-controller wrote the Deployment (managers: ${v1.managers.join(", ")})`);
        assert.ok(v1.nodes.length >= 1 && v1.nodes.every((n) => n === "kwok-node-0"), `Pods on the kwok node: ${v1.nodes.join(", ")}`);

        // The upgrade: a new chart version (new default image tag) and a new value, through Git.
        const c2 = packageChart(chartFiles("0.2.0", "1.1.0"));
        const p2 = await pushChart(`oci://${reg.host}/charts`, c2);
        assert.notEqual(p2.digest, p1.digest);
        const second = await commitAndApply(stack("0.2.0", "hello again"), false);
        assert.notEqual(second.commit, first.commit);
        const v2 = (
            await until("the upgraded hello Deployment Available at 1.1.0", async () => {
                const s = await installed();
                return s.available === "True" && s.image.endsWith(":1.1.0") && s.history[0]?.chartVersion === "0.2.0" ? s : undefined;
            }, 120_000, 500)
        ).value;
        console.log(`    upgraded ${((v2.lastDeployed - second.at) / 1000).toFixed(1)}s after the commit, every Kustomization applied after ${second.seconds.toFixed(1)}s: ${JSON.stringify(v2.history)}`);
        assert.equal(v2.ready, "True", v2.readyMessage);
        assert.deepEqual(v2.history.slice(0, 2), [
            { version: 2, chartVersion: "0.2.0", status: "deployed" },
            { version: 1, chartVersion: "0.1.0", status: "superseded" },
        ]);
        assert.equal(v2.lastAttemptedRevision, "0.2.0");
        assert.deepEqual(v2.config, { greeting: "hello again", chartVersion: "0.2.0" });
        assert.equal(v2.image, "registry.example.com/hello:1.1.0");
    });
});
