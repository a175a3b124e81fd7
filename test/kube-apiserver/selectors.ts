/**
 * Label selectors (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and the field
 * selectors the API server supports on every kind (metadata.name, metadata.namespace).
 */

export class SelectorError extends Error {}

export type Requirement =
    | { key: string; op: "=" | "!="; value: string }
    | { key: string; op: "in" | "notin"; values: string[] }
    | { key: string; op: "exists" | "!exists" };

/** Splits on commas outside parentheses. */
function terms(s: string): string[] {
    const out: string[] = [];
    let depth = 0, cur = "";
    for (const ch of s) {
        if (ch === "(") depth++;
        if (ch === ")") depth--;
        if (ch === "," && depth === 0) { out.push(cur); cur = ""; } else cur += ch;
    }
    out.push(cur);
    return out.map((x) => x.trim()).filter((x) => x);
}

const KEY = /^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$/;

export function parseLabelSelector(s: string): Requirement[] {
    return terms(s).map((term) => {
        let m = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(term);
        if (m) return { key: checkKey(m[1], s), op: m[2] as "in" | "notin", values: m[3].split(",").map((v) => v.trim()).filter((v) => v) };
        m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
        if (m) return { key: checkKey(m[1], s), op: m[2] === "!=" ? "!=" : "=", value: m[3].trim() };
        m = /^!\s*(\S+)$/.exec(term);
        if (m) return { key: checkKey(m[1], s), op: "!exists" };
        return { key: checkKey(term, s), op: "exists" };
    });
}

function checkKey(key: string, selector: string): string {
    if (!KEY.test(key)) throw new SelectorError(`unable to parse requirement: found '${key}' in selector ${JSON.stringify(selector)}`);
    return key;
}

export function matchLabels(reqs: Requirement[], labels: Record<string, string> | undefined): boolean {
    const l = labels ?? {};
    return reqs.every((r) => {
        const has = Object.prototype.hasOwnProperty.call(l, r.key);
        switch (r.op) {
            case "=": return has && l[r.key] === r.value;
            case "!=": return !has || l[r.key] !== r.value;
            case "in": return has && r.values.includes(l[r.key]);
            case "notin": return !has || !r.values.includes(l[r.key]);
            case "exists": return has;
            case "!exists": return !has;
        }
        return false;
    });
}

/** Field selector over metadata.name / metadata.namespace; other fields are rejected like the real server. */
export function parseFieldSelector(s: string): (obj: any) => boolean {
    const checks = terms(s).map((term) => {
        const m = /^([^=!\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
        if (!m) throw new SelectorError(`invalid selector: '${term}'; can't understand '${term}'`);
        const [, field, op, value] = m;
        if (field !== "metadata.name" && field !== "metadata.namespace") {
            throw new SelectorError(`field label not supported: ${field}`);
        }
        const key = field.slice("metadata.".length);
        return (obj: any) => (obj?.metadata?.[key] ?? "") === value ? op !== "!=" : op === "!=";
    });
    return (obj) => checks.every((c) => c(obj));
}
