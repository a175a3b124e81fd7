/**
 * A small, strict flag parser for the gitops CLI: `--name value`, `--name=value`, repeatable
 * flags and booleans. Unknown flags are errors that name the flag.
 */
import { GitopsError } from "../errors";

export interface FlagSpec {
    /** Flags that take a value. */
    readonly values?: readonly string[];
    /** Flags that may be given more than once (a subset of values). */
    readonly repeatable?: readonly string[];
    /** Flags without a value. */
    readonly booleans?: readonly string[];
    /** Flags that must be present. */
    readonly required?: readonly string[];
}

export interface ParsedFlags {
    values: Map<string, string[]>;
    booleans: Set<string>;
    positional: string[];
    get(name: string): string | undefined;
    all(name: string): string[];
    has(name: string): boolean;
}

export function parseFlags(command: string, args: string[], spec: FlagSpec): ParsedFlags {
    const values = new Map<string, string[]>();
    const booleans = new Set<string>();
    const positional: string[] = [];
    const valueFlags = new Set(spec.values ?? []);
    const boolFlags = new Set(spec.booleans ?? []);
    const repeatable = new Set(spec.repeatable ?? []);
    for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (!a.startsWith("--")) {
            positional.push(a);
            continue;
        }
        const eq = a.indexOf("=");
        const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
        if (boolFlags.has(name)) {
            if (eq >= 0) throw new GitopsError(`gitops ${command}`, `--${name} takes no value`);
            booleans.add(name);
        } else if (valueFlags.has(name)) {
            let v: string | undefined;
            if (eq >= 0) v = a.slice(eq + 1);
            else {
                v = args[++i];
                if (v === undefined) throw new GitopsError(`gitops ${command}`, `--${name} needs a value`);
            }
            const list = values.get(name) ?? [];
            if (list.length > 0 && !repeatable.has(name)) {
                throw new GitopsError(`gitops ${command}`, `--${name} may be given only once`);
            }
            list.push(v);
            values.set(name, list);
        } else {
            throw new GitopsError(`gitops ${command}`, `unknown flag --${name}`, `see 'gitops ${command} --help'`);
        }
    }
    for (const r of spec.required ?? []) {
        if (!values.has(r) && !booleans.has(r)) {
            throw new GitopsError(`gitops ${command}`, `--${r} is required`, `see 'gitops ${command} --help'`);
        }
    }
    return {
        values,
        booleans,
        positional,
        get: (n) => values.get(n)?.[0],
        all: (n) => values.get(n) ?? [],
        has: (n) => booleans.has(n) || values.has(n),
    };
}
