/**
 * Build a Flux Kustomization object the way kustomize-controller does (v1.9,
 * internal/controller/kustomization_controller.go build() and apply()):
 *  1. fluxcd/pkg/kustomize's generator writes the object's build fields into the path's
 *     kustomization file: targetNamespace, namePrefix, nameSuffix, patches, components, images
 *     (render.ts applySpec);
 *  2. kustomize build;
 *  3. when spec.postBuild is set, substitution per object: variables from substituteFrom
 *     (ConfigMaps and Secrets, in order, from the Kustomization's namespace) then substitute,
 *     skipped when there are none unless postBuild.substituteStrategy is Always (substitute.ts);
 *  4. the owner labels kustomize.toolkit.fluxcd.io/name and /namespace on every object
 *     (fluxcd/pkg/ssa SetOwnerLabels), then spec.commonMetadata labels and annotations.
 */
import * as YAML from "yaml";
import { GitopsError } from "../errors";
import type { Kustomization, SubstituteReference } from "../flux/api";
import { renderPath, RenderResult } from "./render";
import { loadVariables, RenderedObject, VarSourceObject } from "./substitute";

export const OWNER_GROUP = "kustomize.toolkit.fluxcd.io";

export interface BuildKustomizationOptions {
    /** Reads a substituteFrom ConfigMap/Secret (Secret data base64); undefined when it does not exist. */
    readonly lookup: (ref: SubstituteReference) => Promise<VarSourceObject | undefined>;
    /** kustomize-controller's StrictPostBuildSubstitutions feature gate. */
    readonly strict?: boolean;
    /** The path to build inside `root`; default spec.path. */
    readonly path?: string;
}

/** `Kustomization/<namespace>/<name>`: how errors and output name the object. */
export function ksName(ks: Pick<Kustomization, "metadata">): string {
    return `Kustomization/${ks.metadata.namespace ?? "flux-system"}/${ks.metadata.name}`;
}

/** Renders a Flux Kustomization from a checkout at `root`, exactly as kustomize-controller would apply it. */
export async function buildKustomization(ks: Kustomization, root: string, opts: BuildKustomizationOptions): Promise<RenderResult> {
    const name = ksName(ks);
    const spec = ks.spec ?? ({} as Kustomization["spec"]);
    const postBuild = spec.postBuild;
    let vars: Record<string, string> | undefined;
    if (postBuild) {
        const fetched = new Map<SubstituteReference, VarSourceObject | undefined>();
        for (const ref of postBuild.substituteFrom ?? []) fetched.set(ref, await opts.lookup(ref));
        vars = loadVariables(postBuild, (ref) => fetched.get(ref), `${name} spec.postBuild`);
    }
    const res = await renderPath(root, opts.path ?? spec.path ?? "./", {
        spec,
        substitute: vars,
        always: postBuild?.substituteStrategy === "Always",
        strict: opts.strict,
        varsWhere: `${name} spec.postBuild`,
    }).catch((err: unknown) => {
        // Name the Kustomization in front of the file or object the render names.
        throw err instanceof GitopsError && !err.message.startsWith(name) ? new GitopsError(name, err.message) : err;
    });
    const objects = res.objects.map((o) => withMetadata(o, ks));
    return { objects, yaml: objects.map((o) => o.yaml).join("---\n") };
}

function withMetadata(o: RenderedObject, ks: Kustomization): RenderedObject {
    const obj = structuredClone(o.object) as { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> } };
    const cm = ks.spec?.commonMetadata;
    obj.metadata.labels = {
        ...(obj.metadata.labels ?? {}),
        [`${OWNER_GROUP}/name`]: ks.metadata.name,
        [`${OWNER_GROUP}/namespace`]: ks.metadata.namespace ?? "flux-system",
        ...(cm?.labels ?? {}),
    };
    if (cm?.annotations) obj.metadata.annotations = { ...(obj.metadata.annotations ?? {}), ...cm.annotations };
    return { ...o, object: obj as Record<string, unknown>, yaml: YAML.stringify(obj) };
}

/** A copy of `obj` with every Secret value replaced by `***` (data and stringData). */
export function maskSecret<T extends Record<string, unknown>>(obj: T): T {
    if (obj.kind !== "Secret" || (typeof obj.apiVersion === "string" && obj.apiVersion !== "v1")) return obj;
    const out: Record<string, unknown> = { ...obj };
    for (const field of ["data", "stringData"]) {
        const m = obj[field];
        if (m && typeof m === "object") out[field] = Object.fromEntries(Object.keys(m).map((k) => [k, "***"]));
    }
    return out as T;
}
