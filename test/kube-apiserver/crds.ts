/**
 * CustomResourceDefinition builders for tests: a permissive CRD for any kind, and the CRDs of
 * the Flux kinds (engine/flux/api.ts) and Flagger's Canary, so a test can install them with one
 * call (POST them, or apply them the way Flux bootstrap does).
 */
import { API, FLUX_KINDS } from "../../engine/flux/api";

export interface CrdOptions {
    scope?: "Namespaced" | "Cluster";
    shortNames?: string[];
    plural?: string;
    /** Served versions; the first is the storage version. */
    versions?: string[];
    /** Add the status subresource (default true). */
    status?: boolean;
    /** Lists under spec/status to declare as x-kubernetes-list-type=map with these keys. */
    listMapKeys?: Record<string, string[]>;
    printerColumns?: Array<{ name: string; type: string; jsonPath: string }>;
}

export function crd(apiVersion: string, kind: string, opts: CrdOptions = {}): any {
    const group = apiVersion.split("/")[0];
    const version = apiVersion.split("/")[1];
    const plural = opts.plural ?? pluralOf(kind);
    const props = (section: string): any => {
        const out: any = { type: "object", "x-kubernetes-preserve-unknown-fields": true, properties: {} };
        for (const [p, keys] of Object.entries(opts.listMapKeys ?? {})) {
            const [s, field] = p.split(".");
            if (s !== section) continue;
            out.properties[field] = {
                type: "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": keys,
                items: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
            };
        }
        return out;
    };
    const versions = opts.versions ?? [version];
    return {
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name: `${plural}.${group}` },
        spec: {
            group,
            names: { kind, listKind: `${kind}List`, plural, singular: kind.toLowerCase(), ...(opts.shortNames ? { shortNames: opts.shortNames } : {}) },
            scope: opts.scope ?? "Namespaced",
            versions: versions.map((v, i) => ({
                name: v, served: true, storage: i === 0,
                schema: {
                    openAPIV3Schema: {
                        type: "object",
                        properties: {
                            apiVersion: { type: "string" }, kind: { type: "string" }, metadata: { type: "object" },
                            spec: props("spec"), status: props("status"),
                        },
                    },
                },
                ...(opts.status === false ? {} : { subresources: { status: {} } }),
                ...(opts.printerColumns ? { additionalPrinterColumns: opts.printerColumns } : {}),
            })),
        },
    };
}

function pluralOf(kind: string): string {
    const k = kind.toLowerCase();
    if (k.endsWith("y")) return k.slice(0, -1) + "ies";
    if (k.endsWith("s")) return k + "es";
    return k + "s";
}

const READY_COLUMNS = [
    { name: "Ready", type: "string", jsonPath: `.status.conditions[?(@.type=="Ready")].status` },
    { name: "Status", type: "string", jsonPath: `.status.conditions[?(@.type=="Ready")].message` },
    { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
];

/** The CRDs of every Flux kind (as in engine/flux/api.ts) plus Flagger's Canary. */
export function fluxCrds(): any[] {
    const out = Object.entries(FLUX_KINDS).map(([kind, apiVersion]) =>
        crd(apiVersion, kind, { printerColumns: READY_COLUMNS, listMapKeys: { "status.conditions": ["type"] } }));
    out.push(crd(API.flagger, "Canary", {
        printerColumns: [{ name: "Status", type: "string", jsonPath: ".status.phase" }, { name: "Weight", type: "integer", jsonPath: ".status.canaryWeight" }],
    }));
    return out;
}
