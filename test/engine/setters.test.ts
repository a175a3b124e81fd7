/**
 * Setters strategy: Flux's own setter test data ported as fixtures (test/fixtures/setters/flux),
 * edge cases whose expected outcome was checked against kyaml itself (the Go peer in
 * bench/peers/setters, test/fixtures/setters/edge), and byte-for-byte preservation.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GitopsError } from "../../engine/errors";
import {
    applySettersToText,
    imageRefString,
    isYaml11NonString,
    parseImageRef,
    parseSetterName,
    PolicyLatest,
    policyIndex,
    updateWithSetters,
} from "../../engine/images/setters";

const FIXTURES = path.join(__dirname, "..", "fixtures", "setters");
const DIGEST = "sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be";

function policy(ns: string, name: string, ref?: string): PolicyLatest {
    return { namespace: ns, name, latest: ref === undefined ? undefined : parseImageRef(ref, "test") };
}

/** Every file under `dir` (relative path -> bytes). */
function readTree(dir: string): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    const walk = (d: string, rel: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const r = rel ? `${rel}/${e.name}` : e.name;
            if (e.isDirectory()) walk(path.join(d, e.name), r);
            else if (e.isFile()) out.set(r, fs.readFileSync(path.join(d, e.name)));
        }
    };
    walk(dir, "");
    return out;
}

describe("engine/images setters", () => {
    let tmp: string;
    beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-setters-"))));
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    function copyFixture(name: string): string {
        const dir = path.join(tmp, name.replace(/\//g, "_"));
        fs.cpSync(path.join(FIXTURES, name), dir, { recursive: true });
        return dir;
    }

    describe("Flux's setter test data (pkg/update/testdata/setters)", () => {
        const policies = [
            policy("automation-ns", "policy", "index.repo.fake/updated:v1.0.1"),
            policy("automation-ns", "unchanged", "image:v1.0.0"),
            policy("automation-ns", "digest", `image:v1.0.0@${DIGEST}`),
        ];

        it("writes exactly the expected files, byte for byte, and leaves every other file alone", () => {
            const dir = copyFixture("flux/original");
            const before = readTree(dir);
            const result = updateWithSetters(dir, policies);
            const expected = readTree(path.join(FIXTURES, "flux", "expected"));
            const after = readTree(dir);
            assert.deepStrictEqual([...after.keys()].sort(), [...before.keys()].sort());
            for (const [file, bytes] of after) {
                const want = expected.get(file) ?? before.get(file)!;
                assert.ok(bytes.equals(want), `${file} differs:\n${bytes.toString()}`);
            }
            assert.deepStrictEqual([...result.files.keys()].sort(), [...expected.keys()].sort());
            // Kustomization (no extension) is considered, like Flux; notes.txt is not.
            assert.ok(result.files.has("Kustomization"));
            assert.strictEqual(result.scanned, 6);
        });

        it("records per file, per object, per setter: old -> new (Flux's ResultV2 shape)", () => {
            const dir = copyFixture("flux/original");
            const result = updateWithSetters(dir, policies);
            const marked = result.changes.filter((c) => c.file === "marked.yaml");
            assert.deepStrictEqual(marked.map((c) => [c.object, c.setter, c.oldValue, c.newValue, c.line]), [
                [{ apiVersion: "batch/v1beta1", kind: "CronJob", name: "foo", namespace: "bar" }, "automation-ns:policy", "image:v1.0.0", "index.repo.fake/updated:v1.0.1", 14],
            ]);
            const kust = result.changes.filter((c) => c.file === "kustomization.yml");
            const kid = { apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization", name: "", namespace: "" };
            assert.deepStrictEqual(kust.map((c) => [c.object, c.setter, c.oldValue, c.newValue]), [
                [kid, "automation-ns:policy:name", "replaced", "index.repo.fake/updated"],
                [kid, "automation-ns:policy:tag", "v1", "v1.0.1"],
                [kid, "automation-ns:digest:digest", "sha256:1234567890abcdef", DIGEST],
                [kid, "automation-ns:digest", "image", `image:v1.0.0@${DIGEST}`],
            ]);
            // A marker whose value is already current is not a change (automation-ns:unchanged).
            assert.ok(!result.changes.some((c) => c.setter === "automation-ns:unchanged"));
            // The marker for a policy in another namespace is left alone, and made visible.
            assert.deepStrictEqual(
                result.problems.map((p) => [p.kind, p.where]),
                [["unknown-policy", "otherns.yaml:11"]],
            );
        });

        it("is idempotent: a second run changes and writes nothing", () => {
            const dir = copyFixture("flux/original");
            updateWithSetters(dir, policies);
            const stamp = new Date(2001, 1, 1);
            for (const f of fs.readdirSync(dir)) fs.utimesSync(path.join(dir, f), stamp, stamp);
            const again = updateWithSetters(dir, policies);
            assert.strictEqual(again.changes.length, 0);
            assert.strictEqual(again.files.size, 0);
            for (const f of fs.readdirSync(dir)) assert.strictEqual(fs.statSync(path.join(dir, f)).mtimeMs, stamp.getTime());
        });

        it("leaves markers of a policy without a latest image alone (no setter is defined)", () => {
            const dir = copyFixture("flux/original");
            const before = readTree(dir);
            const result = updateWithSetters(dir, [policy("automation-ns", "policy"), policy("automation-ns", "digest")]);
            assert.strictEqual(result.changes.length, 0);
            for (const [file, bytes] of readTree(dir)) assert.ok(bytes.equals(before.get(file)!), file);
            assert.ok(result.problems.some((p) => p.kind === "no-latest-image" && p.where === "marked.yaml:14"));
        });
    });

    describe("marker semantics (outcomes checked against kyaml with bench/peers/setters)", () => {
        const policies = [policy("ns", "p", "reg.io/foo:v2@sha256:abc"), policy("ns", "num", "foo:1.10")];

        it("applies line comments and head comments on scalars; ignores keys, flow collections, other comments", () => {
            const dir = copyFixture("edge");
            const result = updateWithSetters(dir, policies);
            const got = result.changes.map((c) => `${c.file}:${c.line} ${c.setter} ${JSON.stringify(c.oldValue)} -> ${c.newValue}`);
            assert.deepStrictEqual(got, [
                'comments.yaml:10 ns:p:tag "v1" -> v2', // head comment above a sequence item, blank line between
                'comments.yaml:18 ns:p:tag "v1" -> v2', // anchored scalar
                'comments.yaml:22 ns:p:tag "a b" -> v2', // multi-line double-quoted scalar
                "comments.yaml:24 ns:p:name \"it's\" -> reg.io/foo", // single-quoted, '' unescaped
                'crlf.yaml:6 ns:p "foo:v1" -> reg.io/foo:v2@sha256:abc',
                'deploy.yaml:4 ns:p:tag "app" -> v2', // any scalar field, not only images
                'deploy.yaml:11 ns:p "foo:v1" -> reg.io/foo:v2@sha256:abc',
                'deploy.yaml:16 ns:p:tag "v1" -> v2', // head comment on the first item of a sequence
                'deploy.yaml:19 ns:p:tag "v1" -> v2',
                'deploy.yaml:20 ns:p:tag "v0" -> v2', // line comment on a sequence item
                'deploy.yaml:21 ns:p:digest "x" -> sha256:abc',
                'deploy.yaml:24 ns:p:tag "v1" -> v2', // value on its own line, head comment above it
                'deploy.yaml:25 ns:num:tag "1.0" -> 1.10',
                'deploy.yaml:26 ns:p:name "x" -> reg.io/foo', // "##" prefix
                'deploy.yaml:27 ns:p:name "x" -> reg.io/foo', // extra string keys are allowed
                'list.yaml:10 ns:p "foo:v1" -> reg.io/foo:v2@sha256:abc',
                'list.yaml:17 ns:p:name "foo:v1" -> reg.io/foo',
                'multi.yml:7 ns:p "foo:v1" -> reg.io/foo:v2@sha256:abc',
                'multi.yml:15 ns:p:tag "v1" -> v2',
            ]);
            // Not applied (as kyaml): head comment above `key: v1` (it belongs to the key), `- k: v1`,
            // an item whose own line comment is not a marker, a two-line head comment, flow
            // collections, a marker with a non-string value, .YAML and .txt files.
            const after = readTree(dir);
            const edge = readTree(path.join(FIXTURES, "edge"));
            for (const f of ["broken.yaml", "notyaml.txt", "upper.YAML", "plain.yaml"]) assert.ok(after.get(f)!.equals(edge.get(f)!), f);
            const comments = after.get("comments.yaml")!.toString();
            assert.match(comments, /\n {2}key: v1\n/);
            assert.match(comments, /\n {2}- k: v1\n/);
            assert.match(comments, /\n {2}- v1 # other\n/);
            assert.match(comments, /# second line\n {2}- v1\n/);
            assert.match(comments, /\[v1, v1\]/);
            assert.match(comments, /flow: \{a: v1\}/);
            assert.match(after.get("deploy.yaml")!.toString(), /four: x #/);
        });

        it("quotes a plain value that YAML 1.1 would not read as a string, keeps quote styles", () => {
            const dir = copyFixture("edge");
            updateWithSetters(dir, policies);
            const deploy = fs.readFileSync(path.join(dir, "deploy.yaml"), "utf8");
            assert.match(deploy, /\n {2}num: "1\.10" # \{"\$imagepolicy": "ns:num:tag"\}\n/);
            const multi = fs.readFileSync(path.join(dir, "multi.yml"), "utf8");
            assert.match(multi, /image: "reg\.io\/foo:v2@sha256:abc" #/);
            assert.match(multi, /tag: 'v2' {3}#/);
            const comments = fs.readFileSync(path.join(dir, "comments.yaml"), "utf8");
            assert.match(comments, /sq: 'reg\.io\/foo' #/);
            assert.match(comments, /- &anc v2 #/);
        });

        it("identifies objects per document and per List item", () => {
            const dir = copyFixture("edge");
            const result = updateWithSetters(dir, policies);
            const objs = (f: string) => result.changes.filter((c) => c.file === f).map((c) => `${c.object.kind}/${c.object.namespace}/${c.object.name}`);
            assert.deepStrictEqual(objs("multi.yml"), ["ConfigMap//one", "ConfigMap/other/two"]);
            assert.deepStrictEqual(objs("list.yaml"), ["Pod//pod-a", "Pod//pod-b"]);
            assert.deepStrictEqual(objs("deploy.yaml")[0], "Deployment/apps/app");
        });

        it("reports what it left alone with file:line: bad YAML, unknown policies, malformed markers", () => {
            const dir = copyFixture("edge");
            const result = updateWithSetters(dir, policies);
            assert.deepStrictEqual(
                result.problems.map((p) => `${p.kind} ${p.where}`),
                [
                    "unparsable broken.yaml:2",
                    "malformed-marker comments.yaml:17",
                    "unknown-policy comments.yaml:26",
                    "unknown-policy deploy.yaml:13",
                    "malformed-marker deploy.yaml:28",
                ],
            );
        });

        it("reports malformed policy names in markers and leaves them unchanged", () => {
            const text = [
                'a: x # {"$imagepolicy": "ns/name"}',
                'b: x # {"$imagepolicy": "ns:p:version"}',
                'c: x # {"$imagepolicy": "Upper:p"}',
                'd: x # {"$imagepolicy": "onlyname"}',
                'e: x # {"$imagepolicy": ""}',
                "f: x # {$imagepolicy: ns:p}",
                'g: x # {"$imagepolicy": "ns:p:tag"}',
                "",
            ].join("\n");
            const r = applySettersToText("m.yaml", text, policyIndex(policies));
            assert.deepStrictEqual(r.problems.map((p) => `${p.kind} ${p.where}`), [
                "malformed-policy m.yaml:1",
                "malformed-policy m.yaml:2",
                "malformed-policy m.yaml:3",
                "malformed-policy m.yaml:4",
                "malformed-marker m.yaml:5",
                "malformed-marker m.yaml:6",
            ]);
            assert.match(r.problems[1].message, /unknown suffix ':version'/);
            assert.strictEqual(r.text, text.replace("g: x", "g: v2"));
        });

        it("parses only marked documents: a broken unmarked document does not block the marked one", () => {
            const text = '---\nkind: A\nmetadata: {name: a}\nimage: x # {"$imagepolicy": "ns:p:tag"}\n---\nkind: B\nbroken: [x\n...\n';
            const r = applySettersToText("docs.yaml", text, policyIndex(policies));
            assert.deepStrictEqual(r.problems, []);
            assert.strictEqual(r.text, text.replace("image: x", "image: v2"));
            assert.deepStrictEqual(r.changes.map((c) => `${c.object.kind}/${c.object.name}:${c.line}`), ["A/a:4"]);
            // A broken document that has a marker skips the whole file, with its line.
            const bad = 'kind: A\nimage: x # {"$imagepolicy": "ns:p:tag"}\n---\nkind: B\nimage: x # {"$imagepolicy": "ns:p:tag"}\nbroken: [x\n';
            const r2 = applySettersToText("bad.yaml", bad, policyIndex(policies));
            assert.strictEqual(r2.text, bad);
            assert.deepStrictEqual(r2.problems.map((p) => `${p.kind} ${p.where}`), ["unparsable bad.yaml:7"]);
            // A lone List document after a leading '---' is still unwrapped into its items.
            const list = '---\napiVersion: v1\nkind: List\nitems:\n- kind: Pod\n  metadata: {name: p}\n  image: x # {"$imagepolicy": "ns:p:tag"}\n';
            assert.deepStrictEqual(applySettersToText("l.yaml", list, policyIndex(policies)).changes.map((c) => c.object.kind), ["Pod"]);
        });

        it("leaves :digest markers alone when the policy reflects no digest, and block scalars", () => {
            const text = 'a: x # {"$imagepolicy": "ns:p:digest"}\nb: | # {"$imagepolicy": "ns:p"}\n  old\nc: x # {"$imagepolicy": "ns:p"}\n';
            const r = applySettersToText("d.yaml", text, policyIndex([policy("ns", "p", "foo:v3")]));
            assert.deepStrictEqual(r.problems.map((p) => `${p.kind} ${p.where}`), ["no-digest d.yaml:1", "unsupported d.yaml:2"]);
            assert.strictEqual(r.text, text.replace("c: x", "c: foo:v3"));
        });
    });

    describe("kyaml oracle (test/fixtures/setters/kyaml-oracle, recorded from the Go peer by make.sh)", () => {
        it("makes exactly kyaml's changes and refuses exactly kyaml's problem files, over hundreds of marker placements", () => {
            const oracle = JSON.parse(fs.readFileSync(path.join(FIXTURES, "kyaml-oracle", "kyaml-oracle.json"), "utf8")) as {
                policy: string;
                inputs: Record<string, string>;
                changes: Array<{ file: string; setter: string; old: string; new: string }>;
                problemFiles: string[];
            };
            const dir = path.join(tmp, "oracle");
            fs.mkdirSync(dir);
            for (const [f, text] of Object.entries(oracle.inputs)) fs.writeFileSync(path.join(dir, f), text);
            const [key, ref] = oracle.policy.split("=");
            const [ns, name] = key.split(":");
            const result = updateWithSetters(dir, [policy(ns, name, ref)]);
            const line = (c: { file: string; setter: string; old: string; new: string }) => JSON.stringify([c.file, c.setter, c.old, c.new]);
            assert.deepStrictEqual(
                result.changes.map((c) => line({ file: c.file, setter: c.setter, old: c.oldValue, new: c.newValue })).sort(),
                oracle.changes.map(line).sort(),
            );
            const refused = [...new Set(result.problems.filter((p) => p.kind === "unparsable").map((p) => p.where.split(":")[0]))].sort();
            assert.deepStrictEqual(refused, oracle.problemFiles);
            assert.ok(oracle.changes.length > 400 && oracle.problemFiles.length > 20);
        });
    });

    describe("byte preservation", () => {
        it("changes only the scalar's bytes: BOM, CRLF, tabs, comments, separators, no final newline", () => {
            const original =
                "\uFEFF# head comment\r\n%YAML 1.2\r\n---\r\napiVersion: v1   \r\nkind: ConfigMap # trailing\r\nmetadata: {name: cm}\r\n" +
                "data:\r\n\t# odd comment\r\n  image:    foo:v1      # {\"$imagepolicy\": \"ns:p\"}   \r\n  other: 'foo:v1'\r\n...\r\n---\r\n" +
                "# second doc\r\nlist:\r\n    -   \"foo:v1\"    # {\"$imagepolicy\":\"ns:p\"}\r\n    - keep\r\n# end";
            const dir = path.join(tmp, "bytes");
            fs.mkdirSync(dir);
            fs.writeFileSync(path.join(dir, "cm.yaml"), original);
            const result = updateWithSetters(dir, [policy("ns", "p", "ghcr.io/org/app:v1.2.3")]);
            assert.strictEqual(result.changes.length, 2);
            const want = original
                .replace("image:    foo:v1 ", "image:    ghcr.io/org/app:v1.2.3 ")
                .replace('-   "foo:v1"', '-   "ghcr.io/org/app:v1.2.3"');
            assert.ok(fs.readFileSync(path.join(dir, "cm.yaml")).equals(Buffer.from(want, "utf8")));
        });

        it("skips files that are not UTF-8 and leaves them unchanged", () => {
            const dir = path.join(tmp, "latin1");
            fs.mkdirSync(dir);
            const bytes = Buffer.concat([Buffer.from('a: x # {"$imagepolicy": "ns:p"}\nb: caf'), Buffer.from([0xe9]), Buffer.from("\n")]);
            fs.writeFileSync(path.join(dir, "l.yaml"), bytes);
            const result = updateWithSetters(dir, [policy("ns", "p", "foo:v2")]);
            assert.deepStrictEqual(result.problems.map((p) => p.kind), ["not-utf8"]);
            assert.ok(fs.readFileSync(path.join(dir, "l.yaml")).equals(bytes));
        });

        it("never follows symlinks nor walks .git, and screens files by the quoted token before parsing", () => {
            const dir = path.join(tmp, "tree");
            const outside = path.join(tmp, "outside.yaml");
            fs.mkdirSync(path.join(dir, ".git"), { recursive: true });
            fs.mkdirSync(path.join(dir, "sub"));
            const marked = 'image: foo:v1 # {"$imagepolicy": "ns:p"}\n';
            fs.writeFileSync(outside, marked);
            fs.writeFileSync(path.join(dir, ".git", "x.yaml"), marked);
            fs.writeFileSync(path.join(dir, "sub", "a.yaml"), marked);
            // Unparsable, but without the quoted token: never parsed, so not a problem.
            fs.writeFileSync(path.join(dir, "sub", "helm.yaml"), "{{ if .Values.x }}\nimage: {{ .Values.image }} # $imagepolicy\n");
            fs.symlinkSync(outside, path.join(dir, "link.yaml"));
            const result = updateWithSetters(dir, [policy("ns", "p", "foo:v2")]);
            assert.deepStrictEqual([...result.files.keys()], ["sub/a.yaml"]);
            assert.strictEqual(fs.readFileSync(outside, "utf8"), marked);
            assert.strictEqual(fs.readFileSync(path.join(dir, ".git", "x.yaml"), "utf8"), marked);
            assert.deepStrictEqual(result.problems.map((p) => `${p.kind} ${p.where}`), ["symlink link.yaml"]);
            assert.strictEqual(result.screened, 1);
        });

        it("with write: false returns the new contents and touches nothing", () => {
            const dir = copyFixture("flux/original");
            const before = readTree(dir);
            const result = updateWithSetters(dir, [policy("automation-ns", "policy", "index.repo.fake/updated:v1.0.1")], { write: false });
            assert.ok(result.files.size > 0);
            for (const [file, bytes] of readTree(dir)) assert.ok(bytes.equals(before.get(file)!), file);
            assert.match(result.files.get("marked.yaml")!, /index\.repo\.fake\/updated:v1\.0\.1/);
        });

        it("fails with a located error when the update path does not exist", () => {
            assert.throws(() => updateWithSetters(path.join(tmp, "missing"), []), (e: unknown) => e instanceof GitopsError && /does not exist/.test((e as Error).message));
        });
    });

    describe("references and names", () => {
        it("parses NAME:TAG[@DIGEST] with registries and ports", () => {
            assert.deepStrictEqual(parseImageRef("localhost:5000/org/app:v1.2.3", "t"), { name: "localhost:5000/org/app", tag: "v1.2.3" });
            const withDigest = parseImageRef(`ghcr.io/org/app:1.0@${DIGEST}`, "t");
            assert.deepStrictEqual(withDigest, { name: "ghcr.io/org/app", tag: "1.0", digest: DIGEST });
            assert.strictEqual(imageRefString(withDigest), `ghcr.io/org/app:1.0@${DIGEST}`);
            for (const bad of ["app", "localhost:5000/app", "App:v1", "app:", "app:v1@sha256", "app:-x", "app:v 1"]) {
                assert.throws(() => parseImageRef(bad, "where"), (e: unknown) => e instanceof GitopsError && (e as GitopsError).where === "where", bad);
            }
        });

        it("parses setter names NS:NAME[:tag|:name|:digest]", () => {
            assert.deepStrictEqual(parseSetterName("flux-system:podinfo"), { namespace: "flux-system", name: "podinfo", part: "image" });
            assert.deepStrictEqual(parseSetterName("a:b:digest"), { namespace: "a", name: "b", part: "digest" });
            for (const bad of ["a", "a:b:c:d", "a:b:c", "a/b", ":b", "a:"]) assert.ok("error" in parseSetterName(bad), bad);
        });

        it("knows which plain values YAML 1.1 reads as non-strings", () => {
            for (const v of ["1", "1.10", "1e3", "0x1F", "017", "1_000", "true", "yes", "Off", "~", "null", ".inf", "2024-01-02"]) assert.ok(isYaml11NonString(v), v);
            for (const v of ["v1", "1.2.3", "latest", "sha256:abc", "1.0-rc1", "", "main-abc123-1700000000"]) assert.ok(!isYaml11NonString(v), v);
        });
    });
});
