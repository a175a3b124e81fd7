/**
 * Image automation and notifications end to end with the real Flux controllers on the local
 * control plane (engine/localcluster/controlplane.ts, binaries from scripts/e2e-build.sh). Every
 * Flux object comes from the product's own rendering of one stack (renderFleet), committed to a
 * bare fleet repo that the control plane serves over Git smart HTTP on 127.0.0.1:
 *
 * - image-reflector-controller scans an image repository on Debian's docker-registry on loopback,
 *   holding tags the test pushed, and the rendered ImagePolicy (a semver range) selects the newest
 *   matching tag: its status.latestRef, and the tag our engine selects (engine/images selectTag)
 *   for the same tags and policy.
 * - image-automation-controller, from the rendered ImageUpdateAutomation, commits that tag into
 *   the fleet repo over HTTP through the `$imagepolicy` marker the product writes; its commit
 *   (tree and message) equals what our engine's own automation run (runImageUpdate) writes from
 *   the same parent for the same policy, and `gitops image-update` writes the same file: one rule,
 *   two implementations. kustomize-controller then applies it: the Deployment runs the new tag.
 * - notification-controller, from the rendered Provider (type generic, address = an HTTP server
 *   of this test on 127.0.0.1) and Alert, posts the Kustomizations' events: a payload names the
 *   Kustomization and the revision it applied (the automation's commit too).
 *
 * Each part is skipped, naming the missing binary, when its controller is not built
 * (`bash scripts/e2e-build.sh fluxextra`); the suite when the control plane's binaries are not.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as http from "http";
import type { AddressInfo } from "net";
import * as os from "os";
import * as path from "path";
import { applyStaged, ClusterClient, waitForRevision } from "../../engine/cluster";
import { main } from "../../engine/cli";
import { parseStackConfig } from "../../engine/config";
import type { KubeObject } from "../../engine/flux/api";
import { FleetPlan, renderFleet } from "../../engine/fleet/layout";
import { ensureBareRepo, syncFiles } from "../../engine/git";
import { selectTag } from "../../engine/images";
import { runImageUpdate } from "../../engine/images/update";
import { LocalControlPlane, missingBinaries, missingBinary } from "../../engine/localcluster/controlplane";
import { git } from "../helpers/git";
import { pushTags, startRegistry, TestRegistry } from "../helpers/registry";
import { until } from "../helpers/wait";

const BIN = process.env.GITOPS_E2E_BIN || "/var/cache/gitops-e2e/bin";
const AUTHOR = { name: "e2e", email: "e2e@example.com" };
const NS = "flux-system";
const APP = "app";
const REPO = "team/app";
/** What the test pushes: the semver range ^1.0.0 selects 1.2.0 (not the pre-release, not 2.0.0). */
const TAGS = ["1.0.0", "1.1.0", "1.2.0", "1.3.0-rc.1", "2.0.0", "latest", "sha256-0123456789abcdef.sig"];
const RANGE = "^1.0.0";
/** kustomize-controller's change set line for the app's Deployment, in its apply event. */
const APPLIED = new RegExp(`^Deployment/${APP}/${APP} (created|configured)$`, "m");

const baseMissing = Object.entries(missingBinaries(BIN)).map(([k, v]) => `${k}: ${v}`);
/** Why a part cannot run: the named controllers that are not built, or undefined. */
function needs(...controllers: string[]): string | undefined {
    const why = controllers.map((c) => missingBinary(BIN, c)).filter((w): w is string => !!w);
    return why.length ? why.join("; ") : undefined;
}
const reflectorMissing = needs("image-reflector-controller");
const automationMissing = needs("image-reflector-controller", "image-automation-controller");
const notificationMissing = needs("notification-controller");

/** The message of a commit exactly as stored (`git log --format=%B` would add a newline). */
function commitMessage(repo: string, commit: string): string {
    const raw = git(["cat-file", "commit", commit], repo);
    return raw.slice(raw.indexOf("\n\n") + 2);
}

/** An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it (the generic Provider's address). */
async function startEventSink(): Promise<{ url: string; events: any[]; close(): Promise<void> }> {
    const events: any[] = [];
    const server = http.createServer((req, res) => {
        let body = "";
        req.setEncoding("utf8");
        req.on("data", (d) => (body += d));
        req.on("end", () => {
            try {
                events.push({ ...JSON.parse(body), _headers: req.headers });
            } catch {
                events.push({ _unparsable: body });
            }
            res.writeHead(200).end();
        });
    });
    // Port 0: the kernel picks a free port and this server holds it (no window for another process to take it).
    await new Promise<void>((resolve, reject) => server.once("error", reject).listen(0, "127.0.0.1", () => resolve()));
    const port = (server.address() as AddressInfo).port;
    return { url: `http://127.0.0.1:${port}/events`, events, close: () => new Promise<void>((r) => server.close(() => r())) };
}

describe("e2e: image automation and notifications with the real Flux controllers (objects as the product renders them)", function () {
    let root: string;
    let reg: TestRegistry;
    let sink: Awaited<ReturnType<typeof startEventSink>>;
    let cp: LocalControlPlane | undefined;
    let client: ClusterClient | undefined;
    let plan: FleetPlan;
    /** The commit the product made, and the one image-automation-controller pushed on top of it. */
    let first: string;
    let automated: string | undefined;

    before(async function () {
        if (baseMissing.length) {
            console.log(`    skipped: binaries missing in ${BIN}: ${baseMissing.join("; ")}`);
            this.skip();
        }
        root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-images-e2e-"));
        reg = await startRegistry();
        sink = await startEventSink();
        await pushTags(reg.url, REPO, TAGS);
        const lines: string[] = [];
        cp = await LocalControlPlane.start({ dir: path.join(root, "cp"), bin: BIN, fleetRoot: root, progress: (l) => lines.push(l) });
        console.log(`    ${lines.join("\n    ")}`);
        client = ClusterClient.fromKubeconfig(fs.readFileSync(cp.kubeconfigPath, "utf8"));

        // The stack: Flux runs as processes (no install in the fleet), the app's image is on the
        // loopback registry with a semver policy, automation pushes to main (a dev environment),
        // and a generic provider posts every Kustomization event to the sink.
        const cfg = parseStackConfig(
            {
                cluster: { kind: "aks", aks: { location: "local", fluxExtension: true } },
                fleet: { url: path.join(root, "fleet.git"), clusterUrl: `${cp.fleetUrl}/fleet.git` },
                apps: [{ name: APP, image: `${reg.host}/${REPO}`, tag: "1.0.0", imagePolicy: { semver: RANGE, interval: "1m0s" } }],
                imageAutomation: { enabled: true, pushBranch: "main" },
                notifications: { providers: [{ name: "sink", type: "generic", address: sink.url }], alerts: [{ name: "kustomizations", provider: "sink", sources: [{ kind: "Kustomization", name: "*" }] }] },
            },
            "dev",
        );
        plan = renderFleet(cfg);
        const repo = path.join(root, "fleet.git");
        await ensureBareRepo(repo);
        const c = await syncFiles({ repo, branch: "main", files: plan.files, owned: plan.owned, author: AUTHOR, message: "Reconcile dev", createBranch: true });
        first = c.commit;
        await applyStaged(client, plan.bootstrap);
        await waitForRevision(client, { gitRepository: { name: NS }, kustomizations: plan.kustomizations.map((name) => ({ name })), revision: first, timeoutMs: 300_000, pollMs: 1000 });
    });
    after(async () => {
        client?.close();
        await cp?.stop();
        await reg?.stop();
        await sink?.close();
        if (root && !process.env.GITOPS_E2E_KEEP) fs.rmSync(root, { recursive: true, force: true });
        else if (root) console.log(`    kept ${root}`);
    });

    const json = async (args: string[]) => JSON.parse(await cp!.kubectl([...args, "-o", "json"]));
    const planned = (kind: string) => plan.objects.find((o) => o.object.kind === kind)!.object as KubeObject & { spec: any };
    const condition = (o: any, type: string) => (o?.status?.conditions ?? []).find((c: any) => c.type === type);
    function tailLog(piece: "image-reflector-controller" | "image-automation-controller" | "notification-controller"): string {
        const f = cp!.state.pieces[piece]?.log;
        return f && fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").slice(-20).join("\n") : "(no log)";
    }

    it("image-reflector-controller scans the loopback registry and the rendered ImagePolicy selects the newest tag in the range, as engine/images does", async function () {
        if (reflectorMissing) {
            console.log(`      skipped: ${reflectorMissing}`);
            this.skip();
        }
        const rendered = planned("ImagePolicy");
        assert.deepEqual(rendered.spec.policy, { semver: { range: RANGE } });
        const policy = (
            await until(
                "the ImagePolicy's latestRef",
                async () => {
                    const p = await json(["get", "imagepolicies.image.toolkit.fluxcd.io", "-n", NS, APP]);
                    return p.status?.latestRef ? p : undefined;
                },
                120_000,
                500,
            ).catch((e) => {
                throw new Error(`${(e as Error).message}\nimage-reflector-controller log:\n${tailLog("image-reflector-controller")}`);
            })
        ).value;
        const repo = await json(["get", "imagerepositories.image.toolkit.fluxcd.io", "-n", NS, APP]);
        console.log(`      ImageRepository ${JSON.stringify(repo.status?.lastScanResult)}; ImagePolicy latestRef ${JSON.stringify(policy.status.latestRef)}`);
        assert.equal(condition(repo, "Ready")?.status, "True", condition(repo, "Ready")?.message);
        // The rendered exclusion list (Flux's default, ^.*\.sig$) keeps the signature tag out of the scan.
        assert.equal(repo.status.lastScanResult.tagCount, TAGS.length - 1, "every pushed tag but the .sig one was scanned");
        assert.equal(condition(policy, "Ready")?.status, "True", condition(policy, "Ready")?.message);
        assert.deepEqual(policy.status.latestRef, { name: `${reg.host}/${REPO}`, tag: "1.2.0" });
        assert.equal(selectTag(rendered.spec.policy, rendered.spec.filterTags, TAGS), policy.status.latestRef.tag, "engine/images selects the tag image-reflector-controller selected");
    });

    it("image-automation-controller commits the tag over HTTP through the product's marker; engine/images writes the same commit; kustomize-controller applies it", async function () {
        if (automationMissing) {
            console.log(`      skipped: ${automationMissing}`);
            this.skip();
        }
        const bare = path.join(root, "fleet.git");
        const auto = planned("ImageUpdateAutomation");
        const status = (
            await until(
                "the ImageUpdateAutomation's push",
                async () => {
                    const a = await json(["get", "imageupdateautomations.image.toolkit.fluxcd.io", "-n", NS, auto.metadata.name]);
                    return a.status?.lastPushCommit ? a.status : undefined;
                },
                180_000,
                500,
            ).catch((e) => {
                throw new Error(`${(e as Error).message}\nimage-automation-controller log:\n${tailLog("image-automation-controller")}`);
            })
        ).value;
        automated = status.lastPushCommit as string;
        const file = "apps/dev/kustomization.yaml";
        assert.equal(git(["rev-parse", "refs/heads/main"], bare).trim(), automated, "the push landed on main in the served repo");
        assert.equal(git(["rev-parse", `${automated}^`], bare).trim(), first, "on top of the product's commit");
        assert.deepEqual(git(["diff", "--name-only", first, automated], bare).trim().split("\n"), [file], "only the marked file changed");
        const after = git(["show", `${automated}:${file}`], bare);
        assert.match(after, /newTag: 1\.2\.0 # \{"\$imagepolicy": "flux-system:app:tag"\}/);
        assert.equal(git(["log", "-1", "--format=%an <%ae>", automated], bare).trim(), `${auto.spec.git.commit.author.name} <${auto.spec.git.commit.author.email}>`);

        // Our engine, from the same parent, with the policy's latestRef as the controller saw it.
        const policy = await json(["get", "imagepolicies.image.toolkit.fluxcd.io", "-n", NS, APP]);
        const latest = { namespace: NS, name: APP, latest: policy.status.latestRef };
        const copy = path.join(root, "engine-copy.git");
        git(["clone", "--quiet", "--bare", bare, copy]);
        git(["update-ref", "refs/heads/main", first], copy);
        const ours = await runImageUpdate({
            repo: copy,
            checkoutBranch: auto.spec.git.checkout.ref.branch,
            pushBranch: auto.spec.git.push.branch,
            path: auto.spec.update.path,
            policies: [latest],
            author: auto.spec.git.commit.author,
            messageTemplate: auto.spec.git.commit.messageTemplate,
            automation: { namespace: NS, name: auto.metadata.name },
        });
        assert.ok(ours.commit && ours.pushed, "the engine committed an update");
        assert.equal(commitMessage(copy, ours.commit!), commitMessage(copy, automated), "the same commit message from the product's template");
        assert.equal(git(["rev-parse", `${ours.commit}^{tree}`], copy).trim(), git(["rev-parse", `${automated}^{tree}`], copy).trim(), "the same tree: byte for byte the same files");

        // `gitops image-update` on a checkout of the parent writes the same file.
        const work = path.join(root, "cli-work");
        git(["clone", "--quiet", bare, work]);
        git(["checkout", "--quiet", first], work);
        const out: string[] = [];
        const code = await main(["image-update", "--path", path.join(work, "apps", "dev"), "--latest", `${NS}:${APP}=${latest.latest.name}:${latest.latest.tag}`], { out: (s) => out.push(s), err: (s) => out.push(s) });
        assert.equal(code, 0, out.join(""));
        assert.equal(fs.readFileSync(path.join(work, file), "utf8"), after, `gitops image-update: ${out.join("")}`);

        // kustomize-controller applies the automation's commit: the Deployment runs the new tag.
        await waitForRevision(client!, { gitRepository: { name: NS }, kustomizations: plan.kustomizations.map((name) => ({ name })), revision: automated, timeoutMs: 300_000, pollMs: 1000 });
        const dep = await json(["get", "deployment", APP, "-n", APP]);
        assert.equal(dep.spec.template.spec.containers[0].image, `${reg.host}/${REPO}:1.2.0`);
    });

    it("notification-controller posts the Kustomizations' events to the rendered generic Provider: the payload names the Kustomization and its revision", async function () {
        if (notificationMissing) {
            console.log(`      skipped: ${notificationMissing}`);
            this.skip();
        }
        const provider = planned("Provider");
        assert.equal(provider.spec.type, "generic");
        assert.equal(provider.spec.address, sink.url);
        const revisions = [first, ...(automated ? [automated] : [])];
        const payloads = (
            await until(
                `the apps Kustomization's apply event (naming Deployment/${APP}/${APP}) at each of ${revisions.join(", ")}`,
                async () => {
                    // kustomize-controller also reports waiting (DependencyNotReady) with the revision: the apply event lists the changes.
                    const apps = sink.events.filter((e) => e.involvedObject?.kind === "Kustomization" && e.involvedObject?.name === "apps" && APPLIED.test(e.message ?? ""));
                    const found = revisions.map((r) => apps.find((e) => e.metadata?.revision === `main@sha1:${r}`));
                    return found.every(Boolean) ? found : undefined;
                },
                120_000,
                500,
            ).catch((e) => {
                throw new Error(`${(e as Error).message}\nreceived: ${JSON.stringify(sink.events.map((x) => [x.involvedObject?.kind, x.involvedObject?.name, x.metadata?.revision]))}\nnotification-controller log:\n${tailLog("notification-controller")}`);
            })
        ).value;
        console.log(`      ${sink.events.length} event(s) received; apps: ${payloads.map((p) => `${p.reason} ${p.metadata.revision}`).join(", ")}`);
        for (const p of payloads) {
            assert.equal(p.involvedObject.apiVersion, "kustomize.toolkit.fluxcd.io/v1");
            assert.equal(p.involvedObject.namespace, NS);
            assert.equal(p.reportingController, "kustomize-controller");
            assert.equal(p.severity, "info");
        }
        assert.match(payloads[0].message, new RegExp(`^Deployment/${APP}/${APP} created$`, "m"), "the first commit created the Deployment");
        if (automated) assert.match(payloads[1].message, new RegExp(`^Deployment/${APP}/${APP} configured$`, "m"), "the automation's commit changed its image");
        assert.ok(!sink.events.some((e) => e._unparsable !== undefined), "every payload is JSON");
    });
});
