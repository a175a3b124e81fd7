/**
 * `gitops image-update` end to end: the real bin/gitops under Node 24 (`npx node bin/gitops`),
 * on a copy of the fixtures.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main } from "../../engine/cli";

const ROOT = path.join(__dirname, "..", "..");
const FIXTURES = path.join(ROOT, "test", "fixtures", "setters");

/** Runs bin/gitops; `viaNpx` goes through `npx node` exactly as documented, otherwise this Node 24 directly (faster). */
function gitops(args: string[], viaNpx = false): { code: number; out: string; err: string } {
    const [cmd, pre] = viaNpx ? ["npx", ["--no-install", "node"]] : [process.execPath, []];
    const r = spawnSync(cmd, [...pre, "bin/gitops", ...args], { cwd: ROOT, encoding: "utf8", timeout: 60000 });
    // npm may print its own config warnings on stderr; keep only ours.
    const err = (r.stderr ?? "").split("\n").filter((l) => !l.startsWith("npm warn")).join("\n");
    return { code: r.status ?? -1, out: r.stdout ?? "", err };
}

/** The dispatcher's main() with captured output. */
async function inProcess(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = "";
    let err = "";
    const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err };
}

describe("gitops image-update (CLI)", function () {
    // Each bin/gitops start transpiles the CLI: allow for a loaded machine.
    this.timeout(300000);
    let tmp: string;
    beforeEach(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-image-update-"))));
    afterEach(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it("applies markers in place, prints each change, and lists skipped markers on stderr", () => {
        const dir = path.join(tmp, "repo");
        fs.cpSync(path.join(FIXTURES, "flux", "original"), dir, { recursive: true });
        const r = gitops(["image-update", "--path", dir, "--latest", "automation-ns:policy=index.repo.fake/updated:v1.0.1", "--latest", "automation-ns:unchanged=image:v1.0.0"], true);
        assert.strictEqual(r.code, 0, r.err);
        const lines = r.out.trim().split("\n");
        assert.deepStrictEqual(lines.slice(0, -1), [
            "Kustomization:8: replaced -> index.repo.fake/updated",
            "Kustomization:9: v1 -> v1.0.1",
            "kustomization.yaml:8: replaced -> index.repo.fake/updated",
            "kustomization.yaml:9: v1 -> v1.0.1",
            "kustomization.yml:8: replaced -> index.repo.fake/updated",
            "kustomization.yml:9: v1 -> v1.0.1",
            "marked.yaml:14: image:v1.0.0 -> index.repo.fake/updated:v1.0.1",
        ]);
        assert.match(lines[lines.length - 1], /^changed 7 value\(s\) in 4 file\(s\); 5 of 6 YAML file\(s\) had markers$/);
        assert.match(r.err, /warning: kustomization\.yml:10: marker names image policy 'automation-ns:digest', which was not given/);
        assert.match(r.err, /warning: otherns\.yaml:11: marker names image policy 'other-namespace:policy'/);
        assert.strictEqual(
            fs.readFileSync(path.join(dir, "marked.yaml"), "utf8"),
            fs.readFileSync(path.join(FIXTURES, "flux", "expected", "marked.yaml"), "utf8"),
        );
    });

    it("--dry-run prints the same changes and writes nothing", () => {
        const dir = path.join(tmp, "repo");
        fs.cpSync(path.join(FIXTURES, "flux", "original"), dir, { recursive: true });
        const before = fs.readFileSync(path.join(dir, "marked.yaml"), "utf8");
        const r = gitops(["image-update", "--dry-run", "--path", dir, "--latest", "automation-ns:policy=index.repo.fake/updated:v1.0.1"]);
        assert.strictEqual(r.code, 0, r.err);
        assert.match(r.out, /marked\.yaml:14: image:v1\.0\.0 -> index\.repo\.fake\/updated:v1\.0\.1/);
        assert.match(r.out, /would change 7 value/);
        assert.strictEqual(fs.readFileSync(path.join(dir, "marked.yaml"), "utf8"), before);
    });

    it("exits 1 on bad input, naming the flag or path, and changes nothing", async () => {
        const dir = path.join(tmp, "repo");
        fs.cpSync(path.join(FIXTURES, "flux", "original"), dir, { recursive: true });
        const before = fs.readFileSync(path.join(dir, "marked.yaml"), "utf8");
        const cases: Array<[string[], RegExp]> = [
            [["--path", dir, "--latest", "automation-ns:policy"], /--latest automation-ns:policy: expected NS:NAME=IMAGE_REF/],
            [["--path", dir, "--latest", "automation-ns:policy=app"], /--latest automation-ns:policy=app: image reference 'app' has no tag/],
            [["--path", dir, "--latest", "nonamespace=app:v1"], /--latest nonamespace=app:v1: policy 'nonamespace' is not NAMESPACE:NAME/],
            [["--path", dir, "--latest", "a:b:tag=app:v1"], /without ':tag'/],
            [["--path", dir, "--latest", "a:b=app:v1", "--latest", "a:b=app:v2"], /policy 'a:b' is given more than once/],
            [["--path", path.join(tmp, "missing"), "--latest", "a:b=app:v1"], /--path .*missing: no such file or directory/],
            [["--latest", "a:b=app:v1"], /--path is required/],
            [["--path", dir, "--latset", "a:b=app:v1"], /unknown flag --latset/],
        ];
        // Two through the real binary, the rest through the same dispatcher in process (each
        // process start compiles the whole CLI, which is slow on a loaded machine).
        for (const [i, [args, want]] of cases.entries()) {
            const r = i < 2 ? gitops(["image-update", ...args]) : await inProcess(["image-update", ...args]);
            assert.strictEqual(r.code, 1, `${args.join(" ")}: ${r.out} ${r.err}`);
            assert.match(r.err, want);
        }
        assert.strictEqual(fs.readFileSync(path.join(dir, "marked.yaml"), "utf8"), before);
    });

    it("answers --help", async () => {
        const r = await inProcess(["image-update", "--help"]);
        assert.strictEqual(r.code, 0);
        assert.match(r.out, /--latest NS:NAME=IMAGE_REF/);
    });
});
