/**
 * Acts for the Flux controllers where no kubelet runs them: source-controller and
 * kustomize-controller, reduced to what they do to the API server.
 *
 *  - GitRepository: resolves spec.ref.branch in the fleet repo (real git) and writes
 *    status.artifact.revision "<branch>@sha1:<sha>", Ready=True, observedGeneration and
 *    lastHandledReconcileAt on the status subresource.
 *  - Kustomization: once its source has an artifact and its dependsOn are Ready, checks the
 *    revision out, builds spec.path with `kubectl kustomize` (a kustomization.yaml is generated
 *    when the folder has none, as Flux does), substitutes spec.postBuild.substitute, server-side
 *    applies the result as field manager kustomize-controller, then writes lastAppliedRevision /
 *    lastAttemptedRevision, Ready and observedGeneration. A failed apply is reported the way the
 *    controller reports it: Ready=False, reason ReconciliationFailed, the error as message.
 *
 *   const f = new FluxEmulator(cluster, fleetRepo); f.start(); ...; await f.stop();
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { KubeCluster } from "./cluster";

interface Obj {
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace: string; generation?: number; annotations?: Record<string, string> };
    spec?: any;
    status?: any;
}

const REQUESTED_AT = "reconcile.fluxcd.io/requestedAt";

export class FluxEmulator {
    /** Every status write, for assertions: "<kind>/<ns>/<name> <revision> <Ready>". */
    readonly events: string[] = [];
    private timer?: NodeJS.Timeout;
    private running?: Promise<void>;
    private stopped = false;
    private readonly work: string;
    lastError = "";

    constructor(private readonly cluster: KubeCluster, private readonly fleetRepo: string, private readonly pollMs = 1000) {
        this.work = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-e2e-flux-"));
    }

    start(): void {
        this.stopped = false;
        const loop = async () => {
            if (this.stopped) return;
            this.running = this.tick().catch((e) => {
                this.lastError = (e as Error).message;
            });
            await this.running;
            if (!this.stopped) this.timer = setTimeout(loop, this.pollMs);
        };
        this.timer = setTimeout(loop, 0);
    }

    async stop(): Promise<void> {
        this.stopped = true;
        if (this.timer) clearTimeout(this.timer);
        await this.running;
        fs.rmSync(this.work, { recursive: true, force: true });
    }

    /** One pass over every GitRepository and Kustomization. */
    async tick(): Promise<void> {
        const repos = this.list("gitrepositories.source.toolkit.fluxcd.io");
        for (const r of repos) this.reconcileSource(r);
        const fresh = this.list("gitrepositories.source.toolkit.fluxcd.io");
        for (const k of this.list("kustomizations.kustomize.toolkit.fluxcd.io")) this.reconcileKustomization(k, fresh);
    }

    private list(resource: string): Obj[] {
        try {
            return JSON.parse(this.cluster.kubectl(["get", resource, "-A", "-o", "json"])).items as Obj[];
        } catch (e) {
            // Before the bootstrap applies the CRDs there is nothing to act on.
            if (/the server doesn't have a resource type/.test((e as { stderr?: string }).stderr ?? "")) return [];
            throw e;
        }
    }

    private reconcileSource(r: Obj): void {
        const branch = r.spec?.ref?.branch ?? "master";
        let sha: string;
        try {
            sha = git(["rev-parse", `refs/heads/${branch}`], this.fleetRepo).trim();
        } catch (e) {
            return this.setStatus(r, { observedGeneration: r.metadata.generation, conditions: [cond("Ready", "False", "GitOperationFailed", `branch ${branch} not found`)] });
        }
        const revision = `${branch}@sha1:${sha}`;
        const st = r.status ?? {};
        const requested = r.metadata.annotations?.[REQUESTED_AT];
        if (st.artifact?.revision === revision && st.observedGeneration === r.metadata.generation && st.lastHandledReconcileAt === requested && ready(r)) return;
        this.setStatus(r, {
            observedGeneration: r.metadata.generation,
            lastHandledReconcileAt: requested,
            artifact: {
                path: `gitrepository/${r.metadata.namespace}/${r.metadata.name}/${sha}.tar.gz`,
                url: `http://source-controller.flux-system.svc.cluster.local./gitrepository/${r.metadata.namespace}/${r.metadata.name}/${sha}.tar.gz`,
                revision,
                digest: `sha256:${sha.padEnd(64, "0").slice(0, 64)}`,
                lastUpdateTime: new Date().toISOString(),
            },
            conditions: [cond("Ready", "True", "Succeeded", `stored artifact for revision '${revision}'`), cond("ArtifactInStorage", "True", "Succeeded", `stored artifact for revision '${revision}'`)],
        });
    }

    private reconcileKustomization(k: Obj, repos: Obj[]): void {
        const ref = k.spec?.sourceRef ?? {};
        const src = repos.find((r) => r.metadata.name === ref.name && r.metadata.namespace === (ref.namespace ?? k.metadata.namespace));
        const revision: string | undefined = src?.status?.artifact?.revision;
        const st = k.status ?? {};
        const requested = k.metadata.annotations?.[REQUESTED_AT];
        if (!src || !revision) {
            if (st.conditions?.[0]?.reason !== "ArtifactFailed") {
                this.setStatus(k, { observedGeneration: -1, conditions: [cond("Ready", "False", "ArtifactFailed", `Source '${ref.kind}/${ref.namespace ?? k.metadata.namespace}/${ref.name}' not ready`)] });
            }
            return;
        }
        if (st.lastAppliedRevision === revision && st.observedGeneration === k.metadata.generation && st.lastHandledReconcileAt === requested && ready(k)) return;
        for (const d of k.spec?.dependsOn ?? []) {
            const dep = this.list("kustomizations.kustomize.toolkit.fluxcd.io").find((o) => o.metadata.name === d.name && o.metadata.namespace === (d.namespace ?? k.metadata.namespace));
            if (!dep || !ready(dep) || dep.status?.lastAppliedRevision !== revision) {
                if (st.conditions?.[0]?.reason !== "DependencyNotReady") {
                    this.setStatus(k, { ...st, conditions: [cond("Ready", "False", "DependencyNotReady", `dependency '${d.namespace ?? k.metadata.namespace}/${d.name}' is not ready`)] });
                }
                return;
            }
        }
        const sha = revision.split("@sha1:")[1] ?? revision;
        let error = "";
        try {
            this.apply(sha, k);
        } catch (e) {
            error = ((e as { stderr?: string }).stderr || (e as Error).message).trim().split("\n").slice(0, 5).join("; ");
        }
        this.setStatus(k, {
            observedGeneration: k.metadata.generation,
            lastHandledReconcileAt: requested,
            lastAttemptedRevision: revision,
            ...(error ? { lastAppliedRevision: st.lastAppliedRevision } : { lastAppliedRevision: revision }),
            conditions: error
                ? [cond("Ready", "False", "ReconciliationFailed", error)]
                : [cond("Ready", "True", "ReconciliationSucceeded", `Applied revision: ${revision}`)],
        });
    }

    /** Builds the Kustomization's path at sha and server-side applies it. */
    private apply(sha: string, k: Obj): void {
        const tree = path.join(this.work, sha);
        if (!fs.existsSync(tree)) {
            fs.mkdirSync(tree, { recursive: true });
            execFileSync("sh", ["-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", this.fleetRepo, sha, tree]);
        }
        const dir = path.join(tree, String(k.spec?.path ?? "./"));
        if (!fs.existsSync(dir)) throw Object.assign(new Error(`kustomization path not found: stat ${k.spec?.path}: no such file or directory`), { stderr: "" });
        const names = ["kustomization.yaml", "kustomization.yml", "Kustomization"];
        if (!names.some((n) => fs.existsSync(path.join(dir, n)))) {
            // Flux generates a kustomization.yaml listing the folder's manifests (recursively via subfolders).
            const resources = fs
                .readdirSync(dir, { withFileTypes: true })
                .filter((e) => (e.isFile() && /\.ya?ml$/.test(e.name)) || e.isDirectory())
                .map((e) => e.name)
                .sort();
            fs.writeFileSync(path.join(dir, "kustomization.yaml"), `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${resources.map((r) => `- ${r}`).join("\n")}\n`);
        }
        let out = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 << 20 });
        const vars: Record<string, string> = k.spec?.postBuild?.substitute ?? {};
        out = out.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::=([^}]*))?\}/g, (m, name: string, def?: string) => (name in vars ? vars[name] : def !== undefined ? def : m));
        if (!out.trim()) return;
        const ns = k.spec?.targetNamespace ? ["--namespace", k.spec.targetNamespace] : [];
        this.cluster.kubectl(["apply", "--server-side", "--field-manager=kustomize-controller", "--force-conflicts", ...ns, "-f", "-"], out);
    }

    private setStatus(o: Obj, status: Record<string, unknown>): void {
        const resource = o.kind === "GitRepository" ? "gitrepositories.source.toolkit.fluxcd.io" : "kustomizations.kustomize.toolkit.fluxcd.io";
        // A JSON merge patch replaces lists whole, so conditions are written as a set.
        this.cluster.kubectl(["patch", resource, o.metadata.name, "-n", o.metadata.namespace, "--subresource=status", "--type=merge", "-p", JSON.stringify({ status })]);
        const c = (status.conditions as Array<{ status: string; reason: string }> | undefined)?.[0];
        this.events.push(`${o.kind}/${o.metadata.namespace}/${o.metadata.name} ${(status.artifact as { revision?: string })?.revision ?? status.lastAppliedRevision ?? ""} Ready=${c?.status}:${c?.reason}`);
    }
}

function cond(type: string, status: string, reason: string, message: string) {
    return { type, status, reason, message, lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"), observedGeneration: undefined };
}

function ready(o: Obj): boolean {
    return (o.status?.conditions ?? []).some((c: { type: string; status: string }) => c.type === "Ready" && c.status === "True");
}

function git(args: string[], cwd: string): string {
    return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
