/**
 * Reads a stack's config straight from Pulumi.<stack>.yaml, for commands that need neither
 * Pulumi nor a cluster (`gitops fleet render`). The Pulumi program reads the same keys through
 * pulumi.Config (components/config.ts); both go through `parseStackConfig`.
 */
import * as fs from "fs";
import * as path from "path";
import { parse as parseYaml } from "yaml";
import { GitopsError } from "../errors";
import { confine } from "../util/paths";
import { describe, DNS_LABEL, DNS_LABEL_TEXT, isPlainObject } from "./check";
import { plainSecretProblem } from "./validate";
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
                problems.push(plainSecretProblem(fullKey, path.basename(file)));
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

/** Whether a name can be a stack of this project (a DNS label). */
export function isStackName(name: string): boolean {
    return DNS_LABEL.test(name);
}

/**
 * The path of a stack's file, Pulumi.<stack>.yaml in the project folder. The stack name is checked
 * first (a DNS label, as parseStackConfig requires): a name such as "x/../../elsewhere" would
 * otherwise name a file outside the project.
 */
export function stackFilePath(projectDir: string, stack: string): string {
    if (!isStackName(stack)) {
        throw new GitopsError(`stack ${JSON.stringify(stack)}`, `not a stack name: a stack name is ${DNS_LABEL_TEXT}`, `pick one of: ${listStacks(projectDir).join(", ") || "(none)"}`);
    }
    return path.join(projectDir, `Pulumi.${stack}.yaml`);
}

export function loadStackFile(projectDir: string, stack: string): LoadedStack {
    const file = stackFilePath(projectDir, stack);
    if (!fs.existsSync(file)) {
        throw new GitopsError(file, `no such stack file`, `create it with \`pulumi stack init ${stack}\` or pick one of: ${listStacks(projectDir).join(", ") || "(none)"}`);
    }
    const entries = readStackFileConfig(file);
    const { raw, secretKeys } = splitStackFileConfig(entries, path.basename(file));
    return { config: parseStackConfig(raw, stack, path.basename(file)), secretKeys, file };
}

/**
 * The `config:` mapping of a stack file. A file that is empty, binary, not YAML, not a mapping, or
 * whose `config:` is not a mapping is an error naming the file: rendering it as "all defaults"
 * would replace everything the stack owns.
 */
export function readStackFileConfig(file: string): Record<string, unknown> {
    const name = path.basename(file);
    const fix = "restore it from version control, or write `config:` with the stack's gitops:* settings (see README, Stack config)";
    const buf = fs.readFileSync(file);
    if (buf.includes(0) || !isUtf8(buf)) throw new GitopsError(name, "is not a text file (it holds binary data)", fix);
    const text = buf.toString("utf8");
    if (!/^\s*[^\s#]/m.test(text)) throw new GitopsError(name, "is empty", fix);
    let doc: unknown;
    try {
        doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
    } catch (e) {
        throw new GitopsError(name, `is not valid YAML: ${(e as Error).message}`, "fix the YAML syntax at the line shown");
    }
    if (!isPlainObject(doc)) throw new GitopsError(name, `must be a YAML mapping with a \`config:\` key; it holds ${describe(doc)}`, fix);
    if (!("config" in doc) || doc.config === null) return {};
    if (!isPlainObject(doc.config)) throw new GitopsError(`${name}: config`, `must be a mapping of settings; it holds ${describe(doc.config)}`, fix);
    return doc.config;
}

function isUtf8(buf: Buffer): boolean {
    try {
        new TextDecoder("utf-8", { fatal: true }).decode(buf);
        return true;
    } catch {
        return false;
    }
}

export function listStacks(projectDir: string): string[] {
    return fs
        .readdirSync(projectDir)
        .map((f) => /^Pulumi\.([^.]+)\.yaml$/.exec(f)?.[1])
        .filter((s): s is string => !!s)
        .sort();
}

/**
 * A file a stack setting names (gitops:flux.componentsFile), resolved against the project
 * directory and confined to it (symbolic links included). Returns the absolute path of an
 * existing regular file, or throws a GitopsError naming the key and what to do.
 */
export function projectFile(projectDir: string, key: string, value: string): string {
    const where = `${NS}:${key}`;
    const fix = `vendor the file inside the project directory (${path.resolve(projectDir)}) and give its path relative to it, or remove the setting`;
    const file = confine(projectDir, value, where, { fix });
    let st: fs.Stats;
    try {
        st = fs.statSync(file);
    } catch {
        throw new GitopsError(where, `${file} does not exist`, fix);
    }
    if (!st.isFile()) throw new GitopsError(where, `${file} is not a regular file`, fix);
    return file;
}
