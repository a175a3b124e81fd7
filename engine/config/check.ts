/**
 * A tiny structural checker for stack config, and the combinators the schema (schema.ts) is
 * declared with. Each reader takes the raw value and its key path (`gitops:cluster.k3d.agents`)
 * and either returns a typed value or records an error that names the key, the expected shape and
 * the fix. Errors are collected, so one run reports every problem.
 *
 * The schema declares every setting once, as a `Field` (`str`, `int`, `bool`, `oneOf`, `list`,
 * `strMap`, `obj`, `.optional()`, `.map()`); the config types are inferred from it (`Infer`).
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
export type Rule = (value: string, key: string) => { what: string; fix: string } | undefined;

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
            this.judge(this.value, opts.rule);
        }
        return this.value;
    }

    /** Runs value rules in order and records the first problem: "<key> <what> (<fix>)". */
    judge(value: string, rules: Rule | Rule[] = []): void {
        for (const rule of [rules].flat()) {
            const p = rule(value, this.key);
            if (p) {
                this.errors.addRaw(`${this.key} ${p.what} (${p.fix})`);
                return;
            }
        }
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

    bool(def: boolean): boolean {
        if (!this.present) return def;
        if (typeof this.value !== "boolean") {
            this.errors.add(this.key, "must be true or false", this.value);
            return def;
        }
        return this.value;
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

// --- declaring the schema -------------------------------------------------------------------

/**
 * One setting of the schema: reads the value at a Node into `T`, recording every problem against
 * the node's key. The config types are inferred from the declared fields (`Infer<typeof field>`).
 */
export class Field<T> {
    /**
     * @param omitWhenUndefined leave the key out of its object when the value (read or derived) is undefined
     * @param isObject the value is an object of settings (`obj`): optional, a value of another type reads as undefined
     */
    constructor(
        readonly read: (n: Node) => T,
        readonly omitWhenUndefined = false,
        readonly isObject = false,
    ) {}

    /**
     * May be absent (or null): reads as `def`, else undefined; the key is optional in the inferred
     * type. `omitWhenAbsent` leaves the key out of its object instead of setting it to undefined.
     */
    optional(opts: { def?: T; omitWhenAbsent?: boolean } = {}): Optional<T> {
        return new Optional(this, opts.def, opts.omitWhenAbsent ?? false);
    }

    /** Derives another value from the one read (e.g. adds fixed entries). */
    map<U>(f: (value: T, n: Node) => U): Field<U> {
        return new Field((n) => f(this.read(n), n), this.omitWhenUndefined, this.isObject);
    }

    /** A rule across the value (or its parts), run after reading; it records problems on `n`. */
    check(rule: (value: T, n: Node) => void): Field<T> {
        return this.map((v, n) => (rule(v, n), v));
    }
}

export class Optional<T> extends Field<T | undefined> {
    constructor(inner: Field<T>, def: T | undefined, omitWhenAbsent: boolean) {
        super((n) => {
            if (!n.present) return structuredClone(def);
            if (inner.isObject && !isPlainObject(n.value)) return void n.object([]); // one error: "must be an object"
            return inner.read(n);
        }, omitWhenAbsent);
    }
}

/** The type a field reads. */
export type Infer<F> = F extends Field<infer T> ? T : never;

type Flat<T> = { [K in keyof T]: T[K] };
/** Keys whose value may be undefined are optional (`key?: T`); the others are required. */
export type OptionalUndefined<T> = Flat<{ [K in keyof T as undefined extends T[K] ? never : K]: T[K] } & { [K in keyof T as undefined extends T[K] ? K : never]?: T[K] }>;
/** One object type with every key of each member of the union `U`, all optional. */
export type AnyOf<U> = Flat<{ [K in U extends unknown ? keyof U : never]?: U extends unknown ? (K extends keyof U ? U[K] : never) : never }>;

type Shape = Record<string, Field<unknown>>;
type ObjectOf<S extends Shape> = { [K in keyof S]: Infer<S[K]> };

/** A string; required unless `def` is given. Pattern first, then the rules (each with its fix). */
export function str(opts: StringOptions & { def?: string } = {}): Field<string> {
    return new Field((n) => n.string(opts.def, opts));
}

/** A whole number in [min, max]; required unless `def` is given. */
export function int(opts: { def?: number; min?: number; max?: number } = {}): Field<number> {
    return new Field((n) => n.int(opts.def, opts.min, opts.max));
}

/** Any number (thresholds). Required. */
export function num(): Field<number> {
    return new Field((n) => {
        if (typeof n.value === "number") return n.value;
        n.errors.add(n.key, n.present ? "must be a number" : "is required (a number)", n.value);
        return 0;
    });
}

export function bool(def: boolean): Field<boolean> {
    return new Field((n) => n.bool(def));
}

/** true, false or absent (undefined, also after a wrong type: a default derived from elsewhere then stands). */
export function maybeBool(): Optional<boolean | undefined> {
    return new Field((n) => (typeof n.value === "boolean" ? n.value : void n.bool(false))).optional();
}

/** One of `choices`; required unless `def` is given. */
export function oneOf<const T extends string>(choices: readonly T[], def?: NoInfer<T>): Field<T> {
    return new Field((n) => n.oneOf(choices, def));
}

/** A list whose elements (`key[i]`) are read by `item`; absent reads as (a copy of) `def`. */
export function list<T>(item: Field<T>, def: NoInfer<T>[] = []): Field<T[]> {
    return new Field((n) => n.list((e) => item.read(e), structuredClone(def)));
}

/**
 * A map of names to strings (numbers and booleans are taken as their text). With `keys`, only
 * those names are allowed; `rules` judge the value of a name when it is not empty.
 */
export function strMap(opts: { keys?: readonly string[]; rules?: Record<string, Rule> } = {}): Field<Record<string, string>> {
    return new Field((n) => {
        if (opts.keys && n.present && !n.object(opts.keys)) return {};
        const m = n.stringMap({});
        for (const [k, v] of Object.entries(m)) if (v !== "") n.at(k).judge(v, opts.rules?.[k]);
        return m;
    });
}

/** A free-form object passed through as is (Helm values). */
export function freeObject(): Optional<Record<string, unknown>> {
    return new Field((n) => n.freeObject() ?? {}).optional();
}

/**
 * An object with exactly the keys of `shape` (any other key is an error naming it and the known
 * ones), read in declaration order. Absent, it reads as its defaults; `required` makes absence an
 * error. A value of the wrong type is one error, not one more for each required key below it.
 * `derive` computes settings whose default comes from other settings (a namespace defaults to the
 * name); its keys replace those read. Keys whose value may be undefined are optional in the type.
 */
export function obj<S extends Shape, D extends object = object>(
    shape: S,
    opts: { required?: boolean; derive?: (o: ObjectOf<S>, n: Node) => D } = {},
): Field<OptionalUndefined<Omit<ObjectOf<S>, keyof D> & D>> {
    const keys = Object.keys(shape);
    const read = (n: Node) => {
        // Absent or not an object: the defaults, without more errors about the keys below it.
        const src = n.object(keys, opts.required) ? n : new Node(n.key, undefined, new ConfigErrors());
        const o = Object.fromEntries(keys.map((k) => [k, shape[k].read(src.at(k))])) as ObjectOf<S>;
        const out: Record<string, unknown> = opts.derive ? { ...o, ...opts.derive(o, src) } : o;
        for (const k of keys) if (out[k] === undefined && shape[k].omitWhenUndefined) delete out[k];
        return out as OptionalUndefined<Omit<ObjectOf<S>, keyof D> & D>;
    };
    return new Field(read, false, true);
}
