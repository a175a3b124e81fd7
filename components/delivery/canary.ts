/** Flagger objects as typed components: Canary (with its promotion/rollback times) and MetricTemplate. */
import * as pulumi from "@pulumi/pulumi";
import type { AppConfig, CanaryConfig, MetricTemplateConfig } from "../../engine/config";
import { canaryObject, canaryProblems, canaryTimes, metricTemplateObject } from "../../engine/delivery";
import { Canary, MetricTemplate } from "../../engine/flux/api";
import { ManifestComponent } from "../flux/manifest";

export interface FlaggerCanaryArgs {
    /** The app the canary rolls out (name, namespace, port). Its `canary` holds the analysis. */
    readonly app: AppConfig;
    /** The canary settings; default `app.canary`. */
    readonly canary?: CanaryConfig;
    /** Route through the public Istio Gateway (istio-ingress/public-gateway). Default true. */
    readonly gateway?: boolean;
    /** Hosts of the Gateway route. Default ["*"]. */
    readonly hosts?: string[];
    /** MetricTemplates the stack declares; metrics with templateRef must name one. Default []. */
    readonly templates?: MetricTemplateConfig[];
    /** The config key, for messages. Default "gitops:apps[<app name>].canary". */
    readonly key?: string;
}

/**
 * A Flagger Canary for one app. Impossible settings (stepWeight > maxWeight, threshold < 1,
 * unknown metrics, weights that never reach maxWeight) fail before anything is generated.
 */
export class FlaggerCanary extends ManifestComponent<Canary> {
    /** Analysis steps to reach maxWeight. */
    readonly steps: number;
    /** Minimum time to full promotion, in seconds: interval x steps. */
    readonly promotionSeconds: number;
    /** Time to roll back once checks fail, in seconds: interval x threshold. */
    readonly rollbackSeconds: number;

    constructor(name: string, args: FlaggerCanaryArgs, opts?: pulumi.ComponentResourceOptions) {
        const c = args.canary ?? args.app.canary;
        const key = args.key ?? `gitops:apps[${args.app.name}].canary`;
        if (!c) throw new pulumi.ResourceError(`${key} is not set; give the app a canary`, opts?.parent);
        const problems = canaryProblems(c, key, (args.templates ?? []).map((t) => t.name));
        if (problems.length) throw new pulumi.ResourceError(problems.join("\n"), opts?.parent);
        const app = { ...args.app, canary: c };
        super("gitops:delivery:Canary", name, canaryObject(app, { gateway: args.gateway ?? true, hosts: args.hosts ?? ["*"], templates: args.templates ?? [] }), opts, true);
        const t = canaryTimes(c);
        this.steps = t.steps;
        this.promotionSeconds = t.promotionSeconds;
        this.rollbackSeconds = t.rollbackSeconds;
        this.register({ steps: t.steps, promotionSeconds: t.promotionSeconds, rollbackSeconds: t.rollbackSeconds });
    }
}

export class FlaggerMetricTemplate extends ManifestComponent<MetricTemplate> {
    constructor(name: string, args: MetricTemplateConfig, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:delivery:MetricTemplate", name, metricTemplateObject(args), opts);
    }
}
