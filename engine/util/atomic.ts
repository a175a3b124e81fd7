/**
 * Atomic writes: a set of files (and whole directories to replace) lands completely or not at all.
 *
 *   1. stage: every new directory and file is written into a temporary sibling of its target
 *      (`.<name>.gitops-new-<id>`), on the same file system; nothing visible changes yet;
 *   2. swap: each target is moved aside to a backup sibling and its staged copy renamed into
 *      place (rename(2) is atomic per entry);
 *   3. clean up the backups.
 * A failure in 1 removes the staged copies; a failure in 2 renames every backup back. Either way
 * the tree is left exactly as it was, byte for byte. Every target is confined to `root` first
 * (engine/util/paths.ts), symbolic links included.
 */
import * as crypto from "crypto";
import * as fs from "fs";
import * as path from "path";
import { GitopsError } from "../errors";
import { confine, kindOf } from "./paths";

export interface TreeWrite {
    /** root-relative path -> content. */
    readonly files: Readonly<Record<string, string | Uint8Array>>;
    /**
     * root-relative directories replaced as a whole: afterwards each holds exactly the files of
     * `files` under it (everything else in it is gone).
     */
    readonly replaceDirs?: readonly string[];
}

export interface AtomicOptions {
    /** Names the input for messages (e.g. "--out", "gitops:fleet.path"). Default "the output". */
    readonly where?: string;
    /** Test seam: called before each step of the swap ("swap <path>"); a throw there is a failure mid-way. */
    readonly beforeStep?: (step: string) => void;
}

interface Swap {
    target: string;
    staged: string;
    backup?: string;
    /** Parent directories created for this target, outermost first (removed on rollback). */
    created: string[];
    done: boolean;
}

const suffix = () => `${process.pid}-${crypto.randomBytes(4).toString("hex")}`;
const sibling = (target: string, kind: "new" | "old") => path.join(path.dirname(target), `.${path.basename(target)}.gitops-${kind}-${suffix()}`);

/** Writes `change` under `root` atomically (see the module comment). Creates `root` when missing. */
export function writeTreeAtomic(root: string, change: TreeWrite, opts: AtomicOptions = {}): void {
    const where = opts.where ?? "the output";
    const rootAbs = path.resolve(root);
    if (fs.existsSync(rootAbs) && !fs.statSync(rootAbs).isDirectory()) {
        throw new GitopsError(where, `${rootAbs} exists and is not a directory`, "give a directory (it is created when missing)");
    }
    // Confine everything before touching anything.
    const dirs = [...new Set((change.replaceDirs ?? []).map((d) => confine(rootAbs, trimSlash(d), `${where}: ${d}`)))];
    for (const d of dirs) {
        if (d === rootAbs) throw new GitopsError(`${where}: ${change.replaceDirs!.find((x) => path.resolve(rootAbs, x) === d)}`, "would replace the whole output directory", "own a sub-directory instead");
    }
    const byDir = new Map<string, Array<[string, string | Uint8Array]>>(dirs.map((d) => [d, []]));
    const loose: Array<[string, string | Uint8Array]> = [];
    for (const [rel, content] of Object.entries(change.files)) {
        const abs = confine(rootAbs, rel, `${where}: ${rel}`);
        const owner = dirs.find((d) => abs.startsWith(d + path.sep));
        if (owner) byDir.get(owner)!.push([abs, content]);
        else if (dirs.includes(abs)) throw new GitopsError(`${where}: ${rel}`, "is both a file and a replaced directory");
        else loose.push([abs, content]);
    }
    for (const d of dirs) {
        if (dirs.some((o) => o !== d && d.startsWith(o + path.sep))) throw new GitopsError(`${where}: ${path.relative(rootAbs, d)}`, "is inside another replaced directory");
    }

    const swaps: Swap[] = [];
    try {
        // 1. Stage.
        for (const d of dirs) {
            const s: Swap = { target: d, staged: sibling(d, "new"), created: [], done: false };
            swaps.push(s);
            mkdirs(path.dirname(d), s.created);
            fs.mkdirSync(s.staged);
            for (const [abs, content] of byDir.get(d)!) {
                const f = path.join(s.staged, path.relative(d, abs));
                fs.mkdirSync(path.dirname(f), { recursive: true });
                fs.writeFileSync(f, content);
            }
        }
        for (const [abs, content] of loose) {
            const s: Swap = { target: abs, staged: sibling(abs, "new"), created: [], done: false };
            swaps.push(s);
            if (isDirectory(abs)) throw new GitopsError(`${where}: ${path.relative(rootAbs, abs)}`, "is a directory where a file is to be written", "remove or rename that directory");
            mkdirs(path.dirname(abs), s.created);
            fs.writeFileSync(s.staged, content);
            if (exists(abs)) fs.chmodSync(s.staged, fs.statSync(abs).mode & 0o7777); // keep the file's mode
        }
        // 2. Swap.
        for (const s of swaps) {
            opts.beforeStep?.(`swap ${path.relative(rootAbs, s.target)}`);
            if (exists(s.target)) {
                s.backup = sibling(s.target, "old");
                fs.renameSync(s.target, s.backup);
            }
            fs.renameSync(s.staged, s.target);
            s.done = true;
        }
    } catch (err) {
        rollback(swaps);
        if (err instanceof GitopsError) throw err;
        const e = err as NodeJS.ErrnoException;
        const at = e.path ? path.relative(rootAbs, e.path) || e.path : rootAbs;
        throw new GitopsError(`${where}: ${at}`, `could not write (${e.code ?? e.message}); nothing was changed`, "fix what is in the way (a file where a directory belongs, a full disk, permissions) and run again");
    }
    // 3. Clean up (a failure here leaves only hidden backups behind, never a changed tree).
    for (const s of swaps) if (s.backup) fs.rmSync(s.backup, { recursive: true, force: true });
}

/** Writes files under `root` atomically as a set; shorthand for writeTreeAtomic without directories. */
export function writeFilesAtomic(root: string, files: Readonly<Record<string, string | Uint8Array>>, opts: AtomicOptions = {}): void {
    writeTreeAtomic(root, { files }, opts);
}

function rollback(swaps: Swap[]): void {
    for (const s of [...swaps].reverse()) {
        try {
            if (s.done) {
                fs.rmSync(s.target, { recursive: true, force: true });
                s.done = false;
            }
            if (s.backup && exists(s.backup)) fs.renameSync(s.backup, s.target);
        } catch {
            // keep rolling back the others; the backup stays next to the target
        }
        fs.rmSync(s.staged, { recursive: true, force: true });
        for (const d of [...s.created].reverse()) {
            try {
                fs.rmdirSync(d);
            } catch {
                // not empty (another swap uses it) or already gone
            }
        }
    }
}

/** mkdir -p that records the directories it creates in `created`, outermost first (also when it fails part-way). */
function mkdirs(dir: string, created: string[]): void {
    const missing: string[] = [];
    let cur = dir;
    while (!exists(cur)) {
        missing.push(cur);
        const parent = path.dirname(cur);
        if (parent === cur) break;
        cur = parent;
    }
    missing.reverse();
    for (const d of missing) {
        fs.mkdirSync(d);
        created.push(d);
    }
}

const exists = (p: string) => kindOf(p, { followLinks: false }) !== undefined;
const isDirectory = (p: string) => kindOf(p, { followLinks: false }) === "dir";

function trimSlash(p: string): string {
    return p.replace(/\/+$/, "") || ".";
}
