import * as pulumi from "@pulumi/pulumi";
import type { KubeObject } from "../../engine/flux/api";

/**
 * Base of the components that declare one object into the fleet repo. They apply nothing
 * themselves: their `manifest` is written to Git and committed by FleetSync, and Flux applies it.
 *
 * A subclass with computed outputs of its own (rollout times, webhook URLs) passes
 * `deferOutputs: true` and calls `register({...})` at the end of its constructor.
 */
export abstract class ManifestComponent<T extends KubeObject> extends pulumi.ComponentResource {
    /** The object as it is written to the fleet repo. */
    readonly manifest: T;
    /** The object's inventory id, `<namespace>_<name>_<group>_<kind>`. */
    readonly objectId: string;

    protected constructor(type: string, name: string, manifest: T, opts?: pulumi.ComponentResourceOptions, deferOutputs = false) {
        super(type, name, {}, opts);
        this.manifest = manifest;
        const group = manifest.apiVersion.includes("/") ? manifest.apiVersion.split("/")[0] : "";
        this.objectId = `${manifest.metadata.namespace ?? ""}_${manifest.metadata.name}_${group}_${manifest.kind}`;
        if (!deferOutputs) this.register({});
    }

    /** Registers the manifest, its id and any outputs of the subclass; called once. */
    protected register(outputs: Record<string, unknown>): void {
        this.registerOutputs({ manifest: this.manifest, objectId: this.objectId, ...outputs });
    }
}
