/**
 * What every `gitops` command shares: the `Command` and `CliIO` types, and flag parsing with
 * node:util `parseArgs`. This module sits below engine/cli.ts (the command table) and below every
 * engine/<area>/cli.ts, so none of them imports the table back.
 */
import { parseArgs, ParseArgsConfig } from "node:util";
import { GitopsError } from "../errors";

export interface Command {
    /** Words that select the command, e.g. ["fleet", "render"]. */
    readonly path: string[];
    /** One line for the command list. */
    readonly summary: string;
    /** Full help text printed for `--help`. */
    readonly help: string;
    /** Runs the command with the arguments after its path; returns the exit code. */
    run(args: string[], io: CliIO): Promise<number>;
}

export interface CliIO {
    out(text: string): void;
    err(text: string): void;
}

/** parseArgs option declarations: `{ repo: { type: "string" }, var: { type: "string", multiple: true } }`. */
export type FlagOptions = NonNullable<ParseArgsConfig["options"]>;

export interface FlagRules {
    /** Flags that must be given. */
    readonly required?: readonly string[];
    /** Names of the positional arguments the command takes, in order (default: none). */
    readonly positionals?: readonly string[];
    /** How many of `positionals` must be given (default: all of them). */
    readonly minPositionals?: number;
}

/**
 * Parses a command's arguments with node:util `parseArgs` (strict: unknown flags are errors).
 * Every error names the command and the flag, and points at `--help`. A flag that is not
 * `multiple` may be given only once.
 */
export function parseFlags<O extends FlagOptions>(command: string, args: string[], options: O, rules: FlagRules = {}) {
    const where = `gitops ${command}`;
    const fix = `see 'gitops ${command} --help'`;
    let parsed;
    try {
        parsed = parseArgs({ args, options, strict: true, allowPositionals: true, tokens: true });
    } catch (err) {
        throw new GitopsError(where, translate(err as Error & { code?: string }), fix);
    }
    const seen = new Set<string>();
    for (const t of parsed.tokens ?? []) {
        if (t.kind !== "option") continue;
        if (seen.has(t.name) && !options[t.name]?.multiple) throw new GitopsError(where, `--${t.name} may be given only once`, fix);
        seen.add(t.name);
    }
    for (const r of rules.required ?? []) {
        if ((parsed.values as Record<string, unknown>)[r] === undefined) throw new GitopsError(where, `--${r} is required`, fix);
    }
    const names = rules.positionals ?? [];
    if (parsed.positionals.length > names.length) {
        const extra = parsed.positionals[names.length];
        throw new GitopsError(where, `unexpected argument '${extra}'`, fix);
    }
    const min = rules.minPositionals ?? names.length;
    if (parsed.positionals.length < min) throw new GitopsError(where, `${names[parsed.positionals.length]} is required`, fix);
    return { values: parsed.values, positionals: parsed.positionals };
}

function translate(err: Error & { code?: string }): string {
    const m = /'(-[^' ]+)/.exec(err.message);
    const flag = m ? m[1] : "";
    switch (err.code) {
        case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
            return `unknown flag ${flag}`;
        case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE":
            return /argument missing/.test(err.message) ? `${flag} needs a value` : `${flag} takes no value`;
        default:
            return err.message;
    }
}

/**
 * A flag that takes a whole number: decimal digits only (no sign, exponent, hex or blank, which
 * `Number()` would accept), between min and max. `def` when the flag is absent.
 */
export function intFlag(flag: string, value: string | undefined, def: number, range: { min: number; max: number; what: string }): number {
    if (value === undefined) return def;
    const n = /^\d{1,9}$/.test(value) ? Number(value) : NaN;
    if (!(n >= range.min && n <= range.max)) throw new GitopsError(`--${flag}`, `must be ${range.what}; got ${JSON.stringify(value)}`);
    return n;
}

/** A TCP port flag: 0 (a free port) to 65535. */
export function portFlag(flag: string, value: string | undefined, def: number): number {
    return intFlag(flag, value, def, { min: 0, max: 65535, what: "a port number (0-65535)" });
}
