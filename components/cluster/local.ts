/**
 * K3dCluster and KindCluster: local clusters for the embedded default, created through a dynamic
 * provider that drives the k3d or kind CLI (engine/localcluster). Every change to the node shape
 * (name, agents, ports, image, mounts) is a replace, so preview shows it as one.
 */
import * as pulumi from "@pulumi/pulumi";
import type { KindSettings, K3dSettings } from "../../engine/config";
import type { ControlPlaneSpec, LocalClusterSpec } from "../../engine/localcluster";
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

/**
 * Shared body of the clusters on this machine (K3dCluster, KindCluster, LocalControlPlaneCluster):
 * the cluster resource `make` registers (as a child) and its secret kubeconfig.
 */
abstract class LocalClusterComponent extends pulumi.ComponentResource implements ClusterOutputs {
    abstract readonly kind: "k3d" | "kind" | "local";
    abstract readonly installsFlux: boolean;
    readonly clusterName: pulumi.Output<string>;
    readonly kubeconfig: pulumi.Output<string>;

    protected constructor(type: string, name: string, make: (parent: pulumi.Resource) => { name: pulumi.Output<string>; kubeconfig: pulumi.Output<string> }, opts?: pulumi.ComponentResourceOptions) {
        super(type, name, {}, opts);
        const cluster = make(this);
        this.clusterName = cluster.name;
        this.kubeconfig = pulumi.secret(cluster.kubeconfig);
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
    readonly installsFlux = true;

    constructor(name: string, args: K3dClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        const s = args.settings;
        const spec: LocalClusterSpec = { tool: "k3d", name: args.clusterName, workers: s.agents, servers: s.servers, ports: s.ports, image: s.image };
        super("gitops:cluster:K3dCluster", name, (parent) => new LocalCluster(name, spec, { parent }), opts);
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
    readonly installsFlux = true;

    constructor(name: string, args: KindClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        const s = args.settings;
        const spec: LocalClusterSpec = { tool: "kind", name: args.clusterName, workers: s.workers, image: s.nodeImage, extraMounts: s.extraMounts, portMappings: s.portMappings };
        super("gitops:cluster:KindCluster", name, (parent) => new LocalCluster(name, spec, { parent }), opts);
    }
}

interface ControlPlaneState extends ControlPlaneSpec {
    kubeconfig: string;
}

/**
 * The dynamic provider of LocalControlPlaneCluster: adopts the local control plane running from
 * its folder (`gitops local up`, or the e2e suite), or starts one that outlives `pulumi up`.
 * It captures nothing: engine code is loaded inside each method.
 */
export const controlPlaneProvider: pulumi.dynamic.ResourceProvider = {
    async check(_olds: unknown, news: ControlPlaneSpec) {
        const failures: pulumi.dynamic.CheckFailure[] = [];
        if (!news.dir || !news.dir.startsWith("/")) failures.push({ property: "dir", reason: `dir must be an absolute path; got ${JSON.stringify(news.dir)}` });
        if (!Number.isInteger(news.fleetPort) || news.fleetPort < 1 || news.fleetPort > 65535) failures.push({ property: "fleetPort", reason: `fleetPort must be a port number; got ${JSON.stringify(news.fleetPort)}` });
        return { inputs: news, failures };
    },
    async diff(_id: string, olds: ControlPlaneState, news: ControlPlaneSpec) {
        const lc = engine("localcluster");
        const keys = lc.CONTROL_PLANE_REPLACE_KEYS as Array<keyof ControlPlaneSpec>;
        const replaces = keys.filter((k) => JSON.stringify(olds[k] ?? null) !== JSON.stringify(news[k] ?? null)) as string[];
        if (replaces.length) return { changes: true, replaces, deleteBeforeReplace: true };
        // Processes, not a stored object: after `gitops local down` (or a reboot) the next `up` starts them again.
        const running = await lc.controlPlaneRunning(olds);
        return { changes: !running, replaces: [], deleteBeforeReplace: true, ...(running ? {} : { detailedDiff: { running: { kind: "update" as const } } }) };
    },
    async create(inputs: ControlPlaneSpec) {
        const kubeconfig = await engine("localcluster").controlPlaneUp(inputs);
        return { id: `local/${inputs.dir}`, outs: { ...inputs, kubeconfig } };
    },
    async read(id: string, props: ControlPlaneState) {
        const lc = engine("localcluster");
        // A stopped control plane reads as gone, so `pulumi refresh` (and the next `up`) starts it again.
        if (!(await lc.controlPlaneRunning(props))) return { id: "", props: {} };
        return { id, props: { ...props, kubeconfig: require("fs").readFileSync(require("path").join(props.dir, "kubeconfig"), "utf8") } };
    },
    async update(_id: string, _olds: ControlPlaneState, news: ControlPlaneSpec) {
        // Only non-replacing fields change here (none today); keep the outputs.
        return { outs: { ...news, kubeconfig: await engine("localcluster").controlPlaneUp(news) } };
    },
    async delete(_id: string, props: ControlPlaneState) {
        await engine("localcluster").controlPlaneDown(props);
    },
};

class ControlPlane extends pulumi.dynamic.Resource {
    declare readonly kubeconfig: pulumi.Output<string>;
    constructor(name: string, spec: ControlPlaneSpec, opts?: pulumi.CustomResourceOptions) {
        super(controlPlaneProvider, name, { ...spec, kubeconfig: undefined }, { ...opts, additionalSecretOutputs: ["kubeconfig"] }, "gitops", "LocalControlPlane");
    }
}

export interface LocalControlPlaneClusterArgs {
    /** A name for the cluster in outputs (default "gitops-<stack>"). */
    readonly clusterName: string;
    /** State folder, absolute (gitops:cluster.local.dir resolved against the project; default <project>/.gitops/local). Changing it replaces the cluster. */
    readonly dir: string;
    /** Folder whose bare repos are served to Flux, absolute (the fleet repo's parent). Changing it replaces the cluster. */
    readonly fleetRoot: string;
    /** Fleet server port on 127.0.0.1 (gitops:cluster.local.fleetPort, default 8765). Changing it replaces the cluster. */
    readonly fleetPort: number;
}

/**
 * cluster.kind local: kube-apiserver + etcd, controller-manager, scheduler, kwok and the real Flux
 * controllers as processes on this machine (engine/localcluster/controlplane.ts). Flux already
 * runs there, so the bootstrap applies only the flux-system GitRepository and Kustomization.
 */
export class LocalControlPlaneCluster extends LocalClusterComponent {
    readonly kind = "local" as const;
    readonly installsFlux = false;

    constructor(name: string, args: LocalControlPlaneClusterArgs, opts?: pulumi.ComponentResourceOptions) {
        const spec: ControlPlaneSpec = { dir: args.dir, fleetRoot: args.fleetRoot, fleetPort: args.fleetPort };
        super("gitops:cluster:LocalControlPlaneCluster", name, (parent) => ({ name: pulumi.output(args.clusterName), kubeconfig: new ControlPlane(name, spec, { parent }).kubeconfig }), opts);
    }
}
