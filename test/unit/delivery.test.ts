/**
 * Progressive delivery, image automation and notifications (issue 5):
 *   - every canary validation message, naming its key, before anything is generated;
 *   - the promotion / rollback times (component and stack outputs);
 *   - the typed components (Canary, IstioMesh/Flagger/Monitoring, images, notify) and the
 *     Receiver webhook path, checked against `sha256sum`;
 *   - the program graph under mocks for dev and prod, components' manifests = files in Git;
 *   - `gitops fleet render` for dev and prod built with `kubectl kustomize`;
 *   - `gitops image-update` on the rendered fleet moves the dev tag, a freeze pins it, and the
 *     freeze shows in FleetSync's preview (file diff) against a real bare repo.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { parse, parseAllDocuments } from "yaml";
import { parseStackConfig, StackConfigError } from "../../engine/config";
import { objectId } from "../../engine/cluster/ids";
import { canaryObject, canaryTimes, deliveryStack, durationSeconds, publicGateway, receiverWebhookPath } from "../../engine/delivery";
import { alert, helmRelease, imagePolicy, imageRepository, imageUpdateAutomation, notificationProvider, receiver, source } from "../../engine/fleet/objects";
import { planForStack, writePlan } from "../../engine/fleet/cli";
import { renderFleet } from "../../engine/fleet/layout";
import { selectTag } from "../../engine/images/policy";
import { isSecretInput, promiseOf, RecordingMocks, runProgram, settle, stackFileConfig, unwrap } from "../mocks";

const ROOT = path.join(__dirname, "..", "..");
const gitops = (args: string[], cwd = ROOT) => spawnSync(process.execPath, [path.join(ROOT, "bin", "gitops"), ...args], { cwd, encoding: "utf8" });

function kustomize(dir: string): any[] {
    const r = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8", maxBuffer: 64 << 20 });
    assert.strictEqual(r.status, 0, `kubectl kustomize ${dir} failed: ${r.stderr}`);
    return parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean);
}

function docs(text: string): any[] {
    return parseAllDocuments(text).map((d) => d.toJS()).filter(Boolean);
}

function problems(raw: Record<string, unknown>, stack = "dev"): string[] {
    try {
        parseStackConfig(raw, stack);
    } catch (e) {
        assert.ok(e instanceof StackConfigError, `expected StackConfigError, got ${e}`);
        return (e as StackConfigError).problems;
    }
    return [];
}

/** A stack with Flagger on and one app whose canary is `canary`. */
function withCanary(canary: Record<string, unknown>, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return { delivery: { flagger: { enabled: true }, ...extra }, apps: [{ name: "a", image: "ghcr.io/x/a", tag: "1.0.0", canary }] };
}

describe("delivery: canary validation names the key, before anything is generated", () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
        ["stepWeight > maxWeight", withCanary({ maxWeight: 50, stepWeight: 60 }), /^gitops:apps\[0\]\.canary\.stepWeight 60 is larger than maxWeight 50; lower stepWeight or raise maxWeight$/],
        ["threshold < 1", withCanary({ threshold: 0 }), /^gitops:apps\[0\]\.canary\.threshold must be at least 1 \(the failed checks that trigger a rollback\); got 0$/],
        ["maxWeight > 100", withCanary({ maxWeight: 120, stepWeight: 10 }), /^gitops:apps\[0\]\.canary\.maxWeight must be between 1 and 100 \(percent of traffic\); got 120$/],
        ["stepWeight < 1", withCanary({ stepWeight: 0 }), /^gitops:apps\[0\]\.canary\.stepWeight must be between 1 and 100; got 0$/],
        ["stepWeight and stepWeights", withCanary({ stepWeight: 10, stepWeights: [10, 50] }), /^gitops:apps\[0\]\.canary\.stepWeight and gitops:apps\[0\]\.canary\.stepWeights are both set; keep one/],
        ["stepWeights not increasing", withCanary({ maxWeight: 50, stepWeights: [10, 30, 20, 50] }), /^gitops:apps\[0\]\.canary\.stepWeights\[2\] 20 does not increase on the step before \(30\); weights must increase at every step$/],
        ["stepWeights below maxWeight", withCanary({ maxWeight: 50, stepWeights: [10, 20, 40] }), /^gitops:apps\[0\]\.canary\.stepWeights ends at 40, below maxWeight 50, so traffic never reaches maxWeight; add a last step of 50 or lower maxWeight$/],
        ["stepWeights over 100", withCanary({ maxWeight: 100, stepWeights: [50, 120] }), /^gitops:apps\[0\]\.canary\.stepWeights\[1\] must be between 1 and 100; got 120$/],
        ["stepWeights empty", withCanary({ stepWeights: [] }), /^gitops:apps\[0\]\.canary\.stepWeights is empty; list increasing weights ending at maxWeight 50, or use stepWeight$/],
        [
            "unknown metric without templateRef",
            withCanary({ metrics: [{ name: "error-rate", thresholdRange: { max: 1 } }] }),
            /^gitops:apps\[0\]\.canary\.metrics\[0\]\.name "error-rate" is not a built-in metric \(request-success-rate, request-duration\); set templateRef to a MetricTemplate declared in gitops:delivery\.metricTemplates$/,
        ],
        [
            "templateRef not declared",
            withCanary({ metrics: [{ name: "error-rate", templateRef: "error-rate", thresholdRange: { max: 1 } }] }),
            /^gitops:apps\[0\]\.canary\.metrics\[0\]\.templateRef "error-rate" is not a MetricTemplate in gitops:delivery\.metricTemplates; declare it there or fix the name$/,
        ],
        ["thresholdRange empty", withCanary({ metrics: [{ name: "request-success-rate", thresholdRange: {} }] }), /^gitops:apps\[0\]\.canary\.metrics\[0\]\.thresholdRange must set min, max or both$/],
        ["thresholdRange min > max", withCanary({ metrics: [{ name: "request-duration", thresholdRange: { min: 600, max: 500 } }] }), /^gitops:apps\[0\]\.canary\.metrics\[0\]\.thresholdRange min 600 is above max 500; no value could pass$/],
        ["bad confirmPromotion URL", withCanary({ confirmPromotion: "gate" }), /^gitops:apps\[0\]\.canary\.confirmPromotion must be an http\(s\):\/\/ URL; got "gate"$/],
        ["canary without Flagger", { apps: [{ name: "a", image: "ghcr.io/x/a", tag: "1.0.0", canary: {} }] }, /^gitops:apps\[0\]\.canary needs gitops:delivery\.flagger\.enabled: true$/],
        ["Flagger without Istio", { delivery: { flagger: { enabled: true }, istio: { enabled: false } } }, /^gitops:delivery\.flagger\.enabled needs gitops:delivery\.istio\.enabled: Flagger shifts traffic through the Istio mesh$/],
        ["Flagger without Prometheus", { delivery: { flagger: { enabled: true }, prometheus: { enabled: false } } }, /^gitops:delivery\.flagger\.enabled needs gitops:delivery\.prometheus\.enabled: Flagger reads its metrics from Prometheus$/],
        [
            "a release named like a platform release",
            { delivery: { flagger: { enabled: true } }, sources: [{ name: "charts", kind: "helm", url: "https://charts.example.com" }], releases: [{ name: "istiod", chart: "istiod", version: "1.0.0", source: "charts" }] },
            /^gitops:releases\[0\]\.name "istiod" is the platform's own gitops:delivery release; choose another name or set its version under gitops:delivery$/,
        ],
        ["two metric templates with one name", { delivery: { metricTemplates: [{ name: "t", query: "q" }, { name: "t", query: "q" }] } }, /^gitops:delivery\.metricTemplates has two metric templates named "t"; names must be unique$/],
        ["receiver address with a path", { notifications: { receiver: { enabled: true, address: "https://x.example.com/hook/abc" } } }, /^gitops:notifications\.receiver\.address must be the public base URL of the webhook receiver/],
    ];
    for (const [name, raw, re] of cases) {
        it(name, () => {
            const p = problems(raw);
            assert.ok(p.some((m) => re.test(m)), `no message matched ${re}; got:\n  ${p.join("\n  ")}`);
        });
    }

    it("accepts a custom metric whose templateRef the stack declares, and the seed canaries", () => {
        assert.deepStrictEqual(problems(withCanary({ metrics: [{ name: "not-found", templateRef: "nf", thresholdRange: { max: 5 } }] }, { metricTemplates: [{ name: "nf", query: "sum(x)" }] })), []);
        for (const s of ["dev", "prod"]) assert.ok(parseStackConfig(rawOf(s), s).apps[0].canary);
    });

    it("fails the program before any resource is registered", async () => {
        const config = { ...stackFileConfig("dev"), "gitops:apps": JSON.stringify([{ name: "a", image: "ghcr.io/x/a", tag: "1.0.0", canary: { stepWeight: 80, maxWeight: 50 } }]) };
        let error: Error | undefined;
        let mocks: RecordingMocks | undefined;
        try {
            ({ mocks } = await runProgram("dev", config));
        } catch (e) {
            error = e as Error;
        }
        assert.ok(error, "the program should have thrown");
        assert.match(error!.message, /Pulumi\.dev\.yaml: gitops:apps\[0\]\.canary\.stepWeight 80 is larger than maxWeight 50/);
        assert.strictEqual(mocks, undefined);
    });
});

/** The gitops:* keys of a stack file, without the prefix. */
function rawOf(stack: string): Record<string, unknown> {
    const doc = parse(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8"));
    return Object.fromEntries(Object.entries(doc.config ?? {}).filter(([k]) => k.startsWith("gitops:")).map(([k, v]) => [k.slice("gitops:".length), v]));
}

describe("delivery: promotion and rollback times", () => {
    it("parses Go durations", () => {
        assert.strictEqual(durationSeconds("1m30s"), 90);
        assert.strictEqual(durationSeconds("2h"), 7200);
        assert.strictEqual(durationSeconds("500ms"), 0.5);
    });

    it("equal steps: interval x ceil(maxWeight / stepWeight); rollback: interval x threshold", () => {
        const c = parseStackConfig(withCanary({ interval: "1m", threshold: 5, maxWeight: 50, stepWeight: 15 }), "dev").apps[0].canary!;
        assert.deepStrictEqual(canaryTimes(c), { steps: 4, promotionSeconds: 240, rollbackSeconds: 300 });
    });

    it("explicit steps: interval x number of stepWeights", () => {
        const c = parseStackConfig(withCanary({ interval: "30s", threshold: 2, maxWeight: 50, stepWeights: [1, 5, 20, 50] }), "dev").apps[0].canary!;
        assert.deepStrictEqual(canaryTimes(c), { steps: 4, promotionSeconds: 120, rollbackSeconds: 60 });
    });

    it("defaults: stepWeight 10 to maxWeight 50 every minute, 5 checks", () => {
        const c = parseStackConfig(withCanary({}), "dev").apps[0].canary!;
        assert.strictEqual(c.stepWeight, 10);
        assert.deepStrictEqual(canaryTimes(c), { steps: 5, promotionSeconds: 300, rollbackSeconds: 300 });
    });
});

describe("delivery: the objects the fleet plan writes (Canary, delivery stack, images, notifications)", () => {
    it("canaryObject: a Flagger Canary with analysis, metrics, webhooks; canaryTimes its rollout times", () => {
        const cfg = parseStackConfig(
            withCanary(
                {
                    interval: "1m",
                    threshold: 3,
                    maxWeight: 40,
                    stepWeight: 20,
                    confirmPromotion: "http://gate.example/approve",
                    rollbackWebhook: "http://gate.example/rollback",
                    metrics: [
                        { name: "request-success-rate", thresholdRange: { min: 99 } },
                        { name: "nf", templateRef: "nf", thresholdRange: { max: 5 }, interval: "30s" },
                    ],
                },
                { metricTemplates: [{ name: "nf", query: "sum(x)" }] },
            ),
            "dev",
        );
        const c = canaryObject(cfg.apps[0], { gateway: true, hosts: ["a.example.com"], templates: cfg.delivery.metricTemplates });
        assert.deepStrictEqual(c, {
            apiVersion: "flagger.app/v1beta1",
            kind: "Canary",
            metadata: { name: "a", namespace: "a" },
            spec: {
                targetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "a" },
                progressDeadlineSeconds: 600,
                service: { port: 80, targetPort: 8080, gateways: ["istio-ingress/public-gateway"], hosts: ["a.example.com"] },
                analysis: {
                    interval: "1m",
                    threshold: 3,
                    maxWeight: 40,
                    stepWeight: 20,
                    metrics: [
                        { name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" },
                        { name: "nf", templateRef: { name: "nf", namespace: "istio-system" }, thresholdRange: { max: 5 }, interval: "30s" },
                    ],
                    webhooks: [
                        { name: "load-test", type: "rollout", url: "http://flagger-loadtester.istio-system/", timeout: "5s", metadata: { type: "cmd", cmd: "hey -z 1m -q 10 -c 2 http://a-canary.a:80/" } },
                        { name: "confirm-promotion", type: "confirm-promotion", url: "http://gate.example/approve" },
                        { name: "rollback", type: "rollback", url: "http://gate.example/rollback" },
                    ],
                },
            },
        });
        assert.deepStrictEqual(canaryTimes(cfg.apps[0].canary!), { steps: 2, promotionSeconds: 120, rollbackSeconds: 180 });
        assert.strictEqual(objectId(c), "a_a_flagger.app_Canary");
    });

    it("the delivery stack: HelmRepositories and HelmReleases in dependsOn order, the public Gateway", () => {
        const off = parseStackConfig({}, "dev").delivery;
        const stack = (d: Record<string, unknown>) => {
            const st = deliveryStack({ ...off, ...d } as any, "flux-system");
            return { sources: st.sources.map(source), releases: st.releases.map((r) => helmRelease(r, "flux-system")) };
        };
        const mesh = stack({ istio: { ...off.istio, enabled: true, version: "1.26.4" } });
        assert.deepStrictEqual(mesh.sources.map((s) => [s.kind, s.metadata.name, s.spec.url]), [["HelmRepository", "istio", "https://istio-release.storage.googleapis.com/charts"]]);
        const deps = (g: { releases: any[] }) => g.releases.map((r: any) => [r.metadata.name, r.spec.chart.spec.chart, r.spec.chart.spec.version, (r.spec.dependsOn ?? []).map((d: any) => d.name)]);
        assert.deepStrictEqual(deps(mesh), [
            ["istio-base", "base", "1.26.4", []],
            ["istiod", "istiod", "1.26.4", ["istio-base"]],
            ["istio-gateway", "gateway", "1.26.4", ["istiod"]],
        ]);
        assert.deepStrictEqual(publicGateway(["echo.example.com"]), {
            apiVersion: "networking.istio.io/v1",
            kind: "Gateway",
            metadata: { name: "public-gateway", namespace: "istio-ingress" },
            spec: { selector: { istio: "gateway" }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["echo.example.com"] }] },
        });
        const mon = stack({ prometheus: { ...off.prometheus, enabled: true }, grafana: { ...off.grafana, enabled: true } });
        assert.deepStrictEqual(deps(mon), [
            ["prometheus", "prometheus", "27.28.0", []],
            ["grafana", "grafana", "9.3.0", ["prometheus"]],
        ]);
        const grafana = mon.releases[1].spec.values as any;
        assert.strictEqual(grafana.dashboards.flagger.istio.url, "https://raw.githubusercontent.com/fluxcd/flagger/main/charts/grafana/dashboards/istio.json");
        assert.strictEqual(grafana.datasources["datasources.yaml"].datasources[0].url, "http://prometheus-server.monitoring:80");
        const fl = { releases: stack({ istio: { ...off.istio, enabled: true }, prometheus: { ...off.prometheus, enabled: true }, flagger: { ...off.flagger, enabled: true } }).releases.filter((r) => r.spec.chart!.spec.sourceRef.name === "flagger") };
        assert.deepStrictEqual(deps(fl), [
            ["flagger", "flagger", "1.41.0", ["istiod", "prometheus"]],
            ["flagger-loadtester", "loadtester", "0.35.0", ["flagger"]],
        ]);
        assert.deepStrictEqual(fl.releases[0].spec.values, { meshProvider: "istio", metricsServer: "http://prometheus-server.monitoring:80", crd: { create: true } });
        assert.strictEqual(fl.releases[0].spec.targetNamespace, "istio-system");
    });

    it("image objects cover the seeds' two cases: numerical timestamps to __image/dev/project, semver ^1.0.0 to main", () => {
        const repo = imageRepository("echo-version", "flux-system", "ghcr.io/gitops-platform/echo-version", { secretRef: "ghcr-auth", exclusionList: ["^.*\\.sig$", "^pr-"], provider: "generic", interval: "5m" });
        assert.deepStrictEqual(repo.spec, { image: "ghcr.io/gitops-platform/echo-version", interval: "5m", exclusionList: ["^.*\\.sig$", "^pr-"], secretRef: { name: "ghcr-auth" }, provider: "generic" });
        const dev = imagePolicy("echo-version", "flux-system", { interval: "1m0s", numerical: "asc", filterTags: { pattern: "^main-[a-f0-9]+-(?P<ts>[0-9]+)", extract: "$ts" } });
        const test = imagePolicy("echo-version", "flux-system", { interval: "1m0s", semver: "^1.0.0" });
        assert.deepStrictEqual(dev.spec, { imageRepositoryRef: { name: "echo-version" }, policy: { numerical: { order: "asc" } }, filterTags: { pattern: "^main-[a-f0-9]+-(?P<ts>[0-9]+)", extract: "$ts" } });
        assert.deepStrictEqual(test.spec, { imageRepositoryRef: { name: "echo-version" }, policy: { semver: { range: "^1.0.0" } } });
        // The policies pick what Flux would pick (engine/images implements Flux's selection).
        const tags = ["main-0a1b2c3-1700000000", "main-ffee001-1800000000", "main-abc1234-1750000000", "1.0.0", "1.2.0", "2.0.0", "1.3.0-rc.1", "latest"];
        assert.strictEqual(selectTag(dev.spec.policy, dev.spec.filterTags, tags), "main-ffee001-1800000000");
        assert.strictEqual(selectTag(test.spec.policy, undefined, tags), "1.2.0");
        const automation = (env: string, ia: Record<string, unknown>) => imageUpdateAutomation(env, "flux-system", parseStackConfig({ imageAutomation: { enabled: true, ...ia } }, env).imageAutomation);
        const devAuto = automation("dev", { checkoutBranch: "main", pushBranch: "__image/dev/project", path: "./apps/dev" });
        const testAuto = automation("test", { pushBranch: "main", path: "./apps/test" });
        assert.deepStrictEqual(devAuto.spec.git!.checkout, { ref: { branch: "main" } });
        assert.deepStrictEqual(devAuto.spec.git!.push, { branch: "__image/dev/project" });
        assert.deepStrictEqual(testAuto.spec.git!.push, { branch: "main" });
        assert.deepStrictEqual(testAuto.spec.update, { path: "./apps/test", strategy: "Setters" });
        assert.match(devAuto.spec.git!.commit.messageTemplate!, /\{\{ range \$filename, \$_ := \.Changed\.FileChanges -\}\}/);
        // The one home of these rules is the stack config.
        const policy = (p: Record<string, unknown>) => problems({ imageAutomation: { enabled: true }, apps: [{ name: "a", image: "ghcr.io/x/a", tag: "1", imagePolicy: p }] });
        assert.match(policy({ semver: "^1", numerical: "asc" }).join("\n"), /set exactly one of semver, numerical, alphabetical/);
        assert.match(policy({ numerical: "asc", filterTags: { pattern: "^main-(" } }).join("\n"), /filterTags\.pattern .*is not a valid Go \(RE2\) regular expression: error parsing regexp: missing closing \)/);
        assert.deepStrictEqual(policy({ alphabetical: "asc", filterTags: { pattern: "(?i)^v\\d+" } }), [], "(?i) is valid RE2: accepted");
    });

    it("notification objects: Slack, Teams, GitHub commit status and generic providers with secret refs; alerts", () => {
        const specs = [
            notificationProvider({ name: "slack", type: "slack", channel: "alerts" }, "flux-system", true),
            notificationProvider({ name: "teams", type: "msteams" }, "flux-system", true),
            notificationProvider({ name: "github", type: "github", address: "https://github.com/o/fleet" }, "flux-system", true),
            notificationProvider({ name: "hook", type: "generic", address: "http://hook.example/flux" }, "flux-system", false),
        ].map((p) => p.spec);
        assert.deepStrictEqual(specs, [
            { type: "slack", channel: "alerts", secretRef: { name: "slack-notification" } },
            { type: "msteams", secretRef: { name: "teams-notification" } },
            { type: "github", address: "https://github.com/o/fleet", secretRef: { name: "github-notification" } },
            { type: "generic", address: "http://hook.example/flux" },
        ]);
        assert.deepStrictEqual(problems({ notifications: { providers: [{ name: "gh2", type: "github" }] } }), [
            "gitops:notifications.providers[0].address is required for a github provider: give the repository URL, e.g. https://github.com/org/repo",
        ]);
        const a = alert({ name: "errors", provider: "slack", severity: "error", sources: [{ kind: "Kustomization", name: "apps" }], exclusionList: ["^Dependencies"] }, "flux-system");
        assert.deepStrictEqual(a.spec, { providerRef: { name: "slack" }, eventSeverity: "error", eventSources: [{ kind: "Kustomization", name: "apps" }], exclusionList: ["^Dependencies"] });
        const d = parseStackConfig({ notifications: { providers: [{ name: "teams", type: "msteams" }], alerts: [{ name: "all", provider: "teams" }] } }, "dev").notifications.alerts[0];
        assert.deepStrictEqual(alert(d, "flux-system").spec.eventSources, [
            { kind: "Kustomization", name: "*" },
            { kind: "HelmRelease", name: "*" },
        ]);
    });

    it("the Receiver: its webhook path is /hook/sha256(token+name+namespace), as sha256sum computes it", async () => {
        const token = "s3cr3t-token";
        const r = receiver("prod-receiver", "flux-system", "github");
        const sum = spawnSync("sha256sum", [], { input: `${token}prod-receiverflux-system`, encoding: "utf8" });
        assert.strictEqual(sum.status, 0, sum.stderr);
        const expected = `/hook/${sum.stdout.split(/\s+/)[0]}`;
        assert.strictEqual(receiverWebhookPath(token, "prod-receiver", "flux-system"), expected);
        assert.deepStrictEqual(r.spec, {
            type: "github",
            events: ["ping", "push"],
            secretRef: { name: "receiver-token" },
            resources: [{ apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", name: "flux-system" }],
        });
        // A different namespace or name gives a different path (the digest covers both).
        assert.notStrictEqual(receiverWebhookPath(token, "prod-receiver", "flux"), expected);
    });
});

describe("delivery: the program under mocks (dev and prod)", function () {
    let out: string;
    before(() => (out = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-delivery-prog-"))));
    after(() => fs.rmSync(out, { recursive: true, force: true }));

    /** Every declared component's manifest is an object Flux gets from the built fleet (kustomize output). */
    function assertManifestsInFleet(files: Record<string, string>, env: string, platform: any): number {
        const dir = path.join(out, env);
        fs.rmSync(dir, { recursive: true, force: true });
        for (const [rel, content] of Object.entries(files)) {
            fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
            fs.writeFileSync(path.join(dir, rel), content);
        }
        const built = [...kustomize(path.join(dir, "clusters", env)), ...kustomize(path.join(dir, "infrastructure", env, "releases")), ...kustomize(path.join(dir, "infrastructure", env, "manifests")), ...kustomize(path.join(dir, "apps", env))];
        const key = (o: any) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`;
        const byKey = new Map(built.map((o) => [key(o), o]));
        // A view holds the object as its file has it; the environment's overlay patch (a JSON merge: maps merge, lists are replaced) completes it.
        const merge = (base: any, patch: any): any =>
            patch && typeof patch === "object" && !Array.isArray(patch) && base && typeof base === "object" && !Array.isArray(base)
                ? Object.fromEntries([...new Set([...Object.keys(base), ...Object.keys(patch)])].map((k) => [k, k in patch ? merge(base[k], patch[k]) : base[k]]))
                : patch;
        const patches = (platform.plan.objects as any[]).filter((p) => p.role === "patch");
        let checked = 0;
        for (const c of platform.declared as any[]) {
            const got = byKey.get(key(c.manifest));
            assert.ok(got, `${key(c.manifest)} (declared by a component) is not in the built fleet`);
            const want = patches.filter((p) => key(p.object) === key(c.manifest)).reduce((o, p) => merge(o, p.object), c.manifest);
            assert.deepStrictEqual(got, want, `${key(c.manifest)} differs between its component (${c.path} + overlay) and the fleet`);
            checked++;
        }
        return checked;
    }

    for (const env of ["dev", "prod"]) {
        it(`${env}: every declared component's manifest is exactly the object kubectl kustomize builds from the fleet files`, async () => {
            pulumi.runtime.setAllConfig({}, []);
            await pulumi.runtime.setMocks(new RecordingMocks(), "gitops-platform", env, false);
            const { Platform } = require("../../components/platform");
            const { parseStackConfig: parseCfg } = require("../../engine/config");
            const secrets = env === "prod" ? { githubToken: pulumi.secret("ghp_x"), receiverToken: pulumi.secret("t"), notificationSecrets: pulumi.secret({ slack: "x", teams: "x", github: "x", webhook: "x" }) } : {};
            const platform = new Platform(`${env}-direct`, { config: parseCfg(rawOf(env), env), secrets, projectDir: ROOT });
            const kinds = new Set((platform.declared as any[]).map((c) => c.manifest.kind));
            for (const k of ["Canary", "HelmRelease", "HelmRepository", "Gateway", "Alert", "Provider", ...(env === "prod" ? ["Receiver", "MetricTemplate"] : ["ImagePolicy", "ImageRepository", "ImageUpdateAutomation"])]) assert.ok(kinds.has(k), `no ${k} component`);
            const checked = assertManifestsInFleet(platform.plan.files, env, platform);
            assert.ok(checked >= 20, `only ${checked} components checked`);
        });
    }

    it("dev: Canary, mesh, Flagger, monitoring, image automation and alerts as components whose manifests are the fleet's objects", async () => {
        const { mocks, exports: exp } = await runProgram("dev", stackFileConfig("dev"));
        await promiseOf(exp.fleetCommit);
        await settle();
        const sync = mocks.byType("pulumi-nodejs:dynamic/gitops:FleetSync")[0];
        for (const t of ["gitops:delivery:Canary", "gitops:delivery:IstioMesh", "gitops:delivery:Flagger", "gitops:delivery:Monitoring", "gitops:images:ImagePolicy", "gitops:notify:Alert"]) {
            assert.strictEqual(mocks.parent(t, mocks.byType(t)[0].name), "gitops:index:Platform", t);
        }
        assert.strictEqual(mocks.parent("gitops:flux:HelmRelease", "dev-istiod"), "gitops:delivery:IstioMesh");
        assert.strictEqual(mocks.parent("gitops:flux:HelmRelease", "dev-flagger"), "gitops:delivery:Flagger");
        assert.strictEqual(mocks.parent("gitops:delivery:Gateway", "dev-istio-public-gateway"), "gitops:delivery:IstioMesh");
        assert.deepStrictEqual(exp.canaries, { "echo-version": { steps: 2, promotionSeconds: 60, rollbackSeconds: 60 } });
        assert.strictEqual(exp.receiverWebhookUrl, undefined, "dev has no receiver");
        const files: Record<string, string> = sync.inputs.files;
        const canary = parse(files["apps/dev/canaries/echo-version.yaml"]);
        assert.deepStrictEqual(canary.spec.analysis, {
            interval: "30s",
            threshold: 2,
            maxWeight: 50,
            stepWeight: 25,
            metrics: [
                { name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" },
                { name: "request-duration", thresholdRange: { max: 500 }, interval: "1m" },
            ],
            webhooks: [{ name: "load-test", type: "rollout", url: "http://flagger-loadtester.istio-system/", timeout: "5s", metadata: { type: "cmd", cmd: "hey -z 1m -q 10 -c 2 http://echo-version-canary.echo:80/" } }],
        });
        const auto = docs(files["clusters/dev/image-automation.yaml"]);
        assert.deepStrictEqual(auto.map((o) => `${o.kind}/${o.metadata.name}`), ["ImageRepository/echo-version", "ImagePolicy/echo-version", "ImageUpdateAutomation/dev"]);
        assert.strictEqual(auto[2].spec.git.push.branch, "__image/dev/project");
    });

    it("prod: canary with analysis and gates, no image automation, providers, alerts, and the Receiver URL as a secret stack output", async () => {
        const token = "prod-receiver-token";
        const config = { ...stackFileConfig("prod"), "gitops:githubToken": "ghp_fake", "gitops:receiverToken": token, "gitops:notificationSecrets": JSON.stringify({ slack: "https://hooks.slack.com/x", teams: "https://teams/x", github: "ghp_status", webhook: "https://hook/x" }) };
        const { mocks, exports: exp } = await runProgram("prod", config, ["gitops:githubToken", "gitops:receiverToken", "gitops:notificationSecrets"]);
        await promiseOf(exp.fleetCommit);
        await settle();
        assert.deepStrictEqual(exp.canaries, { "echo-version": { steps: 4, promotionSeconds: 240, rollbackSeconds: 300 } });
        assert.strictEqual(await pulumi.isSecret(exp.receiverWebhookUrl), true);
        const expected = "/hook/" + crypto.createHash("sha256").update(`${token}prod-receiverflux-system`).digest("hex");
        assert.strictEqual(await promiseOf(exp.receiverWebhookUrl), expected);
        assert.strictEqual(mocks.byType("gitops:images:ImageUpdateAutomation").length, 0, "prod has no automation pushing to main");
        assert.deepStrictEqual(mocks.byType("gitops:notify:Provider").map((r) => r.name).sort(), ["github", "slack", "teams", "webhook"]);
        assert.deepStrictEqual(mocks.byType("gitops:notify:Alert").map((r) => r.name).sort(), ["prod-commit-status", "prod-deployments", "prod-errors", "prod-webhook"]);
        assert.strictEqual(mocks.byType("gitops:notify:Receiver").length, 1);
        assert.strictEqual(mocks.byType("gitops:delivery:MetricTemplate").length, 1);
        const sync = mocks.byType("pulumi-nodejs:dynamic/gitops:FleetSync")[0];
        const files: Record<string, string> = sync.inputs.files;
        const notif = docs(files["clusters/prod/notifications.yaml"]);
        for (const p of notif.filter((o) => o.kind === "Provider")) assert.deepStrictEqual(p.spec.secretRef, { name: `${p.metadata.name}-notification` });
        for (const [p, content] of Object.entries(files)) {
            assert.ok(!content.includes(token) && !content.includes(expected.slice(6)) && !content.includes("hooks.slack.com"), `${p} holds a secret`);
        }
    });
});

describe("delivery: gitops fleet render (dev and prod) builds with kubectl kustomize", function () {
    let out: string;
    before(() => {
        out = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-delivery-render-"));
        for (const s of ["dev", "prod"]) {
            const r = gitops(["fleet", "render", "--stack", s, "--out", out]);
            assert.strictEqual(r.status, 0, r.stderr);
        }
    });
    after(() => fs.rmSync(out, { recursive: true, force: true }));

    for (const env of ["dev", "prod"]) {
        it(`${env}: HelmReleases for istio, flagger, prometheus, grafana and the load tester, in order and pinned`, () => {
            const objs = kustomize(path.join(out, "infrastructure", env, "releases"));
            const hr = Object.fromEntries(objs.filter((o) => o.kind === "HelmRelease").map((o) => [o.metadata.name, o]));
            const istio = env === "prod" ? "1.26.4" : "1.27.1";
            const want: Record<string, [string, string, string[], string]> = {
                "istio-base": ["base", istio, [], "istio-system"],
                istiod: ["istiod", istio, ["istio-base"], "istio-system"],
                "istio-gateway": ["gateway", istio, ["istiod"], "istio-ingress"],
                prometheus: ["prometheus", "27.28.0", [], "monitoring"],
                grafana: ["grafana", "9.3.0", ["prometheus"], "monitoring"],
                flagger: ["flagger", "1.41.0", ["istiod", "prometheus"], "istio-system"],
                "flagger-loadtester": ["loadtester", "0.35.0", ["flagger"], "istio-system"],
            };
            for (const [name, [chart, version, deps, target]] of Object.entries(want)) {
                assert.ok(hr[name], `${env} lacks HelmRelease ${name}`);
                assert.strictEqual(hr[name].spec.chart.spec.chart, chart);
                assert.strictEqual(hr[name].spec.chart.spec.version, version, `${name} is pinned by the ${env} overlay`);
                assert.deepStrictEqual((hr[name].spec.dependsOn ?? []).map((d: any) => d.name), deps, `${name} dependsOn`);
                assert.strictEqual(hr[name].spec.targetNamespace, target);
                const src = objs.find((o) => o.kind === "HelmRepository" && o.metadata.name === hr[name].spec.chart.spec.sourceRef.name);
                assert.ok(src, `${name}'s HelmRepository is in the overlay`);
            }
            assert.strictEqual(objs.find((o) => o.kind === "HelmRepository" && o.metadata.name === "istio").spec.url, "https://istio-release.storage.googleapis.com/charts");
            assert.strictEqual(hr.flagger.spec.values.meshProvider, "istio");
            assert.strictEqual(hr.flagger.spec.values.metricsServer, "http://prometheus-server.monitoring:80");
        });

        it(`${env}: the public Gateway, the injected app namespace, the Canary replacing the app Service`, () => {
            const manifests = kustomize(path.join(out, "infrastructure", env, "manifests"));
            const gw = manifests.find((o) => o.kind === "Gateway");
            assert.strictEqual(gw.apiVersion, "networking.istio.io/v1");
            assert.deepStrictEqual(gw.spec.servers[0].hosts, env === "prod" ? ["echo.example.com"] : ["*"]);
            const ns = manifests.find((o) => o.kind === "Namespace" && o.metadata.name === "echo");
            assert.strictEqual(ns.metadata.labels["istio-injection"], "enabled");
            const apps = kustomize(path.join(out, "apps", env));
            const kinds = apps.map((o) => `${o.kind}/${o.metadata.name}`).sort();
            assert.deepStrictEqual(kinds, env === "prod" ? ["Canary/echo-version", "Deployment/echo-version", "MetricTemplate/not-found-percentage"] : ["Canary/echo-version", "Deployment/echo-version"]);
            const canary = apps.find((o) => o.kind === "Canary");
            assert.deepStrictEqual(canary.spec.targetRef, { apiVersion: "apps/v1", kind: "Deployment", name: "echo-version" });
            assert.deepStrictEqual(canary.spec.service.gateways, ["istio-ingress/public-gateway"]);
            if (env === "prod") {
                assert.deepStrictEqual(canary.spec.analysis.stepWeights, [5, 10, 25, 50]);
                assert.deepStrictEqual(canary.spec.analysis.webhooks.map((w: any) => w.type), ["rollout", "confirm-promotion", "rollback"]);
                assert.deepStrictEqual(canary.spec.analysis.metrics[2].templateRef, { name: "not-found-percentage", namespace: "istio-system" });
            }
        });

        it(`${env}: the cluster sync holds the Providers and Alerts${env === "prod" ? " and the Receiver" : " and the ImagePolicy"}`, () => {
            const objs = kustomize(path.join(out, "clusters", env));
            const ids = new Set(objs.map((o) => `${o.kind}/${o.metadata.name}`));
            const want = env === "prod" ? ["Provider/slack", "Provider/teams", "Provider/github", "Provider/webhook", "Alert/prod-errors", "Alert/prod-deployments", "Alert/prod-commit-status", "Alert/prod-webhook", "Receiver/prod-receiver"] : ["Provider/slack", "Provider/webhook", "Alert/dev-info", "Alert/dev-errors", "ImageRepository/echo-version", "ImagePolicy/echo-version", "ImageUpdateAutomation/dev"];
            for (const id of want) assert.ok(ids.has(id), `clusters/${env} lacks ${id}`);
            if (env === "prod") assert.ok(![...ids].some((i) => i.startsWith("ImageUpdateAutomation/")), "prod pushes nothing to main");
            const alert = objs.find((o) => o.kind === "Alert" && o.metadata.name === `${env}-errors`);
            assert.strictEqual(alert.spec.eventSeverity, "error");
        });
    }

    it("the test stack shares the base namespace without Istio's label (sidecar injection is per environment)", () => {
        writePlan(planForStack(ROOT, "test"), out);
        const ns = kustomize(path.join(out, "infrastructure", "test", "manifests")).find((o) => o.kind === "Namespace" && o.metadata.name === "echo");
        assert.strictEqual(ns.metadata.labels["istio-injection"], undefined);
        const prodNs = kustomize(path.join(out, "infrastructure", "prod", "manifests")).find((o) => o.kind === "Namespace" && o.metadata.name === "echo");
        assert.strictEqual(prodNs.metadata.labels["istio-injection"], "enabled", "rendering test after prod leaves prod's label alone");
    });
});

describe("delivery: setter markers, image-update and the freeze", function () {
    let out: string;
    beforeEach(() => (out = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-delivery-img-"))));
    afterEach(() => fs.rmSync(out, { recursive: true, force: true }));
    const LATEST = "flux-system:echo-version=ghcr.io/gitops-platform/echo-version:main-abc-1800000000";

    it("gitops image-update on the rendered fleet updates the dev overlay tag only", () => {
        for (const s of ["dev", "prod"]) writePlan(planForStack(ROOT, s), out);
        const prodBefore = fs.readFileSync(path.join(out, "apps", "prod", "kustomization.yaml"), "utf8");
        const r = gitops(["image-update", "--path", out, "--latest", LATEST]);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /apps\/dev\/kustomization\.yaml:\d+: main-0a1b2c3-1700000000 -> main-abc-1800000000/);
        const dev = fs.readFileSync(path.join(out, "apps", "dev", "kustomization.yaml"), "utf8");
        assert.match(dev, /newTag: main-abc-1800000000 # \{"\$imagepolicy": "flux-system:echo-version:tag"\}/);
        assert.strictEqual(fs.readFileSync(path.join(out, "apps", "prod", "kustomization.yaml"), "utf8"), prodBefore);
        const dep = kustomize(path.join(out, "apps", "dev")).find((o) => o.kind === "Deployment");
        assert.strictEqual(dep.spec.template.spec.containers[0].image, "ghcr.io/gitops-platform/echo-version:main-abc-1800000000");
    });

    it("a frozen app keeps its tag under image-update", () => {
        const raw = rawOf("dev");
        const apps = (raw.apps as any[]).map((a) => ({ ...a, freeze: true }));
        writePlan(renderFleet(parseStackConfig({ ...raw, apps }, "dev")), out);
        const before = fs.readFileSync(path.join(out, "apps", "dev", "kustomization.yaml"), "utf8");
        const r = gitops(["image-update", "--path", path.join(out, "apps", "dev"), "--latest", LATEST]);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.strictEqual(fs.readFileSync(path.join(out, "apps", "dev", "kustomization.yaml"), "utf8"), before, "the frozen tag stays");
        assert.match(before, /newTag: main-0a1b2c3-1700000000\n/);
    });

    it("the freeze shows in the preview as a change to apps/dev/kustomization.yaml only", async () => {
        const { fleetSyncProvider } = require("../../components/fleet-sync");
        const prevCache = process.env.GITOPS_CACHE_DIR;
        process.env.GITOPS_CACHE_DIR = path.join(out, "cache"); // removed with `out`
        try {
            await freezePreview(fleetSyncProvider);
        } finally {
            if (prevCache === undefined) delete process.env.GITOPS_CACHE_DIR;
            else process.env.GITOPS_CACHE_DIR = prevCache;
        }
    });

    async function freezePreview(fleetSyncProvider: any): Promise<void> {
        const repo = path.join(out, "fleet.git");
        assert.strictEqual(spawnSync("git", ["init", "-q", "--bare", "-b", "main", repo]).status, 0);
        const raw = rawOf("dev");
        const inputs = (cfgRaw: Record<string, unknown>) => {
            const plan = renderFleet(parseStackConfig(cfgRaw, "dev"));
            return { stack: "dev", repo, branch: "main", files: plan.files, owned: plan.owned, author: { name: "t", email: "t@example.com" }, message: "test", bootstrap: [], fluxNamespace: "flux-system", kustomizations: plan.kustomizations, wait: false, waitTimeoutSeconds: 1, reportOnly: false };
        };
        const created = await fleetSyncProvider.create(inputs(raw));
        const frozen = inputs({ ...raw, apps: (raw.apps as any[]).map((a) => ({ ...a, freeze: true })) });
        const diff = await fleetSyncProvider.diff(created.id, created.outs, frozen);
        assert.strictEqual(diff.changes, true);
        assert.deepStrictEqual(Object.keys(diff.detailedDiff), ['files["apps/dev/kustomization.yaml"]']);
        assert.strictEqual(diff.detailedDiff['files["apps/dev/kustomization.yaml"]'].kind, "update");
        const same = await fleetSyncProvider.diff(created.id, created.outs, inputs(raw));
        assert.strictEqual(same.changes, false, "no freeze, no change");
    }
});

describe("delivery: registry credentials for ImageRepositories", () => {
    it("builds one dockerconfigjson Secret per secretRef from host -> user:password", () => {
        const { registryHost, registrySecrets } = require("../../engine/delivery");
        assert.strictEqual(registryHost("ghcr.io/acme/app"), "ghcr.io");
        assert.strictEqual(registryHost("localhost:5000/app"), "localhost:5000");
        assert.strictEqual(registryHost("acme/app"), "docker.io");
        assert.strictEqual(registryHost("oci://registry/team/fleet"), "registry", "an oci:// URL names its host");
        assert.strictEqual(registryHost("oci://127.0.0.1:5000/team/fleet"), "127.0.0.1:5000");
        const cfg = parseStackConfig(
            {
                imageAutomation: { enabled: true },
                apps: [
                    { name: "a", image: "ghcr.io/acme/a", tag: "1.0.0", imagePolicy: { semver: "^1.0.0", secretRef: "ghcr-auth" } },
                    { name: "b", image: "registry.example.com/b", tag: "1.0.0", imagePolicy: { semver: "^1.0.0", secretRef: "other-auth" } },
                    { name: "c", image: "ghcr.io/acme/c", tag: "1.0.0", imagePolicy: { semver: "^1.0.0" } },
                ],
            },
            "dev",
        );
        const { secrets, missing } = registrySecrets(cfg.apps, "flux-system", { "ghcr.io": "bot:p@ss:word" });
        assert.deepStrictEqual(missing, ["b (registry.example.com)"]);
        assert.strictEqual(secrets.length, 1);
        assert.strictEqual(secrets[0].type, "kubernetes.io/dockerconfigjson");
        assert.deepStrictEqual(secrets[0].metadata, { name: "ghcr-auth", namespace: "flux-system" });
        const auths = JSON.parse(secrets[0].stringData[".dockerconfigjson"]).auths;
        assert.deepStrictEqual(auths, { "ghcr.io": { username: "bot", password: "p@ss:word", auth: Buffer.from("bot:p@ss:word").toString("base64") } });
        // The ImageRepository in Git names the Secret, and only the name.
        const files = renderFleet(cfg).files["clusters/dev/image-automation.yaml"];
        assert.match(files, /secretRef:\n\s+name: ghcr-auth/);
        assert.ok(!files.includes("p@ss"));
    });

    it("imagePolicy.insecure: the ImageRepository reaches its registry over plain HTTP; left out by default", () => {
        const cfg = parseStackConfig(
            {
                imageAutomation: { enabled: true },
                apps: [
                    { name: "a", image: "registry.internal:5000/acme/a", tag: "1.0.0", imagePolicy: { semver: "^1.0.0", insecure: true } },
                    { name: "b", image: "ghcr.io/acme/b", tag: "1.0.0", imagePolicy: { semver: "^1.0.0" } },
                ],
            },
            "dev",
        );
        const repos = parseAllDocuments(renderFleet(cfg).files["clusters/dev/image-automation.yaml"]).map((d) => d.toJSON()).filter((o) => o?.kind === "ImageRepository");
        assert.deepStrictEqual(repos.map((r) => [r.metadata.name, r.spec.insecure]), [["a", true], ["b", undefined]]);
        assert.throws(() => parseStackConfig({ imageAutomation: { enabled: true }, apps: [{ name: "a", image: "r/a", tag: "1", imagePolicy: { semver: "^1.0.0", insecure: "yes" } }] }, "dev"), /apps\[0\]\.imagePolicy\.insecure/);
    });

    it("the program hands the Secret to FleetSync as a secret, never to Git", async () => {
        const raw = rawOf("dev");
        const apps = (raw.apps as any[]).map((a) => ({ ...a, imagePolicy: { ...a.imagePolicy, secretRef: "ghcr-auth" } }));
        const config = { ...stackFileConfig("dev"), "gitops:apps": JSON.stringify(apps), "gitops:registryCredentials": JSON.stringify({ "ghcr.io": "bot:registry-password-xyz" }) };
        const { mocks, exports: exp } = await runProgram("dev", config, ["gitops:registryCredentials"]);
        await promiseOf(exp.fleetCommit);
        await settle();
        const sync = mocks.byType("pulumi-nodejs:dynamic/gitops:FleetSync")[0];
        assert.ok(isSecretInput(sync.inputs.secrets));
        const s = unwrap<any[]>(sync.inputs.secrets).find((o) => o.metadata.name === "ghcr-auth");
        assert.ok(s, "the registry Secret reaches FleetSync");
        assert.match(s.stringData[".dockerconfigjson"], /registry-password-xyz/);
        for (const [p, content] of Object.entries(sync.inputs.files as Record<string, string>)) assert.ok(!content.includes("registry-password-xyz"), `${p} holds the password`);
    });
});
