/**
 * The local control plane with real Flux (cluster.kind: local, the e2e suite, the benchmarks):
 * every piece is a process built from published Go modules by scripts/e2e-build.sh, started in
 * order and health-checked, with one log file per piece and its state in a folder so another
 * process (`gitops local status|down|logs`) can find and stop it. No Pulumi imports.
 *
 *   etcd -> kube-apiserver -> kube-controller-manager -> kube-scheduler -> kwok (one fake Node)
 *   -> Flux CRDs + flux-system -> [notification-controller] -> source-controller
 *   -> kustomize-controller [-> helm-controller] [-> image-reflector-controller]
 *   [-> image-automation-controller] -> fleet (the fleet repos over Git smart HTTP, through
 *   `git http-backend`; pushes from loopback are accepted, for image-automation-controller)
 *
 *   const cp = await LocalControlPlane.start({ dir, fleetRoot });  // cp.kubeconfigPath, cp.fleetUrl
 *   await cp.wipe();   // disaster: stop, delete etcd's data and the artifacts, start again
 *   await cp.stop();   // SIGTERM, then SIGKILL after a grace period; no process is left behind
 *
 * `pieces: "api"` starts etcd and kube-apiserver only (tests of API semantics: schemas,
 * server-side apply, the engine's inventory against the real API server).
 *
 * The Flux controllers run out of cluster the way their own tests run them: KUBECONFIG and
 * RUNTIME_NAMESPACE in the environment (they have no --kubeconfig flag), their own
 * --metrics-addr/--health-addr, leader election off, and source-controller's artifact server on
 * --storage-addr, advertised to kustomize-controller through --storage-adv-addr. When
 * notification-controller runs, every other controller posts its events to its events server
 * (--events-addr, as upstream's install wires them to the notification-controller Service).
 * The optional controllers (OPTIONAL) start when their binaries are built.
 */
import { ChildProcess, execFile, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as https from "https";
import * as path from "path";
import { promisify } from "util";
import { GitopsError } from "../errors";
import { freePort, tcpOpen } from "../util/net";

const run = promisify(execFile);

/** The pieces in start order (stop runs in reverse). */
export const PIECES = [
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "notification-controller",
    "source-controller",
    "kustomize-controller",
    "helm-controller",
    "image-reflector-controller",
    "image-automation-controller",
    "fleet",
] as const;
export type Piece = (typeof PIECES)[number];

/** Pieces that are binaries from the build, with the scripts/e2e-build.sh piece that builds each. */
export const BINARIES: Record<Exclude<Piece, "fleet">, string> = {
    etcd: "kube",
    "kube-apiserver": "kube",
    "kube-controller-manager": "kube",
    "kube-scheduler": "kube",
    kwok: "kwok",
    "source-controller": "flux",
    "kustomize-controller": "flux",
    "helm-controller": "helm",
    "notification-controller": "fluxextra",
    "image-reflector-controller": "fluxextra",
    "image-automation-controller": "fluxextra",
};

/** The optional controllers, each with the start option that governs it. */
export const OPTIONAL_CONTROLLERS = {
    "notification-controller": "notification",
    "helm-controller": "helm",
    "image-reflector-controller": "images",
    "image-automation-controller": "images",
} as const satisfies Partial<Record<Piece, keyof LocalControlPlaneOptions>>;
export type OptionalController = keyof typeof OPTIONAL_CONTROLLERS;

/** Optional pieces: started when built, reported as absent otherwise. */
export const OPTIONAL: ReadonlySet<Piece> = new Set<Piece>(Object.keys(OPTIONAL_CONTROLLERS) as Piece[]);

/** Width of the piece column in progress and status lines. */
export const PIECE_WIDTH = Math.max(...PIECES.map((p) => p.length)) + 1;

export const FLUX_NAMESPACE = "flux-system";
export const NODE_NAME = "kwok-node-0";

export interface PieceState {
    pid: number;
    /** The executable, to tell our process from a recycled pid. */
    exe: string;
    ports: Record<string, number>;
    log: string;
    /** ISO time the process was spawned. */
    startedAt: string;
    /** Milliseconds from spawn until its health check passed. */
    readyMs?: number;
}

export interface LocalState {
    version: 1;
    dir: string;
    bin: string;
    kubeconfig: string;
    server: string;
    /** Base URL of the fleet server: <fleetUrl>/<repo>.git is a clone URL. */
    fleetUrl: string;
    fleetRoot: string;
    pieces: Partial<Record<Piece, PieceState>>;
    /** Pieces that were not started, with why (an optional binary that is not built). */
    skipped: Partial<Record<Piece, string>>;
    /** The Flux CRDs applied, and where they came from. */
    crds?: { source: string; names: string[]; establishedMs: number };
}

export interface LocalControlPlaneOptions {
    /** State folder (pids, ports, kubeconfig, logs, etcd data). Default $GITOPS_LOCAL_DIR or .gitops/local. */
    dir?: string;
    /** Folder with the binaries. Default $GITOPS_E2E_BIN or ${GITOPS_E2E_CACHE:-/var/cache/gitops-e2e}/bin. */
    bin?: string;
    /** Folder holding the bare fleet repos served over HTTP (GIT_PROJECT_ROOT). Default <dir>/fleet. */
    fleetRoot?: string;
    /** Port of the fleet server on 127.0.0.1. Default 0: a free port. */
    fleetPort?: number;
    /** Start helm-controller: true = required, false = never, "auto" (default) = when built. */
    helm?: boolean | "auto";
    /** Start notification-controller (and send every controller's events to it): as `helm`. */
    notification?: boolean | "auto";
    /** Start image-reflector-controller and image-automation-controller: as `helm`. */
    images?: boolean | "auto";
    /**
     * true (default): the pieces are stopped when this process exits or gets SIGINT/SIGTERM (tests).
     * false: they outlive this process (`gitops local up`); stop them with `gitops local down`.
     */
    attached?: boolean;
    /** Progress lines (one per piece and on long waits). */
    progress?: (line: string) => void;
    /** Upper bound for each piece's health check, ms. Default 120 000. */
    timeoutMs?: number;
    /**
     * "all" (default): every piece. "api": etcd and kube-apiserver only, for tests of API
     * semantics (schemas, server-side apply) that need no workloads and no Flux.
     */
    pieces?: "all" | "api";
}

/** The pieces that "api" starts. */
const API_PIECES: readonly Piece[] = ["etcd", "kube-apiserver"];

export function defaultDir(): string {
    return path.resolve(process.env.GITOPS_LOCAL_DIR || path.join(".gitops", "local"));
}

export function defaultBin(): string {
    return path.resolve(process.env.GITOPS_E2E_BIN || path.join(process.env.GITOPS_E2E_CACHE || "/var/cache/gitops-e2e", "bin"));
}

const STATE = "state.json";
/** What the cluster holds (a wipe deletes it): etcd's data, source-controller's artifacts, image-reflector-controller's tag database. */
const CLUSTER_DATA = ["etcd-data", "artifacts", "image-db"];
/** The ports the pieces had, kept across `down` so a restart answers at the same addresses. */
const PORTS = "ports.json";

export function readState(dir: string = defaultDir()): LocalState | undefined {
    const file = path.join(dir, STATE);
    if (!fs.existsSync(file)) return undefined;
    try {
        return JSON.parse(fs.readFileSync(file, "utf8")) as LocalState;
    } catch (e) {
        throw new GitopsError(file, `unreadable local control-plane state: ${(e as Error).message}`, "stop leftover processes by hand and delete the file");
    }
}

function writeState(s: LocalState): void {
    const file = path.join(s.dir, STATE);
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(s, null, 2) + "\n", { mode: 0o600 });
    fs.renameSync(`${file}.tmp`, file);
}

/** Why a binary is missing (from <bin>/status/<name>, written by scripts/e2e-build.sh), or undefined when it is there. */
export function missingBinary(bin: string, name: string): string | undefined {
    try {
        fs.accessSync(path.join(bin, name), fs.constants.X_OK);
        return undefined;
    } catch {
        /* missing */
    }
    let status = "";
    try {
        status = fs.readFileSync(path.join(bin, "status", name), "utf8").trim().split("\n")[0];
    } catch {
        /* never built */
    }
    const piece = (BINARIES as Record<string, string>)[name] ?? name;
    return `${path.join(bin, name)} is not built${status ? ` (${status})` : ""}; run \`bash scripts/e2e-build.sh ${piece}\``;
}

/** A folder that is there or can be made: no file where it or one of its parents should be. */
function checkFolder(dir: string, what: string): void {
    for (let p = path.resolve(dir); ; p = path.dirname(p)) {
        let st: fs.Stats | undefined;
        try {
            st = fs.statSync(p);
        } catch {
            /* not there yet: look at its parent */
        }
        if (st) {
            if (st.isDirectory()) return;
            throw new GitopsError(dir, `${what} is not a folder: ${p === path.resolve(dir) ? "it is a file" : `${p} is a file`}`, "pass a folder, or move the file");
        }
        if (path.dirname(p) === p) return;
    }
}

/** The required binaries that are missing, name -> why: for every piece, or for "api" (etcd and kube-apiserver). */
export function missingBinaries(bin: string = defaultBin(), pieces: "all" | "api" = "all"): Record<string, string> {
    const out: Record<string, string> = {};
    const names = pieces === "api" ? API_PIECES : Object.keys(BINARIES).filter((name) => !OPTIONAL.has(name as Piece));
    for (const name of names) {
        const why = missingBinary(bin, name);
        if (why) out[name] = why;
    }
    if (pieces === "all" && !fs.existsSync(kwokStagesFile(bin))) out["kwok-stages.yaml"] = `${kwokStagesFile(bin)} is missing; run \`bash scripts/e2e-build.sh kwok\``;
    return out;
}

function kwokStagesFile(bin: string): string {
    return path.join(bin, "kwok-stages.yaml");
}

export { freePort };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One HTTP(S) GET on loopback: status and body, or throws. Self-signed certificates are accepted. */
export function httpGet(url: string, token?: string, timeoutMs = 5000): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
        const mod = url.startsWith("https:") ? https : http;
        const req = mod.get(url, { rejectUnauthorized: false, headers: token ? { Authorization: `Bearer ${token}` } : {}, timeout: timeoutMs } as https.RequestOptions, (res) => {
            let body = "";
            res.setEncoding("utf8");
            res.on("data", (d) => (body += d));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on("timeout", () => req.destroy(new Error(`GET ${url}: timeout`)));
        req.on("error", reject);
    });
}

/** True when `pid` is alive and runs `exe` (not a recycled pid). */
export function alive(pid: number, exe: string): boolean {
    try {
        process.kill(pid, 0);
    } catch {
        return false;
    }
    try {
        const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
        // A zombie (state Z) has exited already.
        if (/^\d+ \(.*\) Z/.test(stat)) return false;
        return cmd.some((a) => a === exe) || path.basename(cmd[0]) === path.basename(exe);
    } catch {
        return true; // no /proc: trust kill(0)
    }
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
export async function terminate(pid: number, exe: string, graceMs = 10_000): Promise<"stopped" | "killed" | "gone"> {
    if (!alive(pid, exe)) return "gone";
    try {
        process.kill(pid, "SIGTERM");
    } catch {
        return "gone";
    }
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline) {
        if (!alive(pid, exe)) return "stopped";
        await sleep(100);
    }
    try {
        process.kill(pid, "SIGKILL");
    } catch {
        /* gone meanwhile */
    }
    for (let i = 0; i < 50 && alive(pid, exe); i++) await sleep(100);
    return "killed";
}

function tail(file: string, lines = 20): string {
    try {
        return fs.readFileSync(file, "utf8").split("\n").slice(-lines).join("\n").trim();
    } catch {
        return "(no log)";
    }
}

/** The controllers whose CRDs the control plane serves: every one the pinned Flux release ships (`flux install --components-extra` included). */
export const CRD_COMPONENTS = ["source-controller", "kustomize-controller", "helm-controller", "notification-controller", "image-reflector-controller", "image-automation-controller"];

/**
 * The Flux CRDs: the upstream install of the pinned release (engine/flux/upstream) with every
 * component, extras included, when its manifests are cached; else the controllers' own
 * config/crd/bases in the Go module cache, at the pinned versions when those are there
 * (source- and kustomize-controller's are required, the others' are used when downloaded).
 * Every kind is served even when its optional controller does not run, as on a cluster
 * installed with the extra components: a fleet declaring an ImagePolicy still applies.
 */
export function fluxCrds(opts: { gomod?: string } = {}): { source: string; yaml: string } {
    let pinned: Record<string, string> = {};
    let upstreamWhy = "";
    let upstream: any;
    try {
        // eslint-disable-next-line @typescript-eslint/no-var-requires
        upstream = require("../flux/upstream");
    } catch (e) {
        if (!/Cannot find module/.test((e as Error).message)) throw e;
    }
    if (upstream?.loadUpstreamInstall) {
        pinned = upstream.FLUX_RELEASE?.components ?? {};
        try {
            const u = upstream.loadUpstreamInstall({ components: CRD_COMPONENTS });
            return { source: `upstream Flux ${u.version} install`, yaml: u.crds };
        } catch (e) {
            upstreamWhy = ` (the upstream install is not cached: ${(e as Error).message.split("\n")[0]})`;
        }
    }
    const gomod = opts.gomod ?? path.join(process.env.GITOPS_E2E_CACHE || "/var/cache/gitops-e2e", "gomod");
    const root = path.join(gomod, "github.com", "fluxcd");
    const required = new Set(["source-controller", "kustomize-controller"]);
    const docs: string[] = [];
    const used: string[] = [];
    for (const m of CRD_COMPONENTS) {
        const bases = (d: string) => path.join(root, d, "config", "crd", "bases");
        const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((d) => d.startsWith(`${m}@v`) && fs.existsSync(bases(d))) : [];
        // The pinned version, else the newest (v1.9.10 after v1.9.9).
        versions.sort((a, b) => b.localeCompare(a, undefined, { numeric: true }));
        const pick = versions.find((v) => v === `${m}@${pinned[m]}`) ?? versions[0];
        if (!pick) {
            if (!required.has(m)) continue;
            throw new GitopsError(bases(`${m}@<version>`), `the ${m} CRDs are not in the Go module cache${upstreamWhy}`, "run `bash scripts/e2e-build.sh flux` (it downloads the controller modules)");
        }
        for (const f of fs.readdirSync(bases(pick)).filter((f) => f.endsWith(".yaml")).sort()) docs.push(fs.readFileSync(path.join(bases(pick), f), "utf8"));
        used.push(pick);
    }
    return { source: `config/crd/bases of ${used.join(", ")}${upstreamWhy}`, yaml: docs.map((d) => d.replace(/^---\n/, "")).join("\n---\n") };
}

export class LocalControlPlane {
    readonly dir: string;
    readonly bin: string;
    readonly kubeconfigPath: string;
    readonly logDir: string;
    state: LocalState;
    private readonly procs = new Map<Piece, ChildProcess>();
    private readonly opts: Required<Omit<LocalControlPlaneOptions, "dir" | "bin" | "fleetRoot" | "progress">> & { progress: (l: string) => void };
    private token = "";
    private guard?: () => void;
    private signalGuard?: (sig: NodeJS.Signals) => void;

    private constructor(opts: LocalControlPlaneOptions) {
        this.dir = path.resolve(opts.dir ?? defaultDir());
        this.bin = path.resolve(opts.bin ?? defaultBin());
        this.kubeconfigPath = path.join(this.dir, "kubeconfig");
        this.logDir = path.join(this.dir, "logs");
        this.opts = {
            fleetPort: opts.fleetPort ?? 0,
            helm: opts.helm ?? "auto",
            notification: opts.notification ?? "auto",
            images: opts.images ?? "auto",
            attached: opts.attached ?? true,
            timeoutMs: opts.timeoutMs ?? 120_000,
            pieces: opts.pieces ?? "all",
            progress: opts.progress ?? (() => undefined),
        };
        this.state = {
            version: 1,
            dir: this.dir,
            bin: this.bin,
            kubeconfig: this.kubeconfigPath,
            server: "",
            fleetUrl: "",
            fleetRoot: path.resolve(opts.fleetRoot ?? path.join(this.dir, "fleet")),
            pieces: {},
            skipped: {},
        };
    }

    /** Starts every piece in order; on any failure stops what was started and throws (with the piece's log tail). */
    static async start(opts: LocalControlPlaneOptions = {}): Promise<LocalControlPlane> {
        const cp = new LocalControlPlane(opts);
        const missing = missingBinaries(cp.bin, cp.opts.pieces);
        for (const c of cp.opts.pieces === "all" ? (Object.keys(OPTIONAL_CONTROLLERS) as OptionalController[]) : []) {
            const why = cp.wanted(c) === true ? missingBinary(cp.bin, c) : undefined;
            if (why) missing[c] = why;
        }
        if (Object.keys(missing).length) {
            throw new GitopsError(
                "local control plane",
                `missing pieces:\n  - ${Object.values(missing).join("\n  - ")}\n`,
                "the binaries are built from published Go modules into the e2e cache, about 20 CPU-minutes cold",
            );
        }
        const old = readState(cp.dir);
        if (old && Object.entries(old.pieces).some(([, p]) => p && alive(p.pid, p.exe))) {
            throw new GitopsError(cp.dir, "a local control plane is already running from this folder", "run `gitops local down` first, or `gitops local status` to see it");
        }
        // Both checked before either is created: a refused start leaves no folder behind.
        checkFolder(cp.dir, "the state folder (--dir, $GITOPS_LOCAL_DIR)");
        checkFolder(cp.state.fleetRoot, "the fleet root (--fleet-root)");
        fs.mkdirSync(cp.state.fleetRoot, { recursive: true });
        fs.mkdirSync(cp.logDir, { recursive: true });
        cp.prepareCredentials();
        try {
            cp.previousPorts = JSON.parse(fs.readFileSync(path.join(cp.dir, PORTS), "utf8"));
        } catch {
            /* first start in this folder */
        }
        // Guarded while it starts, also when detached: an interrupted or failed start leaves nothing running.
        cp.installGuards();
        for (let attempt = 1; ; attempt++) {
            const logSizes = cp.logSizes();
            try {
                await cp.startAll();
                cp.keepGuardsIfAttached();
                return cp;
            } catch (e) {
                // freePort releases a port before the piece binds it: another process may take it
                // meanwhile (or hold a port from ports.json without listening). Then start again
                // with new ports for that piece, at most 3 times; any other failure stops here.
                const stolen = attempt < 3 ? cp.portsTakenSince(logSizes) : [];
                if (!stolen.length) {
                    await cp.stop();
                    throw e;
                }
                await cp.stopPieces();
                for (const piece of stolen) {
                    delete cp.ports[piece];
                    delete cp.previousPorts[piece];
                }
                cp.opts.progress(`  ${stolen.join(", ")}: a port was taken by another process before it could bind it; starting again on new ports`);
                cp.installGuards();
            }
        }
    }

    /** The size of each piece's log now. */
    private logSizes(): Map<string, number> {
        const sizes = new Map<string, number>();
        for (const f of fs.existsSync(this.logDir) ? fs.readdirSync(this.logDir) : []) sizes.set(f, fs.statSync(path.join(this.logDir, f)).size);
        return sizes;
    }

    /** The pieces whose log, since `sizes`, says one of their ports was in use when they bound it. */
    private portsTakenSince(sizes: Map<string, number>): Piece[] {
        return (Object.keys(this.ports) as Piece[]).filter((piece) => {
            const file = path.join(this.logDir, `${piece}.log`);
            let text: string;
            try {
                text = fs.readFileSync(file).subarray(sizes.get(`${piece}.log`) ?? 0).toString("utf8");
            } catch {
                return false;
            }
            // Go: "listen tcp 127.0.0.1:N: bind: address already in use"; Node (the fleet server): "EADDRINUSE: address already in use 127.0.0.1:N".
            return Object.values(this.ports[piece] ?? {}).some((port) => text.includes(`127.0.0.1:${port}: bind: address already in use`) || text.includes(`address already in use 127.0.0.1:${port}`));
        });
    }

    get server(): string {
        return this.state.server;
    }

    /** The start option of an optional controller: true = required, false = never, "auto" = when built. */
    private wanted(c: OptionalController): boolean | "auto" {
        return this.opts[OPTIONAL_CONTROLLERS[c]];
    }

    /** Decides which optional controllers start (recording why the others do not). */
    private optionalControllers(): Set<OptionalController> {
        const run = new Set<OptionalController>();
        for (const c of Object.keys(OPTIONAL_CONTROLLERS) as OptionalController[]) {
            const why = this.wanted(c) === false ? "not requested" : missingBinary(this.bin, c);
            if (why) this.state.skipped[c] = why;
            else {
                run.add(c);
                delete this.state.skipped[c];
            }
        }
        return run;
    }

    get fleetUrl(): string {
        return this.state.fleetUrl;
    }

    /** Runs kubectl against this control plane. */
    async kubectl(args: string[], input?: string): Promise<string> {
        return kubectlAt(this.kubeconfigPath, args, input);
    }

    /** Disaster: stop every piece, delete etcd's data, source-controller's artifacts and the image scans, start again on the same ports. */
    async wipe(): Promise<void> {
        await this.stopPieces();
        for (const f of CLUSTER_DATA) fs.rmSync(path.join(this.dir, f), { recursive: true, force: true });
        this.installGuards();
        await this.startAll();
        this.keepGuardsIfAttached();
    }

    /** Stops every piece (reverse order), removes the state file. Safe to call twice. */
    async stop(): Promise<void> {
        await this.stopPieces();
        fs.rmSync(path.join(this.dir, STATE), { force: true });
    }

    private async stopPieces(): Promise<void> {
        this.removeGuards();
        const res = await stopPieces(this.state, this.opts.progress);
        this.procs.clear();
        this.state.pieces = {};
        return res;
    }

    private prepareCredentials(): void {
        const keyFile = path.join(this.dir, "sa.key");
        if (!fs.existsSync(keyFile)) {
            const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
            fs.writeFileSync(keyFile, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600 });
            fs.writeFileSync(path.join(this.dir, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
        }
        const tokens = path.join(this.dir, "tokens.csv");
        if (fs.existsSync(tokens)) this.token = fs.readFileSync(tokens, "utf8").split(",")[0];
        else {
            this.token = crypto.randomBytes(24).toString("hex");
            fs.writeFileSync(tokens, `${this.token},local-admin,local-admin,system:masters\n`, { mode: 0o600 });
        }
    }

    /**
     * The pieces go down with this process, also on SIGINT/SIGTERM: while they start, always;
     * afterwards only when attached (see keepGuardsIfAttached).
     */
    private installGuards(): void {
        if (this.guard) return;
        this.guard = () => {
            for (const p of Object.values(this.state.pieces)) {
                if (p && alive(p.pid, p.exe)) {
                    try {
                        process.kill(p.pid, "SIGKILL");
                    } catch {
                        /* gone */
                    }
                }
            }
            try {
                fs.rmSync(path.join(this.dir, STATE), { force: true });
            } catch {
                /* best effort at exit */
            }
        };
        this.signalGuard = (sig) => {
            this.opts.progress(`local control plane: ${sig}, stopping`);
            void this.stop().finally(() => process.kill(process.pid, sig));
        };
        process.once("exit", this.guard);
        process.once("SIGINT", this.signalGuard);
        process.once("SIGTERM", this.signalGuard);
    }

    /** After a start: detached pieces outlive this process (`gitops local down` stops them). */
    private keepGuardsIfAttached(): void {
        if (!this.opts.attached) this.removeGuards();
    }

    private removeGuards(): void {
        if (this.guard) process.removeListener("exit", this.guard);
        if (this.signalGuard) {
            process.removeListener("SIGINT", this.signalGuard);
            process.removeListener("SIGTERM", this.signalGuard);
        }
        this.guard = this.signalGuard = undefined;
    }

    /**
     * A piece's port: the one it had before in this folder when that is still free (ports.json
     * survives `down`, so a restart keeps the kubeconfig and the GitRepository URL valid), else
     * `fixed`, else a free one.
     */
    private async port(piece: Piece, name: string, fixed?: number): Promise<number> {
        const known = this.ports[piece]?.[name];
        if (known) return known;
        const before = this.previousPorts[piece]?.[name];
        const taken = new Set(Object.values(this.ports).flatMap((m) => Object.values(m ?? {})));
        const reuse = before && !taken.has(before) && !(await tcpOpen(before));
        const p = fixed || (reuse ? before : await freePort());
        (this.ports[piece] ??= {})[name] = p;
        fs.writeFileSync(path.join(this.dir, PORTS), JSON.stringify(this.ports, null, 2) + "\n");
        return p;
    }

    /** Ports survive a wipe (the kubeconfig and the GitRepository URL keep working). */
    private readonly ports: Partial<Record<Piece, Record<string, number>>> = {};
    private previousPorts: Partial<Record<Piece, Record<string, number>>> = {};

    private spawnPiece(piece: Piece, exe: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
        const log = path.join(this.logDir, `${piece}.log`);
        const fd = fs.openSync(log, "a");
        fs.writeSync(fd, `--- ${new Date().toISOString()} ${exe} ${args.join(" ")}\n`);
        const proc = spawn(exe, args, {
            stdio: ["ignore", fd, fd],
            cwd: this.dir,
            env: { ...process.env, ...env },
            // Own process group: a terminal's Ctrl-C reaches us, and we stop the pieces in order.
            detached: true,
        });
        fs.closeSync(fd);
        if (!this.opts.attached) proc.unref();
        proc.on("error", () => undefined); // reported through the health check (exitCode)
        this.procs.set(piece, proc);
        this.state.pieces[piece] = { pid: proc.pid ?? -1, exe, ports: this.ports[piece] ?? {}, log, startedAt: new Date().toISOString() };
        writeState(this.state);
        return proc;
    }

    /** Polls `check` until it returns true; fails when the process exits or the timeout passes. */
    private async waitReady(piece: Piece, what: string, check: () => Promise<boolean | string>): Promise<void> {
        const proc = this.procs.get(piece);
        const t0 = Date.now();
        const deadline = t0 + this.opts.timeoutMs;
        let last = "";
        let nextNote = t0 + 10_000;
        while (Date.now() < deadline) {
            if (proc && (proc.exitCode !== null || proc.signalCode !== null)) {
                throw new GitopsError(`local control plane: ${piece}`, `exited (${proc.exitCode ?? proc.signalCode}) before ${what}; last lines of ${this.state.pieces[piece]?.log}:\n${tail(this.state.pieces[piece]!.log)}`);
            }
            try {
                const r = await check();
                if (r === true) {
                    const st = this.state.pieces[piece];
                    if (st) {
                        st.readyMs = Date.now() - Date.parse(st.startedAt);
                        writeState(this.state);
                    }
                    return;
                }
                if (typeof r === "string") last = r;
            } catch (e) {
                last = (e as Error).message;
            }
            if (Date.now() > nextNote) {
                this.opts.progress(`  ${piece}: waiting for ${what} (${Math.round((Date.now() - t0) / 1000)}s${last ? `; ${last.slice(0, 120)}` : ""})`);
                nextNote += 10_000;
            }
            await sleep(200);
        }
        throw new GitopsError(`local control plane: ${piece}`, `not ready after ${this.opts.timeoutMs / 1000}s waiting for ${what}: ${last}; last lines of ${this.state.pieces[piece]?.log}:\n${tail(this.state.pieces[piece]?.log ?? "")}`);
    }

    private exe(name: string): string {
        return path.join(this.bin, name);
    }

    private note(piece: Piece | "crds", t0: number, extra = ""): void {
        this.opts.progress(`  ${piece.padEnd(PIECE_WIDTH)} ready in ${((Date.now() - t0) / 1000).toFixed(1)}s${extra ? `  ${extra}` : ""}`);
    }

    private async startAll(): Promise<void> {
        const d = this.dir;
        this.opts.progress(`local control plane in ${d} (binaries ${this.bin})`);

        // etcd
        let t0 = Date.now();
        const client = await this.port("etcd", "client");
        const peer = await this.port("etcd", "peer");
        this.spawnPiece("etcd", this.exe("etcd"), ["-data-dir", path.join(d, "etcd-data"), "-listen-client", `http://127.0.0.1:${client}`, "-listen-peer", `http://127.0.0.1:${peer}`]);
        await this.waitReady("etcd", `http://127.0.0.1:${client}/health`, async () => {
            const r = await httpGet(`http://127.0.0.1:${client}/health`);
            return r.status === 200 && /"health":\s*"true"/.test(r.body) ? true : `health ${r.status} ${r.body.slice(0, 80)}`;
        });
        this.note("etcd", t0, `127.0.0.1:${client}`);

        // kube-apiserver
        t0 = Date.now();
        const secure = await this.port("kube-apiserver", "secure");
        this.state.server = `https://127.0.0.1:${secure}`;
        this.spawnPiece("kube-apiserver", this.exe("kube-apiserver"), [
            `--etcd-servers=http://127.0.0.1:${client}`,
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            `--secure-port=${secure}`,
            `--cert-dir=${path.join(d, "certs")}`,
            `--token-auth-file=${path.join(d, "tokens.csv")}`,
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            `--service-account-key-file=${path.join(d, "sa.pub")}`,
            `--service-account-signing-key-file=${path.join(d, "sa.key")}`,
            "--service-cluster-ip-range=10.96.0.0/16",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v=0",
        ]);
        this.writeKubeconfig();
        await this.waitReady("kube-apiserver", "/readyz and the default namespace", async () => {
            const r = await httpGet(`${this.server}/readyz`, this.token);
            if (r.status !== 200) return `readyz ${r.status}`;
            // The default namespace and the RBAC bootstrap roles appear shortly after readyz.
            return (await httpGet(`${this.server}/api/v1/namespaces/default`, this.token)).status === 200 ? true : "no default namespace yet";
        });
        this.note("kube-apiserver", t0, this.server);
        if (this.opts.pieces === "api") {
            writeState(this.state);
            return;
        }

        // kube-controller-manager: ServiceAccounts, ReplicaSets, Pods, namespace deletion, GC.
        t0 = Date.now();
        const kcm = await this.port("kube-controller-manager", "secure");
        const kc = this.kubeconfigPath;
        this.spawnPiece("kube-controller-manager", this.exe("kube-controller-manager"), [
            `--kubeconfig=${kc}`,
            `--authentication-kubeconfig=${kc}`,
            `--authorization-kubeconfig=${kc}`,
            "--bind-address=127.0.0.1",
            `--secure-port=${kcm}`,
            `--cert-dir=${path.join(d, "certs", "kube-controller-manager")}`,
            "--leader-elect=false",
            "--use-service-account-credentials=false",
            `--service-account-private-key-file=${path.join(d, "sa.key")}`,
            `--root-ca-file=${path.join(d, "certs", "apiserver.crt")}`,
            "--profiling=false",
            "--v=0",
        ]);
        await this.waitReady("kube-controller-manager", "/healthz and the default ServiceAccount", async () => {
            const r = await httpGet(`https://127.0.0.1:${kcm}/healthz`);
            if (r.status !== 200) return `healthz ${r.status}`;
            return (await httpGet(`${this.server}/api/v1/namespaces/default/serviceaccounts/default`, this.token)).status === 200 ? true : "no default ServiceAccount yet";
        });
        this.note("kube-controller-manager", t0);

        // kube-scheduler
        t0 = Date.now();
        const sched = await this.port("kube-scheduler", "secure");
        this.spawnPiece("kube-scheduler", this.exe("kube-scheduler"), [
            `--kubeconfig=${kc}`,
            `--authentication-kubeconfig=${kc}`,
            `--authorization-kubeconfig=${kc}`,
            "--bind-address=127.0.0.1",
            `--secure-port=${sched}`,
            `--cert-dir=${path.join(d, "certs", "kube-scheduler")}`,
            "--leader-elect=false",
            "--profiling=false",
            "--v=0",
        ]);
        await this.waitReady("kube-scheduler", "/healthz", async () => ((await httpGet(`https://127.0.0.1:${sched}/healthz`)).status === 200 ? true : "healthz"));
        this.note("kube-scheduler", t0);

        // kwok: one fake Node, Pods on it become Running and Ready.
        t0 = Date.now();
        const kwok = await this.port("kwok", "server");
        this.spawnPiece("kwok", this.exe("kwok"), [
            `--kubeconfig=${kc}`,
            `--config=${kwokStagesFile(this.bin)}`,
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            "--cidr=10.0.0.1/24",
            "--node-ip=10.0.0.1",
            `--server-address=127.0.0.1:${kwok}`,
        ]);
        await this.waitReady("kwok", "/healthz", async () => ((await httpGet(`http://127.0.0.1:${kwok}/healthz`)).status === 200 ? true : "healthz"));
        await this.kubectl(["apply", "--server-side", "--field-manager=gitops-local", "-f", "-"], fakeNode());
        await this.waitReady("kwok", `Node ${NODE_NAME} Ready`, async () => {
            const ready = await this.kubectl(["get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"]);
            return ready.trim() === "True" ? true : `Ready=${ready || "<none>"}`;
        });
        this.note("kwok", t0, `Node ${NODE_NAME}`);

        // The Flux CRDs and namespace: the controllers exit when their kinds are not served.
        const optional = this.optionalControllers();
        t0 = Date.now();
        const crds = fluxCrds();
        await this.kubectl(["apply", "--server-side", "--force-conflicts", "--field-manager=gitops-local", "-f", "-"], crds.yaml);
        const names = (await this.kubectl(["get", "crd", "-o", "name"])).split("\n").filter((n) => /fluxcd\.io$/.test(n));
        await this.kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...names]);
        await this.kubectl(["apply", "--server-side", "--field-manager=gitops-local", "-f", "-"], `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${FLUX_NAMESPACE}\n`);
        this.state.crds = { source: crds.source, names: names.map((n) => n.replace(/^.*\//, "")), establishedMs: Date.now() - t0 };
        writeState(this.state);
        this.note("crds", t0, `${names.length} Flux CRDs Established (${crds.source})`);

        // Flux controllers, out of cluster.
        const fluxEnv = { KUBECONFIG: kc, RUNTIME_NAMESPACE: FLUX_NAMESPACE };
        // notification-controller first: the others post their events to its events server.
        const events = optional.has("notification-controller") ? await this.port("notification-controller", "events") : undefined;
        const common = async (piece: Piece) => [
            `--metrics-addr=127.0.0.1:${await this.port(piece, "metrics")}`,
            `--health-addr=127.0.0.1:${await this.port(piece, "health")}`,
            "--enable-leader-election=false",
            "--log-level=info",
            "--log-encoding=console",
            ...(events && piece !== "notification-controller" ? [`--events-addr=http://127.0.0.1:${events}/`] : []),
        ];
        const readyz = (piece: Piece) => async () => {
            const r = await httpGet(`http://127.0.0.1:${this.ports[piece]!.health}/readyz`);
            return r.status === 200 ? true : `readyz ${r.status}`;
        };
        /** /readyz, then each of the piece's own servers accepting connections (they start after /readyz answers). */
        const readyAndListening = (piece: Piece, servers: Record<string, number>) => async () => {
            const r = await readyz(piece)();
            if (r !== true) return r;
            for (const [what, port] of Object.entries(servers)) if (!(await tcpOpen(port))) return `${what} 127.0.0.1:${port} not listening yet`;
            return true;
        };
        const skippedNote = (piece: OptionalController) => this.opts.progress(`  ${piece.padEnd(PIECE_WIDTH)} skipped: ${this.state.skipped[piece]}`);

        if (events) {
            t0 = Date.now();
            const receiver = await this.port("notification-controller", "receiver");
            this.spawnPiece(
                "notification-controller",
                this.exe("notification-controller"),
                [...(await common("notification-controller")), `--events-addr=127.0.0.1:${events}`, `--receiverAddr=127.0.0.1:${receiver}`],
                fluxEnv,
            );
            await this.waitReady("notification-controller", "/readyz, the events and the receiver server", readyAndListening("notification-controller", { "events server": events, "receiver server": receiver }));
            this.note("notification-controller", t0, `events at http://127.0.0.1:${events}/, webhooks at http://127.0.0.1:${receiver}`);
        } else skippedNote("notification-controller");

        t0 = Date.now();
        const storage = await this.port("source-controller", "storage");
        fs.mkdirSync(path.join(d, "artifacts"), { recursive: true });
        this.spawnPiece(
            "source-controller",
            this.exe("source-controller"),
            [...(await common("source-controller")), `--storage-path=${path.join(d, "artifacts")}`, `--storage-addr=127.0.0.1:${storage}`, `--storage-adv-addr=127.0.0.1:${storage}`],
            fluxEnv,
        );
        // /readyz answers about 2 s before the artifact server accepts connections: wait for both.
        await this.waitReady("source-controller", "/readyz and the artifact server", readyAndListening("source-controller", { "artifact server": storage }));
        this.note("source-controller", t0, `artifacts at http://127.0.0.1:${storage}`);

        /** Starts a controller with the common flags (and `extra`) and waits for its /readyz. */
        const startController = async (piece: Piece, extra: string[] = []) => {
            const t = Date.now();
            this.spawnPiece(piece, this.exe(piece), [...(await common(piece)), ...extra], fluxEnv);
            await this.waitReady(piece, "/readyz", readyz(piece));
            this.note(piece, t);
        };
        await startController("kustomize-controller");

        // The optional ones that are built and requested. image-reflector-controller's tag database
        // (badger) lives with the cluster's data: a wipe forgets the scans.
        const imageDb = path.join(d, "image-db");
        const extraArgs: Partial<Record<OptionalController, string[]>> = { "image-reflector-controller": [`--storage-path=${imageDb}`] };
        for (const piece of ["helm-controller", "image-reflector-controller", "image-automation-controller"] as const) {
            if (!optional.has(piece)) {
                skippedNote(piece);
                continue;
            }
            if (piece === "image-reflector-controller") fs.mkdirSync(imageDb, { recursive: true });
            await startController(piece, extraArgs[piece]);
        }

        // The fleet repos over Git smart HTTP, as its own process so it outlives `gitops local up`.
        // It listens on loopback only and accepts pushes from there (image-automation-controller's).
        t0 = Date.now();
        const fleet = await this.port("fleet", "http", this.opts.fleetPort);
        const entry = path.join(__dirname, "fleet-server.ts");
        const sucrase = require.resolve("sucrase/register/ts");
        this.spawnPiece("fleet", process.execPath, ["-r", sucrase, entry, this.state.fleetRoot, String(fleet)]);
        this.state.pieces.fleet!.exe = entry; // its command line names the entry; `node` alone is no proof
        this.state.fleetUrl = `http://127.0.0.1:${fleet}`;
        writeState(this.state);
        await this.waitReady("fleet", `the fleet server on 127.0.0.1:${fleet}`, async () => ((await tcpOpen(fleet)) ? true : "not listening"));
        this.note("fleet", t0, `${this.fleetUrl} serves ${this.state.fleetRoot}`);
        writeState(this.state);
    }

    private writeKubeconfig(): void {
        fs.writeFileSync(this.kubeconfigPath, kubeconfigYaml(this.server, this.token), { mode: 0o600 });
    }
}

/** A kubeconfig for the local control plane (admin token; the API server's certificate is self-signed). */
export function kubeconfigYaml(server: string, token: string): string {
    return [
        "apiVersion: v1",
        "kind: Config",
        "clusters:",
        "- name: gitops-local",
        "  cluster:",
        `    server: ${server}`,
        "    insecure-skip-tls-verify: true",
        "users:",
        "- name: gitops-local-admin",
        "  user:",
        `    token: ${token}`,
        "contexts:",
        "- name: gitops-local",
        "  context: {cluster: gitops-local, user: gitops-local-admin}",
        "current-context: gitops-local",
        "",
    ].join("\n");
}

/** The fake Node kwok manages (no taint, so every Pod can land on it). */
function fakeNode(): string {
    return [
        "apiVersion: v1",
        "kind: Node",
        "metadata:",
        `  name: ${NODE_NAME}`,
        "  annotations:",
        "    kwok.x-k8s.io/node: fake",
        '    node.alpha.kubernetes.io/ttl: "0"',
        "  labels:",
        "    kubernetes.io/arch: amd64",
        "    kubernetes.io/os: linux",
        `    kubernetes.io/hostname: ${NODE_NAME}`,
        "    type: kwok",
        "",
    ].join("\n");
}

export async function kubectlAt(kubeconfig: string, args: string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = execFile("kubectl", ["--kubeconfig", kubeconfig, ...args], { maxBuffer: 64 << 20, timeout: 120_000 }, (err, stdout, stderr) => {
            if (err) {
                const e = err as NodeJS.ErrnoException;
                if (e.code === "ENOENT") reject(new GitopsError("kubectl", "is not on PATH", "install kubectl (apt-get install kubectl, or see README)"));
                else reject(new Error(`kubectl ${args.join(" ")}: ${(stderr || e.message).trim()}`));
            } else resolve(stdout);
        });
        if (input !== undefined) child.stdin!.end(input);
    });
}

/** Stops the pieces recorded in a state (reverse start order), SIGTERM then SIGKILL. Used by stop() and `gitops local down`. */
export async function stopPieces(state: LocalState, progress: (l: string) => void = () => undefined): Promise<void> {
    for (const piece of [...PIECES].reverse()) {
        const p = state.pieces[piece];
        if (!p || p.pid <= 0) continue;
        const t0 = Date.now();
        const how = await terminate(p.pid, p.exe);
        if (how !== "gone") progress(`  ${piece.padEnd(PIECE_WIDTH)} ${how} in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    }
}

export interface PieceStatus {
    piece: Piece;
    state: "running" | "stopped" | "skipped" | "not started";
    pid?: number;
    ports?: Record<string, number>;
    readyMs?: number;
    log?: string;
    detail?: string;
}

/** What runs from a state folder (for `gitops local status`). */
export async function status(dir: string = defaultDir()): Promise<{ state?: LocalState; pieces: PieceStatus[] }> {
    const state = readState(dir);
    const pieces: PieceStatus[] = PIECES.map((piece) => {
        const p = state?.pieces[piece];
        if (!p) {
            const why = state?.skipped[piece];
            return { piece, state: why ? "skipped" : "not started", detail: why };
        }
        return { piece, state: alive(p.pid, p.exe) ? "running" : "stopped", pid: p.pid, ports: p.ports, readyMs: p.readyMs, log: p.log };
    });
    return { state, pieces };
}

/** Stops what a state folder records and removes the state file (`gitops local down`). */
export async function down(dir: string = defaultDir(), progress: (l: string) => void = () => undefined, opts: { purge?: boolean } = {}): Promise<boolean> {
    const state = readState(dir);
    if (state) {
        await stopPieces(state, progress);
        fs.rmSync(path.join(dir, STATE), { force: true });
    }
    // Purged also when nothing runs (a plane stopped by `pulumi destroy` or a crash leaves its data).
    let purged = false;
    if (opts.purge) {
        for (const f of [...CLUSTER_DATA, "certs", "kubeconfig", "tokens.csv", "sa.key", "sa.pub", PORTS]) {
            const p = path.join(dir, f);
            if (fs.existsSync(p)) {
                fs.rmSync(p, { recursive: true, force: true });
                purged = true;
            }
        }
        if (purged) progress(`deleted the cluster's data in ${dir}`);
    }
    return !!state;
}
