/**
 * gotk-sync.yaml: the flux-system source and Kustomization, as `flux bootstrap` writes them (a
 * GitRepository, or with gitops:fleet.oci an OCIRepository). The install itself
 * (gotk-components.yaml) is upstream's, from engine/flux/upstream.ts.
 */
import type { FleetOciSettings } from "../config/schema";
import { API, GitRepository, Kustomization, OCIRepository } from "../flux/api";

/** The Secret name Flux reads the deploy key from. */
export const DEPLOY_KEY_SECRET = "flux-system";

/** The kind of the flux-system source: an OCIRepository when the fleet is published as an OCI artifact (gitops:fleet.oci). */
export function fleetSourceKind(oci: FleetOciSettings | undefined): "GitRepository" | "OCIRepository" {
    return oci ? "OCIRepository" : "GitRepository";
}

/** The flux-system OCIRepository that pulls the environment's artifact (gitops:fleet.oci). */
export function fleetOciRepository(namespace: string, interval: string, oci: FleetOciSettings): OCIRepository {
    return {
        apiVersion: API.source,
        kind: "OCIRepository",
        metadata: { name: "flux-system", namespace },
        spec: {
            interval,
            url: oci.clusterRepository,
            ref: { tag: oci.tag },
            ...(oci.insecure ? { insecure: true } : {}),
            ...(oci.secretRef ? { secretRef: { name: oci.secretRef } } : {}),
            ...(oci.verify
                ? {
                      verify: {
                          provider: oci.verify.provider,
                          ...(oci.verify.secretRef ? { secretRef: { name: oci.verify.secretRef } } : {}),
                          ...(oci.verify.matchOIDCIdentity ? { matchOIDCIdentity: oci.verify.matchOIDCIdentity } : {}),
                      },
                  }
                : {}),
        },
    };
}

/**
 * gotk-sync.yaml: the flux-system source (a GitRepository, or with gitops:fleet.oci an
 * OCIRepository) and the Kustomization that syncs clusters/<env> from it.
 */
export function fluxSync(opts: { namespace: string; url: string; branch: string; path: string; interval: string; syncInterval: string; secret: boolean; oci?: FleetOciSettings }): [GitRepository | OCIRepository, Kustomization] {
    const source: GitRepository | OCIRepository = opts.oci
        ? fleetOciRepository(opts.namespace, opts.interval, opts.oci)
        : {
              apiVersion: API.source,
              kind: "GitRepository",
              metadata: { name: "flux-system", namespace: opts.namespace },
              spec: {
                  interval: opts.interval,
                  ref: { branch: opts.branch },
                  ...(opts.secret ? { secretRef: { name: DEPLOY_KEY_SECRET } } : {}),
                  url: opts.url,
              },
          };
    return [
        source,
        {
            apiVersion: API.kustomize,
            kind: "Kustomization",
            metadata: { name: "flux-system", namespace: opts.namespace },
            spec: {
                interval: opts.syncInterval,
                path: `./${opts.path.replace(/^\.?\//, "")}`,
                prune: true,
                sourceRef: { kind: fleetSourceKind(opts.oci), name: "flux-system" },
            },
        },
    ];
}
