/**
 * The progressive-delivery infrastructure as typed components. Each declares HelmRepositories and
 * HelmReleases (and the public Gateway) into the fleet repo; Flux installs them in dependsOn
 * order: istio-base -> istiod -> istio-gateway; prometheus; flagger (after istiod and prometheus)
 * -> flagger-loadtester; grafana (after prometheus).
 */
import * as pulumi from "@pulumi/pulumi";
import type { DeliveryConfig, ReleaseConfig, SourceConfig } from "../../engine/config";
import { deliveryStack, publicGateway } from "../../engine/delivery";
import { IstioGateway } from "../../engine/flux/api";
import { ManifestComponent } from "../flux/manifest";
import { HelmSource } from "../flux/sources";
import { FluxHelmRelease } from "../flux/sync";

/** Defaults of gitops:delivery, so each component can be used on its own. */
const DEFAULTS: DeliveryConfig = {
    istio: { enabled: false, version: "1.27.1", gateway: true, gatewayHosts: ["*"] },
    flagger: { enabled: false, version: "1.41.0", loadtesterVersion: "0.35.0" },
    prometheus: { enabled: false, version: "27.28.0" },
    grafana: { enabled: false, version: "9.3.0" },
    metricTemplates: [],
};

abstract class ReleaseGroup extends pulumi.ComponentResource {
    readonly sources: HelmSource[] = [];
    readonly releases: FluxHelmRelease[] = [];

    /** HelmSources take the object name (like the stack's own sources); HelmReleases `<prefix>-<release>`. */
    protected declare_(prefix: string, fluxNamespace: string, sources: SourceConfig[], releases: ReleaseConfig[]): void {
        for (const s of sources) this.sources.push(new HelmSource(s.name, { namespace: s.namespace, url: s.url, interval: s.interval, type: s.type }, { parent: this }));
        for (const r of releases) this.releases.push(new FluxHelmRelease(`${prefix}-${r.name}`, { ...r, objectName: r.name, sourceNamespace: fluxNamespace }, { parent: this }));
    }

    /** Every manifest this group declares (sources first). */
    get manifests() {
        return [...this.sources.map((s) => s.manifest), ...this.releases.map((r) => r.manifest)];
    }
}

export interface IstioMeshArgs {
    /** Prefix of the HelmRelease resource names (`<prefix>-<release>`). Default: the component name. */
    readonly namePrefix?: string;
    /** Istio chart version (base, istiod, gateway). Default "1.27.1". */
    readonly version?: string;
    /** Install the ingress gateway and the public Gateway object. Default true. */
    readonly gateway?: boolean;
    /** Hosts the public Gateway accepts. Default ["*"]. */
    readonly gatewayHosts?: string[];
    /** Namespace of the Flux objects. Default "flux-system". */
    readonly fluxNamespace?: string;
}

/** Istio base, istiod and the ingress gateway, and the public Gateway (networking.istio.io/v1). */
export class IstioMesh extends ReleaseGroup {
    readonly gatewayObject?: IstioGateway;
    readonly gateway?: IstioGatewayManifest;

    constructor(name: string, args: IstioMeshArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:delivery:IstioMesh", name, {}, opts);
        const ns = args.fluxNamespace ?? "flux-system";
        const istio = { enabled: true, version: args.version ?? DEFAULTS.istio.version, gateway: args.gateway ?? true, gatewayHosts: args.gatewayHosts ?? ["*"] };
        const stack = deliveryStack({ ...DEFAULTS, istio }, ns);
        this.declare_(args.namePrefix ?? name, ns, stack.sources, stack.releases);
        if (istio.gateway) this.gateway = new IstioGatewayManifest(`${name}-public-gateway`, { hosts: istio.gatewayHosts }, { parent: this });
        this.registerOutputs({ releases: this.releases.map((r) => r.manifest.metadata.name), version: istio.version });
    }
}

export class IstioGatewayManifest extends ManifestComponent<IstioGateway> {
    constructor(name: string, args: { readonly hosts: string[] }, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:delivery:Gateway", name, publicGateway(args.hosts), opts);
    }
}

export interface FlaggerArgs {
    /** Prefix of the HelmRelease resource names (`<prefix>-<release>`). Default: the component name. */
    readonly namePrefix?: string;
    /** Flagger chart version. Default "1.41.0". */
    readonly version?: string;
    /** Load tester chart version. Default "0.35.0". */
    readonly loadtesterVersion?: string;
    /** Wait for istiod before installing. Default true. */
    readonly afterIstio?: boolean;
    /** Wait for Prometheus before installing. Default true. */
    readonly afterPrometheus?: boolean;
    readonly fluxNamespace?: string;
}

/** Flagger (meshProvider istio, metricsServer the platform's Prometheus) and its load tester. */
export class Flagger extends ReleaseGroup {
    constructor(name: string, args: FlaggerArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:delivery:Flagger", name, {}, opts);
        const ns = args.fluxNamespace ?? "flux-system";
        const flagger = { enabled: true, version: args.version ?? DEFAULTS.flagger.version, loadtesterVersion: args.loadtesterVersion ?? DEFAULTS.flagger.loadtesterVersion };
        const stack = deliveryStack({ ...DEFAULTS, istio: { ...DEFAULTS.istio, enabled: args.afterIstio ?? true }, prometheus: { ...DEFAULTS.prometheus, enabled: args.afterPrometheus ?? true }, flagger }, ns);
        this.declare_(args.namePrefix ?? name, ns, stack.sources.filter((s) => s.name === "flagger"), stack.releases.filter((r) => r.source === "flagger"));
        this.registerOutputs({ releases: this.releases.map((r) => r.manifest.metadata.name), version: flagger.version });
    }
}

export interface MonitoringArgs {
    /** Prefix of the HelmRelease resource names (`<prefix>-<release>`). Default: the component name. */
    readonly namePrefix?: string;
    /** Install Prometheus (prometheus-community chart). Default true. */
    readonly prometheus?: boolean;
    readonly prometheusVersion?: string;
    /** Install Grafana with Flagger's Istio dashboard. Default true. */
    readonly grafana?: boolean;
    readonly grafanaVersion?: string;
    readonly fluxNamespace?: string;
}

/** Prometheus (Flagger's metrics server) and Grafana with Flagger's dashboard. */
export class Monitoring extends ReleaseGroup {
    constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:delivery:Monitoring", name, {}, opts);
        const ns = args.fluxNamespace ?? "flux-system";
        const stack = deliveryStack(
            {
                ...DEFAULTS,
                prometheus: { enabled: args.prometheus ?? true, version: args.prometheusVersion ?? DEFAULTS.prometheus.version },
                grafana: { enabled: args.grafana ?? true, version: args.grafanaVersion ?? DEFAULTS.grafana.version },
            },
            ns,
        );
        this.declare_(args.namePrefix ?? name, ns, stack.sources, stack.releases);
        this.registerOutputs({ releases: this.releases.map((r) => r.manifest.metadata.name) });
    }
}

/** The delivery components a stack's gitops:delivery asks for. */
export function deliveryComponents(name: string, d: DeliveryConfig, fluxNamespace: string, opts: pulumi.ComponentResourceOptions): Array<IstioMesh | Flagger | Monitoring> {
    const out: Array<IstioMesh | Flagger | Monitoring> = [];
    if (d.istio.enabled) out.push(new IstioMesh(`${name}-istio`, { namePrefix: name, version: d.istio.version, gateway: d.istio.gateway, gatewayHosts: d.istio.gatewayHosts, fluxNamespace }, opts));
    if (d.prometheus.enabled || d.grafana.enabled) {
        out.push(new Monitoring(`${name}-monitoring`, { namePrefix: name, prometheus: d.prometheus.enabled, prometheusVersion: d.prometheus.version, grafana: d.grafana.enabled, grafanaVersion: d.grafana.version, fluxNamespace }, opts));
    }
    if (d.flagger.enabled) {
        out.push(new Flagger(`${name}-flagger`, { namePrefix: name, version: d.flagger.version, loadtesterVersion: d.flagger.loadtesterVersion, afterIstio: d.istio.enabled, afterPrometheus: d.prometheus.enabled, fluxNamespace }, opts));
    }
    return out;
}
