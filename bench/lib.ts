/** Helpers shared by bench cases: timing, peak RSS, and the BENCH line format. */
import { spawnSync, SpawnSyncOptions } from "child_process";
import * as os from "os";

/** Runs `fn` `repeat` times and returns the best wall time in seconds. */
export async function timeBest(fn: () => unknown | Promise<unknown>, repeat = 3): Promise<number> {
    let best = Infinity;
    for (let i = 0; i < repeat; i++) {
        const t0 = process.hrtime.bigint();
        await fn();
        const dt = Number(process.hrtime.bigint() - t0) / 1e9;
        best = Math.min(best, dt);
    }
    return best;
}

/** Runs a peer command `repeat` times and returns the best wall time in seconds; throws if it fails. */
export function timePeer(cmd: string, args: string[], opts: SpawnSyncOptions = {}, repeat = 3): number {
    let best = Infinity;
    for (let i = 0; i < repeat; i++) {
        const t0 = process.hrtime.bigint();
        const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"], maxBuffer: 1 << 30, ...opts });
        const dt = Number(process.hrtime.bigint() - t0) / 1e9;
        if (r.status !== 0) throw new Error(`peer ${cmd} ${args.join(" ")} failed: ${r.stderr?.toString()}`);
        best = Math.min(best, dt);
    }
    return best;
}

/** Peak resident set size of this process so far, in MB. */
export function peakRssMb(): number {
    return process.resourceUsage().maxRSS / 1024;
}

/**
 * Prints one BENCH line. `peer` may be undefined when a case has no peer (ratio is then "n/a").
 * `extra` fields are appended as key=value (e.g. output=identical, load1=...).
 */
export function report(name: string, ours: number, peer?: number, extra: Record<string, string | number> = {}): void {
    const ratio = peer === undefined ? "n/a" : (peer / ours).toFixed(2);
    const peerText = peer === undefined ? "n/a" : peer.toFixed(4);
    const tail = Object.entries(extra).map(([k, v]) => ` ${k}=${v}`).join("");
    console.log(`BENCH ${name} ours=${ours.toFixed(4)} peer=${peerText} ratio=${ratio} rss_mb=${peakRssMb().toFixed(0)}${tail}`);
}

/** The 1-minute load average, for figures measured on a shared machine. */
export function load1(): string {
    return os.loadavg()[0].toFixed(1);
}
