import * as pulumi from "@pulumi/pulumi";
import type { KubeObject } from "../../engine/flux/api";

/**
 * Base of the components that declare a Flux object into the fleet repo. They apply nothing
 * themselves: their `manifest` is written to Git and committed by FleetSync, and Flux applies it.
 */
export abstract class ManifestComponent<T extends KubeObject> extends pulumi.ComponentResource {
    /** The object as it is written to the fleet repo. */
    readonly manifest: T;
    /** The object's inventory id, `<namespace>_<name>_<group>_<kind>`. */
    readonly objectId: string;

    protected constructor(type: string, name: string, manifest: T, opts?: pulumi.ComponentResourceOptions) {
        super(type, name, {}, opts);
        this.manifest = manifest;
        const [group] = manifest.apiVersion.includes("/") ? manifest.apiVersion.split("/") : [""];
        this.objectId = `${manifest.metadata.namespace ?? ""}_${manifest.metadata.name}_${group}_${manifest.kind}`;
        this.registerOutputs({ manifest, objectId: this.objectId });
    }
}
