/** Loopback networking helpers shared by the local control plane and the tests. */
import * as net from "net";

/** Ports this process handed out: the kernel may give the same ephemeral port to two binds in a row. */
const handedOut = new Set<number>();

/**
 * A free TCP port on 127.0.0.1 (bound then released), never one this process handed out before,
 * so that two pieces started together (a health and an events address) cannot get the same one.
 */
export async function freePort(): Promise<number> {
    for (let i = 0; ; i++) {
        const port = await bindAndRelease();
        if (!handedOut.has(port) || i >= 100) {
            handedOut.add(port);
            return port;
        }
    }
}

function bindAndRelease(): Promise<number> {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const port = (srv.address() as net.AddressInfo).port;
            srv.close(() => resolve(port));
        });
    });
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function tcpOpen(port: number, timeoutMs = 2000): Promise<boolean> {
    return new Promise((resolve) => {
        const s = net.connect({ port, host: "127.0.0.1" });
        s.once("connect", () => {
            s.destroy();
            resolve(true);
        });
        s.once("error", () => resolve(false));
        s.setTimeout(timeoutMs, () => {
            s.destroy();
            resolve(false);
        });
    });
}
