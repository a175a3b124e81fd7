/**
 * Go regular expressions (RE2 syntax, as Go's regexp.Compile accepts it) run on re2js, a
 * maintained JavaScript port of RE2: matching takes time linear in the input, whatever the
 * pattern. Image tags come from whoever can push to a registry, so a pattern such as `^(a+)+$`
 * must not let a crafted tag stall the engine the way a backtracking engine would.
 *
 * Go's semantics are kept where re2js differs:
 * - Go accepts a capture name used twice (`(?P<n>a)(?P<n>b)`); re2js refuses it, so repeated
 *   names are renamed before compiling and mapped back (Expand takes the first participating one).
 * - Errors carry Go's exact wording, `error parsing regexp: <code>: `<expr>``.
 * Plus Go's Regexp.Expand for `$name` / `${1}` templates (Flux's `extract`).
 */
import { RE2JS, RE2JSSyntaxException } from "re2js";

export class GoRegexpError extends Error {
    constructor(readonly code: string, readonly expr: string) {
        super(`error parsing regexp: ${code}: \`${expr}\``);
    }
}

/** A match as Go's FindStringSubmatch gives it: index 0 the whole match, undefined for a group that did not participate. */
export type GoMatch = ReadonlyArray<string | undefined>;

export interface GoRegexp {
    /** The Go source pattern. */
    readonly source: string;
    /** Capture names by group index; index 0 is the whole match (""). Unnamed groups are "". */
    readonly names: readonly string[];
    /** Go's MatchString: true when the pattern matches anywhere in `s`. */
    test(s: string): boolean;
    /** Go's FindStringSubmatch (leftmost-first), or null when there is no match. */
    exec(s: string): GoMatch | null;
}

/** Compiles a Go regexp; throws GoRegexpError with Go's message when Go would reject it. */
export function compileGoRegexp(pattern: string): GoRegexp {
    let re: RE2JS;
    let renamed = new Map<string, string>();
    try {
        re = RE2JS.compile(pattern);
    } catch (err) {
        if (!(err instanceof RE2JSSyntaxException) || err.error !== "duplicate capture group name") throw goError(err, pattern, renamed);
        const u = uniqueGroupNames(pattern);
        renamed = u.renamed;
        try {
            re = RE2JS.compile(u.pattern);
        } catch (err2) {
            throw goError(err2, pattern, renamed);
        }
    }
    const names: string[] = new Array(re.groupCount() + 1).fill("");
    for (const [name, index] of Object.entries(re.namedGroups())) names[index] = renamed.get(name) ?? name;
    return {
        source: pattern,
        names,
        test: (s) => re.test(s),
        exec(s) {
            const m = re.matcher(s);
            if (!m.find()) return null;
            const out: Array<string | undefined> = [];
            for (let i = 0; i < names.length; i++) out.push(m.group(i) ?? undefined);
            return out;
        },
    };
}

/** Go's message for a pattern re2js refused; names we renamed are put back. */
function goError(err: unknown, pattern: string, renamed: Map<string, string>): Error {
    if (err instanceof RE2JSSyntaxException) {
        let expr = err.input ?? "";
        for (const [tmp, name] of renamed) expr = expr.split(`<${tmp}>`).join(`<${name}>`);
        return new GoRegexpError(err.error, expr);
    }
    return new GoRegexpError(`unsupported in this implementation (${(err as Error).message})`, pattern);
}

/**
 * Renames the second and later uses of a capture name (outside escapes, `\Q...\E` and character
 * classes) to fresh names, so that re2js accepts what Go accepts.
 */
function uniqueGroupNames(pattern: string): { pattern: string; renamed: Map<string, string> } {
    const seen = new Set<string>();
    const renamed = new Map<string, string>();
    let out = "";
    let i = 0;
    let fresh = 0;
    const taken = (n: string) => pattern.includes(`<${n}>`) || renamed.has(n);
    while (i < pattern.length) {
        const c = pattern[i];
        if (c === "\\") {
            if (pattern[i + 1] === "Q") {
                const end = pattern.indexOf("\\E", i + 2);
                const stop = end < 0 ? pattern.length : end + 2;
                out += pattern.slice(i, stop);
                i = stop;
                continue;
            }
            out += pattern.slice(i, i + 2);
            i += 2;
            continue;
        }
        if (c === "[") {
            const stop = classEnd(pattern, i);
            out += pattern.slice(i, stop);
            i = stop;
            continue;
        }
        const m = c === "(" ? /^\(\?P?<([A-Za-z0-9_]+)>/.exec(pattern.slice(i)) : null;
        if (m) {
            let name = m[1];
            if (seen.has(name)) {
                let tmp: string;
                do tmp = `${name}_${++fresh}`;
                while (taken(tmp) || seen.has(tmp));
                renamed.set(tmp, name);
                name = tmp;
            }
            seen.add(name);
            out += m[0].replace(`<${m[1]}>`, `<${name}>`);
            i += m[0].length;
            continue;
        }
        out += c;
        i++;
    }
    return { pattern: out, renamed };
}

/** The index just past the character class starting at `start` (`[`), as Go's parser reads it. */
function classEnd(p: string, start: number): number {
    let i = start + 1;
    if (p[i] === "^") i++;
    if (p[i] === "]") i++; // a leading ] is a literal
    while (i < p.length && p[i] !== "]") {
        if (p[i] === "\\") i += 2;
        else if (p[i] === "[" && p[i + 1] === ":") {
            const close = p.indexOf(":]", i + 2);
            i = close < 0 ? i + 1 : close + 2;
        } else i++;
    }
    return Math.min(i + 1, p.length);
}

/**
 * Go's Regexp.Expand: `$$` is a literal `$`; `$name` takes the longest run of letters, digits
 * and `_` (so `$1x` is the group named "1x"); `${name}` is braced; a purely numeric name (without
 * leading zero) is a group index; an unknown or non-participating group expands to "". A
 * malformed reference (`$`, `${`, `${x`) is copied as a literal `$`.
 */
export function expandTemplate(re: GoRegexp, template: string, match: GoMatch): string {
    return compileTemplate(re, template)(match);
}

/** Pre-parses an Expand template once; the returned function expands it for one match. */
export function compileTemplate(re: GoRegexp, template: string): (match: GoMatch) => string {
    // Pieces: a literal string, or a list of candidate group indexes (the first that participated wins).
    const pieces: Array<string | number[]> = [];
    let t = template;
    let lit = "";
    for (;;) {
        const d = t.indexOf("$");
        if (d < 0) break;
        lit += t.slice(0, d);
        t = t.slice(d + 1);
        if (t.startsWith("$")) {
            lit += "$";
            t = t.slice(1);
            continue;
        }
        const ex = extractName(t);
        if (!ex) {
            lit += "$";
            continue;
        }
        t = ex.rest;
        if (lit) pieces.push(lit);
        lit = "";
        if (ex.num >= 0) pieces.push(ex.num < re.names.length ? [ex.num] : []);
        else {
            // Go allows duplicate names; the first participating group of that name is used.
            const idx: number[] = [];
            for (let i = 1; i < re.names.length; i++) if (re.names[i] === ex.name) idx.push(i);
            pieces.push(idx);
        }
    }
    lit += t;
    if (lit) pieces.push(lit);
    if (pieces.length === 1 && Array.isArray(pieces[0]) && pieces[0].length === 1) {
        const g = pieces[0][0];
        return (m) => m[g] ?? "";
    }
    return (m) => {
        let out = "";
        for (const p of pieces) {
            if (typeof p === "string") out += p;
            else {
                for (const i of p) {
                    if (m[i] !== undefined) {
                        out += m[i];
                        break;
                    }
                }
            }
        }
        return out;
    };
}

function extractName(s: string): { name: string; num: number; rest: string } | undefined {
    if (s === "") return undefined;
    let brace = false;
    if (s[0] === "{") {
        brace = true;
        s = s.slice(1);
    }
    // unicode.IsLetter / IsDigit / '_'
    const m = /^[\p{L}\p{Nd}_]+/u.exec(s);
    if (!m) return undefined;
    const name = m[0];
    let i = name.length;
    if (brace) {
        if (s[i] !== "}") return undefined;
        i++;
    }
    let num = 0;
    for (let k = 0; k < name.length; k++) {
        const c = name.charCodeAt(k);
        if (c < 48 || c > 57 || num >= 1e8) {
            num = -1;
            break;
        }
        num = num * 10 + (c - 48);
    }
    if (name[0] === "0" && name.length > 1) num = -1;
    return { name, num, rest: s.slice(i) };
}
