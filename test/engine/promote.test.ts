/**
 * engine/promote against real git: stage branches in a temp bare repo (branches model) and
 * clusters/<env> overlays from test/fixtures/git/overlays (overlays model).
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { main } from "../../engine/cli";
import { GitopsError } from "../../engine/errors";
import { applyPins, checkOrder, extractPins, hotfix, listPromotions, parseTrailers, promote, PromoteOptions, rollback, splitImage } from "../../engine/promote";
import { git, TempGit, TEST_IDENTITY } from "../helpers/git";

const FIXTURES = path.join(__dirname, "..", "fixtures", "git", "overlays");

function readTree(dir: string, base = dir): Record<string, string> {
    const out: Record<string, string> = {};
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) Object.assign(out, readTree(p, base));
        else out[path.relative(base, p)] = fs.readFileSync(p, "utf8");
    }
    return out;
}

function isGitopsError(re: RegExp, where?: RegExp) {
    return (e: unknown) => {
        assert.ok(e instanceof GitopsError, `expected a GitopsError, got ${e}`);
        assert.match(e.message, re);
        if (where) assert.match(e.where, where);
        return true;
    };
}

describe("engine/promote", () => {
    let t: TempGit;
    beforeEach(() => (t = new TempGit()));
    afterEach(() => t.cleanup());

    describe("stage order", () => {
        it("allows only one step forward", () => {
            const s = ["dev", "test", "prod"];
            checkOrder(s, "dev", "test");
            checkOrder(s, "test", "prod");
            assert.throws(() => checkOrder(s, "dev", "prod"), isGitopsError(/skips 'test'/, /stage:prod/));
            assert.throws(() => checkOrder(s, "prod", "test"), isGitopsError(/goes backwards/));
            assert.throws(() => checkOrder(s, "qa", "test"), isGitopsError(/unknown stage 'qa'/, /stage:qa/));
            assert.throws(() => checkOrder(s, "dev", "dev"), isGitopsError(/to itself/));
        });
    });

    describe("branches model", () => {
        /** main (= dev) holds every stage's config; test and prod branches start from it. */
        function setup(): { remote: string; base: string } {
            const remote = t.bare("fleet", { "clusters/dev/app.yaml": "tag: 1\n", "clusters/test/app.yaml": "tag: 1\n", "clusters/prod/app.yaml": "tag: 1\n" });
            const base = t.head(remote, "main");
            git(["branch", "test", "main"], remote);
            git(["branch", "prod", "main"], remote);
            return { remote, base };
        }
        const opts = (remote: string, from: string, to: string, verifiedRevision: string | undefined, extra: Partial<PromoteOptions> = {}): PromoteOptions => ({
            repo: remote,
            from,
            to,
            model: "branches",
            verifiedRevision,
            author: TEST_IDENTITY,
            ...extra,
        });

        it("merges with --no-ff and records the promotion in trailers; an empty promotion still makes a merge commit", async () => {
            const { remote } = setup();
            const dev = t.commit(remote, "main", { "clusters/test/app.yaml": "tag: 2\n" }, "bump test app");
            const testBefore = t.head(remote, "test");

            const r = await promote(opts(remote, "dev", "test", dev.slice(0, 10)));
            assert.strictEqual(r.pushed, true);
            assert.strictEqual(r.empty, false);
            assert.strictEqual(r.sourceRevision, dev);
            assert.strictEqual(r.previous, testBefore);
            assert.deepStrictEqual(r.files, [{ path: "clusters/test/app.yaml", action: "configured" }]);
            assert.strictEqual(t.head(remote, "test"), r.commit);
            assert.strictEqual(git(["rev-parse", `${r.commit}^1`], remote).trim(), testBefore);
            assert.strictEqual(git(["rev-parse", `${r.commit}^2`], remote).trim(), dev);
            assert.strictEqual(t.read(remote, "test", "clusters/test/app.yaml"), "tag: 2\n");
            const tr = parseTrailers(git(["log", "-1", "--format=%B", "test"], remote));
            assert.strictEqual(tr["Promoted-From"], `dev@${dev}`);
            assert.strictEqual(tr["Promoted-To"], "test");
            assert.strictEqual(tr["Promoted-By"], "Test Writer <test@example.com>");
            assert.strictEqual(tr["Promotion-Model"], "branches");
            assert.ok(!Number.isNaN(Date.parse(tr["Promoted-At"])));

            // nothing new on dev: the promotion is still recorded, as an empty merge commit
            const again = await promote(opts(remote, "dev", "test", dev));
            assert.strictEqual(again.empty, true);
            assert.deepStrictEqual(again.files, []);
            assert.strictEqual(git(["rev-list", "--parents", "-n", "1", again.commit], remote).trim().split(" ").length, 3);
            assert.strictEqual(git(["rev-parse", `${again.commit}^1`], remote).trim(), r.commit);
            assert.strictEqual(git(["rev-parse", `${again.commit}^{tree}`], remote).trim(), git(["rev-parse", `${r.commit}^{tree}`], remote).trim());
        });

        it("refuses unverified, mismatched, out-of-order and unknown promotions, leaving the repo untouched", async () => {
            const { remote, base } = setup();
            const dev = t.commit(remote, "main", { "clusters/test/app.yaml": "tag: 2\n" }, "bump");
            const before = t.refs(remote);
            await assert.rejects(promote(opts(remote, "dev", "test", undefined)), isGitopsError(/no verified revision/, /#main$/));
            await assert.rejects(promote(opts(remote, "dev", "test", base)), isGitopsError(new RegExp(`stage 'dev' is at ${dev.slice(0, 12)} but the verified healthy revision is ${base}`), /#main$/));
            await assert.rejects(promote(opts(remote, "dev", "prod", dev)), isGitopsError(/skips 'test'/));
            await assert.rejects(promote(opts(remote, "dev", "staging", dev)), isGitopsError(/unknown stage 'staging'/));
            await assert.rejects(promote(opts(remote, "dev", "test", dev, { branches: { dev: "develop" } })), isGitopsError(/branch 'develop' of stage 'dev' does not exist/));
            assert.strictEqual(t.refs(remote), before);
        });

        it("a merge conflict names the paths and pushes nothing", async () => {
            const { remote } = setup();
            t.commit(remote, "test", { "clusters/test/app.yaml": "tag: hand-edited\n" }, "edit on test");
            const dev = t.commit(remote, "main", { "clusters/test/app.yaml": "tag: 2\n" }, "bump");
            const before = t.refs(remote);
            await assert.rejects(promote(opts(remote, "dev", "test", dev)), isGitopsError(/conflicts in: clusters\/test\/app\.yaml; nothing was pushed/, /#test$/));
            assert.strictEqual(t.refs(remote), before);
        });

        it("dry run builds the merge but pushes nothing", async () => {
            const { remote } = setup();
            const dev = t.commit(remote, "main", { "clusters/test/app.yaml": "tag: 2\n" }, "bump");
            const before = t.refs(remote);
            const r = await promote(opts(remote, "dev", "test", dev, { dryRun: true }));
            assert.strictEqual(r.pushed, false);
            assert.deepStrictEqual(r.files, [{ path: "clusters/test/app.yaml", action: "configured" }]);
            assert.strictEqual(t.refs(remote), before);
        });

        it("re-merges onto a target that moved during the push", async () => {
            const { remote } = setup();
            const dev = t.commit(remote, "main", { "clusters/test/app.yaml": "tag: 2\n" }, "bump");
            let moved = "";
            const r = await promote(opts(remote, "dev", "test", dev, { beforePush: (a) => void (a === 0 && (moved = t.commit(remote, "test", { "clusters/test/extra.yaml": "x\n" }, "other writer"))) }));
            assert.strictEqual(git(["rev-parse", `${r.commit}^1`], remote).trim(), moved);
            assert.strictEqual(t.read(remote, "test", "clusters/test/extra.yaml"), "x\n");
            assert.strictEqual(t.read(remote, "test", "clusters/test/app.yaml"), "tag: 2\n");
        });

        it("creates a missing stage branch with a recorded promotion on top of the source", async () => {
            const remote = t.bare("fleet", { "clusters/prod/app.yaml": "tag: 1\n" });
            const dev = t.head(remote, "main");
            const r = await promote(opts(remote, "dev", "test", dev));
            assert.strictEqual(r.previous, null);
            assert.strictEqual(git(["rev-parse", "test^"], remote).trim(), dev);
            assert.match(git(["log", "-1", "--format=%B", "test"], remote), /Promoted-From: dev@/);
        });

        it("rolls back with a revert commit carried forward, carries a prod hotfix back to main, and the trail is recoverable from history", async () => {
            const { remote, base } = setup();
            const dev = t.commit(remote, "main", { "clusters/prod/app.yaml": "tag: 2-bad\n" }, "bump prod app");
            const toTest = await promote(opts(remote, "dev", "test", dev));
            const testBefore = git(["rev-list", "--count", "test"], remote).trim();

            // rollback on test: a revert on top, history intact
            const rb = await rollback({ repo: remote, branch: "test", stage: "test", commit: toTest.commit, author: TEST_IDENTITY, reason: "2-bad crashes" });
            assert.strictEqual(rb.pushed, true);
            assert.strictEqual(git(["rev-parse", `${rb.commit}^`], remote).trim(), toTest.commit);
            assert.strictEqual(Number(git(["rev-list", "--count", "test"], remote).trim()), Number(testBefore) + 1);
            assert.strictEqual(t.read(remote, "test", "clusters/prod/app.yaml"), "tag: 1\n");
            assert.deepStrictEqual(rb.files, [{ path: "clusters/prod/app.yaml", action: "configured" }]);
            // rolling back the same commit twice changes nothing and is refused
            await assert.rejects(rollback({ repo: remote, branch: "test", commit: toTest.commit, author: TEST_IDENTITY }), isGitopsError(/changes nothing/));

            // carried forward: test -> prod brings the revert along, prod never sees 2-bad
            const toProd = await promote(opts(remote, "test", "prod", rb.commit));
            assert.strictEqual(t.read(remote, "prod", "clusters/prod/app.yaml"), "tag: 1\n");
            assert.strictEqual(git(["merge-base", "--is-ancestor", rb.commit, "prod"], remote), "");

            // hotfix on prod, cherry-picked back to main
            const fix = t.commit(remote, "prod", { "clusters/prod/hotfix.yaml": "limit: 2\n" }, "hotfix: raise limit");
            const hf = await hotfix({ repo: remote, fromStage: "prod", commits: [fix], author: TEST_IDENTITY });
            assert.strictEqual(hf.branch, "main");
            assert.strictEqual(t.read(remote, "main", "clusters/prod/hotfix.yaml"), "limit: 2\n");
            assert.strictEqual(git(["rev-parse", "main^"], remote).trim(), dev);
            const hmsg = git(["log", "-1", "--format=%B", "main"], remote);
            assert.match(hmsg, /^hotfix: raise limit\n/);
            assert.match(hmsg, new RegExp(`\\(cherry picked from commit ${fix}\\)`));
            // a commit that is not on prod is refused
            await assert.rejects(hotfix({ repo: remote, fromStage: "prod", commits: [hf.commit], author: TEST_IDENTITY }), isGitopsError(/is not on 'prod'/));

            // the whole trail, from history alone
            const trail = await listPromotions(remote);
            const kinds = trail.map((r) => `${r.kind}:${r.from?.stage ?? ""}->${r.to}`);
            assert.deepStrictEqual(kinds.sort(), ["hotfix:prod->main", "promotion:dev->test", "promotion:test->prod", "rollback:->test"].sort());
            const p1 = trail.find((r) => r.kind === "promotion" && r.to === "test")!;
            assert.strictEqual(p1.commit, toTest.commit);
            assert.strictEqual(p1.from!.revision, dev);
            assert.strictEqual(p1.by, "Test Writer <test@example.com>");
            assert.ok(p1.at && Date.parse(p1.at) > 0);
            assert.strictEqual(trail.find((r) => r.kind === "promotion" && r.to === "prod")!.from!.revision, rb.commit);
            assert.strictEqual(trail.find((r) => r.kind === "rollback")!.reverts, toTest.commit);
            assert.strictEqual(trail.find((r) => r.kind === "hotfix")!.from!.revision, fix);
            assert.ok(trail.every((r) => r.commit !== base));
            // one branch only
            const onTest = await listPromotions(remote, { branches: ["test"] });
            assert.deepStrictEqual(onTest.map((r) => r.kind).sort(), ["promotion", "rollback"]);
            void toProd;
        });

        it("a rollback whose revert conflicts names the paths and pushes nothing", async () => {
            const { remote } = setup();
            const c1 = t.commit(remote, "main", { "clusters/dev/app.yaml": "tag: 2\n" }, "two");
            t.commit(remote, "main", { "clusters/dev/app.yaml": "tag: 3\n" }, "three");
            const before = t.refs(remote);
            await assert.rejects(rollback({ repo: remote, branch: "main", commit: c1, author: TEST_IDENTITY }), isGitopsError(/conflicts in: clusters\/dev\/app\.yaml; nothing was pushed/));
            assert.strictEqual(t.refs(remote), before);
        });
    });

    describe("overlays model", () => {
        function setup(): { remote: string; first: string } {
            const remote = t.bare("fleet", readTree(FIXTURES));
            return { remote, first: t.head(remote, "main") };
        }
        const opts = (remote: string, from: string, to: string, verifiedRevision: string, extra: Partial<PromoteOptions> = {}): PromoteOptions => ({
            repo: remote,
            from,
            to,
            model: "overlays",
            verifiedRevision,
            author: TEST_IDENTITY,
            ...extra,
        });

        it("copies pinned versions from the source overlay into the next, editing only the pinned scalars", async () => {
            const { remote, first } = setup();
            const testK = t.read(remote, "main", "clusters/test/kustomization.yaml")!;
            const testR = t.read(remote, "main", "clusters/test/release.yaml")!;
            const r = await promote(opts(remote, "dev", "test", first));
            assert.strictEqual(r.pushed, true);
            assert.strictEqual(r.branch, "main");
            assert.deepStrictEqual(
                r.pins!.map((p) => `${p.path}:${p.line} ${p.key} ${p.field} ${p.from}->${p.to}`),
                [
                    "clusters/test/kustomization.yaml:9 image:ghcr.io/stefanprodan/podinfo tag 6.6.0->6.7.1",
                    "clusters/test/kustomization.yaml:11 image:nginx tag 1.25->1.27",
                    "clusters/test/release.yaml:11 helmrelease:redis version 19.0.2->20.1.0",
                    "clusters/test/release.yaml:28 image:ghcr.io/acme/api tag 2.1.0->2.3.0",
                    "clusters/test/release.yaml:31 image:ghcr.io/acme/api tag 2.1.0->2.3.0",
                    "clusters/test/release.yaml:43 ocirepository:manifests tag v1.2.0->v1.4.0",
                ],
            );
            assert.deepStrictEqual(r.skipped!.map((s) => s.key), ["image:ghcr.io/acme/dev-only"]);
            // byte-exact: only the pinned values changed; comments, markers and quoting kept
            assert.strictEqual(
                t.read(remote, "main", "clusters/test/kustomization.yaml"),
                testK.replace("newTag: 6.6.0 #", "newTag: 6.7.1 #").replace('newTag: "1.25"', 'newTag: "1.27"'),
            );
            assert.strictEqual(
                t.read(remote, "main", "clusters/test/release.yaml"),
                testR.replace("version: '19.0.2'", "version: '20.1.0'").split("ghcr.io/acme/api:2.1.0").join("ghcr.io/acme/api:2.3.0").replace("tag: v1.2.0", "tag: v1.4.0"),
            );
            // other overlays untouched
            assert.strictEqual(t.read(remote, "main", "clusters/prod/release.yaml"), fs.readFileSync(path.join(FIXTURES, "clusters/prod/release.yaml"), "utf8"));
            assert.deepStrictEqual(r.files.map((f) => f.path), ["clusters/test/kustomization.yaml", "clusters/test/release.yaml"]);
            const tr = parseTrailers(git(["log", "-1", "--format=%B", "main"], remote));
            assert.strictEqual(tr["Promoted-From"], `dev@${first}`);
            assert.strictEqual(tr["Promotion-Model"], "overlays");

            // promoting again changes nothing but still records the promotion
            const again = await promote(opts(remote, "dev", "test", first));
            assert.strictEqual(again.empty, true);
            assert.deepStrictEqual(again.pins, []);
            assert.strictEqual(git(["rev-parse", `${again.commit}^`], remote).trim(), r.commit);
            const trail = await listPromotions(remote);
            assert.strictEqual(trail.filter((x) => x.kind === "promotion" && x.model === "overlays").length, 2);
        });

        it("promotes from an older verified revision when only other overlays changed since; refuses when the source overlay changed", async () => {
            const { remote, first } = setup();
            t.commit(remote, "main", { "clusters/prod/note.yaml": "x: 1\n" }, "unrelated prod change");
            const ok = await promote(opts(remote, "dev", "test", first));
            assert.strictEqual(ok.sourceRevision, first);

            t.commit(remote, "main", { "clusters/dev/kustomization.yaml": "images: []\n" }, "dev changed after verification");
            const before = t.refs(remote);
            await assert.rejects(promote(opts(remote, "dev", "test", first)), isGitopsError(/overlay 'clusters\/dev' changed after the verified revision/, /:clusters\/dev$/));
            await assert.rejects(promote(opts(remote, "dev", "test", "0123456789abcdef")), isGitopsError(/is not a commit of 'main'/));
            assert.strictEqual(t.refs(remote), before);
        });

        it("names a missing overlay and leaves the repo untouched", async () => {
            const { remote, first } = setup();
            const before = t.refs(remote);
            await assert.rejects(
                promote(opts(remote, "test", "stage", first, { stages: ["dev", "test", "stage", "prod"] })),
                isGitopsError(/overlay 'clusters\/stage' of stage 'stage' does not exist/, /:clusters\/stage$/),
            );
            await assert.rejects(promote(opts(remote, "dev", "test", first, { overlayRoot: "envs" })), isGitopsError(/overlay 'envs\/dev' of stage 'dev' does not exist/));
            assert.strictEqual(t.refs(remote), before);
        });
    });

    describe("pins", () => {
        it("splits image references", () => {
            assert.deepStrictEqual(splitImage("localhost:5000/app:1.2"), { name: "localhost:5000/app", tag: "1.2", digest: undefined });
            assert.deepStrictEqual(splitImage("app@sha256:abc"), { name: "app", tag: undefined, digest: "sha256:abc" });
            assert.deepStrictEqual(splitImage("localhost:5000/app"), { name: "localhost:5000/app", tag: undefined, digest: undefined });
        });

        it("refuses two values for one pin in the source, naming file:line", () => {
            assert.throws(
                () => extractPins({ "a.yaml": "kind: Deployment\nspec:\n  containers:\n    - image: app:1\n", "b.yaml": "kind: Pod\nspec:\n  containers:\n    - image: app:2\n" }),
                isGitopsError(/image:app tag is '2' here but '1' at a.yaml:4/, /^b\.yaml:4$/),
            );
        });

        it("quotes a plain value that would otherwise read as a number, and keeps digests", () => {
            const pins = extractPins({ "dev/kustomization.yaml": "images:\n  - name: app\n    newTag: '1.10'\n  - name: db\n    digest: sha256:new\n" });
            const out = applyPins(pins, { "kustomization.yaml": "images:\n  - name: app\n    newTag: v1\n  - name: db\n    digest: sha256:old\n" });
            assert.strictEqual(out.files["kustomization.yaml"], 'images:\n  - name: app\n    newTag: "1.10"\n  - name: db\n    digest: sha256:new\n');
        });

        it("reads trailers only from a trailer block", () => {
            assert.deepStrictEqual(parseTrailers("subject\n\nbody: not a trailer\nplain words here\n"), {});
            assert.deepStrictEqual(parseTrailers("subject\n\nbody\n\nPromoted-From: dev@abc\nPromoted-To: test\n"), { "Promoted-From": "dev@abc", "Promoted-To": "test" });
            assert.deepStrictEqual(parseTrailers("Promoted-From: dev@abc"), {});
        });

        it("reads a Flux Kustomization's spec.images like kustomize's images", () => {
            const flux = (tag: string) =>
                `apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: apps\nspec:\n  images:\n    - name: app\n      newTag: ${tag}\n`;
            const pins = extractPins({ "dev/apps.yaml": flux("2.0.0") });
            assert.deepStrictEqual([...pins.keys()], ["image:app#tag"]);
            const out = applyPins(pins, { "test/apps.yaml": flux("1.0.0") });
            assert.strictEqual(out.files["test/apps.yaml"], flux("2.0.0"));
        });

        it("reports invalid YAML with file:line", () => {
            assert.throws(() => extractPins({ "bad.yaml": "a: 1\nb: [\n" }), isGitopsError(/invalid YAML/, /^bad\.yaml:\d+$/));
        });
    });

    describe("gitops promote CLI", () => {
        function capture() {
            const out: string[] = [];
            const err: string[] = [];
            return { io: { out: (s: string) => void out.push(s), err: (s: string) => void err.push(s) }, out, err };
        }

        // --project points at a folder without Pulumi.<stack>.yaml: the CLI's own defaults (branches model).
        it("promotes, logs, and refuses bad input with a message naming the stage", async () => {
            const remote = t.bare("fleet", { "clusters/dev/app.yaml": "tag: 1\n" });
            git(["branch", "test", "main"], remote);
            const dev = t.commit(remote, "main", { "clusters/dev/app.yaml": "tag: 2\n" }, "bump");

            let c = capture();
            assert.strictEqual(await main(["promote", "--project", t.root, "--repo", remote, "--from", "dev", "--to", "test", "--verified-revision", dev, "--dry-run"], c.io), 0);
            assert.match(c.out.join(""), /would promote dev -> test \(branches\)/);
            assert.strictEqual(t.read(remote, "test", "clusters/dev/app.yaml"), "tag: 1\n");

            c = capture();
            assert.strictEqual(await main(["promote", "--project", t.root, "--repo", remote, "--from", "dev", "--to", "test", "--verified-revision", dev, "--author", "Ada <ada@example.com>"], c.io), 0);
            assert.match(c.out.join(""), /^promoted dev -> test/);
            assert.match(c.out.join(""), /configured clusters\/dev\/app\.yaml/);
            assert.strictEqual(t.read(remote, "test", "clusters/dev/app.yaml"), "tag: 2\n");

            c = capture();
            assert.strictEqual(await main(["promote", "log", "--repo", remote, "--json"], c.io), 0);
            const log = JSON.parse(c.out.join(""));
            assert.strictEqual(log.length, 1);
            assert.strictEqual(log[0].by, "Ada <ada@example.com>");
            assert.strictEqual(log[0].from.revision, dev);

            c = capture();
            assert.strictEqual(await main(["promote", "--project", t.root, "--repo", remote, "--from", "dev", "--to", "prod", "--verified-revision", dev], c.io), 1);
            assert.match(c.err.join(""), /stage:prod: 'dev' -> 'prod' skips 'test'/);

            c = capture();
            assert.strictEqual(await main(["promote", "--project", t.root, "--repo", remote, "--from", "dev", "--to", "test"], c.io), 1);
            assert.match(c.err.join(""), /stage 'dev' has no verified revision/);

            c = capture();
            assert.strictEqual(await main(["promote", "--project", t.root, "--repo", remote, "--from", "dev", "--to", "test", "--model", "trunk"], c.io), 1);
            assert.match(c.err.join(""), /unknown model 'trunk'/);

            // rollback and hotfix through the CLI
            const promo = t.head(remote, "test");
            c = capture();
            assert.strictEqual(await main(["promote", "rollback", "--repo", remote, "--branch", "test", "--commit", promo, "--reason", "bad tag"], c.io), 0, c.err.join(""));
            assert.match(c.out.join(""), /^rolled back .* on 'test' with revert /);
            assert.strictEqual(t.read(remote, "test", "clusters/dev/app.yaml"), "tag: 1\n");
            assert.strictEqual(git(["rev-parse", "test^"], remote).trim(), promo);
            const fix = t.commit(remote, "test", { "clusters/dev/fix.yaml": "fix: 1\n" }, "fix on test");
            c = capture();
            assert.strictEqual(await main(["promote", "hotfix", "--repo", remote, "--from-stage", "test", "--commit", fix], c.io), 0, c.err.join(""));
            assert.strictEqual(t.read(remote, "main", "clusters/dev/fix.yaml"), "fix: 1\n");
            c = capture();
            assert.strictEqual(await main(["promote", "log", "--repo", remote], c.io), 0);
            const text = c.out.join("");
            assert.match(text, /promotion  dev@/);
            assert.match(text, /rollback   of /);
            assert.match(text, /hotfix     test@/);

            c = capture();
            assert.strictEqual(await main(["promote", "--help"], c.io), 0);
            assert.match(c.out.join(""), /--verified-revision SHA/);
        });
    });
});
