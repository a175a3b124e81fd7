/**
 * An OCIRepository whose signature source-controller refuses (spec.verify): waitForRevision fails
 * at once, quoting source-controller, instead of waiting out its timeout; a verdict from before
 * the latest reconcile request, or about another digest, is not taken for the answer. The
 * condition shapes are source-controller v1.9.4's (internal/controller/ocirepository_controller.go:
 * Ready=False, reason VerificationError); test/e2e/oci.e2e.ts shows them with the real controller.
 */
import { strict as assert } from "assert";
import type { ClusterClient } from "../../engine/cluster";
import { signatureRefused, waitForRevision } from "../../engine/cluster";
import type { KubeObject } from "../../engine/flux/api";

const SIGNED = "sha256:" + "a".repeat(64);
const UNSIGNED = "sha256:" + "b".repeat(64);
const REQUESTED = "2026-11-29T18:00:00Z";
const MESSAGE = `failed to verify the signature using provider 'cosign': no matching signatures were found for '127.0.0.1:5000/team/fleet@${UNSIGNED}'`;

function source(o: { handled?: string; requested?: string | null; reason?: string; message?: string; status?: "True" | "False" } = {}): KubeObject {
    return {
        apiVersion: "source.toolkit.fluxcd.io/v1",
        kind: "OCIRepository",
        metadata: { name: "flux-system", namespace: "flux-system", ...(o.requested === null ? {} : { annotations: { "reconcile.fluxcd.io/requestedAt": o.requested ?? REQUESTED } }) },
        status: {
            lastHandledReconcileAt: o.handled ?? REQUESTED,
            artifact: { revision: `dev@${SIGNED}` },
            conditions: [
                { type: "Ready", status: o.status ?? "False", reason: o.reason ?? "VerificationError", message: o.message ?? MESSAGE },
                { type: "SourceVerified", status: "False", reason: "VerificationError", message: MESSAGE },
            ],
        },
    };
}

describe("signature refused by source-controller", () => {
    it("is the Ready message when the refusal names the wanted digest and follows the latest request", () => {
        assert.equal(signatureRefused(source(), UNSIGNED), MESSAGE);
        assert.equal(signatureRefused(source(), `dev@${UNSIGNED}`), MESSAGE, "Flux's <tag>@<digest> form");
    });

    it("is not an answer yet: another digest, a verdict before the latest request, no request, or another failure", () => {
        assert.equal(signatureRefused(source(), SIGNED), undefined, "the refusal is about another digest");
        assert.equal(signatureRefused(source({ handled: "2026-11-29T17:00:00Z" }), UNSIGNED), undefined, "the controller has not handled the latest request");
        assert.equal(signatureRefused(source({ requested: null }), UNSIGNED), undefined);
        assert.equal(signatureRefused(source({ reason: "OCIPullFailed" }), UNSIGNED), undefined);
        assert.equal(signatureRefused(source({ status: "True", reason: "Succeeded" }), UNSIGNED), undefined);
    });

    it("fails waitForRevision at once, naming the OCIRepository, quoting the controller and saying what to do", async () => {
        let gets = 0;
        const client = {
            // A server that refuses watches: the wait polls.
            watch: async () => undefined,
            mergePatch: async (_v: string, _k: string, _n: string, _ns: string, patch: { metadata: { annotations: Record<string, string> } }) => {
                live = source({ requested: patch.metadata.annotations["reconcile.fluxcd.io/requestedAt"], handled: "old" });
                return live;
            },
            get: async (_v: string, kind: string) => {
                if (kind !== "OCIRepository") return undefined;
                // The controller handles the request on the second look.
                if (++gets === 2) live = source({ requested: live.metadata.annotations!["reconcile.fluxcd.io/requestedAt"], handled: live.metadata.annotations!["reconcile.fluxcd.io/requestedAt"] });
                return live;
            },
        };
        let live = source();
        const t0 = Date.now();
        await assert.rejects(
            waitForRevision(client as unknown as ClusterClient, { gitRepository: { name: "flux-system" }, sourceKind: "OCIRepository", kustomizations: [], revision: UNSIGNED, timeoutMs: 60_000, pollMs: 10 }),
            (e: Error) => {
                assert.match(e.message, /flux-system_flux-system_source\.toolkit\.fluxcd\.io_OCIRepository/);
                assert.match(e.message, /refused the signature of sha256:b+: "failed to verify the signature using provider 'cosign'/);
                assert.match(e.message, /cosign sign --key/);
                return true;
            },
        );
        assert.equal(gets, 2, "the stale verdict (before the request was handled) was not taken");
        assert.ok(Date.now() - t0 < 30_000, "at once, not at the timeout (60 s)");
    });
});
