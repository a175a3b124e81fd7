/**
 * `gitops local up|down|status|logs`: the local control plane with real Flux (controlplane.ts),
 * managed from the command line. `up` leaves the pieces running after it returns; the state folder
 * (pids, ports, kubeconfig, logs) is how the other subcommands find them.
 */
import * as fs from "fs";
import * as path from "path";
import { parseArgs } from "util";
import type { Command, CliIO } from "../util/cli";
import { intFlag, portFlag } from "../util/cli";
import { GitopsError } from "../errors";
import { defaultBin, defaultDir, down, LocalControlPlane, PIECE_WIDTH, PIECES, readState, status } from "./controlplane";

/** The --dir option's help line, its text starting at column `col` (after two spaces). */
const dirHelp = (col = 14) => `  ${"--dir DIR".padEnd(col)}state folder (default: $GITOPS_LOCAL_DIR or .gitops/local)`;

interface Parsed {
    values: Record<string, string | undefined> & { [flag: string]: any };
    positionals: string[];
}

function parse(cmd: string, args: string[], options: Record<string, { type: "string" | "boolean" }>, positionals = false): Parsed {
    try {
        return parseArgs({ args, options: { dir: { type: "string" }, ...options }, allowPositionals: positionals, strict: true }) as Parsed;
    } catch (e) {
        throw new GitopsError("arguments", (e as Error).message, `see \`gitops local ${cmd} --help\``);
    }
}

export const localUpCommand: Command = {
    path: ["local", "up"],
    summary: "start the local control plane with real Flux (API server, controllers, kwok, Flux, fleet server)",
    help: `Usage: gitops local up [--dir DIR] [--bin DIR] [--fleet-root DIR] [--fleet-port N]
                       [--no-helm] [--no-notification] [--no-images]

Starts, in order and each health-checked: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kwok (one fake Node, so Pods become Running and Ready), the Flux CRDs and the
flux-system namespace, then the Flux controllers: notification-controller (when built; the others
send their events to it), source-controller, kustomize-controller, and, when built,
helm-controller, image-reflector-controller and image-automation-controller; last a Git
smart-HTTP server for the fleet repos on 127.0.0.1 (it accepts pushes from loopback only, for
image-automation-controller). The binaries are built from published Go modules by
\`bash scripts/e2e-build.sh\`. They keep running after this command returns; stop them with
\`gitops local down\`. A start that fails or is interrupted (Ctrl-C) stops what it started.

Options:
${dirHelp(19)}
  --bin DIR          binaries (default: $GITOPS_E2E_BIN or /var/cache/gitops-e2e/bin)
  --fleet-root DIR   folder holding the bare fleet repos to serve (default: .fleet)
  --fleet-port N     fleet server port on 127.0.0.1 (default: 8765)
  --no-helm          do not start helm-controller even when it is built
  --no-notification  do not start notification-controller even when it is built
  --no-images        do not start image-reflector- and image-automation-controller even when built
`,
    async run(args, io) {
        const { values } = parse("up", args, {
            bin: { type: "string" },
            "fleet-root": { type: "string" },
            "fleet-port": { type: "string" },
            "no-helm": { type: "boolean" },
            "no-notification": { type: "boolean" },
            "no-images": { type: "boolean" },
        });
        const port = portFlag("fleet-port", values["fleet-port"], 8765);
        const dir = path.resolve(values.dir ?? defaultDir());
        const t0 = Date.now();
        const cp = await LocalControlPlane.start({
            dir,
            bin: values.bin ?? defaultBin(),
            fleetRoot: path.resolve(values["fleet-root"] ?? ".fleet"),
            fleetPort: port,
            helm: values["no-helm"] ? false : "auto",
            notification: values["no-notification"] ? false : "auto",
            images: values["no-images"] ? false : "auto",
            attached: false,
            progress: (l) => io.out(`${l}\n`),
        });
        io.out(
            [
                `local control plane up in ${((Date.now() - t0) / 1000).toFixed(1)}s`,
                `  kubeconfig: ${cp.kubeconfigPath}   (kubectl --kubeconfig ${path.relative(process.cwd(), cp.kubeconfigPath) || cp.kubeconfigPath} get pods -A)`,
                `  fleet:      ${cp.fleetUrl}/<repo>.git serves ${cp.state.fleetRoot}`,
                `  logs:       gitops local logs [piece]   stop: gitops local down`,
                "",
            ].join("\n"),
        );
        return 0;
    },
};

export const localDownCommand: Command = {
    path: ["local", "down"],
    summary: "stop the local control plane (every process it started)",
    help: `Usage: gitops local down [--dir DIR] [--purge]

Stops every piece recorded in the state folder, in reverse start order (SIGTERM, then SIGKILL
after 10 s), and removes the state file. Idempotent.

Options:
${dirHelp()}
  --purge       also delete etcd's data, the artifacts, certificates and the kubeconfig
`,
    async run(args, io) {
        const { values } = parse("down", args, { purge: { type: "boolean" } });
        const dir = path.resolve(values.dir ?? defaultDir());
        const had = await down(dir, (l) => io.out(`${l}\n`), { purge: values.purge });
        io.out(had ? `local control plane in ${dir} stopped\n` : `no local control plane runs from ${dir}\n`);
        return 0;
    },
};

export const localStatusCommand: Command = {
    path: ["local", "status"],
    summary: "show the local control plane's pieces: running or not, pid, ports",
    help: `Usage: gitops local status [--dir DIR] [--json]

One line per piece: running / stopped / skipped, its pid, ports and how long it took to become
ready. Exits 0 when every started piece runs, 1 when one has stopped, 3 when none is recorded.

Options:
${dirHelp()}
  --json        machine-readable output
`,
    async run(args, io) {
        const { values } = parse("status", args, { json: { type: "boolean" } });
        const dir = path.resolve(values.dir ?? defaultDir());
        const s = await status(dir);
        if (values.json) io.out(JSON.stringify({ dir, kubeconfig: s.state?.kubeconfig, server: s.state?.server, fleetUrl: s.state?.fleetUrl, pieces: s.pieces }, null, 2) + "\n");
        if (!s.state) {
            if (!values.json) io.out(`no local control plane recorded in ${dir} (start one with \`gitops local up\`)\n`);
            return 3;
        }
        if (!values.json) {
            io.out(`local control plane in ${dir}\n  server ${s.state.server}  fleet ${s.state.fleetUrl}  kubeconfig ${s.state.kubeconfig}\n`);
            for (const p of s.pieces) {
                const ports = p.ports ? Object.entries(p.ports).map(([k, v]) => `${k}=${v}`).join(" ") : "";
                const ready = p.readyMs !== undefined ? `ready in ${(p.readyMs / 1000).toFixed(1)}s` : "";
                io.out(`  ${p.piece.padEnd(PIECE_WIDTH)} ${p.state.padEnd(11)} ${p.pid ? `pid ${p.pid}` : ""} ${ports} ${ready}${p.detail ? ` ${p.detail}` : ""}`.trimEnd() + "\n");
            }
        }
        return s.pieces.some((p) => p.state === "stopped") ? 1 : 0;
    },
};

export const localLogsCommand: Command = {
    path: ["local", "logs"],
    summary: "print the last lines of a local control-plane piece's log",
    help: `Usage: gitops local logs [PIECE] [--dir DIR] [--lines N]

Prints the last N lines (default 40) of PIECE's log, or of every piece's log when PIECE is
omitted. Pieces: ${PIECES.join(", ")}.

Options:
${dirHelp()}
  --lines N     how many lines (default 40)
`,
    async run(args, io: CliIO) {
        const { values, positionals } = parse("logs", args, { lines: { type: "string" } }, true);
        const dir = path.resolve(values.dir ?? defaultDir());
        const n = intFlag("lines", values.lines, 40, { min: 1, max: 100_000, what: "a number of lines (1-100000)" });
        const wanted = positionals.length ? positionals : [...PIECES];
        for (const w of wanted) {
            if (!(PIECES as readonly string[]).includes(w)) throw new GitopsError("PIECE", `unknown piece ${JSON.stringify(w)}`, `one of ${PIECES.join(", ")}`);
        }
        const logDir = path.join(dir, "logs");
        const state = readState(dir);
        let shown = 0;
        for (const w of wanted) {
            const file = state?.pieces[w as keyof typeof state.pieces]?.log ?? path.join(logDir, `${w}.log`);
            if (!fs.existsSync(file)) continue;
            const lines = fs.readFileSync(file, "utf8").split("\n");
            if (lines[lines.length - 1] === "") lines.pop();
            io.out(`==> ${file} <==\n${lines.slice(-n).join("\n")}\n`);
            shown++;
        }
        if (!shown) throw new GitopsError(logDir, `no log for ${wanted.join(", ")}`, "start the control plane with `gitops local up`");
        return 0;
    },
};
