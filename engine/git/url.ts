/**
 * The one rule for repository locations: a remote URL git fetches over a transport, or a local
 * repository (a path, or a file:// URL). No imports but `path`, so config, the CLI, the engine and
 * the components can all use it.
 */
import * as path from "path";

/** True for URLs git treats as remote transports: scheme:// other than file://, or scp-like [user@]host:path. */
export function isRemoteUrl(repo: string): boolean {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(repo)) return !/^file:\/\//i.test(repo);
    // scp-like: [user@]host:path (no slash before the colon; "C:" is a drive, not a host)
    const colon = repo.indexOf(":");
    const slash = repo.indexOf("/");
    return colon > 1 && (slash === -1 || colon < slash);
}

/**
 * The repository as git is given it from a project: a remote URL or a file:// URL unchanged, a
 * path resolved against the project folder (so every run from that project agrees on it).
 */
export function projectRepo(projectDir: string, repo: string): string {
    return isRemoteUrl(repo) || /^file:\/\//i.test(repo) ? repo : path.resolve(projectDir, repo);
}

/** The folder of a local repository (a path or a file:// URL, resolved against `projectDir`); undefined for a remote URL. */
export function localRepoPath(projectDir: string, repo: string): string | undefined {
    return isRemoteUrl(repo) ? undefined : path.resolve(projectDir, repo.replace(/^file:\/\//i, ""));
}
