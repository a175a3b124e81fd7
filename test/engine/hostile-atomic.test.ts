/**
 * Atomic writes: `gitops fleet render` and the image setters write into temporary siblings and
 * swap them in. A failure in the middle (a real one: a file where a directory belongs; or one
 * injected between two swaps) leaves the tree exactly as it was, byte for byte, with no temporary
 * leftovers; the message names the path and what to do.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as path from "path";
import { planForStack, writePlan } from "../../engine/fleet/cli";
import { PolicyLatest, updateWithSetters } from "../../engine/images/setters";
import { writeTreeAtomic } from "../../engine/util/atomic";
import { Scene, snapshotTree } from "../helpers/tree";

const leftovers = (dir: string) => Object.keys(snapshotTree(dir)).filter((p) => /\.gitops-(new|old)-/.test(p));

describe("hostile atomic: a failure mid-write leaves the output exactly as before", function () {
    this.timeout(120_000);
    let s: Scene;
    beforeEach(async () => {
        s = new Scene();
        // A first good render, then a changed config: the second render replaces owned folders.
        s.stack("dev", { "gitops:apps": [{ name: "one", image: "ghcr.io/acme/one", tag: "1.0.0" }] });
        assert.strictEqual((await s.render()).code, 0);
        s.stack("dev", { "gitops:apps": [{ name: "two", image: "ghcr.io/acme/two", tag: "2.0.0" }] });
    });
    afterEach(() => s.cleanup());

    it("a file where a directory belongs fails the render before any swap; owned folders are not deleted", async () => {
        // apps/base/two/ cannot be created: apps/base is made a file. The old code deleted
        // clusters/dev, infrastructure/dev and apps/dev first, then failed half-way.
        fs.rmSync(path.join(s.out, "apps", "base"), { recursive: true });
        fs.writeFileSync(path.join(s.out, "apps", "base"), "in the way\n");
        const before = s.snapshot();
        const r = await s.render();
        assert.strictEqual(r.code, 1);
        assert.match(r.err, /--out: apps\/base\S*: could not write \(ENOTDIR\); nothing was changed \(fix what is in the way/);
        assert.deepStrictEqual(s.snapshot(), before);
        assert.deepStrictEqual(leftovers(s.root), []);
    });

    it("a failure injected between two swaps rolls every swapped folder and file back", () => {
        const plan = planForStack(s.project, "dev");
        const before = s.snapshot();
        const steps: string[] = [];
        for (const failAt of [1, 2, 3, 5]) {
            let n = 0;
            assert.throws(
                () =>
                    writePlan(plan, s.out, {
                        beforeStep: (step) => {
                            steps.push(step);
                            if (++n === failAt) throw new Error(`injected failure before ${step}`);
                        },
                    }),
                /injected failure/,
            );
            assert.deepStrictEqual(s.snapshot(), before, `failure at step ${failAt}`);
            assert.deepStrictEqual(leftovers(s.root), []);
        }
        assert.ok(steps.includes("swap clusters/dev") && steps.includes("swap apps/dev"), steps.join(", "));
    });

    it("without a failure the swap gives the same tree as a fresh render, with nothing left behind", async () => {
        const r = await s.render();
        assert.strictEqual(r.code, 0, r.err);
        const fresh = path.join(s.root, "fresh");
        writePlan(planForStack(s.project, "dev"), fresh);
        const got = snapshotTree(s.out);
        // The old app's base entry stays (bases are never deleted); the owned folders are replaced.
        assert.ok(got["apps/base/one"] && got["apps/base/two"]);
        for (const [p, v] of Object.entries(snapshotTree(fresh))) assert.strictEqual(got[p], v, p);
        assert.ok(!fs.readFileSync(path.join(s.out, "apps/dev/kustomization.yaml"), "utf8").includes("one"));
        assert.deepStrictEqual(leftovers(s.root), []);
    });

    it("a new output folder that fails is removed again (no empty folders left)", () => {
        const out = path.join(s.root, "new-out");
        assert.throws(() => writeTreeAtomic(out, { files: { "a/b.yaml": "x", "c.yaml": "y" }, replaceDirs: ["a"] }, { beforeStep: (st) => { if (st === "swap c.yaml") throw new Error("boom"); } }), /boom/);
        assert.ok(!fs.existsSync(out));
    });

    describe("image setters", () => {
        const marked = (tag: string) => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  template:\n    spec:\n      containers:\n      - name: x\n        image: ghcr.io/acme/app:${tag} # {"$imagepolicy": "flux-system:app"}\n`;
        const policies: PolicyLatest[] = [{ namespace: "flux-system", name: "app", latest: { name: "ghcr.io/acme/app", tag: "2.0.0" } }];

        it("update every marked file or none: a failure between two files changes nothing", () => {
            const dir = path.join(s.root, "manifests");
            for (const f of ["a.yaml", "b/b.yaml", "c.yaml"]) {
                fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
                fs.writeFileSync(path.join(dir, f), marked("1.0.0"));
            }
            fs.chmodSync(path.join(dir, "c.yaml"), 0o600);
            const before = s.snapshot();
            let n = 0;
            assert.throws(() => updateWithSetters(dir, policies, { beforeStep: () => { if (++n === 2) throw new Error("disk gone"); } }), /disk gone/);
            assert.deepStrictEqual(s.snapshot(), before);

            const r = updateWithSetters(dir, policies);
            assert.strictEqual(r.changes.length, 3);
            for (const f of ["a.yaml", "b/b.yaml", "c.yaml"]) assert.match(fs.readFileSync(path.join(dir, f), "utf8"), /app:2\.0\.0 /);
            assert.strictEqual(fs.statSync(path.join(dir, "c.yaml")).mode & 0o777, 0o600, "the file mode is kept");
            assert.deepStrictEqual(leftovers(s.root), []);
        });
    });
});
