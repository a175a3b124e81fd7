/**
 * Pinned versions in an overlay: image tags and digests, chart versions, OCI artifact tags.
 * Pure functions over file contents: extract the pins of one overlay, and rewrite another
 * overlay's files so the same pins carry the same values, editing only the scalar text (comments,
 * quoting, order and Flux image-policy markers are kept byte for byte).
 *
 * Pin keys:
 *   image:<name>             kustomize `images[]` / Flux Kustomization `spec.images[]` entry (newTag,
 *                            digest) and container `image:` fields
 *   helmrelease:<name>       HelmRelease spec.chart.spec.version
 *   ocirepository:<name>     OCIRepository spec.ref.tag
 */
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, parse as parseYaml, Scalar, YAMLMap } from "yaml";
import { GitopsError } from "../errors";
import { splitImageRef } from "../images/ref";

export interface PinSite {
    key: string;
    /** "tag" | "digest" | "version" */
    field: string;
    value: string;
    path: string;
    line: number;
    /** [start, end) offsets of the scalar in the file */
    range: [number, number];
    /** how to write a new value into the site (container images rewrite the whole reference) */
    render: (value: string) => string;
    style: Scalar.Type | undefined;
}

export interface PinChange {
    key: string;
    field: string;
    path: string;
    line: number;
    from: string;
    to: string;
}

export interface PinSkip {
    key: string;
    field: string;
    reason: string;
}

/** Splits an image reference into name, tag and digest (engine/images/ref.ts). */
export const splitImage = splitImageRef;

function isYamlFile(p: string): boolean {
    return /\.ya?ml$/i.test(p);
}

/** Every pin site in one file. Throws a GitopsError naming file:line on YAML errors. */
export function pinSites(filePath: string, text: string): PinSite[] {
    if (!isYamlFile(filePath)) return [];
    const lc = new LineCounter();
    const docs = parseAllDocuments(text, { lineCounter: lc });
    const sites: PinSite[] = [];
    const lineOf = (off: number) => lc.linePos(off).line;
    const add = (key: string, field: string, node: unknown, render?: (v: string) => string, value?: string) => {
        if (!isScalar(node) || !node.range || node.value === null || node.value === undefined) return;
        const v = value ?? String(node.value);
        sites.push({
            key,
            field,
            value: v,
            path: filePath,
            line: lineOf(node.range[0]),
            range: [node.range[0], node.range[1]],
            render: render ?? ((x) => x),
            style: node.type,
        });
    };
    for (const doc of docs) {
        if (doc.errors.length > 0) {
            const e = doc.errors[0];
            throw new GitopsError(`${filePath}:${e.linePos?.[0]?.line ?? 1}`, `invalid YAML: ${e.message.split("\n")[0]}`, "fix the file before promoting");
        }
        const root = doc.contents;
        if (!isMap(root)) continue;
        const kind = String(root.get("kind") ?? "");
        const apiVersion = String(root.get("apiVersion") ?? "");
        const name = String((root.get("metadata") as YAMLMap | undefined)?.get?.("name") ?? "");
        const kustomizeFile = kind === "Kustomization" && (apiVersion.startsWith("kustomize.config.k8s.io") || !apiVersion) || (!kind && /(^|\/)kustomization\.ya?ml$/.test(filePath));
        const fluxKustomization = kind === "Kustomization" && apiVersion.startsWith("kustomize.toolkit.fluxcd.io");
        if (kustomizeFile || fluxKustomization) {
            // kustomize's top-level images, or a Flux Kustomization's spec.images (same shape)
            const images = kustomizeFile ? root.get("images") : doc.getIn(["spec", "images"]);
            if (isSeq(images)) {
                for (const item of images.items) {
                    if (!isMap(item)) continue;
                    const n = item.get("name");
                    if (typeof n !== "string") continue;
                    add(`image:${n}`, "tag", item.get("newTag", true));
                    add(`image:${n}`, "digest", item.get("digest", true));
                }
            }
        }
        if (kind === "HelmRelease") {
            add(`helmrelease:${name}`, "version", doc.getIn(["spec", "chart", "spec", "version"], true));
        }
        if (kind === "OCIRepository") {
            add(`ocirepository:${name}`, "tag", doc.getIn(["spec", "ref", "tag"], true));
        }
        // container images anywhere (Deployments, CronJobs, Pods, ...)
        const walk = (node: unknown): void => {
            if (isMap(node)) {
                for (const pair of node.items) {
                    const k = isScalar(pair.key) ? pair.key.value : pair.key;
                    if ((k === "containers" || k === "initContainers") && isSeq(pair.value)) {
                        for (const c of pair.value.items) {
                            if (!isMap(c)) continue;
                            const img = c.get("image", true);
                            if (!isScalar(img) || typeof img.value !== "string") continue;
                            const ref = splitImage(img.value);
                            if (ref.digest) add(`image:${ref.name}`, "digest", img, (v) => `${ref.name}${ref.tag ? ":" + ref.tag : ""}@${v}`, ref.digest);
                            else if (ref.tag) add(`image:${ref.name}`, "tag", img, (v) => `${ref.name}:${v}`, ref.tag);
                        }
                    }
                    walk(pair.value);
                }
            } else if (isSeq(node)) {
                for (const i of node.items) walk(i);
            }
        };
        walk(root);
    }
    return sites;
}

/** The pins of an overlay: key/field -> value. Two different values for one pin is an error. */
export function extractPins(files: Record<string, string>): Map<string, { value: string; where: string }> {
    const pins = new Map<string, { value: string; where: string }>();
    for (const p of Object.keys(files).sort()) {
        for (const s of pinSites(p, files[p])) {
            const id = `${s.key}#${s.field}`;
            const prev = pins.get(id);
            if (prev && prev.value !== s.value) {
                throw new GitopsError(`${s.path}:${s.line}`, `${s.key} ${s.field} is '${s.value}' here but '${prev.value}' at ${prev.where}`, "pin one value per image/chart in the source overlay");
            }
            if (!prev) pins.set(id, { value: s.value, where: `${s.path}:${s.line}` });
        }
    }
    return pins;
}

/** Writes `value` as YAML scalar text in the style of the original (quotes kept; plain stays plain when safe). */
function scalarText(value: string, style: Scalar.Type | undefined): string {
    if (style === "QUOTE_SINGLE") return `'${value.replace(/'/g, "''")}'`;
    if (style === "QUOTE_DOUBLE") return JSON.stringify(value);
    let plainOk = false;
    try {
        plainOk = /^[^\s#'"{}\[\],&*!|>%@`]/.test(value) && !/[\n:#]\s|\s$/.test(value) && parseYaml(value) === value;
    } catch {
        plainOk = false;
    }
    return plainOk ? value : JSON.stringify(value);
}

/**
 * Rewrites `target` overlay files so every pin also found in `source` has the source's value.
 * Returns the new contents of changed files, the changes, and the source pins the target lacks.
 */
export function applyPins(
    sourcePins: Map<string, { value: string; where: string }>,
    target: Record<string, string>,
): { files: Record<string, string>; changes: PinChange[]; skipped: PinSkip[] } {
    const files: Record<string, string> = {};
    const changes: PinChange[] = [];
    const present = new Set<string>();
    for (const p of Object.keys(target).sort()) {
        const sites = pinSites(p, target[p]);
        let text = target[p];
        // apply from the end so earlier offsets stay valid
        for (const s of [...sites].sort((a, b) => b.range[0] - a.range[0])) {
            const id = `${s.key}#${s.field}`;
            const want = sourcePins.get(id);
            if (!want) continue;
            present.add(id);
            if (want.value === s.value) continue;
            const replacement = scalarText(s.render(want.value), s.style);
            text = text.slice(0, s.range[0]) + replacement + text.slice(s.range[1]);
            changes.push({ key: s.key, field: s.field, path: p, line: s.line, from: s.value, to: want.value });
        }
        if (text !== target[p]) files[p] = text;
    }
    const skipped: PinSkip[] = [];
    for (const [id, pin] of sourcePins) {
        if (present.has(id)) continue;
        const [key, field] = id.split("#");
        skipped.push({ key, field, reason: `not pinned in the target overlay (source: ${pin.where})` });
    }
    changes.sort((a, b) => (a.path === b.path ? a.line - b.line : a.path < b.path ? -1 : 1));
    return { files, changes, skipped };
}
