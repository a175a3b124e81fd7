/**
 * Bulk YAML parsing for rendered objects.
 *
 * Two schemas, to match what Flux ends up applying:
 *  - objects that went through postBuild substitution are converted by Flux with sigs.k8s.io/yaml
 *    (go-yaml v2, YAML 1.1): `yes`/`on`/`y` are booleans, `0755` is octal;
 *  - objects that did not are read by kustomize's kyaml (go-yaml v3, YAML 1.2 core schema).
 *
 * js-yaml (a direct dependency, measured about 5-7x faster than `yaml` on kustomize output) does
 * the parsing. `yaml` (also a direct dependency, used elsewhere to write YAML) stays as a second
 * loader for one reason: test/engine/render.test.ts parses the same YAML 1.1/1.2 edge cases with
 * both and requires the same objects, so a js-yaml upgrade that changes a schema is caught. It is
 * also what runs if an installed js-yaml lacks the YAML 1.1 tags.
 */
import * as YAML from "yaml";

export class YamlSyntaxError extends Error {
    /** 1-based line within the parsed text, when the parser reports one. */
    readonly line?: number;
    constructor(message: string, line?: number) {
        super(message);
        this.name = "YamlSyntaxError";
        this.line = line;
    }
}

interface JsYaml {
    load(text: string, opts?: { schema?: unknown }): unknown;
    Schema: new (tags: unknown[]) => unknown;
    FAILSAFE_SCHEMA: { tags: unknown[] };
    CORE_SCHEMA: { withTags(...tags: unknown[]): unknown };
    nullYaml11Tag: unknown;
    boolYaml11Tag: unknown;
    intYaml11Tag: unknown;
    floatYaml11Tag: unknown;
    mergeTag: unknown;
}

interface Loader {
    name: string;
    parse(text: string, yaml11: boolean): unknown;
}

function jsYamlLoader(): Loader | undefined {
    let js: JsYaml;
    try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        js = require("js-yaml") as JsYaml;
        if (typeof js.Schema !== "function" || !js.boolYaml11Tag || !js.CORE_SCHEMA?.withTags) return undefined;
    } catch {
        return undefined;
    }
    const core = js.CORE_SCHEMA.withTags(js.mergeTag);
    // go-yaml v2's implicit types: null, bool, int, float and merge keys (timestamps stay strings).
    const yaml11 = new js.Schema([...js.FAILSAFE_SCHEMA.tags, js.nullYaml11Tag, js.boolYaml11Tag, js.intYaml11Tag, js.floatYaml11Tag, js.mergeTag]);
    return {
        name: "js-yaml",
        parse(text, is11) {
            try {
                return js.load(text, { schema: is11 ? yaml11 : core });
            } catch (err) {
                const e = err as { reason?: string; message?: string; mark?: { line?: number } };
                const line = typeof e.mark?.line === "number" ? e.mark.line + 1 : undefined;
                throw new YamlSyntaxError(e.reason ?? String(e.message ?? err), line);
            }
        },
    };
}

const yamlLoader: Loader = {
    name: "yaml",
    parse(text, is11) {
        const doc = YAML.parseDocument(text, {
            version: is11 ? "1.1" : "1.2",
            merge: true,
            prettyErrors: false,
            // go-yaml v2 leaves timestamps (and binary, sets, ...) as plain strings.
            customTags: is11 ? (tags) => tags.filter((t) => typeof t === "string" || t.tag === "tag:yaml.org,2002:merge" || !/timestamp|binary|omap|pairs|set$/.test(t.tag)) : undefined,
        });
        if (doc.errors.length > 0) {
            const e = doc.errors[0];
            const pos = e.pos?.[0];
            const line = pos === undefined ? undefined : text.slice(0, pos).split("\n").length;
            throw new YamlSyntaxError(e.message.split("\n")[0], line);
        }
        return doc.toJS({ maxAliasCount: 1000 });
    },
};

let chosen: Loader | undefined;

/** The loader in use: "js-yaml" or "yaml". */
export function yamlLoaderName(): string {
    return (chosen ??= jsYamlLoader() ?? yamlLoader).name;
}

/** Parses one YAML document; throws YamlSyntaxError with a line number on bad input. */
export function parseYamlDoc(text: string, yaml11 = false): unknown {
    return (chosen ??= jsYamlLoader() ?? yamlLoader).parse(text, yaml11);
}

/** For tests and benchmarks: force a loader. */
export function useYamlLoader(name: "js-yaml" | "yaml"): void {
    chosen = name === "js-yaml" ? jsYamlLoader() : yamlLoader;
    if (!chosen) throw new Error("js-yaml is not installed");
}
