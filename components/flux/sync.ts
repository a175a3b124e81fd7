/** Flux sync objects as typed components: FluxKustomization (kustomize.toolkit.fluxcd.io/v1) and FluxHelmRelease (helm.toolkit.fluxcd.io/v2). */
import * as pulumi from "@pulumi/pulumi";
import type { ReleaseConfig } from "../../engine/config";
import { HelmRelease, Kustomization } from "../../engine/flux/api";
import { helmRelease, kustomization, KustomizationInput } from "../../engine/fleet/objects";
import { ManifestComponent } from "./manifest";

export interface FluxKustomizationArgs {
    /** The Kustomization's metadata.name. Default: the resource name. */
    readonly objectName?: string;
    /** Default "flux-system". */
    readonly namespace?: string;
    /** Path in the source, e.g. "./apps/dev". */
    readonly path: string;
    /** Default the flux-system GitRepository. */
    readonly sourceRef?: KustomizationInput["sourceRef"];
    /** Default "10m0s". */
    readonly interval?: string;
    /** Default true. */
    readonly prune?: boolean;
    readonly wait?: boolean;
    readonly timeout?: string;
    readonly retryInterval?: string;
    /** Names of Kustomizations (same namespace) that must be Ready first. */
    readonly dependsOn?: string[];
    readonly healthChecks?: Array<{ apiVersion?: string; kind: string; name: string; namespace?: string }>;
    readonly targetNamespace?: string;
    /** postBuild.substitute */
    readonly substitute?: Record<string, string>;
    /** postBuild.substituteFrom */
    readonly substituteFrom?: Array<{ kind: "ConfigMap" | "Secret"; name: string; optional?: boolean }>;
    /** SOPS decryption with keys from this Secret. */
    readonly decryption?: { provider: "sops"; secretRef: string };
}

export class FluxKustomization extends ManifestComponent<Kustomization> {
    constructor(name: string, args: FluxKustomizationArgs, opts?: pulumi.ComponentResourceOptions) {
        super(
            "gitops:flux:Kustomization",
            name,
            kustomization({
                ...args,
                name: args.objectName ?? name,
                namespace: args.namespace ?? "flux-system",
                sourceRef: args.sourceRef ?? { kind: "GitRepository", name: "flux-system" },
                interval: args.interval ?? "10m0s",
            }),
            opts,
        );
    }
}

export type FluxHelmReleaseArgs = Omit<ReleaseConfig, "name"> & {
    /** The HelmRelease's metadata.name. Default: the resource name. */
    readonly objectName?: string;
    /** Namespace of the HelmRepository named by `source`. Default "flux-system". */
    readonly sourceNamespace?: string;
};

export class FluxHelmRelease extends ManifestComponent<HelmRelease> {
    constructor(name: string, args: FluxHelmReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:flux:HelmRelease", name, helmRelease({ ...args, name: args.objectName ?? name }, args.sourceNamespace ?? "flux-system"), opts);
    }
}
