/**
 * `gitops report`: delivery metrics from the fleet repo's history (and optional reconcile
 * results) as text, JSON and an HTML page; `gitops report preview`: the pull-request comment for
 * one stack's `pulumi preview --diff --json`.
 */
import * as fs from "fs";
import * as path from "path";
import type { Command, CliIO } from "../util/cli";
import { GitopsError } from "../errors";
import { intFlag, parseFlags } from "../util/cli";
import { isStackName } from "../config/load";

const HELP = `Usage:
  gitops report --repo URL|DIR [--results FILE] [--since ISO] [--until ISO] [--stack S ...]
                [--branch B ...] [--json FILE|-] [--html FILE]
  gitops report preview --stack S --json FILE [--exit-code N] [--stderr FILE] [--out FILE]

Delivery metrics per environment from the fleet repo's history: FleetSync's reconcile commits
("Reconcile <stack>"), the promotion/rollback/hotfix trailers engine/promote writes, and an
optional JSON array of reconcile results {stack, commit, committedAt, appliedAt, result,
recoverySeconds}.

  deployment frequency   deployments per day in the period
  lead time              first commit of the change -> applied (needs results with appliedAt)
  change failure rate    failed (result not applied/succeeded, or rolled back) / deployments
  time to restore        failure -> the rollback (or next good deployment)

Options:
  --repo       the fleet repository (URL or local path)
  --results    reconcile results JSON file
  --since/--until  the period (ISO times); default the first and last deployment
  --stack      only these stacks (repeatable)
  --branch     only these branches (repeatable); default all
  --json       write the full metrics as JSON to FILE (- for stdout instead of the table)
  --html       write an HTML page with plots (inline SVG) to FILE

preview: writes the markdown comment (with the hidden marker <!-- gitops-preview:S -->) for
the JSON of \`pulumi preview --diff --json\`; --exit-code and --stderr report a failed preview.
`;

function readFile(file: string, flag: string): string {
    try {
        return fs.readFileSync(file, "utf8");
    } catch (e) {
        throw new GitopsError(flag, `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, "check the path");
    }
}

function writeOut(file: string, text: string, io: CliIO): void {
    if (file === "-") return io.out(text);
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(file, text);
}

async function runPreview(args: string[], io: CliIO): Promise<number> {
    const { values: f } = parseFlags(
        "report preview",
        args,
        { stack: { type: "string" }, json: { type: "string" }, "exit-code": { type: "string" }, stderr: { type: "string" }, out: { type: "string" } },
        { required: ["stack", "json"] },
    );
    const { parsePreview, previewComment } = await import("./preview");
    const stack = f.stack!;
    if (!isStackName(stack)) throw new GitopsError("--stack", `not a stack name: ${JSON.stringify(stack)}`, "a stack name is a DNS label (lower-case letters, digits and '-')");
    const code = f["exit-code"] === undefined ? undefined : intFlag("exit-code", f["exit-code"], 0, { min: 0, max: 255, what: "an exit code (0-255)" });
    const json = f.json!;
    const body = previewComment(stack, parsePreview(readFile(json, "--json"), json), {
        exitCode: code,
        stderr: f.stderr ? readFile(f.stderr, "--stderr") : undefined,
    });
    writeOut(f.out ?? "-", body, io);
    return 0;
}

export const reportCommand: Command = {
    path: ["report"],
    summary: "delivery metrics (deploy frequency, lead time, failure rate, time to restore); preview comments",
    help: HELP,
    async run(args: string[], io: CliIO): Promise<number> {
        if (args[0] === "preview") return runPreview(args.slice(1), io);
        const { values: f } = parseFlags(
            "report",
            args,
            {
                repo: { type: "string" },
                results: { type: "string" },
                since: { type: "string" },
                until: { type: "string" },
                stack: { type: "string", multiple: true },
                branch: { type: "string", multiple: true },
                json: { type: "string" },
                html: { type: "string" },
            },
            { required: ["repo"] },
        );
        const { deliveryMetrics, parseResults } = await import("./metrics");
        const { renderHtml, renderText } = await import("./html");
        const resultsFile = f.results;
        const results = resultsFile ? parseResults(readFile(resultsFile, "--results"), resultsFile) : undefined;
        const m = await deliveryMetrics({
            repo: f.repo!,
            branches: f.branch,
            stacks: f.stack,
            results,
            since: f.since,
            until: f.until,
        });
        const json = f.json;
        if (json) writeOut(json, JSON.stringify(m, null, 2) + "\n", io);
        if (json !== "-") io.out(renderText(m));
        const html = f.html;
        if (html) {
            writeOut(html, renderHtml(m), io);
            if (json !== "-") io.out(`wrote ${html}\n`);
        }
        return 0;
    },
};
