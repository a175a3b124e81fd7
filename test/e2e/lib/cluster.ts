/**
 * A real Kubernetes API server for the e2e suite: the kube-apiserver and etcd built by
 * scripts/e2e-build.sh, on free 127.0.0.1 ports, with a static admin token and a kubeconfig.
 * Only the API server and etcd: for tests of API semantics (schemas, server-side apply). Tests that
 * need workloads or Flux use the local control plane (engine/localcluster/controlplane.ts).
 *
 *   const c = new KubeCluster(bin, dir); await c.start();  // c.kubeconfigPath, c.kubectl([...])
 *   await c.wipe();                                          // stop both, delete etcd's data, start again
 *   await c.stop();
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as path from "path";
import { freePort } from "../../../engine/util/net";

const TOKEN = "e2e-admin-token";

export { freePort };

function sleep(ms: number) {
    return new Promise((r) => setTimeout(r, ms));
}

export class KubeCluster {
    readonly kubeconfigPath: string;
    private etcd?: ChildProcess;
    private apiserver?: ChildProcess;
    private ports?: { client: number; peer: number; secure: number };
    private readonly dataDir: string;
    private readonly logDir: string;

    constructor(private readonly bin: string, private readonly dir: string) {
        this.dataDir = path.join(dir, "etcd-data");
        this.logDir = path.join(dir, "logs");
        this.kubeconfigPath = path.join(dir, "kubeconfig");
        fs.mkdirSync(this.logDir, { recursive: true });
        const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
        fs.writeFileSync(path.join(dir, "sa.key"), privateKey.export({ type: "pkcs8", format: "pem" }));
        fs.writeFileSync(path.join(dir, "sa.pub"), publicKey.export({ type: "spki", format: "pem" }));
        fs.writeFileSync(path.join(dir, "tokens.csv"), `${TOKEN},e2e-admin,e2e-admin,system:masters\n`);
    }

    get server(): string {
        return `https://127.0.0.1:${this.ports!.secure}`;
    }

    async start(timeoutMs = 120_000): Promise<void> {
        this.ports ??= { client: await freePort(), peer: await freePort(), secure: await freePort() };
        const p = this.ports;
        this.etcd = this.spawnLogged("etcd", [
            "-data-dir", this.dataDir,
            "-listen-client", `http://127.0.0.1:${p.client}`,
            "-listen-peer", `http://127.0.0.1:${p.peer}`,
        ]);
        this.apiserver = this.spawnLogged("kube-apiserver", [
            `--etcd-servers=http://127.0.0.1:${p.client}`,
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            `--secure-port=${p.secure}`,
            `--cert-dir=${path.join(this.dir, "certs")}`,
            `--token-auth-file=${path.join(this.dir, "tokens.csv")}`,
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            `--service-account-key-file=${path.join(this.dir, "sa.pub")}`,
            `--service-account-signing-key-file=${path.join(this.dir, "sa.key")}`,
            "--service-cluster-ip-range=10.96.0.0/16",
            "--enable-priority-and-fairness=false",
            "--profiling=false",
            "--v=0",
        ]);
        fs.writeFileSync(
            this.kubeconfigPath,
            [
                "apiVersion: v1",
                "kind: Config",
                "clusters:",
                "- name: e2e",
                "  cluster:",
                `    server: ${this.server}`,
                "    insecure-skip-tls-verify: true",
                "users:",
                "- name: e2e-admin",
                "  user:",
                `    token: ${TOKEN}`,
                "contexts:",
                "- name: e2e",
                "  context: {cluster: e2e, user: e2e-admin}",
                "current-context: e2e",
                "",
            ].join("\n"),
        );
        const deadline = Date.now() + timeoutMs;
        let last = "";
        while (Date.now() < deadline) {
            for (const [name, proc] of [["etcd", this.etcd], ["kube-apiserver", this.apiserver]] as const) {
                if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}: ${this.tail(name)}`);
            }
            try {
                const r = await this.get("/readyz");
                if (r.status === 200) {
                    // The default namespace and the RBAC bootstrap roles appear shortly after readyz.
                    if ((await this.get("/api/v1/namespaces/default")).status === 200) return;
                }
                last = `readyz ${r.status}: ${r.body.slice(0, 300)}`;
            } catch (e) {
                last = (e as Error).message;
            }
            await sleep(500);
        }
        throw new Error(`kube-apiserver not ready after ${timeoutMs}ms: ${last}; ${this.tail("kube-apiserver")}`);
    }

    async stop(): Promise<void> {
        await stopProcess(this.apiserver);
        await stopProcess(this.etcd);
        this.apiserver = this.etcd = undefined;
    }

    /** Disaster: stop the API server and etcd, delete etcd's data, start again on the same address. */
    async wipe(): Promise<void> {
        await this.stop();
        fs.rmSync(this.dataDir, { recursive: true, force: true });
        await this.start();
    }

    kubectl(args: string[], input?: string): string {
        return execFileSync("kubectl", ["--kubeconfig", this.kubeconfigPath, ...args], { encoding: "utf8", input, stdio: ["pipe", "pipe", "pipe"], timeout: 60_000 });
    }

    /** GET against the API server with the admin token. */
    get(p: string): Promise<{ status: number; body: string }> {
        return new Promise((resolve, reject) => {
            const req = https.get(`${this.server}${p}`, { rejectUnauthorized: false, headers: { Authorization: `Bearer ${TOKEN}` }, timeout: 5000 }, (res) => {
                let body = "";
                res.setEncoding("utf8");
                res.on("data", (d) => (body += d));
                res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
            });
            req.on("timeout", () => req.destroy(new Error(`GET ${p}: timeout`)));
            req.on("error", reject);
        });
    }

    private spawnLogged(name: string, args: string[]): ChildProcess {
        const out = fs.openSync(path.join(this.logDir, `${name}.log`), "a");
        const proc = spawn(path.join(this.bin, name), args, { stdio: ["ignore", out, out] });
        fs.closeSync(out);
        // A binary that cannot start is reported by the health check (with this log), not as an uncaught 'error'.
        proc.on("error", (e) => fs.appendFileSync(path.join(this.logDir, `${name}.log`), `cannot start ${name}: ${e.message}\n`));
        // If mocha dies without running after(), take the servers down with it.
        const onExit = () => proc.kill("SIGKILL");
        process.once("exit", onExit);
        proc.once("exit", () => process.removeListener("exit", onExit));
        return proc;
    }

    private tail(name: string): string {
        try {
            return fs.readFileSync(path.join(this.logDir, `${name}.log`), "utf8").split("\n").slice(-15).join("\n");
        } catch {
            return "(no log)";
        }
    }
}

async function stopProcess(p?: ChildProcess): Promise<void> {
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once("exit", () => r()));
    p.kill("SIGTERM");
    const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
}
