/**
 * The guardrails as plain functions over the fleet files FleetSync commits (path -> YAML) and a
 * few resource inputs. policies.ts wraps them as CrossGuard policies; tests call both.
 * No Pulumi, no I/O.
 */
import { parseAllDocuments } from "yaml";
import { splitImageRef } from "../engine/images/ref";

export interface Doc {
    path: string;
    index: number;
    obj: any;
}

export const PROD_STACKS = ["prod"];
/** Tags that move: never in prod. */
export const MUTABLE_TAGS = ["latest", "main", "master", "dev", "develop", "stable", "edge", "nightly", "head", "canary", "snapshot"];
const EXACT_VERSION = /^v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** Every YAML document of every file (unparseable files yield a doc with obj undefined). */
export function docsOf(files: Record<string, string>): Doc[] {
    const out: Doc[] = [];
    for (const p of Object.keys(files).sort()) {
        if (!/\.ya?ml$/.test(p)) continue;
        let i = 0;
        for (const d of parseAllDocuments(files[p])) {
            const obj = d.errors.length ? undefined : d.toJSON();
            if (obj && typeof obj === "object") out.push({ path: p, index: i, obj });
            i++;
        }
    }
    return out;
}

const group = (o: any) => String(o?.apiVersion ?? "").split("/")[0];
const where = (d: Doc) => `${d.path}${d.index ? `#${d.index}` : ""}`;
const id = (o: any) => `${o?.kind}/${o?.metadata?.namespace ? o.metadata.namespace + "/" : ""}${o?.metadata?.name}`;

export const isFluxKustomization = (o: any) => o?.kind === "Kustomization" && group(o) === "kustomize.toolkit.fluxcd.io";
export const isKustomizeFile = (o: any) => o?.kind === "Kustomization" && group(o) === "kustomize.config.k8s.io";

/** Splits an image reference into name (repository), tag and digest: the engine's one splitter. */
export { splitImageRef };

function mutable(tag: string | undefined, digest: string | undefined): string | undefined {
    if (digest) return undefined;
    if (!tag) return "no tag (means latest)";
    if (MUTABLE_TAGS.includes(tag.toLowerCase())) return `mutable tag '${tag}'`;
    return undefined;
}

function containersOf(o: any, visit: (c: any) => void, depth = 0): void {
    if (!o || typeof o !== "object" || depth > 30) return;
    if (Array.isArray(o)) return o.forEach((x) => containersOf(x, visit, depth + 1));
    for (const [k, v] of Object.entries(o)) {
        if ((k === "containers" || k === "initContainers" || k === "ephemeralContainers") && Array.isArray(v)) {
            for (const c of v) if (c && typeof c.image === "string") visit(c);
        } else containersOf(v, visit, depth + 1);
    }
}

/** Prod: container images, kustomize `images` and HelmRelease chart versions must be immutable. */
export function immutableVersions(docs: Doc[]): string[] {
    const out: string[] = [];
    // kustomize image overrides: name -> {newName, newTag, digest}
    const overrides = new Map<string, any>();
    for (const d of docs.filter((x) => isKustomizeFile(x.obj))) {
        for (const [i, img] of (d.obj.images ?? []).entries()) {
            if (!img?.name) continue;
            overrides.set(img.name, img);
            if (img.newTag === undefined && img.digest === undefined) continue;
            const why = mutable(img.newTag === undefined ? undefined : String(img.newTag), img.digest);
            if (why) out.push(`${where(d)}: images[${i}] ${img.name}: ${why}; pin an exact version or a digest`);
        }
    }
    for (const d of docs) {
        if (d.obj.kind === "CustomResourceDefinition") continue;
        containersOf(d.obj, (c) => {
            const ref = splitImageRef(c.image);
            const o = overrides.get(ref.name);
            const tag = o?.newTag !== undefined ? String(o.newTag) : ref.tag;
            const digest = o?.digest ?? ref.digest;
            const why = mutable(tag, digest);
            if (why) out.push(`${where(d)}: ${id(d.obj)} container ${c.name ?? "?"} image ${c.image}: ${why}; pin an exact version or a digest`);
        });
    }
    // HelmRelease chart versions: base + overlay patches, matched by namespace/name.
    const releases = new Map<string, { d: Doc; versions: Array<{ d: Doc; v: unknown }> }>();
    for (const d of docs.filter((x) => x.obj.kind === "HelmRelease" && group(x.obj) === "helm.toolkit.fluxcd.io")) {
        if (d.obj.spec?.chartRef) continue; // an OCIRepository/HelmChart reference: pinned by that source
        const key = `${d.obj.metadata?.namespace ?? ""}/${d.obj.metadata?.name}`;
        const e = releases.get(key) ?? { d, versions: [] };
        if (d.obj.spec?.chart?.spec?.chart) e.d = d;
        const v = d.obj.spec?.chart?.spec?.version;
        if (v !== undefined) e.versions.push({ d, v });
        releases.set(key, e);
    }
    for (const [, e] of releases) {
        if (e.versions.length === 0) out.push(`${where(e.d)}: ${id(e.d.obj)} has no chart version (any version, i.e. the newest); pin an exact version`);
        for (const { d, v } of e.versions) {
            if (!EXACT_VERSION.test(String(v))) out.push(`${where(d)}: ${id(d.obj)} chart version '${v}' is a range; pin an exact version`);
        }
    }
    return out;
}

/** Every Flux Kustomization prunes. */
export function pruneEnabled(docs: Doc[], extra: any[] = []): string[] {
    const out: string[] = [];
    for (const d of docs) if (isFluxKustomization(d.obj) && d.obj.spec?.prune !== true) out.push(`${where(d)}: ${id(d.obj)} has prune ${d.obj.spec?.prune ?? "unset"}; set spec.prune: true`);
    for (const o of extra) if (isFluxKustomization(o) && o.spec?.prune !== true) out.push(`bootstrap: ${id(o)} has prune ${o.spec?.prune ?? "unset"}; set spec.prune: true`);
    return out;
}

export const SECRET_PATTERNS: Array<{ name: string; re: RegExp }> = [
    { name: "private key", re: /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----/ },
    { name: "GitHub token", re: /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b/ },
    { name: "AWS access key", re: /\bAKIA[0-9A-Z]{16}\b/ },
    { name: "Slack token", re: /\bxox[abposr]-[A-Za-z0-9-]{10,}/ },
    { name: "Slack webhook", re: /hooks\.slack\.com\/services\/[A-Za-z0-9/]+/ },
    { name: "credentials in a URL", re: /\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:[^\s/@]+@/i },
];

/** Secret material in a text, by pattern. */
export function secretPatterns(text: string): string[] {
    return SECRET_PATTERNS.filter((p) => p.re.test(text)).map((p) => p.name);
}

/** No Secret with data in the fleet repo, and no key or token anywhere in it. */
export function noPlaintextSecrets(files: Record<string, string>, docs: Doc[]): string[] {
    const out: string[] = [];
    for (const d of docs) {
        if (d.obj.kind === "Secret" && (d.obj.data || d.obj.stringData)) out.push(`${where(d)}: ${id(d.obj)} carries data in Git; apply it as a secret input (gitops:*Secrets config) or use SOPS/SealedSecrets`);
    }
    for (const p of Object.keys(files).sort()) {
        for (const name of secretPatterns(files[p])) out.push(`${p}: looks like a ${name}; secrets never go to the fleet repo`);
    }
    return out;
}

/** FleetSync's own inputs: Secrets go through `secrets` (a secret input), never `bootstrap`; no credentials in the repo URL. */
export function fleetSyncInputs(props: { repo?: string; bootstrap?: any[] }): string[] {
    const out: string[] = [];
    for (const o of props.bootstrap ?? []) {
        if (o?.kind === "Secret" && (o.data || o.stringData)) out.push(`bootstrap: ${id(o)} is a Secret; pass it in FleetSync's secret input 'secrets', not 'bootstrap'`);
    }
    if (props.repo && secretPatterns(props.repo).length) out.push(`repo: the fleet URL carries credentials; use gitAuth (a secret input)`);
    return out;
}

/** Prod: every app the overlay deploys has a Canary for its Deployment. */
export function canaryPerApp(docs: Doc[], stack: string): string[] {
    const out: string[] = [];
    const canaries = new Set(docs.filter((d) => d.obj.kind === "Canary" && group(d.obj) === "flagger.app").map((d) => `${d.obj.spec?.targetRef?.kind ?? "Deployment"}/${d.obj.spec?.targetRef?.name}`));
    const overlay = docs.find((d) => d.path === `apps/${stack}/kustomization.yaml` && isKustomizeFile(d.obj));
    const apps = new Set<string>();
    for (const r of overlay?.obj.resources ?? []) {
        const m = /^\.\.\/base\/([^/]+)\/?$/.exec(String(r));
        if (m) apps.add(m[1]);
    }
    for (const d of docs) {
        const m = /^apps\/base\/([^/]+)\//.exec(d.path);
        if (!m || !apps.has(m[1]) || d.obj.kind !== "Deployment") continue;
        if (!canaries.has(`Deployment/${d.obj.metadata?.name}`)) out.push(`${where(d)}: app ${m[1]} (Deployment ${d.obj.metadata?.name}) has no Canary in ${stack}; add gitops:apps[].canary`);
    }
    return out;
}

/** The branch an ImageUpdateAutomation pushes to (push.branch, else its checkout branch, else the fleet branch). */
export function automationPushBranch(o: any, fleetBranch: string): string {
    return o?.spec?.git?.push?.branch ?? o?.spec?.git?.checkout?.ref?.branch ?? fleetBranch;
}

/** Prod: image automation never pushes to main (or the branch the cluster syncs). */
export function automationNotOnMain(docs: Doc[], fleetBranch: string): string[] {
    const out: string[] = [];
    for (const d of docs.filter((x) => x.obj.kind === "ImageUpdateAutomation")) {
        const b = automationPushBranch(d.obj, fleetBranch);
        if (b === "main" || b === fleetBranch) out.push(`${where(d)}: ${id(d.obj)} pushes to '${b}'; push to a review branch (spec.git.push.branch) and promote`);
    }
    return out;
}
