/**
 * Go regular expressions (RE2 syntax, as accepted by Go's regexp.Compile) translated to an
 * equivalent JavaScript RegExp, plus Go's Regexp.Expand for `$name` / `${1}` templates.
 *
 * What is translated: `(?P<name>re)` / `(?<name>re)` (captures are numbered as in Go; names are
 * kept on the side), flags `i m s U` both as `(?flags)` and `(?flags:re)`, `\A` `\z`, `\Q..\E`,
 * Go's ASCII `\d \s \w` (and negations), POSIX classes `[[:alpha:]]` / `[[:^alpha:]]`, Unicode
 * classes `\pL`, `\p{Greek}`, `\PL`, `\p{^Greek}`, octal `\123`, `\x{10FFFF}`, `.` not matching
 * `\n` unless (?s), `^`/`$` as text anchors unless (?m), and repeats up to 1000.
 * What Go rejects is rejected here too (backreferences, lookaround, possessive and nested
 * repetition, `\Z`, unknown escapes, bad ranges...) with Go's own error wording.
 *
 * Known differences: a capture inside a repeated group that does not participate in the last
 * iteration keeps its earlier value in Go but is reset in JavaScript; Go's limit on the total
 * size of nested repeats is not enforced.
 */

export class GoRegexpError extends Error {
    constructor(readonly code: string, readonly expr: string) {
        super(`error parsing regexp: ${code}: \`${expr}\``);
    }
}

export interface GoRegexp {
    /** The Go source pattern. */
    readonly source: string;
    /** The translated JavaScript RegExp (flags "u"). */
    readonly js: RegExp;
    /** Capture names by group index; index 0 is the whole match (""). Unnamed groups are "". */
    readonly names: readonly string[];
}

const POSIX: Record<string, Array<[number, number]>> = {
    alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
    alpha: [[0x41, 0x5a], [0x61, 0x7a]],
    ascii: [[0x00, 0x7f]],
    blank: [[0x09, 0x09], [0x20, 0x20]],
    cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
    digit: [[0x30, 0x39]],
    graph: [[0x21, 0x7e]],
    lower: [[0x61, 0x7a]],
    print: [[0x20, 0x7e]],
    punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
    space: [[0x09, 0x0d], [0x20, 0x20]],
    upper: [[0x41, 0x5a]],
    word: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a], [0x5f, 0x5f]],
    xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};

const PERL: Record<string, Array<[number, number]>> = {
    d: [[0x30, 0x39]],
    s: [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]],
    w: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
};

// Unicode general categories Go knows (unicode.Categories); anything else is tried as a script.
const CATEGORIES = new Set([
    "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn",
    "N", "Nd", "Nl", "No", "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps",
    "S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs",
]);

const MAX_RUNE = 0x10ffff;

function complement(ranges: Array<[number, number]>): Array<[number, number]> {
    const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
    const out: Array<[number, number]> = [];
    let next = 0;
    for (const [lo, hi] of sorted) {
        if (lo > next) out.push([next, lo - 1]);
        next = Math.max(next, hi + 1);
    }
    if (next <= MAX_RUNE) out.push([next, MAX_RUNE]);
    return out;
}

/** One code point as a JS regexp atom (u mode); `-` is escaped only inside a class. */
function lit(cp: number, inClass = true): string {
    const ch = String.fromCodePoint(cp);
    if ("^$\\.*+?()[]{}|/".includes(ch) || (inClass && ch === "-")) return "\\" + ch;
    if (cp >= 0x21 && cp <= 0x7e) return ch;
    return `\\u{${cp.toString(16)}}`;
}

function rangesToClassBody(ranges: Array<[number, number]>): string {
    return ranges.map(([lo, hi]) => (lo === hi ? lit(lo) : `${lit(lo)}-${lit(hi)}`)).join("");
}

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
const isAlnum = (c: string) => /^[0-9A-Za-z]$/.test(c);
const validName = (n: string) => /^[A-Za-z0-9_]+$/.test(n);

interface Flags {
    i: boolean;
    m: boolean;
    s: boolean;
    U: boolean;
}

interface Frame {
    flags: Flags;
    /** Case-insensitivity in force in the emitted JS at this group's start. */
    jsI: boolean;
    /** Number of open `(?i:`/`(?-i:` wrappers opened by inline flags inside this group. */
    wrappers: number;
    /** Index in `out` where this group's text starts (for quantifiers applied to it). */
    start: number;
}

/** Compiles a Go regexp; throws GoRegexpError with Go's message when Go would reject it. */
export function compileGoRegexp(pattern: string): GoRegexp {
    const cps = Array.from(pattern); // code points
    let pos = 0;
    const out: string[] = [];
    const names: string[] = [""];
    let flags: Flags = { i: false, m: false, s: false, U: false };
    const stack: Frame[] = [];
    let top: Frame = { flags, jsI: false, wrappers: 0, start: 0 };
    // Current i-state of the emitted JS at this point (accounting for wrappers).
    let jsI = false;
    // The last thing emitted that a quantifier may apply to: [start index in out, isAssertion].
    let atom: { start: number; assertion: boolean; repeated?: boolean } | undefined;
    let lastWasRepeat = "";

    const rest = () => cps.slice(pos).join("");
    const emitAtom = (text: string, assertion = false) => {
        atom = { start: out.length, assertion };
        out.push(text);
        lastWasRepeat = "";
    };
    const syncI = () => {
        // Make the JS case state match the Go flags by opening a wrapper.
        if (flags.i !== jsI) {
            out.push(flags.i ? "(?i:" : "(?-i:");
            top.wrappers++;
            jsI = flags.i;
        }
    };
    const closeWrappers = () => {
        for (; top.wrappers > 0; top.wrappers--) out.push(")");
        jsI = top.jsI;
    };

    const literal = (cp: number) => {
        syncI();
        emitAtom(lit(cp, false));
    };

    const parseUnicodeClass = (negated: boolean): { text: string; consumed: number } => {
        // at cps[pos] == 'p' or 'P' after the backslash; returns JS escape text
        let name: string;
        let consumed: number;
        const start = pos - 1;
        if (cps[pos + 1] === "{") {
            const close = cps.indexOf("}", pos + 2);
            if (close < 0) throw new GoRegexpError("invalid character class range", cps.slice(start).join(""));
            name = cps.slice(pos + 2, close).join("");
            consumed = close - pos + 1;
        } else {
            if (pos + 1 >= cps.length) throw new GoRegexpError("invalid character class range", cps.slice(start).join(""));
            name = cps[pos + 1];
            consumed = 2;
        }
        const expr = cps.slice(start, pos + consumed).join("");
        if (name.startsWith("^")) {
            negated = !negated;
            name = name.slice(1);
        }
        let body: string;
        if (name === "Any") body = "Any";
        else if (CATEGORIES.has(name)) body = name;
        else body = `Script=${name}`;
        const text = `\\${negated ? "P" : "p"}{${body}}`;
        try {
            new RegExp(text, "u");
        } catch {
            throw new GoRegexpError("invalid character class range", expr);
        }
        return { text, consumed };
    };

    /** Parses an escape that denotes a single code point (Go's parseEscape); pos at backslash. */
    const parseEscape = (): number => {
        const start = pos;
        pos++;
        const c = cps[pos];
        if (c === undefined) throw new GoRegexpError("trailing backslash at end of expression", "");
        pos++;
        if (c >= "1" && c <= "7" && !(cps[pos] >= "0" && cps[pos] <= "7")) {
            throw new GoRegexpError("invalid escape sequence", cps.slice(start, pos).join(""));
        }
        if (c >= "0" && c <= "7") {
            let r = c.charCodeAt(0) - 48;
            for (let k = 1; k < 3 && cps[pos] >= "0" && cps[pos] <= "7"; k++) r = r * 8 + (cps[pos++].charCodeAt(0) - 48);
            return r;
        }
        switch (c) {
            case "x": {
                if (cps[pos] === "{") {
                    // Go consumes up to and including the character that makes it fail.
                    let j = pos + 1;
                    let v = 0;
                    let n = 0;
                    const bad = (end: number) => new GoRegexpError("invalid escape sequence", cps.slice(start, end).join(""));
                    for (;;) {
                        if (j >= cps.length) throw bad(j);
                        const h = cps[j++];
                        if (h === "}") break;
                        if (!/^[0-9A-Fa-f]$/.test(h)) throw bad(j);
                        v = v * 16 + parseInt(h, 16);
                        if (v > MAX_RUNE) throw bad(j);
                        n++;
                    }
                    if (n === 0) throw bad(j);
                    pos = j;
                    return v;
                }
                const h = cps.slice(pos, pos + 2).join("");
                if (!/^[0-9A-Fa-f]{2}$/.test(h)) throw new GoRegexpError("invalid escape sequence", cps.slice(start, pos + 2).join(""));
                pos += 2;
                return parseInt(h, 16);
            }
            case "a": return 7;
            case "f": return 12;
            case "n": return 10;
            case "r": return 13;
            case "t": return 9;
            case "v": return 11;
        }
        const cp = c.codePointAt(0)!;
        if (cp < 0x80 && !isAlnum(c)) return cp;
        throw new GoRegexpError("invalid escape sequence", cps.slice(start, pos).join(""));
    };

    const parseClass = () => {
        const start = pos;
        pos++; // [
        let negate = false;
        if (cps[pos] === "^") {
            negate = true;
            pos++;
        }
        const parts: string[] = [];
        let first = true;
        while (pos < cps.length && (cps[pos] !== "]" || first)) {
            first = false;
            // POSIX class
            if (cps[pos] === "[" && cps[pos + 1] === ":") {
                const end = rest().indexOf(":]", 2);
                if (end >= 0) {
                    let name = cps.slice(pos + 2, pos + end).join("");
                    const expr = cps.slice(pos, pos + end + 2).join("");
                    let neg = false;
                    if (name.startsWith("^")) {
                        neg = true;
                        name = name.slice(1);
                    }
                    const r = POSIX[name];
                    if (!r) throw new GoRegexpError("invalid character class range", expr);
                    parts.push(rangesToClassBody(neg ? complement(r) : r));
                    pos += end + 2;
                    continue;
                }
            }
            if (cps[pos] === "\\" && pos + 1 < cps.length) {
                const e = cps[pos + 1];
                if ("dswDSW".includes(e)) {
                    const r = PERL[e.toLowerCase()];
                    parts.push(rangesToClassBody(e === e.toLowerCase() ? r : complement(r)));
                    pos += 2;
                    continue;
                }
                if (e === "p" || e === "P") {
                    pos++;
                    const u = parseUnicodeClass(e === "P");
                    pos += u.consumed;
                    parts.push(u.text);
                    continue;
                }
            }
            const rangeStart = pos;
            const lo = classChar(start);
            if (cps[pos] === "-" && pos + 1 < cps.length && cps[pos + 1] !== "]") {
                pos++;
                const hi = classChar(start);
                if (hi < lo) throw new GoRegexpError("invalid character class range", cps.slice(rangeStart, pos).join(""));
                parts.push(`${lit(lo)}-${lit(hi)}`);
            } else {
                parts.push(lit(lo));
            }
        }
        if (pos >= cps.length) throw new GoRegexpError("missing closing ]", cps.slice(start).join(""));
        pos++; // ]
        syncI();
        emitAtom(`[${negate ? "^" : ""}${parts.join("")}]`);
    };

    const classChar = (classStart: number): number => {
        if (pos >= cps.length) throw new GoRegexpError("missing closing ]", cps.slice(classStart).join(""));
        if (cps[pos] === "\\") return parseEscape();
        return cps[pos++].codePointAt(0)!;
    };

    /** Tries to parse {n}, {n,}, {n,m} at pos; returns undefined when it is a literal '{'. */
    const parseRepeat = (): { min: number; max: number; len: number } | undefined => {
        const s = rest();
        const m = /^\{([0-9]+)(,([0-9]*))?\}/.exec(s);
        if (!m) return undefined;
        const num = (t: string) => (t.length >= 2 && t[0] === "0" ? NaN : t.length > 8 ? -1 : Number(t));
        const min = num(m[1]);
        let max: number;
        if (m[2] === undefined) max = min;
        else if (m[3] === "") max = -1;
        else max = num(m[3]);
        if (Number.isNaN(min) || Number.isNaN(max)) return undefined;
        return { min, max, len: m[0].length };
    };

    while (pos < cps.length) {
        const c = cps[pos];
        switch (c) {
            case "(": {
                const start = pos;
                let capture = false;
                let name = "";
                if (cps[pos + 1] === "?") {
                    const s = rest();
                    if (s.startsWith("(?P<") || (s.startsWith("(?<") && !s.startsWith("(?<=") && !s.startsWith("(?<!")) || s.startsWith("(?<=") || s.startsWith("(?<!")) {
                        // Go parses any "(?<" or "(?P<" as a named capture (so lookbehind is
                        // reported as an invalid named capture, as Go does).
                        const begin = s.startsWith("(?P<") ? 4 : 3;
                        const end = s.indexOf(">");
                        if (end < 0) throw new GoRegexpError("invalid named capture", s);
                        name = s.slice(begin, end);
                        if (!validName(name)) throw new GoRegexpError("invalid named capture", s.slice(0, end + 1));
                        capture = true;
                        pos += Array.from(s.slice(0, end + 1)).length;
                    } else if (s.startsWith("(?P")) {
                        throw new GoRegexpError("invalid or unsupported Perl syntax", "(?P");
                    } else {
                        // flags: (?flags) or (?flags:re)
                        let j = pos + 2;
                        const nf = { ...flags };
                        let neg = false;
                        let sawFlag = false;
                        for (;;) {
                            const f = cps[j];
                            if (f === undefined) throw new GoRegexpError("invalid or unsupported Perl syntax", cps.slice(start, j).join(""));
                            if (f === "i" || f === "m" || f === "s" || f === "U") {
                                nf[f] = !neg;
                                sawFlag = true;
                                j++;
                                continue;
                            }
                            if (f === "-") {
                                if (neg) throw new GoRegexpError("invalid or unsupported Perl syntax", cps.slice(start, j + 1).join(""));
                                neg = true;
                                sawFlag = false;
                                j++;
                                continue;
                            }
                            if (f === ":" || f === ")") {
                                if (neg && !sawFlag) throw new GoRegexpError("invalid or unsupported Perl syntax", cps.slice(start, j + 1).join(""));
                                break;
                            }
                            throw new GoRegexpError("invalid or unsupported Perl syntax", cps.slice(start, j + 1).join(""));
                        }
                        pos = j + 1;
                        if (cps[j] === ")") {
                            // Flags last until the enclosing group closes. Go leaves its operand
                            // stack alone, so a repeat right after `(?i)` applies to the atom
                            // before it; the JS case wrapper is opened lazily by the next atom.
                            flags = nf;
                            lastWasRepeat = "";
                            continue;
                        }
                        // (?flags:re): a non-capturing group with new flags
                        stack.push(top);
                        top = { flags: { ...flags }, jsI, wrappers: 0, start: out.length };
                        out.push("(?:");
                        flags = nf;
                        atom = undefined;
                        lastWasRepeat = "";
                        continue;
                    }
                } else {
                    capture = true;
                    pos++;
                }
                if (capture) names.push(name);
                stack.push(top);
                top = { flags: { ...flags }, jsI, wrappers: 0, start: out.length };
                out.push(capture ? "(" : "(?:");
                atom = undefined;
                lastWasRepeat = "";
                continue;
            }
            case ")": {
                if (stack.length === 0) throw new GoRegexpError("unexpected )", pattern);
                closeWrappers();
                out.push(")");
                const closed = top;
                flags = closed.flags;
                top = stack.pop()!;
                jsI = closed.jsI;
                pos++;
                atom = { start: closed.start, assertion: false };
                lastWasRepeat = "";
                continue;
            }
            case "|": {
                const saved = flags;
                closeWrappers();
                out.push("|");
                flags = saved;
                syncI();
                pos++;
                atom = undefined;
                lastWasRepeat = "";
                continue;
            }
            case "*":
            case "+":
            case "?":
            case "{": {
                let q: string;
                let len: number;
                if (c === "{") {
                    const r = parseRepeat();
                    if (!r) {
                        literal(0x7b);
                        pos++;
                        continue;
                    }
                    const expr = cps.slice(pos, pos + r.len).join("");
                    if (r.min < 0 || r.min > 1000 || r.max > 1000 || (r.max >= 0 && r.min > r.max)) {
                        throw new GoRegexpError("invalid repeat count", expr);
                    }
                    q = `{${r.min}${r.max === r.min ? "" : `,${r.max < 0 ? "" : r.max}`}}`;
                    len = r.len;
                } else {
                    q = c;
                    len = 1;
                }
                let lazy = false;
                if (cps[pos + len] === "?") {
                    lazy = true;
                    len++;
                }
                const opText = cps.slice(pos, pos + len).join("");
                if (lastWasRepeat) throw new GoRegexpError("invalid nested repetition operator", lastWasRepeat + opText);
                if (!atom) throw new GoRegexpError("missing argument to repetition operator", opText);
                if (flags.U) lazy = !lazy;
                if (atom.assertion || atom.repeated) {
                    // JS cannot repeat an assertion or stack quantifiers (`a*(?i)*` in Go is (a*)*).
                    const inner = out.splice(atom.start).join("");
                    out.push(`(?:${inner})`);
                }
                out.push(q + (lazy ? "?" : ""));
                atom = { start: atom.start, assertion: false, repeated: true };
                pos += len;
                lastWasRepeat = opText;
                continue;
            }
            case "^":
                pos++;
                syncI();
                emitAtom(flags.m ? "(?<![^\\n])" : "^", true);
                continue;
            case "$":
                pos++;
                syncI();
                emitAtom(flags.m ? "(?![^\\n])" : "$", true);
                continue;
            case ".":
                pos++;
                syncI();
                emitAtom(flags.s ? "[\\s\\S]" : "[^\\n]");
                continue;
            case "[":
                parseClass();
                continue;
            case "\\": {
                const e = cps[pos + 1];
                if (e === undefined) throw new GoRegexpError("trailing backslash at end of expression", "");
                if (e === "A") {
                    pos += 2;
                    emitAtom("(?<![\\s\\S])", true);
                    continue;
                }
                if (e === "z") {
                    pos += 2;
                    emitAtom("(?![\\s\\S])", true);
                    continue;
                }
                if (e === "b" || e === "B") {
                    pos += 2;
                    syncI();
                    emitAtom("\\" + e, true);
                    continue;
                }
                if (e === "C") throw new GoRegexpError("invalid escape sequence", "\\C");
                if (e === "Q") {
                    pos += 2;
                    const s = rest();
                    const end = s.indexOf("\\E");
                    const text = end >= 0 ? s.slice(0, end) : s;
                    for (const ch of text) literal(ch.codePointAt(0)!);
                    pos += Array.from(text).length + (end >= 0 ? 2 : 0);
                    continue;
                }
                if ("dswDSW".includes(e)) {
                    pos += 2;
                    const r = PERL[e.toLowerCase()];
                    syncI();
                    emitAtom(`[${rangesToClassBody(e === e.toLowerCase() ? r : complement(r))}]`);
                    continue;
                }
                if (e === "p" || e === "P") {
                    pos++;
                    const u = parseUnicodeClass(e === "P");
                    pos += u.consumed;
                    syncI();
                    emitAtom(u.text);
                    continue;
                }
                literal(parseEscape());
                continue;
            }
            default:
                literal(c.codePointAt(0)!);
                pos++;
                continue;
        }
    }
    if (stack.length > 0) throw new GoRegexpError("missing closing )", pattern);
    closeWrappers();
    const source = out.join("");
    let js: RegExp;
    try {
        js = new RegExp(source, "u");
    } catch (err) {
        // A translation we cannot express; report it rather than guess.
        throw new GoRegexpError(`unsupported in this implementation (${(err as Error).message})`, pattern);
    }
    return { source: pattern, js, names };
}

/**
 * Go's Regexp.Expand: `$$` is a literal `$`; `$name` takes the longest run of letters, digits
 * and `_` (so `$1x` is the group named "1x"); `${name}` is braced; a purely numeric name (without
 * leading zero) is a group index; an unknown or non-participating group expands to "". A
 * malformed reference (`$`, `${`, `${x`) is copied as a literal `$`.
 */
export function expandTemplate(re: GoRegexp, template: string, match: RegExpExecArray): string {
    return compileTemplate(re, template)(match);
}

/** Pre-parses an Expand template once; the returned function expands it for one match. */
export function compileTemplate(re: GoRegexp, template: string): (match: RegExpExecArray) => string {
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
