/**
 * Promotion by digest (gitops:fleet.oci): the digest the source stage is verified at is copied to
 * the next stage's tag (a manifest copy, never a rebuild, so the bytes Flux verified are the
 * bytes the next stage pulls), and the promotion is recorded in Git as a commit on the target
 * stage's fleet branch whose trailers `gitops promote log` and `gitops report` read:
 *
 *   Promoted-From: dev@<the source commit the artifact was built from>
 *   Promoted-To: test
 *   Promoted-By / Promoted-At
 *   Promotion-Model: oci
 *   Promoted-Digest: sha256:...
 *   Promoted-Artifact: oci://host/repository:test@sha256:...
 *
 * Promoted-From names the source commit (from the artifact's revision annotation), so the
 * report's lead time follows the change back to the commit that started it.
 */
import { GitopsError } from "../errors";
import type { GitAuth, Identity } from "../git/exec";
import { DIGEST } from "./ref";
import { commitOfRevision } from "./fleet";
import { copyArtifact, CopyResult, inspectArtifact, RegistryAccess } from "./push";

export interface StageArtifact {
    /** The stage (stack) name. */
    stage: string;
    /** oci://host/repository (no tag) */
    repository: string;
    tag: string;
    access?: RegistryAccess;
}

export interface PromoteDigestOptions {
    from: StageArtifact;
    to: StageArtifact;
    /** The digest the source stage is verified healthy at (e.g. from `gitops status -o json`). */
    verifiedDigest: string;
    /** The fleet repository and the branch the trail commit goes to (the target stage's branch). */
    repo: string;
    branch: string;
    gitAuth?: GitAuth;
    author: Identity;
    dryRun?: boolean;
}

export interface PromoteDigestResult {
    digest: string;
    from: string;
    to: string;
    /** The source revision the artifact was built from (its annotation). */
    sourceRevision: string;
    copy?: CopyResult;
    /** The trail commit (undefined in a dry run). */
    commit?: string;
    pushed: boolean;
}

export async function promoteDigest(o: PromoteDigestOptions): Promise<PromoteDigestResult> {
    const where = `promote ${o.from.stage} -> ${o.to.stage}`;
    if (!o.verifiedDigest) throw new GitopsError(where, `stage '${o.from.stage}' has no verified digest; refusing to promote`, "pass the digest the source stage is verified healthy at (--verified-digest sha256:...)");
    if (!DIGEST.test(o.verifiedDigest)) throw new GitopsError("--verified-digest", `${JSON.stringify(o.verifiedDigest)} is not a sha256 digest`, "sha256: followed by 64 lowercase hex digits");
    const fromUrl = `${o.from.repository}:${o.from.tag}`;
    const toUrl = `${o.to.repository}:${o.to.tag}`;
    // Check before writing anything: the source tag still holds the verified digest, and the artifact leads back to a commit.
    const src = await inspectArtifact(fromUrl, { ...o.from.access, where });
    if (src.digest !== o.verifiedDigest) {
        throw new GitopsError(where, `${fromUrl} now holds ${src.digest}, not the verified ${o.verifiedDigest}; refusing to promote an unverified artifact`, `wait until '${o.from.stage}' is verified at ${src.digest}`);
    }
    const sourceCommit = commitOfRevision(src.meta.revision);
    const result: PromoteDigestResult = { digest: src.digest, from: `${fromUrl}@${src.digest}`, to: `${toUrl}@${src.digest}`, sourceRevision: src.meta.revision, pushed: false };
    if (o.dryRun) return result;

    result.copy = await copyArtifact({ from: fromUrl, digest: o.verifiedDigest, to: toUrl, fromAccess: o.from.access, toAccess: o.to.access, where });

    const { Remote } = await import("../git/remote");
    const { commitWithRetry } = await import("../promote");
    const { ident, message } = await import("../promote/trail");
    const { writeCommit } = await import("../git/tree");
    const at = new Date().toISOString();
    const built = await Remote.open(o.repo, o.gitAuth, (r) =>
        commitWithRetry(r, o.branch, {}, async (head) => {
            if (!head) throw new GitopsError(`${r.repo.display}#${o.branch}`, `branch '${o.branch}' of stage '${o.to.stage}' does not exist`, "run `pulumi up` for the stage first");
            const msg = message(
                `promote ${o.from.stage} -> ${o.to.stage}: ${o.to.repository}@${src.digest.slice(0, 19)}`,
                `Copied ${fromUrl}@${src.digest} to ${toUrl} (a manifest copy; the same digest).\nBuilt from ${src.meta.revision || "<no revision annotation>"} of ${src.meta.source || "<no source annotation>"}.`,
                [
                    ["Promoted-From", `${o.from.stage}@${sourceCommit ?? src.digest}`],
                    ["Promoted-To", o.to.stage],
                    ["Promoted-By", ident(o.author)],
                    ["Promoted-At", at],
                    ["Promotion-Model", "oci"],
                    ["Promoted-Digest", src.digest],
                    ["Promoted-Artifact", `${toUrl}@${src.digest}`],
                ],
            );
            return { commit: await writeCommit(r, { parents: [head], edits: [], message: msg, author: o.author }) };
        }),
    );
    result.commit = built.commit;
    result.pushed = built.pushed;
    return result;
}
