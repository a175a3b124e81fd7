/**
 * The Flux install manifest (gotk-components.yaml) and the flux-system sync (gotk-sync.yaml), as
 * `flux bootstrap` writes them, generated offline from a pinned version table.
 *
 * The controllers, service accounts, RBAC, services and network policies follow Flux's own
 * install manifests. The CRDs are structural but schema-light (x-kubernetes-preserve-unknown-fields
 * with the status subresource), which the API server accepts and Flux's controllers work with;
 * for a byte-exact upstream install, vendor the release's install.yaml and point
 * `gitops:flux.componentsFile` at it.
 */
import { GitopsError } from "../errors";
import type { FleetOciSettings } from "../config/schema";
import { API, GitRepository, KubeObject, Kustomization, OCIRepository } from "../flux/api";
import type { FluxComponent, FluxConfig } from "../config/schema";

/** Controller image tags per Flux release (from the release's changelog). */
export const FLUX_RELEASES: Record<string, Record<FluxComponent, string>> = {
    "v2.7.2": {
        "source-controller": "v1.7.2",
        "kustomize-controller": "v1.7.1",
        "helm-controller": "v1.4.2",
        "notification-controller": "v1.7.3",
        "image-reflector-controller": "v1.0.2",
        "image-automation-controller": "v1.0.2",
    },
};

interface CrdSpec {
    plural: string;
    kind: string;
    group: string;
    version: string;
    shortNames?: string[];
}

const g = (apiVersion: string) => apiVersion.split("/");

/** The CRDs each controller serves, at their storage version for the pinned release. */
const CRDS: Record<FluxComponent, CrdSpec[]> = {
    "source-controller": [
        { plural: "gitrepositories", kind: "GitRepository", group: g(API.source)[0], version: "v1", shortNames: ["gitrepo"] },
        { plural: "helmrepositories", kind: "HelmRepository", group: g(API.source)[0], version: "v1", shortNames: ["helmrepo"] },
        { plural: "helmcharts", kind: "HelmChart", group: g(API.source)[0], version: "v1", shortNames: ["hc"] },
        { plural: "buckets", kind: "Bucket", group: g(API.source)[0], version: "v1" },
        { plural: "ocirepositories", kind: "OCIRepository", group: g(API.source)[0], version: "v1", shortNames: ["ocirepo"] },
    ],
    "kustomize-controller": [{ plural: "kustomizations", kind: "Kustomization", group: g(API.kustomize)[0], version: "v1", shortNames: ["ks"] }],
    "helm-controller": [{ plural: "helmreleases", kind: "HelmRelease", group: g(API.helm)[0], version: "v2", shortNames: ["hr"] }],
    "notification-controller": [
        { plural: "alerts", kind: "Alert", group: g(API.notification)[0], version: "v1beta3" },
        { plural: "providers", kind: "Provider", group: g(API.notification)[0], version: "v1beta3" },
        { plural: "receivers", kind: "Receiver", group: g(API.receiver)[0], version: "v1" },
    ],
    "image-reflector-controller": [
        { plural: "imagerepositories", kind: "ImageRepository", group: g(API.image)[0], version: "v1" },
        { plural: "imagepolicies", kind: "ImagePolicy", group: g(API.image)[0], version: "v1" },
    ],
    "image-automation-controller": [{ plural: "imageupdateautomations", kind: "ImageUpdateAutomation", group: g(API.image)[0], version: "v1" }],
};

function labels(version: string, component?: string): Record<string, string> {
    const l: Record<string, string> = {
        "app.kubernetes.io/instance": "flux-system",
        "app.kubernetes.io/part-of": "flux",
        "app.kubernetes.io/version": version,
    };
    if (component) l["app.kubernetes.io/component"] = component;
    return l;
}

function crd(c: CrdSpec, version: string, component: string): KubeObject {
    return {
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name: `${c.plural}.${c.group}`, labels: labels(version, component) },
        spec: {
            group: c.group,
            names: { kind: c.kind, listKind: `${c.kind}List`, plural: c.plural, singular: c.kind.toLowerCase(), ...(c.shortNames ? { shortNames: c.shortNames } : {}) },
            scope: "Namespaced",
            versions: [
                {
                    name: c.version,
                    served: true,
                    storage: true,
                    subresources: { status: {} },
                    additionalPrinterColumns: [
                        { jsonPath: ".metadata.creationTimestamp", name: "Age", type: "date" },
                        { jsonPath: '.status.conditions[?(@.type=="Ready")].status', name: "Ready", type: "string" },
                        { jsonPath: '.status.conditions[?(@.type=="Ready")].message', name: "Status", type: "string" },
                    ],
                    schema: {
                        openAPIV3Schema: {
                            type: "object",
                            properties: {
                                apiVersion: { type: "string" },
                                kind: { type: "string" },
                                metadata: { type: "object" },
                                spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
                                status: { type: "object", "x-kubernetes-preserve-unknown-fields": true, default: { observedGeneration: -1 } },
                            },
                        },
                    },
                },
            ],
        },
    };
}

function deployment(component: FluxComponent, tag: string, version: string, ns: string): KubeObject {
    const isSource = component === "source-controller";
    const isNotification = component === "notification-controller";
    const args = [
        ...(isNotification ? [] : [`--events-addr=http://notification-controller.${ns}.svc.cluster.local./`]),
        "--watch-all-namespaces=true",
        "--log-level=info",
        "--log-encoding=json",
        "--enable-leader-election",
        ...(isSource ? ["--storage-path=/data", `--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local.`] : []),
    ];
    const ports = [
        ...(isSource ? [{ containerPort: 9090, name: "http", protocol: "TCP" }] : []),
        ...(isNotification ? [{ containerPort: 9090, name: "http", protocol: "TCP" }, { containerPort: 9292, name: "http-webhook", protocol: "TCP" }] : []),
        { containerPort: 8080, name: "http-prom", protocol: "TCP" },
        { containerPort: 9440, name: "healthz", protocol: "TCP" },
    ];
    const volumes = isSource ? [{ name: "data", emptyDir: {} }, { name: "tmp", emptyDir: {} }] : [{ name: "temp", emptyDir: {} }];
    const mounts = isSource ? [{ mountPath: "/data", name: "data" }, { mountPath: "/tmp", name: "tmp" }] : [{ mountPath: "/tmp", name: "temp" }];
    return {
        apiVersion: "apps/v1",
        kind: "Deployment",
        metadata: { name: component, namespace: ns, labels: { ...labels(version, component), "control-plane": "controller" } },
        spec: {
            replicas: 1,
            selector: { matchLabels: { app: component } },
            ...(isSource ? { strategy: { type: "Recreate" } } : {}),
            template: {
                metadata: { labels: { app: component }, annotations: { "prometheus.io/port": "8080", "prometheus.io/scrape": "true" } },
                spec: {
                    serviceAccountName: component,
                    terminationGracePeriodSeconds: 10,
                    securityContext: { fsGroup: 1337 },
                    nodeSelector: { "kubernetes.io/os": "linux" },
                    priorityClassName: "system-cluster-critical",
                    containers: [
                        {
                            name: "manager",
                            image: `ghcr.io/fluxcd/${component}:${tag}`,
                            imagePullPolicy: "IfNotPresent",
                            args,
                            env: [
                                { name: "RUNTIME_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
                                { name: "GOMAXPROCS", valueFrom: { resourceFieldRef: { containerName: "manager", resource: "limits.cpu" } } },
                                { name: "GOMEMLIMIT", valueFrom: { resourceFieldRef: { containerName: "manager", resource: "limits.memory" } } },
                            ],
                            ports,
                            livenessProbe: { httpGet: { path: "/healthz", port: "healthz" } },
                            readinessProbe: isSource || isNotification ? { httpGet: { path: "/", port: "http" } } : { httpGet: { path: "/readyz", port: "healthz" } },
                            resources: { limits: { cpu: "1000m", memory: "1Gi" }, requests: { cpu: "100m", memory: "64Mi" } },
                            securityContext: {
                                allowPrivilegeEscalation: false,
                                capabilities: { drop: ["ALL"] },
                                readOnlyRootFilesystem: true,
                                runAsNonRoot: true,
                                seccompProfile: { type: "RuntimeDefault" },
                            },
                            volumeMounts: mounts,
                        },
                    ],
                    volumes,
                },
            },
        },
    };
}

function service(name: string, ns: string, version: string, component: string, port: string, selector: string): KubeObject {
    return {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace: ns, labels: labels(version, component) },
        spec: { type: "ClusterIP", selector: { app: selector }, ports: [{ name: "http", port: 80, protocol: "TCP", targetPort: port }] },
    };
}

/** Every object of gotk-components.yaml, in Flux's install order. */
export function fluxComponents(flux: FluxConfig): KubeObject[] {
    const tags = FLUX_RELEASES[flux.version];
    if (!tags) {
        throw new GitopsError(
            "gitops:flux.version",
            `${flux.version} has no built-in component table (known: ${Object.keys(FLUX_RELEASES).join(", ")})`,
            "pin a known version, or vendor the release's install.yaml and set gitops:flux.componentsFile to it",
        );
    }
    const ns = flux.namespace;
    const v = flux.version;
    const objs: KubeObject[] = [
        {
            apiVersion: "v1",
            kind: "Namespace",
            metadata: { name: ns, labels: { ...labels(v), "pod-security.kubernetes.io/warn": "restricted", "pod-security.kubernetes.io/warn-version": "latest" } },
        },
        {
            apiVersion: "v1",
            kind: "ResourceQuota",
            metadata: { name: "critical-pods-flux-system", namespace: ns, labels: labels(v) },
            spec: { hard: { pods: "1000" }, scopeSelector: { matchExpressions: [{ operator: "In", scopeName: "PriorityClass", values: ["system-node-critical", "system-cluster-critical"] }] } },
        },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRole",
            metadata: { name: `crd-controller-${ns}`, labels: labels(v) },
            rules: [
                { apiGroups: ["source.toolkit.fluxcd.io", "kustomize.toolkit.fluxcd.io", "helm.toolkit.fluxcd.io", "notification.toolkit.fluxcd.io", "image.toolkit.fluxcd.io"], resources: ["*"], verbs: ["*"] },
                { apiGroups: [""], resources: ["namespaces", "secrets", "configmaps", "serviceaccounts"], verbs: ["get", "list", "watch"] },
                { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
                { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
                { apiGroups: [""], resources: ["configmaps/status"], verbs: ["get", "update", "patch"] },
                { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch", "create", "update", "patch", "delete"] },
            ],
        },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name: `cluster-reconciler-${ns}`, labels: labels(v) },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
            subjects: ["kustomize-controller", "helm-controller"]
                .filter((c) => flux.components.includes(c as FluxComponent))
                .map((c) => ({ kind: "ServiceAccount", name: c, namespace: ns })),
        },
        {
            apiVersion: "rbac.authorization.k8s.io/v1",
            kind: "ClusterRoleBinding",
            metadata: { name: `crd-controller-${ns}`, labels: labels(v) },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: `crd-controller-${ns}` },
            subjects: flux.components.map((c) => ({ kind: "ServiceAccount", name: c, namespace: ns })),
        },
    ];
    for (const c of flux.components) for (const spec of CRDS[c]) objs.push(crd(spec, v, c));
    for (const c of flux.components) objs.push({ apiVersion: "v1", kind: "ServiceAccount", metadata: { name: c, namespace: ns, labels: labels(v, c) } });
    if (flux.components.includes("source-controller")) objs.push(service("source-controller", ns, v, "source-controller", "http", "source-controller"));
    if (flux.components.includes("notification-controller")) {
        objs.push(service("notification-controller", ns, v, "notification-controller", "http", "notification-controller"));
        objs.push(service("webhook-receiver", ns, v, "notification-controller", "http-webhook", "notification-controller"));
    }
    for (const c of flux.components) objs.push(deployment(c, tags[c], v, ns));
    if (flux.networkPolicy) {
        objs.push(
            {
                apiVersion: "networking.k8s.io/v1",
                kind: "NetworkPolicy",
                metadata: { name: "allow-egress", namespace: ns, labels: labels(v) },
                spec: { egress: [{}], ingress: [{ from: [{ podSelector: {} }] }], podSelector: {}, policyTypes: ["Ingress", "Egress"] },
            },
            {
                apiVersion: "networking.k8s.io/v1",
                kind: "NetworkPolicy",
                metadata: { name: "allow-scraping", namespace: ns, labels: labels(v) },
                spec: { ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ port: 8080, protocol: "TCP" }] }], podSelector: {}, policyTypes: ["Ingress"] },
            },
            {
                apiVersion: "networking.k8s.io/v1",
                kind: "NetworkPolicy",
                metadata: { name: "allow-webhooks", namespace: ns, labels: labels(v) },
                spec: { ingress: [{ from: [{ namespaceSelector: {} }] }], podSelector: { matchLabels: { app: "notification-controller" } }, policyTypes: ["Ingress"] },
            },
        );
    }
    return objs;
}

/** The Secret name Flux reads the deploy key from. */
export const DEPLOY_KEY_SECRET = "flux-system";

/** The kind of the flux-system source: an OCIRepository when the fleet is published as an OCI artifact (gitops:fleet.oci). */
export function fleetSourceKind(oci: FleetOciSettings | undefined): "GitRepository" | "OCIRepository" {
    return oci ? "OCIRepository" : "GitRepository";
}

/** The flux-system OCIRepository that pulls the environment's artifact (gitops:fleet.oci). */
export function fleetOciRepository(namespace: string, interval: string, oci: FleetOciSettings): OCIRepository {
    return {
        apiVersion: API.source,
        kind: "OCIRepository",
        metadata: { name: "flux-system", namespace },
        spec: {
            interval,
            url: oci.clusterRepository,
            ref: { tag: oci.tag },
            ...(oci.insecure ? { insecure: true } : {}),
            ...(oci.secretRef ? { secretRef: { name: oci.secretRef } } : {}),
            ...(oci.verify
                ? {
                      verify: {
                          provider: oci.verify.provider,
                          ...(oci.verify.secretRef ? { secretRef: { name: oci.verify.secretRef } } : {}),
                          ...(oci.verify.matchOIDCIdentity ? { matchOIDCIdentity: oci.verify.matchOIDCIdentity } : {}),
                      },
                  }
                : {}),
        },
    };
}

/**
 * gotk-sync.yaml: the flux-system source (a GitRepository, or with gitops:fleet.oci an
 * OCIRepository) and the Kustomization that syncs clusters/<env> from it.
 */
export function fluxSync(opts: { namespace: string; url: string; branch: string; path: string; interval: string; syncInterval: string; secret: boolean; oci?: FleetOciSettings }): [GitRepository | OCIRepository, Kustomization] {
    const source: GitRepository | OCIRepository = opts.oci
        ? fleetOciRepository(opts.namespace, opts.interval, opts.oci)
        : {
              apiVersion: API.source,
              kind: "GitRepository",
              metadata: { name: "flux-system", namespace: opts.namespace },
              spec: {
                  interval: opts.interval,
                  ref: { branch: opts.branch },
                  ...(opts.secret ? { secretRef: { name: DEPLOY_KEY_SECRET } } : {}),
                  url: opts.url,
              },
          };
    return [
        source,
        {
            apiVersion: API.kustomize,
            kind: "Kustomization",
            metadata: { name: "flux-system", namespace: opts.namespace },
            spec: {
                interval: opts.syncInterval,
                path: `./${opts.path.replace(/^\.?\//, "")}`,
                prune: true,
                sourceRef: { kind: fleetSourceKind(opts.oci), name: "flux-system" },
            },
        },
    ];
}
