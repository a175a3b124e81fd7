/**
 * A Helm chart packaged and pushed as `helm package` and `helm push` do it, so the real
 * source-controller pulls it from an OCI HelmRepository (helm.sh/helm/v4 pkg/registry, client.go
 * Push, constants.go, chart.go):
 *   - the chart archive is a tar+gzip whose entries sit under `<chart name>/`;
 *   - the manifest's config is the chart's metadata (Chart.yaml) as JSON, media type
 *     application/vnd.cncf.helm.config.v1+json;
 *   - its one layer is the archive, media type application/vnd.cncf.helm.chart.content.v1.tar+gzip;
 *   - annotations: org.opencontainers.image.{created,description,title,version};
 *   - the tag is the chart version ("+" written as "_", as OCI tags allow no "+");
 *   - it goes to <repository>/<chart name>:<tag>.
 * Helm pushes no provenance layer unless asked; neither does this.
 */
import { gzipSync } from "zlib";
import { parse } from "yaml";
import { MEDIA_TYPE, sha256, tar, TarEntry } from "../../../engine/oci/artifact";
import { RegistryClient } from "../../../engine/oci/client";
import { formatRef, parseArtifactRef } from "../../../engine/oci/ref";

export const HELM_MEDIA_TYPE = {
    config: "application/vnd.cncf.helm.config.v1+json",
    chart: "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
} as const;

export interface PackagedChart {
    name: string;
    version: string;
    /** The chart metadata as Helm marshals it into the config blob. */
    metadata: Record<string, unknown>;
    /** The .tgz `helm package` would write. */
    tgz: Buffer;
}

/** Packages chart files (paths relative to the chart root; Chart.yaml required). */
export function packageChart(files: Record<string, string>): PackagedChart {
    if (!files["Chart.yaml"]) throw new Error("a chart needs Chart.yaml");
    const meta = parse(files["Chart.yaml"]) as Record<string, unknown>;
    const name = String(meta.name ?? "");
    const version = String(meta.version ?? "");
    if (!name || !version) throw new Error("Chart.yaml needs name and version");
    // chart.Metadata's field order (encoding/json follows the struct): name, home, sources,
    // version, description, keywords, maintainers, icon, apiVersion, condition, tags, appVersion,
    // deprecated, annotations, kubeVersion, dependencies, type; empty fields are omitted.
    const order = ["name", "home", "sources", "version", "description", "keywords", "maintainers", "icon", "apiVersion", "condition", "tags", "appVersion", "deprecated", "annotations", "kubeVersion", "dependencies", "type"];
    const metadata = Object.fromEntries(order.filter((k) => meta[k] !== undefined && meta[k] !== "").map((k) => [k, k === "version" || k === "appVersion" ? String(meta[k]) : meta[k]]));
    const entries: TarEntry[] = Object.keys(files)
        .sort()
        .map((p) => ({ name: `${name}/${p}`, dir: false, mode: 0o644, content: Buffer.from(files[p]) }));
    return { name, version, metadata, tgz: gzipSync(tar(entries)) };
}

/** Pushes a packaged chart to oci://host/<path>/<name>:<version>; returns the manifest digest. */
export async function pushChart(repository: string, chart: PackagedChart, created = new Date().toISOString().replace(/\.\d{3}Z$/, "Z")): Promise<{ ref: string; digest: string }> {
    const tag = chart.version.replace(/\+/g, "_");
    const ref = parseArtifactRef(`${repository.replace(/\/+$/, "")}/${chart.name}:${tag}`);
    const client = new RegistryClient(ref);
    const config = Buffer.from(JSON.stringify(chart.metadata));
    for (const blob of [config, chart.tgz]) if (!(await client.hasBlob(sha256(blob)))) await client.putBlob(blob);
    const annotations: Record<string, string> = {
        "org.opencontainers.image.created": created,
        ...(chart.metadata.description ? { "org.opencontainers.image.description": String(chart.metadata.description) } : {}),
        "org.opencontainers.image.title": chart.name,
        "org.opencontainers.image.version": chart.version,
    };
    const manifest = Buffer.from(
        JSON.stringify({
            schemaVersion: 2,
            mediaType: MEDIA_TYPE.manifest,
            config: { mediaType: HELM_MEDIA_TYPE.config, digest: sha256(config), size: config.length },
            layers: [{ mediaType: HELM_MEDIA_TYPE.chart, digest: sha256(chart.tgz), size: chart.tgz.length }],
            annotations,
        }),
    );
    const digest = await client.putManifest(tag, manifest, MEDIA_TYPE.manifest);
    return { ref: formatRef({ ...ref, digest }), digest };
}
