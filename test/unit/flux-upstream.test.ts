/**
 * The upstream Flux install (engine/flux/upstream.ts): the pinned release's controller versions are
 * the ones flux2's own manifests/bases name, every CRD a stack commits is the controller module's
 * config/crd (all served versions, full schemas, defaults) with only `flux install`'s labels added,
 * and a missing cache or componentsFile stops with a message that says what to do.
 * Upstream's side is read independently here: the Go modules (go mod download) and kubectl kustomize.
 */
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { parseAllDocuments } from "yaml";
import { loadStackFile } from "../../engine/config/load";
import { planForStack } from "../../engine/fleet/cli";
import { FLUX_RELEASE, loadUpstreamInstall } from "../../engine/flux/upstream";
import { GitopsError } from "../../engine/errors";

const ROOT = path.join(__dirname, "..", "..");

/** The folder of a Go module at a version, from the module proxy (shared cache as the scripts use). */
function moduleDir(mod: string): string {
    const gomod = process.env.GITOPS_E2E_CACHE ? path.join(process.env.GITOPS_E2E_CACHE, "gomod") : "/var/cache/gitops-e2e/gomod";
    const env = { ...process.env, GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local", GOWORK: "off", ...(fs.existsSync(gomod) ? { GOMODCACHE: gomod } : {}) };
    const out = execFileSync("go", ["mod", "download", "-json", mod], { cwd: os.tmpdir(), env, encoding: "utf8" });
    return JSON.parse(out).Dir;
}

const docs = (yaml: string) => parseAllDocuments(yaml).map((d) => d.toJS()).filter(Boolean);

describe("flux: the upstream install of the pinned release", function () {
    this.timeout(300_000);

    it("pins the controller versions flux2's manifests/bases name for that release", () => {
        const bases = path.join(moduleDir(`github.com/fluxcd/flux2/v2@${FLUX_RELEASE.version}`), "manifests", "bases");
        for (const [c, v] of Object.entries(FLUX_RELEASE.components)) {
            const k = fs.readFileSync(path.join(bases, c, "kustomization.yaml"), "utf8");
            assert.match(k, new RegExp(`/fluxcd/${c}/releases/download/${v.replace(/\./g, "\\.")}/${c}\\.crds\\.yaml`), `${c} of Flux ${FLUX_RELEASE.version} is not ${v}`);
        }
    });

    for (const env of ["dev", "prod"]) {
        it(`commits, for ${env}, exactly the CRDs of each controller module's config/crd (every served version, schemas, defaults)`, () => {
            const cfg = loadStackFile(ROOT, env).config;
            const committed = docs(planForStack(ROOT, env).files[`clusters/${env}/flux-system/gotk-components.yaml`]).filter((o) => o.kind === "CustomResourceDefinition");
            const upstream = cfg.flux.components.flatMap((c) =>
                docs(execFileSync("kubectl", ["kustomize", path.join(moduleDir(`github.com/fluxcd/${c}@${FLUX_RELEASE.components[c]}`), "config", "crd")], { encoding: "utf8", maxBuffer: 64 << 20 })).map((o) => ({ c, o })),
            );
            assert.deepStrictEqual(committed.map((o) => o.metadata.name).sort(), upstream.map((u) => u.o.metadata.name).sort());
            for (const { c, o } of upstream) {
                const mine = committed.find((x) => x.metadata.name === o.metadata.name);
                assert.deepStrictEqual(mine.spec, o.spec, `${o.metadata.name}: spec differs from ${c} ${FLUX_RELEASE.components[c]}`);
                assert.deepStrictEqual(mine.metadata.annotations, o.metadata.annotations);
                assert.deepStrictEqual(mine.metadata.labels, {
                    ...(o.metadata.labels ?? {}),
                    "app.kubernetes.io/component": c,
                    "app.kubernetes.io/instance": cfg.flux.namespace,
                    "app.kubernetes.io/part-of": "flux",
                    "app.kubernetes.io/version": FLUX_RELEASE.version,
                });
                for (const v of mine.spec.versions) assert.ok(v.schema?.openAPIV3Schema?.properties?.spec, `${o.metadata.name} ${v.name} has a spec schema`);
            }
            const ks = committed.find((o) => o.metadata.name === "kustomizations.kustomize.toolkit.fluxcd.io");
            assert.deepStrictEqual(ks.spec.versions.find((v: any) => v.storage).schema.openAPIV3Schema.properties.spec.required, ["interval", "prune", "sourceRef"]);
        });
    }

    it("runs the controllers flux install ships: ghcr.io images at the release's tags, in the stack's namespace", () => {
        const objs = loadUpstreamInstall({ namespace: "gitops-flux", components: ["source-controller", "kustomize-controller"], networkPolicy: false }).objects;
        const deps = objs.filter((o) => o.kind === "Deployment");
        assert.deepStrictEqual(deps.map((d) => (d as any).spec.template.spec.containers[0].image).sort(), ["ghcr.io/fluxcd/kustomize-controller:v1.9.4", "ghcr.io/fluxcd/source-controller:v1.9.4"]);
        assert.ok(deps.every((d) => d.metadata.namespace === "gitops-flux"));
        assert.ok(!objs.some((o) => o.kind === "NetworkPolicy"), "networkPolicy: false leaves the policies out");
        const crb = objs.find((o) => o.kind === "ClusterRoleBinding" && o.metadata.name === "cluster-reconciler-gitops-flux") as any;
        assert.ok(crb?.subjects.every((s: any) => s.namespace === "gitops-flux"), "service accounts of the RBAC bindings are in the stack's namespace");
        const src = deps.find((d) => d.metadata.name === "source-controller") as any;
        assert.ok(src.spec.template.spec.containers[0].args.includes("--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local."));
    });

    it("stops, naming gitops:flux.componentsFile and the cache folder, when the release is not cached", () => {
        const empty = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-flux-empty-"));
        try {
            assert.throws(
                () => loadUpstreamInstall({ cacheDir: empty }),
                (e: unknown) => e instanceof GitopsError && e.where === "gitops:flux.componentsFile" && e.message.includes(path.join(empty, FLUX_RELEASE.version, "manifests")) && /scripts\/flux-manifests\.sh/.test(e.message),
            );
            assert.throws(() => loadUpstreamInstall({ cacheDir: empty, version: "v2.1.0" }), /Flux v2\.1\.0 install manifests are not in the cache folder/);
        } finally {
            fs.rmSync(empty, { recursive: true, force: true });
        }
    });

    it("`gitops fleet render` without the cache stops with that message and writes nothing", () => {
        const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-flux-cli-"));
        try {
            const r = spawnSync(process.execPath, [path.join(ROOT, "bin", "gitops"), "fleet", "render", "--stack", "dev", "--out", path.join(tmp, "out")], {
                cwd: ROOT,
                encoding: "utf8",
                env: { ...process.env, GITOPS_FLUX_CACHE: path.join(tmp, "cache") },
            });
            assert.strictEqual(r.status, 1, r.stderr);
            assert.match(r.stderr, /gitops:flux\.componentsFile: the upstream Flux v2\.\d+\.\d+ install manifests are not in the cache folder .*cache\/v2\.\d+\.\d+\/manifests/);
            assert.ok(!fs.existsSync(path.join(tmp, "out")), "nothing written");
        } finally {
            fs.rmSync(tmp, { recursive: true, force: true });
        }
    });

    it("uses gitops:flux.componentsFile verbatim, and names it when it is missing or not YAML", () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-flux-file-"));
        try {
            const file = path.join(dir, "install.yaml");
            const text = loadUpstreamInstall().components;
            fs.writeFileSync(file, text);
            const r = loadUpstreamInstall({ componentsFile: file });
            assert.strictEqual(r.components, text);
            assert.strictEqual(r.digest, loadUpstreamInstall().digest);
            assert.ok(r.crds.includes("name: kustomizations.kustomize.toolkit.fluxcd.io"));
            assert.throws(() => loadUpstreamInstall({ componentsFile: path.join(dir, "nope.yaml") }), /gitops:flux\.componentsFile: .*nope\.yaml cannot be read/);
            fs.writeFileSync(file, "kind: [unclosed\n");
            assert.throws(() => loadUpstreamInstall({ componentsFile: file }), /gitops:flux\.componentsFile \(.*install\.yaml\): is not valid YAML/);
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});
