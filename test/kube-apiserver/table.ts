/**
 * Server-side printing: the meta.k8s.io/v1 Table that `kubectl get` asks for
 * (Accept: application/json;as=Table;v=v1;g=meta.k8s.io). Built-in kinds get Name and Age;
 * CRDs get Name, their additionalPrinterColumns, and Age when they declare none.
 */
import { ResourceType } from "./registry";

export function wantsTable(accept: string | undefined): boolean {
    return !!accept && /as=Table/.test(accept);
}

/** Go's duration.HumanDuration, as kubectl shows ages. */
export function humanDuration(ms: number): string {
    const s = Math.floor(ms / 1000);
    if (s < 0) return "0s";
    if (s < 120) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
    if (m < 180) return `${m}m`;
    const h = Math.floor(m / 60);
    if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
    if (h < 48) return `${h}h`;
    const d = Math.floor(h / 24);
    if (h < 192) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
    if (d < 365 * 2) return `${d}d`;
    return `${Math.floor(d / 365)}y`;
}

/** A small JSONPath subset: `.a.b`, `.a[0]`, `.a[?(@.type=="Ready")].status`. */
export function jsonPath(obj: any, path: string): any {
    let cur: any[] = [obj];
    const re = /\.([A-Za-z0-9_-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*["']([^"']*)["']\)\]/g;
    const p = path.replace(/^\{|\}$/g, "");
    let m: RegExpExecArray | null;
    while ((m = re.exec(p))) {
        const next: any[] = [];
        for (const c of cur) {
            if (c === undefined || c === null) continue;
            if (m[1] !== undefined) next.push(c[m[1]]);
            else if (m[2] !== undefined) next.push(Array.isArray(c) ? c[Number(m[2])] : undefined);
            else if (Array.isArray(c)) next.push(...c.filter((x) => String(x?.[m![3]]) === m![4]));
        }
        cur = next;
    }
    return cur.find((x) => x !== undefined);
}

export function toTable(t: ResourceType, objs: any[], includeObject: string | undefined, resourceVersion: string): any {
    const cols: Array<{ name: string; type: string; format: string; description: string; priority: number; jsonPath?: string }> = [
        { name: "Name", type: "string", format: "name", description: "Name must be unique within a namespace.", priority: 0 },
    ];
    const printer = t.printerColumns ?? [];
    for (const c of printer) {
        cols.push({ name: c.name, type: c.type, format: c.format ?? "", description: c.description ?? "", priority: c.priority ?? 0, jsonPath: c.jsonPath });
    }
    if (!printer.length) {
        cols.push({ name: "Age", type: "string", format: "", description: "CreationTimestamp is a timestamp representing the server time when this object was created.", priority: 0, jsonPath: ".metadata.creationTimestamp" });
    }
    const rows = objs.map((o) => {
        const cells = cols.map((c) => {
            if (!c.jsonPath) return o.metadata.name;
            const v = jsonPath(o, c.jsonPath);
            if (c.type === "date" || c.jsonPath === ".metadata.creationTimestamp") {
                return typeof v === "string" ? humanDuration(Date.now() - Date.parse(v)) : "<unknown>";
            }
            if (v === undefined) return null;
            return typeof v === "object" ? JSON.stringify(v) : v;
        });
        const row: any = { cells };
        if (includeObject === "Object") row.object = o;
        else if (includeObject !== "None") {
            row.object = { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: o.metadata };
        }
        return row;
    });
    return {
        kind: "Table", apiVersion: "meta.k8s.io/v1", metadata: { resourceVersion },
        columnDefinitions: cols.map(({ jsonPath: _j, ...c }) => c), rows,
    };
}
