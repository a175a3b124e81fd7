/**
 * The CrossGuard pack (policy/) under the real Pulumi CLI: `pulumi preview --policy-pack
 * policy/analyzer` on a render-only stack (cluster.kind none, a local bare fleet repo). A stack
 * config that breaks a policy fails the preview with the policy's message; a clean one passes.
 * (policy/analyzer says why the pack is given as a launcher file with this language host.)
 */
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { binaries, PulumiProject, REPO } from "./lib/pulumi";

const BIN = process.env.GITOPS_E2E_BIN || "/var/cache/gitops-e2e/bin";
const STACK = "policy";
const PACK = path.join(REPO, "policy", "analyzer");

function bareRepo(root: string): string {
    const bare = path.join(root, "fleet.git");
    const env = { ...process.env, GIT_AUTHOR_NAME: "e2e", GIT_AUTHOR_EMAIL: "e2e@example.com", GIT_COMMITTER_NAME: "e2e", GIT_COMMITTER_EMAIL: "e2e@example.com", GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };
    const git = (args: string[], cwd?: string) => execFileSync("git", args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    git(["init", "--bare", "--quiet", "--initial-branch=main", bare]);
    const w = path.join(root, "init");
    git(["init", "--quiet", "--initial-branch=main", w]);
    fs.writeFileSync(path.join(w, "README.md"), "# fleet\n");
    git(["add", "-A"], w);
    git(["commit", "--quiet", "-m", "initial"], w);
    git(["push", "--quiet", bare, "HEAD:refs/heads/main"], w);
    return bare;
}

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
    let root: string;
    let project: PulumiProject;
    let fleet: string;

    before(async function () {
        const { missing } = binaries(BIN, ["pulumi", "pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"]);
        if (Object.keys(missing).length > 0) {
            console.log(`      skipped (not built): ${Object.entries(missing).map(([n, why]) => `${n}: ${why}`).join("; ")}`);
            this.skip();
        }
        root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-e2e-policy-"));
        fleet = bareRepo(root);
        project = new PulumiProject(BIN, root, STACK);
        await project.ok(["stack", "init", STACK]);
    });

    after(() => {
        if (root && !process.env.GITOPS_E2E_KEEP) fs.rmSync(root, { recursive: true, force: true });
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
