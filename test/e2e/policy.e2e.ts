/**
 * The CrossGuard pack (policy/) under the real Pulumi CLI: `pulumi preview --policy-pack
 * policy/analyzer` on a render-only stack (cluster.kind none, a local bare fleet repo). A stack
 * config that breaks a policy fails the preview with the policy's message; a clean one passes.
 * (policy/analyzer says why the pack is given as a launcher file with this language host.)
 */
import { strict as assert } from "assert";
import * as path from "path";
import type { TempGit } from "../helpers/git";
import { PulumiProject, REPO, stackWithFleet } from "./lib/pulumi";

const BIN = process.env.GITOPS_E2E_BIN || "/var/cache/gitops-e2e/bin";
const STACK = "policy";
const PACK = path.join(REPO, "policy", "analyzer");

function config(fleet: string, prune: boolean): string {
    return [
        "config:",
        "  gitops:cluster:",
        "    kind: none",
        "  gitops:fleet:",
        `    url: ${fleet}`,
        "  gitops:promotion:",
        `    order: [${STACK}]`,
        "  gitops:kustomizations:",
        "    - name: extra",
        "      path: ./extra",
        `      prune: ${prune}`,
        "",
    ].join("\n");
}

describe("e2e: the policy pack under the real Pulumi CLI", function () {
    this.timeout(900_000);
    let tmp: TempGit;
    let project: PulumiProject;
    let fleet: string;

    before(async function () {
        ({ tmp, project, fleet } = await stackWithFleet(this, BIN, "gitops-e2e-policy-", STACK));
    });

    after(() => {
        if (tmp && !process.env.GITOPS_E2E_KEEP) tmp.cleanup();
    });

    it("fails the preview with the policy's message when the stack breaks it", async () => {
        project.writeStackConfig(config(fleet, false));
        const r = await project.run(["preview", "--policy-pack", PACK]);
        const out = r.stdout + r.stderr;
        assert.notStrictEqual(r.code, 0, out);
        assert.match(out, /gitops-guardrails/);
        assert.match(out, /kustomization-prune/);
        assert.match(out, /Kustomization\/\S*extra has prune false; set spec\.prune: true/);
    });

    it("passes a clean stack, with the pack loaded", async () => {
        project.writeStackConfig(config(fleet, true));
        const r = await project.run(["preview", "--policy-pack", PACK]);
        const out = r.stdout + r.stderr;
        assert.strictEqual(r.code, 0, out);
        assert.match(out, /gitops-guardrails/);
        assert.doesNotMatch(out, /mandatory/);
    });
});
