/**
 * The `gitops` command line: a thin dispatcher over engine/ commands. No Pulumi imports.
 *
 * Each command lives next to the code it drives and exports a `Command`; register it in
 * COMMANDS below. Every command answers `--help`.
 */
import { isGitopsError } from "./errors";

export interface Command {
    /** Words that select the command, e.g. ["fleet", "render"]. */
    readonly path: string[];
    /** One line for the command list. */
    readonly summary: string;
    /** Full help text printed for `--help`. */
    readonly help: string;
    /** Runs the command with the arguments after its path; returns the exit code. */
    run(args: string[], io: CliIO): Promise<number>;
}

export interface CliIO {
    out(text: string): void;
    err(text: string): void;
}

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
    () => require("./localcluster/cli").localUpCommand,
    () => require("./localcluster/cli").localDownCommand,
    () => require("./localcluster/cli").localStatusCommand,
    () => require("./localcluster/cli").localLogsCommand,
];

function usage(cmds: Command[]): string {
    const width = Math.max(...cmds.map((c) => c.path.join(" ").length), 10);
    const lines = cmds.map((c) => `  gitops ${c.path.join(" ").padEnd(width)}  ${c.summary}`);
    return `Usage: gitops <command> [options]\n\nCommands:\n${lines.join("\n")}\n\nRun 'gitops <command> --help' for a command's options.\n`;
}

export async function main(argv: string[], io: CliIO = stdio): Promise<number> {
    const cmds = COMMANDS.map((load) => load());
    // Longest matching path wins, so `fleet render` beats a hypothetical `fleet`.
    const match = cmds
        .filter((c) => c.path.every((w, i) => argv[i] === w))
        .sort((a, b) => b.path.length - a.path.length)[0];
    if (!match) {
        if (argv.length === 0 || argv[0] === "--help" || argv[0] === "-h" || argv[0] === "help") {
            io.out(usage(cmds));
            return argv.length === 0 ? 2 : 0;
        }
        io.err(`gitops: unknown command '${argv.join(" ")}'\n\n${usage(cmds)}`);
        return 2;
    }
    const rest = argv.slice(match.path.length);
    if (rest.includes("--help") || rest.includes("-h")) {
        io.out(match.help.endsWith("\n") ? match.help : match.help + "\n");
        return 0;
    }
    try {
        return await match.run(rest, io);
    } catch (err) {
        if (isGitopsError(err)) {
            io.err(`gitops ${match.path.join(" ")}: ${err.message}\n`);
            return 1;
        }
        throw err;
    }
}
