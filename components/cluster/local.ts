/**
 * K3dCluster and KindCluster: local clusters for the embedded default, created through a dynamic
 * provider that drives the k3d or kind CLI (engine/localcluster). Every change to the node shape
 * (name, agents, ports, image, mounts) is a replace, so preview shows it as one.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { KindSettings, K3dSettings } from "../../engine/config";
import type { LocalClusterSpec } from "../../engine/localcluster";
import { engine } from "../dynamic";
import { ClusterOutputs } from "./types";

interface LocalClusterState extends LocalClusterSpec {
    kubeconfig: string;
}

/** The dynamic provider. It captures nothing: engine code is loaded inside each method. */
export const localClusterProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: unknown, news: LocalClusterSpec) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        if (!/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/.test(news.name ?? "")) failures.push({ property: "name", reason: `cluster name ${JSON.stringify(news.name)} must be a DNS label of at most 32 characters` });
        if (news.tool !== "k3d" && news.tool !== "kind") failures.push({ property: "tool", reason: `tool must be k3d or kind; got ${JSON.stringify(news.tool)}` });
        return { inputs: news, failures };
    },
    async diff(_id: string, olds: LocalClusterState, news: LocalClusterSpec) {
        const keys = engine("localcluster").REPLACE_KEYS as Array<keyof LocalClusterSpec>;
        const replaces = keys.filter((k) => JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null)) as string[];
        return { changes: replaces.length > 0, replaces, deleteBeforeReplace: olds.name === news.name };
    },
    async create(inputs: LocalClusterSpec) {
        const kubeconfig = await engine("localcluster").create(inputs);
        return { id: `${inputs.tool}/${inputs.name}`, outs: { ...inputs, kubeconfig } };
    },
    async read(id: string, props: LocalClusterState) {
        const lc = engine("localcluster");
        // A lost cluster reads as gone, so `pulumi refresh` (and the next `up`) re-creates it.
        if (!(await lc.exists(props))) return { id: "", props: {} };
        return { id, props: { ...props, kubeconfig: await lc.kubeconfig(props) } };
    },
    async delete(_id: string, props: LocalClusterState) {
        await engine("localcluster").destroy(props);
    },
};

class LocalCluster extends pulumi.dynamic.Resource {
    declare readonly kubeconfig: pulumi.Output<string>;
    declare readonly name: pulumi.Output<string>;
    constructor(name: string, spec: LocalClusterSpec, opts?: pulumi.CustomResourceOptions) {
        super(localClusterProvider, name, { ...spec, kubeconfig: undefined }, { ...opts, additionalSecretOutputs: ["kubeconfig"] }, "gitops", "LocalCluster");
    }
}

/** Shared body of K3dCluster and KindCluster: the cluster, its secret kubeconfig and a provider. */
abstract class LocalClusterComponent extends pulumi.ComponentResource implements ClusterOutputs {
    abstract readonly kind: "k3d" | "kind";
    readonly clusterName: pulumi.Output<string>;
    readonly kubeconfig: pulumi.Output<string>;
    readonly provider: k8s.Provider;
    readonly installsFlux = true;

    protected constructor(type: string, name: string, spec: LocalClusterSpec, opts?: pulumi.ComponentResourceOptions) {
        super(type, name, {}, opts);
        const cluster = new LocalCluster(name, spec, { parent: this });
        this.clusterName = cluster.name;
        this.kubeconfig = pulumi.secret(cluster.kubeconfig);
        this.provider = new k8s.Provider(`${name}-k8s`, { kubeconfig: this.kubeconfig, enableServerSideApply: true }, { parent: this });
        this.registerOutputs({ clusterName: this.clusterName, kubeconfig: this.kubeconfig });
    }
}

export interface K3dClusterArgs {
    /** Cluster name; changing it replaces the cluster. */
    readonly clusterName: string;
    /** k3d settings; defaults: 3 agents, 1 server, ports ["8080:80@loadbalancer"]. */
    readonly settings: K3dSettings;
}

/** A k3d cluster on the local Docker engine. */
export class K3dCluster extends LocalClusterComponent {
    readonly kind = "k3d" as const;

    constructor(name: string, args: K3dClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        const s = args.settings;
        super("gitops:cluster:K3dCluster", name, { tool: "k3d", name: args.clusterName, workers: s.agents, servers: s.servers, ports: s.ports, image: s.image }, opts);
    }
}

export interface KindClusterArgs {
    readonly clusterName: string;
    /** kind settings; defaults: no workers, port 8080 -> 80 on the control plane. */
    readonly settings: KindSettings;
}

/** A kind cluster on the local Docker engine. */
export class KindCluster extends LocalClusterComponent {
    readonly kind = "kind" as const;

    constructor(name: string, args: KindClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        const s = args.settings;
        super("gitops:cluster:KindCluster", name, { tool: "kind", name: args.clusterName, workers: s.workers, image: s.nodeImage, extraMounts: s.extraMounts, portMappings: s.portMappings }, opts);
    }
}
