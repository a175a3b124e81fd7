/**
 * gitops:fleet.oci: the config key (defaults, errors naming the key) and what it renders: the
 * flux-system OCIRepository (with verify.provider cosign) and every fleet Kustomization sourcing
 * from it, built with a real `kubectl kustomize`.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import { parseStackConfig, StackConfigError } from "../../engine/config";
import { renderFleet } from "../../engine/fleet/layout";

const OCI = { repository: "oci://127.0.0.1:5000/team/fleet" };

function problems(raw: Record<string, unknown>): string[] {
    try {
        parseStackConfig(raw, "dev");
    } catch (e) {
        if (e instanceof StackConfigError) return e.problems;
        throw e;
    }
    return [];
}

describe("fleet: gitops:fleet.oci", () => {
    it("defaults: absent means Git; present, the tag is the stack and the cluster reaches the same repository", () => {
        assert.strictEqual(parseStackConfig({}, "dev").fleet.oci, undefined);
        const cfg = parseStackConfig({ fleet: { oci: OCI } }, "dev");
        assert.deepStrictEqual(cfg.fleet.oci, { repository: OCI.repository, clusterRepository: OCI.repository, tag: "dev", insecure: false, secretRef: undefined });
    });

    it("refuses a bad repository, tag or verify provider, naming the key", () => {
        const p = problems({ fleet: { oci: { repository: "https://ghcr.io/x", tag: "-x", verify: { provider: "gpg" }, extra: 1 } } });
        assert.ok(p.some((m) => m.startsWith("gitops:fleet.oci.repository must be an OCI repository URL without tag")), p.join("\n"));
        assert.ok(p.some((m) => m.startsWith("gitops:fleet.oci.tag must be an OCI tag")), p.join("\n"));
        assert.ok(p.some((m) => m.startsWith("gitops:fleet.oci.verify.provider must be one of cosign, notation")), p.join("\n"));
        assert.ok(p.some((m) => m.startsWith("gitops:fleet.oci.extra is not a known setting")), p.join("\n"));
        assert.ok(problems({ fleet: { oci: { repository: "oci://ghcr.io/acme/fleet:dev" } } }).some((m) => m.startsWith("gitops:fleet.oci.repository")), "a tag in the repository is refused");
        assert.ok(problems({ fleet: { oci: {} } }).some((m) => /gitops:fleet\.oci\.repository is required/.test(m)));
        const cred = problems({ fleet: { oci: { repository: "oci://bot:hunter2@ghcr.io/acme/fleet" } } });
        assert.ok(cred.some((m) => /^gitops:fleet\.oci\.repository holds a password in the URL.*gitops:registryCredentials/.test(m)), cred.join("\n"));
        assert.ok(!cred.join("\n").includes("hunter2"), "the password is never echoed");
        const both = problems({ fleet: { oci: OCI }, imageAutomation: { enabled: true } });
        assert.ok(both.some((m) => /imageAutomation\.enabled needs the flux-system GitRepository.*fleet\.oci/.test(m)), both.join("\n"));
    });

    it("renders the flux-system OCIRepository (verify cosign) and sources every Kustomization from it", () => {
        const cfg = parseStackConfig(
            {
                fleet: { oci: { ...OCI, clusterRepository: "oci://registry.local:5000/team/fleet", insecure: true, secretRef: "fleet-pull", verify: { provider: "cosign", secretRef: "cosign-pub" } } },
                kustomizations: [{ name: "extra", path: "./extra" }],
            },
            "dev",
        );
        const plan = renderFleet(cfg);
        const out = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-fleet-oci-"));
        try {
            for (const [p, c] of Object.entries(plan.files)) {
                fs.mkdirSync(path.dirname(path.join(out, p)), { recursive: true });
                fs.writeFileSync(path.join(out, p), c);
            }
            const r = spawnSync("kubectl", ["kustomize", path.join(out, "clusters/dev")], { encoding: "utf8", maxBuffer: 64 << 20 });
            assert.strictEqual(r.status, 0, r.stderr);
            const objs = parseAllDocuments(r.stdout).map((d) => d.toJS()).filter(Boolean);
            const repo = objs.find((o) => o.kind === "OCIRepository" && o.metadata.name === "flux-system");
            assert.deepStrictEqual(repo.spec, {
                interval: "1m0s",
                url: "oci://registry.local:5000/team/fleet",
                ref: { tag: "dev" },
                insecure: true,
                secretRef: { name: "fleet-pull" },
                verify: { provider: "cosign", secretRef: { name: "cosign-pub" } },
            });
            assert.ok(!objs.some((o) => o.kind === "GitRepository" && o.metadata.name === "flux-system"), "no flux-system GitRepository");
            const ks = objs.filter((o) => o.kind === "Kustomization" && o.apiVersion.startsWith("kustomize.toolkit"));
            assert.deepStrictEqual(ks.map((k) => k.metadata.name).sort(), ["apps", "extra", "flux-system", "infrastructure-manifests", "infrastructure-releases"]);
            for (const k of ks) assert.deepStrictEqual(k.spec.sourceRef, { kind: "OCIRepository", name: "flux-system" }, k.metadata.name);
            assert.strictEqual(ks.find((k) => k.metadata.name === "flux-system").spec.path, "./clusters/dev");
            // The bootstrap FleetSync applies is the same object.
            assert.deepStrictEqual(plan.bootstrap.find((o) => o.kind === "OCIRepository")?.spec, repo.spec);
        } finally {
            fs.rmSync(out, { recursive: true, force: true });
        }
    });
});
