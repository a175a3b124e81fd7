/**
 * Desired against actual, per environment, without Pulumi: what the environment should run (the
 * fleet branch head, or with gitops:fleet.oci the digest its tag holds and the source revision in
 * that artifact's annotations) against what Flux reports in the cluster (the flux-system source's
 * artifact revision and each Kustomization's lastAppliedRevision), whether they match and since
 * when, what differs, and the trail back to the source commit (the artifact's annotations, the
 * commit's promotion trailers).
 *
 * `compareEnvironment` is the pure rule; `environmentStatus` reads Git, the registry and the
 * cluster and hands their answers to it.
 */
import type { StackConfig } from "../config/schema";
import { API, KubeObject } from "../flux/api";
import type { GitAuth } from "../git/exec";
import type { TrailRecord } from "../promote/trail";
import type { RegistryAuth } from "../oci/client";

export interface Desired {
    mode: "git" | "oci";
    /** What Flux reports when it has applied it: `<branch>@sha1:<commit>` or `<tag>@sha256:<digest>`. */
    revision: string;
    /** The fleet commit (git), or the one the artifact's revision annotation names (oci). */
    commit?: string;
    /** oci: the digest the environment's tag holds, and the artifact URL. */
    digest?: string;
    artifact?: string;
    /** oci: the artifact's org.opencontainers.image.source / .revision / .created. */
    source?: string;
    sourceRevision?: string;
    /** When the desired state appeared: the commit time (git) or the artifact's created time (oci). */
    at?: string;
    /** Why the desired state could not be read (no artifact under the tag, branch missing, registry refused). */
    error?: string;
}

export interface ObservedObject {
    kind: "GitRepository" | "OCIRepository" | "Kustomization";
    name: string;
    namespace: string;
    found: boolean;
    /** Source: status.artifact.revision; Kustomization: status.lastAppliedRevision. */
    revision?: string;
    ready?: "True" | "False" | "Unknown";
    readySince?: string;
    message?: string;
}

export interface Observed {
    source: ObservedObject;
    kustomizations: ObservedObject[];
    /** Why the cluster could not be read, when it could not. */
    error?: string;
}

export interface Trail {
    commit?: string;
    /** Where the artifact says it came from (oci), or the fleet repository (git). */
    source?: string;
    revision?: string;
    /** The commit's promotion / rollback / hotfix record, when it carries one. */
    record?: Pick<TrailRecord, "kind" | "from" | "to" | "by" | "at" | "trailers">;
}

export interface EnvironmentStatus {
    stack: string;
    desired: Desired;
    actual: Observed;
    inSync: boolean;
    /** In sync: since the last Ready transition at this revision; out of sync: since the desired state appeared. */
    since?: string;
    differences: string[];
    trail: Trail;
}

/** The sha (or hex digest) a Flux revision names: `main@sha1:abc` -> abc, `dev@sha256:abc` -> abc. */
function revisionId(rev: string): string {
    const at = rev.lastIndexOf("@");
    const r = at >= 0 ? rev.slice(at + 1) : rev;
    const c = r.indexOf(":");
    return (c >= 0 ? r.slice(c + 1) : r).toLowerCase();
}

/** True when Flux's revision names the desired commit or digest. */
export function sameRevision(actual: string | undefined, desired: string): boolean {
    if (!actual) return false;
    const a = revisionId(actual);
    const d = revisionId(desired);
    return a.length > 0 && (a === d || (d.length >= 7 && a.startsWith(d)));
}

const short = (rev: string) => {
    const at = rev.lastIndexOf("@");
    const head = at >= 0 ? rev.slice(0, at + 1) : "";
    const id = at >= 0 ? rev.slice(at + 1) : rev;
    const c = id.indexOf(":");
    return c >= 0 ? `${head}${id.slice(0, c + 1)}${id.slice(c + 1, c + 13)}` : `${head}${id.slice(0, 12)}`;
};

/** The pure rule: does what Flux reports match what is desired, since when, and what differs. */
export function compareEnvironment(stack: string, desired: Desired, actual: Observed, trail: Trail): EnvironmentStatus {
    const differences: string[] = [];
    if (desired.error) differences.push(`desired state not read: ${desired.error}`);
    if (actual.error) differences.push(`cluster not read: ${actual.error}`);
    else {
        for (const o of desired.error ? [] : [actual.source, ...actual.kustomizations]) {
            const id = `${o.kind} ${o.namespace}/${o.name}`;
            if (!o.found) differences.push(`${id}: not found in the cluster`);
            else if (!sameRevision(o.revision, desired.revision)) {
                differences.push(`${id}: ${o.kind === "Kustomization" ? "applied" : "artifact"} ${o.revision ? short(o.revision) : "<none>"}, desired ${short(desired.revision)}${o.ready === "False" && o.message ? ` (Ready=False: ${o.message})` : ""}`);
            } else if (o.ready !== "True") differences.push(`${id}: at the desired revision but Ready=${o.ready ?? "<none>"}${o.message ? `: ${o.message}` : ""}`);
        }
    }
    const inSync = differences.length === 0;
    let since: string | undefined;
    if (inSync) {
        const times = [actual.source, ...actual.kustomizations].map((o) => o.readySince).filter((t): t is string => !!t).sort();
        since = times[times.length - 1];
    } else since = desired.at;
    return { stack, desired, actual, inSync, since, differences, trail };
}

/** Reads the flux-system source and the environment's Kustomizations. */
export async function observe(
    client: { get(apiVersion: string, kind: string, name: string, namespace?: string): Promise<KubeObject | undefined> },
    namespace: string,
    sourceKind: "GitRepository" | "OCIRepository",
    kustomizations: readonly string[],
): Promise<Observed> {
    const read = async (apiVersion: string, kind: ObservedObject["kind"], name: string): Promise<ObservedObject> => {
        const o = await client.get(apiVersion, kind, name, namespace);
        if (!o) return { kind, name, namespace, found: false };
        const st = (o.status ?? {}) as { lastAppliedRevision?: string; artifact?: { revision?: string }; conditions?: Array<{ type: string; status: "True" | "False" | "Unknown"; message?: string; lastTransitionTime?: string }> };
        const ready = st.conditions?.find((c) => c.type === "Ready");
        return {
            kind,
            name,
            namespace,
            found: true,
            revision: kind === "Kustomization" ? st.lastAppliedRevision : st.artifact?.revision,
            ready: ready?.status,
            readySince: ready?.lastTransitionTime,
            message: ready?.message,
        };
    };
    const source = await read(API.source, sourceKind, "flux-system");
    const ks = await Promise.all(kustomizations.map((k) => read(API.kustomize, "Kustomization", k)));
    return { source, kustomizations: ks };
}

export interface StatusInputs {
    config: StackConfig;
    /** The fleet repository as this machine reaches it (a local path is resolved by the caller). */
    repo: string;
    /** The Kustomizations under clusters/<env> (the fleet plan's list). */
    kustomizations: string[];
    gitAuth?: GitAuth;
    registryAuth?: RegistryAuth;
    /** The cluster's kubeconfig (text) and context; absent: the cluster is not read. */
    kubeconfig?: string;
    context?: string;
}

/** Commit time and message, fetching the branch when the commit is not in the cache yet. */
async function commitInfo(repo: string, branch: string, sha: string, auth?: GitAuth): Promise<{ at: string; message: string } | undefined> {
    const { Remote } = await import("../git/remote");
    return Remote.open(repo, auth, async (r) => {
        const show = () => r.git(["show", "-s", "--format=%cI%x00%B", sha], { allowFail: true });
        let res = await show();
        if (res.code !== 0) {
            await r.fetchBranches([branch], "full").catch(() => undefined);
            res = await show();
        }
        if (res.code !== 0) return undefined;
        const nul = res.stdout.indexOf("\0");
        return { at: new Date(res.stdout.slice(0, nul).trim()).toISOString(), message: res.stdout.slice(nul + 1) };
    });
}

/** What the environment should run: the artifact its tag holds (oci) or the branch head (git), and the trail back to its commit. */
async function readDesired(i: StatusInputs, trail: Trail): Promise<Desired> {
    const cfg = i.config;
    const oci = cfg.fleet.oci;
    let desired: Desired;
    if (oci) {
        const { inspectArtifact } = await import("../oci/push");
        const { commitOfRevision } = await import("../oci/fleet");
        const a = await inspectArtifact(`${oci.repository}:${oci.tag}`, { auth: i.registryAuth, insecure: oci.insecure, credsFrom: "GITOPS_REGISTRY_CREDS", where: "gitops:fleet.oci" });
        const commit = commitOfRevision(a.meta.revision);
        desired = { mode: "oci", revision: `${oci.tag}@${a.digest}`, digest: a.digest, artifact: `${oci.repository}@${a.digest}`, commit, source: a.meta.source, sourceRevision: a.meta.revision, at: a.meta.created || undefined };
        Object.assign(trail, { commit, source: a.meta.source, revision: a.meta.revision });
    } else {
        const { Remote } = await import("../git/remote");
        const head = await Remote.open(i.repo, i.gitAuth, async (r) => (await r.lsRemote([`refs/heads/${cfg.fleet.branch}`])).refs.get(`refs/heads/${cfg.fleet.branch}`));
        if (!head) {
            const { GitopsError } = await import("../errors");
            throw new GitopsError("gitops:fleet.branch", `branch '${cfg.fleet.branch}' does not exist in ${i.repo}`, "run `pulumi up` for the stack first");
        }
        desired = { mode: "git", revision: `${cfg.fleet.branch}@sha1:${head}`, commit: head };
        Object.assign(trail, { commit: head, source: i.repo, revision: desired.revision });
    }
    if (desired.commit) {
        const { recordOf } = await import("../promote/trail");
        const info = await commitInfo(i.repo, cfg.fleet.branch, desired.commit, i.gitAuth).catch(() => undefined);
        if (info) {
            if (desired.mode === "git") desired.at = info.at;
            const rec = recordOf(desired.commit, info.message);
            if (rec) trail.record = { kind: rec.kind, from: rec.from, to: rec.to, by: rec.by, at: rec.at, trailers: rec.trailers };
        }
    }
    return desired;
}

/** Reads Git, the registry and the cluster for one environment; a part that cannot be read is reported, not thrown. */
export async function environmentStatus(i: StatusInputs): Promise<EnvironmentStatus> {
    const cfg = i.config;
    const oci = cfg.fleet.oci;
    const trail: Trail = {};
    let desired: Desired;
    try {
        desired = await readDesired(i, trail);
    } catch (e) {
        desired = { mode: oci ? "oci" : "git", revision: "", error: (e as Error).message };
    }
    let actual: Observed;
    const sourceKind = oci ? "OCIRepository" : "GitRepository";
    if (!i.kubeconfig) {
        actual = { source: { kind: sourceKind, name: "flux-system", namespace: cfg.flux.namespace, found: false }, kustomizations: [], error: "no kubeconfig for this stack (--kubeconfig, $KUBECONFIG)" };
    } else {
        try {
            const { ClusterClient } = await import("../cluster/client");
            const client = ClusterClient.fromKubeconfig(i.kubeconfig, i.context, { retry: { attempts: 2 }, requestTimeoutMs: 10_000 });
            actual = await observe(client, cfg.flux.namespace, sourceKind, i.kustomizations);
        } catch (e) {
            actual = { source: { kind: sourceKind, name: "flux-system", namespace: cfg.flux.namespace, found: false }, kustomizations: [], error: (e as Error).message };
        }
    }
    return compareEnvironment(cfg.stack, desired, actual, trail);
}

/** Plain-text report of environments, one block each. */
export function formatStatus(envs: readonly EnvironmentStatus[]): string {
    const lines: string[] = [];
    for (const e of envs) {
        const d = e.desired;
        lines.push(`${e.stack}: ${e.inSync ? "in sync" : "NOT in sync"}${e.since ? ` since ${e.since}` : ""}`);
        if (d.error) lines.push(`  desired   unknown: ${d.error}`);
        else lines.push(d.mode === "oci" ? `  desired   ${d.artifact} (tag ${d.revision.split("@")[0]})` : `  desired   ${d.revision}`);
        if (d.mode === "oci" && !d.error) lines.push(`            built from ${d.sourceRevision || "<no revision annotation>"} of ${d.source || "<no source annotation>"}${d.at ? ` at ${d.at}` : ""}`);
        if (e.actual.error) lines.push(`  actual    unknown: ${e.actual.error}`);
        else {
            for (const o of [e.actual.source, ...e.actual.kustomizations]) {
                lines.push(`  ${o.kind === "Kustomization" ? "applied " : "source  "}  ${`${o.kind}/${o.name}`.padEnd(40)} ${o.found ? `${o.revision ?? "<none>"} Ready=${o.ready ?? "<none>"}` : "not found"}`);
            }
        }
        for (const diff of e.differences) lines.push(`  differs   ${diff}`);
        const t = e.trail;
        if (t.commit) lines.push(`  trail     commit ${t.commit}${t.record ? ` (${t.record.kind}${t.record.from ? ` from ${t.record.from.stage}@${t.record.from.revision}` : ""}${t.record.by ? ` by ${t.record.by}` : ""}${t.record.at ? ` at ${t.record.at}` : ""})` : ""}`);
        lines.push("");
    }
    return lines.join("\n");
}
