/**
 * A self-contained HTML page for the delivery metrics: a table of the four keys per environment,
 * and two inline SVG plots (no JS, no libraries): deployments over time per environment, and the
 * lead-time distribution.
 */
import type { DeliveryMetrics, StackMetrics } from "./metrics";

const COLORS = ["#2b6cb0", "#d69e2e", "#c53030", "#2f855a", "#6b46c1", "#319795"];

export function esc(s: string): string {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

/** 3725 -> "1h 2m"; undefined -> "–" */
export function duration(seconds: number | undefined): string {
    if (seconds === undefined) return "–";
    const s = Math.round(seconds);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`.replace(/ 0s$/, "");
    if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`.replace(/ 0m$/, "");
    return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`.replace(/ 0h$/, "");
}

/** Lead-time buckets (upper bounds in seconds). */
export const LEAD_BUCKETS: Array<{ label: string; max: number }> = [
    { label: "< 10m", max: 600 },
    { label: "10m–1h", max: 3600 },
    { label: "1h–6h", max: 6 * 3600 },
    { label: "6h–1d", max: 86400 },
    { label: "1d–7d", max: 7 * 86400 },
    { label: "> 7d", max: Infinity },
];

/** Deployments per day (or per week when the period is longer than 60 days), per stack. */
export function deployBins(m: DeliveryMetrics): { unit: "day" | "week"; labels: string[]; counts: Record<string, number[]> } {
    const unit = m.days > 60 ? "week" : "day";
    const step = unit === "day" ? 86400_000 : 7 * 86400_000;
    const start = Date.parse(m.since.slice(0, 10) + "T00:00:00Z");
    const end = Date.parse(m.until);
    const n = Math.max(1, Math.floor((end - start) / step) + 1);
    const labels = Array.from({ length: n }, (_, i) => new Date(start + i * step).toISOString().slice(0, 10));
    const counts: Record<string, number[]> = {};
    for (const s of m.stacks) counts[s.stack] = new Array(n).fill(0);
    for (const d of m.deployments) {
        const i = Math.floor((Date.parse(d.appliedAt ?? d.committedAt) - start) / step);
        if (i >= 0 && i < n && counts[d.stack]) counts[d.stack][i]++;
    }
    return { unit, labels, counts };
}

export function leadBins(m: DeliveryMetrics): Record<string, number[]> {
    const out: Record<string, number[]> = {};
    for (const s of m.stacks) out[s.stack] = new Array(LEAD_BUCKETS.length).fill(0);
    for (const d of m.deployments) {
        if (d.leadTimeSeconds === undefined || !out[d.stack]) continue;
        out[d.stack][LEAD_BUCKETS.findIndex((b) => d.leadTimeSeconds! < b.max)]++;
    }
    return out;
}

/** Grouped bar chart: one group per label, one bar per series. */
function barChart(title: string, labels: string[], series: Record<string, number[]>, id: string): string {
    const names = Object.keys(series);
    const W = 720, H = 260, L = 40, B = 50, T = 30, R = 10;
    const max = Math.max(1, ...names.flatMap((n) => series[n]));
    const ticks = max <= 5 ? max : 5;
    const gw = (W - L - R) / Math.max(1, labels.length);
    const bw = Math.max(1, (gw * 0.8) / Math.max(1, names.length));
    const y = (v: number) => T + (H - T - B) * (1 - v / max);
    const parts: string[] = [];
    parts.push(`<svg id="${id}" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(title)}">`);
    parts.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>`);
    for (let i = 0; i <= ticks; i++) {
        const v = (max * i) / ticks;
        const yy = y(v).toFixed(1);
        parts.push(`<line x1="${L}" x2="${W - R}" y1="${yy}" y2="${yy}" stroke="#e2e8f0"/><text x="${L - 4}" y="${yy}" text-anchor="end" font-size="10" dominant-baseline="middle">${Math.round(v * 10) / 10}</text>`);
    }
    const every = Math.ceil(labels.length / 12);
    labels.forEach((lab, gi) => {
        names.forEach((n, si) => {
            const v = series[n][gi];
            if (!v) return;
            const x = L + gi * gw + gw * 0.1 + si * bw;
            parts.push(`<rect class="bar" data-series="${esc(n)}" data-label="${esc(lab)}" data-value="${v}" x="${x.toFixed(1)}" y="${y(v).toFixed(1)}" width="${bw.toFixed(1)}" height="${(H - B - y(v)).toFixed(1)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(n)} ${esc(lab)}: ${v}</title></rect>`);
        });
        if (gi % every === 0) parts.push(`<text x="${(L + gi * gw + gw / 2).toFixed(1)}" y="${H - B + 14}" text-anchor="middle" font-size="10">${esc(lab)}</text>`);
    });
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#4a5568"/>`);
    names.forEach((n, si) => {
        const x = L + si * 90;
        parts.push(`<rect x="${x}" y="${H - 18}" width="10" height="10" fill="${COLORS[si % COLORS.length]}"/><text x="${x + 14}" y="${H - 9}" font-size="11">${esc(n)}</text>`);
    });
    parts.push(`</svg>`);
    return parts.join("\n");
}

function row(s: StackMetrics): string {
    const pct = `${Math.round(s.changeFailureRate * 1000) / 10}%`;
    return `<tr><th>${esc(s.stack)}</th><td>${s.deployments}</td><td>${s.deploymentsPerDay}</td><td>${duration(s.leadTime.medianSeconds)}</td><td>${pct} (${s.failures}/${s.deployments})</td><td>${s.rollbacks}</td><td>${duration(s.timeToRestore.medianSeconds)}</td><td>${duration(s.recovery.medianSeconds)}</td></tr>`;
}

export function renderHtml(m: DeliveryMetrics, title = "Delivery metrics"): string {
    const bins = deployBins(m);
    const lead = leadBins(m);
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#1a202c}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #cbd5e0;padding:4px 10px;text-align:right}th{background:#edf2f7}svg{display:block;margin:1em 0}</style>
</head><body>
<h1>${esc(title)}</h1>
<p>${m.all.deployments === 0 ? `no deployments (as of ${esc(m.until)})` : `${esc(m.since)} – ${esc(m.until)} (${m.days} days)`}</p>
${(m.notes ?? []).map((n) => `<p class="note">${esc(n)}</p>`).join("\n")}
<table id="metrics">
<tr><th>environment</th><th>deployments</th><th>per day</th><th>lead time (median)</th><th>change failure rate</th><th>rollbacks</th><th>time to restore (median)</th><th>DR recovery (median)</th></tr>
${[...m.stacks, m.all].map(row).join("\n")}
</table>
${barChart(`Deployments per ${bins.unit}`, bins.labels, bins.counts, "deploys")}
${barChart("Lead time, commit to applied", LEAD_BUCKETS.map((b) => b.label), lead, "leadtime")}
</body></html>
`;
}

/** The metrics as a plain-text table. */
export function renderText(m: DeliveryMetrics): string {
    const head = ["env", "deploys", "per day", "lead time p50", "failure rate", "rollbacks", "restore p50", "DR p50"];
    const rows = [...m.stacks, m.all].map((s) => [
        s.stack,
        String(s.deployments),
        String(s.deploymentsPerDay),
        duration(s.leadTime.medianSeconds),
        `${Math.round(s.changeFailureRate * 1000) / 10}% (${s.failures}/${s.deployments})`,
        String(s.rollbacks),
        duration(s.timeToRestore.medianSeconds),
        duration(s.recovery.medianSeconds),
    ]);
    const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (r: string[]) => r.map((c, i) => c.padEnd(w[i])).join("  ").trimEnd();
    const period = m.all.deployments === 0 ? `no deployments (as of ${m.until})` : `${m.since} .. ${m.until} (${m.days} days)`;
    const notes = (m.notes ?? []).map((n) => `note: ${n}\n`).join("");
    return `${period}\n${[head, ...rows].map(line).join("\n")}\n${notes}`;
}
