/**
 * The resource registry: every kind the test server serves, built-in or from an established
 * CustomResourceDefinition. Discovery documents, URL routing and the generic handlers are all
 * driven from it, so a CRD's kind behaves exactly like a built-in one.
 */
import { createHash } from "crypto";

/** How a list field merges (server-side apply, strategic merge patch). */
export type ListKind = { type: "atomic" } | { type: "map"; keys: string[] } | { type: "set" };

export interface ResourceType {
    group: string; // "" for core
    version: string;
    kind: string;
    plural: string;
    singular: string;
    namespaced: boolean;
    shortNames: string[];
    categories: string[];
    /** Has a /status subresource: status is ignored on the main resource, spec on /status. */
    statusSubresource: boolean;
    /** metadata.generation is maintained (bumped on changes outside metadata and status). */
    generation: boolean;
    /** Built in (core/apps/...) rather than from a CRD. */
    builtin: boolean;
    /** The CRD's openAPIV3Schema for this version, for list merge keys and printer columns. */
    schema?: any;
    printerColumns?: Array<{ name: string; type: string; jsonPath: string; priority?: number; description?: string; format?: string }>;
}

export function apiVersionOf(t: { group: string; version: string }): string {
    return t.group ? `${t.group}/${t.version}` : t.version;
}

export function splitApiVersion(apiVersion: string): { group: string; version: string } {
    const i = apiVersion.indexOf("/");
    return i < 0 ? { group: "", version: apiVersion } : { group: apiVersion.slice(0, i), version: apiVersion.slice(i + 1) };
}

const VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

function builtin(group: string, version: string, kind: string, plural: string, namespaced: boolean,
    extra: Partial<ResourceType> = {}): ResourceType {
    return {
        group, version, kind, plural, singular: kind.toLowerCase(), namespaced, shortNames: [], categories: [],
        statusSubresource: false, generation: false, builtin: true, ...extra,
    };
}

/** The built-in kinds the platform uses. */
export function builtinTypes(): ResourceType[] {
    return [
        builtin("", "v1", "Namespace", "namespaces", false, { shortNames: ["ns"], statusSubresource: true }),
        builtin("", "v1", "ConfigMap", "configmaps", true, { shortNames: ["cm"] }),
        builtin("", "v1", "Secret", "secrets", true),
        builtin("", "v1", "Service", "services", true, { shortNames: ["svc"], statusSubresource: true, categories: ["all"] }),
        builtin("", "v1", "ServiceAccount", "serviceaccounts", true, { shortNames: ["sa"] }),
        builtin("apps", "v1", "Deployment", "deployments", true,
            { shortNames: ["deploy"], statusSubresource: true, generation: true, categories: ["all"] }),
        builtin("batch", "v1", "Job", "jobs", true, { statusSubresource: true, generation: true, categories: ["all"] }),
        builtin("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false),
        builtin("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", false),
        builtin("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
        builtin("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true),
        builtin("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false,
            { shortNames: ["crd", "crds"], statusSubresource: true, generation: true }),
        builtin("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", true, { shortNames: ["netpol"], generation: true }),
    ];
}

/** The served resource types of an (established) CRD, one per served version. */
export function typesFromCrd(crd: any): ResourceType[] {
    const spec = crd.spec ?? {};
    const names = spec.names ?? {};
    return (spec.versions ?? []).filter((v: any) => v.served !== false).map((v: any) => ({
        group: spec.group, version: v.name, kind: names.kind, plural: names.plural,
        singular: names.singular || String(names.kind).toLowerCase(), namespaced: spec.scope !== "Cluster",
        shortNames: names.shortNames ?? [], categories: names.categories ?? [],
        statusSubresource: !!v.subresources?.status, generation: true, builtin: false,
        schema: v.schema?.openAPIV3Schema, printerColumns: v.additionalPrinterColumns,
    }));
}

export class Registry {
    private types: ResourceType[] = builtinTypes();
    /** CRD name -> the types it registered. */
    private fromCrds = new Map<string, ResourceType[]>();

    all(): ResourceType[] {
        return [...this.types, ...[...this.fromCrds.values()].flat()];
    }

    byPlural(group: string, version: string, plural: string): ResourceType | undefined {
        return this.all().find((t) => t.group === group && t.version === version && t.plural === plural);
    }

    byKind(apiVersion: string, kind: string): ResourceType | undefined {
        const { group, version } = splitApiVersion(apiVersion);
        return this.all().find((t) => t.group === group && t.version === version && t.kind === kind);
    }

    /** Any served version of group/kind (objects are stored once per group and kind). */
    anyVersion(group: string, kind: string): ResourceType | undefined {
        return this.all().find((t) => t.group === group && t.kind === kind);
    }

    registerCrd(crd: any): void {
        this.fromCrds.set(crd.metadata.name, typesFromCrd(crd));
    }

    unregisterCrd(name: string): ResourceType[] {
        const gone = this.fromCrds.get(name) ?? [];
        this.fromCrds.delete(name);
        return gone;
    }

    resetCrds(): void {
        this.fromCrds.clear();
    }

    /** Group name -> versions, in registration order, core excluded. */
    groups(): Map<string, string[]> {
        const out = new Map<string, string[]>();
        for (const t of this.all()) {
            if (!t.group) continue;
            const vs = out.get(t.group) ?? [];
            if (!vs.includes(t.version)) vs.push(t.version);
            out.set(t.group, vs);
        }
        return out;
    }

    // ------------------------------------------------------------------------------------------
    // Discovery documents

    apiVersions(serverAddress: string): any {
        return {
            kind: "APIVersions", versions: ["v1"],
            serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress }],
        };
    }

    private groupDoc(name: string, versions: string[]): any {
        const sorted = sortVersions(versions);
        return {
            name,
            versions: sorted.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
            preferredVersion: { groupVersion: `${name}/${sorted[0]}`, version: sorted[0] },
        };
    }

    apiGroupList(): any {
        return {
            kind: "APIGroupList", apiVersion: "v1",
            groups: [...this.groups()].map(([name, vs]) => this.groupDoc(name, vs)),
        };
    }

    apiGroup(group: string): any | undefined {
        const vs = this.groups().get(group);
        return vs ? { kind: "APIGroup", apiVersion: "v1", ...this.groupDoc(group, vs) } : undefined;
    }

    private resourceEntries(types: ResourceType[]): any[] {
        const out: any[] = [];
        for (const t of types) {
            const e: any = {
                name: t.plural, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs: VERBS,
                storageVersionHash: createHash("sha256").update(`${t.group}/${t.version}/${t.kind}`).digest("base64").slice(0, 11),
            };
            if (t.shortNames.length) e.shortNames = t.shortNames;
            if (t.categories.length) e.categories = t.categories;
            out.push(e);
            if (t.statusSubresource) {
                out.push({ name: `${t.plural}/status`, singularName: "", namespaced: t.namespaced, kind: t.kind, verbs: ["get", "patch", "update"] });
            }
        }
        return out;
    }

    /** APIResourceList for one group version, or undefined when it is not served. */
    apiResourceList(group: string, version: string): any | undefined {
        const types = this.all().filter((t) => t.group === group && t.version === version);
        if (!types.length) return undefined;
        return {
            kind: "APIResourceList", apiVersion: "v1", groupVersion: group ? `${group}/${version}` : version,
            resources: this.resourceEntries(types),
        };
    }

    /** The aggregated discovery document (apidiscovery.k8s.io/v2 APIGroupDiscoveryList). */
    aggregated(core: boolean): any {
        const groups: Array<[string, string[]]> = core ? [["", ["v1"]]] : [...this.groups()];
        return {
            kind: "APIGroupDiscoveryList", apiVersion: "apidiscovery.k8s.io/v2", metadata: {},
            items: groups.map(([name, vs]) => ({
                metadata: { name, creationTimestamp: null },
                versions: sortVersions(vs).map((v) => ({
                    version: v, freshness: "Current",
                    resources: this.all().filter((t) => t.group === name && t.version === v).map((t) => {
                        const r: any = {
                            resource: t.plural, responseKind: { group: t.group, version: t.version, kind: t.kind },
                            scope: t.namespaced ? "Namespaced" : "Cluster", singularResource: t.singular, verbs: VERBS,
                        };
                        if (t.shortNames.length) r.shortNames = t.shortNames;
                        if (t.categories.length) r.categories = t.categories;
                        if (t.statusSubresource) {
                            r.subresources = [{ subresource: "status", responseKind: { group: t.group, version: t.version, kind: t.kind }, verbs: ["get", "patch", "update"] }];
                        }
                        return r;
                    }),
                })),
            })),
        };
    }
}

/**
 * OpenAPI v3: the index (/openapi/v3) and one document per group version. It declares, per
 * kind, the PATCH operation and its query parameters (kubectl checks for fieldValidation there
 * before it lets the server validate), with permissive schemas.
 */
export function openApiV3Index(reg: Registry): any {
    const paths: Record<string, { serverRelativeURL: string }> = {};
    const gvs = new Set(reg.all().map((t) => (t.group ? `apis/${t.group}/${t.version}` : `api/${t.version}`)));
    for (const gv of gvs) {
        const hash = createHash("sha512").update(JSON.stringify(openApiV3Doc(reg, gv))).digest("hex").slice(0, 32).toUpperCase();
        paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=${hash}` };
    }
    return { paths };
}

export function openApiV3Doc(reg: Registry, gv: string): any | undefined {
    const types = reg.all().filter((t) => (t.group ? `apis/${t.group}/${t.version}` : `api/${t.version}`) === gv);
    if (!types.length) return undefined;
    const param = (name: string) => ({ name, in: "query", schema: { type: "string", uniqueItems: true } });
    const paths: Record<string, any> = {};
    const schemas: Record<string, any> = {};
    for (const t of types) {
        const gvk = { group: t.group, version: t.version, kind: t.kind };
        const base = `/${gv}${t.namespaced ? "/namespaces/{namespace}" : ""}/${t.plural}/{name}`;
        const op = (action: string, extra: string[] = []) => ({
            operationId: `${action}${t.kind}`, "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
            parameters: extra.map(param), responses: { "200": { description: "OK" } },
        });
        paths[base] = {
            get: op("get"), put: op("put", ["dryRun", "fieldManager", "fieldValidation"]),
            patch: op("patch", ["dryRun", "fieldManager", "fieldValidation", "force"]), delete: op("delete", ["dryRun"]),
        };
        const name = `${t.group || "core"}.${t.version}.${t.kind}`;
        schemas[name] = { ...(t.schema ?? { type: "object" }), "x-kubernetes-preserve-unknown-fields": true, "x-kubernetes-group-version-kind": [gvk] };
    }
    return { openapi: "3.0.0", info: { title: "Kubernetes", version: "v1.32.0" }, paths, components: { schemas } };
}

/** Kubernetes version priority: GA > beta > alpha, higher numbers first. */
export function sortVersions(vs: string[]): string[] {
    const rank = (v: string): [number, number, number] => {
        const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
        if (!m) return [0, 0, 0];
        const stage = m[2] === "alpha" ? 1 : m[2] === "beta" ? 2 : 3;
        return [stage, Number(m[1]), Number(m[3] ?? 0)];
    };
    return [...vs].sort((a, b) => {
        const ra = rank(a), rb = rank(b);
        for (let i = 0; i < 3; i++) if (ra[i] !== rb[i]) return rb[i] - ra[i];
        return a.localeCompare(b);
    });
}

// ----------------------------------------------------------------------------------------------
// List semantics (which lists are maps keyed by fields, which are sets, which are atomic)

/** Merge keys of built-in kinds' lists, by field name (as the Kubernetes OpenAPI declares them). */
const BUILTIN_LIST_KEYS: Record<string, string[]> = {
    containers: ["name"], initContainers: ["name"], ephemeralContainers: ["name"], env: ["name"],
    volumes: ["name"], volumeMounts: ["mountPath"], volumeDevices: ["devicePath"], imagePullSecrets: ["name"],
    conditions: ["type"], ownerReferences: ["uid"], hostAliases: ["ip"], topologySpreadConstraints: ["topologyKey", "whenUnsatisfiable"],
};

/** Path elements as used by field sets: a field name, a list item by key, a set value, an index. */
export type PathEl = { f: string } | { k: Record<string, unknown> } | { v: unknown } | { i: number };

/**
 * How the list at `path` (field names only, list items skipped) merges for type `t`.
 * `sample` is one item of the list (to tell container ports from service ports).
 */
export function listKindAt(t: ResourceType | undefined, path: string[], sample?: any): ListKind {
    const last = path[path.length - 1];
    if (path.length === 2 && path[0] === "metadata") {
        if (last === "finalizers") return { type: "set" };
        if (last === "ownerReferences") return { type: "map", keys: ["uid"] };
        return { type: "atomic" };
    }
    if (!t || t.builtin) {
        if (last === "ports") {
            if (sample && typeof sample === "object" && "containerPort" in sample) return { type: "map", keys: ["containerPort", "protocol"] };
            if (path[0] === "spec" && t?.kind === "Service") return { type: "map", keys: ["port", "protocol"] };
            return { type: "atomic" };
        }
        const keys = BUILTIN_LIST_KEYS[last];
        return keys ? { type: "map", keys } : { type: "atomic" };
    }
    // A CRD: follow its structural schema.
    let node = t.schema;
    for (const name of path) {
        if (!node) break;
        if (node.type === "array") node = node.items;
        node = node?.properties?.[name] ?? (node?.additionalProperties && typeof node.additionalProperties === "object" ? node.additionalProperties : undefined);
    }
    if (node?.["x-kubernetes-list-type"] === "map" && Array.isArray(node["x-kubernetes-list-map-keys"])) {
        return { type: "map", keys: node["x-kubernetes-list-map-keys"] };
    }
    if (node?.["x-kubernetes-list-type"] === "set") return { type: "set" };
    if (last === "conditions" && path[0] === "status") return { type: "map", keys: ["type"] };
    return { type: "atomic" };
}

/** The key of one item of a map-list (with Kubernetes' defaulted protocol for ports). */
export function itemKey(item: any, keys: string[]): Record<string, unknown> {
    const k: Record<string, unknown> = {};
    for (const name of [...keys].sort()) {
        let v = item?.[name];
        if (v === undefined && name === "protocol") v = "TCP";
        if (v !== undefined) k[name] = v;
    }
    return k;
}
