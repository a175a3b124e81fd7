/**
 * The OCI path end to end with real parts: a fleet rendered from a stack with gitops:fleet.oci,
 * committed to a bare repo, published as an OCI artifact to Debian's docker-registry on
 * 127.0.0.1, pulled by the real source-controller and applied by the real kustomize-controller on
 * the local control plane (engine/localcluster/controlplane.ts, binaries from
 * scripts/e2e-build.sh); then `gitops status` reports the environment applied at that digest with
 * its source commit, and a second commit travels the same way.
 *
 * Skipped, saying why, when the local control plane module or a binary is not there.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { applyStaged, ClusterClient, waitForRevision } from "../../engine/cluster";
import { main } from "../../engine/cli";
import { parseStackConfig } from "../../engine/config";
import { renderFleet } from "../../engine/fleet/layout";
import { ensureBareRepo, syncFiles } from "../../engine/git";
import { publishFleetCommit } from "../../engine/oci";
import { startRegistry, TestRegistry } from "../helpers/registry";

const ROOT = path.join(__dirname, "..", "..");
const BIN = process.env.GITOPS_E2E_BIN || "/var/cache/gitops-e2e/bin";
const AUTHOR = { name: "e2e", email: "e2e@example.com" };

interface ControlPlane {
    kubeconfigPath: string;
    stop(): Promise<void>;
}
interface ControlPlaneModule {
    LocalControlPlane: { start(o: { dir: string; bin?: string; helm?: boolean | "auto"; progress?: (l: string) => void }): Promise<ControlPlane> };
    missingBinaries(bin?: string): Record<string, string>;
}

/** The local control plane module, when this tree has it (helper "localcluster"). */
function controlPlaneModule(): ControlPlaneModule | string {
    const file = path.join(ROOT, "engine", "localcluster", "controlplane.ts");
    if (!fs.existsSync(file)) return "engine/localcluster/controlplane.ts is not in this tree";
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const m = require(file) as ControlPlaneModule;
    const missing = Object.entries(m.missingBinaries(BIN)).map(([k, v]) => `${k}: ${v}`);
    return missing.length ? `binaries missing in ${BIN}: ${missing.join("; ")}` : m;
}

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = "";
    let err = "";
    const code = await main(args, { out: (t) => void (out += t), err: (t) => void (err += t) });
    return { code, out, err };
}

describe("e2e: a commit travels as an OCI artifact to the real source-controller", function () {
    let mod: ControlPlaneModule | string;
    let reg: TestRegistry;
    let cp: ControlPlane | undefined;
    let dir: string;

    before(async function () {
        mod = controlPlaneModule();
        if (typeof mod === "string") {
            // eslint-disable-next-line no-console
            console.log(`    skipped: ${mod}`);
            this.skip();
        }
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-oci-e2e-"));
        process.env.GITOPS_CACHE_DIR = path.join(dir, "cache");
        reg = await startRegistry();
        cp = await (mod as ControlPlaneModule).LocalControlPlane.start({ dir: path.join(dir, "local"), bin: BIN, helm: false });
    });
    after(async () => {
        await cp?.stop();
        await reg?.stop();
        delete process.env.GITOPS_CACHE_DIR;
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("source-controller pulls the exact digest, kustomize-controller applies it, and gitops status reports it with its source commit", async () => {
        // A stack without the Flux install in the fleet (the control plane runs the controllers as
        // processes), publishing its fleet as an OCI artifact.
        const stackYaml = [
            "config:",
            "  gitops:cluster:",
            "    kind: aks",
            "    aks: {location: local, fluxExtension: true}",
            "  gitops:fleet:",
            "    url: fleet.git",
            "    oci:",
            `      repository: oci://${reg.host}/team/fleet`,
            "      insecure: true",
            "  gitops:sync: {wait: false}",
            "",
        ].join("\n");
        fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), stackYaml);
        const { parse } = await import("yaml");
        const raw = Object.fromEntries(Object.entries(parse(stackYaml).config).map(([k, v]) => [k.replace(/^gitops:/, ""), v]));
        const cfg = parseStackConfig(raw, "dev");
        const plan = renderFleet(cfg);
        const repo = path.join(dir, "fleet.git");
        await ensureBareRepo(repo);
        const c1 = await syncFiles({ repo, branch: "main", files: plan.files, owned: plan.owned, author: AUTHOR, message: "Reconcile dev", createBranch: true });
        const a1 = await publishFleetCommit({ repo, branch: "main", commit: c1.commit, target: { repository: `oci://${reg.host}/team/fleet`, tag: "dev" } });

        // The bootstrap: the flux-system OCIRepository + Kustomization, as FleetSync applies them.
        const kubeconfig = fs.readFileSync(cp!.kubeconfigPath, "utf8");
        const client = ClusterClient.fromKubeconfig(kubeconfig);
        try {
            await applyStaged(client, plan.bootstrap);
            const applied = (digest: string) =>
                waitForRevision(client, {
                    gitRepository: { name: "flux-system" },
                    sourceKind: "OCIRepository",
                    kustomizations: plan.kustomizations.map((name) => ({ name })),
                    revision: digest,
                    timeoutMs: 240_000,
                    pollMs: 1000,
                });
            const w = await applied(a1.digest);
            assert.equal(w.revision, `dev@${a1.digest}`, "source-controller reports the exact digest");

            const s1 = await run(["status", "--stack", "dev", "-o", "json", "--dir", dir, "--kubeconfig", cp!.kubeconfigPath]);
            const env = JSON.parse(s1.out).environments[0];
            assert.equal(s1.code, 0, env?.differences?.join("\n") ?? s1.err);
            assert.equal(env.inSync, true);
            assert.equal(env.desired.digest, a1.digest);
            assert.equal(env.trail.commit, c1.commit, "the trail leads back to the fleet commit");
            assert.equal(env.desired.sourceRevision, `main@sha1:${c1.commit}`);

            // A second commit (an app overlay change) travels the same way.
            const next = { ...plan.files, "apps/dev/kustomization.yaml": plan.files["apps/dev/kustomization.yaml"].replace(/\n*$/, "\ncommonLabels: {e2e: second}\n") };
            const c2 = await syncFiles({ repo, branch: "main", files: next, owned: plan.owned, author: AUTHOR, message: "Reconcile dev", createBranch: true });
            const a2 = await publishFleetCommit({ repo, branch: "main", commit: c2.commit, target: { repository: `oci://${reg.host}/team/fleet`, tag: "dev" } });
            assert.notEqual(a2.digest, a1.digest);
            await applied(a2.digest);
            const s2 = JSON.parse((await run(["status", "--stack", "dev", "-o", "json", "--dir", dir, "--kubeconfig", cp!.kubeconfigPath])).out).environments[0];
            assert.equal(s2.inSync, true, s2.differences.join("\n"));
            assert.equal(s2.trail.commit, c2.commit);
        } finally {
            client.close();
        }
    });
});
