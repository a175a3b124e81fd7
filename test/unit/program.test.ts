/**
 * The platform program under Pulumi mocks, for the dev (k3d) and prod (AKS) stacks as their
 * Pulumi.<stack>.yaml declare them: the resource graph (types, names, parents, providers), the
 * Flux objects handed to Git and to the cluster, and that secrets stay secret.
 */
import * as assert from "assert";
import * as pulumi from "@pulumi/pulumi";
import { parse, parseAllDocuments } from "yaml";
import { FAKE_KUBECONFIG, isSecretInput, promiseOf, Recorded, RecordingMocks, runProgram, settle, stackFileConfig, unwrap } from "../mocks";
import { FLUX_RELEASE } from "../../engine/flux/upstream";


const FLEET_SYNC = "pulumi-nodejs:dynamic/gitops:FleetSync";
const LOCAL_CLUSTER = "pulumi-nodejs:dynamic/gitops:LocalCluster";
const DEPLOY_KEY = "pulumi-nodejs:dynamic/gitops:DeployKey";

/** API groups of the objects the platform declares into the fleet repo (Flux, Flagger, Istio). */
const DECLARED_GROUPS = /(^|\.)toolkit\.fluxcd\.io$|^flagger\.app$|^networking\.istio\.io$/;

const idOf = (o: any) => `${o.metadata.namespace ?? ""}_${o.metadata.name}_${o.apiVersion.includes("/") ? o.apiVersion.split("/")[0] : ""}_${o.kind}`;

/**
 * The graph and the plan agree: every component in the graph that says it holds a fleet object
 * (outputs path + manifest) names a file FleetSync commits, and that file holds exactly that
 * object; and every Flux, Flagger or Istio object the committed files declare (outside the
 * flux-system bootstrap and the overlays' patches) has exactly one such component. Patches are
 * read from the kustomization.yaml files themselves. Returns how many objects were compared.
 */
function assertGraphMatchesFiles(mocks: RecordingMocks, env: string): number {
    const files: Record<string, string> = mocks.one(FLEET_SYNC, `${env}-fleet-sync`).inputs.files;
    const inFile = (p: string) => parseAllDocuments(files[p]).map((d) => d.toJS()).filter(Boolean);
    const views = new Map<string, { resource: string; path: string }>();
    for (const r of mocks.resources.filter((x) => !x.custom)) {
        const out = mocks.outputs(r.type, r.name);
        if (!out || !("manifest" in out) || !("path" in out)) continue;
        assert.ok(files[out.path] !== undefined, `${r.type}::${r.name} names ${out.path}, which FleetSync does not commit`);
        const same = inFile(out.path).filter((o: any) => idOf(o) === idOf(out.manifest));
        assert.strictEqual(same.length, 1, `${out.path} holds ${same.length} objects ${idOf(out.manifest)} (${r.type}::${r.name})`);
        assert.deepStrictEqual(out.manifest, same[0], `${r.type}::${r.name} differs from ${out.path}`);
        assert.strictEqual(out.objectId, idOf(same[0]));
        const key = `${out.path}#${idOf(out.manifest)}`;
        assert.ok(!views.has(key), `${key} has two components: ${views.get(key)?.resource} and ${r.type}::${r.name}`);
        views.set(key, { resource: `${r.type}::${r.name}`, path: out.path });
    }
    const patches = new Set<string>();
    for (const p of Object.keys(files).filter((f) => f.endsWith("/kustomization.yaml"))) {
        const dir = p.slice(0, -"kustomization.yaml".length);
        for (const patch of parse(files[p]).patches ?? []) patches.add(dir + patch.path);
    }
    const declared: string[] = [];
    for (const p of Object.keys(files)) {
        if (p.startsWith(`clusters/${env}/flux-system/`) || patches.has(p) || p.endsWith("/kustomization.yaml")) continue;
        for (const o of inFile(p)) if (DECLARED_GROUPS.test(o.apiVersion.split("/")[0])) declared.push(`${p}#${idOf(o)}`);
    }
    assert.deepStrictEqual([...views.keys()].sort(), declared.sort(), "components in the graph vs objects in the committed files");
    return declared.length;
}

describe("program: dev stack (k3d, local fleet repo)", function () {
    let mocks: RecordingMocks;
    let exp: Record<string, any>;
    before(async () => {
        ({ mocks, exports: exp } = await runProgram("dev", stackFileConfig("dev")));
        await promiseOf(exp.fleetCommit);
        await settle();
    });

    it("registers the expected resource graph", () => {
        const types = mocks.resources.map((r) => `${r.type}::${r.name}`).sort();
        assert.deepStrictEqual(types, [
            "gitops:cluster:K3dCluster::dev-cluster",
            "gitops:delivery:Canary::dev-echo-version-canary",
            "gitops:delivery:Flagger::dev-flagger",
            "gitops:delivery:Gateway::dev-istio-public-gateway",
            "gitops:delivery:IstioMesh::dev-istio",
            "gitops:delivery:Monitoring::dev-monitoring",
            "gitops:flux:FluxBootstrap::dev-flux",
            "gitops:flux:HelmRelease::dev-flagger",
            "gitops:flux:HelmRelease::dev-flagger-loadtester",
            "gitops:flux:HelmRelease::dev-grafana",
            "gitops:flux:HelmRelease::dev-istio-base",
            "gitops:flux:HelmRelease::dev-istio-gateway",
            "gitops:flux:HelmRelease::dev-istiod",
            "gitops:flux:HelmRelease::dev-metrics-server",
            "gitops:flux:HelmRelease::dev-prometheus",
            "gitops:flux:HelmSource::flagger",
            "gitops:flux:HelmSource::grafana",
            "gitops:flux:HelmSource::istio",
            "gitops:flux:HelmSource::metrics-server",
            "gitops:flux:HelmSource::prometheus-community",
            "gitops:flux:Kustomization::dev-apps",
            "gitops:flux:Kustomization::dev-infrastructure-manifests",
            "gitops:flux:Kustomization::dev-infrastructure-releases",
            "gitops:images:ImagePolicy::dev-echo-version-policy",
            "gitops:images:ImageRepository::dev-echo-version-image",
            "gitops:images:ImageUpdateAutomation::dev-image-automation",
            "gitops:index:Platform::dev",
            "gitops:notify:Alert::dev-errors",
            "gitops:notify:Alert::dev-info",
            "gitops:notify:Provider::slack",
            "gitops:notify:Provider::webhook",
            `${FLEET_SYNC}::dev-fleet-sync`,
            `${LOCAL_CLUSTER}::dev-cluster`,
        ]);
        // No cloud resources for the embedded default.
        assert.ok(!mocks.resources.some((r) => r.type.startsWith("azure-native:") || r.type.startsWith("github:")));
    });

    it("creates a k3d cluster with the seed defaults: 3 agents, 8080:80@loadbalancer", () => {
        const lc = mocks.one(LOCAL_CLUSTER, "dev-cluster");
        assert.strictEqual(lc.inputs.tool, "k3d");
        assert.strictEqual(lc.inputs.name, "gitops-dev");
        assert.strictEqual(lc.inputs.workers, 3);
        assert.deepStrictEqual(lc.inputs.ports, ["8080:80@loadbalancer"]);
        assert.ok(lc.inputs.__provider, "the dynamic provider is serialized into the inputs");
    });

    it("parents every child under the component that created it", () => {
        const P = "gitops:index:Platform";
        assert.strictEqual(mocks.parent(LOCAL_CLUSTER, "dev-cluster"), "gitops:cluster:K3dCluster");
        assert.strictEqual(mocks.parent("gitops:cluster:K3dCluster", "dev-cluster"), P);
        assert.strictEqual(mocks.parent("gitops:flux:FluxBootstrap", "dev-flux"), P);
        assert.strictEqual(mocks.parent("gitops:flux:HelmSource", "metrics-server"), P);
        assert.strictEqual(mocks.parent("gitops:flux:Kustomization", "dev-apps"), P);
        assert.strictEqual(mocks.parent(FLEET_SYNC, "dev-fleet-sync"), P);
        assert.strictEqual(mocks.parent(P, "dev"), "");
    });

    it("hands FleetSync the fleet files, the owned paths and the Kustomization chain", () => {
        const sync = mocks.one(FLEET_SYNC, "dev-fleet-sync");
        const files: Record<string, string> = sync.inputs.files;
        for (const f of ["clusters/dev/flux-system/gotk-components.yaml", "clusters/dev/flux-system/gotk-sync.yaml", "clusters/dev/flux-system/kustomization.yaml", "clusters/dev/infrastructure.yaml", "clusters/dev/apps.yaml", "apps/dev/kustomization.yaml"]) {
            assert.ok(files[f], `missing ${f}`);
        }
        assert.deepStrictEqual(sync.inputs.owned, ["clusters/dev/", "infrastructure/dev/", "apps/dev/"]);
        assert.deepStrictEqual(sync.inputs.kustomizations, ["flux-system", "infrastructure-releases", "infrastructure-manifests", "apps"]);
        assert.strictEqual(sync.inputs.branch, "main");
        assert.match(sync.inputs.repo, /\.fleet\/fleet\.git$/);
        assert.strictEqual(sync.inputs.wait, true);
    });

    it("bootstraps exactly what gotk-components.yaml and gotk-sync.yaml hold, so Git and cluster agree", () => {
        const sync = mocks.one(FLEET_SYNC, "dev-fleet-sync");
        const inGit = [
            ...parseAllDocuments(sync.inputs.files["clusters/dev/flux-system/gotk-components.yaml"]).map((d) => d.toJS()),
            ...parseAllDocuments(sync.inputs.files["clusters/dev/flux-system/gotk-sync.yaml"]).map((d) => d.toJS()),
        ].filter(Boolean);
        assert.deepStrictEqual(sync.inputs.bootstrap, inGit);
        const kinds = new Set(inGit.map((o: any) => o.kind));
        for (const k of ["Namespace", "CustomResourceDefinition", "Deployment", "ServiceAccount", "ClusterRoleBinding", "GitRepository", "Kustomization"]) assert.ok(kinds.has(k), k);
        const deployments = inGit.filter((o: any) => o.kind === "Deployment").map((o: any) => o.metadata.name).sort();
        assert.deepStrictEqual(deployments, ["helm-controller", "image-automation-controller", "image-reflector-controller", "kustomize-controller", "notification-controller", "source-controller"]);
        const images = inGit.filter((o: any) => o.kind === "Deployment").map((o: any) => o.spec.template.spec.containers[0].image);
        assert.ok(images.includes(`ghcr.io/fluxcd/source-controller:${FLUX_RELEASE.components["source-controller"]}`), images.join(","));
    });

    it("syncs clusters/dev with prune through the flux-system Kustomization", () => {
        const sync = mocks.one(FLEET_SYNC, "dev-fleet-sync");
        const [repo, ks] = parseAllDocuments(sync.inputs.files["clusters/dev/flux-system/gotk-sync.yaml"]).map((d) => d.toJS());
        assert.strictEqual(repo.kind, "GitRepository");
        assert.strictEqual(repo.spec.ref.branch, "main");
        assert.strictEqual(repo.spec.interval, "1m0s");
        assert.strictEqual(ks.spec.path, "./clusters/dev");
        assert.strictEqual(ks.spec.prune, true);
        assert.strictEqual(ks.spec.interval, "10m0s");
        assert.deepStrictEqual(ks.spec.sourceRef, { kind: "GitRepository", name: "flux-system" });
    });

    it("chains infrastructure-releases -> infrastructure-manifests -> apps through dependsOn", () => {
        const sync = mocks.one(FLEET_SYNC, "dev-fleet-sync");
        const infra = parseAllDocuments(sync.inputs.files["clusters/dev/infrastructure.yaml"]).map((d) => d.toJS());
        const apps = parse(sync.inputs.files["clusters/dev/apps.yaml"]);
        const byName = Object.fromEntries([...infra, apps].map((k: any) => [k.metadata.name, k]));
        assert.strictEqual(byName["infrastructure-releases"].spec.dependsOn, undefined);
        assert.deepStrictEqual(byName["infrastructure-manifests"].spec.dependsOn, [{ name: "infrastructure-releases" }]);
        assert.deepStrictEqual(byName["apps"].spec.dependsOn, [{ name: "infrastructure-manifests" }]);
        for (const k of Object.values(byName) as any[]) {
            assert.strictEqual(k.spec.prune, true);
            assert.strictEqual(k.spec.postBuild.substitute.cluster_env, "dev");
        }
        assert.strictEqual(byName["apps"].spec.path, "./apps/dev");
    });

    it("the Flux objects in the graph are exactly the Flux objects in the committed files", () => {
        const checked = assertGraphMatchesFiles(mocks, "dev");
        assert.ok(checked >= 25, `only ${checked} objects compared`);
        const hr = mocks.outputs("gitops:flux:HelmSource", "metrics-server")!;
        assert.strictEqual(hr.path, "infrastructure/base/_sources/metrics-server/helmrepository.yaml");
        assert.strictEqual(hr.manifest.spec.url, "https://kubernetes-sigs.github.io/metrics-server/");
    });

    it("keeps the kubeconfig secret", async () => {
        assert.strictEqual(await pulumi.isSecret(exp.kubeconfig), true);
    });

    it("generates no deploy key for a repository Flux pulls over http", () => {
        assert.strictEqual(mocks.byType(DEPLOY_KEY).length, 0);
    });
});

describe("program: dev stack on the local control plane (cluster.kind local)", function () {
    let mocks: RecordingMocks;
    let exp: Record<string, any>;
    before(async () => {
        const config = { ...stackFileConfig("dev"), "gitops:cluster": JSON.stringify({ kind: "local", local: { fleetPort: 9876 } }) };
        ({ mocks, exports: exp } = await runProgram("dev", config));
        await promiseOf(exp.fleetCommit);
        await settle();
    });

    it("adopts or starts the control plane from .gitops/local, serving the fleet repo's folder on the configured port", () => {
        const cp = mocks.one("pulumi-nodejs:dynamic/gitops:LocalControlPlane", "dev-cluster");
        assert.match(cp.inputs.dir, /^\/.*\/\.gitops\/local$/);
        assert.match(cp.inputs.fleetRoot, /^\/.*\/\.fleet$/);
        assert.strictEqual(cp.inputs.fleetPort, 9876);
        assert.strictEqual(mocks.parent("pulumi-nodejs:dynamic/gitops:LocalControlPlane", "dev-cluster"), "gitops:cluster:LocalControlPlaneCluster");
        assert.strictEqual(mocks.byType("pulumi:providers:kubernetes").length, 0, "FleetSync applies through the engine: no Kubernetes provider");
        assert.ok(!mocks.resources.some((r) => r.type === LOCAL_CLUSTER), "no k3d/kind cluster");
    });

    it("Flux already runs there: the bootstrap is the flux-system sync only, pulling from the loopback fleet server", () => {
        const sync = mocks.one(FLEET_SYNC, "dev-fleet-sync");
        assert.deepStrictEqual(sync.inputs.bootstrap.map((o: any) => `${o.kind}/${o.metadata.name}`).sort(), ["GitRepository/flux-system", "Kustomization/flux-system"]);
        const gr = sync.inputs.bootstrap.find((o: any) => o.kind === "GitRepository");
        assert.strictEqual(gr.spec.url, "http://127.0.0.1:9876/fleet.git");
        assert.ok(sync.inputs.files["clusters/dev/flux-system/gotk-components.yaml"], "Git still holds the whole install");
    });
});

describe("program: an existing cluster (cluster.kind existing, with a context)", function () {
    let mocks: RecordingMocks;
    before(async () => {
        const config = { ...stackFileConfig("dev"), "gitops:cluster": JSON.stringify({ kind: "existing", existing: { context: "team-a" } }), "gitops:kubeconfig": FAKE_KUBECONFIG };
        let exp: Record<string, any>;
        ({ mocks, exports: exp } = await runProgram("dev", config, ["gitops:kubeconfig"]));
        await promiseOf(exp.fleetCommit);
        await settle();
    });

    it("FleetSync applies with the configured context and the kubeconfig as a secret; no Kubernetes provider", () => {
        const sync = mocks.one(FLEET_SYNC, "dev-fleet-sync");
        assert.strictEqual(sync.inputs.context, "team-a", "gitops:cluster.existing.context reaches the apply");
        assert.ok(isSecretInput(sync.inputs.kubeconfig));
        assert.strictEqual(unwrap(sync.inputs.kubeconfig), FAKE_KUBECONFIG);
        assert.strictEqual(mocks.parent("gitops:cluster:ExistingCluster", "dev-cluster"), "gitops:index:Platform");
        assert.strictEqual(mocks.byType("pulumi:providers:kubernetes").length, 0);
    });
});

describe("program: prod stack (AKS, GitHub fleet repo)", function () {
    let mocks: RecordingMocks;
    let exp: Record<string, any>;
    before(async () => {
        // prod enables the GitHub webhook Receiver, which needs its token.
        const config = { ...stackFileConfig("prod"), "gitops:githubToken": "ghp_fake_for_tests", "gitops:receiverToken": "receiver-token-for-tests" };
        ({ mocks, exports: exp } = await runProgram("prod", config, ["gitops:githubToken", "gitops:receiverToken"]));
        await promiseOf(exp.fleetCommit);
        await settle();
    });

    it("creates a resource group and an AKS cluster with a system pool", () => {
        const rg = mocks.one("azure-native:resources:ResourceGroup", "prod-cluster-rg");
        assert.strictEqual(rg.inputs.location, "westeurope");
        assert.strictEqual(rg.inputs.resourceGroupName, "gitops-prod-rg");
        const mc = mocks.one("azure-native:containerservice:ManagedCluster", "prod-cluster");
        assert.strictEqual(mc.inputs.resourceName, "gitops-prod");
        assert.strictEqual(mc.inputs.kubernetesVersion, "1.33");
        assert.deepStrictEqual(
            mc.inputs.agentPoolProfiles.map((p: any) => [p.name, p.mode, p.count, p.vmSize]),
            [["system", "System", 3, "Standard_D4s_v5"]],
        );
        assert.strictEqual(mc.inputs.identity.type, "SystemAssigned");
        assert.ok(mocks.calls.some((c) => c.token === "azure-native:containerservice:listManagedClusterUserCredentials"));
        assert.strictEqual(mocks.parent("azure-native:containerservice:ManagedCluster", "prod-cluster"), "gitops:cluster:AksCluster");
        assert.strictEqual(mocks.byType("pulumi:providers:kubernetes").length, 0, "FleetSync applies through the engine: no Kubernetes provider");
    });

    it("registers the GitHub repository, a read-only deploy key and branch protection, all through the GitHub provider", () => {
        const provider = mocks.one("pulumi:providers:github", "prod-fleet-github");
        assert.strictEqual(provider.inputs.owner, "gitops-platform");
        const repo = mocks.one("github:index/repository:Repository", "prod-fleet");
        assert.strictEqual(repo.inputs.name, "fleet");
        assert.strictEqual(repo.inputs.visibility, "private");
        const key = mocks.one("github:index/repositoryDeployKey:RepositoryDeployKey", "prod-fleet-deploy-key");
        assert.strictEqual(key.inputs.readOnly, true, "prod has no image automation, so the key is read-only");
        assert.strictEqual(unwrap(key.inputs.key), "ssh-ed25519 AAAAmock flux");
        const prot = mocks.one("github:index/branchProtection:BranchProtection", "prod-fleet-protect-main");
        assert.strictEqual(prot.inputs.pattern, "main");
        assert.strictEqual(prot.inputs.repositoryId, "R_prod-fleet");
        for (const r of [repo, key, prot]) {
            assert.strictEqual(r.provider, `${mocks.urn("pulumi:providers:github", "prod-fleet-github")}::prod-fleet-github-id`, `${r.name} uses ${r.provider}`);
            assert.strictEqual(mocks.parent(r.type, r.name), "gitops:github:FleetRepository");
        }
    });

    it("generates a deploy key and puts the private key only in a secret Secret for the cluster", async () => {
        const key = mocks.byType(DEPLOY_KEY);
        assert.strictEqual(key.length, 1);
        const sync = mocks.one(FLEET_SYNC, "prod-fleet-sync");
        assert.ok(isSecretInput(sync.inputs.secrets), "the deploy key Secret reaches FleetSync as a secret");
        assert.ok(isSecretInput(sync.inputs.kubeconfig), "the kubeconfig reaches FleetSync as a secret");
        const secrets = unwrap<any[]>(sync.inputs.secrets);
        // The deploy key, and the receiver token prod's webhook Receiver checks.
        assert.deepStrictEqual(secrets.map((s) => `${s.kind}/${s.metadata.name}`), ["Secret/flux-system", "Secret/receiver-token"]);
        assert.strictEqual(secrets[0].kind, "Secret");
        assert.strictEqual(secrets[0].metadata.name, "flux-system");
        assert.match(secrets[0].stringData.identity, /OPENSSH PRIVATE KEY/);
        assert.match(secrets[0].stringData.known_hosts, /^github\.com ssh-ed25519 /);
        // The key never reaches Git.
        for (const [p, content] of Object.entries(sync.inputs.files as Record<string, string>)) {
            assert.ok(!content.includes("PRIVATE KEY"), `${p} holds key material`);
        }
        const gotkSync = parseAllDocuments(sync.inputs.files["clusters/prod/flux-system/gotk-sync.yaml"]).map((d) => d.toJS());
        assert.deepStrictEqual(gotkSync[0].spec.secretRef, { name: "flux-system" });
        assert.strictEqual(gotkSync[0].spec.url, "ssh://git@github.com/gitops-platform/fleet.git");
        assert.strictEqual(await pulumi.isSecret(exp.kubeconfig), true);
    });

    it("the Flux objects in the graph are exactly the Flux objects in the committed files", () => {
        const checked = assertGraphMatchesFiles(mocks, "prod");
        assert.ok(checked >= 25, `only ${checked} objects compared`);
    });

    it("passes the GitHub token to the provider as a secret, never in plain text", async () => {
        const provider = mocks.one("pulumi:providers:github", "prod-fleet-github");
        assert.ok(isSecretInput(provider.inputs.token), "the token reaches the provider as a secret");
        assert.strictEqual(unwrap(provider.inputs.token), "ghp_fake_for_tests");
        for (const [k, v] of Object.entries(exp)) {
            if (pulumi.Output.isInstance(v) && !(await pulumi.isSecret(v))) {
                const value = await promiseOf(v as pulumi.Output<unknown>);
                assert.ok(!JSON.stringify(value ?? "").includes("ghp_fake_for_tests"), `export ${k} leaks the token`);
            }
        }
    });
});

describe("program: bad config fails before any resource is registered", function () {
    async function failing(stack: string, config: Record<string, string>, secretKeys: string[] = []): Promise<{ error: Error; mocks: RecordingMocks }> {
        let error: Error | undefined;
        let mocks: RecordingMocks | undefined;
        try {
            ({ mocks } = await runProgram(stack, config, secretKeys));
        } catch (e) {
            error = e as Error;
        }
        assert.ok(error, "the program should have thrown");
        return { error, mocks: mocks ?? new RecordingMocks() };
    }

    it("names the key and the expected shape for an unknown cluster kind", async () => {
        const config = { ...stackFileConfig("dev"), "gitops:cluster": JSON.stringify({ kind: "eks" }) };
        const { error, mocks } = await failing("dev", config);
        assert.match(error.message, /gitops:cluster\.kind must be one of k3d, kind, aks, existing, local, none; got "eks"/);
        assert.match(error.message, /Pulumi\.dev\.yaml/);
        assert.strictEqual(mocks.resources.length, 0, "no resource may be registered");
    });

    it("refuses a token set in plain text and says how to set it", async () => {
        const config = { ...stackFileConfig("prod"), "gitops:githubToken": "ghp_plain" };
        const { error } = await failing("prod", config, []);
        assert.match(error.message, /gitops:githubToken holds a secret in plain text.*pulumi config set --secret gitops:githubToken/);
        assert.ok(!error.message.includes("ghp_plain"), "the message must not echo the secret");
    });

    it("lists every problem at once", async () => {
        const config = {
            ...stackFileConfig("dev"),
            "gitops:flux": JSON.stringify({ interval: "soon" }),
            "gitops:releases": JSON.stringify([{ name: "x", chart: "x", version: "1.0.0", source: "nope" }]),
        };
        const { error } = await failing("dev", config);
        assert.match(error.message, /gitops:flux\.interval must be a Go duration/);
        assert.match(error.message, /gitops:releases\[0\]\.source names "nope", which is not a helm source/);
    });
});

export type { Recorded };
