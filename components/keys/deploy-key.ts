/**
 * DeployKey: an Ed25519 SSH key pair generated once and kept in the state, the private key as a
 * secret. Changing `rotation` replaces it (a new key). Generated in-process (engine/keys), so it
 * needs no provider plugin.
 */
import * as pulumi from "@pulumi/pulumi";
import { engine } from "../dynamic";

const deployKeyProvider: pulumi.dynamic.ResourceProvider = {
    async diff(_id: string, olds: { rotation?: string; comment?: string }, news: { rotation?: string; comment?: string }) {
        const replaces = (["rotation", "comment"] as const).filter((k) => (olds[k] ?? "") !== (news[k] ?? ""));
        return { changes: replaces.length > 0, replaces };
    },
    async create(inputs: { rotation?: string; comment?: string }) {
        const k = engine("keys/ssh").generateEd25519(inputs.comment ?? "gitops-platform");
        return { id: k.fingerprint, outs: { ...inputs, privateKey: k.privateKey, publicKey: k.publicKey, fingerprint: k.fingerprint } };
    },
};

export interface DeployKeyArgs {
    /** Comment in the public key. Default "gitops-platform". */
    readonly comment?: string;
    /** Change this (e.g. to a date) to rotate the key. */
    readonly rotation?: string;
}

export class DeployKey extends pulumi.dynamic.Resource {
    /** OpenSSH private key (secret). */
    declare readonly privateKey: pulumi.Output<string>;
    /** authorized_keys line. */
    declare readonly publicKey: pulumi.Output<string>;
    declare readonly fingerprint: pulumi.Output<string>;

    constructor(name: string, args: DeployKeyArgs = {}, opts?: pulumi.CustomResourceOptions) {
        super(
            deployKeyProvider,
            name,
            { comment: args.comment ?? "gitops-platform", rotation: args.rotation ?? "", privateKey: undefined, publicKey: undefined, fingerprint: undefined },
            { ...opts, additionalSecretOutputs: ["privateKey"] },
            "gitops",
            "DeployKey",
        );
    }
}
