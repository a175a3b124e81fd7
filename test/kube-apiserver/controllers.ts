/**
 * Emulated controllers, run as hooks after each write:
 *  - apiextensions: a new or changed CRD gets NamesAccepted and Established (after an optional
 *    delay) and its kinds start being served;
 *  - Flux: a GitRepository/Kustomization/HelmRelease/... that is new, changed (generation), or
 *    annotated with reconcile.fluxcd.io/requestedAt gets status.observedGeneration, a Ready
 *    condition and the revision the test controls (or Ready=False with the message from fail());
 *    a source whose artifact revision changes reconciles the Kustomizations of that source, as
 *    kustomize-controller's watch on sources does;
 *  - Deployments are marked rolled out and Jobs complete (flux.rollout);
 *  - Flagger: a Canary goes Initializing -> Initialized when created, and Progressing ->
 *    Succeeded (or Failed, after flagger.fail) when it or its target Deployment changes.
 * Controller writes are Updates on the status subresource under the real controllers' manager
 * names, so they show up in managedFields and bump resourceVersion like the real thing.
 */
import { createHash } from "crypto";
import { FLUX_KINDS, RECONCILE_REQUESTED_AT } from "../../engine/flux/api";
import { deepEqual } from "./fields";
import { ResourceType, splitApiVersion } from "./registry";
import { now, Store, WriteOptions } from "./store";

const SOURCE_KINDS = new Set(["GitRepository", "OCIRepository", "Bucket", "HelmRepository", "HelmChart"]);

function controllerOf(kind: string): string {
    if (SOURCE_KINDS.has(kind)) return "source-controller";
    if (kind === "Kustomization") return "kustomize-controller";
    if (kind === "HelmRelease") return "helm-controller";
    if (kind.startsWith("Image")) return kind === "ImageUpdateAutomation" ? "image-automation-controller" : "image-reflector-controller";
    return "notification-controller";
}

function setCondition(o: any, cond: { type: string; status: string; reason: string; message: string }): void {
    const st = (o.status ??= {});
    const list: any[] = (st.conditions ??= []);
    const old = list.find((c) => c.type === cond.type);
    const full: any = {
        type: cond.type, status: cond.status, reason: cond.reason, message: cond.message,
        ...(o.metadata.generation !== undefined ? { observedGeneration: o.metadata.generation } : {}),
        lastTransitionTime: old && old.status === cond.status ? old.lastTransitionTime : now(),
    };
    if (old) list[list.indexOf(old)] = full;
    else list.push(full);
}

export class Controllers {
    private failures = new Map<string, string>();
    private canaryFailures = new Map<string, string>();
    private timers = new Set<NodeJS.Timeout>();
    private progressions = new Map<string, NodeJS.Timeout>();

    readonly flux: {
        revision: string; auto: boolean; rollout: boolean;
        setRevision(rev: string): void; fail(kind: string, name: string, message: string): void; recover(kind: string, name: string): void;
    };
    readonly flagger: { auto: boolean; stepMs: number; fail(name: string, namespace: string, message: string): void };

    constructor(private store: Store, private opts: { crdEstablishDelayMs: number }) {
        const self = this;
        this.flux = {
            revision: "main@sha1:0000000000000000000000000000000000000000",
            auto: true,
            rollout: true,
            setRevision(rev: string) {
                this.revision = rev;
                if (this.auto) for (const o of self.fluxObjects()) self.reconcile(o);
            },
            fail(kind: string, name: string, message: string) {
                self.failures.set(`${kind}/${name}`, message);
                for (const o of self.fluxObjects()) if (o.kind === kind && o.metadata.name === name) self.reconcile(o);
            },
            recover(kind: string, name: string) {
                self.failures.delete(`${kind}/${name}`);
                for (const o of self.fluxObjects()) if (o.kind === kind && o.metadata.name === name) self.reconcile(o);
            },
        };
        this.flagger = {
            auto: true,
            stepMs: 20,
            fail(name: string, namespace: string, message: string) {
                self.canaryFailures.set(`${namespace}/${name}`, message);
            },
        };
        store.hooks.push((t, old, next, o) => this.onWrite(t, old, next, o));
    }

    stop(): void {
        for (const t of this.timers) clearTimeout(t);
        this.timers.clear();
        this.progressions.clear();
    }

    private later(ms: number, fn: () => void): NodeJS.Timeout {
        const t = setTimeout(() => {
            this.timers.delete(t);
            fn();
        }, ms);
        this.timers.add(t);
        return t;
    }

    private fluxObjects(): any[] {
        return this.store.all().filter((o) => this.isFlux(o));
    }

    private isFlux(o: any): boolean {
        const group = splitApiVersion(o.apiVersion).group;
        return group.endsWith(".toolkit.fluxcd.io") && o.kind in FLUX_KINDS;
    }

    private onWrite(t: ResourceType, old: any | undefined, next: any, opts: WriteOptions): void {
        if (opts.internal || opts.subresource) return;
        if (t.kind === "CustomResourceDefinition" && t.group === "apiextensions.k8s.io") {
            if (!old || !deepEqual(old.spec, next.spec)) this.establish(next);
            return;
        }
        const genChanged = !old || old.metadata.generation !== next.metadata.generation;
        if (this.isFlux(next)) {
            const requested = next.metadata.annotations?.[RECONCILE_REQUESTED_AT];
            const handled = requested !== undefined && requested === old?.metadata.annotations?.[RECONCILE_REQUESTED_AT];
            if (this.flux.auto && (genChanged || (requested !== undefined && !handled))) this.reconcile(next);
            return;
        }
        if (t.group === "apps" && t.kind === "Deployment") {
            if (this.flux.auto && this.flux.rollout && genChanged) this.rollout(t, next);
            if (old && genChanged && this.flagger.auto) {
                for (const c of this.store.all("flagger.app", "Canary")) {
                    const ref = c.spec?.targetRef ?? {};
                    if (c.metadata.namespace === next.metadata.namespace && ref.name === next.metadata.name && (ref.kind ?? "Deployment") === "Deployment") {
                        this.progress(c);
                    }
                }
            }
            return;
        }
        if (t.group === "batch" && t.kind === "Job" && !old && this.flux.auto && this.flux.rollout) {
            this.store.writeStatus(t, next.metadata.namespace, next.metadata.name, "k3s-job-controller", (o) => {
                o.status = {
                    startTime: now(), completionTime: now(), succeeded: 1, ready: 0, terminating: 0,
                    conditions: [{ type: "Complete", status: "True", lastProbeTime: now(), lastTransitionTime: now() }],
                };
            });
            return;
        }
        if (t.group === "flagger.app" && t.kind === "Canary" && this.flagger.auto && genChanged) this.progress(next);
    }

    // ------------------------------------------------------------------------------------------
    // CRDs

    private establish(crd: any): void {
        const run = () => {
            const t = this.store.registry.byKind("apiextensions.k8s.io/v1", "CustomResourceDefinition")!;
            const cur = this.store.raw(t, undefined, crd.metadata.name);
            if (!cur) return;
            this.store.registry.registerCrd(cur);
            this.store.writeStatus(t, undefined, cur.metadata.name, "kube-apiserver", (o) => {
                const names = o.spec.names;
                o.status ??= {};
                o.status.acceptedNames = {
                    plural: names.plural, singular: names.singular ?? names.kind.toLowerCase(), kind: names.kind,
                    listKind: names.listKind ?? `${names.kind}List`,
                    ...(names.shortNames ? { shortNames: names.shortNames } : {}), ...(names.categories ? { categories: names.categories } : {}),
                };
                const storage = (o.spec.versions ?? []).find((v: any) => v.storage)?.name;
                o.status.storedVersions = [...new Set([...(o.status.storedVersions ?? []), storage])];
                setCondition(o, { type: "NamesAccepted", status: "True", reason: "NoConflicts", message: "no conflicts found" });
                setCondition(o, { type: "Established", status: "True", reason: "InitialNamesAccepted", message: "the initial names have been accepted" });
                for (const c of o.status.conditions) delete c.observedGeneration;
            });
        };
        if (this.opts.crdEstablishDelayMs > 0 && !this.store.registry.all().some((t) => t.group === crd.spec.group && t.kind === crd.spec.names.kind)) {
            this.later(this.opts.crdEstablishDelayMs, run);
        } else run();
    }

    // ------------------------------------------------------------------------------------------
    // Flux

    private reconcile(o: any): void {
        const t = this.store.typeOf(o);
        if (!t || o.spec?.suspend === true) return;
        const kind = o.kind;
        const failure = this.failures.get(`${kind}/${o.metadata.name}`);
        const rev = this.flux.revision;
        const before = o.status?.artifact?.revision;
        this.store.writeStatus(t, o.metadata.namespace, o.metadata.name, controllerOf(kind), (x) => {
            const st = (x.status ??= {});
            st.observedGeneration = x.metadata.generation;
            const requested = x.metadata.annotations?.[RECONCILE_REQUESTED_AT];
            if (requested !== undefined) st.lastHandledReconcileAt = requested;
            if (failure !== undefined) {
                const reason = SOURCE_KINDS.has(kind) ? "GitOperationFailed" : kind === "HelmRelease" ? "InstallFailed" : "ReconciliationFailed";
                setCondition(x, { type: "Ready", status: "False", reason, message: failure });
                if (kind === "Kustomization" || kind === "HelmRelease") st.lastAttemptedRevision = rev;
                return;
            }
            if (SOURCE_KINDS.has(kind)) {
                const digest = "sha256:" + createHash("sha256").update(rev).digest("hex");
                st.artifact = {
                    revision: rev, digest, lastUpdateTime: now(), size: 1024,
                    path: `${kind.toLowerCase()}/${x.metadata.namespace}/${x.metadata.name}/${digest.slice(7, 19)}.tar.gz`,
                    url: `http://source-controller.flux-system.svc.cluster.local./${kind.toLowerCase()}/${x.metadata.namespace}/${x.metadata.name}/${digest.slice(7, 19)}.tar.gz`,
                };
                setCondition(x, { type: "ArtifactInStorage", status: "True", reason: "Succeeded", message: `stored artifact for revision '${rev}'` });
                setCondition(x, { type: "Ready", status: "True", reason: "Succeeded", message: `stored artifact for revision '${rev}'` });
            } else if (kind === "Kustomization") {
                st.lastAppliedRevision = rev;
                st.lastAttemptedRevision = rev;
                setCondition(x, { type: "Ready", status: "True", reason: "ReconciliationSucceeded", message: `Applied revision: ${rev}` });
            } else if (kind === "HelmRelease") {
                st.lastAttemptedRevision = rev;
                st.history = [{ chartName: x.spec?.chart?.spec?.chart ?? x.metadata.name, chartVersion: rev, status: "deployed", version: 1 }];
                setCondition(x, { type: "Released", status: "True", reason: "InstallSucceeded", message: `Helm install succeeded for release ${x.metadata.namespace}/${x.metadata.name}` });
                setCondition(x, { type: "Ready", status: "True", reason: "InstallSucceeded", message: `Helm install succeeded for release ${x.metadata.namespace}/${x.metadata.name}` });
            } else {
                setCondition(x, { type: "Ready", status: "True", reason: "Succeeded", message: `Reconciliation finished, revision ${rev}` });
            }
        });
        // kustomize-controller watches sources: a new artifact revision reconciles every
        // Kustomization of that source.
        if (SOURCE_KINDS.has(kind) && failure === undefined && before !== rev) {
            for (const k of this.fluxObjects()) {
                const ref = k.kind === "Kustomization" ? k.spec?.sourceRef : undefined;
                if (ref?.kind === kind && ref.name === o.metadata.name && (ref.namespace ?? k.metadata.namespace) === o.metadata.namespace) this.reconcile(k);
            }
        }
    }

    private rollout(t: ResourceType, d: any): void {
        this.store.writeStatus(t, d.metadata.namespace, d.metadata.name, "kube-controller-manager", (o) => {
            const n = o.spec?.replicas ?? 1;
            o.status = {
                observedGeneration: o.metadata.generation, replicas: n, updatedReplicas: n, readyReplicas: n, availableReplicas: n,
                conditions: [
                    { type: "Available", status: "True", lastUpdateTime: now(), lastTransitionTime: now(), reason: "MinimumReplicasAvailable", message: "Deployment has minimum availability." },
                    { type: "Progressing", status: "True", lastUpdateTime: now(), lastTransitionTime: now(), reason: "NewReplicaSetAvailable", message: `ReplicaSet "${o.metadata.name}-5d7c9b8f6" has successfully progressed.` },
                ],
            };
        });
    }

    // ------------------------------------------------------------------------------------------
    // Flagger

    private progress(canary: any): void {
        const key = `${canary.metadata.namespace}/${canary.metadata.name}`;
        const pending = this.progressions.get(key);
        if (pending) { clearTimeout(pending); this.timers.delete(pending); }
        const initialized = !!canary.status?.phase && canary.status.phase !== "Initializing";
        const steps = initialized ? ["Progressing", "end"] : ["Initializing", "Initialized"];
        const step = (i: number) => {
            const t = this.store.registry.byKind(canary.apiVersion, "Canary") ?? this.store.registry.anyVersion("flagger.app", "Canary");
            if (!t || !this.store.raw(t, canary.metadata.namespace, canary.metadata.name)) return;
            let phase = steps[i];
            let message = "";
            if (phase === "end") {
                const failure = this.canaryFailures.get(key);
                this.canaryFailures.delete(key);
                phase = failure !== undefined ? "Failed" : "Succeeded";
                message = failure ?? "Canary analysis completed successfully, promotion finished.";
            } else {
                message = {
                    Initializing: "New Deployment detected, starting initialization.",
                    Initialized: "Deployment initialization completed.",
                    Progressing: "New revision detected, progressing canary analysis.",
                }[phase]!;
            }
            this.store.writeStatus(t, canary.metadata.namespace, canary.metadata.name, "flagger", (o) => {
                const st = (o.status ??= {});
                st.phase = phase;
                st.observedGeneration = o.metadata.generation;
                st.canaryWeight = phase === "Progressing" ? 10 : 0;
                st.failedChecks = phase === "Failed" ? (o.spec?.analysis?.threshold ?? 1) : 0;
                st.iterations = 0;
                st.lastTransitionTime = now();
                const spec = createHash("sha256").update(JSON.stringify(o.spec ?? {})).digest("hex").slice(0, 16);
                st.lastAppliedSpec = spec;
                if (phase === "Succeeded" || phase === "Initialized") st.lastPromotedSpec = spec;
                const status = phase === "Failed" ? "False" : phase === "Progressing" || phase === "Initializing" ? "Unknown" : "True";
                setCondition(o, { type: "Promoted", status, reason: phase, message });
                for (const c of st.conditions) { delete c.observedGeneration; c.lastUpdateTime = now(); }
            });
            if (i + 1 < steps.length) this.progressions.set(key, this.later(this.flagger.stepMs, () => step(i + 1)));
            else this.progressions.delete(key);
        };
        step(0);
    }
}
