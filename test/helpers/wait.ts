/** Polling for tests that wait on real processes (controllers, kwok, Flux). */

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Polls fn until it returns a value other than undefined; a throw counts as "not yet" and is
 * remembered. Fails after timeoutMs with what it was waiting for and the last observation.
 */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000, pollMs = 200): Promise<{ value: T; ms: number }> {
    const t0 = Date.now();
    let last = "";
    while (Date.now() - t0 < timeoutMs) {
        try {
            const v = await fn();
            if (v !== undefined) return { value: v, ms: Date.now() - t0 };
        } catch (e) {
            last = (e as Error).message;
        }
        await sleep(pollMs);
    }
    throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}${last ? `; last: ${last}` : ""}`);
}
