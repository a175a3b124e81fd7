/**
 * ImagePolicy tag selection with the semantics of Flux's image-reflector-controller (v1):
 *
 * - filterTags: `pattern` is an unanchored Go regexp; a tag is kept when it matches anywhere.
 *   With `extract`, the policy sees the Expand-ed template instead of the tag; the result is the
 *   ORIGINAL tag (when two tags extract to the same value, the later tag wins, as in Flux's map).
 * - semver: Masterminds range; tags parsed with fluxcd/pkg/version.ParseVersion (non-semver
 *   tags are skipped); the greatest matching version wins, the first one on ties.
 * - numerical: every tag must parse with Go's strconv.ParseFloat, else the policy fails;
 *   asc picks the greatest, desc the smallest (the later tag on ties).
 * - alphabetical: byte order (UTF-8), asc picks the last, desc the first.
 */
import { GitopsError } from "../errors";
import type { ImagePolicyChoice, TagFilter } from "../flux/api";
import { compileGoRegexp, compileTemplate, GoRegexp, GoRegexpError } from "./goregexp";
import { Constraints, compareVersions, parseVersion, SemverError, Version } from "./semver";

export type { ImagePolicyChoice, TagFilter };

export interface CompileOptions {
    /** Prefixed to every error location, e.g. the manifest file: "policy.yaml". */
    readonly origin?: string;
    /** Key path of the ImagePolicy spec in the source, default "spec". */
    readonly specPath?: string;
}

export interface CompiledPolicy {
    readonly kind: "semver" | "numerical" | "alphabetical";
    /** Picks the tag Flux would select; throws GitopsError when none qualifies. */
    select(tags: readonly string[]): string;
}

interface Picker {
    kind: CompiledPolicy["kind"];
    where: string;
    /** Returns the index of the chosen value in `values` (unique), or -1 when none qualifies. */
    pick(values: readonly string[]): number;
    /** As pick, over values that may repeat (Flux de-duplicates them): -2 asks for the de-duplicated run. */
    pickAll(values: readonly string[]): number;
    noneMessage(count: number): string;
}

function at(opts: CompileOptions, key: string): string {
    const spec = opts.specPath ?? "spec";
    return opts.origin ? `${opts.origin}: ${spec}.${key}` : `${spec}.${key}`;
}

function order(o: string | undefined, where: string): "ASC" | "DESC" {
    // Flux upper-cases the order; the CRD enum allows asc and desc, default asc.
    const u = (o ?? "").toUpperCase();
    if (u === "") return "ASC";
    if (u === "ASC" || u === "DESC") return u;
    throw new GitopsError(where, `invalid order ${JSON.stringify(o)}, must be one of: asc, desc`);
}

/** Compiles a policy (and optional filterTags) once for reuse; throws GitopsError when invalid. */
export function compilePolicy(policy: ImagePolicyChoice | undefined, filter?: TagFilter, opts: CompileOptions = {}): CompiledPolicy {
    const picker = compilePicker(policy, opts);
    const f = filter ? compileFilter(filter, opts) : undefined;
    return {
        kind: picker.kind,
        select(tags: readonly string[]): string {
            if (!f) {
                const i = picker.pick(tags);
                if (i < 0) throw new GitopsError(picker.where, picker.noneMessage(tags.length));
                return tags[i];
            }
            const { keys, originals } = f.apply(tags);
            if (keys.length === 0) {
                throw new GitopsError(
                    at(opts, "filterTags.pattern"),
                    `none of the ${tags.length} tags matches ${JSON.stringify(filter!.pattern ?? "")}`,
                    "check the pattern against the tags in the registry",
                );
            }
            // Flux puts the (extracted) keys in a map: unique keys, each mapped to the LAST tag
            // that produced it. Picking over all occurrences gives the same key for semver and
            // alphabetical (ties keep the first occurrence); numerical asks for the exact
            // de-duplicated run when ties or NaN make the order matter (-2).
            let i = picker.pickAll(keys);
            let unique = keys.length;
            if (i === -2) {
                const map = new Map<string, string>();
                for (let k = 0; k < keys.length; k++) map.set(keys[k], originals[k]);
                const uk = [...map.keys()];
                unique = uk.length;
                i = picker.pick(uk);
                if (i >= 0) return map.get(uk[i])!;
            }
            if (i < 0) {
                throw new GitopsError(picker.where, `${picker.noneMessage(unique)} (after filterTags kept ${unique} of ${tags.length} tags)`);
            }
            const key = keys[i];
            for (let j = keys.length - 1; j >= i; j--) if (keys[j] === key) return originals[j];
            return originals[i];
        },
    };
}

/** One-shot: the tag Flux would select from `tags`. Throws GitopsError when none matches or the policy is invalid. */
export function selectTag(policy: ImagePolicyChoice, filter: TagFilter | undefined, tags: readonly string[], opts: CompileOptions = {}): string {
    return compilePolicy(policy, filter, opts).select(tags);
}

// ---------------------------------------------------------------------------------------------

interface CompiledFilter {
    /** Every matching tag, in order: its key (the tag, or the extract expansion) and the tag. */
    apply(tags: readonly string[]): { keys: string[]; originals: string[] };
}

/** Compiles a Go regexp from user input, turning syntax errors into GitopsError at `where`. */
export function compileUserRegexp(pattern: string, where: string): GoRegexp {
    try {
        return compileGoRegexp(pattern);
    } catch (err) {
        if (err instanceof GoRegexpError) {
            throw new GitopsError(where, `invalid regular expression pattern ${JSON.stringify(pattern)}: ${err.message}`, "the pattern is a Go (RE2) regexp: no backreferences or lookaround");
        }
        throw err;
    }
}

function compileFilter(filter: TagFilter, opts: CompileOptions): CompiledFilter {
    const re = compileUserRegexp(filter.pattern ?? "", at(opts, "filterTags.pattern"));
    const extract = filter.extract ?? "";
    const expand = extract === "" ? undefined : compileTemplate(re, extract);
    return {
        apply(tags) {
            const keys: string[] = [];
            const originals: string[] = [];
            if (!expand) {
                for (const t of tags) if (re.test(t)) keys.push(t);
                return { keys, originals: keys };
            }
            for (const t of tags) {
                const m = re.exec(t);
                if (m) {
                    keys.push(expand(m));
                    originals.push(t);
                }
            }
            return { keys, originals };
        },
    };
}

function compilePicker(policy: ImagePolicyChoice | undefined, opts: CompileOptions): Picker {
    const set = policy ? (["semver", "numerical", "alphabetical"] as const).filter((k) => policy[k] != null) : [];
    if (set.length !== 1) {
        throw new GitopsError(
            at(opts, "policy"),
            set.length === 0 ? "no policy given" : `more than one policy given (${set.join(", ")})`,
            "set exactly one of semver.range, numerical.order or alphabetical.order",
        );
    }
    if (policy!.semver) return semverPicker(policy!.semver.range, opts);
    if (policy!.numerical) return numericalPicker(order(policy!.numerical.order, at(opts, "policy.numerical.order")), opts);
    return alphabeticalPicker(order(policy!.alphabetical!.order, at(opts, "policy.alphabetical.order")), opts);
}

function semverPicker(range: string | undefined, opts: CompileOptions): Picker {
    const where = at(opts, "policy.semver.range");
    if (typeof range !== "string" || range.trim() === "") {
        throw new GitopsError(where, "a range is required", 'e.g. range: ">=1.0.0 <2.0.0" or "^1.2"');
    }
    let constraints: Constraints;
    try {
        constraints = Constraints.parse(range);
    } catch (err) {
        if (err instanceof SemverError) throw new GitopsError(where, `invalid range ${JSON.stringify(range)}: ${err.message}`, "use Masterminds semver range syntax, e.g. \">=1.0.0 <2.0.0\", \"^1.2\", \"~1.2.x\"");
        throw err;
    }
    return {
        kind: "semver",
        where,
        pick(values) {
            let best: Version | undefined;
            let bestIndex = -1;
            for (let i = 0; i < values.length; i++) {
                const v = parseVersion(values[i]);
                if (!v) continue;
                // Compare first (cheap), then check the range; both are pure so the order is free.
                if (best !== undefined && compareVersions(v, best) <= 0) continue;
                if (!constraints.check(v)) continue;
                best = v;
                bestIndex = i;
            }
            return bestIndex;
        },
        pickAll(values) {
            return this.pick(values);
        },
        noneMessage: (n) => `no tag among ${n} is a semantic version in range ${JSON.stringify(range)}`,
    };
}

function numericalPicker(ord: "ASC" | "DESC", opts: CompileOptions): Picker {
    const where = at(opts, "policy.numerical");
    return {
        kind: "numerical",
        where,
        pick(values) {
            let chosen = -1;
            let pv = 0;
            for (let i = 0; i < values.length; i++) {
                const cv = parseGoFloat(values[i]);
                if (cv === undefined) {
                    throw new GitopsError(
                        where,
                        `tag ${JSON.stringify(values[i])} is not a number, so the numerical policy fails (Flux parses every tag with Go's strconv.ParseFloat)`,
                        "add spec.filterTags with a pattern (and extract) that keeps only numeric tags",
                    );
                }
                if (i > 0 && (ord === "ASC" ? cv < pv : cv > pv)) continue;
                chosen = i;
                pv = cv;
            }
            return chosen;
        },
        pickAll(values) {
            // Exact without de-duplication unless a tie with the current choice or a NaN occurs.
            let chosen = -1;
            let pv = 0;
            for (let i = 0; i < values.length; i++) {
                const cv = parseGoFloat(values[i]);
                if (cv === undefined) return this.pick(values); // reports the first bad tag
                if (cv !== cv) return -2;
                if (i > 0 && cv === pv) return -2;
                if (i > 0 && (ord === "ASC" ? cv < pv : cv > pv)) continue;
                chosen = i;
                pv = cv;
            }
            return chosen;
        },
        noneMessage: () => "no tags to choose from",
    };
}

/** Byte-order (UTF-8) comparison of two strings, as Go's string comparison. */
export function compareBytes(a: string, b: string): number {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) {
        let x = a.charCodeAt(i);
        let y = b.charCodeAt(i);
        if (x === y) continue;
        // UTF-16 order differs from code point (= UTF-8 byte) order only for surrogates vs U+E000..U+FFFF.
        if (x >= 0xd800 && y >= 0xd800) {
            x = x >= 0xe000 ? x - 0x800 : x + 0x2000;
            y = y >= 0xe000 ? y - 0x800 : y + 0x2000;
        }
        return x < y ? -1 : 1;
    }
    return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function alphabeticalPicker(ord: "ASC" | "DESC", opts: CompileOptions): Picker {
    return {
        kind: "alphabetical",
        where: at(opts, "policy.alphabetical"),
        pick(values) {
            let best = -1;
            for (let i = 0; i < values.length; i++) {
                if (best < 0) {
                    best = i;
                    continue;
                }
                const c = compareBytes(values[i], values[best]);
                if (ord === "ASC" ? c > 0 : c < 0) best = i;
            }
            return best;
        },
        pickAll(values) {
            return this.pick(values);
        },
        noneMessage: () => "no tags to choose from",
    };
}

// ---------------------------------------------------------------------------------------------
// Go's strconv.ParseFloat(s, 64)

const PLAIN_DECIMAL = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

/**
 * Go's strconv.ParseFloat(s, 64): decimal and hexadecimal (`0x1.8p3`, which needs a `p`
 * exponent) literals, `_` between digits, "inf"/"infinity"/"nan" in any case with an optional
 * sign. Returns undefined where Go returns an error, including overflow to ±Inf (ErrRange).
 */
export function parseGoFloat(s: string): number | undefined {
    if (PLAIN_DECIMAL.test(s)) {
        const v = Number(s);
        return Number.isFinite(v) ? v : undefined;
    }
    let i = 0;
    let neg = false;
    if (s[0] === "+" || s[0] === "-") {
        neg = s[0] === "-";
        i = 1;
    }
    const word = s.slice(i).toLowerCase();
    if (word === "inf" || word === "infinity") return neg ? -Infinity : Infinity;
    if (word === "nan") return i === 0 ? NaN : undefined; // Go accepts no sign on NaN
    const hex = s.length >= i + 2 && s[i] === "0" && (s[i + 1] === "x" || s[i + 1] === "X");
    if (hex) i += 2;
    const isMantDigit = (c: string) => (c >= "0" && c <= "9") || (hex && /^[0-9a-fA-F]$/.test(c));
    let mant = "";
    let sawDot = false;
    let sawDigits = false;
    let fracDigits = 0;
    let underscores = false;
    for (; i < s.length; i++) {
        const c = s[i];
        if (c === "_") {
            underscores = true;
            continue;
        }
        if (c === ".") {
            if (sawDot) break;
            sawDot = true;
            continue;
        }
        if (!isMantDigit(c)) break;
        sawDigits = true;
        mant += c;
        if (sawDot) fracDigits++;
    }
    if (!sawDigits) return undefined;
    let exp = 0;
    let sawExp = false;
    const expChar = hex ? "p" : "e";
    if (i < s.length && s[i].toLowerCase() === expChar) {
        i++;
        if (i >= s.length) return undefined;
        let esign = 1;
        if (s[i] === "+" || s[i] === "-") {
            esign = s[i] === "-" ? -1 : 1;
            i++;
        }
        if (i >= s.length || s[i] < "0" || s[i] > "9") return undefined;
        for (; i < s.length && ((s[i] >= "0" && s[i] <= "9") || s[i] === "_"); i++) {
            if (s[i] === "_") {
                underscores = true;
                continue;
            }
            if (exp < 10000) exp = exp * 10 + (s.charCodeAt(i) - 48);
        }
        exp *= esign;
        sawExp = true;
    }
    if (hex && !sawExp) return undefined; // hexadecimal mantissa requires a 'p' exponent
    if (i !== s.length) return undefined;
    if (underscores && !underscoreOK(s)) return undefined;
    let v: number;
    if (hex) {
        const m = BigInt("0x" + (mant === "" ? "0" : mant));
        v = Number(m) * Math.pow(2, exp - 4 * fracDigits);
        if (!Number.isFinite(v) && m !== 0n) {
            // Scale in two steps so large mantissas with negative exponents stay exact.
            v = Number(m) * Math.pow(2, Math.floor((exp - 4 * fracDigits) / 2)) * Math.pow(2, Math.ceil((exp - 4 * fracDigits) / 2));
        }
    } else {
        v = Number(`${mant.slice(0, mant.length - fracDigits) || "0"}.${mant.slice(mant.length - fracDigits) || "0"}e${exp}`);
    }
    if (!Number.isFinite(v)) return undefined;
    return neg ? -v : v;
}

function underscoreOK(s: string): boolean {
    let saw = "^";
    let i = 0;
    if (s[0] === "+" || s[0] === "-") s = s.slice(1);
    let hex = false;
    if (s.length >= 2 && s[0] === "0" && "bBoOxX".includes(s[1])) {
        i = 2;
        saw = "0";
        hex = s[1] === "x" || s[1] === "X";
    }
    for (; i < s.length; i++) {
        const c = s[i];
        if ((c >= "0" && c <= "9") || (hex && /^[a-fA-F]$/.test(c))) {
            saw = "0";
            continue;
        }
        if (c === "_") {
            if (saw !== "0") return false;
            saw = "_";
            continue;
        }
        if (saw === "_") return false;
        saw = "!";
    }
    return saw !== "_";
}
