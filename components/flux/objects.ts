/**
 * The fleet plan's objects as typed views in the Pulumi graph.
 *
 * The fleet is built once, by renderFleet (engine/fleet/layout.ts): every object it writes is in
 * `plan.objects` with the path of the file that holds it. Each Flux (and Flagger, Istio) object a
 * stack declares gets one FleetObject here, whose `manifest` is that object as committed and whose
 * `path` is its file. Nothing here builds a manifest or applies anything: FleetSync commits the
 * plan's files and Flux applies them. The views give `pulumi preview` one node per declared object
 * and carry the outputs derived from it (a canary's rollout times, the receiver's webhook URL).
 *
 * Resource types and names are the ones the typed components used before the views (e.g.
 * `gitops:flux:HelmRelease::<stack>-<release>`), so existing stacks see no replace.
 */
import * as pulumi from "@pulumi/pulumi";
import type { StackConfig } from "../../engine/config";
import { objectId } from "../../engine/cluster/ids";
import { canaryTimes, CanaryTimes, receiverWebhookPath } from "../../engine/delivery";
import type { KubeObject } from "../../engine/flux/api";
import type { FleetPlan, PlannedObject } from "../../engine/fleet/layout";

/** One declared object of the fleet plan. Its manifest is the object as written to `path`. */
export class FleetObject<T extends KubeObject = KubeObject> extends pulumi.ComponentResource {
    /** The repo-relative file that holds the object. */
    readonly path: string;
    /** The object as committed to the fleet repo. */
    readonly manifest: T;
    /** The object's inventory id, `<namespace>_<name>_<group>_<kind>`. */
    readonly objectId: string;

    constructor(type: string, name: string, planned: PlannedObject, opts?: pulumi.ComponentResourceOptions, outputs: Record<string, unknown> = {}) {
        super(type, name, {}, opts);
        this.path = planned.path;
        this.manifest = planned.object as T;
        this.objectId = objectId(planned.object);
        this.registerOutputs({ path: this.path, manifest: this.manifest, objectId: this.objectId, ...outputs });
    }
}

/** The view of each declared kind: its resource type and its resource name (from the platform's and the object's names). */
export const VIEW_KINDS: Readonly<Record<string, { type: string; name: (platform: string, object: string) => string }>> = {
    "source.toolkit.fluxcd.io/GitRepository": { type: "gitops:flux:GitSource", name: (_p, o) => o },
    "source.toolkit.fluxcd.io/OCIRepository": { type: "gitops:flux:OciSource", name: (_p, o) => o },
    "source.toolkit.fluxcd.io/HelmRepository": { type: "gitops:flux:HelmSource", name: (_p, o) => o },
    "helm.toolkit.fluxcd.io/HelmRelease": { type: "gitops:flux:HelmRelease", name: (p, o) => `${p}-${o}` },
    "kustomize.toolkit.fluxcd.io/Kustomization": { type: "gitops:flux:Kustomization", name: (p, o) => `${p}-${o}` },
    "image.toolkit.fluxcd.io/ImageRepository": { type: "gitops:images:ImageRepository", name: (p, o) => `${p}-${o}-image` },
    "image.toolkit.fluxcd.io/ImagePolicy": { type: "gitops:images:ImagePolicy", name: (p, o) => `${p}-${o}-policy` },
    "image.toolkit.fluxcd.io/ImageUpdateAutomation": { type: "gitops:images:ImageUpdateAutomation", name: (p) => `${p}-image-automation` },
    "notification.toolkit.fluxcd.io/Provider": { type: "gitops:notify:Provider", name: (_p, o) => o },
    "notification.toolkit.fluxcd.io/Alert": { type: "gitops:notify:Alert", name: (_p, o) => o },
    "notification.toolkit.fluxcd.io/Receiver": { type: "gitops:notify:Receiver", name: (_p, o) => o },
    "flagger.app/Canary": { type: "gitops:delivery:Canary", name: (p, o) => `${p}-${o}-canary` },
    "flagger.app/MetricTemplate": { type: "gitops:delivery:MetricTemplate", name: (p, o) => `${p}-${o}` },
    "networking.istio.io/Gateway": { type: "gitops:delivery:Gateway", name: (p) => `${p}-istio-public-gateway` },
};

/**
 * The delivery stack's groups (engine/delivery/mesh.ts), each a parent of the HelmRepositories and
 * HelmReleases of its Helm sources; the public Gateway belongs to the mesh.
 */
const DELIVERY_GROUPS = [
    { type: "gitops:delivery:IstioMesh", suffix: "istio", sources: ["istio"], kinds: ["Gateway"] },
    { type: "gitops:delivery:Monitoring", suffix: "monitoring", sources: ["prometheus-community", "grafana"], kinds: [] as string[] },
    { type: "gitops:delivery:Flagger", suffix: "flagger", sources: ["flagger"], kinds: [] as string[] },
] as const;

/** A delivery stack group: the parent of its views; its outputs list their object ids. */
class DeliveryGroup extends pulumi.ComponentResource {
    readonly members: string[] = [];
    constructor(type: string, name: string, opts: pulumi.ComponentResourceOptions) {
        super(type, name, {}, opts);
    }
    finish(): void {
        this.registerOutputs({ objects: this.members });
    }
}

/** The view kind of a planned object, or undefined when the object has no view (bootstrap, patches, plain manifests). */
export function viewKind(p: PlannedObject): (typeof VIEW_KINDS)[string] | undefined {
    if (p.role !== "object") return undefined;
    const group = p.object.apiVersion.split("/")[0];
    return VIEW_KINDS[`${group}/${p.object.kind}`];
}

/** The Helm source a delivery object hangs off: a HelmRepository's own name, a HelmRelease's chart source. */
function helmSourceOf(o: KubeObject): string | undefined {
    if (o.kind === "HelmRepository") return o.metadata.name;
    if (o.kind === "HelmRelease") return (o as { spec?: { chart?: { spec?: { sourceRef?: { name?: string } } } } }).spec?.chart?.spec?.sourceRef?.name;
    return undefined;
}

export interface FleetObjects {
    /** One view per declared object, in plan order. */
    readonly objects: FleetObject[];
    /** Per app with a canary: analysis steps, minimum seconds to full promotion, seconds to roll back. */
    readonly canaryTimes: Record<string, CanaryTimes>;
    /** The fleet Receiver's webhook URL (secret: derived from the token), when the plan has a Receiver. */
    readonly receiverWebhookUrl?: pulumi.Output<string>;
}

/**
 * The views of a plan's declared objects, parented under `parent` (delivery objects under their
 * group). `receiverToken` is the Receiver's token (gitops:receiverToken).
 */
export function declareFleetObjects(name: string, parent: pulumi.Resource, cfg: StackConfig, plan: FleetPlan, receiverToken?: pulumi.Output<string>): FleetObjects {
    const objects: FleetObject[] = [];
    const canaries: Record<string, CanaryTimes> = {};
    let receiverWebhookUrl: pulumi.Output<string> | undefined;
    const groups = new Map<string, DeliveryGroup>();
    const groupFor = (o: KubeObject): DeliveryGroup | undefined => {
        const source = helmSourceOf(o);
        const g = DELIVERY_GROUPS.find((d) => (source !== undefined && (d.sources as readonly string[]).includes(source)) || (d.kinds as readonly string[]).includes(o.kind));
        if (!g) return undefined;
        let group = groups.get(g.type);
        if (!group) {
            group = new DeliveryGroup(g.type, `${name}-${g.suffix}`, { parent });
            groups.set(g.type, group);
        }
        return group;
    };
    for (const p of plan.objects) {
        const view = viewKind(p);
        if (!view) continue;
        const o = p.object;
        const group = groupFor(o);
        const outputs: Record<string, unknown> = {};
        if (o.kind === "Canary") {
            const app = cfg.apps.find((a) => a.name === o.metadata.name && a.canary);
            if (app) Object.assign(outputs, (canaries[app.name] = canaryTimes(app.canary!)));
        }
        if (o.kind === "Receiver" && receiverToken) {
            const ns = o.metadata.namespace ?? cfg.flux.namespace;
            const webhookPath = pulumi.secret(receiverToken.apply((t) => receiverWebhookPath(t, o.metadata.name, ns)));
            const base = (cfg.notifications.receiver.address ?? "").replace(/\/+$/, "");
            receiverWebhookUrl = pulumi.secret(webhookPath.apply((path) => base + path));
            Object.assign(outputs, { webhookPath, webhookUrl: receiverWebhookUrl });
        }
        const v = new FleetObject(view.type, view.name(name, o.metadata.name), p, { parent: group ?? parent }, outputs);
        group?.members.push(v.objectId);
        objects.push(v);
    }
    for (const g of groups.values()) g.finish();
    return { objects, canaryTimes: canaries, receiverWebhookUrl };
}
