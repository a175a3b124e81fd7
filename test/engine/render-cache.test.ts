/**
 * The content-addressed render cache (engine/render/cache.ts) with real git and real
 * `kubectl kustomize`: what hits, what misses, what is never cached, and that a hit is the same
 * render as a fresh build.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { foldersRead, readSnapshot, renderRevision, RevisionItem } from "../../engine/render/cache";
import { previewRevisions } from "../../engine/render/preview";
import { renderPath } from "../../engine/render";
import { materialize, Remote } from "../../engine/git";
import { GitopsError } from "../../engine/errors";
import { TempGit } from "../helpers/git";

const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n  env: \${cluster_env:=none}\n`;

const FILES: Record<string, string> = {
    "apps/base/web/kustomization.yaml": "resources:\n- cm.yaml\n",
    "apps/base/web/cm.yaml": cm("web", "1"),
    "apps/shared/patch.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  patched: \"yes\"\n",
    "apps/prod/kustomization.yaml": "namespace: prod\nresources:\n- ../base/web\npatches:\n- path: ../shared/patch.yaml\n",
    "apps/other/cm.yaml": cm("other", "1"),
    "README.md": "fleet\n",
};

describe("render: content-addressed render cache (real git, real kubectl kustomize)", function () {
    this.timeout(120_000);
    let t: TempGit;
    let repo: string;
    let cacheDir: string;
    const prod: RevisionItem = { path: "apps/prod", substitute: { cluster_env: "prod" } };

    async function one(ref: string, item: RevisionItem = prod) {
        const { renders } = await renderRevision(repo, ref, [item], { cacheDir });
        return renders[0];
    }

    beforeEach(() => {
        t = new TempGit("gitops-render-cache-");
        repo = t.bare("fleet", FILES);
        cacheDir = path.join(t.root, "render-cache");
    });
    afterEach(() => t.cleanup());

    it("stores a miss and serves the same render on the next call", async () => {
        const first = await one("main");
        assert.strictEqual(first.cache, "miss");
        const second = await one("main");
        assert.strictEqual(second.cache, "hit");
        assert.strictEqual(second.key, first.key);
        assert.strictEqual(second.result.yaml, first.result.yaml);
        assert.deepStrictEqual(
            second.result.objects.map((o) => [o.id, o.substituted, o.object]),
            first.result.objects.map((o) => [o.id, o.substituted, o.object]),
        );
        // The same as rendering a full checkout without any cache.
        const co = await materialize(repo, "main");
        try {
            const plain = await renderPath(co.dir, "apps/prod", { substitute: { cluster_env: "prod" } });
            assert.strictEqual(second.result.yaml, plain.yaml);
        } finally {
            await co.cleanup();
        }
        assert.match(second.result.yaml, /namespace: prod/);
        assert.match(second.result.yaml, /patched: "yes"/);
        assert.match(second.result.yaml, /env: prod/);
    });

    it("misses when a file changes in a folder the kustomization reads (its own, a base, a patch's)", async () => {
        await one("main");
        const cases: Array<[string, string, RegExp]> = [
            ["apps/base/web/cm.yaml", cm("web", "2"), /value: "2"/],
            ["apps/shared/patch.yaml", FILES["apps/shared/patch.yaml"].replace('"yes"', '"no"'), /patched: "no"/],
            ["apps/prod/kustomization.yaml", FILES["apps/prod/kustomization.yaml"].replace("namespace: prod", "namespace: prod2"), /namespace: prod2/],
        ];
        for (const [file, content, expect] of cases) {
            t.commit(repo, "main", { [file]: content }, `change ${file}`);
            const r = await one("main");
            assert.strictEqual(r.cache, "miss", `a change to ${file} must miss`);
            assert.match(r.result.yaml, expect);
            assert.strictEqual((await one("main")).cache, "hit");
        }
    });

    it("hits when only an unrelated folder changes", async () => {
        const before = await one("main");
        t.commit(repo, "main", { "apps/other/cm.yaml": cm("other", "2"), "README.md": "changed\n", "apps/base/api/cm.yaml": cm("api", "1") }, "unrelated");
        const after = await one("main");
        assert.strictEqual(after.cache, "hit");
        assert.strictEqual(after.result.yaml, before.result.yaml);
    });

    it("keys on the substitution inputs and the Flux build fields", async () => {
        await one("main");
        const other = await one("main", { ...prod, substitute: { cluster_env: "dev" } });
        assert.strictEqual(other.cache, "miss");
        assert.match(other.result.yaml, /env: dev/);
        assert.strictEqual((await one("main", { ...prod, substitute: { cluster_env: "prod" }, strict: true })).cache, "miss");
        assert.strictEqual((await one("main", { ...prod, spec: { targetNamespace: "elsewhere" } })).cache, "miss");
        assert.strictEqual((await one("main", { path: "apps/prod" })).cache, "miss");
        assert.strictEqual((await one("main")).cache, "hit");
    });

    it("lists the folders read: the path, bases and patch folders outside it, nested ones folded", async () => {
        await Remote.open(repo, undefined, async (r) => {
            const sha = (await r.resolve("main"))!.sha;
            const snap = await readSnapshot(r, sha);
            assert.deepStrictEqual(foldersRead(snap, "apps/prod"), { folders: ["apps/base/web", "apps/prod", "apps/shared"] });
            assert.deepStrictEqual(foldersRead(snap, "apps"), { folders: ["apps"] });
            assert.deepStrictEqual(foldersRead(snap, "./apps/other/"), { folders: ["apps/other"] });
            assert.ok("uncacheable" in foldersRead(snap, "apps/missing"));
            assert.ok("uncacheable" in foldersRead(snap, "../outside"));
        });
    });

    it("never caches a render that reads through a symbolic link, and sees the target change", async () => {
        const work = t.clone(repo);
        const { execFileSync } = await import("child_process");
        fs.mkdirSync(path.join(work, "apps/linked"));
        fs.symlinkSync("../other/cm.yaml", path.join(work, "apps/linked/cm.yaml"));
        fs.writeFileSync(path.join(work, "apps/linked/kustomization.yaml"), "resources:\n- cm.yaml\n");
        const g = (args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@e", ...args], { cwd: work });
        g(["add", "-A"]);
        g(["commit", "-qm", "link"]);
        g(["push", "-q", "origin", "HEAD:main"]);
        const first = await one("main", { path: "apps/linked" });
        assert.strictEqual(first.cache, "off");
        assert.match(first.reason!, /symbolic link/);
        t.commit(repo, "main", { "apps/other/cm.yaml": cm("other", "changed") }, "change the target");
        const second = await one("main", { path: "apps/linked" });
        assert.strictEqual(second.cache, "off");
        assert.match(second.result.yaml, /value: changed/);
    });

    it("does not store a build that reads a file no kustomization field names (inline transformer), and stays fresh", async () => {
        const kust = [
            "resources:",
            "- ../base/web",
            "transformers:",
            "- |-",
            "  apiVersion: builtin",
            "  kind: PatchTransformer",
            "  metadata:",
            "    name: fix",
            "  path: ../shared/patch.yaml",
            "  target:",
            "    kind: ConfigMap",
            "",
        ].join("\n");
        t.commit(repo, "main", { "apps/inline/kustomization.yaml": kust }, "inline transformer");
        const first = await one("main", { path: "apps/inline" });
        assert.strictEqual(first.cache, "off");
        assert.match(first.reason!, /reads files/);
        assert.match(first.result.yaml, /patched: "yes"/);
        t.commit(repo, "main", { "apps/shared/patch.yaml": FILES["apps/shared/patch.yaml"].replace('"yes"', '"later"') }, "patch changes");
        const second = await one("main", { path: "apps/inline" });
        assert.match(second.result.yaml, /patched: later/);
    });

    it("treats a corrupt entry as a miss and rewrites it", async () => {
        const first = await one("main");
        const file = path.join(cacheDir, first.key!.slice(0, 2), `${first.key}.json`);
        assert.ok(fs.existsSync(file));
        fs.writeFileSync(file, "{not json");
        const again = await one("main");
        assert.strictEqual(again.cache, "miss");
        assert.strictEqual(again.result.yaml, first.result.yaml);
        assert.strictEqual((await one("main")).cache, "hit");
    });

    it("renders a missing path as empty only when asked, and names it otherwise", async () => {
        const { renders } = await renderRevision(repo, "main", [{ path: "apps/gone" }], { cacheDir, missingIsEmpty: true });
        assert.deepStrictEqual(renders[0].result.objects, []);
        await assert.rejects(renderRevision(repo, "main", [{ path: "apps/gone" }], { cacheDir }), (e: unknown) => e instanceof GitopsError && /apps\/gone/.test(e.message));
    });

    it("renders many paths at once, in item order, without a cache when it is off", async () => {
        const items: RevisionItem[] = [{ path: "apps/prod" }, { path: "apps/other" }, { path: "apps/base/web" }];
        const { renders } = await renderRevision(repo, "main", items, { cacheDir: false, concurrency: 2 });
        assert.deepStrictEqual(renders.map((r) => [r.path, r.cache]), items.map((i) => [i.path, "off"]));
        assert.deepStrictEqual(renders.map((r) => r.result.objects.map((o) => o.id)), [["prod_web__ConfigMap"], ["_other__ConfigMap"], ["_web__ConfigMap"]]);
        assert.ok(!fs.existsSync(cacheDir));
    });

    it("previews a pull request: only the paths whose folders changed are built again, objects compared by id", async () => {
        const items: RevisionItem[] = [prod, { path: "apps/other" }, { path: "apps/new" }];
        await renderRevision(repo, "main", items, { cacheDir, missingIsEmpty: true });
        t.commit(repo, "pr", { "apps/base/web/cm.yaml": cm("web", "2"), "apps/new/cm.yaml": cm("fresh", "1"), "apps/other/cm.yaml": null, "apps/other/cm2.yaml": cm("other2", "1") }, "pr", "main");
        const p = await previewRevisions(repo, "main", "pr", items, { cacheDir });
        assert.deepStrictEqual(p.baseRenders.map((r) => r.cache), ["hit", "hit", "off"]);
        assert.deepStrictEqual(p.headRenders.map((r) => r.cache), ["miss", "miss", "miss"]);
        assert.deepStrictEqual(p.changes, [
            { path: "apps/prod", id: "prod_web__ConfigMap", action: "configured" },
            { path: "apps/other", id: "_other2__ConfigMap", action: "created" },
            { path: "apps/other", id: "_other__ConfigMap", action: "deleted" },
            { path: "apps/new", id: "_fresh__ConfigMap", action: "created" },
        ]);
        assert.deepStrictEqual(p.counts, { created: 2, configured: 1, deleted: 1, unchanged: 0 });
        assert.strictEqual(p.base, t.head(repo, "main"));
        assert.strictEqual(p.head, t.head(repo, "pr"));
    });
});
