/**
 * `gitops render` end to end: `npx node bin/gitops render ...` against a local bare repo made with
 * git in the test, a work tree, and bad input (exit 1 with a message naming path/file/flag).
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as YAML from "yaml";
import { TempGit } from "../helpers/git";

const REPO_ROOT = path.join(__dirname, "..", "..");
const FIX = path.join(__dirname, "..", "fixtures", "render");

function gitops(args: string[], env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
    const r = spawnSync("npx", ["node", "bin/gitops", ...args], {
        cwd: REPO_ROOT,
        encoding: "utf8",
        env: { ...process.env, ...env },
        timeout: 120_000,
    });
    // npm may print its own warnings; keep only our lines.
    const stderr = (r.stderr ?? "")
        .split("\n")
        .filter((l) => !l.startsWith("npm warn"))
        .join("\n");
    return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr };
}

function readFixture(dir: string): Record<string, string> {
    const files: Record<string, string> = {};
    const walk = (d: string) => {
        for (const n of fs.readdirSync(d)) {
            const p = path.join(d, n);
            if (fs.statSync(p).isDirectory()) walk(p);
            else files[path.relative(FIX, p)] = fs.readFileSync(p, "utf8");
        }
    };
    walk(dir);
    return files;
}

describe("render: gitops render CLI (npx node bin/gitops)", function () {
    this.timeout(180_000);
    let t: TempGit;
    let bare: string;
    let v1: string;

    before(() => {
        t = new TempGit("gitops-render-cli-");
        bare = t.bare("fleet", { ...readFixture(path.join(FIX, "overlay")), ...readFixture(path.join(FIX, "broken-yaml")) });
        v1 = t.head(bare, "main");
        // a second commit changes the replica patch
        const kpath = "overlay/prod/kustomization.yaml";
        t.commit(bare, "main", { [kpath]: t.read(bare, "main", kpath)!.replace("value: 3", "value: 5") }, "five replicas");
    });
    after(() => t.cleanup());

    const deployment = (yaml: string) => YAML.parseAllDocuments(yaml).map((d) => d.toJS()).find((o) => o.kind === "Deployment");

    it("renders a bare repo at HEAD with --var, substitution included", () => {
        const r = gitops(["render", "--repo", bare, "--path", "overlay/prod", "--var", "cluster_name=eu-1", "--var", "region=us-east-2"]);
        assert.strictEqual(r.code, 0, r.stderr);
        const dep = deployment(r.stdout);
        assert.strictEqual(dep.spec.replicas, 5);
        const env = Object.fromEntries(dep.spec.template.spec.containers[0].env.map((e: any) => [e.name, e.value]));
        assert.deepStrictEqual(env, { CLUSTER: "eu-1", REGION: "us-east-2", LITERAL: "${not_a_var}", DEBUG: "yes" });
        assert.strictEqual(YAML.parseAllDocuments(r.stdout).length, 3);
    });

    it("renders an older commit with --ref", () => {
        const r = gitops(["render", "--repo", bare, "--ref", v1, "--path", "overlay/prod"]);
        assert.strictEqual(r.code, 0, r.stderr);
        assert.strictEqual(deployment(r.stdout).spec.replicas, 3);
        // no --var: nothing substituted
        assert.match(r.stdout, /value: \$\{cluster_name\}/);
    });

    it("renders a plain directory as it is on disk", () => {
        const clone = t.clone(bare);
        const kpath = path.join(clone, "overlay/prod/kustomization.yaml");
        fs.writeFileSync(kpath, fs.readFileSync(kpath, "utf8").replace("value: 5", "value: 7"));
        const r = gitops(["render", "--repo", clone, "--path", "./overlay/prod", "--var", "cluster_name=x"]);
        assert.strictEqual(r.code, 0, r.stderr);
        assert.strictEqual(deployment(r.stdout).spec.replicas, 7);
    });

    it("prints help", () => {
        const r = gitops(["render", "--help"]);
        assert.strictEqual(r.code, 0);
        assert.match(r.stdout, /Usage: gitops render --repo/);
    });

    describe("bad input exits 1 naming what to fix", () => {
        const cases: Array<{ name: string; args: () => string[]; stderr: RegExp }> = [
            { name: "missing path", args: () => ["render", "--repo", bare, "--path", "overlay/nope"], stderr: /overlay\/nope: path not found/ },
            { name: "kustomize error with file and line", args: () => ["render", "--repo", bare, "--path", "broken-yaml"], stderr: /broken-yaml\/broken\.yaml:\d+: kustomize build failed/ },
            { name: "bad --var (no =)", args: () => ["render", "--repo", bare, "--path", "overlay/prod", "--var", "novalue"], stderr: /--var novalue: expected NAME=VALUE/ },
            { name: "bad --var name", args: () => ["render", "--repo", bare, "--path", "overlay/prod", "--var", "a-b=1"], stderr: /--var a-b=1: 'a-b' is not a valid variable name/ },
            {
                name: "strict mode, unset variable",
                args: () => ["render", "--repo", bare, "--path", "overlay/prod", "--var", "region=x", "--strict"],
                stderr: /prod_prod-web_apps_Deployment: variable substitution failed.*'cluster_name' is not set/,
            },
            {
                name: "value that breaks the YAML",
                args: () => ["render", "--repo", bare, "--path", "overlay/prod", "--var", "cluster_name={a: [b"],
                stderr: /prod_prod-web_apps_Deployment: YAML is invalid after variable substitution/,
            },
            { name: "missing --path", args: () => ["render", "--repo", bare], stderr: /--path is required/ },
            { name: "unknown ref", args: () => ["render", "--repo", bare, "--ref", "no-such-branch", "--path", "overlay/prod"], stderr: /no branch, tag or commit named 'no-such-branch'/ },
            { name: "repo that is neither dir nor URL", args: () => ["render", "--repo", path.join(t.root, "missing"), "--path", "x"], stderr: /no such directory, and not a Git URL/ },
        ];
        for (const c of cases) {
            it(c.name, () => {
                const r = gitops(c.args());
                assert.strictEqual(r.code, 1, `exit code; stderr: ${r.stderr}`);
                assert.match(r.stderr, c.stderr);
                assert.strictEqual(r.stdout, "");
            });
        }
    });
});
