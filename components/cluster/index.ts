/** Clusters behind one interface, chosen by gitops:cluster.kind. */
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { ClusterConfig } from "../../engine/config";
import { localRepoPath } from "../../engine/git/url";
import { AksCluster } from "./aks";
import { ExistingCluster } from "./existing";
import { K3dCluster, KindCluster, LocalControlPlaneCluster } from "./local";
import { ClusterOutputs } from "./types";

export * from "./types";
export { AksCluster, ExistingCluster, K3dCluster, KindCluster, LocalControlPlaneCluster };

/**
 * Creates (or adopts) the stack's cluster. Returns undefined for kind "none": render-only, nothing
 * is applied to any cluster.
 */
export function createCluster(
    name: string,
    cfg: ClusterConfig,
    kubeconfigSecret: pulumi.Output<string> | undefined,
    opts?: pulumi.ComponentResourceOptions,
    /** For kind local: the project folder (relative paths resolve against it) and gitops:fleet.url. */
    project: { dir: string; fleetUrl: string } = { dir: process.cwd(), fleetUrl: "" },
): ClusterOutputs | undefined {
    switch (cfg.kind) {
        case "local": {
            const dir = path.resolve(project.dir, cfg.local.dir);
            // The fleet server serves the local fleet repo's folder; a remote fleet needs none.
            const local = project.fleetUrl ? localRepoPath(project.dir, project.fleetUrl) : undefined;
            const fleetRoot = local ? path.dirname(local) : path.join(dir, "fleet");
            return new LocalControlPlaneCluster(name, { clusterName: cfg.name, dir, fleetRoot, fleetPort: cfg.local.fleetPort }, opts);
        }
        case "k3d":
            return new K3dCluster(name, { clusterName: cfg.name, settings: cfg.k3d }, opts);
        case "kind":
            return new KindCluster(name, { clusterName: cfg.name, settings: cfg.kindConfig }, opts);
        case "aks":
            return new AksCluster(name, { clusterName: cfg.name, settings: cfg.aks }, opts);
        case "existing": {
            let kubeconfig: pulumi.Input<string> | undefined = kubeconfigSecret;
            if (cfg.existing.kubeconfigPath) {
                const file = cfg.existing.kubeconfigPath.replace(/^~(?=\/)/, process.env.HOME ?? "~");
                if (!fs.existsSync(file)) throw new pulumi.ResourceError(`gitops:cluster.existing.kubeconfigPath: ${file} does not exist; point it at a kubeconfig file or set the secret gitops:kubeconfig`, opts?.parent);
                kubeconfig = pulumi.secret(fs.readFileSync(file, "utf8"));
            }
            if (!kubeconfig) {
                throw new pulumi.ResourceError(
                    "gitops:cluster.kind is existing but no kubeconfig is set; run `pulumi config set --secret gitops:kubeconfig \"$(cat ~/.kube/config)\"` or set gitops:cluster.existing.kubeconfigPath",
                    opts?.parent,
                );
            }
            return new ExistingCluster(name, { clusterName: cfg.name, kubeconfig, context: cfg.existing.context }, opts);
        }
        case "none":
            return undefined;
    }
}
