/**
 * A tiny HTTP client for tests that talk to the test API server directly, and an async kubectl
 * runner (the server lives in the test's own process, so kubectl must not be run with spawnSync:
 * that would block the event loop the server answers on).
 */
import { spawn } from "child_process";

export interface Reply {
    status: number;
    body: any;
    text: string;
    headers: Headers;
}

export async function call(base: string, method: string, path: string, body?: unknown, contentType = "application/json",
    headers: Record<string, string> = {}): Promise<Reply> {
    const init: RequestInit = { method, headers: { Accept: "application/json", ...headers } };
    if (body !== undefined) {
        init.body = typeof body === "string" ? body : JSON.stringify(body);
        (init.headers as Record<string, string>)["Content-Type"] = contentType;
    }
    const res = await fetch(base + path, init);
    const text = await res.text();
    let parsed: any;
    try {
        parsed = JSON.parse(text);
    } catch {
        parsed = undefined;
    }
    return { status: res.status, body: parsed, text, headers: res.headers };
}

export interface KubectlResult {
    code: number | null;
    stdout: string;
    stderr: string;
}

/** Runs kubectl asynchronously against a kubeconfig, with a private discovery cache dir. */
export function kubectl(kubeconfigPath: string, cacheDir: string, args: string[], input?: string, timeoutMs = 60000): Promise<KubectlResult> {
    return new Promise((resolve, reject) => {
        const child = spawn("kubectl", ["--kubeconfig", kubeconfigPath, "--cache-dir", cacheDir, ...args], { stdio: ["pipe", "pipe", "pipe"] });
        let stdout = "", stderr = "";
        child.stdout.on("data", (d) => (stdout += d));
        child.stderr.on("data", (d) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.on("error", (e) => { clearTimeout(timer); reject(e); });
        child.on("close", (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
        child.stdin.end(input ?? "");
    });
}
