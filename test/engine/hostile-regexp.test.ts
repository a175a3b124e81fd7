/**
 * Hostile input, class "regexp": ImagePolicy filterTags patterns run on tags that whoever can push
 * to the registry chooses. Go's regexp (RE2) matches in time linear in the input; so must we
 * (engine/images/goregexp.ts runs on re2js). Catastrophic-backtracking patterns against
 * 10,000-character tags finish well inside this file's timeout, with Go's answers; a pattern Go
 * rejects is refused with a message naming the key and the fix, and nothing on disk changes.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { isGitopsError } from "../../engine/errors";
import { compileGoRegexp, GoRegexpError, selectTag } from "../../engine/images";

const ROOT = path.join(__dirname, "../..");
const BIN = path.join(ROOT, "bin/gitops");
const N = 10_000;

/** Patterns that take exponential (or high polynomial) time on a backtracking engine. */
const PATHOLOGICAL: Array<{ pattern: string; tag: string; matches: boolean }> = [
    { pattern: "^(a+)+$", tag: "a".repeat(N) + "b", matches: false },
    { pattern: "^(a|a)*$", tag: "a".repeat(N) + "!", matches: false },
    { pattern: "^(a|aa)+$", tag: "a".repeat(N - 1) + "b", matches: false },
    { pattern: "(x+x+)+y", tag: "x".repeat(N), matches: false },
    { pattern: "^([a-z0-9]+-?)*[a-z0-9]+$", tag: "a-".repeat(N / 2) + "-", matches: false },
    { pattern: "^(\\w+\\s?)*$", tag: "word ".repeat(N / 5) + "!", matches: false },
    { pattern: "^(.*a){20}$", tag: "a".repeat(N), matches: true },
    { pattern: "^(a+)+$", tag: "a".repeat(N), matches: true },
];

function snapshot(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    for (const f of fs.readdirSync(dir).sort()) out[f] = fs.readFileSync(path.join(dir, f), "utf8");
    return out;
}

describe("hostile input: regexps (ImagePolicy filterTags) run in linear time with Go's semantics", function () {
    // Generous for a loaded CI machine; a backtracking engine needs hours on these inputs.
    this.timeout(20_000);

    for (const c of PATHOLOGICAL) {
        it(`${c.pattern} against a ${c.tag.length}-character tag ${c.matches ? "matches" : "does not match"}`, () => {
            const re = compileGoRegexp(c.pattern);
            assert.strictEqual(re.test(c.tag), c.matches);
            const m = re.exec(c.tag);
            assert.strictEqual(m !== null, c.matches);
            if (m) assert.strictEqual(m[0], c.tag, "the whole tag is the match");
        });
    }

    it("a filterTags pattern with extract over many long hostile tags selects what Go selects", () => {
        const tags = [...Array.from({ length: 20 }, (_, i) => "a".repeat(N - i) + "b"), "build-a-17", "build-aaa-42", "build-aa-9"];
        const tag = selectTag({ numerical: { order: "asc" } }, { pattern: "^build-(a+)+-(?P<n>[0-9]+)$", extract: "$n" }, tags);
        assert.strictEqual(tag, "build-aaa-42");
    });

    it("keeps Go's semantics where RE2 ports differ: a repeated capture name, Go's error wording", () => {
        const re = compileGoRegexp("(?P<n>a)|(?P<n>b)");
        assert.deepStrictEqual(re.names, ["", "n", "n"]);
        assert.strictEqual(selectTag({ alphabetical: { order: "asc" } }, { pattern: "^(?P<n>x)-(?P<n>[0-9])$", extract: "$n" }, ["x-1", "x-3", "y-9"]), "x-3");
        assert.throws(() => compileGoRegexp("a\\"), (e: Error) => e instanceof GoRegexpError && e.message === "error parsing regexp: trailing backslash at end of expression: ``");
        assert.throws(() => compileGoRegexp("(?=x)"), (e: Error) => e.message === "error parsing regexp: invalid or unsupported Perl syntax: `(?=`");
        assert.throws(() => compileGoRegexp("(a)\\1"), (e: Error) => e.message === "error parsing regexp: invalid escape sequence: `\\1`");
    });

    it("a pattern Go rejects names the key and the fix", () => {
        assert.throws(
            () => selectTag({ alphabetical: { order: "asc" } }, { pattern: "^(?<!x)v" }, ["v1"], { origin: "Pulumi.dev.yaml", specPath: "gitops:imageAutomation.policies[0]" }),
            (e: Error) => {
                assert.ok(isGitopsError(e), String(e));
                assert.match(e.message, /^Pulumi\.dev\.yaml: gitops:imageAutomation\.policies\[0\]\.filterTags\.pattern: invalid regular expression pattern "\^\(\?<!x\)v": error parsing regexp: invalid named capture: `\(\?<!x\)v`/);
                assert.match(e.message, /Go \(RE2\) regexp: no backreferences or lookaround/);
                return true;
            },
        );
    });

    describe("gitops image-policy select (CLI)", function () {
        // A child Node process: its start-up, not the matching, dominates.
        this.timeout(120_000);
        let dir: string;
        before(() => {
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-hostile-regexp-"));
            fs.writeFileSync(path.join(dir, "tags.txt"), [...Array.from({ length: 50 }, (_, i) => "a".repeat(N - i) + "b"), "aaa", "aaaa", ""].join("\n"));
            const policy = (pattern: string) =>
                `apiVersion: image.toolkit.fluxcd.io/v1\nkind: ImagePolicy\nmetadata:\n  name: app\nspec:\n  imageRepositoryRef:\n    name: app\n  policy:\n    alphabetical:\n      order: asc\n  filterTags:\n    pattern: '${pattern}'\n`;
            fs.writeFileSync(path.join(dir, "evil.yaml"), policy("^(a+)+$"));
            fs.writeFileSync(path.join(dir, "broken.yaml"), policy("^(a+$"));
        });
        after(() => fs.rmSync(dir, { recursive: true, force: true }));

        const gitops = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, GITOPS_REGISTRY_PASSWORD: "" } });

        it("selects among 50 hostile 10,000-character tags and changes no file", () => {
            const before = snapshot(dir);
            const r = gitops("image-policy", "select", "--policy", "evil.yaml", "--tags", "tags.txt");
            assert.strictEqual(r.status, 0, r.stderr);
            assert.strictEqual(r.stdout, "aaaa\n");
            assert.deepStrictEqual(snapshot(dir), before);
        });

        it("a broken pattern exits 1 naming the file, the key and Go's error; no file changes", () => {
            const before = snapshot(dir);
            const r = gitops("image-policy", "select", "--policy", "broken.yaml", "--tags", "tags.txt");
            assert.strictEqual(r.status, 1, r.stdout);
            assert.match(r.stderr, /broken\.yaml.*filterTags\.pattern.*missing closing \): `\^\(a\+\$`/);
            assert.strictEqual(r.stdout, "");
            assert.deepStrictEqual(snapshot(dir), before);
        });
    });
});
