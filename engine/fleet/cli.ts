/** `gitops fleet render`: writes the fleet repository a stack declares, with neither Pulumi nor a cluster. */
import * as fs from "fs";
import * as path from "path";
import type { Command } from "../util/cli";
import { loadStackFile } from "../config/load";
import { SECRET_KEYS } from "../config/schema";
import { GitopsError } from "../errors";
import { parseFlags, portFlag } from "../util/cli";
import { AtomicOptions, writeTreeAtomic } from "../util/atomic";
import { FleetPlan, stackPlan } from "./layout";

/** Reads a stack file and renders its fleet plan; shared by the CLI and tests. */
export function planForStack(projectDir: string, stack: string): FleetPlan {
    const { config, secretKeys } = loadStackFile(projectDir, stack);
    return stackPlan(config, projectDir, { notificationSecrets: secretKeys.includes(SECRET_KEYS.notificationSecrets) });
}

/**
 * Writes a plan's files under `out`, replacing whatever the stack owns there, atomically: every
 * path is confined to `out` (symbolic links included), the new tree is staged in temporary
 * siblings and swapped in; a failure leaves `out` exactly as it was.
 */
export function writePlan(plan: FleetPlan, out: string, opts: Pick<AtomicOptions, "beforeStep"> = {}): void {
    writeTreeAtomic(out, { files: plan.files, replaceDirs: plan.owned }, { where: "--out", ...opts });
}

export const fleetRenderCommand: Command = {
    path: ["fleet", "render"],
    summary: "write the fleet repo a stack declares (reads Pulumi.<stack>.yaml; no Pulumi, no cluster)",
    help: `Usage: gitops fleet render --stack NAME --out DIR [--project DIR]

Reads Pulumi.NAME.yaml in the project directory (default: the current directory), validates its
gitops:* config, and writes the fleet repository files that stack declares under DIR:
clusters/NAME, infrastructure/{base,NAME}, apps/{base,NAME}. Files the stack owns
(clusters/NAME, infrastructure/NAME, apps/NAME) are replaced; base entries are added or updated.
Render several stacks into the same DIR to get the whole monorepo.

Then 'kubectl kustomize DIR/clusters/NAME' builds what Flux syncs for that environment.

Options:
  --stack NAME     the stack (environment) to render, e.g. dev
  --out DIR        where to write the files (created if missing)
  --project DIR    the Pulumi project directory holding Pulumi.NAME.yaml (default: .)
`,
    async run(args, io) {
        const { values: f } = parseFlags("fleet render", args, { stack: { type: "string" }, out: { type: "string" }, project: { type: "string" } }, { required: ["stack", "out"] });
        const project = path.resolve(f.project ?? ".");
        const plan = planForStack(project, f.stack!);
        const out = path.resolve(f.out!);
        writePlan(plan, out);
        io.out(`wrote ${Object.keys(plan.files).length} files for stack ${f.stack} to ${out}\n`);
        return 0;
    },
};

export const fleetServeCommand: Command = {
    path: ["fleet", "serve"],
    summary: "serve local fleet repos read-only over Git smart HTTP, for Flux in a local cluster",
    help: `Usage: gitops fleet serve [--root DIR] [--port N] [--host ADDR]

Serves the bare repositories under DIR (default .fleet) read-only over Git's smart HTTP
protocol, so Flux in a local k3d or kind cluster can pull the embedded default's fleet repo
(the dev stack's GitRepository URL is http://host.k3d.internal:8765/fleet.git).
Runs until interrupted.

Options:
  --root DIR    directory holding the bare repositories (default: .fleet)
  --port N      port (default: 8765)
  --host ADDR   address to listen on (default: 0.0.0.0, so the cluster's nodes can reach it)
`,
    async run(args, io) {
        const { values: f } = parseFlags("fleet serve", args, { root: { type: "string" }, port: { type: "string" }, host: { type: "string" } });
        const port = portFlag("port", f.port, 8765);
        const root = path.resolve(f.root ?? ".fleet");
        if (!fs.existsSync(root)) throw new GitopsError(root, "no such directory", "run the dev stack once (it creates .fleet/fleet.git) or pass --root");
        const { serveFleet } = await import("./serve");
        const s = await serveFleet(root, port, f.host ?? "0.0.0.0");
        io.out(`serving ${root} at ${s.url} (read-only)\n`);
        await new Promise<void>((resolve) => process.once("SIGINT", resolve).once("SIGTERM", resolve));
        await s.close();
        return 0;
    },
};
