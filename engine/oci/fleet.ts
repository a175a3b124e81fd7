/**
 * gitops:fleet.oci: one fleet commit becomes one OCI artifact.
 *
 * The artifact holds the commit's whole tree (every environment's directory), so promotion can
 * copy a digest from one environment's tag to the next and each cluster applies its own
 * ./clusters/<env> from the same bytes. Its annotations lead back to Git: source = the fleet
 * repository URL (credentials removed), revision = `<branch>@sha1:<commit>` (Flux's Git revision
 * format), created = the commit's committer time, so the same commit always has the same digest.
 */
import { GitopsError } from "../errors";
import type { GitAuth } from "../git/exec";
import { pushArtifact, PushResult, RegistryAccess } from "./push";

export interface FleetArtifactTarget extends RegistryAccess {
    /** oci://host/repository (no tag) */
    readonly repository: string;
    /** The environment's tag. */
    readonly tag: string;
}

export interface PublishFleetOptions {
    /** The fleet repository (URL or local path). */
    readonly repo: string;
    readonly branch: string;
    /** The commit to publish. */
    readonly commit: string;
    readonly auth?: GitAuth;
    readonly target: FleetArtifactTarget;
    /** Where errors point. Default "gitops:fleet.oci". */
    readonly where?: string;
}

/** Flux's revision of a Git commit on a branch. */
export function gitRevision(branch: string, commit: string): string {
    return `${branch}@sha1:${commit}`;
}

/** The commit sha an artifact revision names (`main@sha1:abc`, `sha1:abc`, `main/abc`), if any. */
export function commitOfRevision(revision: string): string | undefined {
    const m = /(?:^|@|\/)(?:sha1:)?([0-9a-f]{40})$/.exec(revision);
    return m?.[1];
}

/** Publishes the tree of `commit` as the environment's artifact; idempotent per commit. */
export async function publishFleetCommit(o: PublishFleetOptions): Promise<PushResult> {
    const where = o.where ?? "gitops:fleet.oci";
    const git = await import("../git");
    const { display } = git.normalizeRepo(o.repo, o.auth);
    // Checkout first: it fetches the commit into the cache, where its committer time is read.
    const checkout = await git.materialize(o.repo, o.commit, o.auth);
    let created: string;
    try {
        created = await git.Remote.open(o.repo, o.auth, async (r) => {
            const res = await r.git(["show", "-s", "--format=%cI", checkout.revision], { allowFail: true });
            if (res.code !== 0) throw new GitopsError(`${display}@${o.commit}`, "commit not found in the fleet repository", "the commit must be pushed before it is published");
            return new Date(res.stdout.trim()).toISOString().replace(/\.\d{3}Z$/, "Z");
        });
    } catch (e) {
        await checkout.cleanup();
        throw e;
    }
    try {
        return await pushArtifact({
            ...o.target,
            url: `${o.target.repository}:${o.target.tag}`,
            path: checkout.dir,
            source: display,
            revision: gitRevision(o.branch, checkout.revision),
            created,
            where,
        });
    } finally {
        await checkout.cleanup();
    }
}
