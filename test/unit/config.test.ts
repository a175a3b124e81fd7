/** The stack config schema: defaults, and every message a user can get, each naming its key. */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { loadStackFile, parseStackConfig, StackConfigError } from "../../engine/config";
import { GitopsError } from "../../engine/errors";
import { FLUX_RELEASE } from "../../engine/flux/upstream";

function problems(raw: Record<string, unknown>, stack = "dev"): string[] {
    try {
        parseStackConfig(raw, stack);
    } catch (e) {
        assert.ok(e instanceof StackConfigError, `expected StackConfigError, got ${e}`);
        return (e as StackConfigError).problems;
    }
    return [];
}

describe("config: defaults", () => {
    it("fills the documented defaults from an empty config", () => {
        const c = parseStackConfig({}, "dev");
        assert.strictEqual(c.cluster.kind, "k3d");
        assert.strictEqual(c.cluster.name, "gitops-dev");
        assert.deepStrictEqual(c.cluster.k3d, { agents: 3, servers: 1, ports: ["8080:80@loadbalancer"], image: undefined });
        assert.strictEqual(c.fleet.url, ".fleet/fleet.git");
        assert.strictEqual(c.fleet.branch, "main");
        assert.strictEqual(c.fleet.path, "clusters/dev");
        assert.strictEqual(c.flux.version, FLUX_RELEASE.version);
        assert.deepStrictEqual(c.flux.components, [
            "source-controller",
            "kustomize-controller",
            "helm-controller",
            "notification-controller",
            "image-reflector-controller",
            "image-automation-controller",
        ]);
        assert.strictEqual(c.flux.interval, "1m0s");
        assert.strictEqual(c.flux.syncInterval, "10m0s");
        assert.deepStrictEqual(c.sync.substitute, { cluster_env: "dev" });
        assert.strictEqual(c.imageAutomation.pushBranch, "__image/dev/project");
        assert.deepStrictEqual(c.promotion, { model: "overlays", order: ["dev", "test", "prod"], from: undefined, stackReference: undefined });
    });

    it("derives the previous stage and the per-stage branch in the branches model", () => {
        const c = parseStackConfig({ promotion: { model: "branches" } }, "prod");
        assert.strictEqual(c.promotion.from, "test");
        assert.strictEqual(c.fleet.branch, "prod");
    });

    it("uses a remote fleet URL for the cluster too, and a reachable default for a local one", () => {
        assert.strictEqual(parseStackConfig({ fleet: { url: "ssh://git@github.com/o/r.git" } }, "dev").fleet.clusterUrl, "ssh://git@github.com/o/r.git");
        assert.match(parseStackConfig({}, "dev").fleet.clusterUrl, /^http:\/\//);
    });

    it("cluster.kind local: the control plane's folder and fleet port, and Flux pulls the local fleet from its loopback server", () => {
        const c = parseStackConfig({ cluster: { kind: "local" }, fleet: { url: "repos/team-fleet.git" } }, "dev");
        assert.deepStrictEqual(c.cluster.local, { dir: ".gitops/local", fleetPort: 8765 });
        assert.strictEqual(c.fleet.clusterUrl, "http://127.0.0.1:8765/team-fleet.git");
        const d = parseStackConfig({ cluster: { kind: "local", local: { dir: "/tmp/cp", fleetPort: 9000 } } }, "dev");
        assert.deepStrictEqual(d.cluster.local, { dir: "/tmp/cp", fleetPort: 9000 });
        assert.strictEqual(d.fleet.clusterUrl, "http://127.0.0.1:9000/fleet.git");
        assert.deepStrictEqual(problems({ cluster: { kind: "local", local: { fleetPort: 0, size: 1 } } }), [
            "gitops:cluster.local.size is not a known setting; expected one of dir, fleetPort",
            "gitops:cluster.local.fleetPort must be between 1 and 65535; got number 0",
        ]);
    });
});

describe("config: every bad value names its key and the expected shape", () => {
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
        ["unknown cluster kind", { cluster: { kind: "eks" } }, /^gitops:cluster\.kind must be one of k3d, kind, aks, existing, local, none; got "eks"$/],
        ["agents not a number", { cluster: { k3d: { agents: "three" } } }, /^gitops:cluster\.k3d\.agents must be a whole number; got "three"$/],
        ["agents out of range", { cluster: { k3d: { agents: 99 } } }, /^gitops:cluster\.k3d\.agents must be between 0 and 20; got number 99$/],
        ["bad k3d port", { cluster: { k3d: { ports: ["eighty"] } } }, /^gitops:cluster\.k3d\.ports\[0\] must be a k3d port mapping such as "8080:80@loadbalancer"; got "eighty"$/],
        ["bad cluster name", { cluster: { name: "Dev_Cluster" } }, /^gitops:cluster\.name must be a DNS label/],
        ["aks without location", { cluster: { kind: "aks", aks: {} } }, /^gitops:cluster\.aks\.location is required \(a string\); got nothing$/],
        ["aks missing entirely", { cluster: { kind: "aks" } }, /^gitops:cluster\.aks is required \(an object\); got nothing$/],
        ["unknown top-level key", { clusters: {} }, /^gitops:clusters is not a known setting; expected one of cluster, fleet/],
        ["unknown nested key", { cluster: { kind: "k3d", agents: 3 } }, /^gitops:cluster\.agents is not a known setting; expected one of kind, name, k3d, kindConfig, aks, existing, local$/],
        ["bad duration", { flux: { interval: "5 minutes" } }, /^gitops:flux\.interval must be a Go duration such as "1m0s", "30s" or "10m"; got "5 minutes"$/],
        ["bad flux version", { flux: { version: "2.7" } }, /^gitops:flux\.version must be a Flux v2 release such as "v2.7.2"; got "2.7"$/],
        ["unknown component", { flux: { components: ["source-controller", "fancy-controller"] } }, /^gitops:flux\.components\[1\] must be one of source-controller, .*; got "fancy-controller"$/],
        ["git source with http url missing scheme", { sources: [{ name: "s", kind: "git", url: "github.com/x/y" }] }, /^gitops:sources\[0\]\.url must be an ssh:\/\/ or http\(s\):\/\/ URL for a git source; got "github.com\/x\/y"$/],
        ["oci source without oci://", { sources: [{ name: "s", kind: "oci", url: "https://ghcr.io/x" }] }, /^gitops:sources\[0\]\.url must start with oci:\/\/ for an oci source/],
        ["oci ref with two choices", { sources: [{ name: "s", kind: "oci", url: "oci://ghcr.io/x", ref: { tag: "1", semver: "^1" } }] }, /^gitops:sources\[0\]\.ref must set one of tag, semver or digest/],
        ["git ref key unknown", { sources: [{ name: "s", kind: "git", url: "https://x/y", ref: { sha: "abc" } }] }, /^gitops:sources\[0\]\.ref\.sha is not a known setting; expected one of branch, tag, semver, commit, name$/],
        ["helm oci type on https url", { sources: [{ name: "s", kind: "helm", url: "https://charts", type: "oci" }] }, /^gitops:sources\[0\]\.url must start with oci:\/\/ when type is "oci"/],
        ["insecure on git", { sources: [{ name: "s", kind: "git", url: "https://x/y", insecure: true }] }, /^gitops:sources\[0\]\.insecure is only used by oci sources and helm sources of type "oci"/],
        ["insecure on an https Helm repository", { sources: [{ name: "s", kind: "helm", url: "https://charts", insecure: true }] }, /^gitops:sources\[0\]\.insecure is only used by oci sources and helm sources of type "oci"/],
        ["layerSelector on git", { sources: [{ name: "s", kind: "git", url: "https://x/y", layerSelector: {} }] }, /^gitops:sources\[0\]\.layerSelector is only used by oci sources/],
        ["release source unknown", { releases: [{ name: "r", chart: "c", version: "1.0.0", source: "none" }] }, /^gitops:releases\[0\]\.source names "none", which is not a helm source in gitops:sources; add it there or fix the name$/],
        ["release depends on unknown", { sources: [{ name: "h", kind: "helm", url: "https://c" }], releases: [{ name: "r", chart: "c", version: "1", source: "h", dependsOn: ["x"] }] }, /^gitops:releases\[0\]\.dependsOn names "x", which is not a release/],
        ["bad substitute name", { sync: { substitute: { "1bad": "x" } } }, /^gitops:sync\.substitute\.1bad is not a valid variable name/],
        ["reserved kustomization name", { kustomizations: [{ name: "apps", path: "./x" }] }, /^gitops:kustomizations\[0\]\.name "apps" is reserved/],
        ["kustomization unknown dependsOn", { kustomizations: [{ name: "extra", path: "./x", dependsOn: ["ghost"] }] }, /^gitops:kustomizations\[0\]\.dependsOn names "ghost"/],
        ["app image with tag", { apps: [{ name: "a", image: "ghcr.io/x/a:1.0", tag: "1.0" }] }, /^gitops:apps\[0\]\.image must be an image repository without a tag/],
        ["policy without automation", { apps: [{ name: "a", image: "ghcr.io/x/a", tag: "1.0.0", imagePolicy: { semver: "^1" } }] }, /^gitops:apps\[0\]\.imagePolicy needs gitops:imageAutomation\.enabled: true/],
        ["two policies", { imageAutomation: { enabled: true }, apps: [{ name: "a", image: "ghcr.io/x/a", tag: "1", imagePolicy: { semver: "^1", numerical: "asc" } }] }, /^gitops:apps\[0\]\.imagePolicy must set exactly one of semver, numerical, alphabetical/],
        ["canary without flagger", { apps: [{ name: "a", image: "ghcr.io/x/a", tag: "1", canary: {} }] }, /^gitops:apps\[0\]\.canary needs gitops:delivery\.flagger\.enabled: true$/],
        ["duplicate apps", { apps: [{ name: "a", image: "ghcr.io/x/a", tag: "1" }, { name: "a", image: "ghcr.io/x/b", tag: "1" }] }, /^gitops:apps has two apps named "a"; names must be unique$/],
        ["alert with unknown provider", { notifications: { alerts: [{ name: "al", provider: "nobody" }] } }, /^gitops:notifications\.alerts\[0\]\.provider names "nobody"/],
        ["stack outside promotion order", { promotion: { order: ["qa", "prod"] } }, /^gitops:promotion\.order \["qa","prod"\] does not contain this stack "dev"/],
        ["promotion from a later stage", { promotion: { from: "prod" } }, /^gitops:promotion\.from "prod" must come before "dev"/],
        ["bad promotion model", { promotion: { model: "trunk" } }, /^gitops:promotion\.model must be one of overlays, branches; got "trunk"$/],
        ["not an object", { cluster: "k3d" }, /^gitops:cluster must be an object; got "k3d"$/],
        ["list expected", { apps: { name: "a" } }, /^gitops:apps must be a list; got an object$/],
    ];
    for (const [what, raw, expected] of cases) {
        it(what, () => {
            const ps = problems(raw);
            assert.ok(ps.some((p) => expected.test(p)), `no problem matched ${expected}; got:\n${ps.join("\n")}`);
        });
    }

    it("insecure (plain HTTP) is read for a Helm OCI source and rendered into its HelmRepository", () => {
        const c = parseStackConfig({ sources: [{ name: "charts", kind: "helm", url: "oci://127.0.0.1:5000/charts", insecure: true }, { name: "other", kind: "helm", url: "oci://ghcr.io/x", insecure: false }] }, "dev");
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        const { source } = require("../../engine/fleet/objects");
        assert.deepStrictEqual(source(c.sources[0]).spec, { interval: "1h0m0s", url: "oci://127.0.0.1:5000/charts", type: "oci", insecure: true });
        assert.deepStrictEqual(source(c.sources[1]).spec, { interval: "1h0m0s", url: "oci://ghcr.io/x", type: "oci" }, "insecure: false is left out");
    });

    it("reports all problems together, prefixed by the stack file", () => {
        try {
            parseStackConfig({ cluster: { kind: "eks" }, flux: { interval: "x" } }, "dev");
            assert.fail("should throw");
        } catch (e) {
            const err = e as StackConfigError;
            assert.strictEqual(err.problems.length, 2);
            assert.match(err.message, /^Pulumi\.dev\.yaml: 2 problems in stack config:\n {2}- gitops:cluster\.kind/);
        }
    });
});

describe("config: one declaration per setting; each message names the key and what to write", () => {
    const app = { name: "echo", image: "ghcr.io/acme/echo", tag: "1.0.0" };

    it("a wrong type names the key, the type to write and what was there", () => {
        assert.deepStrictEqual(problems({ apps: [{ ...app, port: "80" }] }), ['gitops:apps[0].port must be a whole number; got "80"']);
        assert.deepStrictEqual(problems({ flux: { networkPolicy: "yes" } }), ['gitops:flux.networkPolicy must be true or false; got "yes"']);
        assert.deepStrictEqual(problems({ sync: { substitute: { region: ["eu"] } } }), ["gitops:sync.substitute.region must be a string; got a list"]);
    });

    it("a missing required key names the key and its type", () => {
        const { tag, ...noTag } = app;
        assert.ok(tag);
        assert.deepStrictEqual(problems({ apps: [noTag] }), ["gitops:apps[0].tag is required (a string); got nothing"]);
        assert.deepStrictEqual(problems({ releases: [{ name: "r", chart: "c", version: "1.0.0" }], sources: [] }), ["gitops:releases[0].source is required (a string); got nothing"]);
        assert.deepStrictEqual(problems({ sources: [{ name: "s", url: "https://x/y" }] }), ["gitops:sources[0].kind is required; one of git, oci, helm; got nothing"]);
    });

    it("an unknown enum value names the key and every allowed value", () => {
        assert.deepStrictEqual(problems({ notifications: { providers: [{ name: "chat", type: "discord" }] } }), ['gitops:notifications.providers[0].type must be one of slack, msteams, github, generic; got "discord"']);
        assert.deepStrictEqual(problems({ apps: [{ ...app, canary: { targetRef: { kind: "StatefulSet" } } }], delivery: { flagger: { enabled: true } } }), [
            'gitops:apps[0].canary.targetRef.kind must be one of Deployment, DaemonSet; got "StatefulSet"',
        ]);
    });

    it("a section or list item of the wrong type is one problem, not one more per required key below it", () => {
        assert.deepStrictEqual(problems({ cluster: { kindConfig: { portMappings: ["8080:80"] } } }), ['gitops:cluster.kindConfig.portMappings[0] must be an object; got "8080:80"']);
        assert.deepStrictEqual(problems({ apps: [null] }), ["gitops:apps[0] is required (an object); got null"]);
        assert.deepStrictEqual(problems({ apps: [{ ...app, imagePolicy: "semver" }] }), ['gitops:apps[0].imagePolicy must be an object; got "semver"']);
    });

    it("the known keys a message lists are exactly the keys the parsed section has", () => {
        const c = parseStackConfig({}, "dev");
        const known = (raw: Record<string, unknown>) => /expected one of (.*)$/.exec(problems(raw)[0])?.[1].split(", ");
        assert.deepStrictEqual(known({ cluster: { extra: 1 } }), Object.keys(c.cluster));
        assert.deepStrictEqual(known({ cluster: { k3d: { extra: 1 } } }), Object.keys(c.cluster.k3d));
        assert.deepStrictEqual(known({ flux: { extra: 1 } }), Object.keys(c.flux));
        assert.deepStrictEqual(known({ sync: { extra: 1 } }), Object.keys(c.sync));
        assert.deepStrictEqual(known({ delivery: { extra: 1 } }), Object.keys(c.delivery));
        assert.deepStrictEqual(known({ promotion: { extra: 1 } }), Object.keys(c.promotion));
        assert.deepStrictEqual(known({ apps: [{ ...app, extra: 1 }] }), Object.keys(parseStackConfig({ apps: [app] }, "dev").apps[0]));
    });

    it("the error is a GitopsError at the stack file, and nothing is returned", () => {
        assert.throws(
            () => parseStackConfig({ apps: [{ ...app, replicas: -1 }] }, "dev"),
            (e: unknown) => e instanceof GitopsError && e.where === "Pulumi.dev.yaml" && e.message === "Pulumi.dev.yaml: gitops:apps[0].replicas must be between 0 and 1000; got number -1",
        );
    });

    it("defaults are fresh for every stack: changing one parsed config leaves the next one's defaults alone", () => {
        const a = parseStackConfig({}, "dev");
        a.cluster.k3d.ports.push("9090:90@loadbalancer");
        a.flux.components.pop();
        const b = parseStackConfig({}, "dev");
        assert.deepStrictEqual(b.cluster.k3d.ports, ["8080:80@loadbalancer"]);
        assert.strictEqual(b.flux.components.length, 6);
    });
});

describe("config: reading Pulumi.<stack>.yaml directly", () => {
    let dir: string;
    beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-config-"))));
    afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("reads the gitops namespace and ignores other providers' keys", () => {
        fs.writeFileSync(path.join(dir, "Pulumi.qa.yaml"), "config:\n  azure-native:location: westeurope\n  gitops:cluster:\n    kind: none\n  gitops:promotion:\n    order: [qa]\n");
        const { config } = loadStackFile(dir, "qa");
        assert.strictEqual(config.cluster.kind, "none");
    });

    it("refuses a secret key in plain text, naming the key and the command", () => {
        fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config:\n  gitops:githubToken: ghp_oops\n");
        assert.throws(() => loadStackFile(dir, "dev"), /Pulumi\.dev\.yaml: gitops:githubToken holds a secret in plain text; remove it from Pulumi\.dev\.yaml and set it with `pulumi config set --secret gitops:githubToken <value>`/);
    });

    it("accepts an encrypted secret key without reading its value", () => {
        fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config:\n  gitops:githubToken:\n    secure: v1:abc:def\n");
        assert.deepStrictEqual(loadStackFile(dir, "dev").secretKeys, ["githubToken"]);
    });

    it("names the missing stack file and lists the stacks there are", () => {
        fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config: {}\n");
        assert.throws(() => loadStackFile(dir, "stage"), /Pulumi\.stage\.yaml: no such stack file \(create it with `pulumi stack init stage` or pick one of: dev\)/);
    });

    it("reports invalid YAML with the file name", () => {
        fs.writeFileSync(path.join(dir, "Pulumi.dev.yaml"), "config:\n  gitops:cluster: [\n");
        assert.throws(() => loadStackFile(dir, "dev"), /^GitopsError: Pulumi\.dev\.yaml: is not valid YAML/);
    });
});
