/**
 * Delivery metrics (the four DORA keys) from the fleet repo's history and reconcile results.
 *
 * Deployments, per environment (stack):
 *   - FleetSync's reconcile commits, subject `Reconcile <stack>`;
 *   - promotions written by engine/promote (trailers `Promoted-From`/`Promoted-To`), deployed to `to`;
 *   - hotfixes (`Hotfix-From`/`Hotfix-To`), deployed to the stage they were made on;
 *   - results (`--results FILE`): {stack, commit, committedAt, appliedAt, result, recoverySeconds},
 *     which add what Git does not know: when Flux applied a commit, and whether it failed.
 * Rollbacks (`Rolled-Back`/`Rolled-Back-On`, revert commits) are remediations, not deployments.
 *
 *   deployment frequency   deployments in the period / days in the period
 *   lead time              applied - the time the change was first committed; for a promotion the
 *                          change is followed back through earlier promotions to the commit that
 *                          started it, so prod's lead time spans dev -> test -> prod. Only for
 *                          deployments with a known applied time (a result with appliedAt).
 *   change failure rate    failed deployments / deployments; a deployment failed when its result
 *                          is not a success (a failed reconcile, a failed canary) or a rollback
 *                          reverted it
 *   time to restore        failure -> restored: the rollback that reverted it (its appliedAt if a
 *                          result has it, else its commit time), else the next successful
 *                          deployment of that stack
 *   recovery               the DR drill's recoverySeconds from results
 *
 * All times come from Git committer dates (UTC) and the results file: no wall clock is read, so
 * the same history always gives the same numbers.
 */
import { GitopsError } from "../errors";
import type { GitAuth } from "../git/exec";
import { Remote } from "../git/remote";
import { recordOf, TrailRecord } from "../promote/trail";

export type DeploymentKind = "reconcile" | "promotion" | "hotfix" | "result";

/** One entry of the optional results file. */
export interface DeliveryResult {
    stack: string;
    commit: string;
    /** ISO time the commit was made (used when the commit is not in the repo). */
    committedAt?: string;
    /** ISO time Flux reported the commit applied (or failed). */
    appliedAt?: string;
    /** applied | succeeded | success | ready are successes; anything else (failed, canary-failed, rolled-back, ...) a failure. */
    result: string;
    /** A DR drill: seconds from an empty cluster to the revision applied again. */
    recoverySeconds?: number;
}

/** A commit as read from the log. */
export interface LoggedCommit {
    sha: string;
    parents: string[];
    authorTime: number; // unix seconds
    commitTime: number; // unix seconds
    message: string;
}

export interface Deployment {
    stack: string;
    commit: string;
    kind: DeploymentKind;
    subject: string;
    /** When the deployment commit was made. */
    committedAt: string;
    /** When the change it carries was first committed (follows promotions back). */
    changeAt: string;
    appliedAt?: string;
    leadTimeSeconds?: number;
    result?: string;
    failed: boolean;
    failure?: string;
    restoredAt?: string;
    restoreSeconds?: number;
    restoredBy?: string;
}

export interface Stat {
    count: number;
    medianSeconds?: number;
    meanSeconds?: number;
    p90Seconds?: number;
    minSeconds?: number;
    maxSeconds?: number;
}

export interface StackMetrics {
    stack: string;
    deployments: number;
    deploymentsPerDay: number;
    deploymentsPerWeek: number;
    leadTime: Stat;
    failures: number;
    /** failures / deployments, 0..1 (0 when there were no deployments) */
    changeFailureRate: number;
    rollbacks: number;
    timeToRestore: Stat;
    /** failures not restored within the period */
    unrestored: number;
    recovery: Stat;
}

export interface DeliveryMetrics {
    /** The period; with no deployment and no --since/--until, both are the time of the report. */
    since: string;
    until: string;
    days: number;
    /** Why a figure is missing ("–"), and how to get it; empty when every figure is there. */
    notes: string[];
    stacks: StackMetrics[];
    all: StackMetrics;
    deployments: Deployment[];
    rollbacks: Array<{ commit: string; stack: string; reverts: string; at: string }>;
}

export interface MetricsInput {
    commits: LoggedCommit[];
    results?: DeliveryResult[];
    /** Period start/end (ISO); default the first and last deployment. */
    since?: string;
    until?: string;
    /** Only these stacks (default every stack seen). */
    stacks?: string[];
}

const SUCCESS = new Set(["applied", "succeeded", "success", "ready", "unchanged"]);
const RECONCILE = /^Reconcile (\S+)/;

const iso = (unixSeconds: number) => new Date(unixSeconds * 1000).toISOString();
const secs = (isoTime: string) => Date.parse(isoTime) / 1000;

function parseTime(v: string | undefined, where: string): string | undefined {
    if (v === undefined || v === null || v === "") return undefined;
    const t = Date.parse(v);
    if (Number.isNaN(t)) throw new GitopsError(where, `not a time: ${JSON.stringify(v)}`, "use an ISO 8601 time such as 2026-01-31T12:00:00Z");
    return new Date(t).toISOString();
}

/** Checks and normalizes a results file's content; `where` names the file. */
export function parseResults(text: string, where: string): DeliveryResult[] {
    let data: unknown;
    try {
        data = JSON.parse(text);
    } catch (e) {
        throw new GitopsError(where, `not JSON: ${(e as Error).message}`, "give a JSON array of {stack, commit, committedAt, appliedAt, result, recoverySeconds}");
    }
    if (!Array.isArray(data)) throw new GitopsError(where, "must be a JSON array of results", "wrap the objects in [ ]");
    return data.map((r: any, i: number) => {
        const w = `${where}[${i}]`;
        if (!r || typeof r !== "object") throw new GitopsError(w, "must be an object");
        for (const k of ["stack", "commit", "result"]) {
            if (typeof r[k] !== "string" || !r[k]) throw new GitopsError(`${w}.${k}`, `is required (a non-empty string)`);
        }
        if (r.recoverySeconds !== undefined && (typeof r.recoverySeconds !== "number" || !(r.recoverySeconds >= 0))) {
            throw new GitopsError(`${w}.recoverySeconds`, `must be a number of seconds >= 0; got ${JSON.stringify(r.recoverySeconds)}`);
        }
        return {
            stack: r.stack,
            commit: r.commit,
            committedAt: parseTime(r.committedAt, `${w}.committedAt`),
            appliedAt: parseTime(r.appliedAt, `${w}.appliedAt`),
            result: r.result,
            recoverySeconds: r.recoverySeconds,
        };
    });
}

/** Parses `git log --format=%H%x00%P%x00%at%x00%ct%x00%B%x1e`. */
export function parseCommitLog(text: string): LoggedCommit[] {
    const out: LoggedCommit[] = [];
    for (const rec of text.split("\x1e")) {
        const r = rec.replace(/^\n+/, "");
        if (!r) continue;
        const [sha, parents, at, ct, ...msg] = r.split("\0");
        if (!sha || ct === undefined) continue;
        out.push({ sha, parents: parents ? parents.split(" ").filter(Boolean) : [], authorTime: Number(at), commitTime: Number(ct), message: msg.join("\0") });
    }
    return out;
}

export const LOG_FORMAT = "--format=%H%x00%P%x00%at%x00%ct%x00%B%x1e";

/** Every commit on every branch of `repo` (or `branches`), each once. */
export async function readHistory(repo: string, opts: { auth?: GitAuth; branches?: string[] } = {}): Promise<LoggedCommit[]> {
    return Remote.open(repo, opts.auth, async (r) => {
        const all = await r.lsRemote(["refs/heads/*"]);
        const heads = [...all.refs.keys()].filter((k) => k.startsWith("refs/heads/")).map((k) => k.slice("refs/heads/".length));
        const wanted = opts.branches ?? heads;
        for (const b of wanted) {
            if (!heads.includes(b)) throw new GitopsError(`${r.repo.display}#${b}`, `branch '${b}' does not exist`, `branches: ${heads.join(", ") || "none"}`);
        }
        if (wanted.length === 0) return [];
        await r.fetchBranches(wanted, "full");
        const log = await r.git(["log", "--date-order", LOG_FORMAT, ...wanted.map((b) => `refs/remotes/origin/${b}`)]);
        return parseCommitLog(log.stdout);
    });
}

function stat(values: number[]): Stat {
    if (values.length === 0) return { count: 0 };
    const v = [...values].sort((a, b) => a - b);
    const q = (p: number) => {
        // linear interpolation between closest ranks
        const pos = (v.length - 1) * p;
        const lo = Math.floor(pos);
        const hi = Math.ceil(pos);
        return v[lo] + (v[hi] - v[lo]) * (pos - lo);
    };
    const round = (x: number) => Math.round(x * 1000) / 1000;
    return {
        count: v.length,
        medianSeconds: round(q(0.5)),
        meanSeconds: round(v.reduce((a, b) => a + b, 0) / v.length),
        p90Seconds: round(q(0.9)),
        minSeconds: v[0],
        maxSeconds: v[v.length - 1],
    };
}

/** Computes the metrics from logged commits and results. Pure: same input, same output. */
export function computeMetrics(input: MetricsInput): DeliveryMetrics {
    const bySha = new Map(input.commits.map((c) => [c.sha, c]));
    const trail = new Map<string, TrailRecord>();
    for (const c of input.commits) {
        const t = recordOf(c.sha, c.message);
        if (t) trail.set(c.sha, t);
    }
    const resolve = (sha: string): string | undefined => {
        if (bySha.has(sha)) return sha;
        if (sha.length >= 7) for (const k of bySha.keys()) if (k.startsWith(sha)) return k;
        return undefined;
    };
    /** When the change a commit carries was first committed: follows promotions back to their origin. */
    const originTime = (sha: string, depth = 0): number => {
        const c = bySha.get(sha)!;
        const t = trail.get(sha);
        if (t?.kind === "promotion" && t.from?.revision && depth < 50) {
            const src = resolve(t.from.revision);
            if (src) return originTime(src, depth + 1);
        }
        return c.authorTime;
    };

    const deployments: Deployment[] = [];
    const key = (stack: string, commit: string) => `${stack}\0${commit}`;
    const index = new Map<string, Deployment>();
    const add = (d: Deployment) => {
        if (index.has(key(d.stack, d.commit))) return;
        index.set(key(d.stack, d.commit), d);
        deployments.push(d);
    };
    const rollbacks: DeliveryMetrics["rollbacks"] = [];
    for (const c of input.commits) {
        const subject = c.message.split("\n")[0];
        const t = trail.get(c.sha);
        const base = { commit: c.sha, subject, committedAt: iso(c.commitTime), failed: false };
        if (t?.kind === "promotion" && t.to) add({ ...base, stack: t.to, kind: "promotion", changeAt: iso(originTime(c.sha)) });
        else if (t?.kind === "hotfix" && t.from?.stage) {
            // The cherry-pick back to the trunk records a fix already deployed on its stage.
            const fix = t.from.revision ? resolve(t.from.revision) : undefined;
            const fc = fix ? bySha.get(fix)! : c;
            if (!index.has(key(t.from.stage, fc.sha))) add({ commit: fc.sha, subject: fc.message.split("\n")[0], committedAt: iso(fc.commitTime), failed: false, stack: t.from.stage, kind: "hotfix", changeAt: iso(fc.authorTime) });
        } else if (t?.kind === "rollback" && t.to && t.reverts) rollbacks.push({ commit: c.sha, stack: t.to, reverts: resolve(t.reverts) ?? t.reverts, at: iso(c.commitTime) });
        else {
            const m = RECONCILE.exec(subject);
            if (m) add({ ...base, stack: m[1], kind: "reconcile", changeAt: iso(c.authorTime) });
        }
    }
    // Results: applied times and outcomes; a result for a commit Git does not know is a deployment of its own.
    const rollbackApplied = new Map<string, string>();
    const recoveries = new Map<string, number[]>();
    for (const r of input.results ?? []) {
        if (r.recoverySeconds !== undefined) {
            const list = recoveries.get(r.stack) ?? [];
            list.push(r.recoverySeconds);
            recoveries.set(r.stack, list);
        }
        const sha = resolve(r.commit) ?? r.commit;
        const rb = rollbacks.find((x) => x.commit === sha && x.stack === r.stack);
        if (rb) {
            if (r.appliedAt) rollbackApplied.set(rb.commit, r.appliedAt);
            continue;
        }
        let d = index.get(key(r.stack, sha));
        if (!d) {
            const c = bySha.get(sha);
            const committedAt = c ? iso(c.commitTime) : r.committedAt ?? r.appliedAt;
            if (!committedAt) throw new GitopsError(`results: ${r.stack}@${r.commit}`, "the commit is not in the repository and the result has no committedAt", "add committedAt, or point --repo at the fleet repo holding the commit");
            d = { stack: r.stack, commit: sha, kind: "result", subject: c ? c.message.split("\n")[0] : "", committedAt, changeAt: c ? iso(originTime(sha)) : r.committedAt ?? committedAt, failed: false };
            add(d);
        }
        if (r.appliedAt) d.appliedAt = r.appliedAt;
        d.result = r.result;
        if (!SUCCESS.has(r.result.toLowerCase())) {
            d.failed = true;
            d.failure = r.result;
        }
    }
    for (const d of deployments) {
        if (d.appliedAt) d.leadTimeSeconds = Math.max(0, secs(d.appliedAt) - secs(d.changeAt));
    }
    // Rollbacks mark what they revert as failed and restore it.
    for (const rb of rollbacks) {
        const d = index.get(key(rb.stack, rb.reverts));
        if (!d) continue;
        d.failed = true;
        if (!d.failure || d.failure === "rolled-back") d.failure = "rolled-back";
        const at = rollbackApplied.get(rb.commit) ?? rb.at;
        const failedAt = d.appliedAt ?? d.committedAt;
        if (!d.restoredAt || secs(at) < secs(d.restoredAt)) {
            d.restoredAt = at;
            d.restoreSeconds = Math.max(0, secs(at) - secs(failedAt));
            d.restoredBy = rb.commit;
        }
    }
    const ordered = [...deployments].sort((a, b) => secs(a.appliedAt ?? a.committedAt) - secs(b.appliedAt ?? b.committedAt) || secs(a.committedAt) - secs(b.committedAt));
    // A failure nobody rolled back is restored by the next successful deployment of its stack.
    for (const d of ordered) {
        if (!d.failed || d.restoredAt) continue;
        const failedAt = secs(d.appliedAt ?? d.committedAt);
        const next = ordered.find((x) => x.stack === d.stack && !x.failed && secs(x.appliedAt ?? x.committedAt) > failedAt);
        if (next) {
            d.restoredAt = next.appliedAt ?? next.committedAt;
            d.restoreSeconds = secs(d.restoredAt) - failedAt;
            d.restoredBy = next.commit;
        }
    }

    const wanted = input.stacks ? new Set(input.stacks) : undefined;
    const inScope = (stack: string) => !wanted || wanted.has(stack);
    const times = ordered.filter((d) => inScope(d.stack)).map((d) => secs(d.appliedAt ?? d.committedAt));
    // No deployment and no --since: the period is "now", never the epoch.
    const since = input.since ? parseTime(input.since, "--since")! : times.length ? iso(Math.min(...times)) : iso(input.until ? secs(parseTime(input.until, "--until")!) : Date.now() / 1000);
    const until = input.until ? parseTime(input.until, "--until")! : times.length ? iso(Math.max(...times)) : since;
    if (secs(until) < secs(since)) throw new GitopsError("--until", `${until} is before --since ${since}`);
    // A period shorter than a day counts as one day, so one deployment is "1 per day", not infinity.
    const days = Math.max(1, (secs(until) - secs(since)) / 86400);
    const inPeriod = (d: Deployment) => {
        const t = secs(d.appliedAt ?? d.committedAt);
        return t >= secs(since) && t <= secs(until) && inScope(d.stack);
    };
    const selected = ordered.filter(inPeriod);
    const selectedRollbacks = rollbacks.filter((r) => inScope(r.stack) && secs(r.at) >= secs(since) && secs(r.at) <= secs(until));

    const round = (x: number) => Math.round(x * 1000) / 1000;
    const metricsOf = (stack: string, ds: Deployment[], rbs: typeof rollbacks, rec: number[]): StackMetrics => {
        const failures = ds.filter((d) => d.failed);
        return {
            stack,
            deployments: ds.length,
            deploymentsPerDay: round(ds.length / days),
            deploymentsPerWeek: round((ds.length * 7) / days),
            leadTime: stat(ds.filter((d) => d.leadTimeSeconds !== undefined).map((d) => d.leadTimeSeconds!)),
            failures: failures.length,
            changeFailureRate: ds.length ? round(failures.length / ds.length) : 0,
            rollbacks: rbs.length,
            timeToRestore: stat(failures.filter((d) => d.restoreSeconds !== undefined).map((d) => d.restoreSeconds!)),
            unrestored: failures.filter((d) => d.restoreSeconds === undefined).length,
            recovery: stat(rec),
        };
    };
    const stackNames = [...new Set([...selected.map((d) => d.stack), ...selectedRollbacks.map((r) => r.stack), ...[...recoveries.keys()].filter(inScope)])];
    const order = ["dev", "test", "prod"];
    stackNames.sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99) || a.localeCompare(b));
    const stacks = stackNames.map((s) => metricsOf(s, selected.filter((d) => d.stack === s), selectedRollbacks.filter((r) => r.stack === s), recoveries.get(s) ?? []));
    const all = metricsOf("all", selected, selectedRollbacks, stackNames.flatMap((s) => recoveries.get(s) ?? []));
    return { since, until, days: round(days), stacks, all, notes: missingFigures(all, selected, !!input.results), deployments: selected, rollbacks: selectedRollbacks };
}

/** Reads the fleet repo's history (and results) and computes the metrics. Used by `gitops report` and index.ts. */
export async function deliveryMetrics(opts: { repo: string; auth?: GitAuth; branches?: string[]; results?: DeliveryResult[]; since?: string; until?: string; stacks?: string[] }): Promise<DeliveryMetrics> {
    const commits = await readHistory(opts.repo, { auth: opts.auth, branches: opts.branches });
    return computeMetrics({ commits, results: opts.results, since: opts.since, until: opts.until, stacks: opts.stacks });
}

/** A compact, output-friendly summary for stack outputs: per stack, the four keys. */
export function metricsSummary(m: DeliveryMetrics): Record<string, { deploymentsPerDay: number; leadTimeMedianSeconds?: number; changeFailureRate: number; timeToRestoreMedianSeconds?: number; deployments: number }> {
    const out: Record<string, any> = {};
    for (const s of [...m.stacks, m.all]) {
        out[s.stack] = {
            deployments: s.deployments,
            deploymentsPerDay: s.deploymentsPerDay,
            leadTimeMedianSeconds: s.leadTime.medianSeconds,
            changeFailureRate: s.changeFailureRate,
            timeToRestoreMedianSeconds: s.timeToRestore.medianSeconds,
        };
        for (const k of Object.keys(out[s.stack])) if (out[s.stack][k] === undefined) delete out[s.stack][k];
    }
    return out;
}

/**
 * For index.ts (stack outputs): one stack's delivery metrics over the whole history of the fleet
 * repo, e.g.
 *   export const deliveryMetrics = platform.fleetSync.commit.apply(() =>
 *       stackDeliveryOutputs(config.fleet.url, config.stack));
 */
export async function stackDeliveryOutputs(repo: string, stack: string, auth?: GitAuth): Promise<ReturnType<typeof metricsSummary>[string]> {
    const m = await deliveryMetrics({ repo, auth, stacks: [stack] });
    return metricsSummary(m)[stack] ?? { deployments: 0, deploymentsPerDay: 0, changeFailureRate: 0 };
}

/** One line per figure the report cannot give, saying why and what would give it. */
export function missingFigures(all: StackMetrics, deployments: readonly Deployment[], haveResults: boolean): string[] {
    const notes: string[] = [];
    if (all.deployments === 0) {
        notes.push(
            "no deployments in this history: the report counts FleetSync's 'Reconcile <stack>' commits and the Promoted-/Rolled-Back-/Hotfix- trailers of gitops promote; run pulumi up (or gitops promote) against this fleet repo, or check --branch, --stack, --since and --until",
        );
        return notes;
    }
    if (all.leadTime.medianSeconds === undefined) {
        notes.push(
            haveResults
                ? "lead time: no deployment in the period has a reconcile result with appliedAt; give results for these commits in --results"
                : "lead time: needs when each change was applied; pass --results FILE (a JSON array of {stack, commit, committedAt, appliedAt, result}, e.g. from FleetSync's reconcile outputs)",
        );
    } else if (deployments.some((d) => d.leadTimeSeconds === undefined)) {
        notes.push(`lead time: ${deployments.filter((d) => d.leadTimeSeconds === undefined).length} of ${deployments.length} deployments have no appliedAt in --results and are left out`);
    }
    if (all.timeToRestore.medianSeconds === undefined) {
        notes.push(all.failures === 0 ? "time to restore: no failed deployment in the period, so nothing to restore" : `time to restore: ${all.unrestored} failure(s) not restored yet in the period`);
    }
    if (all.recovery.medianSeconds === undefined) {
        notes.push(haveResults ? "DR recovery: no result carries recoverySeconds (only disaster-recovery runs record it)" : "DR recovery: needs --results with recoverySeconds from a disaster-recovery run");
    }
    return notes;
}
