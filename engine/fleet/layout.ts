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
import { projectFile } from "../config/load";
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
    KustomizationInput,
    namespace,
    notificationProvider,
    receiver,
    releasePatch,
    source,
    SOURCE_KIND,
} from "./objects";
import { toYaml } from "./yaml";
import { canaryObject, deliveryStack, metricTemplateObject, publicGateway } from "../delivery";

/** Where an object of the plan sits: the bootstrap, an environment's overlay patch, or a declared object. */
export type PlannedRole = "bootstrap" | "patch" | "object";

/** One object of the plan and the file that holds it (the same object `files[path]` serializes). */
export interface PlannedObject {
    readonly path: string;
    readonly object: KubeObject;
    readonly role: PlannedRole;
}

export interface FleetPlan {
    /** Every file the stack declares: repo-relative path -> content. */
    files: Record<string, string>;
    /**
     * Every object written into `files` through the plan (all but the upstream install, which is
     * committed verbatim), in file order: the typed view the Pulumi components read.
     */
    objects: PlannedObject[];
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

/**
 * The plan of a stack in a project, as the program and `gitops fleet render` both build it:
 * gitops:flux.componentsFile resolved against the project (a GitopsError naming the key when it is
 * not a file there), and the providers' Secret references when gitops:notificationSecrets is set
 * (only its presence matters here; the values stay in Pulumi).
 */
export function stackPlan(cfg: StackConfig, projectDir: string, opts: { notificationSecrets: boolean }): FleetPlan {
    const componentsFile = cfg.flux.componentsFile ? projectFile(projectDir, "flux.componentsFile", cfg.flux.componentsFile) : undefined;
    const providerSecrets = opts.notificationSecrets ? cfg.notifications.providers.map((p) => p.name) : [];
    return renderFleet(cfg, { componentsFile, providerSecrets });
}

export function renderFleet(cfg: StackConfig, inputs: FleetInputs = {}): FleetPlan {
    const env = cfg.stack;
    const fluxNs = cfg.flux.namespace;
    const files: Record<string, string> = {};
    const objects: PlannedObject[] = [];
    /** Writes objects to one file and records each with its path: the only way a manifest enters the plan. */
    const write = (path: string, objs: KubeObject[], role: PlannedRole = "object", header = "") => {
        files[path] = toYaml(objs, header);
        for (const object of objs) objects.push({ path, object, role });
    };
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
    write(`${clusterDir}/flux-system/gotk-sync.yaml`, sync, "bootstrap", "# This manifest was generated by gitops-platform. DO NOT EDIT.\n");
    fluxFiles.push("gotk-sync.yaml");
    files[`${clusterDir}/flux-system/kustomization.yaml`] = kustomizationFile(fluxFiles);

    // --- the Kustomization chain: infrastructure-releases -> infrastructure-manifests -> apps.
    const sourceRef = { kind: fleetSourceKind(cfg.fleet.oci), name: "flux-system" };
    const chainCommon: Omit<KustomizationInput, "name" | "path"> = {
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
    write(`${clusterDir}/infrastructure.yaml`, [infraReleases, infraManifests]);
    write(`${clusterDir}/apps.yaml`, [apps]);
    const clusterResources = ["flux-system", "infrastructure.yaml", "apps.yaml"];
    const kustomizationNames = ["flux-system", "infrastructure-releases", "infrastructure-manifests", "apps"];

    if (cfg.kustomizations.length > 0) {
        write(`${clusterDir}/kustomizations.yaml`, cfg.kustomizations.map((k) => kustomizationFromConfig(k, fluxNs, cfg.sources, fleetSourceKind(cfg.fleet.oci))));
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
        write(`${clusterDir}/image-automation.yaml`, objs);
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
        write(`${clusterDir}/notifications.yaml`, objs);
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
        const file = `${SOURCE_KIND[s.kind].toLowerCase()}.yaml`;
        write(`${dir}/${file}`, [source(s)]);
        files[`${dir}/kustomization.yaml`] = kustomizationFile([file]);
        releaseResources.push(`../../base/_sources/${s.name}`);
    }
    for (const r of [...delivery.releases, ...cfg.releases]) {
        const dir = `infrastructure/base/releases/${r.name}`;
        write(`${dir}/helmrelease.yaml`, [helmReleaseBase(r, sourceNs)]);
        files[`${dir}/kustomization.yaml`] = kustomizationFile(["helmrelease.yaml"]);
        releaseResources.push(`../../base/releases/${r.name}`);
        write(`infrastructure/${env}/releases/patches/${r.name}.yaml`, [releasePatch(r)], "patch");
        releasePatches.push({ path: `patches/${r.name}.yaml` });
    }
    files[`infrastructure/${env}/releases/kustomization.yaml`] = kustomizationFile(releaseResources, releasePatches.length ? { patches: releasePatches } : {});

    const manifestResources: string[] = [];
    const manifestPatches: Array<{ path: string }> = [];
    if (cfg.delivery.istio.enabled && cfg.delivery.istio.gateway) {
        // The base is shared by every environment; the overlay pins this environment's hosts.
        const dir = "infrastructure/base/manifests/istio-gateway";
        write(`${dir}/gateway.yaml`, [publicGateway(["*"])]);
        files[`${dir}/kustomization.yaml`] = kustomizationFile(["gateway.yaml"]);
        manifestResources.push("../../base/manifests/istio-gateway");
        const gw = publicGateway(cfg.delivery.istio.gatewayHosts);
        write(`infrastructure/${env}/manifests/patches/istio-gateway.yaml`, [{ apiVersion: gw.apiVersion, kind: gw.kind, metadata: gw.metadata, spec: { servers: gw.spec.servers } }], "patch");
        manifestPatches.push({ path: "patches/istio-gateway.yaml" });
    }
    const appNamespaces = new Map<string, AppConfig>();
    for (const a of cfg.apps) if (!appNamespaces.has(a.namespace)) appNamespaces.set(a.namespace, a);
    for (const [ns, a] of appNamespaces) {
        const dir = `infrastructure/base/manifests/namespace-${ns}`;
        write(`${dir}/namespace.yaml`, [namespace(ns, { "app.kubernetes.io/part-of": "gitops-platform" })]);
        files[`${dir}/kustomization.yaml`] = kustomizationFile(["namespace.yaml"]);
        manifestResources.push(`../../base/manifests/namespace-${ns}`);
        // Sidecar injection is per environment (the base is shared): the overlay labels the namespace.
        if (a.istioInjection) {
            write(`infrastructure/${env}/manifests/patches/namespace-${ns}.yaml`, [namespace(ns, { "istio-injection": "enabled" })], "patch");
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
        write(`${dir}/deployment.yaml`, [appDeployment(a)]);
        write(`${dir}/service.yaml`, [appService(a)]);
        files[`${dir}/kustomization.yaml`] = kustomizationFile(["deployment.yaml", "service.yaml"]);
        appResources.push(`../base/${a.name}`);
        if (a.imagePolicy && !a.freeze) markers.push({ index: images.length, policy: `${fluxNs}:${appPolicyName(a)}:tag` });
        images.push({ name: a.image, newTag: a.tag });
        replicas.push({ name: a.name, count: a.replicas });
        if (Object.keys(a.env).length > 0) {
            write(`apps/${env}/patches/${a.name}-env.yaml`, [appEnvPatch(a)], "patch");
            appPatches.push({ path: `patches/${a.name}-env.yaml` });
        }
        if (a.canary) {
            // Flagger owns the app's Services (apex, -primary, -canary) in this environment.
            write(`apps/${env}/canaries/${a.name}.yaml`, [canaryObject(a, { gateway: cfg.delivery.istio.enabled && cfg.delivery.istio.gateway, hosts: cfg.delivery.istio.gatewayHosts, templates: cfg.delivery.metricTemplates })]);
            write(`apps/${env}/patches/${a.name}-service-delete.yaml`, [appServiceDelete(a)], "patch");
            appResources.push(`canaries/${a.name}.yaml`);
            appPatches.push({ path: `patches/${a.name}-service-delete.yaml` });
        }
    }
    const templates = cfg.delivery.flagger.enabled ? cfg.delivery.metricTemplates : [];
    if (templates.length > 0) {
        write(`apps/${env}/metric-templates.yaml`, templates.map(metricTemplateObject));
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
        objects,
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
