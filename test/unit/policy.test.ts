/**
 * The policy pack (policy/) driven through @pulumi/policy's own analyzer: the RPC handlers its
 * server registers (makeAnalyzeRpcFun, makeAnalyzeStackRpcFun) get AnalyzeRequests built from the
 * resources the program registered under test/mocks.ts, exactly as the Pulumi engine sends them
 * (inputs as a protobuf Struct, secrets in Pulumi's secret envelope, URNs, options), and the
 * diagnostics come back as the CLI would print them. Good configs: no violation. Bad configs
 * (from stack config where the schema allows it, else the recorded inputs edited as a code
 * change would): the named policy fires.
 */
import * as assert from "assert";
import { Recorded, RecordingMocks, runProgram, settle, stackFileConfig, promiseOf } from "../mocks";
import { policies, FLEET_SYNC, DEPLOY_KEY } from "../../policy/policies";
import * as rules from "../../policy/rules";

/* eslint-disable @typescript-eslint/no-var-requires */
const server = require("@pulumi/policy/server");
const analyzerpb = require("@pulumi/pulumi/proto/analyzer_pb");
const { Struct } = require("google-protobuf/google/protobuf/struct_pb");
/* eslint-enable @typescript-eslint/no-var-requires */

interface Violation {
    policy: string;
    message: string;
    urn?: string;
}

const PACK = "gitops-guardrails";

function options(parent?: string): any {
    const o = new analyzerpb.AnalyzerResourceOptions();
    o.setProtect(false);
    o.setIgnorechangesList([]);
    o.setAliasesList([]);
    o.setAdditionalsecretoutputsList([]);
    if (parent) o.setParent(parent);
    return o;
}

/** JSON-clean inputs (no undefined, which a protobuf Struct cannot hold). */
const struct = (inputs: Record<string, any>) => Struct.fromJavaScript(JSON.parse(JSON.stringify(inputs)));

function call(fn: (call: any, cb: (err: any, resp: any) => void) => void, request: any): Promise<any> {
    return new Promise((resolve, reject) => fn({ request }, (err, resp) => (err ? reject(err) : resolve(resp))));
}

function diagnostics(resp: any): Violation[] {
    return resp.getDiagnosticsList().map((d: any) => ({ policy: d.getPolicyname(), message: d.getMessage(), urn: d.getUrn() || undefined }));
}

/** Every resource through Analyze, then the whole stack through AnalyzeStack. */
async function analyze(mocks: RecordingMocks, resources: Recorded[] = mocks.resources): Promise<Violation[]> {
    const analyzeFn = server.makeAnalyzeRpcFun(PACK, "0.1.0", "mandatory", policies);
    const stackFn = server.makeAnalyzeStackRpcFun(PACK, "0.1.0", "mandatory", policies);
    const out: Violation[] = [];
    const stackResources: any[] = [];
    for (const r of resources) {
        const urn = mocks.urn(r.type, r.name);
        const req = new analyzerpb.AnalyzeRequest();
        req.setType(r.type);
        req.setProperties(struct(r.inputs));
        req.setUrn(urn);
        req.setName(r.name);
        req.setOptions(options());
        out.push(...diagnostics(await call(analyzeFn, req)).map((v) => ({ ...v, urn })));
        const ar = new analyzerpb.AnalyzerResource();
        ar.setType(r.type);
        ar.setProperties(struct(r.inputs));
        ar.setUrn(urn);
        ar.setName(r.name);
        ar.setOptions(options());
        ar.setDependenciesList([]);
        stackResources.push(ar);
    }
    const sreq = new analyzerpb.AnalyzeStackRequest();
    sreq.setResourcesList(stackResources);
    out.push(...diagnostics(await call(stackFn, sreq)));
    return out;
}

const PROD_SECRETS = ["gitops:githubToken", "gitops:receiverToken", "gitops:notificationSecrets"];
function prodConfig(edit: (c: Record<string, any>) => void = () => undefined): Record<string, string> {
    const base = stackFileConfig("prod");
    const parsed: Record<string, any> = {};
    for (const [k, v] of Object.entries(base)) {
        try {
            parsed[k] = JSON.parse(v);
        } catch {
            parsed[k] = v;
        }
    }
    edit(parsed);
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(parsed)) out[k] = typeof v === "string" ? v : JSON.stringify(v);
    out["gitops:githubToken"] = "ghp_fake";
    out["gitops:receiverToken"] = "receiver-token";
    out["gitops:notificationSecrets"] = JSON.stringify({ slack: "https://hooks.slack.com/x", teams: "https://teams/x", github: "ghp_status", webhook: "https://hook/x" });
    return out;
}

async function program(stack: string, config: Record<string, string>, secrets: string[] = []): Promise<RecordingMocks> {
    const { mocks, exports } = await runProgram(stack, config, secrets);
    await promiseOf(exports.fleetCommit);
    await settle();
    return mocks;
}

const names = (vs: Violation[]) => [...new Set(vs.map((v) => v.policy))].sort();
const sync = (m: RecordingMocks) => m.resources.find((r) => r.type === FLEET_SYNC)!;

describe("policy pack (CrossGuard) through the policy SDK's analyzer", function () {
    this.timeout(120_000);

    it("the shipped Pulumi.prod.yaml passes every policy, and the policies did look at it", async () => {
        const m = await program("prod", prodConfig(), PROD_SECRETS);
        assert.ok(sync(m), "prod registers FleetSync");
        assert.ok(m.resources.some((r) => r.type === DEPLOY_KEY), "prod registers a deploy key");
        const files = sync(m).inputs.files as Record<string, string>;
        assert.ok(rules.docsOf(files).some((d) => d.obj.kind === "HelmRelease"), "the policies see the HelmReleases");
        assert.deepEqual(await analyze(m), []);
    });

    for (const stack of ["dev", "test"]) {
        it(`the shipped Pulumi.${stack}.yaml passes too (prod-only rules do not apply)`, async () => {
            const config = stackFileConfig(stack);
            if (stack === "test") config["gitops:kubeconfig"] = require("../mocks").FAKE_KUBECONFIG;
            const m = await program(stack, config, stack === "test" ? ["gitops:kubeconfig"] : []);
            assert.deepEqual(await analyze(m), []);
        });
    }

    it("prod-immutable-versions: an app tagged latest", async () => {
        const m = await program("prod", prodConfig((c) => (c["gitops:apps"][0].tag = "latest")), PROD_SECRETS);
        const v = await analyze(m);
        assert.deepEqual(names(v), ["prod-immutable-versions"]);
        assert.match(v[0].message, /apps\/prod\/kustomization\.yaml: images\[0\] ghcr\.io\/gitops-platform\/echo-version: mutable tag 'latest'/);
        assert.equal(v[0].urn, m.urn(FLEET_SYNC, sync(m).name));
    });

    it("prod-immutable-versions: a chart version range, a release without a version, an image without a tag", async () => {
        const m = await program("prod", prodConfig(), PROD_SECRETS);
        const s = sync(m);
        const files = { ...s.inputs.files };
        const patch = "infrastructure/prod/releases/patches/metrics-server.yaml";
        assert.ok(files[patch], patch);
        files[patch] = files[patch].replace(/version: .*/, "version: '>=3.0.0 <4.0.0'");
        files["infrastructure/base/releases/extra/helmrelease.yaml"] = "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: extra\n  namespace: flux-system\nspec:\n  chart:\n    spec:\n      chart: extra\n";
        files["apps/base/sidecar/deployment.yaml"] = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: sidecar\nspec:\n  template:\n    spec:\n      containers:\n        - name: s\n          image: docker.io/library/nginx\n";
        const v = await analyze(m, [{ ...s, inputs: { ...s.inputs, files } }]);
        const msgs = v.filter((x) => x.policy === "prod-immutable-versions").map((x) => x.message).join("\n");
        assert.match(msgs, /metrics-server chart version '>=3\.0\.0 <4\.0\.0' is a range/);
        assert.match(msgs, /HelmRelease\/flux-system\/extra has no chart version/);
        assert.match(msgs, /image docker\.io\/library\/nginx: no tag/);
    });

    it("prod-canary-per-app: an app without a canary in prod", async () => {
        const m = await program("prod", prodConfig((c) => delete c["gitops:apps"][0].canary), PROD_SECRETS);
        const v = await analyze(m);
        assert.deepEqual(names(v), ["prod-canary-per-app"]);
        assert.match(v[0].message, /app echo-version \(Deployment echo-version\) has no Canary in prod/);
    });

    it("prod-image-automation-not-main: automation in prod pushing to main", async () => {
        let m: RecordingMocks;
        try {
            m = await program("prod", prodConfig((c) => (c["gitops:imageAutomation"] = { enabled: true, pushBranch: "main" })), PROD_SECRETS);
        } catch (e) {
            // The config schema may already refuse it; then the policy guards a code change: add the object by hand.
            m = await program("prod", prodConfig(), PROD_SECRETS);
        }
        const s = sync(m);
        let files = s.inputs.files as Record<string, string>;
        if (!rules.docsOf(files).some((d) => d.obj.kind === "ImageUpdateAutomation")) {
            files = { ...files, "clusters/prod/image-automation.yaml": "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata:\n  name: prod\n  namespace: flux-system\nspec:\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n  git:\n    checkout:\n      ref:\n        branch: main\n  update:\n    path: ./apps/prod\n" };
        }
        const v = await analyze(m, [{ ...s, inputs: { ...s.inputs, files } }]);
        assert.ok(names(v).includes("prod-image-automation-not-main"), JSON.stringify(v));
        assert.match(v.find((x) => x.policy === "prod-image-automation-not-main")!.message, /pushes to 'main'/);
    });

    it("kustomization-prune: a Kustomization with prune off (any stack)", async () => {
        const m = await program("dev", { ...stackFileConfig("dev"), "gitops:kustomizations": JSON.stringify([{ name: "extra", path: "./extra", prune: false }]) });
        const v = await analyze(m);
        assert.deepEqual(names(v), ["kustomization-prune"]);
        assert.match(v[0].message, /Kustomization\/flux-system\/extra has prune false; set spec\.prune: true/);
    });

    it("no-plaintext-secrets: a Secret with data, a private key, a token in the fleet files; a Secret in bootstrap", async () => {
        const m = await program("prod", prodConfig(), PROD_SECRETS);
        const s = sync(m);
        const files = {
            ...s.inputs.files,
            "apps/base/echo-version/secret.yaml": "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  password: aHVudGVyMg==\n",
            "apps/prod/key.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: k\ndata:\n  id: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n    abc\n",
            "apps/prod/notes.yaml": "token: ghp_0123456789abcdefghijABCDEFGHIJ012345\n",
        };
        const bootstrap = [...(s.inputs.bootstrap ?? []), { apiVersion: "v1", kind: "Secret", metadata: { name: "flux-system", namespace: "flux-system" }, data: { identity: "eA==" } }];
        const v = await analyze(m, [{ ...s, inputs: { ...s.inputs, files, bootstrap } }]);
        assert.deepEqual(names(v), ["no-plaintext-secrets"]);
        const msgs = v.map((x) => x.message).join("\n");
        assert.match(msgs, /secret\.yaml: Secret\/db carries data in Git/);
        assert.match(msgs, /key\.yaml: looks like a private key/);
        assert.match(msgs, /notes\.yaml: looks like a GitHub token/);
        assert.match(msgs, /bootstrap: Secret\/flux-system\/flux-system is a Secret; pass it in FleetSync's secret input 'secrets'/);
    });

    it("the secrets FleetSync applies arrive as secret inputs and never reach the fleet files", async () => {
        const m = await program("prod", prodConfig(), PROD_SECRETS);
        const { isSecretInput } = require("../mocks");
        const s = sync(m);
        assert.ok(isSecretInput(s.inputs.secrets), "secrets is a secret input");
        assert.ok(isSecretInput(s.inputs.kubeconfig), "kubeconfig is a secret input");
        assert.deepEqual(rules.noPlaintextSecrets(s.inputs.files, rules.docsOf(s.inputs.files)), []);
    });

    it("deploy-key-read-only: a writable deploy key without image automation (validateStack)", async () => {
        const m = await program("prod", prodConfig(), PROD_SECRETS);
        const key = m.resources.find((r) => r.type === DEPLOY_KEY)!;
        assert.notEqual(key.inputs.readOnly, false);
        const writable = m.resources.map((r) => (r === key ? { ...r, inputs: { ...r.inputs, readOnly: false } } : r));
        const v = await analyze(m, writable);
        assert.deepEqual(names(v), ["deploy-key-read-only"]);
        assert.match(v[0].message, /deploy key .* can write .* but no image automation in this stack pushes/);
        // with image automation in the stack, write access is allowed
        const s = sync(m);
        const withAuto = writable.map((r) => (r === s ? { ...r, inputs: { ...r.inputs, files: { ...r.inputs.files, "clusters/prod/image-automation.yaml": "apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImageUpdateAutomation\nmetadata:\n  name: prod\n  namespace: flux-system\nspec:\n  git:\n    push:\n      branch: __image/prod\n" } } } : r));
        assert.deepEqual(names(await analyze(m, withAuto)), []);
    });

    it("no-secrets-in-stack-outputs: a private key in a stack output", async () => {
        const m = await program("prod", prodConfig(), PROD_SECRETS);
        const stack: Recorded = { type: "pulumi:pulumi:Stack", name: "gitops-platform-prod", inputs: { deployKeyPrivate: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n" }, custom: false, id: "" };
        const fakeUrn = "urn:pulumi:prod::gitops-platform::pulumi:pulumi:Stack::gitops-platform-prod";
        const mocks = Object.create(m);
        mocks.urn = (t: string, n: string) => (t === stack.type ? fakeUrn : m.urn(t, n));
        const v = await analyze(mocks, [stack]);
        assert.deepEqual(names(v), ["no-secrets-in-stack-outputs"]);
        assert.match(v[0].message, /stack output deployKeyPrivate looks like a private key/);
    });
    it("no-secrets-in-stack-outputs checks what is known in a preview: unknown outputs are skipped, a known key still fails", async () => {
        const m = await program("prod", prodConfig(), PROD_SECRETS);
        const unknown = require("@pulumi/policy/proxy").unknownStringValue; // the engine's unknown sentinel
        const fakeUrn = "urn:pulumi:prod::gitops-platform::pulumi:pulumi:Stack::gitops-platform-prod";
        const mocks = Object.create(m);
        mocks.urn = (t: string, n: string) => (t === "pulumi:pulumi:Stack" ? fakeUrn : m.urn(t, n));
        const stack = (inputs: Record<string, any>): Recorded => ({ type: "pulumi:pulumi:Stack", name: "gitops-platform-prod", inputs, custom: false, id: "" });
        const leaky = await analyze(mocks, [stack({ kubeconfig: unknown, fleet: { url: unknown, key: "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n" } })]);
        assert.deepEqual(names(leaky), ["no-secrets-in-stack-outputs"]);
        assert.match(leaky[0].message, /stack output fleet looks like a private key/);
        assert.doesNotMatch(JSON.stringify(leaky), /can't run .* during preview/);
        const clean = await analyze(mocks, [stack({ kubeconfig: unknown, fleet: { url: unknown, branch: "main" } })]);
        assert.deepEqual(names(clean), []);
    });
});

describe("policy rules (pure)", () => {
    it("splits image references", () => {
        assert.deepEqual(rules.splitImageRef("localhost:5000/app:1.2.3"), { name: "localhost:5000/app", tag: "1.2.3", digest: undefined });
        assert.deepEqual(rules.splitImageRef("localhost:5000/app"), { name: "localhost:5000/app", tag: undefined, digest: undefined });
        assert.deepEqual(rules.splitImageRef("app@sha256:abc"), { name: "app", tag: undefined, digest: "sha256:abc" });
    });
    it("automation push branch: push.branch, else checkout branch, else the fleet branch", () => {
        assert.equal(rules.automationPushBranch({ spec: { git: { push: { branch: "x" } } } }, "main"), "x");
        assert.equal(rules.automationPushBranch({ spec: { git: { checkout: { ref: { branch: "y" } } } } }, "main"), "y");
        assert.equal(rules.automationPushBranch({ spec: {} }, "trunk"), "trunk");
    });
});
