/**
 * renderPath through the real `kubectl kustomize`: Flux's own varsub fixture, an overlay with
 * every transformer, the generated kustomization, opt-outs, strict mode and bad input.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { GitopsError } from "../../engine/errors";
import type { PostBuild } from "../../engine/flux/api";
import {
    generateKustomization,
    loadVariables,
    objectId,
    parseObjectId,
    renderPath,
    splitDocuments,
    substituteVariables,
    useYamlLoader,
    VarSourceObject,
    yamlLoaderName,
} from "../../engine/render";

const FIX = path.join(__dirname, "..", "fixtures", "render");

function kustomize(dir: string): string {
    return execFileSync("kubectl", ["kustomize", "--load-restrictor=LoadRestrictionsNone", "--reorder=none", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function listTree(dir: string): string[] {
    const out: string[] = [];
    const walk = (d: string) => {
        for (const n of fs.readdirSync(d).sort()) {
            const p = path.join(d, n);
            out.push(path.relative(dir, p));
            if (fs.statSync(p).isDirectory()) walk(p);
        }
    };
    walk(dir);
    return out;
}

async function rejects(p: Promise<unknown>, check: (e: GitopsError) => void): Promise<void> {
    try {
        await p;
    } catch (e) {
        assert.ok(e instanceof GitopsError, `expected a GitopsError, got ${String(e)}`);
        check(e);
        return;
    }
    assert.fail("expected an error");
}

describe("render: renderPath (real kubectl kustomize)", function () {
    this.timeout(60_000);

    describe("Flux's varsub fixture (fluxcd/pkg kustomize/testdata)", () => {
        const postBuild = (YAML.parse(fs.readFileSync(path.join(FIX, "flux-varsub.kustomization.yaml"), "utf8")) as { spec: { postBuild: PostBuild } }).spec.postBuild;
        const cm = YAML.parse(fs.readFileSync(path.join(FIX, "flux-varsub.configmap.yaml"), "utf8")) as { data: Record<string, string> };

        it("merges substituteFrom and substitute like Flux", () => {
            const vars = loadVariables(postBuild, (ref) => (ref.kind === "ConfigMap" && ref.name === "app-vars" ? cm : undefined));
            assert.deepStrictEqual(vars, {
                prometheus_scrape: '"true"',
                prometheus_port: '"9797"',
                image: "nginx:1.21.4",
                cluster_env: "prod",
                cluster_region: "eu-central-1",
            });
        });

        it("renders what Flux's SubstituteVariables produced", async () => {
            const vars = loadVariables(postBuild, () => cm);
            const { objects, yaml } = await renderPath(FIX, "flux-varsub", { substitute: vars });
            const expected = YAML.parseAllDocuments(fs.readFileSync(path.join(FIX, "flux-varsub.expected.yaml"), "utf8")).map((d) => d.toJS());
            assert.deepStrictEqual(
                objects.map((o) => o.object),
                expected,
            );
            assert.deepStrictEqual(
                objects.map((o) => o.id),
                ["apps_app_apps_Deployment", "apps_app-vars__ConfigMap"],
            );
            assert.deepStrictEqual(
                objects.map((o) => o.substituted),
                [true, false],
            );
            // the printed stream parses to the same objects
            assert.deepStrictEqual(YAML.parseAllDocuments(yaml).map((d) => d.toJS()), expected);
        });
    });

    describe("loadVariables", () => {
        it("lets a later source override an earlier one, and substitute override both; strips newlines", () => {
            const vars = loadVariables(
                {
                    substituteFrom: [
                        { kind: "ConfigMap", name: "a" },
                        { kind: "Secret", name: "b" },
                        { kind: "ConfigMap", name: "gone", optional: true },
                    ],
                    substitute: { z: "inline" },
                },
                (ref): VarSourceObject | undefined =>
                    ref.name === "a"
                        ? { data: { x: "from-a", y: "a\nb", z: "from-a" } }
                        : ref.name === "b"
                          ? { data: { x: Buffer.from("from-secret\n").toString("base64") } }
                          : undefined,
            );
            assert.deepStrictEqual(vars, { x: "from-secret", y: "ab", z: "inline" });
        });
        it("fails on a missing reference that is not optional", () => {
            assert.throws(
                () => loadVariables({ substituteFrom: [{ kind: "Secret", name: "nope" }] }, () => undefined),
                (e: unknown) => e instanceof GitopsError && e.where === "spec.postBuild.substituteFrom[0]" && /Secret\/nope/.test(e.message),
            );
        });
    });

    describe("an overlay (namespace, namePrefix, labels, JSON6902 + strategic-merge patches, images)", () => {
        it("leaves kustomize's output untouched when there are no variables", async () => {
            for (const substitute of [undefined, {}]) {
                const { yaml, objects } = await renderPath(FIX, "overlay/prod", { substitute });
                assert.strictEqual(yaml, kustomize(path.join(FIX, "overlay/prod")));
                assert.ok(objects.every((o) => !o.substituted));
                assert.match(yaml, /\$\$\{not_a_var\}/);
            }
        });

        it("substitutes, honours defaults, escapes and the opt-out annotation", async () => {
            const { objects, yaml } = await renderPath(FIX, "overlay/prod", { substitute: { cluster_name: "eu-1" } });
            assert.deepStrictEqual(
                objects.map((o) => o.id),
                // input order, as Flux builds (kubectl alone would sort by kind)
                ["prod_prod-web_apps_Deployment", "prod_prod-web__Service", "_prod-web__reader_rbac.authorization.k8s.io_ClusterRole"],
            );
            const dep = objects[0].object as any;
            assert.strictEqual(dep.spec.replicas, 3);
            assert.strictEqual(dep.metadata.labels.env, "prod");
            assert.strictEqual(dep.spec.template.metadata.annotations.cluster, "eu-1");
            const c = dep.spec.template.spec.containers[0];
            assert.strictEqual(c.image, "registry.example.com/nginx:1.27");
            const env = Object.fromEntries(c.env.map((e: any) => [e.name, e.value]));
            assert.strictEqual(env.CLUSTER, "eu-1");
            assert.strictEqual(env.REGION, "eu-west-1");
            assert.strictEqual(env.LITERAL, "${not_a_var}");
            // Flux converts substituted objects with YAML 1.1 rules: an unquoted yes is a boolean.
            assert.strictEqual(env.DEBUG, true);
            const svc = objects[1].object as any;
            assert.strictEqual(svc.metadata.annotations["example.com/template"], "${kept_as_is}");
            assert.strictEqual(objects[1].substituted, false);
            assert.doesNotMatch(yaml, /\$\{cluster_name\}/);
        });

        it("strict mode: an unset variable without default names the variable and the object", async () => {
            await rejects(renderPath(FIX, "overlay/prod", { substitute: { region: "x" }, strict: true }), (e) => {
                assert.strictEqual(e.where, "prod_prod-web_apps_Deployment");
                assert.match(e.message, /variable 'cluster_name' is not set \(strict mode\)/);
            });
            // defaults are fine in strict mode
            const { objects } = await renderPath(FIX, "overlay/prod", { substitute: { cluster_name: "c" }, strict: true });
            assert.strictEqual(objects.length, 3);
            // without strict mode an unset variable is ""
            const loose = await renderPath(FIX, "overlay/prod", { substitute: { region: "x" } });
            assert.strictEqual((loose.objects[0].object as any).spec.template.metadata.annotations.cluster, null);
        });

        it("a value that breaks the YAML is an error naming the object", async () => {
            await rejects(renderPath(FIX, "overlay/prod", { substitute: { cluster_name: "[unclosed" } }), (e) => {
                assert.strictEqual(e.where, "prod_prod-web_apps_Deployment");
                assert.match(e.message, /YAML is invalid after variable substitution/);
            });
        });

        it("an invalid variable name is an error", async () => {
            await rejects(renderPath(FIX, "overlay/prod", { substitute: { "bad-name": "x" } }), (e) => {
                assert.match(e.message, /'bad-name' var name is invalid/);
            });
        });
    });

    describe("Flux Kustomization build fields (targetNamespace, patches, images)", () => {
        it("writes them into a copy of the kustomization, leaving the source alone", async () => {
            const before = fs.readFileSync(path.join(FIX, "overlay/prod/kustomization.yaml"), "utf8");
            const { objects } = await renderPath(FIX, "overlay/prod", {
                substitute: { cluster_name: "c1" },
                spec: {
                    targetNamespace: "tenant-a",
                    images: [{ name: "nginx", newName: "mirror.example.com/nginx", newTag: "1.28" }],
                    patches: [{ patch: '[{"op": "add", "path": "/metadata/annotations/owner", "value": "${cluster_name}"}]', target: { kind: "Service" } }],
                },
            });
            assert.strictEqual(fs.readFileSync(path.join(FIX, "overlay/prod/kustomization.yaml"), "utf8"), before);
            assert.deepStrictEqual(
                objects.map((o) => o.id),
                ["tenant-a_prod-web_apps_Deployment", "tenant-a_prod-web__Service", "_prod-web__reader_rbac.authorization.k8s.io_ClusterRole"],
            );
            const dep = objects[0].object as any;
            assert.strictEqual(dep.spec.template.spec.containers[0].image, "mirror.example.com/nginx:1.28");
            // the Service opted out of substitution, so the patched-in value stays literal
            assert.strictEqual((objects[1].object as any).metadata.annotations.owner, "${cluster_name}");
        });
        it("works on a generated kustomization too", async () => {
            const { objects } = await renderPath(FIX, "plain", { substitute: { tenant: "t" }, spec: { targetNamespace: "forced" } });
            assert.ok(objects.filter((o) => o.kind !== "Namespace").every((o) => o.namespace === "forced"), objects.map((o) => o.id).join(" "));
        });
    });

    describe("a path without kustomization.yaml (generated, as Flux does)", () => {
        it("lists YAML files recursively, adds sub-kustomizations whole, skips CI files; never writes the source", async () => {
            const before = listTree(path.join(FIX, "plain"));
            const { objects } = await renderPath(FIX, "plain", { substitute: { tenant: "team-a" } });
            assert.deepStrictEqual(listTree(path.join(FIX, "plain")), before);
            assert.deepStrictEqual(
                objects.map((o) => o.id).sort(),
                ["${tenant}_script__ConfigMap", "_team-a__Namespace", "team-a_addon-bot__ServiceAccount", "team-a_settings__ConfigMap"].sort(),
            );
            const settings = objects.find((o) => o.name === "settings")!.object as any;
            assert.strictEqual(settings.data.owner, "platform");
            // label opt-out: the object keeps its ${...} (and $${x}) text
            const script = objects.find((o) => o.name === "script")!.object as any;
            assert.strictEqual(script.metadata.namespace, "${tenant}");
            assert.strictEqual(script.data["run.sh"], "echo ${HOME} $${x}\n");
        });

        it("generates resources in walk order with sub-kustomization directories", () => {
            const text = generateKustomization(path.join(FIX, "plain"), { root: FIX });
            const resources = (YAML.parse(text) as { resources: string[] }).resources.map((r) => path.relative(FIX, r));
            assert.deepStrictEqual(resources, ["plain/addon", "plain/apps/configmaps.yml", "plain/namespace.yaml"]);
        });

        it("fails on a YAML file that is not a Kubernetes object, naming file and line", async () => {
            await rejects(renderPath(FIX, "not-k8s"), (e) => {
                assert.strictEqual(e.where, "not-k8s/mixed.yaml:6");
                assert.match(e.message, /failed to decode Kubernetes YAML/);
            });
        });

        it("renders an empty directory as no objects", async () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-render-empty-"));
            try {
                fs.mkdirSync(path.join(dir, "empty"));
                const r = await renderPath(dir, "empty");
                assert.deepStrictEqual(r.objects, []);
                assert.strictEqual(r.yaml, "");
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        });
    });

    describe("bad input", () => {
        it("a kustomize error names the file and line", async () => {
            await rejects(renderPath(FIX, "broken-yaml"), (e) => {
                assert.match(e.where, /^broken-yaml\/broken\.yaml:\d+$/);
                assert.match(e.message, /kustomize build failed/);
            });
        });
        it("a missing path, a file, and a path outside the root", async () => {
            await rejects(renderPath(FIX, "nope"), (e) => assert.strictEqual(e.where, "nope"));
            await rejects(renderPath(FIX, "overlay/base/rbac.yaml"), (e) => assert.match(e.message, /not a directory/));
            await rejects(renderPath(path.join(FIX, "overlay"), "../plain"), (e) => assert.match(e.message, /"\.\.\/plain" resolves to .*, outside /));
        });
    });

    describe("both YAML loaders agree", () => {
        const prev = yamlLoaderName();
        after(() => useYamlLoader(prev as "js-yaml" | "yaml"));
        it("js-yaml and yaml give the same objects for the overlay", async function () {
            try {
                useYamlLoader("js-yaml");
            } catch {
                this.skip();
            }
            const a = await renderPath(FIX, "overlay/prod", { substitute: { cluster_name: "x" } });
            useYamlLoader("yaml");
            const b = await renderPath(FIX, "overlay/prod", { substitute: { cluster_name: "x" } });
            assert.deepStrictEqual(a.objects, b.objects);
        });
    });
});

describe("render: object ids", () => {
    it("formats ids like cli-utils ObjMetadata", () => {
        assert.strictEqual(objectId({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "web", namespace: "prod" } }), "prod_web_apps_Deployment");
        assert.strictEqual(objectId({ apiVersion: "v1", kind: "Namespace", metadata: { name: "prod" } }), "_prod__Namespace");
        assert.strictEqual(
            objectId({ apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: "system:reader" } }),
            "_system__reader_rbac.authorization.k8s.io_ClusterRole",
        );
    });
    it("parses ids back, including RBAC colons", () => {
        assert.deepStrictEqual(parseObjectId("prod_web_apps_Deployment"), { namespace: "prod", name: "web", group: "apps", kind: "Deployment" });
        assert.deepStrictEqual(parseObjectId("_prod__Namespace"), { namespace: "", name: "prod", group: "", kind: "Namespace" });
        assert.deepStrictEqual(parseObjectId("_system__reader_rbac.authorization.k8s.io_ClusterRole"), {
            namespace: "",
            name: "system:reader",
            group: "rbac.authorization.k8s.io",
            kind: "ClusterRole",
        });
        for (const id of [
            "prod_web_apps_Deployment",
            "_a__Namespace",
            "ns_x.y-z_cert-manager.io_Certificate",
            "_system__reader_rbac.authorization.k8s.io_ClusterRole",
        ]) {
            assert.strictEqual(objectId(parseObjectId(id)), id);
        }
    });
    it("rejects malformed ids, naming them", () => {
        for (const bad of ["nounderscore", "a_b", "ns__apps_Deployment", "ns_a_b_c_apps_Kind", "ns_name_group_"]) {
            assert.throws(() => parseObjectId(bad), (e: unknown) => e instanceof GitopsError && e.where === bad, bad);
        }
    });
});

describe("render: substituteVariables on documents", () => {
    it("splits kustomize output and skips comment-only documents", () => {
        const docs = splitDocuments("a: 1\n---\n# just a comment\n---\nb: 2\n--- \nc: 3");
        assert.deepStrictEqual(docs, ["a: 1\n", "b: 2\n", "c: 3\n"]);
    });
    it("keeps unsubstituted objects on YAML 1.2 rules (yes stays a string)", () => {
        const doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: yes\n";
        assert.strictEqual((substituteVariables([doc], undefined)[0].object as any).data.a, "yes");
        assert.strictEqual((substituteVariables([doc], { x: "1" })[0].object as any).data.a, true);
    });
    it("both loaders read YAML 1.1 the same way (bools, octal; timestamps stay strings)", () => {
        const doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: on\n  b: 0755\n  c: 2024-01-01\n  d: '3'\n";
        const prev = yamlLoaderName() as "js-yaml" | "yaml";
        try {
            for (const loader of ["yaml", "js-yaml"] as const) {
                try {
                    useYamlLoader(loader);
                } catch {
                    continue; // js-yaml not installed
                }
                const data = (substituteVariables([doc], { x: "1" })[0].object as any).data;
                assert.deepStrictEqual(data, { a: true, b: 493, c: "2024-01-01", d: "3" }, loader);
            }
        } finally {
            useYamlLoader(prev);
        }
    });
    it("a missing kustomize binary is an error naming it", async () => {
        await rejects(renderPath(FIX, "overlay/prod", { kustomizeBin: "/nonexistent/kubectl" }), (e) => {
            assert.strictEqual(e.where, "/nonexistent/kubectl");
            assert.match(e.message, /not found/);
        });
    });
    it("a malformed ${ is an error naming the object and line", () => {
        const doc = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: n\ndata:\n  a: ${oops\n";
        assert.throws(
            () => substituteVariables([doc], { x: "1" }),
            (e: unknown) => e instanceof GitopsError && e.where === "n_c__ConfigMap" && /line 7/.test(e.message) && /missing closing brace/.test(e.message),
        );
    });
});
