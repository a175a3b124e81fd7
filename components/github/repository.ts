/**
 * FleetRepository: the fleet repository on GitHub (created, or adopted with `adopt: true`), the
 * deploy key Flux pulls with, branch protection for main and the environment branches, and the
 * Actions secrets the workflows need.
 */
import * as github from "@pulumi/github";
import * as pulumi from "@pulumi/pulumi";

export interface FleetRepositoryArgs {
    readonly owner: string;
    readonly name: string;
    /** Default "private". */
    readonly visibility?: "private" | "public" | "internal";
    /** Adopt an existing repository (import) instead of creating one. Default false. */
    readonly adopt?: boolean;
    /** Branches to protect. Default ["main"]. */
    readonly protectedBranches?: string[];
    /** The deploy key's public key (authorized_keys line). */
    readonly deployKey?: pulumi.Input<string>;
    /** Read-only unless image automation must push. Default true. */
    readonly deployKeyReadOnly?: boolean;
    /** Actions secrets: names are plain, values secret. */
    readonly actionsSecrets?: { names: string[]; values: pulumi.Output<Record<string, string>> };
    /** GitHub token (secret); else the provider reads GITHUB_TOKEN. */
    readonly token?: pulumi.Input<string>;
}

export class FleetRepository extends pulumi.ComponentResource {
    readonly repository: github.Repository;
    readonly sshCloneUrl: pulumi.Output<string>;
    readonly deployKey?: github.RepositoryDeployKey;
    readonly protections: github.BranchProtection[] = [];
    readonly actionsSecrets: github.ActionsSecret[] = [];

    constructor(name: string, args: FleetRepositoryArgs, opts?: pulumi.ComponentResourceOptions) {
        super("gitops:github:FleetRepository", name, {}, opts);
        const provider = new github.Provider(`${name}-github`, { owner: args.owner, token: args.token }, { parent: this });
        const childOpts = { parent: this, provider };
        this.repository = new github.Repository(
            name,
            {
                name: args.name,
                visibility: args.visibility ?? "private",
                autoInit: !args.adopt,
                deleteBranchOnMerge: true,
                allowMergeCommit: true,
                hasIssues: true,
                vulnerabilityAlerts: true,
            },
            // Adopting imports the existing repository; protect it from `pulumi destroy` either way.
            { ...childOpts, import: args.adopt ? args.name : undefined, protect: true },
        );
        this.sshCloneUrl = this.repository.sshCloneUrl;
        if (args.deployKey) {
            this.deployKey = new github.RepositoryDeployKey(
                `${name}-deploy-key`,
                { repository: this.repository.name, title: "flux-system", key: args.deployKey, readOnly: args.deployKeyReadOnly ?? true },
                childOpts,
            );
        }
        for (const branch of args.protectedBranches ?? ["main"]) {
            this.protections.push(
                new github.BranchProtection(
                    `${name}-protect-${branch.replace(/[^A-Za-z0-9-]/g, "-")}`,
                    {
                        repositoryId: this.repository.nodeId,
                        pattern: branch,
                        enforceAdmins: false,
                        allowsForcePushes: false,
                        allowsDeletions: false,
                        requiredLinearHistory: false,
                        requiredPullRequestReviews: [{ requiredApprovingReviewCount: 1, dismissStaleReviews: true }],
                        requiredStatusChecks: [{ strict: true, contexts: ["test"] }],
                    },
                    childOpts,
                ),
            );
        }
        for (const secretName of args.actionsSecrets?.names ?? []) {
            this.actionsSecrets.push(
                new github.ActionsSecret(
                    `${name}-secret-${secretName.toLowerCase()}`,
                    { repository: this.repository.name, secretName, plaintextValue: pulumi.secret(args.actionsSecrets!.values.apply((v) => v[secretName])) },
                    childOpts,
                ),
            );
        }
        this.registerOutputs({ sshCloneUrl: this.sshCloneUrl });
    }
}
