/**
 * The upstream Flux CRDs (engine/flux/upstream.ts) on the real kube-apiserver + etcd built by
 * scripts/e2e-build.sh: they apply server-side and become Established, the API server's schema
 * validation rejects an invalid Kustomization with the field at fault, and it fills in omitted
 * defaulted fields — what the hand-made schema-less CRDs never did.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadUpstreamInstall } from "../../engine/flux/upstream";
import { LocalControlPlane } from "../../engine/localcluster/controlplane";
import { binaries } from "./lib/pulumi";

const BIN = process.env.GITOPS_E2E_BIN || "/var/cache/gitops-e2e/bin";

describe("e2e: upstream Flux CRDs on the real kube-apiserver", function () {
    this.timeout(300_000);
    let root: string;
    let cluster: LocalControlPlane;

    before(async function () {
        const { missing } = binaries(BIN, ["etcd", "kube-apiserver"]);
        if (Object.keys(missing).length > 0) {
            console.log(`      skipped (not built): ${Object.entries(missing).map(([n, why]) => `${n}: ${why}`).join("; ")}`);
            this.skip();
        }
        root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-e2e-crds-"));
        cluster = await LocalControlPlane.start({ dir: root, bin: BIN, pieces: "api" });
        const crds = path.join(root, "crds.yaml");
        fs.writeFileSync(crds, loadUpstreamInstall({ components: ["source-controller", "kustomize-controller", "helm-controller", "notification-controller", "image-reflector-controller", "image-automation-controller"] }).crds);
        await cluster.kubectl(["apply", "--server-side", "--field-manager=gitops-e2e", "-f", crds]);
        await cluster.kubectl(["wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"]);
        await cluster.kubectl(["create", "namespace", "flux-system"]);
    });

    after(async () => {
        await cluster?.stop();
        if (root && !process.env.GITOPS_E2E_KEEP) fs.rmSync(root, { recursive: true, force: true });
    });

    const kustomization = (spec: Record<string, unknown>) => JSON.stringify({ apiVersion: "kustomize.toolkit.fluxcd.io/v1", kind: "Kustomization", metadata: { name: "apps", namespace: "flux-system" }, spec });

    async function rejected(doc: string): Promise<string> {
        try {
            await cluster.kubectl(["apply", "--server-side", "--field-manager=gitops-e2e", "-f", "-"], doc);
        } catch (e) {
            return (e as Error).message;
        }
        assert.fail(`the API server accepted ${doc}`);
    }

    it("serves every Flux kind the install defines", async () => {
        const kinds = await cluster.kubectl(["api-resources", "--api-group=kustomize.toolkit.fluxcd.io", "-o", "name"]) + await cluster.kubectl(["api-resources", "--api-group=source.toolkit.fluxcd.io", "-o", "name"]);
        for (const r of ["kustomizations.kustomize.toolkit.fluxcd.io", "gitrepositories.source.toolkit.fluxcd.io", "ocirepositories.source.toolkit.fluxcd.io", "helmrepositories.source.toolkit.fluxcd.io"]) assert.match(kinds, new RegExp(`^${r.replace(/\./g, "\\.")}$`, "m"));
    });

    it("rejects an invalid Kustomization by schema validation, naming the field", async () => {
        const missing = await rejected(kustomization({ interval: "5m", path: "./apps", sourceRef: { kind: "GitRepository", name: "flux-system" } }));
        assert.match(missing, /spec\.prune: Required value/);
        const badInterval = await rejected(kustomization({ interval: "5 minutes", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "flux-system" } }));
        assert.match(badInterval, /spec\.interval in body should match/);
        const badKind = await rejected(kustomization({ interval: "5m", prune: true, sourceRef: { kind: "Helm", name: "flux-system" } }));
        assert.match(badKind, /spec\.sourceRef\.kind: Unsupported value: "Helm"/);
        assert.match(await cluster.kubectl(["get", "kustomizations", "-n", "flux-system", "-o", "name"]), /^$/, "nothing was stored");
    });

    it("fills in omitted defaulted fields", async () => {
        await cluster.kubectl(["apply", "--server-side", "--field-manager=gitops-e2e", "-f", "-"], kustomization({ interval: "5m", path: "./apps", prune: true, sourceRef: { kind: "GitRepository", name: "flux-system" } }));
        const ks = JSON.parse(await cluster.kubectl(["get", "kustomization", "apps", "-n", "flux-system", "-o", "json"]));
        assert.strictEqual(ks.spec.force, false, "spec.force defaults to false");
        const repo = { apiVersion: "source.toolkit.fluxcd.io/v1", kind: "GitRepository", metadata: { name: "flux-system", namespace: "flux-system" }, spec: { interval: "1m", url: "http://127.0.0.1:1/fleet.git" } };
        await cluster.kubectl(["apply", "--server-side", "--field-manager=gitops-e2e", "-f", "-"], JSON.stringify(repo));
        const gr = JSON.parse(await cluster.kubectl(["get", "gitrepository", "flux-system", "-n", "flux-system", "-o", "json"]));
        assert.strictEqual(gr.spec.timeout, "60s", "spec.timeout defaults to 60s");
    });
});
