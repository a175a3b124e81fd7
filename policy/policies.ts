/**
 * The platform's guardrails as CrossGuard policies (@pulumi/policy). index.ts serves them as the
 * policy pack `gitops-guardrails`; tests drive these same objects.
 *
 * What a policy can see: resource inputs as the engine sends them, with secrets already unwrapped
 * by the policy SDK (its analyzer deserializes with proxySecrets=false), so "is this input
 * secret" cannot be asked here. FleetSync marks kubeconfig, secrets and gitAuth secret itself
 * (components/fleet-sync.ts); these policies check that secret material never travels in the
 * inputs that are not secret: the fleet files, bootstrap and the repo URL.
 */
import { PolicyResource, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import * as rules from "./rules";

export const FLEET_SYNC = "pulumi-nodejs:dynamic/gitops:FleetSync";
export const DEPLOY_KEY = "github:index/repositoryDeployKey:RepositoryDeployKey";
export const STACK = "pulumi:pulumi:Stack";

/** The stack name from a URN: urn:pulumi:<stack>::<project>::<type>::<name>. */
export function stackOf(urn: string, props?: Record<string, any>): string {
    return (props && typeof props.stack === "string" && props.stack) || urn.split("::")[0].split(":").pop() || "";
}

function fleet(type: string, props: Record<string, any>): { files: Record<string, string>; docs: rules.Doc[] } | undefined {
    if (type !== FLEET_SYNC) return undefined;
    const files: Record<string, string> = props.files ?? {};
    return { files, docs: rules.docsOf(files) };
}

const report = (msgs: string[], reportViolation: (m: string) => void) => msgs.forEach((m) => reportViolation(m));

export const prodImmutableVersions: ResourceValidationPolicy = {
    name: "prod-immutable-versions",
    description: "prod deploys no `latest` or other mutable image tags, and pins HelmRelease chart versions exactly (no ranges).",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const f = fleet(args.type, args.props);
        if (!f || !rules.PROD_STACKS.includes(stackOf(args.urn, args.props))) return;
        report(rules.immutableVersions(f.docs), reportViolation);
    },
};

export const kustomizationPrune: ResourceValidationPolicy = {
    name: "kustomization-prune",
    description: "Every Flux Kustomization has prune enabled, so what leaves Git leaves the cluster.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const f = fleet(args.type, args.props);
        if (!f) return;
        report(rules.pruneEnabled(f.docs, args.props.bootstrap ?? []), reportViolation);
    },
};

export const noPlaintextSecrets: ResourceValidationPolicy = {
    name: "no-plaintext-secrets",
    description: "No Secret with data, private key or token in the fleet repo; FleetSync gets Secrets and Git credentials only through its secret inputs.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const f = fleet(args.type, args.props);
        if (!f) return;
        report([...rules.noPlaintextSecrets(f.files, f.docs), ...rules.fleetSyncInputs(args.props)], reportViolation);
    },
};

export const noSecretsInStackOutputs: StackValidationPolicy = {
    name: "no-secrets-in-stack-outputs",
    description: "No private key or token in a stack output.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        for (const r of args.resources.filter((x) => x.type === STACK)) {
            // Checks what is known: in a preview, outputs computed from resources not yet created are
            // unknown, and reading one through the SDK's proxy throws; those are skipped, so a literal
            // or config-derived secret still fails the pull request's preview.
            const outputs = knownValue(() => r.props) ?? {};
            for (const k of Object.keys(outputs)) {
                const found = new Set(knownStrings(knownValue(() => outputs[k])).flatMap((s) => rules.secretPatterns(s)));
                for (const name of found) reportViolation(`stack output ${k} looks like a ${name}; export it with pulumi.secret() or not at all`, r.urn);
            }
        }
    },
};

/** The value read by `get`, or undefined when it is unknown (a preview's not-yet-computed output). */
function knownValue<T>(get: () => T): T | undefined {
    try {
        return get();
    } catch (e) {
        // @pulumi/policy's unknownCheckingProxy throws UnknownValueError on reading an unknown.
        if (e instanceof Error && e.constructor.name === "UnknownValueError") return undefined;
        throw e;
    }
}

/** Every known string inside a value (object keys and leaves), skipping unknowns at any depth. */
function knownStrings(v: unknown, out: string[] = []): string[] {
    if (typeof v === "string") out.push(v);
    else if (v !== null && typeof v === "object") {
        for (const k of Object.keys(v)) {
            out.push(k);
            knownStrings(knownValue(() => (v as Record<string, unknown>)[k]), out);
        }
    }
    return out;
}

export const prodCanaries: ResourceValidationPolicy = {
    name: "prod-canary-per-app",
    description: "Every app in prod is released through a Flagger Canary.",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const f = fleet(args.type, args.props);
        const stack = stackOf(args.urn, args.props);
        if (!f || !rules.PROD_STACKS.includes(stack)) return;
        report(rules.canaryPerApp(f.docs, stack), reportViolation);
    },
};

export const prodAutomationBranch: ResourceValidationPolicy = {
    name: "prod-image-automation-not-main",
    description: "Image automation in prod never pushes to main (or the branch the cluster syncs).",
    enforcementLevel: "mandatory",
    validateResource: (args, reportViolation) => {
        const f = fleet(args.type, args.props);
        if (!f || !rules.PROD_STACKS.includes(stackOf(args.urn, args.props))) return;
        report(rules.automationNotOnMain(f.docs, args.props.branch ?? "main"), reportViolation);
    },
};

/** Whether the stack runs image automation: an ImageUpdateAutomation in a FleetSync's files. */
export function stackHasImageAutomation(resources: PolicyResource[]): boolean {
    return resources.some((r) => r.type === FLEET_SYNC && rules.docsOf(r.props.files ?? {}).some((d) => d.obj.kind === "ImageUpdateAutomation"));
}

export const deployKeyReadOnly: StackValidationPolicy = {
    name: "deploy-key-read-only",
    description: "A fleet deploy key is read-only unless the stack's image automation needs to push.",
    enforcementLevel: "mandatory",
    validateStack: (args, reportViolation) => {
        const keys = args.resources.filter((r) => r.type === DEPLOY_KEY);
        if (keys.length === 0) return;
        const automation = stackHasImageAutomation(args.resources);
        for (const k of keys) {
            // The GitHub provider's default is read-only.
            if (k.props.readOnly === false && !automation) reportViolation(`deploy key ${k.name} can write to ${k.props.repository ?? "the repository"} but no image automation in this stack pushes; make it read-only`, k.urn);
        }
    },
};

export const policies = [prodImmutableVersions, kustomizationPrune, noPlaintextSecrets, noSecretsInStackOutputs, prodCanaries, prodAutomationBranch, deployKeyReadOnly];
