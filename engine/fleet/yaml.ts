/** Deterministic YAML for generated manifests: multi-document, no line folding, stable key order. */
import { stringify } from "yaml";

export function toYaml(docs: readonly object[], header = ""): string {
    const body = docs.map((d) => stringify(d, { lineWidth: 0, aliasDuplicateObjects: false })).join("---\n");
    return header + (docs.length > 1 ? `---\n${body}` : body);
}
