/** ExistingCluster: adopt a cluster by kubeconfig (a secret) and optional context. Nothing is created. */
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
    readonly installsFlux = true;
    readonly context?: string;

    constructor(name: string, args: ExistingClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:cluster:ExistingCluster", name, {}, opts);
        this.clusterName = pulumi.output(args.clusterName);
        this.kubeconfig = pulumi.secret(args.kubeconfig);
        this.context = args.context;
        this.registerOutputs({ clusterName: this.clusterName, kubeconfig: this.kubeconfig });
    }
}
