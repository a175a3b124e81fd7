/**
 * The delivery stack as plain config the fleet layout already knows how to write: Helm sources
 * and HelmReleases for Istio (base -> istiod -> gateway), Prometheus, Flagger (after istiod and
 * Prometheus), its load tester and Grafana, plus the public Istio Gateway. Versions come from
 * gitops:delivery.* and are pinned per environment by the overlay patches.
 */
import type { DeliveryConfig, ReleaseConfig, SourceConfig } from "../config/schema";
import { IstioGateway, ISTIO_NETWORKING } from "../flux/api";
import { FLAGGER_NAMESPACE, GATEWAY_NAME, GATEWAY_NAMESPACE, MONITORING_NAMESPACE, PROMETHEUS_URL } from "./canary";

export const DELIVERY_SOURCES = {
    istio: "https://istio-release.storage.googleapis.com/charts",
    flagger: "https://flagger.app",
    "prometheus-community": "https://prometheus-community.github.io/helm-charts",
    grafana: "https://grafana.github.io/helm-charts",
} as const;

/** Flagger's Istio dashboard, as published with Flagger's own Grafana chart. */
export const FLAGGER_ISTIO_DASHBOARD = "https://raw.githubusercontent.com/fluxcd/flagger/main/charts/grafana/dashboards/istio.json";

/** The label the gateway chart puts on its pods for release "istio-gateway" (the name without "istio-"). */
export const GATEWAY_SELECTOR = { istio: "gateway" };

export interface DeliveryStack {
    sources: SourceConfig[];
    releases: ReleaseConfig[];
}

function helmSource(name: keyof typeof DELIVERY_SOURCES, namespace: string): SourceConfig {
    return { name, kind: "helm", namespace, url: DELIVERY_SOURCES[name], interval: "1h0m0s", type: "default" };
}

function release(name: string, chart: string, version: string, source: string, targetNamespace: string, namespace: string, dependsOn: string[], values?: Record<string, unknown>): ReleaseConfig {
    return {
        name,
        namespace,
        targetNamespace,
        chart,
        version,
        source,
        interval: "10m0s",
        values,
        valuesFrom: [],
        install: { createNamespace: true, crds: "Create", remediation: { retries: 3 } },
        upgrade: { crds: "CreateReplace", remediation: { retries: 3, remediateLastFailure: true } },
        dependsOn,
    };
}

/**
 * The sources and releases the delivery config asks for. HelmRelease objects live in the Flux
 * namespace (so dependsOn stays within one namespace) and install into their target namespaces.
 */
export function deliveryStack(d: DeliveryConfig, fluxNamespace: string): DeliveryStack {
    const sources: SourceConfig[] = [];
    const releases: ReleaseConfig[] = [];
    const ns = fluxNamespace;
    if (d.istio.enabled) {
        sources.push(helmSource("istio", ns));
        releases.push(release("istio-base", "base", d.istio.version, "istio", FLAGGER_NAMESPACE, ns, [], { defaultRevision: "default" }));
        releases.push(release("istiod", "istiod", d.istio.version, "istio", FLAGGER_NAMESPACE, ns, ["istio-base"], { meshConfig: { accessLogFile: "/dev/stdout" } }));
        if (d.istio.gateway) releases.push(release("istio-gateway", "gateway", d.istio.version, "istio", GATEWAY_NAMESPACE, ns, ["istiod"], { service: { type: "LoadBalancer" } }));
    }
    if (d.prometheus.enabled) {
        sources.push(helmSource("prometheus-community", ns));
        releases.push(
            release("prometheus", "prometheus", d.prometheus.version, "prometheus-community", MONITORING_NAMESPACE, ns, [], {
                alertmanager: { enabled: false },
                "prometheus-pushgateway": { enabled: false },
                "kube-state-metrics": { enabled: false },
                "prometheus-node-exporter": { enabled: false },
            }),
        );
    }
    if (d.flagger.enabled) {
        sources.push(helmSource("flagger", ns));
        const deps = [...(d.istio.enabled ? ["istiod"] : []), ...(d.prometheus.enabled ? ["prometheus"] : [])];
        releases.push(release("flagger", "flagger", d.flagger.version, "flagger", FLAGGER_NAMESPACE, ns, deps, { meshProvider: "istio", metricsServer: PROMETHEUS_URL, crd: { create: true } }));
        releases.push(release("flagger-loadtester", "loadtester", d.flagger.loadtesterVersion, "flagger", FLAGGER_NAMESPACE, ns, ["flagger"]));
    }
    if (d.grafana.enabled) {
        sources.push(helmSource("grafana", ns));
        releases.push(
            release("grafana", "grafana", d.grafana.version, "grafana", MONITORING_NAMESPACE, ns, d.prometheus.enabled ? ["prometheus"] : [], {
                datasources: { "datasources.yaml": { apiVersion: 1, datasources: [{ name: "Prometheus", type: "prometheus", url: PROMETHEUS_URL, access: "proxy", isDefault: true }] } },
                dashboardProviders: {
                    "dashboardproviders.yaml": { apiVersion: 1, providers: [{ name: "flagger", orgId: 1, folder: "Flagger", type: "file", disableDeletion: false, options: { path: "/var/lib/grafana/dashboards/flagger" } }] },
                },
                dashboards: { flagger: { istio: { url: FLAGGER_ISTIO_DASHBOARD } } },
            }),
        );
    }
    return { sources, releases };
}

/** The public Gateway canaries route through (port 80, the configured hosts). */
export function publicGateway(hosts: string[]): IstioGateway {
    return {
        apiVersion: ISTIO_NETWORKING,
        kind: "Gateway",
        metadata: { name: GATEWAY_NAME, namespace: GATEWAY_NAMESPACE },
        spec: { selector: { ...GATEWAY_SELECTOR }, servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: [...hosts] }] },
    };
}
