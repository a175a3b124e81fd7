/**
 * Registry credentials for ImageRepositories: a kubernetes.io/dockerconfigjson Secret built from
 * gitops:registryCredentials (registry host -> "user:password"). Applied by FleetSync, never in Git.
 */
import type { AppConfig } from "../config/schema";
import type { KubeObject } from "../flux/api";

/** The registry host of an image reference ("ghcr.io/acme/app" -> "ghcr.io"; "acme/app" -> "docker.io"). */
export function registryHost(image: string): string {
    const first = image.split("/")[0];
    return image.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost") ? first : "docker.io";
}

/**
 * One dockerconfigjson Secret per distinct imagePolicy.secretRef, for apps whose registry has
 * credentials. Returns the Secrets and the apps whose secretRef has no credentials (to warn about).
 */
export function registrySecrets(apps: AppConfig[], namespace: string, credentials: Record<string, string>): { secrets: KubeObject[]; missing: string[] } {
    const byName = new Map<string, Record<string, { username: string; password: string; auth: string }>>();
    const missing: string[] = [];
    for (const a of apps) {
        const ref = a.imagePolicy?.secretRef;
        if (!ref) continue;
        const host = registryHost(a.image);
        const cred = credentials[host];
        if (cred === undefined || !cred.includes(":")) {
            missing.push(`${a.name} (${host})`);
            continue;
        }
        const i = cred.indexOf(":");
        const auths = byName.get(ref) ?? {};
        auths[host] = { username: cred.slice(0, i), password: cred.slice(i + 1), auth: Buffer.from(cred).toString("base64") };
        byName.set(ref, auths);
    }
    const secrets = [...byName].map(
        ([name, auths]): KubeObject => ({
            apiVersion: "v1",
            kind: "Secret",
            metadata: { name, namespace },
            type: "kubernetes.io/dockerconfigjson",
            stringData: { ".dockerconfigjson": JSON.stringify({ auths }) },
        }),
    );
    return { secrets, missing };
}
