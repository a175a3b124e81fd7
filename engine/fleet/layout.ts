/**
 * The fleet repository a stack declares, as files (path -> YAML text), following the seeds'
 * monorepo layout:
 *
 *   clusters/<env>/                       what Flux syncs for the environment
 *     flux-system/{gotk-components,gotk-sync,kustomization}.yaml
 *     infrastructure.yaml                 Kustomizations infrastructure-releases -> infrastructure-manifests
 *     apps.yaml                           Kustomization apps (dependsOn infrastructure-manifests)
 *     [kustomizations.yaml] [image-automation.yaml] [notifications.yaml]
 *     kustomization.yaml
 *   infrastructure/base/_sources/<name>/   HelmRepository / GitRepository / OCIRepository
 *   infrastructure/base/releases/<name>/   HelmRelease without its per-environment version/values
 *   infrastructure/base/manifests/<name>/  plain manifests (namespaces, gateway, ...)
 *   infrastructure/<env>/{releases,manifests}/  the environment's selection + version/value pins
 *   apps/base/<app>/                       Deployment, Service, Namespace
 *   apps/<env>/                            the environment's selection, tags (with setter markers), replicas, env
 *
 * Every base entry is its own directory, so an environment selects exactly what it declares
 * (kustomize only loads directories from outside an overlay's root).
 *
 * Ownership: a stack owns clusters/<env>/, infrastructure/<env>/ and apps/<env>/ (files there that it
 * no longer declares are deleted). It writes the base entries it uses but never deletes a base
 * entry, since another environment may still use it.
 */
import { Document } from "yaml";
import type { AppConfig, StackConfig } from "../config/schema";
import { KubeObject } from "../flux/api";
import { loadUpstreamInstall, UpstreamInstall } from "../flux/upstream";
import { DEPLOY_KEY_SECRET, fleetSourceKind, fluxSync } from "./flux-sync";
import {
    alert,
    helmReleaseBase,
    imagePolicy,
    imageRepository,
    imageUpdateAutomation,
    kustomization,
    kustomizationFromConfig,
    namespace,
    notificationProvider,
    receiver,
    releasePatch,
    source,
} from "./objects";
import { toYaml } from "./yaml";
import { canaryObject, deliveryStack, metricTemplateObject, publicGateway } from "../delivery";

export interface FleetPlan {
    /** Every file the stack declares: repo-relative path -> content. */
    files: Record<string, string>;
    /** Path prefixes (ending in "/") this stack owns: declared files replace everything under them. */
    owned: string[];
    /** The Kustomizations under clusters/<env> whose readiness proves the environment applied a revision. */
    kustomizations: string[];
    /** Objects Pulumi applies directly to bootstrap the cluster (flux-system only). */
    bootstrap: KubeObject[];
}

export interface FleetInputs {
    /**
     * gitops:flux.componentsFile resolved to a path: the install committed verbatim as
     * gotk-components.yaml. Without it, upstream's `flux install` for gitops:flux.version and the
     * stack's components / namespace / network policies (engine/flux/upstream.ts).
     */
    componentsFile?: string;
    /** Names of notification providers that have a secret (address/token) configured. */
    providerSecrets?: string[];
}

const KUSTOMIZE_HEADER = { apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization" };

function kustomizationFile(resources: string[], extra: Record<string, unknown> = {}): string {
    return toYaml([{ ...KUSTOMIZE_HEADER, resources, ...extra }]);
}

/** The ImagePolicy name of an app; markers in the overlay name it as flux-system:<name>. */
export function appPolicyName(app: AppConfig): string {
    return app.name;
}

/** The Receiver's name for an environment (its webhook path is derived from it). */
export function receiverName(env: string): string {
    return `${env}-receiver`;
}

export function renderFleet(cfg: StackConfig, inputs: FleetInputs = {}): FleetPlan {
    const env = cfg.stack;
    const fluxNs = cfg.flux.namespace;
    const files: Record<string, string> = {};
    const clusterDir = cfg.fleet.path.replace(/^\.?\//, "").replace(/\/+$/, "");

    // --- clusters/<env>/flux-system: the bootstrap, identical in Git and in the cluster.
    const managedFlux = cfg.cluster.kind === "aks" && cfg.cluster.aks.fluxExtension;
    const install = managedFlux ? undefined : fluxInstall(cfg, inputs.componentsFile);
    const sync = fluxSync({
        namespace: fluxNs,
        url: cfg.fleet.clusterUrl,
        branch: cfg.fleet.branch,
        path: clusterDir,
        interval: cfg.flux.interval,
        syncInterval: cfg.flux.syncInterval,
        secret: !cfg.fleet.oci && /^ssh:\/\//.test(cfg.fleet.clusterUrl),
        oci: cfg.fleet.oci,
    });
    const fluxFiles: string[] = [];
    if (install) {
        files[`${clusterDir}/flux-system/gotk-components.yaml`] = install.components;
        fluxFiles.push("gotk-components.yaml");
    }
    files[`${clusterDir}/flux-system/gotk-sync.yaml`] = toYaml(sync, "# This manifest was generated by gitops-platform. DO NOT EDIT.\n");
    fluxFiles.push("gotk-sync.yaml");
    files[`${clusterDir}/flux-system/kustomization.yaml`] = kustomizationFile(fluxFiles);

    // --- the Kustomization chain: infrastructure-releases -> infrastructure-manifests -> apps.
    const sourceRef = { kind: fleetSourceKind(cfg.fleet.oci), name: "flux-system" };
    const chainCommon = {
        namespace: fluxNs,
        sourceRef,
        interval: cfg.sync.interval,
        retryInterval: cfg.sync.retryInterval,
        timeout: cfg.sync.timeout,
        wait: cfg.sync.wait,
        prune: true,
        substitute: cfg.sync.substitute,
        substituteFrom: cfg.sync.substituteFrom,
        decryption: cfg.sync.decryption,
    };
    const infraReleases = kustomization({ ...chainCommon, name: "infrastructure-releases", path: `infrastructure/${env}/releases` });
    const infraManifests = kustomization({ ...chainCommon, name: "infrastructure-manifests", path: `infrastructure/${env}/manifests`, dependsOn: ["infrastructure-releases"] });
    const apps = kustomization({ ...chainCommon, name: "apps", path: `apps/${env}`, dependsOn: ["infrastructure-manifests"] });
    files[`${clusterDir}/infrastructure.yaml`] = toYaml([infraReleases, infraManifests]);
    files[`${clusterDir}/apps.yaml`] = toYaml([apps]);
    const clusterResources = ["flux-system", "infrastructure.yaml", "apps.yaml"];
    const kustomizationNames = ["flux-system", "infrastructure-releases", "infrastructure-manifests", "apps"];

    if (cfg.kustomizations.length > 0) {
        files[`${clusterDir}/kustomizations.yaml`] = toYaml(cfg.kustomizations.map((k) => kustomizationFromConfig(k, fluxNs, cfg.sources, fleetSourceKind(cfg.fleet.oci))));
        clusterResources.push("kustomizations.yaml");
        kustomizationNames.push(...cfg.kustomizations.map((k) => k.name));
    }

    // --- image automation objects live with the cluster sync (flux-system namespace).
    const automated = cfg.apps.filter((a) => a.imagePolicy);
    if (cfg.imageAutomation.enabled && automated.length > 0) {
        const objs: KubeObject[] = [];
        for (const a of automated) {
            objs.push(imageRepository(appPolicyName(a), fluxNs, a.image, a.imagePolicy!));
            objs.push(imagePolicy(appPolicyName(a), fluxNs, a.imagePolicy!));
        }
        objs.push(imageUpdateAutomation(env, fluxNs, cfg.imageAutomation));
        files[`${clusterDir}/image-automation.yaml`] = toYaml(objs);
        clusterResources.push("image-automation.yaml");
    }

    // --- notifications.
    const n = cfg.notifications;
    if (n.providers.length > 0 || n.receiver.enabled) {
        const secrets = new Set(inputs.providerSecrets ?? []);
        const objs: KubeObject[] = [
            ...n.providers.map((p) => notificationProvider(p, fluxNs, secrets.has(p.name))),
            ...n.alerts.map((a) => alert(a, fluxNs)),
        ];
        if (n.receiver.enabled) objs.push(receiver(receiverName(env), fluxNs, n.receiver.type));
        files[`${clusterDir}/notifications.yaml`] = toYaml(objs);
        clusterResources.push("notifications.yaml");
    }
    files[`${clusterDir}/kustomization.yaml`] = kustomizationFile(clusterResources);

    // --- infrastructure: base entries (env-neutral) and this environment's selection and pins.
    const releaseResources: string[] = [];
    const releasePatches: Array<{ path: string }> = [];
    const sourceNs = fluxNs;
    // The delivery stack (Istio, Prometheus, Flagger, load tester, Grafana) comes first: its
    // releases are ordered by dependsOn, and the apps' canaries need its CRDs.
    const delivery = deliveryStack(cfg.delivery, fluxNs);
    for (const s of [...delivery.sources, ...cfg.sources]) {
        const dir = `infrastructure/base/_sources/${s.name}`;
        files[`${dir}/${s.kind === "helm" ? "helmrepository" : s.kind === "oci" ? "ocirepository" : "gitrepository"}.yaml`] = toYaml([source(s)]);
        files[`${dir}/kustomization.yaml`] = kustomizationFile([`${s.kind === "helm" ? "helmrepository" : s.kind === "oci" ? "ocirepository" : "gitrepository"}.yaml`]);
        releaseResources.push(`../../base/_sources/${s.name}`);
    }
    for (const r of [...delivery.releases, ...cfg.releases]) {
        const dir = `infrastructure/base/releases/${r.name}`;
        files[`${dir}/helmrelease.yaml`] = toYaml([helmReleaseBase(r, sourceNs)]);
        files[`${dir}/kustomization.yaml`] = kustomizationFile(["helmrelease.yaml"]);
        releaseResources.push(`../../base/releases/${r.name}`);
        files[`infrastructure/${env}/releases/patches/${r.name}.yaml`] = toYaml([releasePatch(r)]);
        releasePatches.push({ path: `patches/${r.name}.yaml` });
    }
    files[`infrastructure/${env}/releases/kustomization.yaml`] = kustomizationFile(releaseResources, releasePatches.length ? { patches: releasePatches } : {});

    const manifestResources: string[] = [];
    const manifestPatches: Array<{ path: string }> = [];
    if (cfg.delivery.istio.enabled && cfg.delivery.istio.gateway) {
        // The base is shared by every environment; the overlay pins this environment's hosts.
        const dir = "infrastructure/base/manifests/istio-gateway";
        files[`${dir}/gateway.yaml`] = toYaml([publicGateway(["*"])]);
        files[`${dir}/kustomization.yaml`] = kustomizationFile(["gateway.yaml"]);
        manifestResources.push("../../base/manifests/istio-gateway");
        const gw = publicGateway(cfg.delivery.istio.gatewayHosts);
        files[`infrastructure/${env}/manifests/patches/istio-gateway.yaml`] = toYaml([{ apiVersion: gw.apiVersion, kind: gw.kind, metadata: gw.metadata, spec: { servers: gw.spec.servers } }]);
        manifestPatches.push({ path: "patches/istio-gateway.yaml" });
    }
    const appNamespaces = new Map<string, AppConfig>();
    for (const a of cfg.apps) if (!appNamespaces.has(a.namespace)) appNamespaces.set(a.namespace, a);
    for (const [ns, a] of appNamespaces) {
        const dir = `infrastructure/base/manifests/namespace-${ns}`;
        files[`${dir}/namespace.yaml`] = toYaml([namespace(ns, { "app.kubernetes.io/part-of": "gitops-platform" })]);
        files[`${dir}/kustomization.yaml`] = kustomizationFile(["namespace.yaml"]);
        manifestResources.push(`../../base/manifests/namespace-${ns}`);
        // Sidecar injection is per environment (the base is shared): the overlay labels the namespace.
        if (a.istioInjection) {
            files[`infrastructure/${env}/manifests/patches/namespace-${ns}.yaml`] = toYaml([namespace(ns, { "istio-injection": "enabled" })]);
            manifestPatches.push({ path: `patches/namespace-${ns}.yaml` });
        }
    }
    files[`infrastructure/${env}/manifests/kustomization.yaml`] = kustomizationFile(manifestResources, manifestPatches.length ? { patches: manifestPatches } : {});

    // --- apps: base per app; the overlay pins tag (with a setter marker unless frozen), replicas, env.
    const appResources: string[] = [];
    const images: Array<{ name: string; newTag: string }> = [];
    const markers: Array<{ index: number; policy: string }> = [];
    const replicas: Array<{ name: string; count: number }> = [];
    const appPatches: Array<{ path: string }> = [];
    for (const a of cfg.apps) {
        const dir = `apps/base/${a.name}`;
        files[`${dir}/deployment.yaml`] = toYaml([appDeployment(a)]);
        files[`${dir}/service.yaml`] = toYaml([appService(a)]);
        files[`${dir}/kustomization.yaml`] = kustomizationFile(["deployment.yaml", "service.yaml"]);
        appResources.push(`../base/${a.name}`);
        if (a.imagePolicy && !a.freeze) markers.push({ index: images.length, policy: `${fluxNs}:${appPolicyName(a)}:tag` });
        images.push({ name: a.image, newTag: a.tag });
        replicas.push({ name: a.name, count: a.replicas });
        if (Object.keys(a.env).length > 0) {
            files[`apps/${env}/patches/${a.name}-env.yaml`] = toYaml([appEnvPatch(a)]);
            appPatches.push({ path: `patches/${a.name}-env.yaml` });
        }
        if (a.canary) {
            // Flagger owns the app's Services (apex, -primary, -canary) in this environment.
            files[`apps/${env}/canaries/${a.name}.yaml`] = toYaml([canaryObject(a, { gateway: cfg.delivery.istio.enabled && cfg.delivery.istio.gateway, hosts: cfg.delivery.istio.gatewayHosts, templates: cfg.delivery.metricTemplates })]);
            files[`apps/${env}/patches/${a.name}-service-delete.yaml`] = toYaml([appServiceDelete(a)]);
            appResources.push(`canaries/${a.name}.yaml`);
            appPatches.push({ path: `patches/${a.name}-service-delete.yaml` });
        }
    }
    const templates = cfg.delivery.flagger.enabled ? cfg.delivery.metricTemplates : [];
    if (templates.length > 0) {
        files[`apps/${env}/metric-templates.yaml`] = toYaml(templates.map(metricTemplateObject));
        appResources.unshift("metric-templates.yaml");
    }
    const overlay = new Document({
        ...KUSTOMIZE_HEADER,
        resources: appResources,
        ...(images.length ? { images } : {}),
        ...(replicas.length ? { replicas } : {}),
        ...(appPatches.length ? { patches: appPatches } : {}),
    });
    for (const m of markers) {
        const node = overlay.getIn(["images", m.index, "newTag"], true) as { comment?: string };
        node.comment = ` {"$imagepolicy": "${m.policy}"}`;
    }
    files[`apps/${env}/kustomization.yaml`] = overlay.toString({ lineWidth: 0 });

    const bootstrap: KubeObject[] = [...(install ? structuredClone(install.objects) : []), ...sync];
    return {
        files: sortFiles(files),
        owned: [`${clusterDir}/`, `infrastructure/${env}/`, `apps/${env}/`],
        kustomizations: kustomizationNames,
        bootstrap,
    };
}

/** The upstream install for the stack's Flux settings (what `flux install` would write). */
export function fluxInstall(cfg: StackConfig, componentsFile?: string): UpstreamInstall {
    return loadUpstreamInstall({
        version: cfg.flux.version,
        namespace: cfg.flux.namespace,
        components: cfg.flux.components,
        networkPolicy: cfg.flux.networkPolicy,
        componentsFile,
    });
}

function sortFiles(files: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.keys(files).sort().map((k) => [k, files[k]]));
}

export function appLabels(a: AppConfig): Record<string, string> {
    return { app: a.name, "app.kubernetes.io/name": a.name, "app.kubernetes.io/part-of": "gitops-platform" };
}

function appDeployment(a: AppConfig): KubeObject {
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: a.name, namespace: a.namespace, labels: appLabels(a) },
        spec: {
            replicas: 1,
            revisionHistoryLimit: 5,
            selector: { matchLabels: { app: a.name } },
            template: {
                metadata: { labels: appLabels(a) },
                spec: {
                    containers: [
                        {
                            name: a.name,
                            image: a.image,
                            imagePullPolicy: "IfNotPresent",
                            ports: [{ name: "http", containerPort: a.port, protocol: "TCP" }],
                            readinessProbe: { tcpSocket: { port: "http" }, initialDelaySeconds: 2, periodSeconds: 5 },
                            resources: { requests: { cpu: "10m", memory: "32Mi" }, limits: { memory: "128Mi" } },
                            securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ["ALL"] } },
                        },
                    ],
                },
            },
        },
    };
}

function appService(a: AppConfig): KubeObject {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: a.name, namespace: a.namespace, labels: appLabels(a) },
        spec: { type: "ClusterIP", selector: { app: a.name }, ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }] },
    };
}

/** Deletes the base Service in an environment where Flagger generates the app's Services. */
function appServiceDelete(a: AppConfig): KubeObject {
    return { apiVersion: "v1", kind: "Service", metadata: { name: a.name, namespace: a.namespace }, $patch: "delete" };
}

function appEnvPatch(a: AppConfig): KubeObject {
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: a.name, namespace: a.namespace },
        spec: { template: { spec: { containers: [{ name: a.name, env: Object.entries(a.env).map(([name, value]) => ({ name, value })) }] } } },
    };
}

/** The deploy key Secret flux-system reads (data added by the bootstrap, never written to Git). */
export { DEPLOY_KEY_SECRET };
