/** Flux sources as typed components: GitSource, OciSource, HelmSource (source.toolkit.fluxcd.io/v1). */
import * as pulumi from "@pulumi/pulumi";
import type { SourceConfig } from "../../engine/config";
import { GitRepository, HelmRepository, OCIRepository } from "../../engine/flux/api";
import { gitRepository, helmRepository, ociRepository } from "../../engine/fleet/objects";
import { ManifestComponent } from "./manifest";

interface CommonSourceArgs {
    /** Namespace of the source object. Default "flux-system". */
    readonly namespace?: string;
    readonly url: string;
    /** Reconcile interval. Default "1m0s" (git, oci), "1h0m0s" (helm). */
    readonly interval?: string;
    /** Secret with credentials in the source's namespace. */
    readonly secretRef?: string;
}

export interface GitSourceArgs extends CommonSourceArgs {
    /** Exactly one of branch, tag, semver, commit, name. Default { branch: "main" }. */
    readonly ref?: { branch?: string; tag?: string; semver?: string; commit?: string; name?: string };
    /** .sourceignore-style patterns. */
    readonly ignore?: string;
    /** Verify commit/tag signatures with the keys in secretRef. */
    readonly verify?: { mode?: "HEAD" | "Tag" | "TagAndHEAD"; secretRef: string };
}

export class GitSource extends ManifestComponent<GitRepository> {
    constructor(name: string, args: GitSourceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:flux:GitSource", name, gitRepository(toSource(name, "git", args)), opts);
    }
}

export interface OciSourceArgs extends CommonSourceArgs {
    /** One of tag, semver (with optional semverFilter), digest. Default { tag: "latest" }. */
    readonly ref?: { tag?: string; semver?: string; semverFilter?: string; digest?: string };
    /** Which layer to extract or copy. */
    readonly layerSelector?: { mediaType?: string; operation?: "extract" | "copy" };
    /** Verify the artifact's signature with cosign (keyless when no secretRef). */
    readonly verify?: { provider?: "cosign" | "notation"; secretRef?: string; matchOIDCIdentity?: Array<{ issuer: string; subject: string }> };
    readonly provider?: "generic" | "aws" | "azure" | "gcp";
    readonly ignore?: string;
    /** Plain HTTP to the registry. */
    readonly insecure?: boolean;
}

export class OciSource extends ManifestComponent<OCIRepository> {
    constructor(name: string, args: OciSourceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:flux:OciSource", name, ociRepository(toSource(name, "oci", args)), opts);
    }
}

export interface HelmSourceArgs extends CommonSourceArgs {
    /** "default" (an index.yaml repository) or "oci". Default: "oci" for oci:// URLs. */
    readonly type?: "default" | "oci";
    readonly provider?: "generic" | "aws" | "azure" | "gcp";
    /** Plain HTTP to an OCI registry (type "oci" only). */
    readonly insecure?: boolean;
}

export class HelmSource extends ManifestComponent<HelmRepository> {
    constructor(name: string, args: HelmSourceArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:flux:HelmSource", name, helmRepository(toSource(name, "helm", { ...args, type: args.type ?? (args.url.startsWith("oci://") ? "oci" : "default") } as HelmSourceArgs)), opts);
    }
}

function toSource(name: string, kind: SourceConfig["kind"], args: CommonSourceArgs): SourceConfig {
    const a = args as CommonSourceArgs & Record<string, unknown>;
    return {
        name,
        kind,
        namespace: a.namespace ?? "flux-system",
        url: a.url,
        interval: a.interval ?? (kind === "helm" ? "1h0m0s" : "1m0s"),
        secretRef: a.secretRef,
        ref: a.ref as Record<string, string> | undefined,
        ignore: a.ignore as string | undefined,
        verify: a.verify as SourceConfig["verify"],
        layerSelector: a.layerSelector as SourceConfig["layerSelector"],
        type: a.type as SourceConfig["type"],
        provider: a.provider as string | undefined,
        insecure: a.insecure === true ? true : undefined,
    };
}

/** The component for one configured source. */
export function sourceComponent(s: SourceConfig, opts?: pulumi.ComponentResourceOptions): GitSource | OciSource | HelmSource {
    const args = { ...s, ref: s.ref, verify: s.verify } as never;
    return s.kind === "git" ? new GitSource(s.name, args, opts) : s.kind === "oci" ? new OciSource(s.name, args, opts) : new HelmSource(s.name, args, opts);
}
