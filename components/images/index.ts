/**
 * Flux image automation as typed components (image.toolkit.fluxcd.io/v1): ImageRepository (scan a
 * registry), ImagePolicy (pick the latest tag: semver, numerical or alphabetical, with filterTags)
 * and ImageUpdateAutomation (commit the setter-marker updates and push to a branch).
 */
import * as pulumi from "@pulumi/pulumi";
import { ImageAutomationConfig, ImagePolicyConfig, regexpProblem, semverRangeProblem } from "../../engine/config";
import { ImagePolicy, ImageRepository, ImageUpdateAutomation } from "../../engine/flux/api";
import { DEFAULT_AUTOMATION_TEMPLATE, DEFAULT_EXCLUSION_LIST, imagePolicy, imageRepository, imageUpdateAutomation } from "../../engine/fleet/objects";
import { ManifestComponent } from "../flux/manifest";

export interface ImageRepositoryArgs {
    /** The image's metadata.name. Default: the resource name. */
    readonly objectName?: string;
    /** Default "flux-system". */
    readonly namespace?: string;
    /** Image repository without tag, e.g. "ghcr.io/acme/app". */
    readonly image: string;
    /** Scan interval. Default "1m0s". */
    readonly interval?: string;
    /** Docker-config Secret with registry credentials (applied by FleetSync, never in Git). */
    readonly secretRef?: string;
    /** Tags (regexes) never considered. Default Flux's ["^.*\\.sig$"]. */
    readonly exclusionList?: string[];
    /** Cloud provider for registry auth. Default "generic". */
    readonly provider?: "generic" | "aws" | "azure" | "gcp";
}

export class FluxImageRepository extends ManifestComponent<ImageRepository> {
    constructor(name: string, args: ImageRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
        const p: ImagePolicyConfig = { alphabetical: "asc", interval: args.interval ?? "1m0s", exclusionList: args.exclusionList ?? DEFAULT_EXCLUSION_LIST, secretRef: args.secretRef, provider: args.provider };
        super("gitops:images:ImageRepository", name, imageRepository(args.objectName ?? name, args.namespace ?? "flux-system", args.image, p), opts);
    }
}

export interface ImagePolicyArgs {
    /** The policy's metadata.name (markers name it as <namespace>:<name>). Default: the resource name. */
    readonly objectName?: string;
    /** Default "flux-system". */
    readonly namespace?: string;
    /** Exactly one of semver (a range such as "^1.0.0"), numerical or alphabetical (order asc/desc). */
    readonly semver?: string;
    readonly numerical?: "asc" | "desc";
    readonly alphabetical?: "asc" | "desc";
    /** Only tags matching `pattern`; `extract` (e.g. "$ts") is what the policy orders. */
    readonly filterTags?: { pattern: string; extract?: string };
}

export class FluxImagePolicy extends ManifestComponent<ImagePolicy> {
    constructor(name: string, args: ImagePolicyArgs, opts?: pulumi.ComponentResourceOptions) {
        const chosen = [args.semver, args.numerical, args.alphabetical].filter((x) => x !== undefined).length;
        if (chosen !== 1) throw new pulumi.ResourceError(`image policy ${name}: set exactly one of semver, numerical, alphabetical`, opts?.parent);
        // The same rules the stack config is checked with (engine/config/validate.ts).
        const problems: Array<[string, { what: string; fix: string } | undefined]> = [
            ["filterTags.pattern", args.filterTags ? regexpProblem(args.filterTags.pattern) : undefined],
            ["semver", args.semver !== undefined ? semverRangeProblem(args.semver) : undefined],
        ];
        for (const [key, p] of problems) if (p) throw new pulumi.ResourceError(`image policy ${name}: ${key} ${p.what} (${p.fix})`, opts?.parent);
        const p: ImagePolicyConfig = { semver: args.semver, numerical: args.numerical, alphabetical: args.alphabetical, filterTags: args.filterTags, interval: "1m0s" };
        super("gitops:images:ImagePolicy", name, imagePolicy(args.objectName ?? name, args.namespace ?? "flux-system", p), opts);
    }
}

export interface ImageUpdateAutomationArgs {
    readonly objectName?: string;
    /** Default "flux-system". */
    readonly namespace?: string;
    /** Default "30m0s". */
    readonly interval?: string;
    /** Branch to check out. Default "main". */
    readonly checkoutBranch?: string;
    /** Branch to push to (e.g. "__image/dev/project", or "main" to commit directly). Default: checkoutBranch. */
    readonly pushBranch?: string;
    /** Path whose setter markers are updated, e.g. "./apps/dev". */
    readonly path: string;
    /** Commit author. Default fluxcdbot. */
    readonly author?: { name: string; email: string };
    /** Go template of the commit message. Default DEFAULT_AUTOMATION_TEMPLATE. */
    readonly messageTemplate?: string;
}

export class FluxImageUpdateAutomation extends ManifestComponent<ImageUpdateAutomation> {
    constructor(name: string, args: ImageUpdateAutomationArgs, opts?: pulumi.ComponentResourceOptions) {
        const checkout = args.checkoutBranch ?? "main";
        const a: ImageAutomationConfig = {
            enabled: true,
            interval: args.interval ?? "30m0s",
            checkoutBranch: checkout,
            pushBranch: args.pushBranch ?? checkout,
            path: args.path,
            author: args.author ?? { name: "fluxcdbot", email: "fluxcdbot@users.noreply.github.com" },
            messageTemplate: args.messageTemplate ?? DEFAULT_AUTOMATION_TEMPLATE,
        };
        super("gitops:images:ImageUpdateAutomation", name, imageUpdateAutomation(args.objectName ?? name, args.namespace ?? "flux-system", a), opts);
    }
}
