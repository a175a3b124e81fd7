/**
 * The webhook path of a Flux Receiver, as notification-controller computes it
 * (Receiver.GetWebhookPath in fluxcd/notification-controller api/v1): "/hook/" followed by the
 * hex SHA-256 of token + name + namespace, concatenated with no separator.
 */
import { createHash } from "crypto";

export const RECEIVER_HOOK_PREFIX = "/hook/";

export function receiverWebhookPath(token: string, name: string, namespace: string): string {
    return RECEIVER_HOOK_PREFIX + createHash("sha256").update(token + name + namespace).digest("hex");
}
