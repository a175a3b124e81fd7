/**
 * Progressive delivery rules for one app's canary, as pure functions: validation of impossible
 * settings (before anything is generated), the Flagger Canary and MetricTemplate objects, and
 * the times a rollout takes (minimum time to full promotion, time to roll back).
 */
import type { AppConfig, CanaryConfig, MetricTemplateConfig } from "../config/schema";
import { API, Canary, CanaryMetric, CanaryWebhook, MetricTemplate } from "../flux/api";

/** Where Flagger, istiod and the load tester run. */
export const FLAGGER_NAMESPACE = "istio-system";
/** The ingress gateway's namespace; the public Gateway lives there. */
export const GATEWAY_NAMESPACE = "istio-ingress";
/** The public Gateway's name (canaries route through `istio-ingress/public-gateway`). */
export const GATEWAY_NAME = "public-gateway";
/** Where Prometheus and Grafana run. */
export const MONITORING_NAMESPACE = "monitoring";
/** The prometheus-community chart's server Service for release "prometheus". */
export const PROMETHEUS_URL = `http://prometheus-server.${MONITORING_NAMESPACE}:80`;
/** The load tester Service (release "flagger-loadtester" in the Flagger namespace). */
export const LOADTESTER_URL = `http://flagger-loadtester.${FLAGGER_NAMESPACE}/`;
/** Metrics Flagger knows without a MetricTemplate (Istio provider). */
export const BUILTIN_METRICS = ["request-success-rate", "request-duration"] as const;

/**
 * Every impossible setting of a canary, each naming its key (`<key>.stepWeight ...`).
 * @param c        the parsed canary
 * @param key      its config key, e.g. "gitops:apps[0].canary"
 * @param templates names of the MetricTemplates the stack declares
 */
export function canaryProblems(c: CanaryConfig, key: string, templates: string[]): string[] {
    const out: string[] = [];
    if (c.threshold < 1) out.push(`${key}.threshold must be at least 1 (the failed checks that trigger a rollback); got ${c.threshold}`);
    if (c.maxWeight < 1 || c.maxWeight > 100) out.push(`${key}.maxWeight must be between 1 and 100 (percent of traffic); got ${c.maxWeight}`);
    if (c.stepWeight !== undefined && c.stepWeights !== undefined) {
        out.push(`${key}.stepWeight and ${key}.stepWeights are both set; keep one: stepWeight for equal steps, stepWeights for explicit ones`);
    } else if (c.stepWeight !== undefined) {
        if (c.stepWeight < 1 || c.stepWeight > 100) out.push(`${key}.stepWeight must be between 1 and 100; got ${c.stepWeight}`);
        else if (c.stepWeight > c.maxWeight) out.push(`${key}.stepWeight ${c.stepWeight} is larger than maxWeight ${c.maxWeight}; lower stepWeight or raise maxWeight`);
    } else if (c.stepWeights !== undefined) {
        const w = c.stepWeights;
        if (w.length === 0) out.push(`${key}.stepWeights is empty; list increasing weights ending at maxWeight ${c.maxWeight}, or use stepWeight`);
        w.forEach((x, i) => {
            if (x < 1 || x > 100) out.push(`${key}.stepWeights[${i}] must be between 1 and 100; got ${x}`);
            else if (i > 0 && x <= w[i - 1]) out.push(`${key}.stepWeights[${i}] ${x} does not increase on the step before (${w[i - 1]}); weights must increase at every step`);
        });
        if (w.length > 0 && w[w.length - 1] < c.maxWeight) {
            out.push(`${key}.stepWeights ends at ${w[w.length - 1]}, below maxWeight ${c.maxWeight}, so traffic never reaches maxWeight; add a last step of ${c.maxWeight} or lower maxWeight`);
        }
    }
    c.metrics.forEach((m, i) => {
        const mk = `${key}.metrics[${i}]`;
        if (m.templateRef !== undefined) {
            if (!templates.includes(m.templateRef)) out.push(`${mk}.templateRef ${JSON.stringify(m.templateRef)} is not a MetricTemplate in gitops:delivery.metricTemplates; declare it there or fix the name`);
        } else if (!(BUILTIN_METRICS as readonly string[]).includes(m.name)) {
            out.push(`${mk}.name ${JSON.stringify(m.name)} is not a built-in metric (${BUILTIN_METRICS.join(", ")}); set templateRef to a MetricTemplate declared in gitops:delivery.metricTemplates`);
        }
        if (m.thresholdRange.min === undefined && m.thresholdRange.max === undefined) out.push(`${mk}.thresholdRange must set min, max or both`);
        else if (m.thresholdRange.min !== undefined && m.thresholdRange.max !== undefined && m.thresholdRange.min > m.thresholdRange.max) {
            out.push(`${mk}.thresholdRange min ${m.thresholdRange.min} is above max ${m.thresholdRange.max}; no value could pass`);
        }
    });
    return out;
}

/** Parses a Go duration ("1m", "1m30s", "2h") into seconds. */
export function durationSeconds(d: string): number {
    const unit: Record<string, number> = { ns: 1e-9, us: 1e-6, "µs": 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
    let total = 0;
    for (const m of d.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) total += parseFloat(m[1]) * unit[m[2]];
    return total;
}

export interface CanaryTimes {
    /** Analysis steps until the canary carries maxWeight (or the last of stepWeights). */
    steps: number;
    /** Minimum time to full promotion: interval x steps, every check passing. */
    promotionSeconds: number;
    /** Time to roll back once checks start failing: interval x threshold. */
    rollbackSeconds: number;
}

/** The times a valid canary takes (see canaryProblems for what "valid" means). */
export function canaryTimes(c: CanaryConfig): CanaryTimes {
    const interval = durationSeconds(c.interval);
    const steps = c.stepWeights ? c.stepWeights.length : Math.ceil(c.maxWeight / (c.stepWeight ?? 10));
    return { steps, promotionSeconds: interval * steps, rollbackSeconds: interval * c.threshold };
}

/** The Flagger Canary of an app (its canary must be set). */
export function canaryObject(app: AppConfig, opts: { gateway: boolean; hosts: string[]; templates: MetricTemplateConfig[] }): Canary {
    const c = app.canary!;
    const metrics: CanaryMetric[] = c.metrics.map((m) => {
        const t = m.templateRef ? opts.templates.find((x) => x.name === m.templateRef) : undefined;
        const out: CanaryMetric = { name: m.name };
        if (t) out.templateRef = { name: t.name, namespace: t.namespace };
        out.thresholdRange = Object.fromEntries(Object.entries(m.thresholdRange).filter(([, v]) => v !== undefined));
        out.interval = m.interval;
        return out;
    });
    const webhooks: CanaryWebhook[] = [];
    if (c.loadTest) {
        webhooks.push({
            name: "load-test",
            type: "rollout",
            url: LOADTESTER_URL,
            timeout: "5s",
            metadata: { type: "cmd", cmd: `hey -z 1m -q 10 -c 2 http://${app.name}-canary.${app.namespace}:${c.port}/` },
        });
    }
    if (c.confirmPromotion) webhooks.push({ name: "confirm-promotion", type: "confirm-promotion", url: c.confirmPromotion });
    if (c.rollbackWebhook) webhooks.push({ name: "rollback", type: "rollback", url: c.rollbackWebhook });
    const analysis: Canary["spec"]["analysis"] = { interval: c.interval, threshold: c.threshold };
    if (c.stepWeights) analysis.stepWeights = [...c.stepWeights];
    else {
        analysis.maxWeight = c.maxWeight;
        analysis.stepWeight = c.stepWeight;
    }
    analysis.metrics = metrics;
    if (webhooks.length) analysis.webhooks = webhooks;
    const service: Canary["spec"]["service"] = { port: c.port, targetPort: app.port };
    if (opts.gateway) {
        service.gateways = [`${GATEWAY_NAMESPACE}/${GATEWAY_NAME}`];
        service.hosts = [...opts.hosts];
    }
    return {
        apiVersion: API.flagger,
        kind: "Canary",
        metadata: { name: app.name, namespace: app.namespace },
        spec: {
            targetRef: { apiVersion: "apps/v1", kind: c.targetRef.kind, name: c.targetRef.name },
            progressDeadlineSeconds: 600,
            service,
            analysis,
        },
    };
}

export function metricTemplateObject(t: MetricTemplateConfig): MetricTemplate {
    return {
        apiVersion: API.flagger,
        kind: "MetricTemplate",
        metadata: { name: t.name, namespace: t.namespace },
        spec: { provider: { type: "prometheus", address: t.address }, query: t.query },
    };
}
