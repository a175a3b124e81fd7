/**
 * Helpers for tests of the `gitops` CLI: capturing its output, and an API server to point it at
 * (the real kube-apiserver + etcd built by scripts/e2e-build.sh when they are in
 * ${GITOPS_E2E_BIN:-/var/cache/gitops-e2e/bin}, else the test API server).
 */
import * as fs from "fs";
import * as path from "path";
import type { CliIO } from "../../engine/util/cli";
import { LocalControlPlane } from "../../engine/localcluster/controlplane";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";

const BIN = process.env.GITOPS_E2E_BIN ?? "/var/cache/gitops-e2e/bin";
/** True when the real kube-apiserver and etcd are built. */
export const REAL_APISERVER = fs.existsSync(path.join(BIN, "kube-apiserver")) && fs.existsSync(path.join(BIN, "etcd"));

export function capture(): { io: CliIO; text(): string; errText(): string } {
    const out: string[] = [];
    const err: string[] = [];
    return { io: { out: (t) => void out.push(t), err: (t) => void err.push(t) }, text: () => out.join(""), errText: () => err.join("") };
}

export interface ApiServer {
    kubeconfig: string;
    /** The test API server, when that is what runs (it emulates controllers unless told not to). */
    test?: TestApiServer;
    stop(): Promise<void>;
}

/** Starts the real kube-apiserver (state under `dir`) when built, else the test API server. */
export async function startApiServer(dir: string): Promise<ApiServer> {
    if (REAL_APISERVER) {
        const cluster = await LocalControlPlane.start({ dir, bin: BIN, pieces: "api" });
        return { kubeconfig: cluster.kubeconfigPath, stop: () => cluster.stop() };
    }
    const api = await startTestApiServer();
    return { kubeconfig: api.kubeconfigPath, test: api, stop: () => api.stop() };
}
