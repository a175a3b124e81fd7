/**
 * gotk-sync.yaml: the flux-system GitRepository and Kustomization, as `flux bootstrap` writes them.
 * The install itself (gotk-components.yaml) is upstream's, from engine/flux/upstream.ts.
 */
import { API, GitRepository, Kustomization } from "../flux/api";

/** The Secret name Flux reads the deploy key from. */
export const DEPLOY_KEY_SECRET = "flux-system";

/** gotk-sync.yaml: the flux-system GitRepository and the Kustomization that syncs clusters/<env>. */
export function fluxSync(opts: { namespace: string; url: string; branch: string; path: string; interval: string; syncInterval: string; secret: boolean }): [GitRepository, Kustomization] {
    return [
        {
            apiVersion: API.source,
            kind: "GitRepository",
            metadata: { name: "flux-system", namespace: opts.namespace },
            spec: {
                interval: opts.interval,
                ref: { branch: opts.branch },
                ...(opts.secret ? { secretRef: { name: DEPLOY_KEY_SECRET } } : {}),
                url: opts.url,
            },
        },
        {
            apiVersion: API.kustomize,
            kind: "Kustomization",
            metadata: { name: "flux-system", namespace: opts.namespace },
            spec: {
                interval: opts.syncInterval,
                path: `./${opts.path.replace(/^\.?\//, "")}`,
                prune: true,
                sourceRef: { kind: "GitRepository", name: "flux-system" },
            },
        },
    ];
}
