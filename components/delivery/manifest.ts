import * as pulumi from "@pulumi/pulumi";
import type { KubeObject } from "../../engine/flux/api";

/**
 * Like ManifestComponent (components/flux/manifest.ts): declares one object into the fleet repo and
 * applies nothing; in addition it registers computed outputs of its own (times, webhook URLs).
 * The subclass must call `register(...)` at the end of its constructor.
 */
export abstract class ManifestWithOutputs<T extends KubeObject> extends pulumi.ComponentResource {
    /** The object as it is written to the fleet repo. */
    readonly manifest: T;
    /** The object's inventory id, `<namespace>_<name>_<group>_<kind>`. */
    readonly objectId: string;

    protected constructor(type: string, name: string, manifest: T, opts?: pulumi.ComponentResourceOptions) {
        super(type, name, {}, opts);
        this.manifest = manifest;
        const group = manifest.apiVersion.includes("/") ? manifest.apiVersion.split("/")[0] : "";
        this.objectId = `${manifest.metadata.namespace ?? ""}_${manifest.metadata.name}_${group}_${manifest.kind}`;
    }

    protected register(outputs: Record<string, unknown>): void {
        this.registerOutputs({ manifest: this.manifest, objectId: this.objectId, ...outputs });
    }
}
