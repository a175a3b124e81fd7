/**
 * Retry policy for API calls, and a bounded-concurrency map. Pure helpers, tested without a
 * server: which failures are retried, how long to wait, how many calls are in flight.
 */

export interface RetryPolicy {
    /** Attempts in total, the first included. Default 8. */
    readonly attempts: number;
    /** Delay before the first retry, in ms. Default 100. */
    readonly baseMs: number;
    /** Upper bound for one delay, in ms (also caps Retry-After). Default 10000. */
    readonly maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 8, baseMs: 100, maxMs: 10_000 };

/** Network error codes worth retrying: the connection broke, not the request. */
const RETRYABLE_CODES = new Set(["ECONNRESET", "EPIPE", "ECONNREFUSED", "ETIMEDOUT", "ECONNABORTED", "EAI_AGAIN", "UND_ERR_SOCKET"]);

/** True for HTTP statuses a retry may fix: 429 Too Many Requests and 5xx (but not 501). */
export function isRetryableStatus(status: number): boolean {
    return status === 429 || (status >= 500 && status <= 599 && status !== 501);
}

/** True for transport errors a retry may fix: resets, hang-ups, refused/timed-out connections. */
export function isRetryableError(err: unknown): boolean {
    const e = err as { code?: string; message?: string } | undefined;
    if (!e) return false;
    if (e.code && RETRYABLE_CODES.has(e.code)) return true;
    return /socket hang up|ECONNRESET|other side closed/i.test(e.message ?? "");
}

/**
 * Parses a Retry-After header: delta-seconds or an HTTP date. Returns ms, or undefined when the
 * header is missing or unreadable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
    const v = Array.isArray(value) ? value[0] : value;
    if (v === undefined || v.trim() === "") return undefined;
    if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(parseFloat(v) * 1000);
    const t = Date.parse(v);
    if (Number.isNaN(t)) return undefined;
    return Math.max(0, t - now);
}

/**
 * Delay before retry number `attempt` (1 = first retry): the server's Retry-After when it gave
 * one, else exponential backoff with full jitter in [base*2^(n-1)/2, base*2^(n-1)]; always
 * capped at maxMs.
 */
export function backoffDelay(attempt: number, policy: RetryPolicy = DEFAULT_RETRY, retryAfterMs?: number, random = Math.random): number {
    if (retryAfterMs !== undefined) return Math.min(retryAfterMs, policy.maxMs);
    const ceiling = Math.min(policy.baseMs * 2 ** Math.max(0, attempt - 1), policy.maxMs);
    return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Maps `fn` over `items` with at most `limit` calls in flight, keeping the order of results.
 * Every item is attempted even when some fail; failures are returned, not thrown.
 */
export async function mapLimit<T, R>(
    items: readonly T[],
    limit: number,
    fn: (item: T, index: number) => Promise<R>,
): Promise<Array<{ ok: true; value: R } | { ok: false; error: unknown }>> {
    const out: Array<{ ok: true; value: R } | { ok: false; error: unknown }> = new Array(items.length);
    let next = 0;
    const worker = async () => {
        while (next < items.length) {
            const i = next++;
            try {
                out[i] = { ok: true, value: await fn(items[i], i) };
            } catch (error) {
                out[i] = { ok: false, error };
            }
        }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
    return out;
}
