/**
 * Registry credentials for ImageRepositories: a kubernetes.io/dockerconfigjson Secret built from
 * gitops:registryCredentials (registry host -> "user:password"). Applied by FleetSync, never in Git.
 */
import type { AppConfig } from "../config/schema";
import type { KubeObject } from "../flux/api";

import { registryHost } from "../images/ref";

export { registryHost };

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
        const entry = dockerAuth(credentials[host]);
        if (!entry) {
            missing.push(`${a.name} (${host})`);
            continue;
        }
        const auths = byName.get(ref) ?? {};
        auths[host] = entry;
        byName.set(ref, auths);
    }
    const secrets = [...byName].map(([name, auths]) => dockerConfigSecret(name, namespace, auths));
    return { secrets, missing };
}

/** A kubernetes.io/dockerconfigjson Secret for the given registry hosts. */
export function dockerConfigSecret(name: string, namespace: string, auths: Record<string, { username: string; password: string; auth: string }>): KubeObject {
    return {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace },
        type: "kubernetes.io/dockerconfigjson",
        stringData: { ".dockerconfigjson": JSON.stringify({ auths }) },
    };
}

/** "user:password" -> the dockerconfigjson entry for one host (undefined when not in that shape). */
export function dockerAuth(cred: string | undefined): { username: string; password: string; auth: string } | undefined {
    if (cred === undefined || !cred.includes(":")) return undefined;
    const i = cred.indexOf(":");
    return { username: cred.slice(0, i), password: cred.slice(i + 1), auth: Buffer.from(cred).toString("base64") };
}
