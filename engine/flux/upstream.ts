/**
 * The upstream Flux install (gotk-components.yaml), as `flux install` of the pinned release writes
 * it. Nothing here is hand-made: scripts/flux-manifests.sh fills a cache folder per release with
 * the release's per-component bundles (what the flux CLI embeds: `<component>.yaml`, `rbac.yaml`,
 * `policies.yaml`, built with `kubectl kustomize` from flux2's manifests/ and each controller's
 * own config/ in its published Go module). This module then does what the flux CLI's
 * pkg/manifestgen/install does for a given namespace / component set / network-policy choice:
 * writes the same kustomization templates beside those bundles and builds them with
 * `kubectl kustomize`. Results are memoized in the cache folder (install-<key>.yaml).
 *
 * When the bundles for a release are not there, it stops with a GitopsError naming
 * gitops:flux.componentsFile and the cache folder; it never falls back to an approximation.
 */
import { createHash } from "crypto";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { GitopsError } from "../errors";
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "./api";

/** The Flux distribution whose install every stack commits, and the controller versions it ships. */
export const FLUX_RELEASE = {
    /** github.com/fluxcd/flux2/v2 v2.9.4: its manifests/bases pin the controller versions below. */
    version: "v2.9.4",
    components: {
        "source-controller": "v1.9.4",
        "kustomize-controller": "v1.9.4",
        "helm-controller": "v1.6.3",
        "notification-controller": "v1.9.3",
        "image-reflector-controller": "v1.2.4",
        "image-automation-controller": "v1.2.4",
    } as Record<string, string>,
};

/** `flux install`'s defaults (pkg/manifestgen/install/options.go MakeDefaultOptions). */
const DEFAULTS = {
    namespace: "flux-system",
    components: ["source-controller", "kustomize-controller", "helm-controller", "notification-controller"],
    registry: "ghcr.io/fluxcd",
    watchAllNamespaces: true,
    networkPolicy: true,
    logLevel: "info",
    clusterDomain: "cluster.local",
};

export interface UpstreamInstall {
    version: string;
    /** gotk-components.yaml, byte for byte what `flux install --export` prints for these options. */
    components: string;
    /** The CustomResourceDefinitions of `components` only (multi-document YAML). */
    crds: string;
    /** sha256 of `components`, hex. */
    digest: string;
    /** The objects of `components`, in order (shared: copy before changing them). */
    objects: KubeObject[];
}

export interface UpstreamOptions {
    /** A vendored install manifest used verbatim (gitops:flux.componentsFile), resolved by the caller. */
    componentsFile?: string;
    /** The cache root (default $GITOPS_FLUX_CACHE, else ~/.cache/gitops/flux). */
    cacheDir?: string;
    /** Flux release (default FLUX_RELEASE.version). */
    version?: string;
    namespace?: string;
    /** Controllers, in `flux install --components` + `--components-extra` terms. */
    components?: readonly string[];
    networkPolicy?: boolean;
}

/** Root of the manifest cache; one folder per release below it. */
export function fluxCacheRoot(cacheDir?: string): string {
    return cacheDir ?? process.env.GITOPS_FLUX_CACHE ?? path.join(os.homedir(), ".cache", "gitops", "flux");
}

/** The folder scripts/flux-manifests.sh fills for a release. */
export function fluxCacheDir(version: string = FLUX_RELEASE.version, cacheDir?: string): string {
    return path.join(fluxCacheRoot(cacheDir), version);
}

const memo = new Map<string, UpstreamInstall>();

export function loadUpstreamInstall(opts: UpstreamOptions = {}): UpstreamInstall {
    const version = opts.version ?? FLUX_RELEASE.version;
    if (opts.componentsFile !== undefined) {
        let text: string;
        try {
            text = fs.readFileSync(opts.componentsFile, "utf8");
        } catch {
            throw new GitopsError("gitops:flux.componentsFile", `${opts.componentsFile} cannot be read`, "point it at the Flux release's install.yaml, or remove the setting to use the cached upstream install");
        }
        return described(version, text, `gitops:flux.componentsFile (${opts.componentsFile})`);
    }
    const dir = fluxCacheDir(version, opts.cacheDir);
    const o = {
        namespace: opts.namespace ?? DEFAULTS.namespace,
        components: [...(opts.components ?? DEFAULTS.components)],
        networkPolicy: opts.networkPolicy ?? DEFAULTS.networkPolicy,
    };
    const bundles = path.join(dir, "manifests");
    const needed = [...o.components.map((c) => `${c}.yaml`), "rbac.yaml", ...(o.networkPolicy ? ["policies.yaml"] : [])];
    const missing = needed.filter((f) => !fs.existsSync(path.join(bundles, f)));
    if (missing.length > 0) {
        throw new GitopsError(
            "gitops:flux.componentsFile",
            `the upstream Flux ${version} install manifests are not in the cache folder ${bundles} (missing ${missing.join(", ")})`,
            `run scripts/flux-manifests.sh ${version} to fill it (GITOPS_FLUX_CACHE moves the cache), or set gitops:flux.componentsFile to the release's install.yaml`,
        );
    }
    const key = createHash("sha256")
        .update(JSON.stringify({ version, ...o }))
        .update(needed.map((f) => fs.readFileSync(path.join(bundles, f), "utf8")).join("\0"))
        .digest("hex")
        .slice(0, 16);
    const cached = memo.get(`${dir}:${key}`);
    if (cached) return cached;
    const file = path.join(dir, `install-${key}.yaml`);
    let text: string;
    if (fs.existsSync(file)) text = fs.readFileSync(file, "utf8");
    else {
        text = generate(bundles, version, o);
        const tmp = `${file}.${process.pid}.tmp`;
        fs.writeFileSync(tmp, text);
        fs.renameSync(tmp, file);
    }
    const r = described(version, text, file);
    memo.set(`${dir}:${key}`, r);
    return r;
}

function described(version: string, components: string, where = "gitops:flux.componentsFile"): UpstreamInstall {
    const docs = parseAllDocuments(components);
    const bad = docs.find((d) => d.errors.length > 0);
    if (bad) throw new GitopsError(where, `is not valid YAML: ${bad.errors[0].message}`, "use the Flux release's install.yaml unchanged");
    const objects: KubeObject[] = [];
    let crds = "";
    for (const d of docs) {
        const o = d.toJS() as KubeObject | null;
        if (!o || typeof o !== "object") continue;
        if (typeof o.kind !== "string" || typeof o.apiVersion !== "string") throw new GitopsError(where, `holds a document without apiVersion/kind`, "use the Flux release's install.yaml unchanged");
        objects.push(o);
        if (o.kind === "CustomResourceDefinition") crds += `---\n${d.toString({ lineWidth: 0 })}`;
    }
    return { version, components, crds, digest: createHash("sha256").update(components).digest("hex"), objects };
}

/**
 * pkg/manifestgen/install generate() + build(): the templates of templates.go, filled as
 * `flux install` fills them, built with kustomize. Only the options a stack can set vary.
 */
function generate(bundles: string, version: string, o: { namespace: string; components: string[]; networkPolicy: boolean }): string {
    const base = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-flux-install-"));
    try {
        for (const f of fs.readdirSync(bundles)) fs.copyFileSync(path.join(bundles, f), path.join(base, f));
        const eventsAddr = o.components.includes("notification-controller") ? `http://notification-controller.$(RUNTIME_NAMESPACE).svc.${DEFAULTS.clusterDomain}./` : "";
        fs.writeFileSync(path.join(base, "namespace.yaml"), namespaceTmpl(o.namespace));
        fs.writeFileSync(path.join(base, "labels.yaml"), labelsTmpl(o.namespace, version));
        fs.writeFileSync(path.join(base, "node-selector.yaml"), NODE_SELECTOR);
        fs.writeFileSync(path.join(base, "kustomization.yaml"), kustomizationTmpl(o, eventsAddr));
        fs.mkdirSync(path.join(base, "roles"));
        fs.writeFileSync(path.join(base, "roles", "kustomization.yaml"), `---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${o.namespace}\nresources:\n  - rbac.yaml\nnameSuffix: -${o.namespace}\n`);
        let rbac = fs.readFileSync(path.join(base, "rbac.yaml"), "utf8");
        // As upstream: kustomize cannot patch the ServiceAccount namespace in ClusterRoleBindings.
        if (o.namespace !== DEFAULTS.namespace) rbac = rbac.split(DEFAULTS.namespace).join(o.namespace);
        fs.writeFileSync(path.join(base, "roles", "rbac.yaml"), rbac);
        let out: string;
        try {
            out = execFileSync("kubectl", ["kustomize", base], { encoding: "utf8", maxBuffer: 64 << 20, stdio: ["ignore", "pipe", "pipe"] });
        } catch (e) {
            const err = e as { stderr?: string; message: string };
            throw new GitopsError("gitops:flux.componentsFile", `building the Flux ${version} install with kubectl kustomize failed: ${(err.stderr || err.message).trim().slice(0, 500)}`, "kubectl must be on PATH; or set gitops:flux.componentsFile to the release's install.yaml");
        }
        // GetGenWarning, then the build output (install.go Generate).
        return `---\n# This manifest was generated by flux. DO NOT EDIT.\n# Flux Version: ${version}\n# Components: ${o.components.join(",")}\n${out}`;
    } finally {
        fs.rmSync(base, { recursive: true, force: true });
    }
}

function namespaceTmpl(ns: string): string {
    return `---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n  labels:\n    pod-security.kubernetes.io/warn: restricted\n    pod-security.kubernetes.io/warn-version: latest\n`;
}

function labelsTmpl(ns: string, version: string): string {
    return [
        "---",
        "apiVersion: builtin",
        "kind: LabelTransformer",
        "metadata:",
        "  name: labels",
        "labels:",
        `  app.kubernetes.io/instance: ${ns}`,
        `  app.kubernetes.io/version: "${version}"`,
        "  app.kubernetes.io/part-of: flux",
        "fieldSpecs:",
        "  - path: metadata/labels",
        "    create: true",
        "  - kind: Deployment",
        "    path: spec/template/metadata/labels",
        "    create: true",
        "",
    ].join("\n");
}

const NODE_SELECTOR = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: all\nspec:\n  template:\n    spec:\n      nodeSelector:\n        kubernetes.io/os: linux\n\n";

function kustomizationTmpl(o: { namespace: string; components: string[]; networkPolicy: boolean }, eventsAddr: string): string {
    const l: string[] = ["---", "apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", `namespace: ${o.namespace}`, "", "transformers:", "  - labels.yaml", "", "resources:", "  - namespace.yaml"];
    if (o.networkPolicy) l.push("  - policies.yaml");
    l.push("  - roles");
    for (const c of o.components) l.push(`  - ${c}.yaml`);
    l.push("", "patches:", "- path: node-selector.yaml", "  target:", "    kind: Deployment");
    const replace = (p: string, v: string) => [`    - op: replace`, `      path: /spec/template/spec/containers/0/args/${p}`, `      value: ${v}`];
    for (const c of o.components) {
        l.push("- target:", "    group: apps", "    version: v1", "    kind: Deployment", `    name: ${c}`, "  patch: |-");
        if (c === "notification-controller") {
            l.push(...replace("0", `--watch-all-namespaces=${DEFAULTS.watchAllNamespaces}`), ...replace("1", `--log-level=${DEFAULTS.logLevel}`));
        } else {
            l.push(...replace("0", `--events-addr=${eventsAddr}`), ...replace("1", `--watch-all-namespaces=${DEFAULTS.watchAllNamespaces}`), ...replace("2", `--log-level=${DEFAULTS.logLevel}`));
            if (c === "source-controller") l.push(...replace("6", `--storage-adv-addr=${c}.$(RUNTIME_NAMESPACE).svc.${DEFAULTS.clusterDomain}.`));
        }
    }
    l.push("images:");
    for (const c of o.components) l.push(`  - name: fluxcd/${c}`, `    newName: ${DEFAULTS.registry}/${c}`);
    return l.join("\n") + "\n";
}
