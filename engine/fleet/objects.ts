/**
 * Pure builders for the Flux objects the platform declares. Components call these to produce
 * their manifests; the fleet layout writes them to Git; tests assert on them. Inputs are plain
 * values, outputs are the typed shapes of engine/flux/api.ts with Flux's defaults made explicit.
 */
import {
    Alert,
    API,
    GitRepository,
    HelmRelease,
    HelmRepository,
    ImagePolicy,
    ImageRepository,
    ImageUpdateAutomation,
    KubeObject,
    Kustomization,
    KustomizationSpec,
    OCIRepository,
    Provider,
    Receiver,
} from "../flux/api";
import type { AlertConfig, ImageAutomationConfig, ImagePolicyConfig, KustomizationConfig, NotificationProviderConfig, ReleaseConfig, SourceConfig, SubstituteFromConfig } from "../config/schema";

/** Default exclusion list of Flux's ImageRepository: signatures are never tags to deploy. */
export const DEFAULT_EXCLUSION_LIST = ["^.*\\.sig$"];

function compact<T extends object>(o: T): T {
    for (const k of Object.keys(o) as Array<keyof T>) {
        const v = o[k];
        if (v === undefined || (Array.isArray(v) && v.length === 0) || (isEmptyObject(v) && k !== "spec")) delete o[k];
    }
    return o;
}

function isEmptyObject(v: unknown): boolean {
    return typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).length === 0;
}

export function namespace(name: string, labels: Record<string, string> = {}): KubeObject {
    return { apiVersion: "v1", kind: "Namespace", metadata: compact({ name, labels: { ...labels } }) };
}

export function gitRepository(s: SourceConfig): GitRepository {
    return {
        apiVersion: API.source,
        kind: "GitRepository",
        metadata: { name: s.name, namespace: s.namespace },
        spec: compact({
            interval: s.interval,
            url: s.url,
            ref: s.ref ?? { branch: "main" },
            secretRef: s.secretRef ? { name: s.secretRef } : undefined,
            ignore: s.ignore,
            verify: s.verify?.secretRef ? { mode: s.verify.mode ?? "HEAD", secretRef: { name: s.verify.secretRef } } : undefined,
            provider: s.provider as GitRepository["spec"]["provider"],
        }),
    };
}

export function ociRepository(s: SourceConfig): OCIRepository {
    return {
        apiVersion: API.source,
        kind: "OCIRepository",
        metadata: { name: s.name, namespace: s.namespace },
        spec: compact({
            interval: s.interval,
            url: s.url,
            ref: s.ref ?? { tag: "latest" },
            layerSelector: s.layerSelector ? compact({ ...s.layerSelector }) : undefined,
            insecure: s.insecure || undefined,
            secretRef: s.secretRef ? { name: s.secretRef } : undefined,
            provider: s.provider as OCIRepository["spec"]["provider"],
            ignore: s.ignore,
            verify: s.verify
                ? compact({
                      provider: s.verify.provider ?? "cosign",
                      secretRef: s.verify.secretRef ? { name: s.verify.secretRef } : undefined,
                      matchOIDCIdentity: s.verify.matchOIDCIdentity,
                  })
                : undefined,
        }),
    };
}

export function helmRepository(s: SourceConfig): HelmRepository {
    return {
        apiVersion: API.source,
        kind: "HelmRepository",
        metadata: { name: s.name, namespace: s.namespace },
        spec: compact({
            // Flux ignores interval for OCI Helm repositories; it is still valid to set.
            interval: s.interval,
            url: s.url,
            type: s.type === "oci" ? ("oci" as const) : undefined,
            insecure: s.type === "oci" && s.insecure ? true : undefined,
            secretRef: s.secretRef ? { name: s.secretRef } : undefined,
            provider: s.provider as HelmRepository["spec"]["provider"],
        }),
    };
}

export function source(s: SourceConfig): GitRepository | OCIRepository | HelmRepository {
    return s.kind === "git" ? gitRepository(s) : s.kind === "oci" ? ociRepository(s) : helmRepository(s);
}

export const SOURCE_KIND = { git: "GitRepository", oci: "OCIRepository", helm: "HelmRepository" } as const;

/**
 * The release as written to infrastructure/base/releases: everything but the per-environment
 * version and values, which the environment overlay pins (see releasePatch).
 */
export function helmReleaseBase(r: ReleaseConfig, sourceNamespace: string): HelmRelease {
    return {
        apiVersion: API.helm,
        kind: "HelmRelease",
        metadata: { name: r.name, namespace: r.namespace },
        spec: compact({
            interval: r.interval,
            releaseName: r.name,
            targetNamespace: r.targetNamespace,
            chart: { spec: { chart: r.chart, sourceRef: { kind: "HelmRepository" as const, name: r.source, namespace: sourceNamespace } } },
            dependsOn: r.dependsOn.map((d) => ({ name: d })),
            timeout: r.timeout,
            install: compact({ createNamespace: r.install.createNamespace, crds: r.install.crds, remediation: r.install.remediation }),
            upgrade: compact({ crds: r.upgrade.crds, remediation: r.upgrade.remediation, cleanupOnFail: r.upgrade.cleanupOnFail }),
            valuesFrom: r.valuesFrom,
        }),
    };
}

/** The full HelmRelease as Flux sees it for one environment (base + overlay patch). */
export function helmRelease(r: ReleaseConfig, sourceNamespace: string): HelmRelease {
    const base = helmReleaseBase(r, sourceNamespace);
    base.spec.chart!.spec.version = r.version;
    if (r.values) base.spec.values = r.values;
    return base;
}

/** The overlay patch that pins one environment's chart version and values. */
export function releasePatch(r: ReleaseConfig): KubeObject {
    return {
        apiVersion: API.helm,
        kind: "HelmRelease",
        metadata: { name: r.name, namespace: r.namespace },
        spec: compact({ chart: { spec: { version: r.version } }, values: r.values }),
    };
}

/**
 * What kustomization() takes: the options of a gitops:kustomizations entry (declared once, in
 * engine/config) with the object's namespace and its resolved sourceRef instead of a source name.
 * The platform's chain passes gitops:sync's settings the same way.
 */
export type KustomizationInput = Pick<KustomizationConfig, "name" | "path" | "interval"> &
    Partial<Omit<KustomizationConfig, "name" | "path" | "interval" | "source" | "substituteFrom">> & {
        namespace: string;
        sourceRef: KustomizationSpec["sourceRef"];
        substituteFrom?: Array<Pick<SubstituteFromConfig, "kind" | "name"> & Partial<Pick<SubstituteFromConfig, "optional">>>;
    };

export function kustomization(k: KustomizationInput): Kustomization {
    const hasPostBuild = (k.substitute && Object.keys(k.substitute).length > 0) || (k.substituteFrom && k.substituteFrom.length > 0);
    return {
        apiVersion: API.kustomize,
        kind: "Kustomization",
        metadata: { name: k.name, namespace: k.namespace },
        spec: compact({
            interval: k.interval,
            retryInterval: k.retryInterval,
            timeout: k.timeout,
            path: k.path.startsWith("./") ? k.path : `./${k.path.replace(/^\/+/, "")}`,
            prune: k.prune ?? true,
            wait: k.wait,
            sourceRef: k.sourceRef,
            dependsOn: (k.dependsOn ?? []).map((d) => ({ name: d })),
            healthChecks: k.healthChecks,
            targetNamespace: k.targetNamespace,
            postBuild: hasPostBuild
                ? compact({
                      substitute: k.substitute && Object.keys(k.substitute).length ? sortRecord(k.substitute) : undefined,
                      substituteFrom: k.substituteFrom?.map((s) => (s.optional ? s : { kind: s.kind, name: s.name })),
                  })
                : undefined,
            decryption: k.decryption ? { provider: k.decryption.provider, secretRef: { name: k.decryption.secretRef } } : undefined,
        }),
    };
}

export function kustomizationFromConfig(k: KustomizationConfig, namespace: string, sources: SourceConfig[], fleetKind: "GitRepository" | "OCIRepository" = "GitRepository"): Kustomization {
    const src = k.source ? sources.find((s) => s.name === k.source) : undefined;
    return kustomization({
        ...k,
        namespace,
        sourceRef: src ? { kind: SOURCE_KIND[src.kind] as "GitRepository" | "OCIRepository", name: src.name, namespace: src.namespace } : { kind: fleetKind, name: "flux-system" },
    });
}

function sortRecord(r: Record<string, string>): Record<string, string> {
    return Object.fromEntries(Object.entries(r).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function imageRepository(name: string, namespace: string, image: string, p: ImagePolicyConfig): ImageRepository {
    return {
        apiVersion: API.image,
        kind: "ImageRepository",
        metadata: { name, namespace },
        spec: compact({
            image,
            interval: p.interval,
            exclusionList: p.exclusionList ?? DEFAULT_EXCLUSION_LIST,
            secretRef: p.secretRef ? { name: p.secretRef } : undefined,
            provider: p.provider,
            insecure: p.insecure || undefined,
        }),
    };
}

export function imagePolicy(name: string, namespace: string, p: ImagePolicyConfig): ImagePolicy {
    const policy = p.semver !== undefined ? { semver: { range: p.semver } } : p.numerical ? { numerical: { order: p.numerical } } : { alphabetical: { order: p.alphabetical ?? "asc" } };
    return {
        apiVersion: API.image,
        kind: "ImagePolicy",
        metadata: { name, namespace },
        spec: compact({
            imageRepositoryRef: { name },
            policy,
            filterTags: p.filterTags ? compact({ pattern: p.filterTags.pattern, extract: p.filterTags.extract }) : undefined,
        }),
    };
}

/** Flux's documented default commit template, extended with the per-image old -> new lines. */
export const DEFAULT_AUTOMATION_TEMPLATE = `Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
`;

export function imageUpdateAutomation(name: string, namespace: string, a: ImageAutomationConfig): ImageUpdateAutomation {
    return {
        apiVersion: API.image,
        kind: "ImageUpdateAutomation",
        metadata: { name, namespace },
        spec: {
            interval: a.interval,
            sourceRef: { kind: "GitRepository", name: "flux-system" },
            git: {
                checkout: { ref: { branch: a.checkoutBranch } },
                commit: { author: { name: a.author.name, email: a.author.email }, messageTemplate: a.messageTemplate ?? DEFAULT_AUTOMATION_TEMPLATE },
                push: { branch: a.pushBranch },
            },
            update: { path: a.path, strategy: "Setters" },
        },
    };
}

/** The Secret name a notification provider reads its address or token from. */
export function providerSecretName(providerName: string): string {
    return `${providerName}-notification`;
}

export function notificationProvider(p: NotificationProviderConfig, namespace: string, hasSecret: boolean): Provider {
    return {
        apiVersion: API.notification,
        kind: "Provider",
        metadata: { name: p.name, namespace },
        spec: compact({
            type: p.type,
            channel: p.channel,
            address: p.address,
            secretRef: hasSecret ? { name: providerSecretName(p.name) } : undefined,
        }),
    };
}

export function alert(a: AlertConfig, namespace: string): Alert {
    return {
        apiVersion: API.notification,
        kind: "Alert",
        metadata: { name: a.name, namespace },
        spec: compact({
            providerRef: { name: a.provider },
            eventSeverity: a.severity,
            eventSources: a.sources.map((s) => compact({ ...s })),
            exclusionList: a.exclusionList,
        }),
    };
}

export const RECEIVER_SECRET = "receiver-token";

export function receiver(name: string, namespace: string, type: "github" | "generic"): Receiver {
    return {
        apiVersion: API.receiver,
        kind: "Receiver",
        metadata: { name, namespace },
        spec: compact({
            type,
            events: type === "github" ? ["ping", "push"] : undefined,
            secretRef: { name: RECEIVER_SECRET },
            resources: [{ apiVersion: API.source, kind: "GitRepository", name: "flux-system" }],
        }),
    };
}
