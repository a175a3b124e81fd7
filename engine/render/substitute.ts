/**
 * Flux postBuild substitution over rendered objects, as kustomize-controller does it
 * (fluxcd/pkg/kustomize SubstituteVariables):
 *  - variables come from `substituteFrom` ConfigMaps/Secrets in order (a later one overrides an
 *    earlier one; a missing optional one is skipped) and then `substitute` (which overrides all);
 *    newlines are removed from every value;
 *  - nothing is substituted when there are no variables at all (the objects stay as kustomize
 *    built them), unless the Kustomization's postBuild.substituteStrategy is Always: then
 *    `${var:=default}` still expands and an unset variable becomes empty;
 *  - a variable set to "" is set: strict mode accepts it, and an unquoted `key: ${empty}`
 *    becomes null, as in Flux (kustomize drops the quotes of `"${empty}"` before substitution);
 *  - every variable name must match `^[_[:alpha:]][_[:alpha:][:digit:]]*$`;
 *  - an object labelled or annotated `kustomize.toolkit.fluxcd.io/substitute: disabled` is skipped;
 *  - each other object is substituted as YAML text and parsed back (YAML 1.1, as sigs.k8s.io/yaml
 *    does), so a value that breaks the YAML is an error naming the object.
 */
import { GitopsError } from "../errors";
import { PostBuild, SUBSTITUTE_ANNOTATION, SubstituteReference } from "../flux/api";
import { envsubst, EnvsubstError } from "./envsubst";
import { objectId } from "../cluster/ids";
import { parseYamlDoc, YamlSyntaxError } from "./yamlparse";

/** One object of a render: its inventory id, identity fields, parsed body and YAML text. */
export interface RenderedObject {
    /** `<namespace>_<name>_<group>_<kind>` */
    id: string;
    apiVersion: string;
    kind: string;
    name: string;
    /** "" for cluster-scoped objects. */
    namespace: string;
    /** The object as Flux would apply it. */
    object: Record<string, unknown>;
    /** The object's YAML document (after substitution), ending in a newline. */
    yaml: string;
    /** True when postBuild substitution ran on this object. */
    substituted: boolean;
}

/** Flux's check on variable names (POSIX classes are ASCII in Go's regexp). */
export const VAR_NAME_PATTERN = /^[_A-Za-z][_A-Za-z0-9]*$/;
const VAR_NAME_TEXT = "^[_[:alpha:]][_[:alpha:][:digit:]]*$";
const DISABLED = "disabled";

/** A ConfigMap or Secret as read from a cluster (or a file); Secret data is base64. */
export interface VarSourceObject {
    data?: Record<string, string>;
}

/**
 * The variables of a postBuild block. `lookup` fetches a substituteFrom object from the
 * Kustomization's namespace and returns undefined when it does not exist.
 * Throws a GitopsError for a missing, non-optional reference.
 */
export function loadVariables(
    postBuild: PostBuild | undefined,
    lookup: (ref: SubstituteReference) => VarSourceObject | undefined,
    where = "spec.postBuild",
): Record<string, string> {
    const vars: Record<string, string> = {};
    if (!postBuild) return vars;
    (postBuild.substituteFrom ?? []).forEach((ref, i) => {
        const obj = lookup(ref);
        if (!obj) {
            if (ref.optional) return;
            throw new GitopsError(
                `${where}.substituteFrom[${i}]`,
                `substitute from '${ref.kind}/${ref.name}': not found`,
                "create it, or mark the reference optional: true",
            );
        }
        for (const [k, v] of Object.entries(obj.data ?? {})) {
            const value = ref.kind === "Secret" ? Buffer.from(v, "base64").toString("utf8") : v;
            vars[k] = value.split("\n").join("");
        }
    });
    for (const [k, v] of Object.entries(postBuild.substitute ?? {})) vars[k] = String(v).split("\n").join("");
    return vars;
}

/** Splits kustomize output (documents separated by `---` lines) into document texts. */
export function splitDocuments(text: string): string[] {
    const docs: string[] = [];
    let start = 0;
    let lineStart = 0;
    const n = text.length;
    while (lineStart <= n) {
        let lineEnd = text.indexOf("\n", lineStart);
        if (lineEnd < 0) lineEnd = n;
        if (text.startsWith("---", lineStart) && /^---[ \t]*$/.test(text.slice(lineStart, Math.min(lineEnd, lineStart + 16)))) {
            docs.push(text.slice(start, lineStart));
            start = lineEnd + 1;
        }
        lineStart = lineEnd + 1;
    }
    if (start < n) docs.push(text.slice(start));
    return docs.filter(hasContent).map((d) => (d.endsWith("\n") ? d : d + "\n"));
}

/** False for a document of only blank and comment lines. */
function hasContent(doc: string): boolean {
    for (const line of doc.split("\n")) {
        const t = line.trim();
        if (t && !t.startsWith("#")) return true;
    }
    return false;
}

export interface SubstituteOptions {
    /** Error on a variable that is not set and has no default (Flux's StrictPostBuildSubstitutions). */
    strict?: boolean;
    /** Where the variables came from, for error messages (e.g. "--var"). */
    varsWhere?: string;
    /** Substitute even with no variables (Flux's postBuild.substituteStrategy: Always). */
    always?: boolean;
}

function identity(obj: unknown): { apiVersion: string; kind: string; name: string; namespace: string } | undefined {
    if (!obj || typeof obj !== "object" || Array.isArray(obj)) return undefined;
    const o = obj as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    if (typeof o.apiVersion !== "string" || typeof o.kind !== "string") return undefined;
    const name = o.metadata?.name;
    const ns = o.metadata?.namespace;
    return {
        apiVersion: o.apiVersion,
        kind: o.kind,
        name: typeof name === "string" ? name : "",
        namespace: typeof ns === "string" ? ns : "",
    };
}

function isDisabled(obj: unknown): boolean {
    const md = (obj as { metadata?: { labels?: Record<string, unknown>; annotations?: Record<string, unknown> } })?.metadata;
    return md?.labels?.[SUBSTITUTE_ANNOTATION] === DISABLED || md?.annotations?.[SUBSTITUTE_ANNOTATION] === DISABLED;
}

/**
 * Substitutes variables in rendered YAML documents and parses them into objects. With no variables
 * the documents are only parsed. Errors name the object (its inventory id) and, for YAML errors,
 * the line within the object.
 */
export function substituteVariables(
    docs: readonly string[],
    vars: Record<string, string> | undefined,
    opts: SubstituteOptions = {},
): RenderedObject[] {
    const active = opts.always === true || (vars !== undefined && Object.keys(vars).length > 0);
    const known: Record<string, string> = vars ?? {};
    let namesChecked = false;
    const lookup = (k: string): string | undefined => (Object.prototype.hasOwnProperty.call(known, k) ? known[k] : undefined);
    const out: RenderedObject[] = [];
    docs.forEach((text, index) => {
        let original: unknown;
        const parseOriginal = (): unknown => {
            if (original === undefined) {
                try {
                    original = parseYamlDoc(text, false);
                } catch (err) {
                    const line = err instanceof YamlSyntaxError && err.line ? `, line ${err.line}` : "";
                    throw new GitopsError(`document ${index + 1}${line}`, `invalid YAML in the build output: ${(err as Error).message}`);
                }
            }
            return original;
        };
        const idOf = (): string => {
            const ident = identity(parseOriginal());
            return ident ? objectId({ group: groupOfVersion(ident.apiVersion), kind: ident.kind, name: ident.name, namespace: ident.namespace }) : `document ${index + 1}`;
        };
        let yaml = text;
        let obj: unknown;
        let substituted = false;
        const optOut = active && text.includes(SUBSTITUTE_ANNOTATION) && isDisabled(parseOriginal());
        if (!active || optOut) {
            obj = parseOriginal();
        } else {
            if (!namesChecked) {
                for (const k of Object.keys(known)) {
                    if (!VAR_NAME_PATTERN.test(k)) {
                        throw new GitopsError(opts.varsWhere ?? `postBuild.substitute.${k}`, `'${k}' var name is invalid, must match '${VAR_NAME_TEXT}'`);
                    }
                }
                namesChecked = true;
            }
            try {
                yaml = envsubst(text, lookup, opts.strict ?? false);
            } catch (err) {
                if (err instanceof EnvsubstError) {
                    const line = err.offset !== undefined ? text.slice(0, err.offset).split("\n").length : undefined;
                    const hint = err.variable
                        ? `define ${err.variable}, give it a default with \${${err.variable}:=value}, or annotate the object ${SUBSTITUTE_ANNOTATION}: disabled`
                        : `escape a literal \${ as $\${, or annotate the object ${SUBSTITUTE_ANNOTATION}: disabled`;
                    const what = err.variable ? `variable '${err.variable}' is not set (strict mode)` : err.message;
                    throw new GitopsError(idOf(), `variable substitution failed${line ? ` at line ${line} of the object` : ""}: ${what}`, hint);
                }
                throw err;
            }
            substituted = true;
            try {
                obj = parseYamlDoc(yaml, true);
            } catch (err) {
                const line = err instanceof YamlSyntaxError && err.line ? ` at line ${err.line} of the object` : "";
                throw new GitopsError(idOf(), `YAML is invalid after variable substitution${line}: ${(err as Error).message}`, "quote the value or fix the variable");
            }
        }
        const ident = identity(obj);
        if (!ident || !ident.name) {
            throw new GitopsError(
                substituted ? idOf() : `document ${index + 1}`,
                substituted ? "is no longer a Kubernetes object after variable substitution (apiVersion, kind or metadata.name is missing)" : "is not a Kubernetes object (apiVersion, kind or metadata.name is missing)",
            );
        }
        if (!yaml.endsWith("\n")) yaml += "\n";
        out.push({
            id: objectId({ group: groupOfVersion(ident.apiVersion), kind: ident.kind, name: ident.name, namespace: ident.namespace }),
            ...ident,
            object: obj as Record<string, unknown>,
            yaml,
            substituted,
        });
    });
    return out;
}

function groupOfVersion(apiVersion: string): string {
    const i = apiVersion.indexOf("/");
    return i < 0 ? "" : apiVersion.slice(0, i);
}

/** Joins rendered objects into one multi-document YAML stream. */
export function joinDocuments(objects: readonly RenderedObject[]): string {
    return objects.map((o) => o.yaml).join("---\n");
}
