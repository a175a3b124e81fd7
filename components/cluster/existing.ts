/** ExistingCluster: adopt a cluster by kubeconfig (a secret) and optional context. Nothing is created. */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ClusterOutputs } from "./types";

export interface ExistingClusterArgs {
    /** A name for the cluster in outputs (default "gitops-<stack>"). */
    readonly clusterName: string;
    /** The kubeconfig (from `pulumi config set --secret gitops:kubeconfig`, or read from cluster.existing.kubeconfigPath). */
    readonly kubeconfig: pulumi.Input<string>;
    /** Context to use; default the kubeconfig's current-context. Changing it points the platform at another cluster (a replace). */
    readonly context?: string;
}

export class ExistingCluster extends pulumi.ComponentResource implements ClusterOutputs {
    readonly kind = "existing" as const;
    readonly clusterName: pulumi.Output<string>;
    readonly kubeconfig: pulumi.Output<string>;
    readonly provider: k8s.Provider;
    readonly installsFlux = true;

    constructor(name: string, args: ExistingClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:cluster:ExistingCluster", name, {}, opts);
        this.clusterName = pulumi.output(args.clusterName);
        this.kubeconfig = pulumi.secret(args.kubeconfig);
        this.provider = new k8s.Provider(
            `${name}-k8s`,
            { kubeconfig: this.kubeconfig, context: args.context, enableServerSideApply: true },
            { parent: this },
        );
        this.registerOutputs({ clusterName: this.clusterName, kubeconfig: this.kubeconfig });
    }
}
