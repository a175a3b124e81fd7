/**
 * Reads this stack's `gitops:*` config through pulumi.Config, validates it with the one schema
 * (engine/config), and reads the secret keys as Pulumi secrets. Bad config throws before any
 * resource is registered.
 */
import * as pulumi from "@pulumi/pulumi";
import { NS, parseStackConfig, plainSecretProblem, projectFile, SECRET_KEYS, StackConfig, StackConfigError } from "../engine/config";

export interface StackSecrets {
    githubToken?: pulumi.Output<string>;
    kubeconfig?: pulumi.Output<string>;
    notificationSecrets?: pulumi.Output<Record<string, string>>;
    actionsSecrets?: pulumi.Output<Record<string, string>>;
    receiverToken?: pulumi.Output<string>;
    registryCredentials?: pulumi.Output<Record<string, string>>;
}

const PLAIN_KEYS = ["cluster", "fleet", "flux", "sources", "releases", "sync", "kustomizations", "apps", "imageAutomation", "delivery", "notifications", "promotion"];

/** Whether a config key holds a secret (set with --secret). Uses the SDK's runtime record of secret keys. */
function isSecretKey(fullKey: string): boolean {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const runtimeConfig = require("@pulumi/pulumi/runtime/config");
    return typeof runtimeConfig.isConfigSecret === "function" ? runtimeConfig.isConfigSecret(fullKey) : true;
}

/**
 * @param stack      the stack name (default: the running stack)
 * @param projectDir the project directory files named in config resolve against (default: the
 *                   working directory, where Pulumi runs the program)
 */
export function readStackConfig(stack = pulumi.getStack(), projectDir = process.cwd()): { config: StackConfig; secrets: StackSecrets } {
    const cfg = new pulumi.Config(NS);
    const raw: Record<string, unknown> = {};
    const file = `Pulumi.${stack}.yaml`;
    const problems: string[] = [];
    for (const key of PLAIN_KEYS) {
        const text = cfg.get(key);
        if (text === undefined) continue;
        try {
            raw[key] = JSON.parse(text);
        } catch {
            raw[key] = text; // a plain string; the schema says what shape it wanted
        }
    }
    const secrets: StackSecrets = {};
    for (const key of Object.values(SECRET_KEYS)) {
        if (cfg.get(key) === undefined) continue;
        if (!isSecretKey(`${NS}:${key}`)) {
            problems.push(plainSecretProblem(`${NS}:${key}`, file));
            continue;
        }
        if (key === SECRET_KEYS.notificationSecrets || key === SECRET_KEYS.actionsSecrets || key === SECRET_KEYS.registryCredentials) {
            (secrets as Record<string, unknown>)[key] = cfg.requireSecretObject<Record<string, string>>(key);
        } else {
            (secrets as Record<string, unknown>)[key] = cfg.requireSecret(key);
        }
    }
    if (problems.length) throw new StackConfigError(file, problems);
    const config = parseStackConfig(raw, stack, file);
    if (config.flux.componentsFile) {
        try {
            projectFile(projectDir, "flux.componentsFile", config.flux.componentsFile);
        } catch (e) {
            throw new StackConfigError(file, [(e as Error).message]);
        }
    }
    return { config, secrets };
}
