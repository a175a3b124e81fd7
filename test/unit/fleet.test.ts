/**
 * The fleet repo each stack declares: golden files for dev, test and prod rendered into one
 * monorepo, a real `kubectl kustomize` build of every clusters/<env> and overlay, and the
 * `gitops fleet render` command end to end. Regenerate goldens with UPDATE_GOLDEN=1.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import { parseStackConfig } from "../../engine/config";
import { planForStack, writePlan } from "../../engine/fleet/cli";
import { renderFleet } from "../../engine/fleet/layout";

const ROOT = path.join(__dirname, "..", "..");
const GOLDEN = path.join(ROOT, "test", "fixtures", "golden", "fleet");
const STACKS = ["dev", "test", "prod"];

function listFiles(dir: string, base = dir): string[] {
    if (!fs.existsSync(dir)) return [];
    return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name), base) : [path.relative(base, path.join(dir, e.name))])).sort();
}

function kustomize(dir: string): any[] {
    const r = spawnSync("kubectl", ["kustomize", dir], { encoding: "utf8", maxBuffer: 64 << 20 });
    assert.strictEqual(r.status, 0, `kubectl kustomize ${dir} failed: ${r.stderr}`);
    return parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean);
}

describe("fleet: the repo dev, test and prod declare", function () {
    let out: string;
    before(() => {
        out = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-fleet-"));
        for (const s of STACKS) writePlan(planForStack(ROOT, s), out);
    });
    after(() => fs.rmSync(out, { recursive: true, force: true }));

    it("matches the golden files byte for byte", () => {
        const files = listFiles(out);
        if (process.env.UPDATE_GOLDEN) {
            fs.rmSync(GOLDEN, { recursive: true, force: true });
            for (const f of files) {
                fs.mkdirSync(path.dirname(path.join(GOLDEN, f)), { recursive: true });
                fs.copyFileSync(path.join(out, f), path.join(GOLDEN, f));
            }
        }
        assert.deepStrictEqual(files, listFiles(GOLDEN), "the set of files differs from the goldens (UPDATE_GOLDEN=1 to accept)");
        for (const f of files) {
            assert.strictEqual(fs.readFileSync(path.join(out, f), "utf8"), fs.readFileSync(path.join(GOLDEN, f), "utf8"), `${f} differs from its golden (UPDATE_GOLDEN=1 to accept)`);
        }
    });

    for (const env of STACKS) {
        it(`builds clusters/${env} with kubectl kustomize, holding the bootstrap and the chain`, () => {
            const objs = kustomize(path.join(out, "clusters", env));
            const ids = new Set(objs.map((o) => `${o.kind}/${o.metadata.name}`));
            for (const id of ["Namespace/flux-system", "GitRepository/flux-system", "Kustomization/flux-system", "Kustomization/infrastructure-releases", "Kustomization/infrastructure-manifests", "Kustomization/apps", "CustomResourceDefinition/kustomizations.kustomize.toolkit.fluxcd.io", "Deployment/source-controller"]) {
                assert.ok(ids.has(id), `clusters/${env} lacks ${id}`);
            }
            const sync = objs.find((o) => o.kind === "Kustomization" && o.metadata.name === "flux-system");
            assert.strictEqual(sync.spec.path, `./clusters/${env}`);
        });

        it(`builds the ${env} overlays Flux will apply (infrastructure and apps)`, () => {
            const releases = kustomize(path.join(out, "infrastructure", env, "releases"));
            const hr = releases.find((o) => o.kind === "HelmRelease" && o.metadata.name === "metrics-server");
            assert.strictEqual(hr.spec.chart.spec.version, "3.13.0", "the overlay pins the chart version");
            assert.ok(releases.some((o) => o.kind === "HelmRepository" && o.metadata.name === "metrics-server"));
            const manifests = kustomize(path.join(out, "infrastructure", env, "manifests"));
            assert.ok(manifests.some((o) => o.kind === "Namespace" && o.metadata.name === "echo"));
            const apps = kustomize(path.join(out, "apps", env));
            const dep = apps.find((o) => o.kind === "Deployment" && o.metadata.name === "echo-version");
            const expectedTag = { dev: "main-0a1b2c3-1700000000", test: "1.0.0", prod: "1.0.0" }[env];
            assert.strictEqual(dep.spec.template.spec.containers[0].image, `ghcr.io/gitops-platform/echo-version:${expectedTag}`);
            assert.strictEqual(dep.spec.template.spec.containers[0].env.find((e: any) => e.name === "ENVIRONMENT").value, env);
            assert.strictEqual(dep.spec.replicas, { dev: 1, test: 2, prod: 3 }[env]);
        });
    }

    it("marks automated tags with a setter marker, and a frozen app has none", () => {
        const dev = fs.readFileSync(path.join(out, "apps", "dev", "kustomization.yaml"), "utf8");
        assert.match(dev, /newTag: main-0a1b2c3-1700000000 # \{"\$imagepolicy": "flux-system:echo-version:tag"\}/);
        assert.doesNotMatch(fs.readFileSync(path.join(out, "apps", "prod", "kustomization.yaml"), "utf8"), /\$imagepolicy/);
        const frozen = renderFleet(
            parseStackConfig(
                { imageAutomation: { enabled: true }, apps: [{ name: "a", image: "ghcr.io/x/a", tag: "1.2.3", freeze: true, imagePolicy: { semver: "^1.0.0" } }] },
                "dev",
            ),
        );
        assert.doesNotMatch(frozen.files["apps/dev/kustomization.yaml"], /\$imagepolicy/, "a freeze removes the marker, so automation stops touching the tag");
        assert.match(frozen.files["apps/dev/kustomization.yaml"], /newTag: 1\.2\.3/);
        assert.ok(frozen.files["clusters/dev/image-automation.yaml"].includes("kind: ImagePolicy"), "the policy stays, so the latest tag is still reported");
    });

    it("keeps each stack to its own paths", () => {
        const dev = planForStack(ROOT, "dev");
        for (const f of Object.keys(dev.files)) {
            assert.ok(dev.owned.some((p) => f.startsWith(p)) || f.startsWith("infrastructure/base/") || f.startsWith("apps/base/"), `${f} is outside dev's paths`);
        }
    });
});

describe("fleet: gitops fleet render (CLI)", function () {
    let out: string;
    beforeEach(() => (out = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-fleet-cli-"))));
    afterEach(() => fs.rmSync(out, { recursive: true, force: true }));
    const gitops = (args: string[]) => spawnSync(process.execPath, [path.join(ROOT, "bin", "gitops"), ...args], { cwd: ROOT, encoding: "utf8" });

    it("writes the stack's fleet repo that kubectl kustomize builds", () => {
        const r = gitops(["fleet", "render", "--stack", "dev", "--out", out]);
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /^wrote \d+ files for stack dev to /);
        assert.ok(kustomize(path.join(out, "clusters", "dev")).length > 10);
    });

    it("fails with the stack file and key for bad config, writing nothing", () => {
        const proj = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-proj-"));
        try {
            fs.writeFileSync(path.join(proj, "Pulumi.dev.yaml"), "config:\n  gitops:cluster:\n    kind: eks\n");
            const r = gitops(["fleet", "render", "--stack", "dev", "--out", out, "--project", proj]);
            assert.strictEqual(r.status, 1);
            assert.match(r.stderr, /Pulumi\.dev\.yaml: gitops:cluster\.kind must be one of k3d, kind, aks, existing, local, none; got "eks"/);
            assert.deepStrictEqual(fs.readdirSync(out), []);
        } finally {
            fs.rmSync(proj, { recursive: true, force: true });
        }
    });

    it("answers --help and refuses a missing flag", () => {
        assert.match(gitops(["fleet", "render", "--help"]).stdout, /Usage: gitops fleet render --stack NAME --out DIR/);
        const r = gitops(["fleet", "render", "--stack", "dev"]);
        assert.strictEqual(r.status, 1);
        assert.match(r.stderr, /--out is required/);
    });
});

describe("fleet: serving the local fleet repo to a local cluster", function () {
    it("serves a bare repository read-only over smart HTTP to a real git clone", async () => {
        const { serveFleet } = require("../../engine/fleet/serve");
        const root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-serve-"));
        const git = (args: string[], cwd = root) => {
            const r = spawnSync("git", args, { cwd, encoding: "utf8" });
            assert.strictEqual(r.status, 0, `git ${args.join(" ")}: ${r.stderr}`);
            return r.stdout;
        };
        const server = await serveFleet(root, 0);
        try {
            git(["init", "-q", "--bare", "-b", "main", "fleet.git"]);
            const work = path.join(root, "work");
            git(["clone", "-q", path.join(root, "fleet.git"), work]);
            fs.writeFileSync(path.join(work, "hello.yaml"), "kind: Hello\n");
            git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "x", "--allow-empty"], work);
            git(["add", "hello.yaml"], work);
            git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "hello"], work);
            git(["push", "-q", "origin", "main"], work);
            const clone = path.join(root, "clone");
            await new Promise<void>((resolve, reject) => {
                const p = require("child_process").spawn("git", ["clone", "-q", `${server.url}/fleet.git`, clone], { stdio: "pipe" });
                let err = "";
                p.stderr.on("data", (d: Buffer) => (err += d));
                p.on("error", reject);
                p.on("close", (code: number) => (code === 0 ? resolve() : reject(new Error(err))));
            });
            assert.strictEqual(fs.readFileSync(path.join(clone, "hello.yaml"), "utf8"), "kind: Hello\n");
            fs.writeFileSync(path.join(clone, "evil.yaml"), "x\n");
            await new Promise<void>((resolve, reject) => {
                const run = (args: string[]) => require("child_process").spawnSync("git", args, { cwd: clone, encoding: "utf8" });
                run(["add", "evil.yaml"]);
                run(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "evil"]);
                const p = require("child_process").spawn("git", ["push", "origin", "main"], { cwd: clone, stdio: "pipe" });
                p.on("error", reject);
                p.on("close", (code: number) => {
                    assert.notStrictEqual(code, 0, "a push must be refused");
                    resolve();
                });
            });
            assert.strictEqual(git(["rev-list", "--count", "main"], path.join(root, "fleet.git")).trim(), "2", "the remote did not change");
        } finally {
            await server.close();
            fs.rmSync(root, { recursive: true, force: true });
        }
    });
});
