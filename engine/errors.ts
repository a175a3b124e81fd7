/**
 * Errors a user can cause. Every one says *where* (a file and line, a config key, or an object
 * id) and *what to do*, so the message alone is enough to fix the input.
 */
export class GitopsError extends Error {
    /** Where the problem is: `path/to/file.yaml:12`, `gitops:cluster.kind`, or an object id. */
    readonly where: string;
    /** What the user should do about it, if there is more to say than the message. */
    readonly hint?: string;

    constructor(where: string, message: string, hint?: string) {
        super(`${where}: ${message}${hint ? ` (${hint})` : ""}`);
        this.name = "GitopsError";
        this.where = where;
        this.hint = hint;
    }
}

/** True when `err` is one of ours (a user error with a location), as opposed to a bug. */
export function isGitopsError(err: unknown): err is GitopsError {
    return err instanceof GitopsError;
}
