/**
 * The Kubernetes API test server (test/kube-apiserver) in a child process, for cluster benches:
 * the peer's blocking spawn cannot stall it, and the bench process's RSS stays the engine's own.
 * Run as a script, it serves and obeys "wipe" / "cpu" / "stop" lines on stdin.
 */
import { spawn, ChildProcess } from "child_process";
import * as readline from "readline";

export interface BenchServer {
    kubeconfigPath: string;
    wipe(): Promise<void>;
    /** CPU seconds the server process has used so far. */
    cpu(): Promise<number>;
    stop(): Promise<void>;
}

export async function startTestServer(): Promise<BenchServer> {
    const child: ChildProcess = spawn(process.execPath, ["-r", "sucrase/register/ts", __filename], {
        env: { ...process.env, BENCH_TEST_SERVER: "1" },
        stdio: ["pipe", "pipe", "inherit"],
    });
    const rl = readline.createInterface({ input: child.stdout! });
    const waiters: Array<(l: string) => void> = [];
    rl.on("line", (l) => waiters.shift()?.(l));
    child.on("error", (e) => waiters.shift()?.(`ERROR cannot start ${process.execPath}: ${e.message}`));
    const nextLine = () => new Promise<string>((r) => waiters.push(r));
    const ready = await nextLine();
    if (!ready.startsWith("READY ")) throw new Error(`server did not start: ${ready}`);
    return {
        kubeconfigPath: ready.slice(6),
        async wipe() {
            child.stdin!.write("wipe\n");
            await nextLine();
        },
        async cpu() {
            child.stdin!.write("cpu\n");
            return parseFloat(await nextLine());
        },
        async stop() {
            child.stdin!.write("stop\n");
            await new Promise((r) => child.once("exit", r));
        },
    };
}

if (require.main === module && process.env.BENCH_TEST_SERVER === "1") {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const { startTestApiServer } = require("../test/kube-apiserver");
    (async () => {
        const api = await startTestApiServer();
        api.flux.auto = false;
        api.flagger.auto = false;
        process.stdout.write(`READY ${api.kubeconfigPath}\n`);
        const rl = readline.createInterface({ input: process.stdin });
        rl.on("line", async (line) => {
            if (line === "wipe") {
                api.wipe();
                api.requests.length = 0;
                process.stdout.write("OK\n");
            } else if (line === "cpu") {
                const u = process.cpuUsage();
                process.stdout.write(`${(u.user + u.system) / 1e6}\n`);
            } else if (line === "stop") {
                await api.stop();
                process.exit(0);
            }
        });
    })();
}
