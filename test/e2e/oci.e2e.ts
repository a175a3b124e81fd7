/**
 * The OCI path end to end with real parts: a fleet rendered from a stack with gitops:fleet.oci,
 * committed to a bare repo, published as an OCI artifact to Debian's docker-registry on
 * 127.0.0.1, pulled by the real source-controller and applied by the real kustomize-controller on
 * the local control plane (engine/localcluster/controlplane.ts, binaries from
 * scripts/e2e-build.sh); then `gitops status` reports the environment applied at that digest with
 * its source commit, and a second commit travels the same way.
 *
 * Signing: a second environment (stack "test", Flux in its own namespace) renders its
 * OCIRepository with gitops:fleet.oci.verify {provider: cosign, secretRef}; its digest is signed
 * with the real cosign CLI and a key pair made for the test (no transparency log: the public key
 * is the trust, as source-controller does when verify.secretRef holds a *.pub key). The real
 * source-controller accepts the signed digest and refuses the unsigned one that follows on the
 * same tag. That case is skipped, saying why, when cosign is not built
 * (`scripts/e2e-build.sh cosign`).
 *
 * Skipped, saying why, when the local control plane module or a binary is not there.
 */
import { strict as assert } from "assert";
import { execFile } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { applyStaged, ClusterClient, findCondition, waitForRevision } from "../../engine/cluster";
import { main } from "../../engine/cli";
import { parseStackConfig } from "../../engine/config";
import { renderFleet } from "../../engine/fleet/layout";
import { ensureBareRepo, syncFiles } from "../../engine/git";
import { publishFleetCommit } from "../../engine/oci";
import type { KubeObject } from "../../engine/flux/api";
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

/** The stack config as Pulumi would hand it over (Pulumi.<stack>.yaml, written to `dir` for `gitops status`). */
async function stackConfig(dir: string, stack: string, lines: string[]) {
    const yaml = ["config:", ...lines, ""].join("\n");
    fs.writeFileSync(path.join(dir, `Pulumi.${stack}.yaml`), yaml);
    const { parse } = await import("yaml");
    const raw = Object.fromEntries(Object.entries(parse(yaml).config).map(([k, v]) => [k.replace(/^gitops:/, ""), v]));
    return parseStackConfig(raw, stack);
}

/**
 * The cosign CLI from scripts/e2e-build.sh, or why it is not there. Its TUF cache goes to the
 * test's folder (TUF_ROOT), and the key password only through the environment.
 */
function cosignCli(): ((args: string[], o: { cwd: string; password: string }) => Promise<string>) | string {
    const bin = path.join(BIN, "cosign");
    if (!fs.existsSync(bin)) {
        const status = fs.existsSync(path.join(BIN, "status", "cosign")) ? fs.readFileSync(path.join(BIN, "status", "cosign"), "utf8").split("\n")[0] : "not built";
        return `${bin} is missing (${status}); build it with \`scripts/e2e-build.sh cosign\``;
    }
    return (args, o) =>
        new Promise((resolve, reject) =>
            execFile(bin, args, { cwd: o.cwd, env: { ...process.env, COSIGN_PASSWORD: o.password, TUF_ROOT: path.join(o.cwd, "tuf"), HOME: o.cwd }, timeout: 120_000 }, (err, stdout, stderr) =>
                err ? reject(new Error(`cosign ${args[0]} failed: ${stderr || err.message}`)) : resolve(stdout),
            ),
        );
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
        const cfg = await stackConfig(dir, "dev", [
            "  gitops:cluster:",
            "    kind: aks",
            "    aks: {location: local, fluxExtension: true}",
            "  gitops:fleet:",
            "    url: fleet.git",
            "    oci:",
            `      repository: oci://${reg.host}/team/fleet`,
            "      insecure: true",
            "  gitops:sync: {wait: false}",
        ]);
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

    it("source-controller verifies the cosign signature: the signed digest is applied, an unsigned one on the same tag is refused", async function () {
        const cosign = cosignCli();
        if (typeof cosign === "string") {
            // eslint-disable-next-line no-console
            console.log(`    skipped: ${cosign}`);
            this.skip();
        }
        // Environment "test" with its Flux objects in their own namespace, so they do not touch dev's.
        const ns = "verified";
        const cfg = await stackConfig(dir, "test", [
            "  gitops:cluster:",
            "    kind: aks",
            "    aks: {location: local, fluxExtension: true}",
            "  gitops:flux:",
            `    namespace: ${ns}`,
            "  gitops:fleet:",
            "    url: test-fleet.git",
            "    oci:",
            `      repository: oci://${reg.host}/team/signed-fleet`,
            "      insecure: true",
            "      verify: {provider: cosign, secretRef: cosign-pub}",
            "  gitops:sync: {wait: false}",
        ]);
        const plan = renderFleet(cfg);
        // Our renderer's OCIRepository, applied as it is: it must carry the verify block.
        const source = plan.bootstrap.find((o) => o.kind === "OCIRepository");
        assert.deepEqual((source?.spec as { verify?: unknown })?.verify, { provider: "cosign", secretRef: { name: "cosign-pub" } });

        const repo = path.join(dir, "test-fleet.git");
        await ensureBareRepo(repo);
        const target = { repository: `oci://${reg.host}/team/signed-fleet`, tag: "test" };
        const c1 = await syncFiles({ repo, branch: "main", files: plan.files, owned: plan.owned, author: AUTHOR, message: "Reconcile test", createBranch: true });
        const signed = await publishFleetCommit({ repo, branch: "main", commit: c1.commit, target });

        // A key pair for this test, and the signature of that digest in the registry (no Rekor).
        // cosign v3 signs into a Sigstore bundle attached as an OCI referrer (docker-registry 2.8
        // has no referrers API, so under the sha256-<digest> tag); --use-signing-config=false, since
        // v3 otherwise fetches the public signing config from TUF and refuses --tlog-upload=false.
        // source-controller v1.9.4 verifies a *.pub key offline (internal/oci/cosign: Offline,
        // IgnoreTlog), so nothing here reaches the internet.
        const keys = path.join(dir, "cosign");
        fs.mkdirSync(keys);
        const password = randomBytes(12).toString("hex");
        const sign = (digest: string) =>
            cosign(["sign", "--key", "cosign.key", "--tlog-upload=false", "--use-signing-config=false", "--allow-http-registry", "--yes", `${reg.host}/team/signed-fleet@${digest}`], { cwd: keys, password });
        await cosign(["generate-key-pair"], { cwd: keys, password });
        await sign(signed.digest);

        const kubeconfig = fs.readFileSync(cp!.kubeconfigPath, "utf8");
        const client = ClusterClient.fromKubeconfig(kubeconfig);
        try {
            const pub: KubeObject = {
                apiVersion: "v1",
                kind: "Secret",
                metadata: { name: "cosign-pub", namespace: ns },
                data: { "cosign.pub": fs.readFileSync(path.join(keys, "cosign.pub")).toString("base64") },
            };
            await applyStaged(client, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: ns } }, pub, ...plan.bootstrap]);
            const applied = (digest: string) =>
                waitForRevision(client, {
                    gitRepository: { name: "flux-system", namespace: ns },
                    sourceKind: "OCIRepository",
                    kustomizations: plan.kustomizations.map((name) => ({ name, namespace: ns })),
                    revision: digest,
                    timeoutMs: 240_000,
                    pollMs: 1000,
                });
            const getSource = () => client.get("source.toolkit.fluxcd.io/v1", "OCIRepository", "flux-system", ns).then((o) => o!);
            const conditions = async () => JSON.stringify(((await getSource()).status as { conditions?: unknown })?.conditions ?? []);

            // The signed digest: verified, pulled and applied.
            const w = await applied(signed.digest);
            assert.equal(w.revision, `test@${signed.digest}`);
            const verified = findCondition(await getSource(), "SourceVerified");
            assert.equal(verified?.status, "True", await conditions());
            assert.match(verified?.message ?? "", new RegExp(`verified signature of revision test@${signed.digest}`));

            // The tag moves to an unsigned digest: source-controller refuses it and keeps the signed artifact.
            const next = { ...plan.files, "apps/test/kustomization.yaml": plan.files["apps/test/kustomization.yaml"].replace(/\n*$/, "\ncommonLabels: {e2e: unsigned}\n") };
            const c2 = await syncFiles({ repo, branch: "main", files: next, owned: plan.owned, author: AUTHOR, message: "Reconcile test", createBranch: true });
            const unsigned = await publishFleetCommit({ repo, branch: "main", commit: c2.commit, target });
            assert.notEqual(unsigned.digest, signed.digest);
            // FleetSync's wait fails at once, quoting source-controller (no waiting out its timeout).
            const t0 = Date.now();
            await assert.rejects(applied(unsigned.digest), (e: Error) => {
                assert.match(e.message, new RegExp(`refused the signature of ${unsigned.digest}: "failed to verify the signature using provider 'cosign': no matching signatures were found`));
                return true;
            });
            assert.ok(Date.now() - t0 < 200_000, "refused before the wait's timeout");
            const refused = findCondition(await getSource(), "Ready");
            assert.equal(refused?.reason, "VerificationError", await conditions());
            const after = await getSource();
            assert.equal(findCondition(after, "SourceVerified")?.status, "False", await conditions());
            assert.equal((after.status as { artifact?: { revision?: string } }).artifact?.revision, `test@${signed.digest}`, "the artifact stays at the signed digest");

            // Signing that digest is all it takes: the refusal was the signature, nothing else.
            await sign(unsigned.digest);
            const w2 = await applied(unsigned.digest);
            assert.equal(w2.revision, `test@${unsigned.digest}`);
            assert.equal(findCondition(await getSource(), "SourceVerified")?.status, "True", await conditions());
        } finally {
            client.close();
        }
    });
});
