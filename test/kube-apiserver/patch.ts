/**
 * The three classic patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and
 * Kubernetes' strategic merge patch (merge patch plus map-lists merged by their merge keys and
 * the `$patch`, `$retainKeys`, `$setElementOrder/` and `$deleteFromPrimitiveList/` directives).
 */
import { clone, deepEqual } from "./fields";
import { itemKey, listKindAt, ResourceType } from "./registry";

export class PatchError extends Error {
    constructor(message: string, readonly code = 422) { super(message); }
}

function isMap(v: unknown): v is Record<string, any> {
    return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function mergePatch(target: any, patch: any): any {
    if (!isMap(patch)) return clone(patch);
    const out: any = isMap(target) ? { ...target } : {};
    for (const [k, v] of Object.entries(patch)) {
        if (v === null) delete out[k];
        else out[k] = mergePatch(out[k], v);
    }
    return out;
}

function unescape(s: string): string {
    return s.replace(/~1/g, "/").replace(/~0/g, "~");
}

function pointer(path: string): string[] {
    if (path === "") return [];
    if (!path.startsWith("/")) throw new PatchError(`invalid JSON pointer ${JSON.stringify(path)}`);
    return path.slice(1).split("/").map(unescape);
}

export function jsonPatch(target: any, ops: any): any {
    if (!Array.isArray(ops)) throw new PatchError("a JSON patch must be an array of operations", 400);
    let doc = clone(target);
    const parentOf = (tokens: string[]): { parent: any; key: string } => {
        let cur = doc;
        for (const t of tokens.slice(0, -1)) {
            cur = Array.isArray(cur) ? cur[Number(t)] : isMap(cur) ? cur[t] : undefined;
            if (cur === undefined) throw new PatchError(`doc is missing path: /${tokens.join("/")}`);
        }
        return { parent: cur, key: tokens[tokens.length - 1] };
    };
    const get = (path: string): any => {
        let cur = doc;
        for (const t of pointer(path)) {
            cur = Array.isArray(cur) ? cur[Number(t)] : isMap(cur) ? cur[t] : undefined;
            if (cur === undefined) throw new PatchError(`doc is missing path: ${path}`);
        }
        return cur;
    };
    const remove = (path: string): any => {
        const tokens = pointer(path);
        const { parent, key } = parentOf(tokens);
        if (Array.isArray(parent)) {
            const i = Number(key);
            if (!(i >= 0 && i < parent.length)) throw new PatchError(`doc is missing path: ${path}`);
            return parent.splice(i, 1)[0];
        }
        if (!isMap(parent) || !(key in parent)) throw new PatchError(`doc is missing path: ${path}`);
        const v = parent[key];
        delete parent[key];
        return v;
    };
    const add = (path: string, value: any): void => {
        const tokens = pointer(path);
        if (!tokens.length) { doc = value; return; }
        const { parent, key } = parentOf(tokens);
        if (Array.isArray(parent)) {
            const i = key === "-" ? parent.length : Number(key);
            if (!(i >= 0 && i <= parent.length)) throw new PatchError(`index out of range in ${path}`);
            parent.splice(i, 0, value);
        } else if (isMap(parent)) parent[key] = value;
        else throw new PatchError(`doc is missing path: ${path}`);
    };
    for (const op of ops) {
        switch (op?.op) {
            case "add": add(op.path, clone(op.value)); break;
            case "remove": remove(op.path); break;
            case "replace": remove(op.path); add(op.path, clone(op.value)); break;
            case "move": { const v = remove(op.from); add(op.path, v); break; }
            case "copy": add(op.path, clone(get(op.from))); break;
            case "test":
                if (!deepEqual(get(op.path), op.value)) throw new PatchError(`testing value ${op.path} failed`);
                break;
            default: throw new PatchError(`unexpected kind of JSON patch operation: ${JSON.stringify(op?.op)}`, 400);
        }
    }
    return doc;
}

/** Strategic merge patch for built-in kinds (list merge keys from the registry). */
export function strategicMergePatch(target: any, patch: any, t: ResourceType | undefined, names: string[] = []): any {
    if (!isMap(patch)) return clone(patch);
    if (patch.$patch === "replace") {
        const { $patch, ...rest } = patch;
        return clone(rest);
    }
    if (patch.$patch === "delete") return undefined;
    let out: any = isMap(target) ? { ...target } : {};
    if (Array.isArray(patch.$retainKeys)) {
        for (const k of Object.keys(out)) if (!patch.$retainKeys.includes(k)) delete out[k];
    }
    for (const [k, v] of Object.entries(patch)) {
        if (k === "$patch" || k === "$retainKeys" || k.startsWith("$setElementOrder/")) continue;
        if (k.startsWith("$deleteFromPrimitiveList/")) {
            const field = k.slice("$deleteFromPrimitiveList/".length);
            if (Array.isArray(out[field]) && Array.isArray(v)) out[field] = out[field].filter((x: any) => !v.some((d) => deepEqual(d, x)));
            continue;
        }
        const childNames = [...names, k];
        if (v === null) { delete out[k]; continue; }
        if (Array.isArray(v)) {
            const lk = listKindAt(t, childNames, v.find(isMap) ?? (Array.isArray(out[k]) ? out[k][0] : undefined));
            if (lk.type === "map" && Array.isArray(out[k])) {
                let list = [...out[k]];
                for (const item of v) {
                    if (isMap(item) && item.$patch === "replace") { list = []; continue; }
                    const key = JSON.stringify(itemKey(item, lk.keys));
                    const i = list.findIndex((x) => JSON.stringify(itemKey(x, lk.keys)) === key);
                    if (isMap(item) && item.$patch === "delete") { if (i >= 0) list.splice(i, 1); continue; }
                    if (i >= 0) list[i] = strategicMergePatch(list[i], item, t, childNames);
                    else list.push(strategicMergePatch(undefined, item, t, childNames));
                }
                out[k] = list;
                continue;
            }
            if (lk.type === "set" && Array.isArray(out[k])) {
                const list = [...out[k]];
                for (const item of v) if (!list.some((x) => deepEqual(x, item))) list.push(clone(item));
                out[k] = list;
                continue;
            }
            out[k] = clone(v);
            continue;
        }
        const merged = strategicMergePatch(out[k], v, t, childNames);
        if (merged === undefined) delete out[k];
        else out[k] = merged;
    }
    return out;
}
