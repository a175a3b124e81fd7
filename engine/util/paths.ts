/**
 * Path confinement: the one rule for every path that comes from stack config or the command line.
 *
 * A path is resolved against its root (the output folder, the fleet repo checkout, the project
 * directory) and must stay inside it, lexically AND after following symbolic links of every part
 * that exists: `../../victim`, `/etc/passwd` and a link `out/clusters -> /elsewhere` are refused
 * alike, before anything is read or written. This is what Flux's kustomize-controller does with
 * fluxcd/pkg/kustomize/filesys (a file system confined to the source root, symlinks evaluated).
 */
import * as fs from "fs";
import * as path from "path";
import { GitopsError } from "../errors";

export interface ConfineOptions {
    /** Accept an absolute `p` when it lies inside the root. Default false: absolute paths are refused. */
    readonly allowAbsolute?: boolean;
    /** What to tell the user to do instead. */
    readonly fix?: string;
    /** How to name the root in messages when its folder means nothing to the user (e.g. a temporary checkout). Default: the folder. */
    readonly rootName?: string;
}

/**
 * Resolves `p` against `root` and returns the absolute path, or throws a GitopsError at `where`
 * when it leaves the root: lexically (`..`, an absolute path) or through a symbolic link.
 */
export function confine(root: string, p: string, where: string, opts: ConfineOptions = {}): string {
    const fix = opts.fix ?? `give a path inside ${root} without '..' or symbolic links that lead out of it`;
    if (typeof p !== "string" || p.length === 0) throw new GitopsError(where, "the path is empty", fix);
    if (p.includes("\0")) throw new GitopsError(where, `${JSON.stringify(p)} contains a NUL byte`, fix);
    const rootAbs = path.resolve(root);
    const named = (dir: string) => (opts.rootName ? `${opts.rootName} (${dir})` : dir);
    if (path.isAbsolute(p) && !opts.allowAbsolute) {
        throw new GitopsError(where, `${JSON.stringify(p)} is an absolute path; it must be relative to ${named(rootAbs)}`, fix);
    }
    const abs = path.resolve(rootAbs, p);
    if (!isInside(rootAbs, abs)) throw new GitopsError(where, `${JSON.stringify(p)} resolves to ${abs}, outside ${named(rootAbs)}`, fix);
    const rootReal = realpathOfNearest(rootAbs);
    const real = realpathOfNearest(abs);
    if (real === undefined) {
        throw new GitopsError(where, `${JSON.stringify(p)} goes through a symbolic link that points nowhere`, fix);
    }
    if (rootReal !== undefined && !isInside(rootReal, real)) {
        throw new GitopsError(where, `${JSON.stringify(p)} follows a symbolic link to ${real}, outside ${named(rootReal)}`, fix);
    }
    return abs;
}

/** True when `p` is `root` or lies under it (both absolute and normalized). */
export function isInside(root: string, p: string): boolean {
    const rel = path.relative(root, p);
    return rel === "" || (!rel.startsWith(`..${path.sep}`) && rel !== ".." && !path.isAbsolute(rel));
}

/**
 * The real path of `p`: symlinks of its longest existing prefix resolved, the rest appended.
 * undefined when an existing part is a symbolic link that points nowhere (it could be created
 * anywhere later).
 */
export function realpathOfNearest(p: string): string | undefined {
    let cur = path.resolve(p);
    const rest: string[] = [];
    for (;;) {
        let st: fs.Stats | undefined;
        try {
            st = fs.lstatSync(cur);
        } catch {
            st = undefined;
        }
        if (st) {
            try {
                return path.join(fs.realpathSync(cur), ...rest.reverse());
            } catch {
                return undefined; // a dangling link (or a loop)
            }
        }
        const parent = path.dirname(cur);
        if (parent === cur) return path.join(cur, ...rest.reverse());
        rest.push(path.basename(cur));
        cur = parent;
    }
}

/**
 * A repository-relative path as stack config gives it (`./apps/dev`, `clusters/dev`), normalized
 * to POSIX form without "./" or a trailing "/". Returns a problem text when it is absolute, leaves
 * the root, or holds characters a path should not; "" for the root itself.
 */
export function relativePathProblem(p: string): string | undefined {
    if (p.includes("\0") || /[\u0000-\u001f\u007f]/.test(p)) return "must not contain control characters";
    if (p.includes("\\")) return "must use '/' as the separator";
    if (path.posix.isAbsolute(p) || /^[A-Za-z]:/.test(p)) return "must be a relative path inside the repository, not an absolute one";
    const norm = path.posix.normalize(p);
    if (norm === ".." || norm.startsWith("../")) return "must stay inside the repository ('..' leads out of it)";
    if (p.split("/").includes("..")) return "must not contain '..'";
    return undefined;
}

/** `./apps/dev/` -> `apps/dev`; "." and "./" -> "". */
export function normalizeRelative(p: string): string {
    const n = path.posix.normalize(p).replace(/\/+$/, "");
    return n === "." ? "" : n.replace(/^\.\//, "");
}

/** What `p` is: "file", "dir", "link" (only when not following links), "other", or undefined when nothing is there. */
export function kindOf(p: string, opts: { followLinks?: boolean } = {}): "file" | "dir" | "link" | "other" | undefined {
    let st: fs.Stats;
    try {
        st = opts.followLinks === false ? fs.lstatSync(p) : fs.statSync(p);
    } catch {
        return undefined;
    }
    return st.isSymbolicLink() ? "link" : st.isDirectory() ? "dir" : st.isFile() ? "file" : "other";
}
