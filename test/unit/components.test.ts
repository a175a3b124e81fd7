/**
 * The fleet's Flux builders produce Flux's v1 shapes; a cluster's
 * node shape is a replace; the deploy key is a real OpenSSH key (checked with ssh-keygen).
 */
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { objectId } from "../../engine/cluster/ids";
import { gitRepository, helmRelease, helmRepository, kustomization, ociRepository } from "../../engine/fleet/objects";
import { generateEd25519 } from "../../engine/keys/ssh";
import { k3dCreateArgs, kindConfig } from "../../engine/localcluster";

describe("fleet objects: Flux sources and syncs (the builders the fleet plan writes with)", () => {
    const src = (o: Record<string, unknown>) => ({ namespace: "flux-system", interval: "1m0s", ...o }) as any;

    it("gitRepository mirrors GitRepository v1: ref, ignore, secretRef, verify", () => {
        const s = gitRepository(src({ name: "podinfo", kind: "git", url: "https://github.com/stefanprodan/podinfo", ref: { semver: ">=6.0.0" }, ignore: "/*\n!/kustomize", secretRef: "podinfo-auth", verify: { mode: "Tag", secretRef: "pgp-keys" } }));
        assert.deepStrictEqual(s, {
            apiVersion: "source.toolkit.fluxcd.io/v1",
            kind: "GitRepository",
            metadata: { name: "podinfo", namespace: "flux-system" },
            spec: { interval: "1m0s", url: "https://github.com/stefanprodan/podinfo", ref: { semver: ">=6.0.0" }, secretRef: { name: "podinfo-auth" }, ignore: "/*\n!/kustomize", verify: { mode: "Tag", secretRef: { name: "pgp-keys" } } },
        });
        assert.strictEqual(objectId(s), "flux-system_podinfo_source.toolkit.fluxcd.io_GitRepository");
    });

    it("ociRepository mirrors OCIRepository v1: digest ref, layerSelector, keyless cosign verify", () => {
        const s = ociRepository(
            src({
                name: "manifests",
                kind: "oci",
                url: "oci://ghcr.io/acme/manifests",
                ref: { digest: "sha256:abc" },
                layerSelector: { mediaType: "application/vnd.cncf.flux.content.v1.tar+gzip", operation: "extract" },
                verify: { provider: "cosign", matchOIDCIdentity: [{ issuer: "^https://token.actions.githubusercontent.com$", subject: "^https://github.com/acme/.*$" }] },
            }),
        );
        assert.deepStrictEqual(s.spec, {
            interval: "1m0s",
            url: "oci://ghcr.io/acme/manifests",
            ref: { digest: "sha256:abc" },
            layerSelector: { mediaType: "application/vnd.cncf.flux.content.v1.tar+gzip", operation: "extract" },
            verify: { provider: "cosign", matchOIDCIdentity: [{ issuer: "^https://token.actions.githubusercontent.com$", subject: "^https://github.com/acme/.*$" }] },
        });
    });

    it("helmRepository: default and oci", () => {
        assert.deepStrictEqual(helmRepository(src({ name: "bitnami", kind: "helm", url: "https://charts.bitnami.com/bitnami", interval: "1h0m0s", type: "default" })).spec, { interval: "1h0m0s", url: "https://charts.bitnami.com/bitnami" });
        assert.deepStrictEqual(helmRepository(src({ name: "podinfo-oci", kind: "helm", url: "oci://ghcr.io/stefanprodan/charts", interval: "1h0m0s", type: "oci" })).spec, { interval: "1h0m0s", url: "oci://ghcr.io/stefanprodan/charts", type: "oci" });
        assert.deepStrictEqual(helmRepository(src({ name: "local", kind: "helm", url: "oci://127.0.0.1:5000/charts", interval: "1h0m0s", type: "oci", insecure: true })).spec, { interval: "1h0m0s", url: "oci://127.0.0.1:5000/charts", type: "oci", insecure: true });
    });

    it("kustomization: path, prune, dependsOn, healthChecks, wait, timeout, postBuild, targetNamespace, SOPS", () => {
        const k = kustomization({
            name: "apps",
            namespace: "flux-system",
            path: "apps/dev",
            sourceRef: { kind: "GitRepository", name: "flux-system" },
            interval: "10m0s",
            dependsOn: ["infrastructure-manifests"],
            healthChecks: [{ apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "web" }],
            wait: false,
            timeout: "3m0s",
            targetNamespace: "web",
            substitute: { zeta: "1", alpha: "2" },
            substituteFrom: [{ kind: "ConfigMap", name: "vars" }, { kind: "Secret", name: "secret-vars", optional: true }],
            decryption: { provider: "sops", secretRef: "sops-age" },
        });
        assert.deepStrictEqual(k, {
            apiVersion: "kustomize.toolkit.fluxcd.io/v1",
            kind: "Kustomization",
            metadata: { name: "apps", namespace: "flux-system" },
            spec: {
                interval: "10m0s",
                timeout: "3m0s",
                path: "./apps/dev",
                prune: true,
                wait: false,
                sourceRef: { kind: "GitRepository", name: "flux-system" },
                dependsOn: [{ name: "infrastructure-manifests" }],
                healthChecks: [{ apiVersion: "apps/v1", kind: "Deployment", name: "web", namespace: "web" }],
                targetNamespace: "web",
                postBuild: { substitute: { alpha: "2", zeta: "1" }, substituteFrom: [{ kind: "ConfigMap", name: "vars" }, { kind: "Secret", name: "secret-vars", optional: true }] },
                decryption: { provider: "sops", secretRef: { name: "sops-age" } },
            },
        });
    });

    it("helmRelease: chart, version, values, valuesFrom, install/upgrade remediation", () => {
        const r = helmRelease(
            {
                name: "podinfo",
                namespace: "podinfo",
                chart: "podinfo",
                version: "6.9.2",
                source: "podinfo",
                interval: "10m0s",
                values: { replicaCount: 2 },
                valuesFrom: [{ kind: "ConfigMap", name: "podinfo-values", valuesKey: "values.yaml" }],
                install: { createNamespace: true, remediation: { retries: 3 } },
                upgrade: { remediation: { retries: 3, remediateLastFailure: true, strategy: "rollback" } },
                dependsOn: [],
            } as any,
            "flux-system",
        );
        assert.deepStrictEqual(r.spec.chart, { spec: { chart: "podinfo", version: "6.9.2", sourceRef: { kind: "HelmRepository", name: "podinfo", namespace: "flux-system" } } });
        assert.deepStrictEqual(r.spec.values, { replicaCount: 2 });
        assert.deepStrictEqual(r.spec.install, { createNamespace: true, remediation: { retries: 3 } });
        assert.deepStrictEqual(r.spec.upgrade, { remediation: { retries: 3, remediateLastFailure: true, strategy: "rollback" } });
        assert.strictEqual(r.metadata.name, "podinfo");
    });
});

describe("components: local clusters", () => {
    it("a change to the node shape is a replace, so preview shows it as one", async () => {
        const { localClusterProvider } = require("../../components/cluster/local");
        const olds = { tool: "k3d", name: "gitops-dev", workers: 3, servers: 1, ports: ["8080:80@loadbalancer"], kubeconfig: "x" };
        const same = await localClusterProvider.diff("k3d/gitops-dev", olds, { ...olds, kubeconfig: undefined });
        assert.deepStrictEqual([same.changes, same.replaces], [false, []]);
        const moreAgents = await localClusterProvider.diff("k3d/gitops-dev", olds, { ...olds, workers: 5 });
        assert.deepStrictEqual([moreAgents.changes, moreAgents.replaces], [true, ["workers"]]);
        const renamed = await localClusterProvider.diff("k3d/gitops-dev", olds, { ...olds, name: "gitops-dev2" });
        assert.deepStrictEqual(renamed.replaces, ["name"]);
        assert.strictEqual(renamed.deleteBeforeReplace, false, "a new name can be created before the old one is deleted");
        const ports = await localClusterProvider.diff("k3d/gitops-dev", olds, { ...olds, ports: ["9090:80@loadbalancer"] });
        assert.strictEqual(ports.deleteBeforeReplace, true, "the same name must be deleted before it is created again");
    });

    it("the local control plane: another folder or fleet port is a replace; stopped processes are an update that starts them; a bad port fails check", async () => {
        const { controlPlaneProvider } = require("../../components/cluster/local");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-cp-diff-"));
        const running = spawn("sleep", ["60"], { stdio: "ignore" });
        try {
            const olds = { dir, fleetRoot: "/p/.fleet", fleetPort: 8765, kubeconfig: "x" };
            const stopped = await controlPlaneProvider.diff(`local/${dir}`, olds, { ...olds, kubeconfig: undefined });
            assert.deepStrictEqual([stopped.changes, stopped.replaces, Object.keys(stopped.detailedDiff)], [true, [], ["running"]]);
            fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify({ pieces: { etcd: { pid: running.pid, exe: "/usr/bin/sleep", ports: {}, log: "", startedAt: "" } }, skipped: {} }));
            const same = await controlPlaneProvider.diff(`local/${dir}`, olds, { ...olds, kubeconfig: undefined });
            assert.deepStrictEqual([same.changes, same.replaces], [false, []]);
            const port = await controlPlaneProvider.diff(`local/${dir}`, olds, { ...olds, fleetPort: 9000 });
            assert.deepStrictEqual([port.changes, port.replaces, port.deleteBeforeReplace], [true, ["fleetPort"], true]);
            const bad = await controlPlaneProvider.check({}, { dir: "rel", fleetRoot: "/x", fleetPort: 0 });
            assert.deepStrictEqual(bad.failures.map((f: any) => f.property), ["dir", "fleetPort"]);
        } finally {
            running.kill("SIGKILL");
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("passes k3d its agents and port mappings, and kind its mounts and ports", () => {
        assert.deepStrictEqual(k3dCreateArgs({ tool: "k3d", name: "c", workers: 3, servers: 1, ports: ["8080:80@loadbalancer"] }), [
            "cluster", "create", "c", "--agents", "3", "--servers", "1", "--wait", "--kubeconfig-update-default=false", "--kubeconfig-switch-context=false", "--port", "8080:80@loadbalancer",
        ]);
        const kind = kindConfig({ tool: "kind", name: "c", workers: 1, extraMounts: [{ hostPath: "/src", containerPath: "/src", readOnly: true }], portMappings: [{ containerPort: 80, hostPort: 8080, protocol: "TCP" }] });
        assert.strictEqual(kind, "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: c\nnodes:\n  - role: control-plane\n    extraMounts:\n      - hostPath: /src\n        containerPath: /src\n        readOnly: true\n    extraPortMappings:\n      - containerPort: 80\n        hostPort: 8080\n        protocol: TCP\n  - role: worker\n");
    });

    it("says how to fix a missing k3d binary", async () => {
        const lc = require("../../engine/localcluster");
        const saved = process.env.PATH;
        process.env.PATH = "/nonexistent";
        try {
            await assert.rejects(lc.exists({ tool: "k3d", name: "c", workers: 1 }), /gitops:cluster\.kind: k3d is not on PATH \(install k3d and Docker \(see README\), or set gitops:cluster\.kind to "existing" or "none"\)/);
        } finally {
            process.env.PATH = saved;
        }
    });
});

describe("keys: generated deploy keys are real OpenSSH keys", () => {
    it("ssh-keygen derives the same public key and fingerprint from the private key", () => {
        const k = generateEd25519("flux-system");
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-key-"));
        try {
            const file = path.join(dir, "id");
            fs.writeFileSync(file, k.privateKey, { mode: 0o600 });
            const pub = spawnSync("ssh-keygen", ["-y", "-f", file], { encoding: "utf8" });
            assert.strictEqual(pub.status, 0, pub.stderr);
            assert.strictEqual(pub.stdout.trim(), k.publicKey);
            const fp = spawnSync("ssh-keygen", ["-l", "-f", file], { encoding: "utf8" });
            assert.strictEqual(fp.stdout.split(" ")[1], k.fingerprint);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("never repeats a key", () => {
        assert.notStrictEqual(generateEd25519().privateKey, generateEd25519().privateKey);
    });
});
