/**
 * `gitops status`: desired against actual per environment, from the stack files, Git, the
 * registry and the cluster; no Pulumi.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import type { CliIO, Command } from "../util/cli";
import type { StackConfig } from "../config/schema";
import { GitopsError } from "../errors";
import { credentialsFor, parseCli } from "../oci/cli";
import { projectRepo } from "../git/url";
import { registryHost } from "../images/ref";

const HELP = `Usage:
  gitops status [--stack S ... | --all] [-o json] [--dir PROJECT] [--kubeconfig FILE] [--context CTX]

Per environment (stack), what should run against what Flux reports, without Pulumi:

  desired   the fleet branch head (<branch>@sha1:<commit>), or with gitops:fleet.oci the digest
            the environment's tag holds in the registry and the source revision in its
            org.opencontainers.image.revision annotation
  actual    the flux-system source's artifact revision and each Kustomization's
            lastAppliedRevision and Ready condition
  in sync   every one of them at the desired revision and Ready; since = the last Ready
            transition (in sync) or when the desired state appeared (not in sync)
  differs   one line per object that is not there yet, with what it has
  trail     the source commit (from the artifact's annotations, or the branch head) and its
            promotion/rollback/hotfix trailers

Options:
  --stack S         an environment (repeatable); default every Pulumi.<stack>.yaml (--all)
  --all             every stack in --dir
  -o, --output json one JSON document {environments: [...]} for other tools
  --dir PROJECT     the Pulumi project directory (default: .)
  --kubeconfig FILE default $KUBECONFIG, else ~/.kube/config
  --context CTX     the kubeconfig context; default per stack: gitops:cluster.existing.context,
                    k3d-<cluster.name> (k3d), kind-<cluster.name> (kind), else the current one

Registry credentials come from GITOPS_REGISTRY_CREDS (user:password or a JSON map host ->
user:password); Git credentials from GITOPS_GIT_TOKEN. Exit code 0 when every environment is
in sync, 1 otherwise.
`;

/** The kubeconfig context a stack's cluster is expected under. */
export function contextFor(cfg: StackConfig): string | undefined {
    if (cfg.cluster.kind === "existing") return cfg.cluster.existing.context;
    if (cfg.cluster.kind === "k3d") return `k3d-${cfg.cluster.name}`;
    if (cfg.cluster.kind === "kind") return `kind-${cfg.cluster.name}`;
    return undefined;
}

function readKubeconfig(flag: string | undefined, cfg: StackConfig, dir: string): string | undefined {
    const file =
        flag ??
        (cfg.cluster.kind === "existing" && cfg.cluster.existing.kubeconfigPath ? path.resolve(dir, cfg.cluster.existing.kubeconfigPath) : undefined) ??
        process.env.KUBECONFIG?.split(path.delimiter)[0] ??
        path.join(os.homedir(), ".kube", "config");
    if (!fs.existsSync(file)) {
        if (flag) throw new GitopsError("--kubeconfig", `${file} does not exist`, "give the cluster's kubeconfig file");
        return undefined;
    }
    return fs.readFileSync(file, "utf8");
}

export const statusCommand: Command = {
    path: ["status"],
    summary: "desired against actual per environment (Git or OCI artifact vs what Flux applied)",
    help: HELP,
    async run(args: string[], io: CliIO): Promise<number> {
        const { values: v, positionals } = parseCli("status", args, {
            stack: { type: "string", multiple: true },
            all: { type: "boolean" },
            output: { type: "string", short: "o" },
            dir: { type: "string" },
            kubeconfig: { type: "string" },
            context: { type: "string" },
        });
        if (positionals.length) throw new GitopsError("status", `unexpected argument ${JSON.stringify(positionals[0])}`, "see 'gitops status --help'");
        if (v.all && v.stack) throw new GitopsError("--all", "conflicts with --stack", "give one of them");
        if (v.output !== undefined && v.output !== "json") throw new GitopsError("--output", `must be json; got ${JSON.stringify(v.output)}`);
        const dir = path.resolve(v.dir ?? ".");
        const { listStacks, loadStackFile } = await import("../config/load");
        const { renderFleet } = await import("../fleet/layout");
        const { environmentStatus, formatStatus } = await import("./index");
        const stacks = v.stack ?? listStacks(dir);
        if (stacks.length === 0) throw new GitopsError(dir, "no Pulumi.<stack>.yaml here", "run in the project directory or pass --dir");
        const gitAuth = process.env.GITOPS_GIT_TOKEN ? { httpsToken: process.env.GITOPS_GIT_TOKEN, ...(process.env.GITOPS_GIT_USER ? { httpsUser: process.env.GITOPS_GIT_USER } : {}) } : undefined;
        const envs = [];
        for (const stack of stacks) {
            const { config } = loadStackFile(dir, stack);
            const host = config.fleet.oci ? registryHost(config.fleet.oci.repository) : "";
            envs.push(
                await environmentStatus({
                    config,
                    repo: projectRepo(dir, config.fleet.url),
                    kustomizations: renderFleet(config).kustomizations,
                    gitAuth,
                    registryAuth: config.fleet.oci ? credentialsFor(host, undefined).auth : undefined,
                    kubeconfig: readKubeconfig(v.kubeconfig, config, dir),
                    context: v.context ?? contextFor(config),
                }),
            );
        }
        io.out(v.output === "json" ? JSON.stringify({ environments: envs }, null, 2) + "\n" : formatStatus(envs));
        return envs.every((e) => e.inSync) ? 0 : 1;
    },
};
