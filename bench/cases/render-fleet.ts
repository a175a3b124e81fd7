/**
 * render-5k / preview-pr-5k: a 5,000-object fleet over three environments (bench/fleet.ts), one
 * Flux Kustomization per app and environment, in a bare Git repository.
 *
 * - render-5k, cold (empty render and Git caches): ours renders every Kustomization as Flux would
 *   (renderRevision: kustomize build + postBuild, each in a checkout of the folders it reads);
 *   the peer is `kubectl kustomize apps/<env>` of the three environments on a work tree. The
 *   output is compared byte for byte, environment by environment.
 * - preview-pr-5k, warm (main already rendered): a pull request changes one app's base; ours is
 *   previewRevisions(main, pr), which renders both revisions through the cache (three misses:
 *   the app in each environment) and lists the changed objects; the peer is a full
 *   `kubectl kustomize` of the three environments at the pull request. Output compared too, and
 *   the change list checked.
 * When kustomize v5.8.1 (the kustomize/api of the pinned kustomize-controller) can be built, its
 * time for the same three builds is printed as a second peer, and ours is timed once more
 * building with it (GITOPS_KUSTOMIZE) instead of kubectl.
 *
 * RENDER_FLEET_OBJECTS (default 5000) sizes the fleet; RENDER_FLEET_RUNS (default 3) the runs.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { load1, report } from "../lib";
import { appChange, appName, ENVS, fleetFiles, fleetItems, fleetRepo, pushBranch, shapeFor } from "../fleet";
import { KUSTOMIZE_CLI, kustomizePeer } from "../kustomize-peer";
import { FLUX_BUILD_FLAGS } from "../../engine/render/render";
import { renderRevision, RevisionRender } from "../../engine/render/cache";
import { previewRevisions } from "../../engine/render/preview";

const now = (): number => Number(process.hrtime.bigint()) / 1e9;

/** `kubectl kustomize` (or `kustomize build`) of apps/<env> for every env, one after the other. */
function peerBuild(bin: string, work: string): { seconds: number; outputs: string[] } {
    const t0 = now();
    const outputs = ENVS.map((env) => {
        const args = path.basename(bin).startsWith("kustomize") ? ["build", ...FLUX_BUILD_FLAGS, `apps/${env}`] : ["kustomize", ...FLUX_BUILD_FLAGS, `apps/${env}`];
        const r = spawnSync(bin, args, { cwd: work, encoding: "utf8", maxBuffer: 1 << 30, stdio: ["ignore", "pipe", "pipe"] });
        if (r.status !== 0) throw new Error(`${bin} ${args.join(" ")} failed: ${r.stderr}`);
        return r.stdout;
    });
    return { seconds: now() - t0, outputs };
}

/** Our renders joined per environment, in Kustomization order (what the env-wide build lists). */
function perEnv(renders: readonly RevisionRender[], apps: number): string[] {
    return ENVS.map((_, e) =>
        renders
            .slice(e * apps, (e + 1) * apps)
            .map((r) => r.result.yaml)
            .filter((y) => y !== "")
            .join("---\n"),
    );
}

function compare(ours: string[], peer: string[]): string {
    for (let i = 0; i < ENVS.length; i++) {
        if (ours[i] !== peer[i]) {
            const at = [...ours[i]].findIndex((c, j) => c !== peer[i][j]);
            throw new Error(`output differs from the peer in ${ENVS[i]} at byte ${at}: ours ${JSON.stringify(ours[i].slice(at, at + 80))} peer ${JSON.stringify(peer[i].slice(at, at + 80))}`);
        }
    }
    return "identical";
}

async function main(): Promise<void> {
    const objects = parseInt(process.env.RENDER_FLEET_OBJECTS ?? "5000", 10);
    const runs = Math.max(1, parseInt(process.env.RENDER_FLEET_RUNS ?? "3", 10));
    const shape = shapeFor(objects);
    const total = shape.apps * shape.objectsPerApp * ENVS.length;
    const label = total >= 1000 ? `${Math.round(total / 1000)}k` : String(total);
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-bench-fleet-"));
    const prevCache = process.env.GITOPS_CACHE_DIR;
    try {
        const { bare, work } = fleetRepo(root, fleetFiles(shape));
        const items = fleetItems(shape);
        const k5 = kustomizePeer();
        console.log(`# render-fleet: ${total} objects, ${items.length} Flux Kustomizations (${shape.apps} apps x ${ENVS.length} envs x ${shape.objectsPerApp} objects), ${os.availableParallelism()} CPUs`);

        // --- render-<n>: cold. Alternate ours and the peer; keep the best of each.
        let ours = Infinity;
        let peer = Infinity;
        let peer2 = Infinity;
        let oursK5 = Infinity;
        let output = "";
        for (let i = 0; i < runs; i++) {
            process.env.GITOPS_CACHE_DIR = path.join(root, `cache-cold-${i}`);
            const loadOurs = load1();
            const t0 = now();
            const { renders } = await renderRevision(bare, "main", items);
            const t = now() - t0;
            if (renders.some((r) => r.cache !== "miss")) throw new Error(`cold run ${i}: expected every render to miss, got ${renders.map((r) => r.cache).join(",")}`);
            const count = renders.reduce((n, r) => n + r.result.objects.length, 0);
            if (count !== total) throw new Error(`rendered ${count} objects, expected ${total}`);
            const loadPeer = load1();
            const p = peerBuild("kubectl", work);
            output = compare(perEnv(renders, shape.apps), p.outputs);
            console.log(`# render-${label} run ${i + 1}: ours=${t.toFixed(3)}s (load1 ${loadOurs}) kubectl=${p.seconds.toFixed(3)}s (load1 ${loadPeer}) output=${output}`);
            ours = Math.min(ours, t);
            peer = Math.min(peer, p.seconds);
            if (k5 && i === 0) {
                const q = peerBuild(k5, work);
                compare(perEnv(renders, shape.apps), q.outputs);
                peer2 = q.seconds;
                console.log(`# render-${label} run ${i + 1}: kustomize ${KUSTOMIZE_CLI}=${q.seconds.toFixed(3)}s (load1 ${load1()}) output=identical`);
                // Ours again, building with that kustomize (GITOPS_KUSTOMIZE) instead of kubectl.
                process.env.GITOPS_CACHE_DIR = path.join(root, "cache-cold-k5");
                process.env.GITOPS_KUSTOMIZE = k5;
                const loadK5 = load1();
                const t1 = now();
                const again = await renderRevision(bare, "main", items);
                oursK5 = now() - t1;
                delete process.env.GITOPS_KUSTOMIZE;
                compare(perEnv(again.renders, shape.apps), p.outputs);
                console.log(`# render-${label} run ${i + 1}: ours with GITOPS_KUSTOMIZE=kustomize ${KUSTOMIZE_CLI}: ${oursK5.toFixed(3)}s (load1 ${loadK5}) output=identical`);
            }
        }
        report(`render-${label}`, ours, peer, { peer_is: "kubectl-kustomize-3-envs", output, cache: "cold", runs, load1: load1(), ...(k5 ? { [`kustomize_${KUSTOMIZE_CLI}`]: peer2.toFixed(4), [`ours_with_kustomize_${KUSTOMIZE_CLI}`]: oursK5.toFixed(4) } : {}) });

        // --- preview-pr-<n>: warm. The cache holds main; each run is a new pull request touching one app.
        // The first cold run left main's renders (built with kubectl) in its cache.
        process.env.GITOPS_CACHE_DIR = path.join(root, "cache-cold-0");
        let best = Infinity;
        let bestK5 = Infinity;
        let peerPr = Infinity;
        let outputPr = "";
        for (let i = 0; i < runs; i++) {
            const app = (7 + 13 * i) % shape.apps;
            const branch = `pr-${i + 1}`;
            pushBranch(work, bare, branch, appChange(shape, app, `pr${i + 1}`));
            const loadOurs = load1();
            const t0 = now();
            const p = await previewRevisions(bare, "main", branch, items);
            const t = now() - t0;
            const misses = p.headRenders.filter((r) => r.cache === "miss").map((r) => r.path);
            const expectMisses = ENVS.map((env) => `apps/${env}/${appName(app)}`);
            if (JSON.stringify(misses) !== JSON.stringify(expectMisses)) throw new Error(`run ${i}: misses ${misses.join(",")}, expected ${expectMisses.join(",")}`);
            if (p.baseRenders.some((r) => r.cache !== "hit")) throw new Error(`run ${i}: main was not served from the cache`);
            const changed = shape.objectsPerApp / 2;
            const expected = ENVS.length * Math.floor(changed);
            if (p.counts.configured !== expected || p.changes.length !== expected || p.changes.some((c) => c.action !== "configured" || !c.id.includes(`_${c.path.split("/")[1]}-${appName(app)}-`))) {
                throw new Error(`run ${i}: unexpected changes ${JSON.stringify(p.changes.slice(0, 5))} (${p.changes.length}), expected ${expected} ConfigMaps of ${appName(app)} configured`);
            }
            let note = "";
            if (i === 0 || i === runs - 1) {
                const loadPeer = load1();
                const q = peerBuild("kubectl", work);
                outputPr = compare(perEnv(p.headRenders, shape.apps), q.outputs);
                peerPr = Math.min(peerPr, q.seconds);
                note = ` kubectl=${q.seconds.toFixed(3)}s (load1 ${loadPeer}) output=${outputPr}`;
            }
            console.log(`# preview-pr-${label} run ${i + 1}: ours=${t.toFixed(3)}s (load1 ${loadOurs}, ${p.changes.length} objects configured, ${misses.length} renders built)${note}`);
            best = Math.min(best, t);
            if (k5) {
                // The same pull request, building with kustomize (its cold run left main in cache-cold-k5).
                process.env.GITOPS_CACHE_DIR = path.join(root, "cache-cold-k5");
                process.env.GITOPS_KUSTOMIZE = k5;
                const loadK5 = load1();
                const t1 = now();
                const q = await previewRevisions(bare, "main", branch, items);
                const tk = now() - t1;
                delete process.env.GITOPS_KUSTOMIZE;
                process.env.GITOPS_CACHE_DIR = path.join(root, "cache-cold-0");
                if (JSON.stringify(q.changes) !== JSON.stringify(p.changes)) throw new Error(`run ${i}: the preview with kustomize ${KUSTOMIZE_CLI} differs`);
                if (q.headRenders.some((r, j) => r.result.yaml !== p.headRenders[j].result.yaml)) throw new Error(`run ${i}: renders with kustomize ${KUSTOMIZE_CLI} differ`);
                console.log(`# preview-pr-${label} run ${i + 1}: ours with GITOPS_KUSTOMIZE=kustomize ${KUSTOMIZE_CLI}: ${tk.toFixed(3)}s (load1 ${loadK5}) output=identical`);
                bestK5 = Math.min(bestK5, tk);
            }
        }
        report(`preview-pr-${label}`, best, peerPr, { peer_is: "kubectl-kustomize-3-envs", output: outputPr, cache: "warm", runs, load1: load1(), ...(k5 ? { [`ours_with_kustomize_${KUSTOMIZE_CLI}`]: bestK5.toFixed(4) } : {}) });
    } finally {
        if (prevCache === undefined) delete process.env.GITOPS_CACHE_DIR;
        else process.env.GITOPS_CACHE_DIR = prevCache;
        fs.rmSync(root, { recursive: true, force: true });
    }
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
