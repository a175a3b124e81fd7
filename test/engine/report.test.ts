/**
 * engine/report against a real fleet-repo history: FleetSync-style "Reconcile <stack>" commits,
 * real promotions and a real rollback made by engine/promote, every commit at a controlled time
 * (GIT_AUTHOR_DATE / GIT_COMMITTER_DATE), plus a results file. The numbers asserted are worked
 * out by hand from that timeline.
 */
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { main } from "../../engine/cli";
import { GitopsError } from "../../engine/errors";
import { promote, rollback, hotfix } from "../../engine/promote";
import { computeMetrics, deliveryMetrics, DeliveryMetrics, metricsSummary, parseResults, readHistory, DeliveryResult, stackDeliveryOutputs } from "../../engine/report";
import { previewComment } from "../../engine/report/preview";
import { TempGit, TEST_IDENTITY } from "../helpers/git";

const T0 = Date.parse("2026-01-05T10:00:00Z");
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const at = (ms: number) => new Date(T0 + ms).toISOString();

/**
 * Runs fn with git's author and committer dates set to T0 + ms. The engine scrubs GIT_*_DATE
 * from the environment it gives git, so a wrapper first on PATH sets them from
 * REPORT_TEST_DATE and runs the real git.
 */
async function when<T>(ms: number, fn: () => T | Promise<T>): Promise<T> {
    process.env.REPORT_TEST_DATE = at(ms);
    try {
        return await fn();
    } finally {
        delete process.env.REPORT_TEST_DATE;
    }
}

let wrapperDir = "";
const prevPath = process.env.PATH;
function installGitWrapper(root: string): void {
    const real = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim();
    wrapperDir = path.join(root, "bin");
    fs.mkdirSync(wrapperDir, { recursive: true });
    fs.writeFileSync(path.join(wrapperDir, "git"), `#!/bin/sh\nif [ -n "$REPORT_TEST_DATE" ]; then export GIT_AUTHOR_DATE="$REPORT_TEST_DATE" GIT_COMMITTER_DATE="$REPORT_TEST_DATE"; fi\nexec ${real} "$@"\n`, { mode: 0o755 });
    process.env.PATH = `${wrapperDir}${path.delimiter}${prevPath}`;
}

function io() {
    const o = { out: "", err: "" };
    return { o, io: { out: (t: string) => void (o.out += t), err: (t: string) => void (o.err += t) } };
}

describe("engine/report: delivery metrics", function () {
    let t: TempGit;
    let repo: string;
    const sha: Record<string, string> = {};
    let results: DeliveryResult[];

    before(async () => {
        t = new TempGit("gitops-report-");
        installGitWrapper(t.root);
        repo = t.bare("fleet");
        const reconcile = (n: number, ms: number) => when(ms, () => t.commit(repo, "main", { "apps/dev/kustomization.yaml": `rev: ${n}\n` }, `Reconcile dev\n\nM apps/dev/kustomization.yaml`));
        const prom = (from: string, to: string, rev: string, ms: number) =>
            when(ms, async () => (await promote({ repo, from, to, verifiedRevision: rev, author: TEST_IDENTITY })).commit);
        sha.c1 = await reconcile(1, 0);
        sha.c2 = await reconcile(2, 1 * DAY);
        sha.p1 = await prom("dev", "test", sha.c2, 1 * DAY + 2 * HOUR);
        sha.p2 = await prom("test", "prod", sha.p1, 2 * DAY);
        sha.c3 = await reconcile(3, 3 * DAY);
        sha.p3 = await prom("dev", "test", sha.c3, 3 * DAY + 1 * HOUR);
        sha.rb1 = await when(3 * DAY + 2 * HOUR, async () => (await rollback({ repo, branch: "test", commit: sha.p3, stage: "test", author: TEST_IDENTITY, reason: "canary failed" })).commit);
        results = [
            { stack: "dev", commit: sha.c1, appliedAt: at(5 * MIN), result: "applied" },
            { stack: "dev", commit: sha.c2, appliedAt: at(1 * DAY + 3 * MIN), result: "applied" },
            { stack: "test", commit: sha.p1, appliedAt: at(1 * DAY + 2 * HOUR + 5 * MIN), result: "applied" },
            { stack: "prod", commit: sha.p2, appliedAt: at(2 * DAY + 10 * MIN), result: "applied" },
            { stack: "dev", commit: sha.c3, appliedAt: at(3 * DAY + 4 * MIN), result: "applied", recoverySeconds: 95 },
            { stack: "test", commit: sha.p3.slice(0, 12), appliedAt: at(3 * DAY + 1 * HOUR + 10 * MIN), result: "canary-failed" },
            { stack: "test", commit: sha.rb1, appliedAt: at(3 * DAY + 2 * HOUR + 5 * MIN), result: "applied" },
        ];
    });
    after(() => {
        process.env.PATH = prevPath;
        t.cleanup();
    });

    const period = { since: "2026-01-05T00:00:00Z", until: "2026-01-09T00:00:00Z" };
    const get = (m: DeliveryMetrics, s: string) => (s === "all" ? m.all : m.stacks.find((x) => x.stack === s)!);

    it("reads every branch's history once, with commit times", async () => {
        const commits = await readHistory(repo);
        const shas = commits.map((c) => c.sha);
        assert.equal(new Set(shas).size, shas.length);
        for (const k of Object.keys(sha)) assert.ok(shas.includes(sha[k]), `${k} missing`);
        assert.equal(commits.find((c) => c.sha === sha.p2)!.commitTime * 1000, T0 + 2 * DAY);
    });

    it("deployment frequency, lead time, change failure rate and time to restore per environment", async () => {
        const m = await deliveryMetrics({ repo, results, ...period });
        assert.equal(m.days, 4);
        assert.deepEqual(m.stacks.map((s) => s.stack), ["dev", "test", "prod"]);
        assert.deepEqual(m.stacks.map((s) => s.deployments), [3, 2, 1]);
        assert.deepEqual(m.stacks.map((s) => s.deploymentsPerDay), [0.75, 0.5, 0.25]);
        assert.equal(m.all.deployments, 6);
        assert.equal(m.all.deploymentsPerWeek, 10.5);
        // lead times: c1 5m, c2 3m, c3 4m; p1 = c2 -> applied on test 2h5m; p2 follows p1 back to c2: 1d10m; p3 = c3 -> 1h10m
        assert.deepEqual(m.deployments.filter((d) => d.stack === "dev").map((d) => d.leadTimeSeconds), [300, 180, 240]);
        assert.equal(get(m, "dev").leadTime.medianSeconds, 240);
        assert.equal(get(m, "test").leadTime.medianSeconds, (7500 + 4200) / 2);
        assert.equal(get(m, "prod").leadTime.medianSeconds, 87000);
        assert.equal(get(m, "all").leadTime.medianSeconds, (300 + 4200) / 2);
        // failures: p3's canary failed and it was rolled back
        assert.deepEqual(m.stacks.map((s) => s.failures), [0, 1, 0]);
        assert.equal(get(m, "test").changeFailureRate, 0.5);
        assert.equal(get(m, "all").changeFailureRate, 0.167);
        const p3 = m.deployments.find((d) => d.commit === sha.p3)!;
        assert.equal(p3.failure, "canary-failed");
        assert.equal(p3.restoredBy, sha.rb1);
        assert.equal(p3.restoreSeconds, 55 * 60); // applied 1h10m, rollback applied 2h5m
        assert.equal(get(m, "test").timeToRestore.medianSeconds, 3300);
        assert.equal(get(m, "test").rollbacks, 1);
        assert.equal(get(m, "test").unrestored, 0);
        assert.equal(get(m, "dev").recovery.medianSeconds, 95);
        assert.deepEqual(m.rollbacks.map((r) => [r.commit, r.stack, r.reverts]), [[sha.rb1, "test", sha.p3]]);
        assert.deepEqual(metricsSummary(m).test, { deployments: 2, deploymentsPerDay: 0.5, leadTimeMedianSeconds: 5850, changeFailureRate: 0.5, timeToRestoreMedianSeconds: 3300 });
    });

    it("without results: Git alone gives frequency and failures; a rollback restores at its commit time", async () => {
        const m = await deliveryMetrics({ repo, ...period });
        assert.deepEqual(m.stacks.map((s) => s.deployments), [3, 2, 1]);
        assert.equal(get(m, "all").leadTime.count, 0);
        const p3 = m.deployments.find((d) => d.commit === sha.p3)!;
        assert.equal(p3.failure, "rolled-back");
        assert.equal(p3.restoreSeconds, 3600); // committed 1h, rolled back 2h
        assert.equal(get(m, "all").changeFailureRate, 0.167);
    });

    it("stack outputs: one stack's summary over the whole history", async () => {
        const o = await stackDeliveryOutputs(repo, "test");
        // whole history: first test deployment (p1, 1d2h) to the last (p3, 3d1h) is 1d23h, under 2 days
        assert.deepEqual(o, { deployments: 2, deploymentsPerDay: Math.round((2 / ((2 * DAY - HOUR) / DAY)) * 1000) / 1000, changeFailureRate: 0.5, timeToRestoreMedianSeconds: 3600 });
        assert.deepEqual(await stackDeliveryOutputs(repo, "nope"), { deployments: 0, deploymentsPerDay: 0, changeFailureRate: 0 });
    });

    it("a failed reconcile nobody rolled back is restored by the stack's next good deployment", async () => {
        const m = await deliveryMetrics({ repo, ...period, results: [{ stack: "dev", commit: sha.c1, appliedAt: at(5 * MIN), result: "failed" }] });
        const c1 = m.deployments.find((d) => d.commit === sha.c1)!;
        assert.equal(c1.failed, true);
        assert.equal(c1.restoredBy, sha.c2);
        assert.equal(c1.restoreSeconds, 1 * DAY / 1000 - 5 * 60);
        assert.equal(get(m, "dev").changeFailureRate, 0.333);
    });

    it("the period and --stack narrow what is counted", async () => {
        const m = await deliveryMetrics({ repo, results, since: at(2 * DAY), until: at(4 * DAY), stacks: ["dev", "prod"] });
        assert.deepEqual(m.stacks.map((s) => [s.stack, s.deployments]), [["dev", 1], ["prod", 1]]);
        assert.equal(m.days, 2);
        assert.equal(m.all.deploymentsPerDay, 1);
    });

    it("a hotfix made on prod counts as a prod deployment; carrying it back is not another one", async () => {
        const t2 = new TempGit("gitops-report-hf-");
        try {
            const r2 = t2.bare("fleet");
            await when(0, () => t2.commit(r2, "main", { "a.txt": "1\n" }, "Reconcile dev"));
            await when(HOUR, () => t2.commit(r2, "prod", { "b.txt": "fix\n" }, "Reconcile prod\n\nhotfix", "main"));
            const fix = t2.head(r2, "prod");
            await when(2 * HOUR, () => hotfix({ repo: r2, fromStage: "prod", commits: [fix], author: TEST_IDENTITY }));
            const m = await deliveryMetrics({ repo: r2 });
            assert.deepEqual(m.stacks.map((s) => [s.stack, s.deployments]), [["dev", 1], ["prod", 1]]);
            assert.equal(m.deployments.find((d) => d.stack === "prod")!.commit, fix);
        } finally {
            t2.cleanup();
        }
    });

    it("bad results are refused with where and what to do", () => {
        assert.throws(() => parseResults("{", "r.json"), (e: unknown) => e instanceof GitopsError && e.where === "r.json" && /not JSON/.test(e.message));
        assert.throws(() => parseResults("{}", "r.json"), (e: unknown) => e instanceof GitopsError && /JSON array/.test(e.message));
        assert.throws(() => parseResults(`[{"stack":"dev","commit":"abc"}]`, "r.json"), (e: unknown) => e instanceof GitopsError && e.where === "r.json[0].result");
        assert.throws(() => parseResults(`[{"stack":"dev","commit":"abc","result":"applied","appliedAt":"yesterday"}]`, "r.json"), (e: unknown) => e instanceof GitopsError && e.where === "r.json[0].appliedAt");
        assert.throws(() => computeMetrics({ commits: [], results: [{ stack: "dev", commit: "feed", result: "applied" }] }), (e: unknown) => e instanceof GitopsError && /committedAt/.test(e.message));
    });

    describe("gitops report", () => {
        it("prints the table, writes JSON and an HTML page with the plots", async () => {
            const dir = path.join(t.root, "out");
            const rfile = path.join(t.root, "results.json");
            fs.writeFileSync(rfile, JSON.stringify(results));
            const { o, io: cio } = io();
            const code = await main(["report", "--repo", repo, "--results", rfile, "--since", period.since, "--until", period.until, "--json", path.join(dir, "m.json"), "--html", path.join(dir, "m.html")], cio);
            assert.equal(code, 0, o.err);
            assert.match(o.out, /^test\s+2\s+0\.5\s+1h 37m\s+50% \(1\/2\)\s+1\s+55m/m);
            const json = JSON.parse(fs.readFileSync(path.join(dir, "m.json"), "utf8"));
            assert.equal(json.all.deployments, 6);
            const html = fs.readFileSync(path.join(dir, "m.html"), "utf8");
            assert.doesNotMatch(html, /<script/i);
            // deployments per day: 4 days x bars; sum of bar values per series = deployments
            const bars = [...html.matchAll(/<rect class="bar" data-series="([^"]+)" data-label="([^"]+)" data-value="(\d+)"/g)];
            const deploys = html.slice(html.indexOf('id="deploys"'), html.indexOf('id="leadtime"'));
            const sum = (s: string, text: string) => [...text.matchAll(new RegExp(`data-series="${s}" data-label="[^"]+" data-value="(\\d+)"`, "g"))].reduce((a, x) => a + Number(x[1]), 0);
            assert.deepEqual(["dev", "test", "prod"].map((s) => sum(s, deploys)), [3, 2, 1]);
            assert.ok(bars.some((b) => b[1] === "dev" && b[2] === "2026-01-05" && b[3] === "1"));
            const lead = html.slice(html.indexOf('id="leadtime"'));
            // dev: 3 under 10m; test: 2 in 1h–6h; prod: 1 in 1d–7d
            assert.ok(/data-series="dev" data-label="&lt; 10m" data-value="3"/.test(lead), lead);
            assert.ok(/data-series="test" data-label="1h–6h" data-value="2"/.test(lead));
            assert.ok(/data-series="prod" data-label="1d–7d" data-value="1"/.test(lead));
            // Render to PNG when a headless chromium is installed (optional).
            const chrome = ["chromium", "chromium-browser", "google-chrome"].find((c) => spawnSync("sh", ["-c", `command -v ${c}`]).status === 0);
            if (chrome) {
                const png = path.join(dir, "m.png");
                execFileSync(chrome, ["--headless", "--no-sandbox", "--disable-gpu", `--screenshot=${png}`, "--window-size=800,900", `file://${path.join(dir, "m.html")}`], { stdio: "ignore", timeout: 60_000 });
                assert.ok(fs.statSync(png).size > 1000);
            }
        });

        it("--json - prints JSON only; a missing repo or results file is a user error", async () => {
            const a = io();
            assert.equal(await main(["report", "--repo", repo, "--json", "-"], a.io), 0);
            assert.equal(JSON.parse(a.o.out).all.deployments, 6);
            const b = io();
            assert.equal(await main(["report", "--repo", path.join(t.root, "nope.git")], b.io), 1);
            assert.match(b.o.err, /nope\.git: repository does not exist/);
            const c = io();
            assert.equal(await main(["report", "--repo", repo, "--results", path.join(t.root, "missing.json")], c.io), 1);
            assert.match(c.o.err, /--results: cannot read .*missing\.json: ENOENT/);
        });

        it("report preview: one comment per stack with FleetSync's per-object diff", async () => {
            const preview = {
                steps: [
                    { op: "same", urn: "urn:pulumi:dev::gitops-platform::pulumi:pulumi:Stack::gitops-platform-dev", newState: { type: "pulumi:pulumi:Stack", outputs: { reconcileSummary: "commit 0123456789ab; files: 2 created" } } },
                    {
                        op: "update",
                        urn: "urn:pulumi:dev::gitops-platform::gitops:index:Platform$pulumi-nodejs:dynamic:Resource::dev-fleet-sync",
                        oldState: { type: "pulumi-nodejs:dynamic:Resource", inputs: { stack: "dev", files: {} }, outputs: { summary: "commit 0123456789ab; files: 2 created" } },
                        newState: { type: "pulumi-nodejs:dynamic:Resource", inputs: { stack: "dev", files: {} } },
                        diffReasons: ["files"],
                        detailedDiff: { 'files["apps/dev/kustomization.yaml"]': { diffKind: "update", inputDiff: true }, 'cluster["podinfo_podinfo_apps_Deployment"]': { diffKind: "update" }, 'cluster["podinfo_old_apps_Deployment"]': { diffKind: "delete" } },
                    },
                    { op: "create", urn: "urn:pulumi:dev::gitops-platform::kubernetes:core/v1:Namespace::ns" },
                ],
                diagnostics: [{ severity: "info", message: "FleetSync dev: 3 change(s)\n  ~ files[\"apps/dev/kustomization.yaml\"]" }],
                changeSummary: { update: 1, create: 1, same: 1 },
            };
            const body = previewComment("dev", preview as any);
            assert.ok(body.startsWith("<!-- gitops-preview:dev -->\n"));
            assert.match(body, /\| `~` \| `apps\/dev\/kustomization.yaml` \|/);
            assert.match(body, /\| `-` \| `podinfo_old_apps_Deployment` \|/);
            assert.match(body, /cluster object \(2\)/);
            assert.match(body, /`reconcileSummary`: commit 0123456789ab/);
            assert.match(body, /\| create \| `kubernetes:core\/v1:Namespace` \| `ns` \|/);
            assert.match(body, /Resources: 1 to update, 1 to create/);
            const failed = previewComment("prod", {}, { exitCode: 255, stderr: "error: gitops:cluster.kind must be one of ..." });
            assert.match(failed, /^<!-- gitops-preview:prod -->/);
            assert.match(failed, /The preview failed\*\* \(exit 255\)/);
            // through the CLI, as the preview workflow runs it
            const f = path.join(t.root, "preview.json");
            fs.writeFileSync(f, JSON.stringify(preview));
            const out = path.join(t.root, "comment.md");
            const { o, io: cio } = io();
            assert.equal(await main(["report", "preview", "--stack", "dev", "--json", f, "--exit-code", "0", "--out", out], cio), 0, o.err);
            assert.equal(fs.readFileSync(out, "utf8"), body);
        });
    });
});
