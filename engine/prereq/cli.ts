/** `gitops check`: every prerequisite of a stack (and of the tests), present or missing, with its fix. */
import { spawn } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "node:util";
import type { Command, CliIO } from "../util/cli";
import { loadStackFile } from "../config/load";
import { GitopsError } from "../errors";
import { blocking, CheckContext, defaultContext, formatReport, missingMessage, Report, StackInfo, summarize, testSection, upSection, UpPlan } from "./index";
import { which } from "./tools";

const HELP = `Usage: gitops check [--stack NAME] [--tests] [--install] [--plan FILE] [--project DIR]

Lists every prerequisite of a stack (read from Pulumi.NAME.yaml: gitops:cluster.kind decides
which cluster tools it needs) and of the tests, present or missing, each with the command that
fixes it, like \`flux check --pre\`. Exits 1 when something required is missing. \`npm run up\`
runs it first; \`npm test\` runs \`gitops check --tests --install\` first.

Options:
  --stack NAME    the stack to check for \`npm run up\` (default: dev)
  --tests         check what \`npm test\` needs instead (git, kubectl, ssh-keygen, docker-registry)
  --install       as root with apt-get: install the missing Debian packages, then check again;
                  otherwise print one message naming what is missing and the command to run
  --plan FILE     also write what \`npm run up\` will do as shell variables (for scripts/up.sh)
  --project DIR   the project folder (default: .)
`;

export const checkCommand: Command = {
    path: ["check"],
    summary: "list the prerequisites of a stack and of the tests, present or missing, with the fix for each",
    help: HELP,
    async run(args, io) {
        let values;
        try {
            ({ values } = parseArgs({
                args,
                strict: true,
                options: { stack: { type: "string" }, tests: { type: "boolean" }, install: { type: "boolean" }, plan: { type: "string" }, project: { type: "string" } },
            }));
        } catch (e) {
            throw new GitopsError("gitops check", (e as Error).message, "see 'gitops check --help'");
        }
        const ctx = defaultContext(path.resolve(values.project ?? "."));
        if (values.tests) return checkTests(ctx, io, !!values.install);
        const stack = values.stack ?? "dev";
        const report = await checkStack(ctx, stackInfo(ctx.projectDir, stack));
        io.out(formatReport(report));
        if (values.plan && report.plan) writePlan(values.plan, report.plan);
        return report.ok ? 0 : 1;
    },
};

/** The stack facts the check needs, from Pulumi.<stack>.yaml (the schema validates the rest). */
export function stackInfo(projectDir: string, stack: string): StackInfo {
    const loaded = loadStackFile(projectDir, stack);
    const c = loaded.config.cluster;
    return {
        stack,
        kind: c.kind,
        file: path.basename(loaded.file),
        existing: { kubeconfigPath: c.existing.kubeconfigPath, secretSet: loaded.secretKeys.includes("kubeconfig") },
    };
}

export async function checkStack(ctx: CheckContext, info: StackInfo): Promise<Report> {
    const [{ section, plan }, tests] = await Promise.all([upSection(ctx, info), testSection(ctx, false)]);
    return summarize([section, tests], plan);
}

/** `npm test`'s pretest: what the tests need, installed with apt as root, or one message with the command. */
export async function checkTests(ctx: CheckContext, io: CliIO, install: boolean): Promise<number> {
    let section = await testSection(ctx, true);
    let missing = section.findings.filter(blocking);
    if (missing.length && install) {
        const pkgs = missing.filter((f) => f.apt).map((f) => f.apt!);
        const apt = which("apt-get", ctx.env);
        if (pkgs.length && apt && process.getuid?.() === 0) {
            io.err(`npm test: installing ${pkgs.join(" ")} (apt-get, once)\n`);
            const env = { ...ctx.env, DEBIAN_FRONTEND: "noninteractive" };
            await run(apt, ["update", "-qq"], env);
            // All at once; if one cannot be had (no such package here), the others one by one.
            if (!(await run(apt, ["install", "-y", "-qq", ...pkgs], env)) && pkgs.length > 1) {
                for (const p of pkgs) await run(apt, ["install", "-y", "-qq", p], env);
            }
            section = await testSection(ctx, true);
            missing = section.findings.filter(blocking);
        }
    }
    if (missing.length) {
        io.err(missingMessage("npm test", missing));
        return 1;
    }
    if (!install) io.out(formatReport(summarize([section])));
    return 0;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<boolean> {
    return new Promise((resolve) => {
        const p = spawn(file, args, { env, stdio: ["ignore", "ignore", "inherit"] });
        p.on("error", () => resolve(false));
        p.on("close", (code) => resolve(code === 0));
    });
}

/** Shell assignments for scripts/up.sh (values single-quoted). */
export function planVariables(plan: UpPlan): Record<string, string> {
    return {
        GITOPS_STACK: plan.stack,
        GITOPS_CLUSTER_CONFIGURED: plan.configuredKind,
        GITOPS_CLUSTER_KIND: plan.kind,
        GITOPS_CLUSTER_REASON: plan.reason ?? "",
        GITOPS_PULUMI: plan.pulumi?.path ?? "",
        GITOPS_PULUMI_SOURCE: plan.pulumi?.source ?? "",
        GITOPS_PULUMI_BIN_DIR: plan.pulumi?.binDir ?? "",
        GITOPS_BUILD: plan.build.join(" "),
        GITOPS_BUILD_ESTIMATE: plan.buildEstimate,
        GITOPS_E2E_BIN: plan.bin,
    };
}

export function writePlan(file: string, plan: UpPlan): void {
    const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`;
    const text = Object.entries(planVariables(plan)).map(([k, v]) => `${k}=${q(v)}\n`).join("");
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(`${file}.tmp`, text);
    fs.renameSync(`${file}.tmp`, file);
}
