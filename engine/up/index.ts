/**
 * The two pieces of `npm run up` (scripts/up.sh) that read config and clusters: the stack file
 * Pulumi gets when the local control plane stands in for the configured cluster, and the summary
 * printed at the end. No Pulumi imports: Pulumi's outputs come in as JSON (`pulumi stack output`).
 */
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { parseDocument } from "yaml";
import { loadStackFile, splitStackFileConfig } from "../config/load";
import { parseStackConfig } from "../config/schema";
import { GitopsError } from "../errors";

const run = promisify(execFile);

/** What the local control plane records in its state folder (engine/localcluster/controlplane.ts LocalState). */
export interface LocalPlaneState {
    kubeconfig: string;
    /** <fleetUrl>/<repo>.git is a clone URL. */
    fleetUrl: string;
    fleetRoot: string;
    server?: string;
    /** The pieces started, by name (etcd, kube-apiserver, source-controller, ...). */
    pieces?: Record<string, unknown>;
}

/** The Flux controllers a local control plane started, in its start order. */
export function fluxControllers(state: LocalPlaneState): string[] {
    return Object.keys(state.pieces ?? {}).filter((p) => p.endsWith("-controller"));
}

export function localDir(projectDir: string, env: NodeJS.ProcessEnv = process.env): string {
    return path.resolve(projectDir, env.GITOPS_LOCAL_DIR || path.join(".gitops", "local"));
}

export function readLocalState(dir: string): LocalPlaneState {
    const file = path.join(dir, "state.json");
    let s: Partial<LocalPlaneState>;
    try {
        s = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        throw new GitopsError(file, `the local control plane's state is unreadable: ${(e as Error).message}`, "start it with `npx gitops local up`");
    }
    for (const k of ["kubeconfig", "fleetUrl", "fleetRoot"] as const) {
        if (typeof s[k] !== "string") throw new GitopsError(file, `has no ${k}`, "restart it: `npx gitops local down && npx gitops local up`");
    }
    return s as LocalPlaneState;
}

/** A setting the local stand-in leaves out, and why. */
export interface LeftOut {
    key: string;
    why: string;
}

export interface LocalStackFile {
    text: string;
    /** Settings of Pulumi.<stack>.yaml that the copy leaves out (said by `npm run up`). */
    leftOut: LeftOut[];
}

/** Why Helm-based settings cannot run on the local control plane. */
const NO_HELM =
    "the local control plane's Pods are kwok's stand-ins that run no container, so charts such as these (webhooks, metrics, meshes) cannot work there; with k3d they run as written";

/**
 * Pulumi.<stack>.yaml as Pulumi gets it when the local control plane stands in for the configured
 * cluster (k3d or kind without Docker): the same file with gitops:cluster.kind local, so the stack
 * adopts the plane `gitops local up` started and Flux pulls the fleet from its loopback server.
 * What needs Helm charts (gitops:releases, Helm sources, gitops:delivery: Istio, Flagger,
 * Prometheus, Grafana) is left out and listed in `leftOut`: kwok's Pods run no container, so
 * webhooks, meshes and metrics servers cannot work there, and the Kustomizations that wait on
 * those releases (and every one that depends on them, apps included) would never become Ready. Everything else (secrets,
 * encryptionsalt, comments) is kept as written.
 */
export function localStackFile(projectDir: string, stack: string): LocalStackFile {
    const { file } = loadStackFile(projectDir, stack); // validates it first
    const doc = parseDocument(fs.readFileSync(file, "utf8"));
    doc.setIn(["config", "gitops:cluster", "kind"], "local");
    const leftOut: LeftOut[] = [];
    const config = doc.getIn(["config"]) as { toJSON(): Record<string, unknown> } | undefined;
    const json = (config?.toJSON() ?? {}) as Record<string, any>;
    if (Array.isArray(json["gitops:releases"]) && json["gitops:releases"].length) {
        doc.deleteIn(["config", "gitops:releases"]);
        leftOut.push({ key: "gitops:releases", why: `${json["gitops:releases"].map((r: any) => r?.name).join(", ")}: ${NO_HELM}` });
    }
    if (Array.isArray(json["gitops:sources"])) {
        const helm = (json["gitops:sources"] as any[]).map((s, i) => ({ s, i })).filter(({ s }) => s?.kind === "helm");
        // From the last, so the indexes stay right.
        for (const { i } of [...helm].reverse()) doc.deleteIn(["config", "gitops:sources", i]);
        if (helm.length === json["gitops:sources"].length) doc.deleteIn(["config", "gitops:sources"]);
        if (helm.length) leftOut.push({ key: "gitops:sources (kind helm)", why: `${helm.map(({ s }) => s.name).join(", ")}: ${NO_HELM}` });
    }
    const delivery = json["gitops:delivery"] as Record<string, any> | undefined;
    const on = delivery ? Object.entries(delivery).filter(([, v]) => v && typeof v === "object" && v.enabled === true).map(([k]) => k) : [];
    if (on.length) {
        doc.deleteIn(["config", "gitops:delivery"]);
        leftOut.push({ key: "gitops:delivery", why: `${on.join(", ")} (and the gateway that needs them): ${NO_HELM}` });
        // A canary needs Flagger (and its mesh): the app is deployed as a plain Deployment.
        const apps = Array.isArray(json["gitops:apps"]) ? (json["gitops:apps"] as any[]) : [];
        apps.forEach((a, i) => {
            if (a && typeof a === "object" && "canary" in a) {
                doc.deleteIn(["config", "gitops:apps", i, "canary"]);
                leftOut.push({ key: `gitops:apps[${i}].canary`, why: `${a.name} is rolled out as a plain Deployment: its canary needs Flagger (gitops:delivery)` });
            }
        });
    }
    const header = [
        `# Written by npm run up from ${path.basename(file)} (the local control plane stands in for the cluster). Edit ${path.basename(file)}, not this file.`,
        ...leftOut.map((l) => `# Left out here: ${l.key}: ${l.why}.`),
    ];
    // What Pulumi gets must be valid on its own: checked here, before anything starts.
    const derived = (doc.toJSON() as { config?: Record<string, unknown> }).config ?? {};
    parseStackConfig(splitStackFileConfig(derived, `${path.basename(file)} (as npm run up passes it for the local control plane)`).raw, stack, path.basename(file));
    return { text: `${header.join("\n")}\n${doc.toString()}`, leftOut };
}

// ---------------------------------------------------------------- summary

export interface KustomizationStatus {
    namespace: string;
    name: string;
    ready: boolean;
    /** status.lastAppliedRevision, e.g. "main@sha1:abc...". */
    revision: string;
    message: string;
}

export interface DeploymentStatus {
    namespace: string;
    name: string;
    found: boolean;
    replicas: number;
    available: number;
    image: string;
}

export interface Summary {
    stack: string;
    /** The cluster that runs: "local control plane", "k3d", "none", ... */
    cluster: string;
    fleetRepository?: string;
    fleetCommit?: string;
    kubeconfig?: string;
    kustomizations: KustomizationStatus[];
    deployments: DeploymentStatus[];
    /** Whether `gitops get` exists in this checkout (said only when it does). */
    hasGet: boolean;
}

async function kubectlJson(kubeconfig: string, args: string[]): Promise<any> {
    const { stdout } = await run("kubectl", ["--kubeconfig", kubeconfig, ...args, "-o", "json"], { maxBuffer: 64 << 20, timeout: 30_000 });
    return JSON.parse(stdout);
}

export async function readKustomizations(kubeconfig: string): Promise<KustomizationStatus[]> {
    const list = await kubectlJson(kubeconfig, ["get", "kustomizations.kustomize.toolkit.fluxcd.io", "--all-namespaces"]);
    return (list.items ?? []).map((k: any) => {
        const ready = (k.status?.conditions ?? []).find((c: any) => c.type === "Ready");
        return {
            namespace: k.metadata.namespace,
            name: k.metadata.name,
            ready: ready?.status === "True",
            revision: k.status?.lastAppliedRevision ?? "",
            message: ready?.message ?? "no Ready condition yet",
        };
    });
}

export async function readDeployment(kubeconfig: string, namespace: string, name: string): Promise<DeploymentStatus> {
    try {
        const d = await kubectlJson(kubeconfig, ["get", "deployment", name, "--namespace", namespace]);
        return {
            namespace,
            name,
            found: true,
            replicas: d.spec?.replicas ?? 0,
            available: d.status?.availableReplicas ?? 0,
            image: d.spec?.template?.spec?.containers?.[0]?.image ?? "",
        };
    } catch {
        return { namespace, name, found: false, replicas: 0, available: 0, image: "" };
    }
}

/** A revision names a commit: "main@sha1:<sha>", "sha1:<sha>" or the bare sha. */
export function atCommit(revision: string, commit: string): boolean {
    const sha = revision.split(":").pop() ?? "";
    return !!commit && sha === commit;
}

export function formatSummary(s: Summary, projectDir = "."): string {
    const short = s.fleetCommit?.slice(0, 12) ?? "(none)";
    const rel = (p: string) => {
        const r = path.relative(projectDir, p);
        return path.isAbsolute(p) && !r.startsWith("..") ? r || "." : p;
    };
    const lines = [`== ${s.stack} is up`, `runs:        ${s.cluster}`];
    lines.push(`fleet:       ${s.fleetRepository ?? "?"} at ${short}`);
    if (s.kubeconfig) {
        const atIt = s.kustomizations.filter((k) => k.ready && atCommit(k.revision, s.fleetCommit ?? ""));
        lines.push(`Flux:        ${atIt.length}/${s.kustomizations.length} Kustomizations Ready at ${short}`);
        for (const k of s.kustomizations) {
            const ok = k.ready && atCommit(k.revision, s.fleetCommit ?? "");
            lines.push(`  ${ok ? "✔" : "✗"} ${k.namespace}/${k.name}  ${ok ? k.revision : `${k.ready ? "Ready" : "not Ready"} at ${k.revision || "(nothing applied)"}: ${k.message}`}`);
        }
        for (const d of s.deployments) {
            lines.push(
                d.found
                    ? `app:         Deployment ${d.namespace}/${d.name} ${d.available}/${d.replicas} available (${d.image})`
                    : `app:         Deployment ${d.namespace}/${d.name} is not in the cluster yet`,
            );
        }
        lines.push(`look:        ${s.hasGet ? `npx gitops get --kubeconfig ${rel(s.kubeconfig)}   or   ` : ""}kubectl --kubeconfig ${rel(s.kubeconfig)} get kustomizations,gitrepositories -A`);
    } else {
        lines.push(`look:        git --git-dir ${s.fleetRepository ?? ".fleet/fleet.git"} log --oneline -3`);
    }
    lines.push(`tear down:   npm run down   (pulumi destroy${s.cluster.startsWith("local") ? ", then the local control plane down" : ""})`);
    return lines.join("\n") + "\n";
}

export interface SummaryInput {
    projectDir: string;
    stack: string;
    /** The kind that runs (from `gitops check --plan`): local, k3d, kind, none, existing, aks. */
    kind: string;
    /** `pulumi stack output --json --show-secrets`. */
    outputs: Record<string, unknown>;
    /** Where to write the kubeconfig from the outputs (k3d, kind). */
    kubeconfigOut: string;
    hasGet: boolean;
}

export async function collectSummary(i: SummaryInput): Promise<Summary> {
    const { config } = loadStackFile(i.projectDir, i.stack);
    let kubeconfig: string | undefined;
    let cluster: string = i.kind;
    if (i.kind === "local") {
        const dir = localDir(i.projectDir);
        const state = readLocalState(dir);
        kubeconfig = path.resolve(i.projectDir, state.kubeconfig);
        cluster = `local control plane (${path.relative(i.projectDir, dir)}): kube-apiserver ${state.server ?? ""}, real Flux: ${fluxControllers(state).join(", ") || "no controller"}; fleet served at ${state.fleetUrl}`;
    } else if (i.kind !== "none" && typeof i.outputs.kubeconfig === "string") {
        fs.mkdirSync(path.dirname(i.kubeconfigOut), { recursive: true });
        fs.writeFileSync(i.kubeconfigOut, i.outputs.kubeconfig, { mode: 0o600 });
        kubeconfig = i.kubeconfigOut;
        cluster = `${i.kind} cluster ${String(i.outputs.clusterName ?? config.cluster.name)}`;
    } else if (i.kind === "none") cluster = "no cluster (gitops:cluster.kind none): the fleet repo only";
    const s: Summary = {
        stack: i.stack,
        cluster,
        fleetRepository: typeof i.outputs.fleetRepository === "string" ? i.outputs.fleetRepository : config.fleet.url,
        fleetCommit: typeof i.outputs.fleetCommit === "string" ? i.outputs.fleetCommit : undefined,
        kubeconfig,
        kustomizations: [],
        deployments: [],
        hasGet: i.hasGet,
    };
    if (kubeconfig) {
        s.kustomizations = await readKustomizations(kubeconfig).catch(() => []);
        s.deployments = await Promise.all(config.apps.map((a) => readDeployment(kubeconfig!, a.namespace, a.name)));
    }
    return s;
}
