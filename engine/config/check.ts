/**
 * A tiny structural checker for stack config. Each reader takes the raw value and its key path
 * (`gitops:cluster.k3d.agents`) and either returns a typed value or records an error that names
 * the key and the expected shape. Errors are collected, so one run reports every problem.
 */

/** The config namespace: every setting is `gitops:<key>`. */
export const NS = "gitops";

export class ConfigErrors {
    readonly messages: string[] = [];
    add(key: string, expected: string, got: unknown): void {
        this.messages.push(`${key} ${expected}; got ${describe(got)}`);
    }
    addRaw(message: string): void {
        this.messages.push(message);
    }
    get empty(): boolean {
        return this.messages.length === 0;
    }
}

export function describe(v: unknown): string {
    if (v === undefined) return "nothing";
    if (v === null) return "null";
    if (typeof v === "string") return JSON.stringify(redactUrl(v));
    if (Array.isArray(v)) return "a list";
    if (typeof v === "object") return "an object";
    return `${typeof v} ${JSON.stringify(v)}`;
}

/** Query parameters that carry credentials (webhook tokens, signed URLs). */
export const SECRET_QUERY = /^(token|access_token|api[-_]?key|key|secret|password|passwd|sig|signature|auth|code|x-amz-signature)$/i;

/** `s` with URL user info and credential-bearing query values masked, safe to print. */
export function redactUrl(s: string): string {
    return s
        .replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@?#\s"]*@/gi, "$1***@")
        .replace(/([?&])([^=&#\s"]+)=([^&#\s"]*)/g, (m, sep: string, k: string) => (SECRET_QUERY.test(k) ? `${sep}${k}=***` : m));
}

/** A value rule (engine/config/validate.ts): what is wrong and what to do, or undefined. */
export type Rule = (value: string) => { what: string; fix: string } | undefined;

/** A value at a key path; every reader reports against `key`. */
export class Node {
    constructor(
        readonly key: string,
        readonly value: unknown,
        readonly errors: ConfigErrors,
    ) {}

    get present(): boolean {
        return this.value !== undefined && this.value !== null;
    }

    /** The child at `name` (an object field); absent parents yield absent children. */
    at(name: string): Node {
        const v = isPlainObject(this.value) ? this.value[name] : undefined;
        return new Node(`${this.key}.${name}`, v, this.errors);
    }

    /** Checks the value is an object whose keys are all in `allowed`; unknown keys are errors. */
    object(allowed: readonly string[], required = false): boolean {
        if (!this.present) {
            if (required) this.errors.add(this.key, "is required (an object)", this.value);
            return false;
        }
        if (!isPlainObject(this.value)) {
            this.errors.add(this.key, "must be an object", this.value);
            return false;
        }
        for (const k of Object.keys(this.value)) {
            if (!allowed.includes(k)) {
                this.errors.addRaw(`${this.key}.${k} is not a known setting; expected one of ${allowed.join(", ")}`);
            }
        }
        return true;
    }

    string(def?: string, opts: StringOptions = {}): string {
        if (!this.present) {
            if (def === undefined) {
                this.errors.add(this.key, "is required (a string)", this.value);
                return "";
            }
            return def;
        }
        if (typeof this.value !== "string") {
            this.errors.add(this.key, "must be a string", this.value);
            return def ?? "";
        }
        if ((opts.nonEmpty ?? true) && this.value.length === 0) {
            this.errors.add(this.key, "must not be empty", this.value);
        } else if (opts.pattern && !opts.pattern.test(this.value)) {
            this.errors.add(this.key, `must be ${opts.patternText ?? `a string matching ${opts.pattern}`}`, this.value);
        } else {
            for (const rule of [opts.rule ?? []].flat()) {
                const p = rule(this.value);
                if (p) {
                    this.errors.addRaw(`${this.key} ${p.what} (${p.fix})`);
                    break;
                }
            }
        }
        return this.value;
    }

    optionalString(opts: StringOptions = {}): string | undefined {
        if (!this.present) return undefined;
        return this.string(undefined, opts);
    }

    oneOf<T extends string>(choices: readonly T[], def?: T): T {
        if (!this.present) {
            if (def === undefined) {
                this.errors.add(this.key, `is required; one of ${choices.join(", ")}`, this.value);
                return choices[0];
            }
            return def;
        }
        if (typeof this.value !== "string" || !choices.includes(this.value as T)) {
            this.errors.add(this.key, `must be one of ${choices.join(", ")}`, this.value);
            return def ?? choices[0];
        }
        return this.value as T;
    }

    int(def: number | undefined, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): number {
        if (!this.present) {
            if (def === undefined) this.errors.add(this.key, "is required (a whole number)", this.value);
            return def ?? 0;
        }
        const v = this.value;
        if (typeof v !== "number" || !Number.isInteger(v)) {
            this.errors.add(this.key, "must be a whole number", v);
            return def ?? 0;
        }
        if (v < min || v > max) {
            this.errors.add(this.key, `must be between ${min} and ${max}`, v);
        }
        return v;
    }

    optionalInt(min?: number, max?: number): number | undefined {
        return this.present ? this.int(undefined, min, max) : undefined;
    }

    bool(def: boolean): boolean {
        if (!this.present) return def;
        if (typeof this.value !== "boolean") {
            this.errors.add(this.key, "must be true or false", this.value);
            return def;
        }
        return this.value;
    }

    optionalBool(): boolean | undefined {
        return this.present ? this.bool(false) : undefined;
    }

    /** A list; each element is read by `item` with key `key[i]`. */
    list<T>(item: (n: Node, i: number) => T, def: T[] = []): T[] {
        if (!this.present) return def;
        if (!Array.isArray(this.value)) {
            this.errors.add(this.key, "must be a list", this.value);
            return def;
        }
        return this.value.map((v, i) => item(new Node(`${this.key}[${i}]`, v, this.errors), i));
    }

    /** A map of string to string (labels, substitute vars, ...). */
    stringMap(def: Record<string, string> = {}): Record<string, string> {
        if (!this.present) return def;
        if (!isPlainObject(this.value)) {
            this.errors.add(this.key, "must be a map of strings", this.value);
            return def;
        }
        const out: Record<string, string> = {};
        for (const [k, v] of Object.entries(this.value)) {
            if (typeof v === "string") out[k] = v;
            else if (typeof v === "number" || typeof v === "boolean") out[k] = String(v);
            else this.errors.add(`${this.key}.${k}`, "must be a string", v);
        }
        return out;
    }

    /** Free-form object (e.g. Helm values): passed through, must be an object if present. */
    freeObject(): Record<string, unknown> | undefined {
        if (!this.present) return undefined;
        if (!isPlainObject(this.value)) {
            this.errors.add(this.key, "must be an object", this.value);
            return undefined;
        }
        return this.value;
    }
}

export interface StringOptions {
    pattern?: RegExp;
    patternText?: string;
    nonEmpty?: boolean;
    /** Rules run when the pattern holds; the first problem is reported with its fix. */
    rule?: Rule | Rule[];
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Go duration as Flux accepts it: "1m0s", "30s", "1h", "500ms". */
export const DURATION = /^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/;
export const DURATION_TEXT = 'a Go duration such as "1m0s", "30s" or "10m"';
/** RFC 1123 DNS label, as Kubernetes requires for names and namespaces. */
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
export const DNS_LABEL_TEXT = "a DNS label (lower-case letters, digits and '-', at most 63 characters)";
/** RFC 1123 subdomain (object names). */
export const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const DNS_SUBDOMAIN_TEXT = "a DNS subdomain (lower-case letters, digits, '-' and '.')";

/** Parses a Go duration into milliseconds (for arithmetic such as canary promotion time). */
export function durationMs(d: string): number {
    const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, "µs": 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
    let total = 0;
    for (const m of d.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) total += parseFloat(m[1]) * unit[m[2]];
    return total;
}
