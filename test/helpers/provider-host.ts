/**
 * Test helper: drive a Pulumi dynamic provider through @pulumi/pulumi's real provider host over
 * gRPC, the way the Pulumi engine does.
 *
 *   const host = await startProviderHost();                  // node .../cmd/dynamic-provider <engine>
 *   const provider = await serializeProvider(fleetSyncProvider); // the "__provider" text, as dynamic.Resource makes it
 *   const { inputs } = await host.check({}, { ...props, kubeconfig: secret(kc), __provider: provider });
 *   const { id, outs } = await host.create(inputs);
 *   await host.diff(id, outs, inputs); await host.update(id, outs, inputs2); await host.delete(id, outs);
 *   await host.stop();
 *
 * The host is the script the Pulumi CLI runs as pulumi-resource-pulumi-nodejs: it listens on a port
 * it prints on stdout and gets the engine's address as its argument. We serve a tiny Engine gRPC
 * service there and record its Log calls. Like the CLI, we do not put the engine address in the
 * host's environment unless asked (`engineEnv: true`): the host itself never connects to its
 * argument, so `pulumi.log` in a provider writes "info: [runtime] ..." to its stdout, which the CLI
 * shows as plugin output. `messages()` returns both channels.
 *
 * Secrets: the engine sends secret values wrapped ({"4dabf18193072939515e22adb298388d":
 * "1b47061264138c4ac30d75fd1eb44270", value}) only to providers that accept secrets (Configure's
 * acceptSecrets); the dynamic provider host answers false, so the engine sends plain values, and so
 * do we. Values marked with `secret()` are sent wrapped only when the host accepts secrets.
 *
 * Also here: `FluxGitEmulation` (the source-controller + flux-system Kustomization part of Flux for
 * the API test server, reading a real bare repo) and `fleetSyncFixture` (realistic FleetSync inputs
 * from renderFleet).
 */
import { ChildProcess, execFile, spawn } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export const REPO_ROOT = path.resolve(__dirname, "..", "..");
const PULUMI_DIR = path.dirname(require.resolve("@pulumi/pulumi/package.json", { paths: [REPO_ROOT] }));
const req = (m: string) => require(require.resolve(m, { paths: [PULUMI_DIR] }));
const grpc = req("@grpc/grpc-js");
const structpb = req("google-protobuf/google/protobuf/struct_pb");
const emptypb = req("google-protobuf/google/protobuf/empty_pb");
const provpb = require(path.join(PULUMI_DIR, "proto", "provider_pb"));
const provgrpc = require(path.join(PULUMI_DIR, "proto", "provider_grpc_pb"));
const enginegrpc = require(path.join(PULUMI_DIR, "proto", "engine_grpc_pb"));
const pluginpb = require(path.join(PULUMI_DIR, "proto", "plugin_pb"));

/** The SDK's own signature for a secret value on the wire. */
export const { specialSigKey: SECRET_SIG_KEY, specialSecretSig: SECRET_SIG_VALUE } = require(path.join(PULUMI_DIR, "runtime", "rpc")) as { specialSigKey: string; specialSecretSig: string };
const SECRET = Symbol("secret");

/** Marks a value as secret (as an Output from pulumi.secret() would reach the engine). */
export function secret<T>(value: T): T {
    return { [SECRET]: true, value } as unknown as T;
}

function isSecret(v: unknown): v is { value: unknown } {
    return typeof v === "object" && v !== null && (v as Record<symbol, unknown>)[SECRET] === true;
}

/** Property values as the engine marshals them: no undefined, secrets wrapped or plain. */
export function marshal(v: unknown, keepSecrets: boolean): unknown {
    if (isSecret(v)) {
        const inner = marshal(v.value, keepSecrets);
        return keepSecrets ? { [SECRET_SIG_KEY]: SECRET_SIG_VALUE, value: inner } : inner;
    }
    if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : marshal(x, keepSecrets)));
    if (v && typeof v === "object") {
        const out: Record<string, unknown> = {};
        for (const [k, x] of Object.entries(v)) if (x !== undefined) out[k] = marshal(x, keepSecrets);
        return out;
    }
    return v;
}

/** Strips our secret() markers (to keep a plain copy of inputs, e.g. as "old inputs"). */
export function plain(v: unknown): any {
    return marshal(v, false);
}

/** The serialized provider text, exactly as pulumi.dynamic.Resource stores it under "__provider". */
export async function serializeProvider(provider: object): Promise<string> {
    const sc = require(path.join(PULUMI_DIR, "runtime", "closure", "serializeClosure"));
    const sf = await sc.serializeFunction(() => provider, { allowSecrets: true });
    return sf.text;
}

export interface LogRecord {
    severity: number;
    message: string;
    urn: string;
    ephemeral: boolean;
}

export interface HostOptions {
    /** Extra environment for the host (e.g. GITOPS_CACHE_DIR, PATH with a git shim). */
    env?: Record<string, string>;
    /** Put the engine address in PULUMI_NODEJS_ENGINE so pulumi.log goes over gRPC Log. Default false (as the CLI). */
    engineEnv?: boolean;
    cwd?: string;
    /**
     * The stack config sent with Configure (full keys, e.g. {"gitops:githubToken": "..."}), as the
     * engine sends dynamic providers the whole stack config. Default none.
     */
    config?: Record<string, string>;
}

export interface DiffResult {
    changes: "some" | "none" | "unknown";
    replaces: string[];
    deleteBeforeReplace: boolean;
    /** The detailed diff, when the host sends one. */
    detailedDiff: Record<string, { kind: number; inputDiff: boolean }>;
    hasDetailedDiff: boolean;
}

export interface ProviderHost {
    readonly port: number;
    readonly pid: number;
    /** Engine Log calls received. */
    readonly logs: LogRecord[];
    /** The host's stdout lines after the port line, and its stderr lines. */
    readonly stdout: string[];
    readonly stderr: string[];
    /** What the provider logged: the Engine's Log messages with engineEnv, else its stdout lines (prefix stripped). */
    messages(): string[];
    /** Waits until some message (from index `from` on) matches `re` (default: up to 30 s); Log calls are asynchronous. */
    waitForMessage(re: RegExp, from?: number, timeoutMs?: number): Promise<string>;
    /** What Configure answered. */
    readonly acceptSecrets: boolean;
    check(olds: Record<string, unknown>, news: Record<string, unknown>): Promise<{ inputs: Record<string, any>; failures: Array<{ property: string; reason: string }> }>;
    diff(id: string, olds: Record<string, unknown>, news: Record<string, unknown>, oldInputs?: Record<string, unknown>): Promise<DiffResult>;
    create(props: Record<string, unknown>): Promise<{ id: string; outs: Record<string, any> }>;
    read(id: string, props: Record<string, unknown>, inputs?: Record<string, unknown>): Promise<{ id: string; props: Record<string, any>; inputs?: Record<string, any> }>;
    update(id: string, olds: Record<string, unknown>, news: Record<string, unknown>, oldInputs?: Record<string, unknown>): Promise<{ outs: Record<string, any> }>;
    delete(id: string, props: Record<string, unknown>, oldInputs?: Record<string, unknown>): Promise<void>;
    /** Kills the host (SIGKILL) without waiting, like a crashed `pulumi up`. */
    kill(): void;
    stop(): Promise<void>;
}

export const FLEET_SYNC_TYPE = "pulumi-nodejs:dynamic/gitops:FleetSync";

export function urnOf(name: string, type = FLEET_SYNC_TYPE, stack = "dev", project = "gitops-platform"): string {
    return `urn:pulumi:${stack}::${project}::${type}::${name}`;
}

function unary<T>(client: any, method: string, request: unknown): Promise<T> {
    return new Promise((resolve, reject) => {
        client[method](request, (err: any, resp: T) => {
            if (err) {
                const e = new Error(err.details || err.message) as Error & { code?: number };
                e.code = err.code;
                reject(e);
            } else resolve(resp);
        });
    });
}

function struct(v: unknown, keepSecrets: boolean): any {
    return structpb.Struct.fromJavaScript(marshal(v ?? {}, keepSecrets));
}

/** Starts the Engine gRPC server, the provider host, and runs GetPluginInfo + Configure + CheckConfig. */
export async function startProviderHost(opts: HostOptions = {}, urn = urnOf("dev-fleet-sync")): Promise<ProviderHost> {
    const logs: LogRecord[] = [];
    const engine = new grpc.Server();
    engine.addService(enginegrpc.EngineService, {
        log(call: any, cb: any) {
            const r = call.request;
            logs.push({ severity: r.getSeverity(), message: r.getMessage(), urn: r.getUrn(), ephemeral: r.getEphemeral() });
            cb(null, new emptypb.Empty());
        },
        getRootResource(_call: any, cb: any) {
            cb({ code: grpc.status.UNIMPLEMENTED, details: "no root resource" });
        },
        setRootResource(_call: any, cb: any) {
            cb({ code: grpc.status.UNIMPLEMENTED, details: "no root resource" });
        },
        startDebugging(_call: any, cb: any) {
            cb(null, new emptypb.Empty());
        },
        requirePulumiVersion(_call: any, cb: any) {
            cb(null, new emptypb.Empty());
        },
    });
    const enginePort: number = await new Promise((resolve, reject) =>
        engine.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e: Error | null, p: number) => (e ? reject(e) : resolve(p))),
    );
    const engineAddr = `127.0.0.1:${enginePort}`;

    const nodeBin = path.join(REPO_ROOT, "node_modules", ".bin");
    const env: Record<string, string> = { ...(process.env as Record<string, string>), PATH: `${nodeBin}${path.delimiter}${process.env.PATH ?? ""}` };
    delete env.PULUMI_NODEJS_ENGINE;
    delete env.TS_NODE_PROJECT;
    Object.assign(env, opts.env ?? {});
    if (opts.engineEnv) env.PULUMI_NODEJS_ENGINE = engineAddr;
    const script = path.join(PULUMI_DIR, "cmd", "dynamic-provider", "index.js");
    const nodeExe = fs.existsSync(path.join(nodeBin, "node")) ? path.join(nodeBin, "node") : "node";
    const child: ChildProcess = spawn(nodeExe, [script, engineAddr], { cwd: opts.cwd ?? REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
    const stdout: string[] = [];
    const stderr: string[] = [];
    let exited = false;
    const exitPromise = new Promise<void>((resolve) => child.on("exit", () => ((exited = true), resolve())));

    const port = await new Promise<number>((resolve, reject) => {
        let buf = "";
        let gotPort = false;
        const timer = setTimeout(() => reject(new Error(`provider host printed no port in 30s; stderr: ${stderr.join("\n")}`)), 30_000);
        child.stdout!.on("data", (b: Buffer) => {
            buf += b.toString("utf8");
            let i: number;
            while ((i = buf.indexOf("\n")) >= 0) {
                const line = buf.slice(0, i);
                buf = buf.slice(i + 1);
                if (!gotPort) {
                    gotPort = true;
                    clearTimeout(timer);
                    const p = Number(line.trim());
                    if (Number.isInteger(p) && p > 0) resolve(p);
                    else reject(new Error(`provider host printed ${JSON.stringify(line)} instead of a port`));
                } else {
                    stdout.push(line);
                    if (process.env.PROVIDER_HOST_TRACE) process.stderr.write(`[host ${new Date().toISOString()}] ${line}\n`);
                }
            }
        });
        let ebuf = "";
        child.stderr!.on("data", (b: Buffer) => {
            ebuf += b.toString("utf8");
            let i: number;
            while ((i = ebuf.indexOf("\n")) >= 0) {
                stderr.push(ebuf.slice(0, i));
                if (process.env.PROVIDER_HOST_TRACE) process.stderr.write(`[host! ${new Date().toISOString()}] ${ebuf.slice(0, i)}\n`);
                ebuf = ebuf.slice(i + 1);
            }
        });
        child.on("exit", (code) => {
            clearTimeout(timer);
            if (!gotPort) reject(new Error(`provider host exited (${code}) before printing its port; stderr: ${stderr.join("\n")}`));
        });
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(new Error(`cannot start the provider host ${nodeExe}: ${e.message} (run \`npm ci\`)`));
        });
    }).catch(async (e) => {
        child.kill("SIGKILL");
        await new Promise((r) => engine.tryShutdown(r));
        throw e;
    });

    const client = new provgrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    const name = urn.split("::").pop()!;
    const type = urn.split("::")[2];

    // What the engine does when it loads a provider plugin.
    await unary(client, "getPluginInfo", new emptypb.Empty());
    const conf = new provpb.ConfigureRequest();
    conf.setArgs(structpb.Struct.fromJavaScript(opts.config ?? {}));
    conf.setAcceptsecrets(true);
    conf.setAcceptresources(true);
    conf.setSendsOldInputs(true);
    conf.setSendsOldInputsToDelete(true);
    const confResp: any = await unary(client, "configure", conf);
    const acceptSecrets: boolean = confResp.getAcceptsecrets();
    try {
        const cc = new provpb.CheckRequest();
        cc.setUrn("urn:pulumi:dev::gitops-platform::pulumi:providers:pulumi-nodejs::default");
        cc.setOlds(structpb.Struct.fromJavaScript({}));
        cc.setNews(structpb.Struct.fromJavaScript({}));
        await unary(client, "checkConfig", cc);
    } catch (e) {
        // The dynamic provider does not implement CheckConfig; the engine then takes the config as is.
        if ((e as { code?: number }).code !== grpc.status.UNIMPLEMENTED) throw e;
    }
    void pluginpb;

    const s = (v: unknown) => struct(v, acceptSecrets);

    const host: ProviderHost = {
        port,
        pid: child.pid!,
        logs,
        stdout,
        stderr,
        acceptSecrets,
        messages: () => (opts.engineEnv ? logs.map((l) => l.message) : stdout.map((l) => l.replace(/^info: \[runtime\] /, ""))),
        async waitForMessage(re, from = 0, timeoutMs = 30_000) {
            const deadline = Date.now() + timeoutMs;
            for (;;) {
                const hit = host.messages().slice(from).find((m) => re.test(m));
                if (hit !== undefined) return hit;
                if (Date.now() > deadline) throw new Error(`no provider message matching ${re} in ${timeoutMs} ms; got:\n${host.messages().slice(from).join("\n")}`);
                await new Promise((r) => setTimeout(r, 20));
            }
        },
        async check(olds, news) {
            const r = new provpb.CheckRequest();
            r.setUrn(urn);
            r.setName(name);
            r.setType(type);
            r.setOlds(s(olds));
            r.setNews(s(news));
            r.setRandomseed(Buffer.alloc(32, 7));
            const resp: any = await unary(client, "check", r);
            return {
                inputs: resp.getInputs()?.toJavaScript() ?? {},
                failures: resp.getFailuresList().map((f: any) => ({ property: f.getProperty(), reason: f.getReason() })),
            };
        },
        async diff(id, olds, news, oldInputs) {
            const r = new provpb.DiffRequest();
            r.setId(id);
            r.setUrn(urn);
            r.setName(name);
            r.setType(type);
            r.setOlds(s(olds));
            r.setNews(s(news));
            r.setOldInputs(s(oldInputs ?? {}));
            const resp: any = await unary(client, "diff", r);
            const c = resp.getChanges();
            const D = provpb.DiffResponse.DiffChanges;
            const detailedDiff: DiffResult["detailedDiff"] = {};
            resp.getDetaileddiffMap().forEach((v: any, k: string) => (detailedDiff[k] = { kind: v.getKind(), inputDiff: v.getInputdiff() }));
            return {
                changes: c === D.DIFF_SOME ? "some" : c === D.DIFF_NONE ? "none" : "unknown",
                replaces: resp.getReplacesList(),
                deleteBeforeReplace: resp.getDeletebeforereplace(),
                detailedDiff,
                hasDetailedDiff: resp.getHasdetaileddiff(),
            };
        },
        async create(props) {
            const r = new provpb.CreateRequest();
            r.setUrn(urn);
            r.setName(name);
            r.setType(type);
            r.setProperties(s(props));
            r.setTimeout(0);
            r.setPreview(false);
            const resp: any = await unary(client, "create", r);
            return { id: resp.getId(), outs: resp.getProperties()?.toJavaScript() ?? {} };
        },
        async read(id, props, inputs) {
            const r = new provpb.ReadRequest();
            r.setId(id);
            r.setUrn(urn);
            r.setName(name);
            r.setType(type);
            r.setProperties(s(props));
            r.setInputs(s(inputs ?? {}));
            const resp: any = await unary(client, "read", r);
            return { id: resp.getId(), props: resp.getProperties()?.toJavaScript() ?? {}, inputs: resp.getInputs()?.toJavaScript() };
        },
        async update(id, olds, news, oldInputs) {
            const r = new provpb.UpdateRequest();
            r.setId(id);
            r.setUrn(urn);
            r.setName(name);
            r.setType(type);
            r.setOlds(s(olds));
            r.setNews(s(news));
            r.setOldInputs(s(oldInputs ?? {}));
            r.setTimeout(0);
            r.setPreview(false);
            const resp: any = await unary(client, "update", r);
            return { outs: resp.getProperties()?.toJavaScript() ?? {} };
        },
        async delete(id, props, oldInputs) {
            const r = new provpb.DeleteRequest();
            r.setId(id);
            r.setUrn(urn);
            r.setName(name);
            r.setType(type);
            r.setProperties(s(props));
            r.setOldInputs(s(oldInputs ?? {}));
            r.setTimeout(0);
            await unary(client, "delete", r);
        },
        kill() {
            if (!exited) child.kill("SIGKILL");
        },
        async stop() {
            client.close();
            if (!exited) {
                child.kill("SIGTERM");
                const t = setTimeout(() => child.kill("SIGKILL"), 3000);
                await exitPromise;
                clearTimeout(t);
            }
            await new Promise<void>((r) => engine.tryShutdown(() => r()));
        },
    };
    return host;
}

// ------------------------------------------------------------------------------------------------
// Flux, for the API test server: source-controller reads the real bare repo, the flux-system
// Kustomization applies the Flux Kustomizations under the cluster path.

function gitOut(args: string[], cwd?: string): Promise<string> {
    return new Promise((resolve, reject) =>
        execFile("git", args, { cwd, encoding: "utf8", env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null" } }, (e, out) => (e ? reject(e) : resolve(out))),
    );
}

export interface FluxGitEmulationOptions {
    /** The bare repo Flux pulls. */
    repo: string;
    branch?: string;
    /** The flux-system Kustomization's path (clusters/<env>). */
    clusterPath: string;
    namespace?: string;
    pollMs?: number;
}

/**
 * Plays source-controller and the flux-system Kustomization against a TestApiServer: polls the
 * branch head of a real bare repo, sets the emulated Flux revision to "<branch>@sha1:<head>" (so
 * every Flux object reconciles Ready at it), and once the flux-system Kustomization exists creates
 * the Flux Kustomizations declared in the YAML files directly under `clusterPath` at that head (as
 * kustomize-controller would when it applies flux-system). `paused` freezes it (Flux not running).
 */
export class FluxGitEmulation {
    paused = false;
    /** Heads it has published, in order. */
    readonly revisions: string[] = [];
    private timer?: NodeJS.Timeout;
    private running?: Promise<void>;
    private stopped = false;

    constructor(
        private readonly api: { flux: { revision: string; setRevision(r: string): void }; get(apiVersion: string, kind: string, name: string, namespace?: string): any; kubeconfig: string },
        private readonly opts: FluxGitEmulationOptions,
    ) {}

    start(): this {
        const tick = async () => {
            if (this.stopped) return;
            try {
                if (!this.paused) await this.step();
            } catch {
                // a branch that does not exist yet, a transient API error: try again next tick
            }
            if (!this.stopped) this.timer = setTimeout(() => (this.running = tick()), this.opts.pollMs ?? 50);
        };
        this.running = tick();
        return this;
    }

    async stop(): Promise<void> {
        this.stopped = true;
        if (this.timer) clearTimeout(this.timer);
        await this.running;
    }

    private async step(): Promise<void> {
        const branch = this.opts.branch ?? "main";
        const ns = this.opts.namespace ?? "flux-system";
        const head = (await gitOut(["--git-dir", this.opts.repo, "rev-parse", "--verify", "-q", `refs/heads/${branch}^{commit}`]).catch(() => "")).trim();
        if (!head) return;
        const rev = `${branch}@sha1:${head}`;
        if (this.api.flux.revision !== rev) {
            this.api.flux.setRevision(rev);
            this.revisions.push(head);
        }
        const root = this.api.get("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "flux-system", ns);
        if (!root || root.status?.lastAppliedRevision !== rev) return;
        const dir = this.opts.clusterPath.replace(/\/+$/, "");
        const names = (await gitOut(["--git-dir", this.opts.repo, "ls-tree", "--name-only", head, `${dir}/`])).split("\n").filter((n) => /\.ya?ml$/.test(n));
        const { parseAllDocuments } = await import("yaml");
        const wanted: any[] = [];
        for (const n of names) {
            const text = await gitOut(["--git-dir", this.opts.repo, "cat-file", "blob", `${head}:${n}`]);
            for (const d of parseAllDocuments(text)) {
                const o = d.toJS();
                if (o?.kind === "Kustomization" && String(o.apiVersion).startsWith("kustomize.toolkit.fluxcd.io/")) wanted.push(o);
            }
        }
        const missing = wanted.filter((o) => !this.api.get(o.apiVersion, o.kind, o.metadata.name, o.metadata.namespace ?? ns));
        if (missing.length === 0) return;
        const cluster = require(path.join(REPO_ROOT, "engine", "cluster"));
        const client = cluster.ClusterClient.fromKubeconfig(this.api.kubeconfig, undefined, { fieldManager: "kustomize-controller" });
        await cluster.applyStaged(client, missing);
    }
}

// ------------------------------------------------------------------------------------------------
// FleetSync inputs as components/platform.ts builds them.

export const DEPLOY_KEY_MARKER = "FLEETSYNC-TEST-PRIVATE-KEY-6f1c2a";
export const KUBE_TOKEN = "fleetsync-test-token-9d2e7b";

/** A kubeconfig for the API test server with a bearer token (a secret that must never reach outputs). */
export function kubeconfigWithToken(kubeconfig: string, token = KUBE_TOKEN): string {
    return kubeconfig.replace("  user: {}", `  user:\n    token: ${token}`);
}

export interface FleetSyncFixture {
    /** Plain inputs (no __provider); kubeconfig, secrets wrapped with secret(). */
    inputs: Record<string, any>;
    files: Record<string, string>;
    owned: string[];
    kustomizations: string[];
    clusterPath: string;
}

/** Realistic FleetSync inputs: renderFleet(parseStackConfig({...}, "dev")) with cluster.kind existing. */
export function fleetSyncFixture(opts: { repo: string; kubeconfig?: string; stack?: string; waitTimeoutSeconds?: number; extra?: Record<string, unknown> }): FleetSyncFixture {
    const stack = opts.stack ?? "dev";
    const { parseStackConfig } = require(path.join(REPO_ROOT, "engine", "config"));
    const { renderFleet } = require(path.join(REPO_ROOT, "engine", "fleet"));
    const kcPath = path.join(os.tmpdir(), "fleetsync-unused-kubeconfig");
    const cfg = parseStackConfig(
        { cluster: { kind: "existing", existing: { kubeconfigPath: kcPath } }, fleet: { url: opts.repo, clusterUrl: "ssh://git@github.com/example/fleet.git" }, ...(opts.extra ?? {}) },
        stack,
    );
    const plan = renderFleet(cfg);
    const ns = cfg.flux.namespace;
    const deployKey = {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "flux-system", namespace: ns },
        type: "Opaque",
        stringData: {
            identity: `-----BEGIN OPENSSH PRIVATE KEY-----\n${DEPLOY_KEY_MARKER}\n-----END OPENSSH PRIVATE KEY-----\n`,
            "identity.pub": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFleetSyncTestPublicKey flux-system",
            known_hosts: "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
        },
    };
    const inputs: Record<string, any> = {
        stack,
        repo: opts.repo,
        branch: cfg.fleet.branch,
        files: plan.files,
        owned: plan.owned,
        author: cfg.fleet.author,
        message: `Reconcile ${stack}\n\n{{changes}}`,
        kubeconfig: opts.kubeconfig !== undefined ? secret(opts.kubeconfig) : undefined,
        // The API test server does not serve ResourceQuota (yet): leave Flux's critical-pods quota out.
        bootstrap: plan.bootstrap.filter((o: { kind: string }) => o.kind !== "ResourceQuota"),
        secrets: secret([deployKey]),
        fluxNamespace: ns,
        kustomizations: plan.kustomizations,
        wait: opts.kubeconfig !== undefined,
        waitTimeoutSeconds: opts.waitTimeoutSeconds ?? 30,
        reportOnly: false,
    };
    return { inputs, files: plan.files, owned: plan.owned, kustomizations: plan.kustomizations, clusterPath: cfg.fleet.path };
}

/** Every string anywhere inside `v`. */
export function allStrings(v: unknown, out: string[] = []): string[] {
    if (typeof v === "string") out.push(v);
    else if (Array.isArray(v)) for (const x of v) allStrings(x, out);
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) (out.push(k), allStrings(x, out));
    return out;
}

/** Ids (`<namespace>_<name>_<group>_<kind>`) of the objects in the API test server that `manager` applied. */
export function appliedIds(api: { list(): any[] }, manager = "gitops-platform"): string[] {
    return api
        .list()
        .filter((o) => (o.metadata?.managedFields ?? []).some((m: any) => m.manager === manager && m.operation === "Apply"))
        .map((o) => {
            const av = String(o.apiVersion);
            return `${o.metadata.namespace ?? ""}_${o.metadata.name}_${av.includes("/") ? av.split("/")[0] : ""}_${o.kind}`;
        })
        .sort();
}
