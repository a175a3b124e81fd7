/**
 * The pull-request comment for one stack's `pulumi preview --diff --json`: FleetSync's per-file
 * and per-object diff (its detailedDiff keys `files["<path>"]`, `cluster["<object id>"]`), the
 * per-object lines FleetSync logs from diff, the last `reconcileSummary`, and the other resource
 * changes. The hidden marker `<!-- gitops-preview:<stack> -->` lets CI find and update the
 * stack's previous comment instead of adding another.
 */
import { GitopsError } from "../errors";

export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export interface PreviewStep {
    op: string;
    urn: string;
    type?: string;
    oldState?: { type?: string; inputs?: Record<string, any>; outputs?: Record<string, any> };
    newState?: { type?: string; inputs?: Record<string, any>; outputs?: Record<string, any> };
    diffReasons?: string[];
    detailedDiff?: Record<string, { kind?: string; diffKind?: string; inputDiff?: boolean }>;
}

export interface PreviewJson {
    steps?: PreviewStep[];
    diagnostics?: Array<{ urn?: string; message?: string; severity?: string }>;
    changeSummary?: Record<string, number>;
}

export const marker = (stack: string) => `<!-- gitops-preview:${stack} -->`;

export function parsePreview(text: string, where: string): PreviewJson {
    const t = text.trim();
    if (!t) return {};
    try {
        return JSON.parse(t) as PreviewJson;
    } catch (e) {
        throw new GitopsError(where, `not pulumi preview JSON: ${(e as Error).message}`, "run `pulumi preview --diff --json > FILE`");
    }
}

const typeOf = (s: PreviewStep) => s.type ?? s.newState?.type ?? s.oldState?.type ?? s.urn.split("::")[2]?.split("$").pop() ?? "";
const nameOf = (urn: string) => urn.split("::").pop() ?? urn;

function isFleetSync(s: PreviewStep): boolean {
    const t = typeOf(s);
    if (/FleetSync/.test(t)) return true;
    const inputs = s.newState?.inputs ?? s.oldState?.inputs ?? {};
    return /^pulumi-nodejs:dynamic/.test(t) && "files" in inputs && "stack" in inputs;
}

const SIGN: Record<string, string> = { add: "+", create: "+", update: "~", delete: "-", replace: "+-", "add-replace": "+-", "update-replace": "+-", "delete-replace": "+-" };

function known(v: unknown): string | undefined {
    return typeof v === "string" && v !== UNKNOWN && v !== "" ? v : undefined;
}

/** The comment body (markdown, starting with the marker). */
export function previewComment(stack: string, preview: PreviewJson, opts: { exitCode?: number; stderr?: string } = {}): string {
    const steps = preview.steps ?? [];
    const out: string[] = [marker(stack), `### \`pulumi preview\` — stack \`${stack}\``, ""];
    const failed = opts.exitCode !== undefined && opts.exitCode !== 0;
    if (failed) {
        out.push(`**The preview failed** (exit ${opts.exitCode}).`, "");
        const err = (opts.stderr ?? "").trim().split("\n").slice(-30).join("\n");
        if (err) out.push("```", err.replace(/```/g, "'''"), "```", "");
    }
    const summary = Object.entries(preview.changeSummary ?? {}).filter(([, n]) => n > 0).map(([op, n]) => `${n} to ${op}`);
    if (summary.length) out.push(`Resources: ${summary.join(", ")}`, "");

    for (const s of steps.filter(isFleetSync)) {
        const entries = Object.entries(s.detailedDiff ?? {}).map(([k, d]) => ({ key: k, kind: d.kind ?? d.diffKind ?? "update" }));
        out.push(`#### FleetSync \`${nameOf(s.urn)}\` (${s.op})`, "");
        const files = entries.filter((e) => e.key.startsWith("files["));
        const objects = entries.filter((e) => e.key.startsWith("cluster["));
        const rest = entries.filter((e) => !e.key.startsWith("files[") && !e.key.startsWith("cluster["));
        if (entries.length === 0) out.push(s.op === "same" ? "No change to the fleet repo or the cluster." : `Changed: ${(s.diffReasons ?? []).join(", ") || "(no detail)"}`, "");
        const table = (title: string, list: typeof entries, strip: RegExp) => {
            if (!list.length) return;
            out.push(`| | ${title} |`, "|---|---|");
            for (const e of list.sort((a, b) => a.key.localeCompare(b.key))) out.push(`| \`${SIGN[e.kind] ?? e.kind}\` | \`${e.key.replace(strip, "$1")}\` |`);
            out.push("");
        };
        table(`fleet repo file (${files.length})`, files, /^files\["(.*)"\]$/);
        table(`cluster object (${objects.length})`, objects, /^cluster\["(.*)"\]$/);
        table("setting", rest, /^(.*)$/);
        const last = known(s.oldState?.outputs?.summary);
        if (last) out.push(`Last reconcile: ${last}`, "");
    }
    const stackStep = steps.find((s) => typeOf(s) === "pulumi:pulumi:Stack");
    const rs = known(stackStep?.newState?.outputs?.reconcileSummary) ?? known(stackStep?.oldState?.outputs?.reconcileSummary);
    if (rs) out.push(`\`reconcileSummary\`: ${rs}`, "");

    const logs = (preview.diagnostics ?? []).filter((d) => /FleetSync/.test(d.message ?? ""));
    if (logs.length) {
        out.push("<details><summary>FleetSync diff log</summary>", "", "```");
        for (const d of logs) out.push(`${d.severity ?? "info"}: ${(d.message ?? "").trimEnd().replace(/```/g, "'''")}`);
        out.push("```", "", "</details>", "");
    }
    const others = steps.filter((s) => !isFleetSync(s) && s.op !== "same" && s.op !== "read");
    if (others.length) {
        out.push(`<details><summary>Other resource changes (${others.length})</summary>`, "", "| op | type | name |", "|---|---|---|");
        for (const s of others) out.push(`| ${s.op} | \`${typeOf(s)}\` | \`${nameOf(s.urn)}\` |`);
        out.push("", "</details>", "");
    }
    if (!failed && !steps.some((s) => s.op !== "same")) out.push("No changes.", "");
    return out.join("\n").trimEnd() + "\n";
}
