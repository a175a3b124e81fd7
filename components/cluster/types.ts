import * as pulumi from "@pulumi/pulumi";
import type { ClusterKind } from "../../engine/config";

/** What every cluster component gives the rest of the platform. */
export interface ClusterOutputs {
    readonly kind: ClusterKind;
    /** The cluster's name (stable identity: changing it replaces the cluster). */
    readonly clusterName: pulumi.Output<string>;
    /** Kubeconfig for the cluster, always a secret. */
    readonly kubeconfig: pulumi.Output<string>;
    /** The kubeconfig context FleetSync uses; default the kubeconfig's current-context. */
    readonly context?: string;
    /** True when Flux is installed by the platform (false when a managed extension installs it). */
    readonly installsFlux: boolean;
}

/** Options every cluster component takes. */
export interface ClusterCommonArgs {
    /** Cluster name; default "gitops-<stack>". Changing it replaces the cluster. */
    readonly clusterName: string;
}
