/**
 * A stack config error under the real Pulumi CLI: `pulumi preview` fails with the message the
 * engine wrote (the file, the key, the fix), not a Node stack trace, and nothing is written.
 */
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import type { TempGit } from "../helpers/git";
import { PulumiProject, stackWithFleet } from "./lib/pulumi";

const BIN = process.env.GITOPS_E2E_BIN || "/var/cache/gitops-e2e/bin";
const STACK = "bad";

describe("e2e: a stack config error under the real Pulumi CLI", function () {
    this.timeout(900_000);
    let tmp: TempGit;
    let project: PulumiProject;
    let fleet: string;

    before(async function () {
        ({ tmp, project, fleet } = await stackWithFleet(this, BIN, "gitops-e2e-config-", STACK));
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
