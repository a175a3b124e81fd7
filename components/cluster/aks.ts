/**
 * AksCluster: a resource group and an AKS managed cluster with one system pool, and optionally
 * Flux as the managed `microsoft.flux` extension. The kubeconfig comes from the cluster's user
 * credentials and is a secret.
 */
import * as containerservice from "@pulumi/azure-native/containerservice";
import * as kubernetesconfiguration from "@pulumi/azure-native/kubernetesconfiguration";
import * as resources from "@pulumi/azure-native/resources";
import * as pulumi from "@pulumi/pulumi";
import type { AksSettings } from "../../engine/config";
import { ClusterOutputs } from "./types";

export interface AksClusterArgs {
    /** Cluster name; changing it replaces the cluster. */
    readonly clusterName: string;
    /** AKS settings: location (required), resourceGroup (default "<name>-rg"), nodeCount (3), vmSize ("Standard_D2s_v5"), kubernetesVersion, fluxExtension (false). */
    readonly settings: AksSettings;
}

export class AksCluster extends pulumi.ComponentResource implements ClusterOutputs {
    readonly kind = "aks" as const;
    readonly clusterName: pulumi.Output<string>;
    readonly kubeconfig: pulumi.Output<string>;
    readonly installsFlux: boolean;
    readonly resourceGroupName: pulumi.Output<string>;
    /** The managed Flux extension, when settings.fluxExtension is true. */
    readonly fluxExtension?: kubernetesconfiguration.Extension;

    constructor(name: string, args: AksClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:cluster:AksCluster", name, {}, opts);
        const s = args.settings;
        if (!s.location) throw new pulumi.ResourceError("gitops:cluster.aks.location is required for an AKS cluster (e.g. westeurope)", this);

        const rg = new resources.ResourceGroup(`${name}-rg`, { resourceGroupName: s.resourceGroup, location: s.location }, { parent: this });
        const cluster = new containerservice.ManagedCluster(
            name,
            {
                resourceName: args.clusterName,
                resourceGroupName: rg.name,
                location: s.location,
                dnsPrefix: args.clusterName,
                kubernetesVersion: s.kubernetesVersion,
                identity: { type: containerservice.ResourceIdentityType.SystemAssigned },
                agentPoolProfiles: [
                    {
                        name: "system",
                        mode: containerservice.AgentPoolMode.System,
                        count: s.nodeCount,
                        vmSize: s.vmSize,
                        osType: containerservice.OSType.Linux,
                        type: containerservice.AgentPoolType.VirtualMachineScaleSets,
                    },
                ],
                enableRBAC: true,
            },
            // A new name or location is a new cluster: make preview say replace, not update.
            { parent: this, replaceOnChanges: ["resourceName", "location", "dnsPrefix"] },
        );
        this.resourceGroupName = rg.name;
        this.clusterName = cluster.name;
        const creds = containerservice.listManagedClusterUserCredentialsOutput({ resourceGroupName: rg.name, resourceName: cluster.name }, { parent: this });
        this.kubeconfig = pulumi.secret(creds.kubeconfigs.apply((k) => Buffer.from(k[0].value, "base64").toString("utf8")));
        this.installsFlux = !s.fluxExtension;
        if (s.fluxExtension) {
            this.fluxExtension = new kubernetesconfiguration.Extension(
                `${name}-flux`,
                {
                    extensionName: "flux",
                    extensionType: "microsoft.flux",
                    clusterRp: "Microsoft.ContainerService",
                    clusterResourceName: "managedClusters",
                    clusterName: cluster.name,
                    resourceGroupName: rg.name,
                    autoUpgradeMinorVersion: true,
                    configurationSettings: { "image-automation-controller.enabled": "true", "image-reflector-controller.enabled": "true" },
                },
                { parent: this },
            );
        }
        this.registerOutputs({ clusterName: this.clusterName, kubeconfig: this.kubeconfig, resourceGroupName: this.resourceGroupName });
    }
}
