/**
 * `gitops image-policy select` end to end: bin/gitops run as a child process under the same
 * Node as the tests (Node 24 from node_modules, like `npx node bin/gitops`), with policy and
 * tags files in a temp dir, and once against a real docker-registry.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { pushTags, startRegistry, TestRegistry } from "../helpers/registry";

const ROOT = path.join(__dirname, "../..");
const BIN = path.join(ROOT, "bin/gitops");

function gitops(cwd: string, ...args: string[]): { code: number; out: string; err: string } {
    const r = spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: "utf8", env: { ...process.env, GITOPS_REGISTRY_PASSWORD: "" } });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

const policyYaml = (policy: string, filter = "") => `apiVersion: image.toolkit.fluxcd.io/v1
kind: ImagePolicy
metadata:
  name: app
  namespace: flux-system
spec:
  imageRepositoryRef:
    name: app
  policy:
${policy.replace(/^/gm, "    ")}
${filter ? `  filterTags:\n${filter.replace(/^/gm, "    ")}\n` : ""}`;

describe("gitops image-policy select (CLI end to end)", function () {
    this.timeout(180000);
    let dir: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-policy-cli-"));
        fs.writeFileSync(
            path.join(dir, "tags.txt"),
            ["1.0.0", "v1.4.2", "1.5.0-rc.1", "2.0.0", "latest", "main-abc-1700000100", "main-def-1700000999", "main-0ff-1700000500", "sha256-1.sig", ""].join("\n"),
        );
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text);

    it("prints the semver tag alone on stdout", () => {
        write("semver.yaml", policyYaml('semver:\n  range: "^1.0"'));
        const r = gitops(dir, "image-policy", "select", "--policy", "semver.yaml", "--tags", "tags.txt");
        assert.strictEqual(r.code, 0, r.err);
        assert.strictEqual(r.out, "v1.4.2\n", r.err);
    });

    it("numerical with filterTags extract returns the original tag", () => {
        write("num.yaml", policyYaml("numerical:\n  order: asc", "pattern: '^main-[a-f0-9]+-(?P<ts>[0-9]+)'\nextract: '$ts'"));
        const r = gitops(dir, "image-policy", "select", "--policy", "num.yaml", "--tags", "tags.txt");
        assert.strictEqual(r.out, "main-def-1700000999\n", r.err);
        assert.strictEqual(r.code, 0);
    });

    it("alphabetical desc", () => {
        write("alpha.yaml", policyYaml("alphabetical:\n  order: desc"));
        assert.strictEqual(gitops(dir, "image-policy", "select", "--policy", "alpha.yaml", "--tags", "tags.txt").out, "1.0.0\n");
    });

    it("an invalid range exits 1 naming the file and key", () => {
        write("bad.yaml", policyYaml('semver:\n  range: "^^1"'));
        const r = gitops(dir, "image-policy", "select", "--policy", "bad.yaml", "--tags", "tags.txt");
        assert.strictEqual(r.code, 1);
        assert.strictEqual(r.out, "");
        assert.ok(r.err.startsWith('bad.yaml: spec.policy.semver.range: invalid range "^^1"'), r.err);
    });

    it("an invalid pattern (lookahead) exits 1 naming the pattern", () => {
        write("badre.yaml", policyYaml("alphabetical: {}", "pattern: '^main-(?=x)'"));
        const r = gitops(dir, "image-policy", "select", "--policy", "badre.yaml", "--tags", "tags.txt");
        assert.strictEqual(r.code, 1);
        assert.match(r.err, /^badre\.yaml: spec\.filterTags\.pattern: invalid regular expression pattern "\^main-\(\?=x\)"/);
    });

    it("nothing matching exits 1 with a clear message", () => {
        write("none.yaml", policyYaml('semver:\n  range: ">=5"'));
        const r = gitops(dir, "image-policy", "select", "--policy", "none.yaml", "--tags", "tags.txt");
        assert.strictEqual(r.code, 1);
        assert.match(r.err, /^none\.yaml: spec\.policy\.semver\.range: no tag among 9 is a semantic version in range ">=5"/);
    });

    it("a non-numeric tag fails the numerical policy, as in Flux", () => {
        write("num2.yaml", policyYaml("numerical:\n  order: asc"));
        const r = gitops(dir, "image-policy", "select", "--policy", "num2.yaml", "--tags", "tags.txt");
        assert.strictEqual(r.code, 1);
        assert.match(r.err, /spec\.policy\.numerical: tag "1\.0\.0" is not a number/);
    });

    it("bad order, missing policy, broken YAML and missing files name the place", () => {
        write("order.yaml", policyYaml("numerical:\n  order: up"));
        assert.match(gitops(dir, "image-policy", "select", "--policy", "order.yaml", "--tags", "tags.txt").err, /^order\.yaml: spec\.policy\.numerical\.order: invalid order "up"/);
        write("nopol.yaml", "kind: ImagePolicy\nspec:\n  imageRepositoryRef: {name: x}\n");
        assert.match(gitops(dir, "image-policy", "select", "--policy", "nopol.yaml", "--tags", "tags.txt").err, /^nopol\.yaml: spec\.policy: missing policy/);
        write("broken.yaml", "kind: ImagePolicy\nspec:\n  policy: [\n");
        const b = gitops(dir, "image-policy", "select", "--policy", "broken.yaml", "--tags", "tags.txt");
        assert.strictEqual(b.code, 1);
        assert.match(b.err, /^broken\.yaml:\d+: invalid YAML/);
        const m = gitops(dir, "image-policy", "select", "--policy", "semver.yaml", "--tags", "nope.txt");
        assert.strictEqual(m.code, 1);
        assert.match(m.err, /^nope\.txt: cannot read the tags file: ENOENT/);
    });

    it("usage errors: neither or both of --tags/--registry, unknown flags", () => {
        const r = gitops(dir, "image-policy", "select", "--policy", "semver.yaml");
        assert.notStrictEqual(r.code, 0);
        assert.match(r.err, /exactly one of --tags FILE or --registry REPO/);
        assert.match(gitops(dir, "image-policy", "select", "--policy", "semver.yaml", "--tag", "x").err, /unknown flag --tag/);
        const h = gitops(dir, "image-policy", "select", "--help");
        assert.strictEqual(h.code, 0);
        assert.match(h.out, /--registry REPO/);
    });

    describe("--registry (real docker-registry)", () => {
        let reg: TestRegistry;
        before(async () => {
            reg = await startRegistry();
            await pushTags(reg.url, "team/web", ["0.9.0", "1.0.0", "1.1.0", "1.2.0-rc.1", "1.1.1.sig", "2.0.0"]);
        });
        after(async () => reg && (await reg.stop()));

        it("lists the tags from the registry and selects", () => {
            write("web.yaml", policyYaml('semver:\n  range: "~1"'));
            const r = gitops(dir, "image-policy", "select", "--policy", "web.yaml", "--registry", `${reg.host}/team/web`, "--insecure", "--page-size", "2");
            assert.strictEqual(r.code, 0, r.err);
            assert.strictEqual(r.out, "1.1.0\n", r.err);
            write("webalpha.yaml", policyYaml("alphabetical: {}"));
            // *.sig is excluded by default; --exclude replaces the default list.
            assert.strictEqual(gitops(dir, "image-policy", "select", "--policy", "webalpha.yaml", "--registry", `${reg.url}/team/web`).out, "2.0.0\n");
            assert.strictEqual(
                gitops(dir, "image-policy", "select", "--policy", "webalpha.yaml", "--registry", `${reg.url}/team/web`, "--exclude", "^2").out,
                "1.2.0-rc.1\n",
            );
        });

        it("an unknown repository exits 1 naming it", () => {
            const r = gitops(dir, "image-policy", "select", "--policy", "web.yaml", "--registry", `${reg.url}/team/nope`);
            assert.strictEqual(r.code, 1);
            assert.match(r.err, /team\/nope.*not found/);
        });
    });
});
