/**
 * The local control plane's fleet server as a process of its own (so it outlives `gitops local up`):
 *   node -r sucrase/register/ts fleet-server.ts <root> <port>
 * Serves the bare repos under <root> over Git smart HTTP on 127.0.0.1:<port> until SIGTERM; pushes
 * are accepted from loopback only (image-automation-controller commits image updates).
 */
import { serveFleet } from "../fleet/serve";

const [root, port] = process.argv.slice(2);
serveFleet(root, Number(port), "127.0.0.1", { pushFromLoopback: true }).then(
    (s) => {
        process.stdout.write(`serving ${root} at ${s.url} (pushes from loopback only)\n`);
        const stop = () => void s.close().then(() => process.exit(0));
        process.once("SIGTERM", stop).once("SIGINT", stop);
    },
    (e: Error) => {
        process.stderr.write(`fleet server: ${e.message}\n`);
        process.exit(1);
    },
);
