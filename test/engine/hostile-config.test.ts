/**
 * Hostile or careless stack config: everything a stack can get wrong is caught by engine/config
 * before anything is written. Each case asserts the message (it names the file or key and the
 * fix) and that the output folder a previous good render left, the project and a victim folder
 * are byte for byte as before. Git ref names are judged against the real `git check-ref-format`.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import { branchNameProblem, parseStackConfig, regexpProblem, semverRangeProblem, StackConfigError, tagNameProblem } from "../../engine/config";
import { Scene } from "../helpers/tree";

/** Problems parseStackConfig reports for stack-file style keys ("gitops:apps" -> "apps"). */
function problems(config: Record<string, unknown>): string[] {
    const raw = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.replace(/^gitops:/, ""), v]));
    try {
        parseStackConfig(raw, "dev");
    } catch (e) {
        assert.ok(e instanceof StackConfigError, String(e));
        return e.problems;
    }
    return [];
}

describe("hostile config: one home for validation (engine/config)", function () {
    this.timeout(120_000);

    describe("a stack file that is not a stack config is an error naming the file; the output stays as it was", () => {
        let s: Scene;
        before(async () => {
            s = new Scene();
            s.stack("dev");
            const r = await s.render();
            assert.strictEqual(r.code, 0, r.err);
        });
        after(() => s.cleanup());

        const cases: Array<[string, string | Buffer, RegExp]> = [
            ["empty", "", /Pulumi\.dev\.yaml: is empty \(restore it from version control/],
            ["only comments", "# nothing here\n\n", /Pulumi\.dev\.yaml: is empty/],
            ["a list", "- config\n- gitops:cluster\n", /Pulumi\.dev\.yaml: must be a YAML mapping with a `config:` key; it holds a list/],
            ["a scalar", "just words\n", /Pulumi\.dev\.yaml: must be a YAML mapping with a `config:` key; it holds "just words"/],
            ["binary", Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0xff, 0xfe]), /Pulumi\.dev\.yaml: is not a text file \(it holds binary data\)/],
            ["not YAML", "config:\n  gitops:cluster: {kind: none\n", /Pulumi\.dev\.yaml: is not valid YAML: .*at line \d+, column \d+.*\(fix the YAML syntax at the line shown\)/s],
            ["duplicate keys", "config:\n  gitops:cluster: {kind: none}\n  gitops:cluster: {kind: k3d}\n", /Pulumi\.dev\.yaml: is not valid YAML: .*unique/is],
            ["config is a list", "config:\n- a\n", /Pulumi\.dev\.yaml: config: must be a mapping of settings; it holds a list/],
        ];
        for (const [name, text, want] of cases) {
            it(name, async () => {
                s.stackText("dev", text);
                const before = s.snapshot();
                const r = await s.render();
                assert.strictEqual(r.code, 1, r.out);
                assert.match(r.err, want);
                assert.deepStrictEqual(s.snapshot(), before, "the owned files are not wiped");
            });
        }
    });

    describe("values are judged before anything is written", () => {
        let s: Scene;
        before(() => (s = new Scene()));
        after(() => s.cleanup());

        const app = (imagePolicy: Record<string, unknown>) => ({
            "gitops:imageAutomation": { enabled: true },
            "gitops:apps": [{ name: "echo", image: "ghcr.io/acme/echo", tag: "1.0.0", imagePolicy }],
        });
        const cases: Array<[string, Record<string, unknown>, RegExp]> = [
            ["backreference", app({ numerical: "asc", filterTags: { pattern: "^(a)\\1$" } }), /gitops:apps\[0\]\.imagePolicy\.filterTags\.pattern is not a valid Go \(RE2\) regular expression: error parsing regexp: invalid escape sequence: `\\1` \(write an RE2 pattern/],
            ["lookahead", app({ numerical: "asc", filterTags: { pattern: "^v(?=\\d)" } }), /filterTags\.pattern is not a valid Go \(RE2\) regular expression: error parsing regexp: invalid or unsupported Perl syntax: `\(\?=`/],
            ["unclosed group", app({ numerical: "asc", filterTags: { pattern: "^(v" } }), /filterTags\.pattern is not a valid Go \(RE2\) regular expression: error parsing regexp: missing closing \)/],
            ["exclusionList", app({ numerical: "asc", exclusionList: ["^.*\\.sig$", "[z-a]"] }), /gitops:apps\[0\]\.imagePolicy\.exclusionList\[1\] is not a valid Go \(RE2\) regular expression: error parsing regexp: invalid character class range/],
            ["semver range", app({ semver: ">=1.0 <<2" }), /gitops:apps\[0\]\.imagePolicy\.semver is not a valid semver range: improper constraint: .* \(use a range such as "\^1\.0\.0"/],
            ["source ref semver", { "gitops:sources": [{ name: "s", kind: "git", url: "https://git.example/x.git", ref: { semver: "one.two" } }] }, /gitops:sources\[0\]\.ref\.semver is not a valid semver range/],
            ["release version", { "gitops:sources": [{ name: "h", kind: "helm", url: "https://charts.example" }], "gitops:releases": [{ name: "r", chart: "c", version: "1.2.3.4.5", source: "h" }] }, /gitops:releases\[0\]\.version is not a valid semver range/],
            ["push branch", { "gitops:imageAutomation": { enabled: true, pushBranch: "image..updates" } }, /gitops:imageAutomation\.pushBranch is not a valid branch name: it cannot contain '\.\.' \(use letters, digits/],
            ["push branch lock", { "gitops:imageAutomation": { enabled: true, pushBranch: "images/dev.lock" } }, /gitops:imageAutomation\.pushBranch is not a valid branch name: it cannot have a part ending in '\.lock'/],
            ["fleet branch", { "gitops:fleet": { branch: "-main" } }, /gitops:fleet\.branch is not a valid branch name: it cannot start with '-'/],
            ["source tag", { "gitops:sources": [{ name: "s", kind: "git", url: "https://git.example/x.git", ref: { tag: "v1:2" } }] }, /gitops:sources\[0\]\.ref\.tag is not a valid tag name: it cannot contain ':'/],
            ["source ref name", { "gitops:sources": [{ name: "s", kind: "git", url: "https://git.example/x.git", ref: { name: "main" } }] }, /gitops:sources\[0\]\.ref\.name is not a full reference name: it must start with "refs\/"/],
            ["secret-named variable", { "gitops:sync": { substitute: { db_password: "hunter2" } } }, /gitops:sync\.substitute\.db_password names a secret but holds it in plain text, which lands in Git \(put it in a Kubernetes Secret and list that Secret in gitops:sync\.substituteFrom with kind: Secret\)/],
            ["secret-named env", { "gitops:apps": [{ name: "echo", image: "ghcr.io/acme/echo", tag: "1.0.0", env: { API_TOKEN: "abc" } }] }, /gitops:apps\[0\]\.env\.API_TOKEN names a secret but holds it in plain text/],
            ["plain-text secret key", { "gitops:receiverToken": "plain" }, /gitops:receiverToken holds a secret in plain text; remove it from Pulumi\.dev\.yaml and set it with `pulumi config set --secret gitops:receiverToken <value>`/],
        ];
        for (const [name, cfg, want] of cases) {
            it(name, async () => {
                s.stack("dev", cfg);
                await s.expectRefused("dev", want, ["hunter2"]);
            });
        }

        it("accepts what Go's RE2 and Masterminds accept: (?i), (?P<name>), \\d, and ranges such as 1.x", () => {
            assert.deepStrictEqual(problems(app({ numerical: "asc", filterTags: { pattern: "(?i)^v\\d+" } })), []);
            assert.deepStrictEqual(problems(app({ numerical: "asc", filterTags: { pattern: "^main-[a-f0-9]+-(?P<ts>[0-9]+)", extract: "$ts" } })), []);
            assert.deepStrictEqual(problems(app({ semver: ">=1.2.0 <2.0.0 || 1.x" })), []);
            assert.strictEqual(regexpProblem("(?i)^v\\d+"), undefined);
            assert.strictEqual(semverRangeProblem("^1.0.0"), undefined);
        });
    });

    describe("git ref names follow git check-ref-format (the real git is the oracle)", () => {
        const names = [
            "main", "feature/x", "__image/dev/project", "release-1.2", "a/b/c", "v1.0.0", "héllo", "a+b", "a@b", "foo.bar",
            "", "-x", "HEAD", "a..b", "a/.b", ".a", "a.lock", "a/b.lock", "a/", "/a", "a//b", "a.", "a b", "a~1", "a^", "a:b",
            "a?", "a*", "a[b", "a\\b", "@", "a@{b", "a\u0001b", "a\u007fb", "refs/heads/x", "x.lock/y",
        ];
        it("branch names: ours agrees with `git check-ref-format --branch` on every sample", () => {
            for (const n of names) {
                const r = spawnSync("git", ["check-ref-format", "--branch", n], { encoding: "utf8" });
                const gitOk = r.status === 0;
                assert.strictEqual(branchNameProblem(n) === undefined, gitOk, `${JSON.stringify(n)}: git says ${gitOk ? "valid" : "invalid"}, ours: ${branchNameProblem(n)?.what}`);
            }
        });
        it("tag names: ours agrees with `git check-ref-format refs/tags/<name>`", () => {
            for (const n of names.filter((x) => !x.startsWith("-"))) {
                const r = spawnSync("git", ["check-ref-format", `refs/tags/${n}`], { encoding: "utf8" });
                assert.strictEqual(tagNameProblem(n) === undefined, r.status === 0, `${JSON.stringify(n)}: ${tagNameProblem(n)?.what}`);
            }
        });
    });
});
