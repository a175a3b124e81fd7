/** `gitops up config` and `gitops up summary`: the steps of `npm run up` (scripts/up.sh) that read config and the cluster. */
import { execFile } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promisify } from "util";
import { Command, parseFlags } from "../util/cli";
import { CLUSTER_KINDS } from "../config/schema";
import { listStacks, stackFilePath } from "../config/load";
import { GitopsError } from "../errors";
import { collectSummary, formatSummary, localStackFile } from "./index";

const run = promisify(execFile);

export const upConfigCommand: Command = {
    path: ["up", "config"],
    summary: "write the stack file npm run up gives Pulumi when the local control plane stands in for the cluster",
    help: `Usage: gitops up config --stack NAME --out FILE [--project DIR]

Writes Pulumi.NAME.yaml as \`npm run up\` passes it to Pulumi (--config-file) when the local
control plane stands in for the configured cluster (k3d or kind without a Docker engine): the
same settings with gitops:cluster.kind local, less what needs Helm charts (gitops:releases,
Helm sources, gitops:delivery): the local control plane's Pods are kwok's stand-ins that run no
container, so webhooks, meshes and metrics servers cannot work there, and the Kustomizations
waiting on those releases would never be Ready.
Each setting left out is printed with the reason. Pulumi.NAME.yaml itself is not changed.
`,
    async run(args, io) {
        const { values: f } = parseFlags("up config", args, { stack: { type: "string" }, out: { type: "string" }, project: { type: "string" } }, { required: ["stack", "out"] });
        const project = path.resolve(f.project ?? ".");
        const { text, leftOut } = localStackFile(project, f.stack!);
        // Never over a stack file of the project (its own included): that would replace the
        // stack's settings with the local control plane's.
        const out = path.resolve(f.out!);
        if (path.dirname(out) === project && listStacks(project).some((s) => `Pulumi.${s}.yaml` === path.basename(out))) {
            throw new GitopsError("--out", `${out} is a stack file of this project; writing there would replace its settings`, "write elsewhere, e.g. --out .gitops/up/Pulumi.<stack>.yaml (as npm run up does)");
        }
        fs.mkdirSync(path.dirname(out), { recursive: true });
        fs.writeFileSync(`${out}.tmp`, text);
        fs.renameSync(`${out}.tmp`, out);
        io.out(`wrote ${f.out}: Pulumi.${f.stack}.yaml with gitops:cluster.kind local\n`);
        for (const l of leftOut) io.out(`  left out ${l.key}: ${l.why}\n`);
        return 0;
    },
};

export const upSummaryCommand: Command = {
    path: ["up", "summary"],
    summary: "what runs after npm run up: the fleet commit, the Kustomizations Ready at it, the apps' Deployments",
    help: `Usage: gitops up summary --stack NAME --kind KIND [--project DIR]

Prints what runs for a stack after \`npm run up\`: the cluster, the fleet commit (Pulumi's
fleetCommit output), each Flux Kustomization and whether it is Ready at that commit, each app's
Deployment, how to look, and how to tear down. KIND is the cluster that runs (local, k3d, kind,
existing, none). Needs the Pulumi CLI on PATH and the stack selected.
`,
    async run(args, io) {
        const { values: f } = parseFlags("up summary", args, { stack: { type: "string" }, kind: { type: "string" }, project: { type: "string" } }, { required: ["stack", "kind"] });
        const [stack, kind] = [f.stack!, f.kind!];
        const project = path.resolve(f.project ?? ".");
        // The name goes into a file name (.gitops/up/kubeconfig-<stack>): a stack name only.
        stackFilePath(project, stack);
        if (!(CLUSTER_KINDS as readonly string[]).includes(kind)) throw new GitopsError("--kind", `must be one of ${CLUSTER_KINDS.join(", ")}; got ${JSON.stringify(kind)}`);
        // The kubeconfig output is a secret: read it only when it is the way in (k3d, kind).
        const secrets = kind === "k3d" || kind === "kind";
        const pulumiArgs = ["stack", "output", "--json", "--stack", stack, ...(secrets ? ["--show-secrets"] : [])];
        let outputs: Record<string, unknown>;
        try {
            outputs = JSON.parse((await run("pulumi", pulumiArgs, { cwd: project, maxBuffer: 64 << 20 })).stdout);
        } catch (e) {
            throw new GitopsError(`stack ${stack}`, `cannot read its outputs: ${(e as Error).message.split("\n")[0]}`, "run `npm run up` first");
        }
        // Point at `gitops get` only when this checkout has it.
        const silent = { out: () => undefined, err: () => undefined };
        const hasGet = (await (require("../cli") as typeof import("../cli")).main(["get", "--help"], silent)) === 0;
        const summary = await collectSummary({ projectDir: project, stack, kind, outputs, kubeconfigOut: path.join(project, ".gitops", "up", `kubeconfig-${stack}`), hasGet });
        io.out(formatSummary(summary, project));
        return 0;
    },
};
