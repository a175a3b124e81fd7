/**
 * `gitops promote` as a user runs it, against real git with bare repositories:
 * defaults from this project's own Pulumi.<stack>.yaml on the fleet it generates, refusing a
 * promotion that a rollback would leave diverged, and a hotfix that keeps its author.
 */
import * as assert from "assert";
import * as path from "path";
import { main } from "../../engine/cli";
import { writePlan, planForStack } from "../../engine/fleet/cli";
import { capture } from "../helpers/cli";
import { git, TempGit, TEST_IDENTITY } from "../helpers/git";

const PROJECT = path.join(__dirname, "..", "..");


describe("gitops promote (CLI, real git)", function () {
    this.timeout(120_000);
    let t: TempGit;
    beforeEach(() => {
        t = new TempGit("cli-promote-");
    });
    afterEach(() => t.cleanup());

    it("--from dev --to test on the fleet this program generates: overlays on main, apps/<stage>, no new branch", async () => {
        // The fleet exactly as `gitops fleet render` writes it for dev and test, in one bare repo.
        const remote = t.bare("fleet");
        const work = t.clone(remote);
        writePlan(planForStack(PROJECT, "dev"), work);
        writePlan(planForStack(PROJECT, "test"), work);
        git(["add", "-A"], work);
        git(["commit", "--quiet", "-m", "fleet"], work);
        git(["push", "--quiet", "origin", "HEAD:refs/heads/main"], work);
        const verified = t.head(remote, "main");
        const before = t.read(remote, "main", "apps/test/kustomization.yaml")!;
        assert.match(before, /newTag: 1\.0\.0 /);

        const r = capture();
        const code = await main(["promote", "--project", PROJECT, "--repo", remote, "--from", "dev", "--to", "test", "--verified-revision", verified, "--author", "Pat Promoter <pat@example.com>"], r.io);
        assert.strictEqual(code, 0, r.errText());
        assert.match(r.errText(), /using model overlays, stages dev,test,prod, branch main, overlay root apps \(from Pulumi\.test\.yaml, Pulumi\.dev\.yaml\)/);
        assert.match(r.text(), /^promoted dev -> test \(overlays\) from dev@[0-9a-f]{12} onto 'main'$/m);
        const after = t.read(remote, "main", "apps/test/kustomization.yaml")!;
        const devTag = /newTag: (\S+)/.exec(t.read(remote, "main", "apps/dev/kustomization.yaml")!)![1];
        assert.match(after, new RegExp(`newTag: ${devTag} # \\{"\\$imagepolicy": "flux-system:echo-version:tag"\\}`), "the dev tag, with its setter marker kept");
        assert.match(after, /count: 2/, "test's own replicas stay");
        assert.strictEqual(t.head(remote, "test"), "", "no 'test' branch that nothing tracks");
    });

    it("refuses a branches promotion that a rollback would leave diverged, explaining the fix; --allow-diverged warns", async () => {
        const remote = t.bare("fleet", { "apps/app.yaml": "tag: 1\n" });
        const flags = ["--repo", remote, "--model", "branches", "--stages", "dev,test", "--branch-map", "dev=main,test=test", "--author", "Pat <pat@example.com>"];
        t.commit(remote, "test", {}, "test branch", "main");
        t.commit(remote, "main", { "apps/app.yaml": "tag: 2\n" }, "tag 2");
        let r = capture();
        assert.strictEqual(await main(["promote", ...flags, "--from", "dev", "--to", "test", "--verified-revision", t.head(remote, "main")], r.io), 0, r.errText());
        const promotion = t.head(remote, "test");
        r = capture();
        assert.strictEqual(await main(["promote", "rollback", "--repo", remote, "--branch", "test", "--commit", promotion, "--author", "Pat <pat@example.com>"], r.io), 0, r.errText());
        assert.strictEqual(t.read(remote, "test", "apps/app.yaml"), "tag: 1\n");
        const rolledBack = t.head(remote, "test");

        t.commit(remote, "main", { "apps/other.yaml": "x: 1\n" }, "another change");
        r = capture();
        assert.strictEqual(await main(["promote", ...flags, "--from", "dev", "--to", "test", "--verified-revision", t.head(remote, "main")], r.io), 1);
        assert.match(r.errText(), /stage 'test' has diverged from 'dev' after a rollback; nothing was pushed/);
        assert.match(r.errText(), new RegExp(`revert the rollback first: gitops promote rollback --repo \\S+ --branch test --commit ${rolledBack.slice(0, 12)}`));
        assert.strictEqual(t.head(remote, "test"), rolledBack, "nothing pushed");

        r = capture();
        assert.strictEqual(await main(["promote", ...flags, "--from", "dev", "--to", "test", "--verified-revision", t.head(remote, "main"), "--allow-diverged"], r.io), 0, r.errText());
        assert.match(r.errText(), /^warning: 'test' rolled back the promotion/m);
        assert.strictEqual(t.read(remote, "test", "apps/app.yaml"), "tag: 1\n", "the rollback is kept, as the warning says");
    });

    it("a hotfix carried back keeps the fix's author; the promoter is the committer and the Hotfix-By trailer", async () => {
        const remote = t.bare("fleet", { "apps/app.yaml": "limit: 1\n" });
        t.commit(remote, "prod", {}, "prod branch", "main");
        const fix = t.commit(remote, "prod", { "apps/app.yaml": "limit: 2\n" }, "hotfix: raise limit"); // authored by "Other Writer"
        const r = capture();
        assert.strictEqual(await main(["promote", "hotfix", "--repo", remote, "--from-stage", "prod", "--commit", fix, "--author", `${TEST_IDENTITY.name} <${TEST_IDENTITY.email}>`], r.io), 0, r.errText());
        const fmt = git(["log", "-1", "--format=%an <%ae>|%cn <%ce>|%aI", "main"], remote).trim().split("|");
        const origDate = git(["log", "-1", "--format=%aI", fix], remote).trim();
        assert.deepStrictEqual(fmt, ["Other Writer <other@example.com>", `${TEST_IDENTITY.name} <${TEST_IDENTITY.email}>`, origDate]);
        assert.match(git(["log", "-1", "--format=%B", "main"], remote), new RegExp(`^Hotfix-By: ${TEST_IDENTITY.name} <${TEST_IDENTITY.email}>$`, "m"));
    });
});
