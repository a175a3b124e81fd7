/**
 * The `gitops` command line: a thin dispatcher over engine/ commands. No Pulumi imports.
 *
 * Each command lives next to the code it drives and exports a `Command` (engine/util/cli.ts);
 * register it in COMMANDS below, one line each. Every command and every command group answers
 * `--help`.
 */
import { isGitopsError } from "./errors";
import type { CliIO, Command } from "./util/cli";

const stdio: CliIO = {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
};

/** Loaded lazily so one command's dependencies do not slow down another. */
const COMMANDS: Array<() => Command> = [
    // registered commands (one line each):
    () => require("./images/update-cli").imageUpdateCommand,
    () => require("./images/policy-cli").policySelectCommand,
    () => require("./cluster/cli").clusterApplyCommand,
    () => require("./cluster/cli").clusterDiffCommand,
    () => require("./cluster/cli").clusterHealthCommand,
    () => require("./cluster/cli").clusterWaitCommand,
    () => require("./fleet/cli").fleetRenderCommand,
    () => require("./fleet/cli").fleetServeCommand,
    () => require("./render/cli").renderCommand,
    () => require("./promote/cli").promoteCommand,
    () => require("./report/cli").reportCommand,
    () => require("./render/ks-cli").buildKsCommand,
    () => require("./render/ks-cli").diffKsCommand,
    () => require("./cluster/flux-cli").getCommand,
    () => require("./cluster/flux-cli").reconcileCommand,
    () => require("./cluster/flux-cli").suspendFluxCommand,
    () => require("./cluster/flux-cli").resumeFluxCommand,
    () => require("./prereq/cli").checkCommand,
    () => require("./up/cli").upConfigCommand,
    () => require("./up/cli").upSummaryCommand,
    () => require("./oci/cli").pushArtifactCommand,
    () => require("./oci/cli").promoteArtifactCommand,
    () => require("./status/cli").statusCommand,
    () => require("./localcluster/cli").localUpCommand,
    () => require("./localcluster/cli").localDownCommand,
    () => require("./localcluster/cli").localStatusCommand,
    () => require("./localcluster/cli").localLogsCommand,
];

const isHelp = (a: string) => a === "--help" || a === "-h";

function usage(cmds: Command[], group: string[] = []): string {
    const width = Math.max(...cmds.map((c) => c.path.join(" ").length), 10);
    const lines = cmds.map((c) => `  gitops ${c.path.join(" ").padEnd(width)}  ${c.summary}`);
    const head = group.length ? `Usage: gitops ${group.join(" ")} <command> [options]` : "Usage: gitops <command> [options]";
    return `${head}\n\nCommands:\n${lines.join("\n")}\n\nRun 'gitops <command> --help' for a command's options.\n`;
}

export async function main(argv: string[], io: CliIO = stdio): Promise<number> {
    const cmds = COMMANDS.map((load) => load());
    // Longest matching path wins, so `fleet render` beats a hypothetical `fleet`.
    const match = cmds
        .filter((c) => c.path.every((w, i) => argv[i] === w))
        .sort((a, b) => b.path.length - a.path.length)[0];
    if (!match) {
        if (argv.length === 0 || argv[0] === "help" || isHelp(argv[0])) {
            io.out(usage(cmds));
            return argv.length === 0 ? 2 : 0;
        }
        // A command group (`gitops cluster`, `gitops get ks`): the words before the first flag
        // that every command in the group starts with.
        const firstFlag = argv.findIndex((a) => a.startsWith("-"));
        const words = firstFlag < 0 ? argv : argv.slice(0, firstFlag);
        for (let n = words.length; n > 0; n--) {
            const group = cmds.filter((c) => c.path.length > n && words.slice(0, n).every((w, i) => c.path[i] === w));
            if (group.length === 0) continue;
            if (n === argv.length || argv.slice(n).some(isHelp)) {
                if (argv.slice(n).some(isHelp)) {
                    io.out(usage(group, words.slice(0, n)));
                    return 0;
                }
                io.err(`gitops ${words.slice(0, n).join(" ")}: a subcommand is needed\n\n${usage(group, words.slice(0, n))}`);
                return 2;
            }
            io.err(`gitops: unknown command '${words.join(" ")}'\n\n${usage(group, words.slice(0, n))}`);
            return 2;
        }
        io.err(`gitops: unknown command '${argv.join(" ")}'\n\n${usage(cmds)}`);
        return 2;
    }
    const rest = argv.slice(match.path.length);
    if (rest.some(isHelp)) {
        io.out(match.help.endsWith("\n") ? match.help : match.help + "\n");
        return 0;
    }
    try {
        return await match.run(rest, io);
    } catch (err) {
        if (isGitopsError(err)) {
            // Errors that already name the command (`gitops render: ...`) are printed as they are.
            const prefix = err.where.startsWith("gitops ") ? "" : `gitops ${match.path.join(" ")}: `;
            io.err(`${prefix}${err.message}\n`);
            return 1;
        }
        throw err;
    }
}
