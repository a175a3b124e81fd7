/**
 * Reads a stack's config straight from Pulumi.<stack>.yaml, for commands that need neither
 * Pulumi nor a cluster (`gitops fleet render`). The Pulumi program reads the same keys through
 * pulumi.Config (components/config.ts); both go through `parseStackConfig`.
 */
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { GitopsError } from "../errors";
import { isPlainObject } from "./check";
import { NS, parseStackConfig, SECRET_KEYS, StackConfig, StackConfigError } from "./schema";

export interface LoadedStack {
    config: StackConfig;
    /** Names of secret keys set (securely) in the file; their values are never read here. */
    secretKeys: string[];
    file: string;
}

/** Splits raw `config:` entries of a stack file into gitops settings and checks secret keys are secure. */
export function splitStackFileConfig(entries: Record<string, unknown>, file: string): { raw: Record<string, unknown>; secretKeys: string[] } {
    const raw: Record<string, unknown> = {};
    const secretKeys: string[] = [];
    const problems: string[] = [];
    const secretNames = new Set<string>(Object.values(SECRET_KEYS));
    for (const [fullKey, value] of Object.entries(entries)) {
        if (!fullKey.startsWith(`${NS}:`)) continue; // other providers' settings (azure-native:location, ...)
        const key = fullKey.slice(NS.length + 1);
        const secure = isPlainObject(value) && Object.keys(value).length === 1 && typeof value.secure === "string";
        if (secretNames.has(key)) {
            if (!secure && !isSecureTree(value)) {
                problems.push(
                    `${fullKey} holds a secret in plain text; remove it from ${path.basename(file)} and set it with \`pulumi config set --secret ${fullKey} <value>\``,
                );
            } else secretKeys.push(key);
            continue;
        }
        if (secure) {
            problems.push(`${fullKey} is encrypted but is not a secret setting; set it with \`pulumi config set ${fullKey}\` (without --secret)`);
            continue;
        }
        raw[key] = value;
    }
    if (problems.length) throw new StackConfigError(file, problems);
    return { raw, secretKeys };
}

/** A structured secret (`pulumi config set --secret --path`) has every leaf as {secure: ...}. */
function isSecureTree(v: unknown): boolean {
    if (isPlainObject(v)) {
        if (Object.keys(v).length === 1 && typeof v.secure === "string") return true;
        return Object.values(v).every(isSecureTree);
    }
    return false;
}

export function loadStackFile(projectDir: string, stack: string): LoadedStack {
    const file = path.join(projectDir, `Pulumi.${stack}.yaml`);
    if (!fs.existsSync(file)) {
        throw new GitopsError(file, `no such stack file`, `create it with \`pulumi stack init ${stack}\` or pick one of: ${listStacks(projectDir).join(", ") || "(none)"}`);
    }
    let doc: unknown;
    try {
        doc = parseYaml(fs.readFileSync(file, "utf8"), { prettyErrors: true });
    } catch (e) {
        throw new GitopsError(path.basename(file), `is not valid YAML: ${(e as Error).message}`);
    }
    const entries = isPlainObject(doc) && isPlainObject(doc.config) ? doc.config : {};
    const { raw, secretKeys } = splitStackFileConfig(entries, path.basename(file));
    return { config: parseStackConfig(raw, stack, path.basename(file)), secretKeys, file };
}

export function listStacks(projectDir: string): string[] {
    return fs
        .readdirSync(projectDir)
        .map((f) => /^Pulumi\.([^.]+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => !!s)
        .sort();
}
