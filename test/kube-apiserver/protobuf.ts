/**
 * Just enough of Kubernetes' protobuf encoding to read the request bodies typed clients send:
 * `kubectl create namespace|configmap|secret|serviceaccount` POST
 * application/vnd.kubernetes.protobuf (the "k8s\0" magic and a runtime.Unknown envelope around
 * the object) and client-go does not fall back to JSON on 415. Field numbers follow
 * k8s.io/api/core/v1/generated.proto and k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto.
 * Other kinds answer 415 (the caller's job).
 */

type Field = { wt: number; v: Buffer | bigint };

function fields(buf: Buffer): Map<number, Field[]> {
    const out = new Map<number, Field[]>();
    let i = 0;
    const varint = (): bigint => {
        let result = 0n, shift = 0n;
        for (;;) {
            if (i >= buf.length) throw new Error("truncated varint");
            const b = buf[i++];
            result |= BigInt(b & 0x7f) << shift;
            if (!(b & 0x80)) return result;
            shift += 7n;
        }
    };
    while (i < buf.length) {
        const key = Number(varint());
        const num = key >> 3, wt = key & 7;
        let v: Buffer | bigint;
        if (wt === 0) v = varint();
        else if (wt === 2) {
            const len = Number(varint());
            v = buf.subarray(i, i + len);
            i += len;
        } else if (wt === 1) { v = buf.subarray(i, i + 8); i += 8; }
        else if (wt === 5) { v = buf.subarray(i, i + 4); i += 4; }
        else throw new Error(`unsupported wire type ${wt}`);
        const list = out.get(num) ?? [];
        list.push({ wt, v });
        out.set(num, list);
    }
    return out;
}

const str = (f: Map<number, Field[]>, n: number) => { const x = f.get(n)?.[0]; return x ? (x.v as Buffer).toString("utf8") : undefined; };
const strs = (f: Map<number, Field[]>, n: number) => (f.get(n) ?? []).map((x) => (x.v as Buffer).toString("utf8"));
const bool = (f: Map<number, Field[]>, n: number) => { const x = f.get(n)?.[0]; return x ? x.v !== 0n : undefined; };
const msg = (f: Map<number, Field[]>, n: number) => { const x = f.get(n)?.[0]; return x ? fields(x.v as Buffer) : undefined; };

function map(f: Map<number, Field[]>, n: number, bytes = false): Record<string, string> | undefined {
    const entries = f.get(n);
    if (!entries) return undefined;
    const out: Record<string, string> = {};
    for (const e of entries) {
        const kv = fields(e.v as Buffer);
        const k = str(kv, 1) ?? "";
        const raw = kv.get(2)?.[0]?.v as Buffer | undefined;
        out[k] = bytes ? (raw ?? Buffer.alloc(0)).toString("base64") : (raw ?? Buffer.alloc(0)).toString("utf8");
    }
    return out;
}

function objectMeta(f: Map<number, Field[]> | undefined): any {
    const m: any = {};
    if (!f) return m;
    const set = (k: string, v: unknown) => { if (v !== undefined && v !== "") m[k] = v; };
    set("name", str(f, 1));
    set("generateName", str(f, 2));
    set("namespace", str(f, 3));
    set("resourceVersion", str(f, 6));
    set("labels", map(f, 11));
    set("annotations", map(f, 12));
    const fin = strs(f, 14);
    if (fin.length) m.finalizers = fin;
    return m;
}

/** Decodes a protobuf request body to a plain object, or returns undefined for kinds it does not know. */
export function decodeProtobuf(body: Buffer): any | undefined {
    if (body.length < 4 || body.subarray(0, 4).toString("latin1") !== "k8s\0") return undefined;
    const unknown = fields(body.subarray(4));
    const typeMeta = msg(unknown, 1);
    const apiVersion = typeMeta ? str(typeMeta, 1) : undefined;
    const kind = typeMeta ? str(typeMeta, 2) : undefined;
    const rawField = unknown.get(2)?.[0]?.v as Buffer | undefined;
    if (!apiVersion || !kind || !rawField) return undefined;
    const f = fields(rawField);
    const obj: any = { apiVersion, kind, metadata: objectMeta(msg(f, 1)) };
    if (apiVersion !== "v1") return undefined;
    switch (kind) {
        case "Namespace": {
            const spec = msg(f, 2);
            const fin = spec ? strs(spec, 1) : [];
            if (fin.length) obj.spec = { finalizers: fin };
            return obj;
        }
        case "ConfigMap": {
            const data = map(f, 2), binary = map(f, 3, true), immutable = bool(f, 4);
            if (data) obj.data = data;
            if (binary) obj.binaryData = binary;
            if (immutable !== undefined) obj.immutable = immutable;
            return obj;
        }
        case "Secret": {
            const data = map(f, 2, true), type = str(f, 3), stringData = map(f, 4), immutable = bool(f, 5);
            if (data) obj.data = data;
            if (type) obj.type = type;
            if (stringData) obj.stringData = stringData;
            if (immutable !== undefined) obj.immutable = immutable;
            return obj;
        }
        case "ServiceAccount": {
            const automount = bool(f, 4);
            if (automount !== undefined) obj.automountServiceAccountToken = automount;
            return obj;
        }
        default:
            return undefined;
    }
}
