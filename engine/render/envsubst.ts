/**
 * Flux's postBuild variable substitution language: a port of the behaviour of fluxcd/pkg/envsubst
 * (itself a fork of drone/envsubst), written from its documented semantics and tests.
 *
 * What it understands (braced forms only; a bare `$var` is left alone):
 *   ${var}                 the value ("" when unset, an error in strict mode)
 *   ${var:=d} ${var=d} ${var:-d} ${var:+d} ${var:?d}
 *                          all four behave the same in Flux: the value if non-empty, else d
 *                          (d may contain text and nested ${...}); never an error in strict mode
 *   ${#var}                length in bytes
 *   ${var^} ${var^^} ${var,} ${var,,}   upper/lower-case the first / all characters
 *   ${var:pos} ${var:pos:len}           substring (byte offsets, negative counts from the end)
 *   ${var#glob} ${var##glob} ${var%glob} ${var%%glob}   trim shortest/longest prefix/suffix
 *   ${var/pat/rep} ${var//pat/rep} ${var/#pat/rep} ${var/%pat/rep}   replace first/all/prefix/suffix
 * Escapes: `$$` is a literal `$` (so `$${var}` renders as `${var}`); inside a replace pattern or
 * replacement `\/` and `\\` escape too.
 *
 * Malformed `${...}` is an error (as in Flux, where it fails the whole reconciliation). The parser
 * reads the input once, left to right, so the cost is linear in its size.
 */

/** A parse or strict-mode error; `variable` is set for an unset variable in strict mode. */
export class EnvsubstError extends Error {
    readonly variable?: string;
    /** 0-based character offset in the input where the bad expression starts, when known. */
    readonly offset?: number;
    constructor(message: string, opts: { variable?: string; offset?: number } = {}) {
        super(message);
        this.name = "EnvsubstError";
        this.variable = opts.variable;
        this.offset = opts.offset;
    }
}

// Error texts follow the Go package so that messages are recognisable to Flux users.
const BAD_SUBSTITUTION = "bad substitution";
const MISSING_CLOSING_BRACE = "missing closing brace";
const PARSE_VARIABLE_NAME = "unable to parse variable name";
const PARSE_FUNC_SUBSTITUTION = "unable to parse substitution within function";
const PARSE_DEFAULT_FUNCTION = "unable to parse default function";

type Node = string | FuncNode;
interface FuncNode {
    /** The variable name. */
    param: string;
    /** The operator, e.g. "" (plain), ":=", "#", "//", ",,". */
    op: string;
    args: Node[][];
    /** Offset of the `${` in the input. */
    at: number;
}

type Accept = (ch: string, i: number) => boolean;

const isIdentChar = (ch: string): boolean => /^[\p{L}\p{Nd}_]$/u.test(ch);
const acceptIdent: Accept = (ch) => {
    const c = ch.charCodeAt(0);
    // Fast path for ASCII; Unicode letters and digits are accepted like Go's unicode.IsLetter/IsDigit.
    if (c < 128) return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
    return isIdentChar(ch);
};
const acceptNotClosing: Accept = (ch) => ch !== "}";
const acceptNotSlash: Accept = (ch) => ch !== "/";
const rejectColonClose: Accept = (ch) => ch !== ":" && ch !== "}";
const acceptColon: Accept = (ch) => ch === ":";
const acceptSlash: Accept = (ch) => ch === "/";

/** Parser over the input string; `pos` only moves forward (linear time). */
class Parser {
    pos = 0;
    constructor(readonly s: string) {}

    private peek(): string {
        return this.s[this.pos] ?? "";
    }

    /**
     * Reads a run of characters: the first must be accepted (or escaped), the rest while accepted.
     * `escapes` turns on `$$` (and, with `backslash`, `\/` and `\\`) escapes; `stopAtLbrack` ends the
     * run before a `${`. Returns undefined when not even one character was read.
     */
    private run(accept: Accept, escapes: "none" | "dollar" | "all", stopAtLbrack: boolean): string | undefined {
        const s = this.s;
        let out = "";
        let i = 0;
        let chunkStart = this.pos;
        while (this.pos < s.length) {
            const ch = s[this.pos];
            if (ch === "$" && stopAtLbrack && s[this.pos + 1] === "{") break;
            if (escapes !== "none") {
                const next = s[this.pos + 1];
                const escaped = (ch === "$" && next === "$") || (escapes === "all" && ch === "\\" && (next === "/" || next === "\\"));
                if (escaped) {
                    out += s.slice(chunkStart, this.pos) + next;
                    this.pos += 2;
                    chunkStart = this.pos;
                    i += 2;
                    continue;
                }
            }
            if (!accept(ch, i + 1)) break;
            this.pos++;
            i++;
        }
        if (i === 0) return undefined;
        return out + s.slice(chunkStart, this.pos);
    }

    /** Text and expressions until the end of input. */
    parseAll(): Node[] {
        const nodes: Node[] = [];
        const s = this.s;
        let chunkStart = this.pos;
        let text = "";
        while (this.pos < s.length) {
            const at = s.indexOf("$", this.pos);
            if (at < 0) {
                this.pos = s.length;
                break;
            }
            const next = s[at + 1];
            if (next === "{") {
                text += s.slice(chunkStart, at);
                if (text) nodes.push(text);
                text = "";
                this.pos = at + 2;
                nodes.push(this.parseFunc(at));
                chunkStart = this.pos;
            } else if (next === "$") {
                // `$$` is one literal `$`; the second `$` is not looked at again.
                text += s.slice(chunkStart, at + 1);
                this.pos = at + 2;
                chunkStart = this.pos;
            } else {
                this.pos = at + 1;
            }
        }
        text += s.slice(chunkStart, this.pos);
        if (text) nodes.push(text);
        return nodes;
    }

    private fail(message: string, at: number): never {
        throw new EnvsubstError(message, { offset: at });
    }

    private consumeRbrack(at: number): void {
        if (this.peek() !== "}") this.fail(BAD_SUBSTITUTION, at);
        this.pos++;
    }

    /** After `${`. */
    private parseFunc(at: number): FuncNode {
        if (this.peek() === "#") {
            // ${#var}
            this.pos++;
            const name = this.run(acceptIdent, "none", false);
            if (name === undefined) this.fail(BAD_SUBSTITUTION, at);
            this.consumeRbrack(at);
            return { param: name, op: "#", args: [], at };
        }
        const name = this.run(acceptIdent, "none", false);
        if (name === undefined) this.fail(PARSE_VARIABLE_NAME, at);
        switch (this.peek()) {
            case ":": {
                const c = this.s[this.pos + 1];
                if (c === "=" || c === "-" || c === "?" || c === "+") return this.parseDefault(name, at);
                return this.parseSubstr(name, at);
            }
            case "=":
                return this.parseDefault(name, at);
            case ",":
            case "^":
                return this.parseCasing(name, at);
            case "/":
                return this.parseReplace(name, at);
            case "#":
            case "%":
                return this.parseRemove(name, this.peek(), at);
        }
        if (this.peek() !== "}") this.fail(MISSING_CLOSING_BRACE, at);
        this.pos++;
        return { param: name, op: "", args: [], at };
    }

    /** One function argument: a nested `${...}` or a run of text. */
    private parseParam(accept: Accept, escapes: "none" | "all", at: number): Node {
        if (this.s[this.pos] === "$" && this.s[this.pos + 1] === "{") {
            const inner = this.pos;
            this.pos += 2;
            return this.parseFunc(inner);
        }
        const text = this.run(accept, escapes, true);
        if (text === undefined) this.fail(PARSE_FUNC_SUBSTITUTION, at);
        return text;
    }

    private parseDefault(name: string, at: number): FuncNode {
        let op: string;
        if (this.peek() === "=") {
            op = "=";
            this.pos++;
        } else {
            op = this.s.slice(this.pos, this.pos + 2); // ":" followed by one of = - ? +
            this.pos += 2;
        }
        const args: Node[][] = [];
        for (;;) {
            if (this.peek() === "}") {
                this.pos++;
                return { param: name, op, args, at };
            }
            if (this.pos >= this.s.length) this.fail(PARSE_FUNC_SUBSTITUTION, at);
            args.push([this.parseParam(acceptNotClosing, "none", at)]);
        }
    }

    private parseSubstr(name: string, at: number): FuncNode {
        this.pos++; // ":"
        const args: Node[][] = [[this.parseParam(rejectColonClose, "none", at)]];
        if (this.peek() === "}") {
            this.pos++;
            return { param: name, op: ":", args, at };
        }
        // One or more colons separate the offset from the length.
        if (this.run(acceptColon, "none", false) === undefined) this.fail(BAD_SUBSTITUTION, at);
        args.push([this.parseParam(acceptNotClosing, "none", at)]);
        this.consumeRbrack(at);
        return { param: name, op: ":", args, at };
    }

    private parseRemove(name: string, ch: string, at: number): FuncNode {
        let op = ch;
        this.pos++;
        if (this.peek() === ch) {
            op += ch;
            this.pos++;
        }
        const args: Node[][] = [[this.parseParam(acceptNotClosing, "none", at)]];
        this.consumeRbrack(at);
        return { param: name, op, args, at };
    }

    private parseReplace(name: string, at: number): FuncNode {
        let op = "/";
        this.pos++;
        const c = this.peek();
        if (c === "/" || c === "#" || c === "%") {
            op += c;
            this.pos++;
        }
        const args: Node[][] = [];
        if (this.peek() === "/") args.push([""]);
        else args.push([this.parseParam(acceptNotSlash, "all", at)]);
        // The delimiter: one or more slashes.
        if (this.run(acceptSlash, "none", false) === undefined) this.fail(BAD_SUBSTITUTION, at);
        if (this.peek() === "}") {
            this.pos++;
            return { param: name, op, args, at };
        }
        args.push([this.parseParam(acceptNotClosing, "all", at)]);
        this.consumeRbrack(at);
        return { param: name, op, args, at };
    }

    private parseCasing(name: string, at: number): FuncNode {
        let op = "";
        while (op.length < 2 && (this.peek() === "," || this.peek() === "^")) {
            op += this.peek();
            this.pos++;
        }
        this.consumeRbrack(at);
        return { param: name, op, args: [], at };
    }
}

const DEFAULT_OPS = new Set(["-", "+", "=", "?", ":-", ":+", ":=", ":?"]);

/** Looks a variable up: the value and whether it is defined. */
export type Lookup = (name: string) => string | undefined;

function evalNodes(nodes: Node[], lookup: Lookup, strict: boolean, out: string[]): void {
    for (const n of nodes) {
        if (typeof n === "string") out.push(n);
        else out.push(evalFunc(n, lookup, strict));
    }
}

function evalFunc(node: FuncNode, lookup: Lookup, strict: boolean): string {
    const args = node.args.map((a) => {
        const parts: string[] = [];
        evalNodes(a, lookup, strict, parts);
        return parts.join("");
    });
    const found = lookup(node.param);
    if (found === undefined && strict && !DEFAULT_OPS.has(node.op)) {
        throw new EnvsubstError(`variable not set (strict mode): "${node.param}"`, { variable: node.param, offset: node.at });
    }
    const v = found ?? "";
    switch (node.op) {
        case ",":
            return v ? v[0].toLowerCase() + v.slice(1) : v;
        case ",,":
            return v.toLowerCase();
        case "^":
            return v ? v[0].toUpperCase() + v.slice(1) : v;
        case "^^":
            return v.toUpperCase();
        case "#":
            return args.length === 0 ? String(Buffer.byteLength(v)) : trimShortest(v, args[0]);
        case "##":
            return trimLongest(v, args[0]);
        case "%":
            return reverse(trimShortest(reverse(v), reverse(args[0])));
        case "%%":
            return reverse(trimLongest(reverse(v), reverse(args[0])));
        case ":":
            return substr(v, args);
        case "/#":
            return args.length === 2 && v.startsWith(args[0]) ? args[1] + v.slice(args[0].length) : v;
        case "/%":
            return args.length === 2 && v.endsWith(args[0]) ? v.slice(0, v.length - args[0].length) + args[1] : v;
        case "/":
            return replace(v, args, false);
        case "//":
            return replace(v, args, true);
        default:
            // Plain ${var} and every default operator: the value, or the joined args when empty.
            return v.length === 0 && args.length > 0 ? args.join("") : v;
    }
}

function replace(v: string, args: string[], all: boolean): string {
    if (args.length === 0) return v;
    const from = args[0];
    const to = args.length > 1 ? args[1] : "";
    if (from === "") {
        // Go's strings.Replace with an empty old string inserts at every rune boundary.
        if (!all) return to + v;
        return to + Array.from(v).join(to) + (v.length ? to : "");
    }
    return all ? v.split(from).join(to) : v.replace(from, () => to);
}

function substr(v: string, args: string[]): string {
    // Offsets are bytes, as in Go.
    const ascii = /^[\x00-\x7f]*$/.test(v);
    const b = ascii ? undefined : Buffer.from(v, "utf8");
    const len = b ? b.length : v.length;
    const cut = (from: number, to: number): string => (b ? b.subarray(from, to).toString("utf8") : v.slice(from, to));
    let pos = parseGoInt(args[0]);
    if (pos === undefined) return v;
    if (pos < 0) pos = Math.max(0, len + pos);
    if (args.length === 1) return pos < len ? cut(pos, len) : "";
    const length = parseGoInt(args[1]);
    if (length === undefined) return v;
    if (length < 0) {
        const end = len + length;
        return end < pos ? "" : cut(pos, end);
    }
    if (pos + length >= len) return pos < len ? cut(pos, len) : "";
    return cut(pos, pos + length);
}

/** strconv.Atoi: optional sign and decimal digits, nothing else. */
function parseGoInt(s: string): number | undefined {
    return /^[+-]?[0-9]+$/.test(s) ? parseInt(s, 10) : undefined;
}

function reverse(s: string): string {
    return Array.from(s).reverse().join("");
}

function trimShortest(s: string, pattern: string): string {
    const re = globToRegExp(pattern);
    if (!re) return s;
    for (let n = 1; n <= s.length; n++) {
        if (re.test(s.slice(0, n))) return s.slice(n);
    }
    return s;
}

function trimLongest(s: string, pattern: string): string {
    const re = globToRegExp(pattern);
    if (!re) return s;
    for (let n = s.length; n >= 1; n--) {
        if (re.test(s.slice(0, n))) return s.slice(n);
    }
    return s;
}

/** A glob (path.Match syntax) as an anchored RegExp; undefined for a malformed pattern. */
function globToRegExp(pattern: string): RegExp | undefined {
    const esc = (c: string) => c.replace(/[\\^$.*+?()[\]{}|\/-]/g, "\\$&");
    let re = "^";
    for (let i = 0; i < pattern.length; i++) {
        const c = pattern[i];
        // fluxcd/pkg/envsubst/path: unlike Go's path.Match, * and ? also match "/".
        if (c === "*") re += ".*";
        else if (c === "?") re += ".";
        else if (c === "\\") {
            if (i + 1 >= pattern.length) return undefined;
            re += esc(pattern[++i]);
        } else if (c === "[") {
            // Character class: optional ^, then one or more chars or lo-hi ranges, then ].
            let j = i + 1;
            let cls = "";
            if (pattern[j] === "^") {
                cls = "^";
                j++;
            }
            let n = 0;
            const one = (): string | undefined => {
                let ch = pattern[j];
                if (ch === undefined || ch === "-" || ch === "]") return undefined;
                if (ch === "\\") ch = pattern[++j];
                if (ch === undefined) return undefined;
                j++;
                return ch;
            };
            for (;;) {
                if (pattern[j] === "]" && n > 0) break;
                const lo = one();
                if (lo === undefined) return undefined;
                cls += esc(lo);
                if (pattern[j] === "-") {
                    j++;
                    const hi = one();
                    if (hi === undefined || hi < lo) return undefined;
                    cls += "-" + esc(hi);
                }
                n++;
            }
            re += `[${cls}]`;
            i = j;
        } else re += esc(c);
    }
    try {
        return new RegExp(re + "$", "s");
    } catch {
        return undefined;
    }
}

/** Parses `text` once; throws EnvsubstError for a malformed `${...}`. */
export function parseTemplate(text: string): Node[] {
    return new Parser(text).parseAll();
}

/**
 * Substitutes `${...}` expressions in `text`. `vars` is a map or a lookup returning undefined for
 * an unset variable. In strict mode an unset variable without a default is an EnvsubstError naming
 * it; otherwise it becomes "".
 */
export function envsubst(text: string, vars: Record<string, string> | Map<string, string> | Lookup, strict = false): string {
    // Fast path: nothing to do without a `$`.
    if (text.indexOf("$") < 0) return text;
    const lookup: Lookup =
        typeof vars === "function"
            ? vars
            : vars instanceof Map
              ? (k) => vars.get(k)
              : (k) => (Object.prototype.hasOwnProperty.call(vars, k) ? vars[k] : undefined);
    const nodes = parseTemplate(text);
    const out: string[] = [];
    evalNodes(nodes, lookup, strict, out);
    return out.join("");
}
