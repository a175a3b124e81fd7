/**
 * FluxBootstrap: what `flux bootstrap github --components-extra=image-reflector-controller,
 * image-automation-controller` sets up, as objects handed to FleetSync (which applies them to the
 * cluster and commits the same files to the fleet repo, so Git and cluster agree):
 *   - the flux-system namespace and the controllers of the pinned Flux version (gotk-components),
 *   - the flux-system GitRepository and Kustomization for clusters/<stack> (gotk-sync),
 *   - for an ssh:// fleet URL, a generated deploy key: the private key in the flux-system Secret
 *     (applied directly, never in Git), the public key for the repository host.
 * This component applies nothing itself.
 */
import * as pulumi from "@pulumi/pulumi";
import type { KubeObject } from "../../engine/flux/api";
import { DEPLOY_KEY_SECRET } from "../../engine/fleet/flux-sync";
import { GITHUB_KNOWN_HOSTS } from "../../engine/keys/ssh";
import { DeployKey } from "../keys/deploy-key";

export interface FluxBootstrapArgs {
    /** gotk-components + gotk-sync objects (from the fleet plan). */
    readonly objects: KubeObject[];
    /** Namespace of Flux. Default "flux-system". */
    readonly namespace?: string;
    /** The URL Flux pulls the fleet repo from. An ssh:// URL gets a deploy key. */
    readonly clusterUrl: string;
    /** known_hosts for the repository host. Default: GitHub's host keys. */
    readonly knownHosts?: string;
    /** Whether the key must be allowed to push (image automation). Default false: read-only. */
    readonly needsWrite?: boolean;
}

export class FluxBootstrap extends pulumi.ComponentResource {
    /** Objects applied directly by FleetSync (and committed under clusters/<stack>/flux-system). */
    readonly objects: KubeObject[];
    /** The deploy key Secret (secret output), or an empty list when the URL needs no key. */
    readonly secrets: pulumi.Output<KubeObject[]>;
    /** The public key to register with the repository host, when a key was generated. */
    readonly publicKey?: pulumi.Output<string>;
    readonly deployKey?: DeployKey;
    /** Whether the key must be a write key (image automation pushes). */
    readonly readOnly: boolean;

    constructor(name: string, args: FluxBootstrapArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:flux:FluxBootstrap", name, {}, opts);
        const ns = args.namespace ?? "flux-system";
        this.objects = args.objects;
        this.readOnly = !args.needsWrite;
        if (/^ssh:\/\//.test(args.clusterUrl)) {
            this.deployKey = new DeployKey(`${name}-deploy-key`, { comment: `flux-${ns}` }, { parent: this });
            this.publicKey = this.deployKey.publicKey;
            const knownHosts = args.knownHosts ?? GITHUB_KNOWN_HOSTS;
            this.secrets = pulumi.secret(
                pulumi.all([this.deployKey.privateKey, this.deployKey.publicKey]).apply(([priv, pub]) => [
                    {
                        apiVersion: "v1",
                        kind: "Secret",
                        metadata: { name: DEPLOY_KEY_SECRET, namespace: ns },
                        type: "Opaque",
                        stringData: { identity: priv, "identity.pub": pub, known_hosts: knownHosts },
                    } as KubeObject,
                ]),
            ) as unknown as pulumi.Output<KubeObject[]>;
        } else {
            this.secrets = pulumi.output([] as KubeObject[]) as unknown as pulumi.Output<KubeObject[]>;
        }
        this.registerOutputs({ secrets: this.secrets, publicKey: this.publicKey, readOnly: this.readOnly });
    }
}
