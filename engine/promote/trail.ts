/**
 * The promotion trail lives in commit trailers, so Git history alone says what was promoted,
 * from which revision, when and by whom:
 *
 *   Promoted-From: dev@<sha>        Rolled-Back: <sha>            Hotfix-From: prod@<sha>
 *   Promoted-To: test               Rolled-Back-On: test           Hotfix-To: main
 *   Promoted-By: Name <email>       Rolled-Back-By: Name <email>   Hotfix-By: Name <email>
 *   Promoted-At: <ISO time>         Rolled-Back-At: <ISO time>     Hotfix-At: <ISO time>
 *   Promotion-Model: branches|overlays
 */
import { Identity } from "../git/exec";

export type TrailKind = "promotion" | "rollback" | "hotfix";

export interface TrailRecord {
    kind: TrailKind;
    /** The commit carrying the trailers. */
    commit: string;
    subject: string;
    /** Stage (or branch) the change came from, and the revision there. */
    from?: { stage: string; revision: string };
    /** Stage or branch the change went to. */
    to?: string;
    by?: string;
    at?: string;
    model?: string;
    /** rollback: the commit reverted */
    reverts?: string;
    /** every trailer of the commit */
    trailers: Record<string, string>;
}

export function ident(author: Identity): string {
    return `${author.name} <${author.email}>`;
}

/** A commit message: subject, optional body, then a trailer block. */
export function message(subject: string, body: string | undefined, trailers: Array<[string, string]>): string {
    const block = trailers.map(([k, v]) => `${k}: ${v}`).join("\n");
    return `${subject}\n\n${body ? body.trimEnd() + "\n\n" : ""}${block}\n`;
}

/** The trailers of a commit message: `Key: value` lines of its last paragraph. */
export function parseTrailers(msg: string): Record<string, string> {
    const paras = msg.trim().split(/\n[ \t]*\n/);
    if (paras.length < 2) return {};
    const last = paras[paras.length - 1].split("\n");
    const out: Record<string, string> = {};
    for (const line of last) {
        const m = /^([A-Za-z0-9][A-Za-z0-9-]*):\s*(.*)$/.exec(line);
        if (!m) {
            if (/^\s/.test(line)) continue; // continuation
            return {}; // not a trailer block
        }
        out[m[1]] = m[2].trim();
    }
    return out;
}

function at(v: string | undefined): { stage: string; revision: string } | undefined {
    if (!v) return undefined;
    const i = v.lastIndexOf("@");
    return i < 0 ? { stage: v, revision: "" } : { stage: v.slice(0, i), revision: v.slice(i + 1) };
}

/** The trail record a commit carries, if any. */
export function recordOf(commit: string, msg: string): TrailRecord | undefined {
    const t = parseTrailers(msg);
    const subject = msg.split("\n")[0];
    if (t["Promoted-From"]) {
        return { kind: "promotion", commit, subject, from: at(t["Promoted-From"]), to: t["Promoted-To"], by: t["Promoted-By"], at: t["Promoted-At"], model: t["Promotion-Model"], trailers: t };
    }
    if (t["Rolled-Back"]) {
        return { kind: "rollback", commit, subject, reverts: t["Rolled-Back"], to: t["Rolled-Back-On"], by: t["Rolled-Back-By"], at: t["Rolled-Back-At"], trailers: t };
    }
    if (t["Hotfix-From"]) {
        return { kind: "hotfix", commit, subject, from: at(t["Hotfix-From"]), to: t["Hotfix-To"], by: t["Hotfix-By"], at: t["Hotfix-At"], trailers: t };
    }
    return undefined;
}

/** Parses `git log --format=%H%x00%B%x1e` output into trail records (newest first, as logged). */
export function parseLog(text: string): TrailRecord[] {
    const out: TrailRecord[] = [];
    for (const rec of text.split("\x1e")) {
        const r = rec.replace(/^\n+/, "");
        if (!r) continue;
        const nul = r.indexOf("\0");
        if (nul < 0) continue;
        const t = recordOf(r.slice(0, nul), r.slice(nul + 1));
        if (t) out.push(t);
    }
    return out;
}
