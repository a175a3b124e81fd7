/**
 * `gitops build ks`, `gitops diff ks`, `gitops render --postbuild`, `--ref` revisions, `--help` on
 * command groups and `gitops report` without a trail: real git, real `kubectl kustomize`, and for
 * the cluster diff an API server (the real kube-apiserver when built, else the test API server).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import { main } from "../../engine/cli";
import { ApiServer, capture, REAL_APISERVER, startApiServer } from "../helpers/cli";
import { git } from "../helpers/git";

function write(root: string, files: Record<string, string>): void {
    for (const [p, c] of Object.entries(files)) {
        fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
        fs.writeFileSync(path.join(root, p), c);
    }
}

const DEPLOY = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: ghcr.io/acme/web:1.0.0
        env:
        - {name: ENV, value: "\${cluster_env}"}
        - {name: REGION, value: "\${region:=eu}"}
---
apiVersion: v1
kind: Secret
metadata:
  name: creds
stringData:
  password: "\${db_password}"
`;

const KS = (tag: string, replicas: number) => `apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: apps, namespace: flux-system}
spec:
  interval: 10m
  path: ./apps/dev
  prune: true
  sourceRef: {kind: GitRepository, name: flux-system}
  targetNamespace: web
  namePrefix: dev-
  components: [../../comp]
  images:
  - {name: ghcr.io/acme/web, newTag: "${tag}"}
  patches:
  - patch: |
      - op: replace
        path: /spec/replicas
        value: ${replicas}
    target: {kind: Deployment}
  postBuild:
    substitute: {cluster_env: dev}
    substituteFrom:
    - {kind: ConfigMap, name: cluster-vars}
    - {kind: Secret, name: cluster-secrets, optional: true}
`;

const VARS = `apiVersion: v1
kind: ConfigMap
metadata: {name: cluster-vars, namespace: flux-system}
data: {region: us}
---
apiVersion: v1
kind: Secret
metadata: {name: cluster-secrets, namespace: flux-system}
stringData: {db_password: hunter2}
`;

describe("gitops build ks / diff ks / render (CLI, real git and kubectl kustomize)", function () {
    this.timeout(180_000);
    let repo: string;

    before(() => {
        repo = fs.mkdtempSync(path.join(os.tmpdir(), "cli-build-"));
        git(["init", "--quiet", "--initial-branch=main", repo]);
        write(repo, {
            "apps/base/deploy.yaml": DEPLOY,
            "apps/base/kustomization.yaml": "resources: [deploy.yaml]\n",
            "apps/dev/kustomization.yaml": "resources: [../base]\nimages:\n- {name: ghcr.io/acme/web, newName: registry.local/acme/web}\n",
            "comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonLabels:\n  tier: frontend\n",
            "clusters/dev/apps.yaml": KS("1.2.0", 3),
            "vars.yaml": VARS,
        });
        git(["add", "-A"], repo);
        git(["commit", "--quiet", "-m", "one"], repo);
        write(repo, { "clusters/dev/apps.yaml": KS("1.3.0", 4) });
        git(["commit", "--quiet", "-am", "two"], repo);
    });
    after(() => fs.rmSync(repo, { recursive: true, force: true }));

    const ksFlags = () => ["--kustomization-file", path.join(repo, "clusters/dev/apps.yaml"), "--substitute-from", path.join(repo, "vars.yaml")];

    it("build ks renders as kustomize-controller: prefix, namespace, patches, merged images, components, postBuild, owner labels; Secret values masked", async () => {
        const r = capture();
        assert.strictEqual(await main(["build", "ks", "apps", ...ksFlags(), "--path", path.join(repo, "apps/dev")], r.io), 0, r.errText());
        const docs = parseAllDocuments(r.text()).map((d) => d.toJS());
        const dep = docs.find((d) => d.kind === "Deployment");
        assert.strictEqual(dep.metadata.name, "dev-web");
        assert.strictEqual(dep.metadata.namespace, "web");
        assert.strictEqual(dep.spec.replicas, 4);
        // the overlay's newName is kept; the Kustomization's newTag is merged into that entry (fluxcd/pkg generator)
        assert.strictEqual(dep.spec.template.spec.containers[0].image, "registry.local/acme/web:1.3.0");
        assert.deepStrictEqual(dep.spec.template.spec.containers[0].env, [
            { name: "ENV", value: "dev" },
            { name: "REGION", value: "us" },
        ]);
        assert.deepStrictEqual(dep.metadata.labels, { tier: "frontend", "kustomize.toolkit.fluxcd.io/name": "apps", "kustomize.toolkit.fluxcd.io/namespace": "flux-system" });
        const secret = docs.find((d) => d.kind === "Secret");
        assert.deepStrictEqual(secret.stringData, { password: "***" });
        assert.ok(!r.text().includes("hunter2"), "no Secret value in the output");
    });

    it("build ks names the Kustomization and the fix when a substituteFrom object is nowhere", async () => {
        const r = capture();
        const env = process.env.KUBECONFIG;
        delete process.env.KUBECONFIG;
        try {
            assert.strictEqual(await main(["build", "ks", "apps", "--kustomization-file", path.join(repo, "clusters/dev/apps.yaml"), "--path", path.join(repo, "apps/dev")], r.io), 1);
        } finally {
            if (env !== undefined) process.env.KUBECONFIG = env;
        }
        assert.match(r.errText(), /Kustomization\/flux-system\/apps spec\.postBuild\.substituteFrom ConfigMap\/cluster-vars: not in any --substitute-from file and no cluster to read it from \(pass --substitute-from FILE holding ConfigMap flux-system\/cluster-vars, or --kubeconfig\)/);
    });

    it("diff ks --against HEAD~1 compares two revisions cluster-free, the Kustomization file included", async () => {
        const r = capture();
        assert.strictEqual(await main(["diff", "ks", "apps", ...ksFlags(), "--repo", repo, "--ref", "HEAD", "--against", "HEAD~1", "--exit-code"], r.io), 3, r.errText());
        const text = r.text();
        assert.match(text, /^configured web_dev-web_apps_Deployment$/m);
        assert.match(text, /^ +- {2}replicas: 3$/m);
        assert.match(text, /^ +\+ {2}replicas: 4$/m);
        assert.match(text, /-\s+image: registry\.local\/acme\/web:1\.2\.0/);
        assert.match(text, /\+\s+image: registry\.local\/acme\/web:1\.3\.0/);
        assert.doesNotMatch(text, /creds/, "the Secret did not change");
        const same = capture();
        assert.strictEqual(await main(["diff", "ks", "apps", ...ksFlags(), "--repo", repo, "--ref", "HEAD~1", "--against", "HEAD~1", "--exit-code"], same.io), 0, same.errText());
        assert.match(same.text(), /^no changes between HEAD~1 and HEAD~1$/m);
    });

    it("render --postbuild expands defaults with no --var; --strict implies it; --ref takes HEAD~1", async () => {
        let r = capture();
        assert.strictEqual(await main(["render", "--repo", repo, "--path", "apps/base"], r.io), 0, r.errText());
        assert.match(r.text(), /value: \$\{region:=eu\}/, "without --postbuild and --var nothing is substituted (Flux's WithVariables)");
        r = capture();
        assert.strictEqual(await main(["render", "--repo", repo, "--path", "apps/base", "--postbuild"], r.io), 0, r.errText());
        assert.match(r.text(), /value: eu$/m);
        r = capture();
        assert.strictEqual(await main(["render", "--repo", repo, "--path", "apps/base", "--strict"], r.io), 1);
        assert.match(r.errText(), /variable 'cluster_env' is not set \(strict mode\)/);
        r = capture();
        assert.strictEqual(await main(["render", "--repo", repo, "--path", "apps/base", "--strict", "--var", "cluster_env=", "--var", "db_password=x"], r.io), 0, r.errText());
        assert.match(r.text(), /name: ENV\n\s+value: ""|value: ""\n\s+- name: ENV|- name: ENV\n\s+value: *\n/, "a variable set to the empty string counts as set");
        r = capture();
        assert.strictEqual(await main(["render", "--repo", repo, "--ref", "HEAD~1", "--path", "clusters/dev"], r.io), 0, r.errText());
        assert.match(r.text(), /newTag: 1\.2\.0/);
        r = capture();
        assert.strictEqual(await main(["render", "--repo", repo, "--ref", "HEAD~9", "--path", "clusters/dev"], r.io), 1);
        assert.match(r.errText(), /no branch, tag or commit named 'HEAD~9' \(give a branch, tag or commit, optionally with ~N or \^N/);
    });

    it("--help works on every command group and every command, exit 0", async () => {
        for (const argv of [["cluster", "--help"], ["fleet", "--help"], ["image-policy", "--help"], ["build", "--help"], ["diff", "--help"], ["build", "ks", "--help"], ["get", "--help"], ["promote", "--help"], ["--help"]]) {
            const r = capture();
            assert.strictEqual(await main(argv, r.io), 0, `${argv.join(" ")}: ${r.errText()}`);
            assert.match(r.text(), /^Usage:/, argv.join(" "));
        }
        const r = capture();
        assert.strictEqual(await main(["cluster"], r.io), 2);
        assert.match(r.errText(), /gitops cluster: a subcommand is needed/);
    });

    it("report on a repo with no trail says why figures are missing and prints no epoch date", async () => {
        const r = capture();
        assert.strictEqual(await main(["report", "--repo", repo], r.io), 0, r.errText());
        assert.doesNotMatch(r.text(), /1970/);
        assert.match(r.text(), /^no deployments \(as of \d{4}-\d\d-\d\dT/m);
        assert.match(r.text(), /^note: no deployments in this history: the report counts FleetSync's 'Reconcile <stack>' commits/m);
    });

    describe(`diff ks against a cluster (${REAL_APISERVER ? "real kube-apiserver" : "test API server"})`, () => {
        let server: ApiServer;
        let dir: string;

        before(async () => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "cli-diffks-"));
            server = await startApiServer(dir);
        });
        after(async () => {
            await server?.stop();
            fs.rmSync(dir, { recursive: true, force: true });
        });

        it("reports created, then configured fields after an apply, with Secret values as ***", async () => {
            const kc = ["--kubeconfig", server.kubeconfig];
            let r = capture();
            assert.strictEqual(await main(["diff", "ks", "apps", ...ksFlags(), ...kc, "--path", path.join(repo, "apps/dev"), "--exit-code"], r.io), 3, r.errText());
            assert.match(r.text(), /^created web_dev-web_apps_Deployment$/m);
            assert.match(r.text(), /^created web_dev-creds__Secret$/m);

            // Apply what build ks renders, with real values (not masked), then change the password.
            const built = capture();
            const manifest = path.join(dir, "applied.yaml");
            assert.strictEqual(await main(["build", "ks", "apps", ...ksFlags(), "--path", path.join(repo, "apps/dev")], built.io), 0);
            fs.writeFileSync(manifest, "apiVersion: v1\nkind: Namespace\nmetadata: {name: web}\n---\n" + built.text().replace('password: "***"', "password: hunter1"));
            r = capture();
            assert.strictEqual(await main(["cluster", "apply", ...kc, "--file", manifest], r.io), 0, r.errText());

            r = capture();
            assert.strictEqual(await main(["diff", "ks", "apps", ...ksFlags(), ...kc, "--path", path.join(repo, "apps/dev")], r.io), 0, r.errText());
            assert.match(r.text(), /^configured web_dev-creds__Secret \(data\.password: \*\*\* \(before\) -> \*\*\* \(after\)\)$/m);
            assert.doesNotMatch(r.text(), /hunter/);
            assert.doesNotMatch(r.text(), /web_dev-web_apps_Deployment/, "the Deployment is unchanged");
        });
    });
});
