/**
 * Secret data never leaves the engine in readable form: field changes of a Secret's `data` and
 * `stringData` are masked the way `flux diff` masks them (fluxcd/pkg/ssa SanitizeUnstructuredData):
 * the keys stay, the values become `***`, or `*** (before)` / `*** (after)` when they differ. Errors
 * from applying a Secret have its values redacted, whatever the server quoted.
 */
import { KubeObject } from "../flux/api";
import { MASK, redactSecrets } from "../util/redact";
import { FieldChange } from "./compare";

export const MASK_BEFORE = `${MASK} (before)`;
export const MASK_AFTER = `${MASK} (after)`;

/** The fields of a core Secret that hold secret values. */
const SECRET_FIELDS = new Set(["data", "stringData"]);

/** True for a core v1 Secret. */
export function isSecretObject(obj: Pick<KubeObject, "apiVersion" | "kind">): boolean {
    return obj.kind === "Secret" && obj.apiVersion === "v1";
}

function isMap(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A whole data map with every value masked (its keys kept), or a masked scalar. */
function maskWhole(v: unknown): unknown {
    if (v === undefined || v === null) return v;
    return isMap(v) ? Object.fromEntries(Object.keys(v).map((k) => [k, MASK])) : MASK;
}

/** Field changes of `obj` with Secret values masked; other kinds are returned as they are. */
export function maskSecretChanges(obj: Pick<KubeObject, "apiVersion" | "kind">, changes: FieldChange[]): FieldChange[] {
    if (!isSecretObject(obj)) return changes;
    return changes.map((c) => {
        const top = c.path.split(".")[0];
        if (!SECRET_FIELDS.has(top)) return c;
        if (c.path === top) return { path: c.path, from: maskWhole(c.from), to: maskWhole(c.to) };
        return { path: c.path, from: c.from === undefined ? undefined : MASK_BEFORE, to: c.to === undefined ? undefined : MASK_AFTER };
    });
}

/**
 * Every form in which a Secret's values could show up in a message: as given, base64-decoded
 * (data) or encoded (stringData), and line by line (a PEM key quoted from its second line on).
 */
export function secretValues(obj: KubeObject): string[] {
    if (!isSecretObject(obj)) return [];
    const o = obj as KubeObject & { data?: Record<string, unknown>; stringData?: Record<string, unknown> };
    const out: string[] = [];
    const add = (s: string) => {
        out.push(s);
        for (const line of s.split("\n")) if (line.trim().length >= 8) out.push(line.trim());
    };
    for (const v of Object.values(isMap(o.data) ? o.data : {})) {
        if (typeof v !== "string") continue;
        add(v);
        add(Buffer.from(v, "base64").toString("utf8"));
    }
    for (const v of Object.values(isMap(o.stringData) ? o.stringData : {})) {
        if (typeof v !== "string") continue;
        add(v);
        add(Buffer.from(v, "utf8").toString("base64"));
    }
    return out;
}

/** Takes the values of `obj` (when it is a Secret) out of an error's message; returns the error. */
export function redactObjectError<E>(obj: KubeObject, err: E): E {
    if (!isSecretObject(obj) || !(err instanceof Error)) return err;
    const values = secretValues(obj);
    err.message = redactSecrets(err.message, values);
    if (typeof err.stack === "string") err.stack = redactSecrets(err.stack, values);
    return err;
}
