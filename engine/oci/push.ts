/**
 * Publishing, copying and reading Flux OCI artifacts over the Distribution API.
 *
 *   pushArtifact   build the layer, and unless the tag already holds this content from the same
 *                  source revision, upload the missing blobs (HEAD first) and PUT the manifest;
 *                  then point the extra tags at the digest. The same content keeps its digest and
 *                  is not pushed twice.
 *   copyArtifact   promotion: the manifest at a digest is copied to another tag or repository
 *                  byte for byte (blobs mounted or copied when missing), so the digest is the same:
 *                  never a rebuild.
 *   inspectArtifact  the digest and the source/revision/created annotations at a tag or digest.
 */
import { GitopsError } from "../errors";
import {
    ANNOTATION,
    ArtifactMeta,
    checkCreated,
    configBlob,
    contentLayer,
    DEFAULT_IGNORE,
    entriesFromDir,
    entriesFromFiles,
    Manifest,
    manifestBytes,
    MEDIA_TYPE,
    metaOf,
    sha256,
} from "./artifact";
import { ClientOptions, RegistryClient } from "./client";
import { ArtifactRef, formatRef, parseArtifactRef, TAG } from "./ref";

export interface RegistryAccess extends ClientOptions {
    /** Plain HTTP for any host (loopback and private addresses always use it). */
    readonly insecure?: boolean;
}

export interface PushOptions extends RegistryAccess {
    /** oci://host/repository[:tag]; the tag defaults to "latest", as with flux. */
    readonly url: string;
    /** A directory or a single file to pack (exactly one of path and files). */
    readonly path?: string;
    /** Or the files themselves: path -> content (modes 0644/0755, machine-independent). */
    readonly files?: Record<string, string | Buffer>;
    /** gitignore-style patterns left out of `path`. Default flux's (VCS files, images, archives). */
    readonly ignorePaths?: readonly string[];
    /** org.opencontainers.image.source, e.g. the Git URL. */
    readonly source: string;
    /** org.opencontainers.image.revision, e.g. `main@sha1:<commit>`. */
    readonly revision: string;
    /** org.opencontainers.image.created (RFC 3339). Default: now, unless the tag already holds this content. */
    readonly created?: string;
    /** More tags to point at the digest, e.g. a semver tag or "latest". */
    readonly tags?: readonly string[];
    /** More manifest annotations. */
    readonly annotations?: Record<string, string>;
    /** Where errors point, e.g. "gitops push artifact" or "gitops:fleet.oci". */
    readonly where?: string;
}

export interface PushResult {
    /** oci://host/repository@sha256:... */
    url: string;
    /** host/repository */
    repository: string;
    tag: string;
    digest: string;
    /** Every tag that now points at the digest. */
    tags: string[];
    /** True when a manifest was written; false when the tag already held this artifact. */
    pushed: boolean;
    /** Blobs uploaded (digests); empty when the registry had them all. */
    uploaded: string[];
    meta: ArtifactMeta;
}

function checkTags(tags: readonly string[], where: string): void {
    for (const t of tags) if (!TAG.test(t)) throw new GitopsError(where, `invalid tag ${JSON.stringify(t)}`, "a tag is up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'");
}

function parseManifest(bytes: Buffer, where: string): Manifest {
    try {
        const m = JSON.parse(bytes.toString("utf8")) as Manifest;
        if (m.schemaVersion !== 2 || !m.config || !Array.isArray(m.layers)) throw new Error("not an image manifest");
        return m;
    } catch (err) {
        throw new GitopsError(where, `the registry holds a manifest that is not an OCI image manifest: ${(err as Error).message}`);
    }
}

/** True when an existing manifest is the artifact we would build (same layer, same source, revision and annotations). */
function sameArtifact(m: Manifest, layerDigest: string, o: PushOptions): boolean {
    if (m.config?.mediaType !== MEDIA_TYPE.config || m.layers.length !== 1 || m.layers[0].digest !== layerDigest || m.layers[0].mediaType !== MEDIA_TYPE.content) return false;
    const a = m.annotations ?? {};
    if (a[ANNOTATION.source] !== o.source || a[ANNOTATION.revision] !== o.revision) return false;
    if (o.created !== undefined && a[ANNOTATION.created] !== o.created) return false;
    for (const [k, v] of Object.entries(o.annotations ?? {})) if (a[k] !== v) return false;
    return true;
}

/** RFC 3339 in UTC, whole seconds, as Go's time.Now().UTC().Format(time.RFC3339). */
export function nowRfc3339(d = new Date()): string {
    return d.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export async function pushArtifact(o: PushOptions): Promise<PushResult> {
    const where = o.where ?? "gitops push artifact";
    if (!o.source) throw new GitopsError(where, "--source is required", "give the source address, e.g. the Git URL");
    if (!o.revision) throw new GitopsError(where, "--revision is required", "give the source revision, e.g. main@sha1:<commit>");
    if ((o.path === undefined) === (o.files === undefined)) throw new GitopsError(where, "give exactly one of --path and files");
    if (o.created !== undefined) checkCreated(o.created, where);
    const ref = parseArtifactRef(o.url, { insecure: o.insecure, where });
    if (ref.digest) throw new GitopsError(where, `${o.url} names a digest; push to a tag`, "drop the @sha256:... part");
    const tag = ref.tag ?? "latest";
    const extra = [...new Set((o.tags ?? []).filter((t) => t !== tag))];
    checkTags(extra, where);

    // Build first: bad input changes nothing in the registry.
    const entries = o.path !== undefined ? entriesFromDir(o.path, o.ignorePaths ?? DEFAULT_IGNORE) : entriesFromFiles(o.files!);
    const layer = contentLayer(entries);
    const client = new RegistryClient(ref, o);

    let manifest: Buffer | undefined;
    let digest: string | undefined;
    const existing = await client.getManifest(tag);
    if (existing && existing.mediaType !== MEDIA_TYPE.index) {
        const m = parseManifest(existing.bytes, formatRef({ ...ref, tag }));
        if (sameArtifact(m, layer.digest, o)) {
            manifest = existing.bytes;
            digest = existing.digest;
        }
    }
    const uploaded: string[] = [];
    let pushed = false;
    if (!manifest) {
        const created = o.created ?? nowRfc3339();
        const config = configBlob(created);
        manifest = manifestBytes(config, layer, { source: o.source, revision: o.revision, created }, o.annotations);
        for (const [bytes, blob] of [[config, sha256(config)], [layer.bytes, layer.digest]] as const) {
            if (await client.hasBlob(blob)) continue;
            await client.putBlob(bytes, blob);
            uploaded.push(blob);
        }
        digest = await client.putManifest(tag, manifest);
        pushed = true;
    }
    for (const t of extra) {
        if ((await client.resolve(t)) !== digest) await client.putManifest(t, manifest);
    }
    const m = parseManifest(manifest, where);
    return {
        url: formatRef({ host: ref.host, name: ref.name, digest }),
        repository: `${ref.host}/${ref.name}`,
        tag,
        digest: digest!,
        tags: [tag, ...extra],
        pushed,
        uploaded,
        meta: metaOf(m),
    };
}

export interface InspectResult {
    ref: ArtifactRef;
    digest: string;
    manifest: Manifest;
    meta: ArtifactMeta;
}

/** Reads the manifest at a tag or digest; throws when there is none. */
export async function inspectArtifact(url: string, o: RegistryAccess & { where?: string } = {}): Promise<InspectResult> {
    const where = o.where ?? url;
    const ref = parseArtifactRef(url, { insecure: o.insecure, where });
    const client = new RegistryClient(ref, o);
    const reference = ref.digest ?? ref.tag ?? "latest";
    const got = await client.getManifest(reference);
    if (!got) throw new GitopsError(where, `no artifact at ${formatRef(ref)}`, "check the repository and tag, or push the artifact first");
    const manifest = parseManifest(got.bytes, where);
    return { ref, digest: got.digest, manifest, meta: metaOf(manifest) };
}

export interface CopyOptions {
    /** oci://host/repo@sha256:... (or :tag, resolved once; `digest` then pins it). */
    readonly from: string;
    /** oci://host/repo:tag */
    readonly to: string;
    /** The digest that must be copied; refuses when `from` holds another one. */
    readonly digest?: string;
    readonly fromAccess?: RegistryAccess;
    readonly toAccess?: RegistryAccess;
    readonly where?: string;
}

export interface CopyResult {
    digest: string;
    from: string;
    to: string;
    /** Blobs copied (downloaded and uploaded) or mounted; empty when the target had them all. */
    copied: string[];
    mounted: string[];
    /** False when the target tag already pointed at the digest. */
    pushed: boolean;
    meta: ArtifactMeta;
}

/** Copies the manifest at a digest (and its blobs) to another tag: the same bytes, the same digest. */
export async function copyArtifact(o: CopyOptions): Promise<CopyResult> {
    const where = o.where ?? "copy artifact";
    const src = parseArtifactRef(o.from, { insecure: o.fromAccess?.insecure, where });
    const dst = parseArtifactRef(o.to, { insecure: o.toAccess?.insecure, where });
    if (dst.digest || !dst.tag) throw new GitopsError(where, `${o.to} must name a tag to copy to`, 'e.g. "oci://host/fleet:test"');
    const want = o.digest ?? src.digest;
    if (o.digest && src.digest && o.digest !== src.digest) throw new GitopsError(where, `${o.from} names ${src.digest}, but the digest to promote is ${o.digest}`);
    const sc = new RegistryClient(src, o.fromAccess);
    const dc = new RegistryClient(dst, o.toAccess);
    // A tag is read as it is now: promoting a digest the source no longer holds is refused.
    const got = await sc.getManifest(src.digest ?? src.tag ?? "latest");
    if (!got) throw new GitopsError(where, `no artifact at ${o.from}`, "check the source repository, tag and digest");
    if (want && got.digest !== want) {
        throw new GitopsError(where, `${o.from} now holds ${got.digest}, not the verified ${want}; refusing to copy an unverified artifact`, "promote the digest the source stage was verified at");
    }
    const manifest = parseManifest(got.bytes, where);
    const meta = metaOf(manifest);
    if ((await dc.resolve(dst.tag)) === got.digest) return { digest: got.digest, from: o.from, to: o.to, copied: [], mounted: [], pushed: false, meta };
    const copied: string[] = [];
    const mounted: string[] = [];
    const sameRegistry = src.base === dst.base;
    for (const d of [manifest.config, ...manifest.layers].map((x) => x.digest)) {
        if (await dc.hasBlob(d)) continue;
        if (sameRegistry && src.name !== dst.name && (await dc.mountBlob(d, src.name))) {
            mounted.push(d);
            continue;
        }
        await dc.putBlob(await sc.getBlob(d), d);
        copied.push(d);
    }
    const digest = await dc.putManifest(dst.tag, got.bytes, got.mediaType || MEDIA_TYPE.manifest);
    if (digest !== got.digest) throw new GitopsError(where, `copied manifest has digest ${digest}, expected ${got.digest}`);
    return { digest, from: o.from, to: formatRef({ ...dst, digest }), copied, mounted, pushed: true, meta };
}
