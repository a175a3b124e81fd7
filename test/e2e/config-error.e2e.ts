/**
 * A stack config error under the real Pulumi CLI: `pulumi preview` fails with the message the
 * engine wrote (the file, the key, the fix), not a Node stack trace, and nothing is written.
 */
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import { TempGit } from "../helpers/git";
import { binaries, PulumiProject } from "./lib/pulumi";

const BIN = process.env.GITOPS_E2E_BIN || "/var/cache/gitops-e2e/bin";
const STACK = "bad";

describe("e2e: a stack config error under the real Pulumi CLI", function () {
    this.timeout(900_000);
    let tmp: TempGit;
    let project: PulumiProject;
    let fleet: string;

    before(async function () {
        const { missing } = binaries(BIN, ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"]);
        if (Object.keys(missing).length > 0) {
            console.log(`      skipped (not built): ${Object.entries(missing).map(([n, why]) => `${n}: ${why}`).join("; ")}`);
            this.skip();
        }
        tmp = new TempGit("gitops-e2e-config-");
        fleet = tmp.bare("fleet", { "README.md": "# fleet\n" });
        project = new PulumiProject(BIN, tmp.root, STACK);
        await project.ok(["stack", "init", STACK]);
    });

    after(() => {
        if (tmp && !process.env.GITOPS_E2E_KEEP) tmp.cleanup();
    });

    it("fails the preview naming the file, the key and the fix, without a stack trace", async () => {
        const head = execFileSync("git", ["rev-parse", "refs/heads/main"], { cwd: fleet, encoding: "utf8" });
        project.writeStackConfig(
            ["config:", "  gitops:cluster:", "    kind: eks", "  gitops:fleet:", `    url: ${fleet}`, "  gitops:promotion:", `    order: [${STACK}]`, ""].join("\n"),
        );
        const r = await project.run(["preview"]);
        const out = r.stdout + r.stderr;
        assert.notStrictEqual(r.code, 0, out);
        assert.match(out, /Pulumi\.bad\.yaml: .*gitops:cluster\.kind must be one of/);
        assert.doesNotMatch(out, /at parseStackConfig|at Object\.<anonymous>|node:internal/, `no stack trace:\n${out}`);
        assert.equal(execFileSync("git", ["rev-parse", "refs/heads/main"], { cwd: fleet, encoding: "utf8" }), head, "nothing pushed");
    });
});
