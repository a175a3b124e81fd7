/**
 * Flux notifications as typed components: Provider (Slack, Microsoft Teams, GitHub commit status,
 * generic webhook) with a secret reference, Alert (event sources and severity) and Receiver (a
 * GitHub webhook whose URL is a secret output, since it is derived from the token).
 */
import * as pulumi from "@pulumi/pulumi";
import type { AlertConfig, NotificationProviderConfig } from "../../engine/config";
import { receiverWebhookPath } from "../../engine/delivery";
import { Alert, Provider, Receiver } from "../../engine/flux/api";
import { alert, notificationProvider, providerSecretName, receiver } from "../../engine/fleet/objects";
import { ManifestComponent } from "../flux/manifest";

export interface NotificationProviderArgs {
    /** slack | msteams | github | generic. */
    readonly type: NotificationProviderConfig["type"];
    /** Slack channel. */
    readonly channel?: string;
    /** Non-secret address: the repository URL for github, the endpoint for generic. */
    readonly address?: string;
    /**
     * Whether the address/token lives in the Secret `<name>-notification` (applied by FleetSync
     * from gitops:notificationSecrets, never in Git). Default true.
     */
    readonly hasSecret?: boolean;
    /** Default "flux-system". */
    readonly namespace?: string;
}

export class NotificationProvider extends ManifestComponent<Provider> {
    /** The Secret the provider reads (when hasSecret). */
    readonly secretName?: string;

    constructor(name: string, args: NotificationProviderArgs, opts?: pulumi.ComponentResourceOptions) {
        if (args.type === "github" && !args.address) throw new pulumi.ResourceError(`notification provider ${name}: a github provider needs address (the repository URL, e.g. https://github.com/org/repo)`, opts?.parent);
        const hasSecret = args.hasSecret ?? true;
        super("gitops:notify:Provider", name, notificationProvider({ name, type: args.type, channel: args.channel, address: args.address }, args.namespace ?? "flux-system", hasSecret), opts);
        this.secretName = hasSecret ? providerSecretName(name) : undefined;
    }
}

export interface NotificationAlertArgs {
    /** The Provider's name. */
    readonly provider: string;
    /** info (everything) or error (failures only). Default "info". */
    readonly severity?: "info" | "error";
    /** Default every Kustomization and HelmRelease in the namespace. */
    readonly sources?: AlertConfig["sources"];
    /** Regexes of messages to drop. */
    readonly exclusionList?: string[];
    readonly namespace?: string;
}

export class NotificationAlert extends ManifestComponent<Alert> {
    constructor(name: string, args: NotificationAlertArgs, opts?: pulumi.ComponentResourceOptions) {
        const sources = args.sources ?? [
            { kind: "Kustomization", name: "*" },
            { kind: "HelmRelease", name: "*" },
        ];
        super("gitops:notify:Alert", name, alert({ name, provider: args.provider, severity: args.severity ?? "info", sources, exclusionList: args.exclusionList ?? [] }, args.namespace ?? "flux-system"), opts);
    }
}

export interface WebhookReceiverArgs {
    /** github (HMAC-checked push/ping events) or generic. Default "github". */
    readonly type?: "github" | "generic";
    /** The token in the receiver Secret (a Pulumi secret). */
    readonly token: pulumi.Input<string>;
    /** Public base URL of notification-controller's webhook-receiver Service, e.g. "https://flux.example.com". */
    readonly address?: string;
    readonly namespace?: string;
}

/**
 * A Flux Receiver for the fleet repository's GitRepository. Its webhook path is what
 * notification-controller serves: /hook/sha256(token + name + namespace). Because it is derived
 * from the token, the path and URL are secret outputs.
 */
export class WebhookReceiver extends ManifestComponent<Receiver> {
    /** "/hook/<digest>" (secret). */
    readonly webhookPath: pulumi.Output<string>;
    /** address + webhookPath, or the path alone when no address is given (secret). */
    readonly webhookUrl: pulumi.Output<string>;

    constructor(name: string, args: WebhookReceiverArgs, opts?: pulumi.ComponentResourceOptions) {
        const ns = args.namespace ?? "flux-system";
        super("gitops:notify:Receiver", name, receiver(name, ns, args.type ?? "github"), opts, true);
        this.webhookPath = pulumi.secret(pulumi.output(args.token).apply((t) => receiverWebhookPath(t, name, ns)));
        const base = (args.address ?? "").replace(/\/+$/, "");
        this.webhookUrl = pulumi.secret(this.webhookPath.apply((p) => base + p));
        this.register({ webhookPath: this.webhookPath, webhookUrl: this.webhookUrl });
    }
}
