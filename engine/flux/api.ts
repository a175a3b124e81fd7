/**
 * Typed shapes of the Flux APIs this platform writes and reads: one source of truth used by the
 * components (which generate them), the engine (which renders, applies and waits on them) and the
 * tests. Field names and optionality mirror the Flux CRDs of the pinned Flux version (2.7):
 * source.toolkit.fluxcd.io/v1, kustomize.toolkit.fluxcd.io/v1, helm.toolkit.fluxcd.io/v2,
 * image.toolkit.fluxcd.io/v1, notification.toolkit.fluxcd.io/v1beta3 (Provider, Alert) and
 * notification.toolkit.fluxcd.io/v1 (Receiver).
 *
 * Durations are Go duration strings as Flux takes them ("1m0s", "10m", "30s").
 */

export const API = {
    source: "source.toolkit.fluxcd.io/v1",
    kustomize: "kustomize.toolkit.fluxcd.io/v1",
    helm: "helm.toolkit.fluxcd.io/v2",
    image: "image.toolkit.fluxcd.io/v1",
    notification: "notification.toolkit.fluxcd.io/v1beta3",
    receiver: "notification.toolkit.fluxcd.io/v1",
    kustomizeConfig: "kustomize.config.k8s.io/v1beta1",
    flagger: "flagger.app/v1beta1",
} as const;

/** Flux's annotation that asks a controller to reconcile now. */
export const RECONCILE_REQUESTED_AT = "reconcile.fluxcd.io/requestedAt";
/** Per-object opt-out of pruning. */
export const PRUNE_ANNOTATION = "kustomize.toolkit.fluxcd.io/prune";
/** Per-object opt-out of postBuild substitution. */
export const SUBSTITUTE_ANNOTATION = "kustomize.toolkit.fluxcd.io/substitute";
/** The value of the opt-out annotations. */
export const DISABLED = "disabled";

export interface ObjectMeta {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
}

/** Any Kubernetes object in plain form. */
export interface KubeObject {
    apiVersion: string;
    kind: string;
    metadata: ObjectMeta & Record<string, unknown>;
    [key: string]: unknown;
}

export interface LocalObjectReference {
    name: string;
}

export interface CrossNamespaceSourceReference {
    apiVersion?: string;
    kind: "GitRepository" | "OCIRepository" | "Bucket" | "HelmRepository" | "HelmChart";
    name: string;
    namespace?: string;
}

export interface NamespacedObjectReference {
    name: string;
    namespace?: string;
}

// ---------------------------------------------------------------------------------------------
// source.toolkit.fluxcd.io/v1

export interface GitRepositoryRef {
    branch?: string;
    tag?: string;
    semver?: string;
    name?: string;
    commit?: string;
}

export interface GitRepositorySpec {
    url: string;
    interval: string;
    ref?: GitRepositoryRef;
    secretRef?: LocalObjectReference;
    timeout?: string;
    ignore?: string;
    suspend?: boolean;
    recurseSubmodules?: boolean;
    verify?: { mode: "HEAD" | "Tag" | "TagAndHEAD"; secretRef: LocalObjectReference };
    provider?: "generic" | "azure" | "github";
}

export interface GitRepository extends KubeObject {
    apiVersion: typeof API.source;
    kind: "GitRepository";
    spec: GitRepositorySpec;
}

export interface OCIRepositorySpec {
    url: string;
    interval: string;
    ref?: { tag?: string; semver?: string; semverFilter?: string; digest?: string };
    layerSelector?: { mediaType?: string; operation?: "extract" | "copy" };
    provider?: "generic" | "aws" | "azure" | "gcp";
    secretRef?: LocalObjectReference;
    serviceAccountName?: string;
    verify?: {
        provider: "cosign" | "notation";
        secretRef?: LocalObjectReference;
        matchOIDCIdentity?: Array<{ issuer: string; subject: string }>;
    };
    insecure?: boolean;
    timeout?: string;
    ignore?: string;
    suspend?: boolean;
}

export interface OCIRepository extends KubeObject {
    apiVersion: typeof API.source;
    kind: "OCIRepository";
    spec: OCIRepositorySpec;
}

export interface HelmRepositorySpec {
    url: string;
    interval?: string;
    type?: "default" | "oci";
    /** Plain HTTP to an OCI registry (only with type "oci"). */
    insecure?: boolean;
    secretRef?: LocalObjectReference;
    provider?: "generic" | "aws" | "azure" | "gcp";
    timeout?: string;
    suspend?: boolean;
}

export interface HelmRepository extends KubeObject {
    apiVersion: typeof API.source;
    kind: "HelmRepository";
    spec: HelmRepositorySpec;
}

// ---------------------------------------------------------------------------------------------
// kustomize.toolkit.fluxcd.io/v1

export interface SubstituteReference {
    kind: "ConfigMap" | "Secret";
    name: string;
    optional?: boolean;
}

export interface PostBuild {
    /** WithVariables (default): substitute only when there is a variable; Always: even with none. */
    substituteStrategy?: "WithVariables" | "Always";
    substitute?: Record<string, string>;
    substituteFrom?: SubstituteReference[];
}

export interface HealthCheckReference {
    apiVersion?: string;
    kind: string;
    name: string;
    namespace?: string;
}

export interface KustomizationSpec {
    interval: string;
    retryInterval?: string;
    path?: string;
    prune: boolean;
    sourceRef: CrossNamespaceSourceReference;
    dependsOn?: NamespacedObjectReference[];
    healthChecks?: HealthCheckReference[];
    wait?: boolean;
    timeout?: string;
    force?: boolean;
    targetNamespace?: string;
    postBuild?: PostBuild;
    decryption?: { provider: "sops"; secretRef?: LocalObjectReference };
    patches?: Array<{ patch: string; target?: Record<string, string> }>;
    images?: Array<{ name: string; newName?: string; newTag?: string; digest?: string }>;
    components?: string[];
    ignoreMissingComponents?: boolean;
    namePrefix?: string;
    nameSuffix?: string;
    commonMetadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    suspend?: boolean;
    serviceAccountName?: string;
}

export interface Kustomization extends KubeObject {
    apiVersion: typeof API.kustomize;
    kind: "Kustomization";
    spec: KustomizationSpec;
}

// ---------------------------------------------------------------------------------------------
// helm.toolkit.fluxcd.io/v2

export interface Remediation {
    retries?: number;
    remediateLastFailure?: boolean;
    strategy?: "rollback" | "uninstall";
}

export interface ValuesReference {
    kind: "ConfigMap" | "Secret";
    name: string;
    valuesKey?: string;
    targetPath?: string;
    optional?: boolean;
}

export interface HelmReleaseSpec {
    interval: string;
    chart?: {
        spec: {
            chart: string;
            version?: string;
            sourceRef: CrossNamespaceSourceReference;
            interval?: string;
            reconcileStrategy?: "ChartVersion" | "Revision";
        };
    };
    chartRef?: { kind: "OCIRepository" | "HelmChart"; name: string; namespace?: string };
    releaseName?: string;
    targetNamespace?: string;
    storageNamespace?: string;
    dependsOn?: NamespacedObjectReference[];
    timeout?: string;
    install?: { crds?: "Skip" | "Create" | "CreateReplace"; createNamespace?: boolean; remediation?: Remediation };
    upgrade?: { crds?: "Skip" | "Create" | "CreateReplace"; remediation?: Remediation; cleanupOnFail?: boolean };
    values?: Record<string, unknown>;
    valuesFrom?: ValuesReference[];
    suspend?: boolean;
}

export interface HelmRelease extends KubeObject {
    apiVersion: typeof API.helm;
    kind: "HelmRelease";
    spec: HelmReleaseSpec;
}

// ---------------------------------------------------------------------------------------------
// image.toolkit.fluxcd.io/v1

export interface ImageRepositorySpec {
    image: string;
    interval: string;
    timeout?: string;
    secretRef?: LocalObjectReference;
    serviceAccountName?: string;
    certSecretRef?: LocalObjectReference;
    exclusionList?: string[];
    provider?: "generic" | "aws" | "azure" | "gcp";
    insecure?: boolean;
    suspend?: boolean;
}

export interface ImageRepository extends KubeObject {
    apiVersion: typeof API.image;
    kind: "ImageRepository";
    spec: ImageRepositorySpec;
}

/** Exactly one of semver, numerical, alphabetical. */
export interface ImagePolicyChoice {
    semver?: { range: string };
    numerical?: { order?: "asc" | "desc" };
    alphabetical?: { order?: "asc" | "desc" };
}

export interface TagFilter {
    pattern?: string;
    extract?: string;
}

export interface ImagePolicySpec {
    imageRepositoryRef: NamespacedObjectReference;
    policy: ImagePolicyChoice;
    filterTags?: TagFilter;
    digestReflectionPolicy?: "Always" | "IfNotPresent" | "Never";
    interval?: string;
}

export interface ImagePolicy extends KubeObject {
    apiVersion: typeof API.image;
    kind: "ImagePolicy";
    spec: ImagePolicySpec;
}

export interface ImageUpdateAutomationSpec {
    interval: string;
    sourceRef: { kind: "GitRepository"; name: string; namespace?: string };
    git?: {
        checkout?: { ref: GitRepositoryRef };
        commit: {
            author: { name?: string; email: string };
            messageTemplate?: string;
            signingKey?: { secretRef?: LocalObjectReference };
        };
        push?: { branch?: string; refspec?: string };
    };
    update?: { path?: string; strategy: "Setters" };
    policySelector?: { matchLabels?: Record<string, string> };
    suspend?: boolean;
}

export interface ImageUpdateAutomation extends KubeObject {
    apiVersion: typeof API.image;
    kind: "ImageUpdateAutomation";
    spec: ImageUpdateAutomationSpec;
}

// ---------------------------------------------------------------------------------------------
// notification.toolkit.fluxcd.io

export type ProviderType = "slack" | "msteams" | "github" | "generic" | "generic-hmac" | "discord";

export interface ProviderSpec {
    type: ProviderType;
    channel?: string;
    username?: string;
    address?: string;
    secretRef?: LocalObjectReference;
    suspend?: boolean;
}

export interface Provider extends KubeObject {
    apiVersion: typeof API.notification;
    kind: "Provider";
    spec: ProviderSpec;
}

export interface EventSource {
    kind: string;
    name: string;
    namespace?: string;
    matchLabels?: Record<string, string>;
}

export interface AlertSpec {
    providerRef: LocalObjectReference;
    eventSources: EventSource[];
    eventSeverity?: "info" | "error";
    inclusionList?: string[];
    exclusionList?: string[];
    summary?: string;
    suspend?: boolean;
}

export interface Alert extends KubeObject {
    apiVersion: typeof API.notification;
    kind: "Alert";
    spec: AlertSpec;
}

export interface ReceiverSpec {
    type: "github" | "gitlab" | "generic" | "generic-hmac";
    events?: string[];
    resources: Array<{ apiVersion?: string; kind: string; name: string; namespace?: string }>;
    secretRef: LocalObjectReference;
    interval?: string;
    suspend?: boolean;
}

export interface Receiver extends KubeObject {
    apiVersion: typeof API.receiver;
    kind: "Receiver";
    spec: ReceiverSpec;
}

// ---------------------------------------------------------------------------------------------
// Status shapes the engine reads when it waits.

export interface Condition {
    type: string;
    status: "True" | "False" | "Unknown";
    reason?: string;
    message?: string;
    observedGeneration?: number;
    lastTransitionTime?: string;
}

export interface FluxStatus {
    observedGeneration?: number;
    conditions?: Condition[];
    lastAppliedRevision?: string;
    lastAttemptedRevision?: string;
    artifact?: { revision: string; digest?: string; url?: string };
}

/** The kinds Flux controllers reconcile, keyed by kind, with their API group/version. */
export const FLUX_KINDS: Record<string, string> = {
    GitRepository: API.source,
    OCIRepository: API.source,
    HelmRepository: API.source,
    HelmChart: API.source,
    Bucket: API.source,
    Kustomization: API.kustomize,
    HelmRelease: API.helm,
    ImageRepository: API.image,
    ImagePolicy: API.image,
    ImageUpdateAutomation: API.image,
    Provider: API.notification,
    Alert: API.notification,
    Receiver: API.receiver,
};

// ---------------------------------------------------------------------------------------------
// flagger.app/v1beta1 (Canary, MetricTemplate) and networking.istio.io/v1 (Gateway): the
// progressive-delivery objects the platform writes next to the Flux ones.

export const ISTIO_NETWORKING = "networking.istio.io/v1";

export interface CanaryMetric {
    name: string;
    templateRef?: { name: string; namespace?: string };
    thresholdRange?: { min?: number; max?: number };
    interval?: string;
}

export interface CanaryWebhook {
    name: string;
    type?: "confirm-rollout" | "pre-rollout" | "rollout" | "confirm-promotion" | "post-rollout" | "event" | "rollback" | "confirm-traffic-increase";
    url: string;
    timeout?: string;
    metadata?: Record<string, string>;
}

export interface CanarySpec {
    targetRef: { apiVersion: string; kind: "Deployment" | "DaemonSet"; name: string };
    progressDeadlineSeconds?: number;
    service: { port: number; targetPort?: number | string; portName?: string; gateways?: string[]; hosts?: string[] };
    analysis: {
        interval: string;
        threshold: number;
        maxWeight?: number;
        stepWeight?: number;
        stepWeights?: number[];
        metrics?: CanaryMetric[];
        webhooks?: CanaryWebhook[];
    };
}

export interface Canary extends KubeObject {
    apiVersion: typeof API.flagger;
    kind: "Canary";
    spec: CanarySpec;
}

export interface MetricTemplate extends KubeObject {
    apiVersion: typeof API.flagger;
    kind: "MetricTemplate";
    spec: { provider: { type: "prometheus"; address: string }; query: string };
}

export interface IstioGateway extends KubeObject {
    apiVersion: typeof ISTIO_NETWORKING;
    kind: "Gateway";
    spec: { selector: Record<string, string>; servers: Array<{ port: { number: number; name: string; protocol: string }; hosts: string[] }> };
}
