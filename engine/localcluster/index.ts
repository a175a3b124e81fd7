/**
 * Local clusters for the embedded default: k3d and kind, driven through their CLIs. Used by the
 * LocalCluster dynamic provider (components/cluster/local.ts). No Pulumi imports.
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { stringify } from "yaml";
import { GitopsError } from "../errors";

const run = promisify(execFile);

export interface LocalClusterSpec {
    tool: "k3d" | "kind";
    name: string;
    /** k3d: agents; kind: workers. */
    workers: number;
    /** k3d only. */
    servers?: number;
    /** k3d: "8080:80@loadbalancer" mappings. */
    ports?: string[];
    /** k3d: k3s image; kind: node image. */
    image?: string;
    /** kind only. */
    extraMounts?: Array<{ hostPath: string; containerPath: string; readOnly: boolean }>;
    portMappings?: Array<{ containerPort: number; hostPort: number; protocol: "TCP" | "UDP" }>;
}

/** The fields whose change means a new cluster (everything that shapes the nodes). */
export const REPLACE_KEYS: Array<keyof LocalClusterSpec> = ["tool", "name", "workers", "servers", "ports", "image", "extraMounts", "portMappings"];

async function cli(spec: LocalClusterSpec, args: string[]): Promise<string> {
    try {
        const { stdout } = await run(spec.tool, args, { maxBuffer: 64 << 20, timeout: 15 * 60_000 });
        return stdout;
    } catch (e) {
        const err = e as NodeJS.ErrnoException & { stderr?: string };
        if (err.code === "ENOENT") {
            throw new GitopsError(
                "gitops:cluster.kind",
                `${spec.tool} is not on PATH`,
                `install ${spec.tool} and Docker (see README), or set gitops:cluster.kind to "existing" or "none"`,
            );
        }
        throw new GitopsError(`${spec.tool} cluster ${spec.name}`, `\`${spec.tool} ${args.join(" ")}\` failed: ${(err.stderr ?? err.message).trim()}`);
    }
}

/** The kind config file for a spec (one control plane, `workers` workers, mounts and ports on the control plane). */
export function kindConfig(spec: LocalClusterSpec): string {
    const controlPlane: Record<string, unknown> = { role: "control-plane" };
    if (spec.extraMounts?.length) controlPlane.extraMounts = spec.extraMounts;
    if (spec.portMappings?.length) controlPlane.extraPortMappings = spec.portMappings;
    if (spec.image) controlPlane.image = spec.image;
    const workers = Array.from({ length: spec.workers }, () => (spec.image ? { role: "worker", image: spec.image } : { role: "worker" }));
    return stringify({ kind: "Cluster", apiVersion: "kind.x-k8s.io/v1alpha4", name: spec.name, nodes: [controlPlane, ...workers] });
}

/** The k3d arguments for `cluster create`. */
export function k3dCreateArgs(spec: LocalClusterSpec): string[] {
    const args = ["cluster", "create", spec.name, "--agents", String(spec.workers), "--servers", String(spec.servers ?? 1), "--wait", "--kubeconfig-update-default=false", "--kubeconfig-switch-context=false"];
    for (const p of spec.ports ?? []) args.push("--port", p);
    if (spec.image) args.push("--image", spec.image);
    return args;
}

export async function exists(spec: LocalClusterSpec): Promise<boolean> {
    if (spec.tool === "k3d") {
        const out = await cli(spec, ["cluster", "list", "-o", "json"]);
        return (JSON.parse(out) as Array<{ name: string }>).some((c) => c.name === spec.name);
    }
    const out = await cli(spec, ["get", "clusters"]);
    return out.split("\n").map((l) => l.trim()).includes(spec.name);
}

export async function kubeconfig(spec: LocalClusterSpec): Promise<string> {
    return spec.tool === "k3d" ? cli(spec, ["kubeconfig", "get", spec.name]) : cli(spec, ["get", "kubeconfig", "--name", spec.name]);
}

/** Creates the cluster (adopting one of the same name that already exists) and returns its kubeconfig. */
export async function create(spec: LocalClusterSpec): Promise<string> {
    if (!(await exists(spec))) {
        if (spec.tool === "k3d") await cli(spec, k3dCreateArgs(spec));
        else {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-kind-"));
            try {
                const file = path.join(dir, "kind.yaml");
                fs.writeFileSync(file, kindConfig(spec));
                await cli(spec, ["create", "cluster", "--name", spec.name, "--config", file, "--wait", "5m"]);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        }
    }
    return kubeconfig(spec);
}

export async function destroy(spec: LocalClusterSpec): Promise<void> {
    if (!(await exists(spec))) return;
    await cli(spec, spec.tool === "k3d" ? ["cluster", "delete", spec.name] : ["delete", "cluster", "--name", spec.name]);
}

// ---- cluster.kind: local — the local control plane with real Flux as processes (controlplane.ts) ----

export { LocalControlPlane, missingBinaries, readState, status as controlPlaneStatus } from "./controlplane";

/** What the LocalControlPlaneCluster dynamic provider passes in: all paths absolute. */
export interface ControlPlaneSpec {
    /** State folder (gitops:cluster.local.dir, resolved against the project). */
    dir: string;
    /** Folder whose bare repos are served to Flux (the fleet repo's parent folder). */
    fleetRoot: string;
    /** gitops:cluster.local.fleetPort. */
    fleetPort: number;
    /** Binaries folder; default $GITOPS_E2E_BIN or the e2e cache. */
    bin?: string;
}

/** The REPLACE_KEYS of a control plane: another folder or port is another cluster. */
export const CONTROL_PLANE_REPLACE_KEYS: Array<keyof ControlPlaneSpec> = ["dir", "fleetRoot", "fleetPort"];

/** True when every piece recorded in the folder runs. */
export async function controlPlaneRunning(spec: ControlPlaneSpec): Promise<boolean> {
    const { status } = await import("./controlplane");
    const s = await status(spec.dir);
    return !!s.state && s.pieces.every((p) => p.state !== "stopped") && s.pieces.some((p) => p.state === "running");
}

/**
 * Adopts the control plane running from spec.dir (started by `gitops local up` or a test), or
 * starts one that outlives this process. Returns its kubeconfig. A control plane that serves
 * another fleet folder or port is an error that says how to fix it, never a silent mismatch.
 */
export async function controlPlaneUp(spec: ControlPlaneSpec, progress?: (l: string) => void): Promise<string> {
    const cp = await import("./controlplane");
    if (await controlPlaneRunning(spec)) {
        const st = cp.readState(spec.dir)!;
        const port = Number(new URL(st.fleetUrl).port);
        if (path.resolve(st.fleetRoot) !== path.resolve(spec.fleetRoot) || port !== spec.fleetPort) {
            throw new GitopsError(
                "gitops:cluster.local",
                `the local control plane in ${spec.dir} serves ${st.fleetRoot} on port ${port}, but the stack's fleet is ${spec.fleetRoot} on port ${spec.fleetPort}`,
                "run `gitops local down` and let `pulumi up` start it, or set gitops:cluster.local.fleetPort / gitops:fleet.url to match",
            );
        }
        return fs.readFileSync(st.kubeconfig, "utf8");
    }
    // Leftovers of a half-stopped plane are stopped first, so the start never collides with them.
    await cp.down(spec.dir);
    const plane = await cp.LocalControlPlane.start({ dir: spec.dir, bin: spec.bin, fleetRoot: spec.fleetRoot, fleetPort: spec.fleetPort, attached: false, progress });
    return fs.readFileSync(plane.kubeconfigPath, "utf8");
}

/** Stops the control plane recorded in spec.dir (its data stays, for `gitops local up` to reuse). */
export async function controlPlaneDown(spec: ControlPlaneSpec): Promise<void> {
    const { down } = await import("./controlplane");
    // Deleting the cluster deletes its data too (as deleting a k3d cluster does): the next create starts empty.
    await down(spec.dir, undefined, { purge: true });
}
