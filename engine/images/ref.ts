/**
 * The one image-reference splitter: `[host[:port]/]path[:tag][@digest]`, and the registry host an
 * image (or an `oci://` repository URL) is pulled from. No imports, so the config, the engine, the
 * components and the policy pack share it. Validation of each part is the caller's (setters.ts
 * checks the grammar; registry.ts the repository name).
 */

export interface ImageRefParts {
    /** The repository, with its registry host when one is given. */
    readonly name: string;
    readonly tag?: string;
    readonly digest?: string;
}

/** Splits an image reference into name, tag and digest (a ':' after the last '/' starts the tag). */
export function splitImageRef(ref: string): ImageRefParts {
    let rest = ref;
    let digest: string | undefined;
    const at = rest.indexOf("@");
    if (at >= 0) {
        digest = rest.slice(at + 1);
        rest = rest.slice(0, at);
    }
    const colon = rest.lastIndexOf(":");
    if (colon > rest.lastIndexOf("/")) return { name: rest.slice(0, colon), tag: rest.slice(colon + 1), digest };
    return { name: rest, tag: undefined, digest };
}

/**
 * The registry host of an image ("ghcr.io/acme/app" -> "ghcr.io"; "acme/app" -> "docker.io"), or of
 * an `oci://host[:port]/repo` URL (always its first segment): the key of gitops:registryCredentials.
 */
export function registryHost(image: string): string {
    if (/^oci:\/\//i.test(image)) return image.replace(/^oci:\/\//i, "").split("/")[0];
    const first = image.split("/")[0];
    return image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost") ? first : "docker.io";
}
