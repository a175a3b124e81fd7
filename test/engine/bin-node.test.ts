/**
 * bin/gitops on the machine's own Node (e.g. Debian's Node 20 at /usr/bin/node): it hands over
 * to the Node `npm ci` installed (node_modules/node), or, when that is missing on a Node too old
 * to run the engine, says in one line to run `npm ci`. Skipped where the machine's Node is the
 * pinned major already (nothing to hand over).
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const ROOT = path.resolve(__dirname, "../..");
const PINNED = require(path.join(ROOT, "package.json")).dependencies.node as string;

/** The machine's Node outside node_modules, and its version. */
function machineNode(): { exe: string; major: number } | undefined {
    for (const exe of ["/usr/bin/node", "/usr/local/bin/node"]) {
        const r = spawnSync(exe, ["-p", "process.versions.node"], { encoding: "utf8" });
        if (r.status === 0) return { exe, major: Number(r.stdout.trim().split(".")[0]) };
    }
    return undefined;
}

describe("bin/gitops on the machine's Node", function () {
    this.timeout(120_000);
    const node = machineNode();
    let tmp: string;
    before(function () {
        if (!node || node.major === Number(PINNED.split(".")[0])) this.skip();
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-bin-node-"));
    });
    after(() => tmp && fs.rmSync(tmp, { recursive: true, force: true }));

    it("hands over to node_modules/node: the command runs on the pinned Node, quietly", () => {
        // Every Node process records its version: the machine's, then the one it handed over to.
        const probe = path.join(tmp, "probe.js");
        const log = path.join(tmp, "versions.log");
        fs.writeFileSync(probe, `require("fs").appendFileSync(${JSON.stringify(log)}, process.version + "\\n");\n`);
        const r = spawnSync(node!.exe, [path.join(ROOT, "bin", "gitops"), "fleet", "render", "--stack", "nope", "--out", path.join(tmp, "out")], {
            cwd: ROOT,
            encoding: "utf8",
            env: { ...process.env, NODE_OPTIONS: `--require ${probe}` },
        });
        assert.strictEqual(r.status, 1, r.stderr);
        assert.match(r.stderr, /Pulumi\.nope\.yaml: no such stack file/);
        assert.doesNotMatch(r.stderr, /EBADENGINE|Unsupported engine/);
        const versions = fs.readFileSync(log, "utf8").trim().split("\n");
        assert.deepStrictEqual(versions.map((v) => Number(v.slice(1).split(".")[0])), [node!.major, Number(PINNED.split(".")[0])]);
        assert.strictEqual(versions[1], `v${PINNED}`);
    });

    it("without node_modules/node on a Node older than 22: one line saying to run npm ci", function () {
        if (node!.major >= 22) this.skip();
        const proj = path.join(tmp, "proj");
        fs.mkdirSync(path.join(proj, "bin"), { recursive: true });
        fs.copyFileSync(path.join(ROOT, "bin", "gitops"), path.join(proj, "bin", "gitops"));
        fs.copyFileSync(path.join(ROOT, "package.json"), path.join(proj, "package.json"));
        const r = spawnSync(node!.exe, [path.join(proj, "bin", "gitops"), "--help"], { cwd: proj, encoding: "utf8" });
        assert.strictEqual(r.status, 1);
        assert.strictEqual(r.stdout, "");
        assert.strictEqual(r.stderr.trim().split("\n").length, 1, r.stderr);
        assert.match(r.stderr, new RegExp(`^gitops: Node v${node!.major}\\.\\S+ is too old and node_modules/node/bin/node is missing: run \`npm ci\` in .* \\(it installs Node ${PINNED.replace(/\./g, "\\.")} from the npm \`node\` package\\)`));
    });

    it("npx gitops on the machine's npm prints no EBADENGINE", () => {
        // A fresh npm cache: npx then sets up the project's bin there, which is when npm checks engines.
        const env = { ...process.env, PATH: `${path.dirname(node!.exe)}:${process.env.PATH}`, npm_config_cache: path.join(tmp, "npm-cache") };
        const r = spawnSync(path.join(path.dirname(node!.exe), "npx"), ["gitops", "--help"], { cwd: ROOT, encoding: "utf8", env });
        assert.strictEqual(r.status, 0, r.stderr);
        assert.match(r.stdout, /^Usage: gitops <command>/);
        assert.doesNotMatch(r.stderr, /EBADENGINE/);
    });
});
