/**
 * Health checks and waits: kstatus health of a set of objects, and waiting until Flux has
 * applied a given Git revision (GitRepository artifact + every Kustomization Ready at it).
 */
import { GitopsError } from "../errors";
import { API, KubeObject, RECONCILE_REQUESTED_AT } from "../flux/api";
import { ClusterClient, Watch } from "./client";
import { objectId } from "./ids";
import { computeHealth, findCondition, FLUX_TRANSIENT_REASONS, Health, HealthStatus } from "./kstatus";
import { mapLimit, sleep } from "./retry";
import { readLive, resolveObjects, rethrowFirst } from "./plan";

export interface HealthResult {
    readonly id: string;
    readonly status: HealthStatus;
    readonly message: string;
    readonly reason?: string;
}

/** The kstatus health of each object (read live in few requests), in input order. */
export async function checkHealth(client: ClusterClient, objects: readonly KubeObject[]): Promise<HealthResult[]> {
    const desired = await resolveObjects(client, objects);
    const live = await readLive(client, desired);
    return desired.map((d) => ({ id: d.id, ...computeHealth(live.get(d.id)) }));
}

export interface WaitOptions {
    /** Give up after this long. Default 5 minutes. */
    readonly timeoutMs?: number;
    /**
     * Time between polls. Default 2 s (tests use less). waitForRevision also watches the objects
     * and reads them again at once when one changes; its poll is the safety net (default 1 s).
     */
    readonly pollMs?: number;
    readonly onProgress?: (msg: string) => void;
}

/**
 * Waits until every object is Current. Fails at once when one is Failed (naming it and quoting
 * its message), or at the timeout naming the first object still not Current.
 */
export async function waitForHealthy(client: ClusterClient, objects: readonly KubeObject[], opts: WaitOptions = {}): Promise<HealthResult[]> {
    const timeoutMs = opts.timeoutMs ?? 300_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
        const hs = await checkHealth(client, objects);
        const bad = hs.find((h) => h.status === "Failed");
        if (bad) throw new GitopsError(bad.id, `health check failed${bad.reason ? ` (${bad.reason})` : ""}: "${bad.message}"`, "fix the object or its workload and reconcile again");
        const waiting = hs.filter((h) => h.status !== "Current");
        if (waiting.length === 0) return hs;
        opts.onProgress?.(`waiting for ${waiting.length}/${hs.length} objects to become healthy: ${waiting[0].id} ${waiting[0].status}: ${waiting[0].message}`);
        if (Date.now() >= deadline) {
            const w = waiting[0];
            throw new GitopsError(w.id, `not healthy after ${fmtSecs(timeoutMs)}: ${w.status}: "${w.message}"`, "raise the timeout or look at the object's events");
        }
        await sleep(Math.min(opts.pollMs ?? 2000, Math.max(0, deadline - Date.now())));
    }
}

/** A Flux object to trigger and watch. */
export interface FluxRef {
    readonly name: string;
    readonly namespace?: string;
}

export interface RevisionWait extends WaitOptions {
    /** The source that pulls the fleet (a GitRepository unless sourceKind says otherwise). Namespace defaults to flux-system. */
    readonly gitRepository: FluxRef;
    /** The kind of that source: "OCIRepository" when the fleet is an OCI artifact (revision = its digest). Default "GitRepository". */
    readonly sourceKind?: "GitRepository" | "OCIRepository";
    /** The Kustomizations that must apply the revision (those under clusters/<env>). */
    readonly kustomizations: readonly FluxRef[];
    /** The commit: a bare sha, or Flux's `<branch>@sha1:<sha>`. */
    readonly revision: string;
    /** Annotate the objects with reconcile.fluxcd.io/requestedAt first. Default true. */
    readonly trigger?: boolean;
}

export interface RevisionWaitResult {
    /** The revision as the GitRepository reports it. */
    readonly revision: string;
    /** Each Kustomization's lastAppliedRevision, by id. */
    readonly applied: Record<string, string>;
    readonly elapsedMs: number;
}

/** The sha in a Flux revision: `main@sha1:abc`, `sha1:abc`, legacy `main/abc`, or a bare `abc`. */
export function revisionSha(rev: string): string {
    const at = rev.lastIndexOf("@");
    let r = at >= 0 ? rev.slice(at + 1) : rev;
    const colon = r.indexOf(":");
    if (colon >= 0) r = r.slice(colon + 1);
    const slash = r.lastIndexOf("/");
    if (slash >= 0) r = r.slice(slash + 1);
    return r.toLowerCase();
}

/** True when a Flux-reported revision names the wanted commit (full sha, or a prefix of >= 7). */
export function revisionMatches(actual: string | undefined, wanted: string): boolean {
    if (!actual) return false;
    const a = revisionSha(actual);
    const w = revisionSha(wanted);
    if (!a || !w) return false;
    if (a === w) return true;
    return w.length >= 7 && a.startsWith(w);
}

/**
 * Asks Flux to reconcile now (annotates the GitRepository with reconcile.fluxcd.io/requestedAt;
 * the Kustomizations only when it does not bring a new artifact, see below) and waits until the
 * artifact is at the revision and every Kustomization is Ready with lastAppliedRevision at it and
 * its latest generation observed. It watches the objects, so it returns as soon as Flux reports
 * the revision.
 *
 * A Kustomization that is Ready=False after attempting this revision (or Stalled) fails the wait
 * at once, naming it and quoting its condition message. On timeout, the error names the first
 * object not there yet and quotes its Ready condition.
 */
export async function waitForRevision(client: ClusterClient, w: RevisionWait): Promise<RevisionWaitResult> {
    const t0 = Date.now();
    const timeoutMs = w.timeoutMs ?? 300_000;
    const pollMs = w.pollMs ?? 1000;
    const deadline = t0 + timeoutMs;
    const progress = w.onProgress ?? (() => undefined);
    const ns = (r: FluxRef) => r.namespace ?? "flux-system";
    const repo = { apiVersion: API.source, kind: w.sourceKind ?? "GitRepository", name: w.gitRepository.name, namespace: ns(w.gitRepository) };
    const ks = w.kustomizations.map((k) => ({ apiVersion: API.kustomize, kind: "Kustomization", name: k.name, namespace: ns(k) }));
    const idOf = (r: { apiVersion: string; kind: string; name: string; namespace: string }) =>
        objectId({ apiVersion: r.apiVersion, kind: r.kind, metadata: { name: r.name, namespace: r.namespace } });

    // The source is asked first. When that brings it a new artifact, kustomize-controller
    // reconciles every Kustomization of the source by itself (it watches sources for revision
    // changes); asking them too would make each one reconcile twice (bench/cases/push.ts measured
    // it: a whole reconcile more on a busy controller). They are asked only when the source had
    // the revision already (`flux reconcile ks` then), and a Kustomization held back by a
    // dependency (DependencyNotReady, retried by Flux only after --requeue-dependency, 30 s) is
    // asked again as soon as the Kustomizations it depends on are at the revision.
    const patch = () => ({ metadata: { annotations: { [RECONCILE_REQUESTED_AT]: new Date().toISOString() } } });
    let kustomizationsAsked = true;
    if (w.trigger !== false) {
        progress(`requesting reconciliation of ${idOf(repo)}`);
        const got = await client.mergePatch(repo.apiVersion, repo.kind, repo.name, repo.namespace, patch());
        if (!got) throw new GitopsError(idOf(repo), "not found in the cluster", "is Flux bootstrapped, and is the name right?");
        kustomizationsAsked = !revisionMatches((got.status as { artifact?: { revision?: string } } | undefined)?.artifact?.revision, w.revision);
    }
    const ask = async (todo: typeof ks, why: string) => {
        if (!todo.length) return;
        progress(`requesting reconciliation of ${todo.length} Kustomizations${why}`);
        // A Kustomization may not exist yet: real Flux creates the ones a parent Kustomization
        // declares when the parent applies this revision, and reconciles a new object at once;
        // the wait below names any that never appear.
        const at = patch();
        const missing = rethrowFirst(
            await mapLimit(todo, 8, async (r) => ((await client.mergePatch(r.apiVersion, r.kind, r.name, r.namespace, at)) ? undefined : idOf(r))),
        ).filter((x): x is string => !!x);
        if (missing.length) progress(`not in the cluster yet (a parent Kustomization creates them): ${missing.join(", ")}`);
    };
    /** When each Kustomization held back by a dependency was last asked again. */
    const nudged = new Map<string, number>();

    const want = w.revision;
    let last = "";
    // Watch the objects, so the wait ends as soon as Flux reports the revision, not at the next
    // poll; the poll stays as the safety net (and is all there is when the server refuses watches).
    const changes = new ChangeFeed(client, [repo, ...ks], deadline);
    try {
        for (;;) {
            await changes.open();
            changes.reset();
            const objs = rethrowFirst(await mapLimit([repo, ...ks], 8, (r) => client.get(r.apiVersion, r.kind, r.name, r.namespace)));
            const [repoObj, ...kObjs] = objs;
            let waitingFor: { id: string; why: string } | undefined;

            const repoStatus = (repoObj?.status ?? {}) as { artifact?: { revision?: string } };
            if (!repoObj) waitingFor = { id: idOf(repo), why: "not found" };
            else {
                const stalled = findCondition(repoObj, "Stalled");
                if (stalled?.status === "True") {
                    throw new GitopsError(idOf(repo), `source is stalled: ${stalled.reason ?? ""}: "${stalled.message ?? ""}"`, `fix the ${repo.kind} (URL, credentials, ref${repo.kind === "OCIRepository" ? ", signature" : ""})`);
                }
                if (!revisionMatches(repoStatus.artifact?.revision, want)) {
                    const ready = findCondition(repoObj, "Ready");
                    waitingFor = {
                        id: idOf(repo),
                        why: `artifact at ${repoStatus.artifact?.revision ?? "<none>"}, want ${want}${ready?.message ? `; Ready=${ready.status}: "${ready.message}"` : ""}`,
                    };
                }
            }

            const applied: Record<string, string> = {};
            const current = new Set<string>();
            let readyCount = 0;
            ks.forEach((k, i) => {
                const o = kObjs[i];
                const id = idOf(k);
                if (!o) {
                    waitingFor ??= { id, why: "not found" };
                    return;
                }
                const st = (o.status ?? {}) as { lastAppliedRevision?: string; lastAttemptedRevision?: string };
                const h = kustomizationAt(o, want);
                if (h.status === "Failed") {
                    throw new GitopsError(id, `Kustomization failed at ${want}${h.reason ? ` (${h.reason})` : ""}: "${h.message}"`, "fix the manifests it applies and commit again");
                }
                if (h.status === "Current") {
                    readyCount++;
                    current.add(id);
                    applied[id] = st.lastAppliedRevision ?? "";
                } else waitingFor ??= { id, why: h.message };
            });

            if (!kustomizationsAsked && repoObj && revisionMatches(repoStatus.artifact?.revision, want)) {
                kustomizationsAsked = true;
                await ask(ks.filter((k) => !current.has(idOf(k))), "");
                if (waitingFor) continue; // read again at once: they may have moved meanwhile
            }
            if (w.trigger !== false && waitingFor) {
                const held = ks.filter((k, i) => {
                    const o = kObjs[i];
                    const ready = o ? findCondition(o, "Ready") : undefined;
                    if (!o || current.has(idOf(k)) || ready?.reason !== "DependencyNotReady") return false;
                    if (Date.now() - (nudged.get(idOf(k)) ?? 0) < 5000) return false;
                    const deps = ((o.spec as { dependsOn?: Array<{ name: string; namespace?: string }> } | undefined)?.dependsOn ?? []).map((d) =>
                        idOf({ apiVersion: API.kustomize, kind: "Kustomization", name: d.name, namespace: d.namespace ?? k.namespace }),
                    );
                    return deps.length > 0 && deps.every((d) => current.has(d));
                });
                for (const k of held) nudged.set(idOf(k), Date.now());
                await ask(held, " whose dependencies are at the revision");
            }
            if (!waitingFor) {
                progress(`revision ${want} applied by ${ks.length} Kustomizations`);
                return { revision: repoStatus.artifact?.revision ?? want, applied, elapsedMs: Date.now() - t0 };
            }
            const line = `waiting for ${waitingFor.id}: ${waitingFor.why} (${readyCount}/${ks.length} Kustomizations at revision)`;
            if (line !== last) progress(line);
            last = line;
            if (Date.now() >= deadline) {
                throw new GitopsError(waitingFor.id, `revision ${want} not applied after ${fmtSecs(timeoutMs)}: ${waitingFor.why}`, "check the Flux controllers' logs (flux logs) or raise the timeout");
            }
            await changes.next(Math.min(pollMs, Math.max(0, deadline - Date.now())));
        }
    } finally {
        changes.close();
    }
}

/**
 * Wakes a wait when any of some objects changes: one watch per kind and namespace (by name when
 * there is one object), opened before the objects are read, so no change after a read is missed.
 * A watch that ends (server timeout, broken connection) is reopened before the next read; a
 * change may be reported twice, which only costs a read.
 */
class ChangeFeed {
    private changed = false;
    private wake?: () => void;
    private readonly watches = new Map<string, Watch | "polling">();
    private readonly groups: Map<string, { apiVersion: string; kind: string; namespace: string; names: string[] }>;

    constructor(
        private readonly client: ClusterClient,
        objs: ReadonlyArray<{ apiVersion: string; kind: string; name: string; namespace: string }>,
        private readonly deadline: number,
    ) {
        this.groups = new Map();
        for (const o of objs) {
            const key = `${o.apiVersion} ${o.kind} ${o.namespace}`;
            const g = this.groups.get(key);
            if (g) g.names.push(o.name);
            else this.groups.set(key, { apiVersion: o.apiVersion, kind: o.kind, namespace: o.namespace, names: [o.name] });
        }
    }

    /** (Re)opens the watches that are not open. A kind whose watch the server refuses is polled. */
    async open(): Promise<void> {
        await Promise.all(
            [...this.groups].map(async ([key, g]) => {
                if (this.watches.has(key)) return;
                const w = await this.client.watch(g.apiVersion, g.kind, g.namespace, () => this.signal(), {
                    fieldSelector: g.names.length === 1 ? `metadata.name=${g.names[0]}` : undefined,
                    timeoutSeconds: (this.deadline - Date.now()) / 1000 + 5,
                });
                if (!w) {
                    this.watches.set(key, "polling");
                    return;
                }
                this.watches.set(key, w);
                const opened = Date.now();
                void w.ended.then(() => {
                    if (this.watches.get(key) !== w) return;
                    // Read again (changes may have been missed while it was down) and reopen it,
                    // unless the server ends it at once: then poll rather than spin.
                    if (Date.now() - opened < 1000) this.watches.set(key, "polling");
                    else this.watches.delete(key);
                    this.signal();
                });
            }),
        );
    }

    /** Forget changes seen so far (call right before reading the objects). */
    reset(): void {
        this.changed = false;
    }

    /** Resolves at the first change since reset(), or after ms. */
    next(ms: number): Promise<void> {
        if (this.changed) return Promise.resolve();
        return new Promise((resolve) => {
            const timer = setTimeout(done, ms);
            function done() {
                clearTimeout(timer);
                resolve();
            }
            this.wake = () => {
                this.wake = undefined;
                done();
            };
        });
    }

    close(): void {
        this.wake = undefined;
        for (const [key, w] of this.watches) {
            this.watches.delete(key);
            if (w !== "polling") w.stop();
        }
    }

    private signal(): void {
        this.changed = true;
        this.wake?.();
    }
}

/**
 * Health of a Kustomization with respect to one revision: Current when Ready=True, generation
 * observed and lastAppliedRevision at the revision; Failed when Stalled, or Ready=False after
 * attempting this very revision; InProgress otherwise (message says why).
 */
export function kustomizationAt(o: KubeObject, revision: string): Health {
    const st = (o.status ?? {}) as { lastAppliedRevision?: string; lastAttemptedRevision?: string; observedGeneration?: number };
    const ready = findCondition(o, "Ready");
    const stalled = findCondition(o, "Stalled");
    const reconciling = findCondition(o, "Reconciling");
    if (stalled?.status === "True") return { status: "Failed", reason: stalled.reason, message: stalled.message ?? "stalled" };
    const gen = (o.metadata as { generation?: number }).generation;
    const transient = !!ready?.reason && FLUX_TRANSIENT_REASONS.has(ready.reason);
    if (ready?.status === "False" && !transient && reconciling?.status !== "True" && revisionMatches(st.lastAttemptedRevision, revision)) {
        return { status: "Failed", reason: ready.reason, message: ready.message ?? "not ready" };
    }
    if (!revisionMatches(st.lastAppliedRevision, revision)) {
        return {
            status: "InProgress",
            message: `lastAppliedRevision ${st.lastAppliedRevision ?? "<none>"}${ready ? `; Ready=${ready.status}${ready.message ? `: "${ready.message}"` : ""}` : ""}`,
        };
    }
    if (gen !== undefined && st.observedGeneration !== undefined && st.observedGeneration !== gen) {
        return { status: "InProgress", message: `generation ${gen} not observed yet (observed ${st.observedGeneration})` };
    }
    if (ready?.status !== "True") {
        return { status: "InProgress", message: `Ready=${ready?.status ?? "<none>"}${ready?.message ? `: "${ready.message}"` : ""}` };
    }
    return { status: "Current", message: ready.message ?? "Ready" };
}

function fmtSecs(ms: number): string {
    return ms >= 1000 ? `${Math.round(ms / 100) / 10}s` : `${ms}ms`;
}
