/** The objects the cluster benches apply: Namespaces, Deployments (one in four) and ConfigMaps. */

export interface ObjectsOptions {
    /** How many Namespaces the objects spread over (they count towards n). Default 10. */
    readonly namespaces?: number;
    /** Namespace name prefix. Default "bench". */
    readonly prefix?: string;
    /** Deployment replicas. Default 2 (0 on a real control plane keeps Pods out of the timing). */
    readonly replicas?: number;
}

export function benchObjects(n: number, opts: ObjectsOptions = {}): any[] {
    const namespaces = opts.namespaces ?? 10;
    const prefix = opts.prefix ?? "bench";
    const out: any[] = [];
    for (let i = 0; i < namespaces; i++) out.push({ apiVersion: "v1", kind: "Namespace", metadata: { name: `${prefix}-${i}` } });
    for (let i = 0; out.length < n; i++) {
        const ns = `${prefix}-${i % namespaces}`;
        if (i % 4 === 0) {
            out.push({
                apiVersion: "apps/v1",
                kind: "Deployment",
                metadata: { name: `app-${i}`, namespace: ns, labels: { app: `app-${i}` } },
                spec: {
                    replicas: opts.replicas ?? 2,
                    selector: { matchLabels: { app: `app-${i}` } },
                    template: {
                        metadata: { labels: { app: `app-${i}` } },
                        spec: { containers: [{ name: "app", image: `ghcr.io/stefanprodan/podinfo:6.${i % 9}.0`, ports: [{ containerPort: 9898 }] }] },
                    },
                },
            });
        } else {
            out.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: `cfg-${i}`, namespace: ns }, data: { key: `value-${i}`, other: "x".repeat(64) } });
        }
    }
    return out;
}
