/** Trees, blobs and commits in a cache repo, built with plumbing (no work tree, no index). */
import * as crypto from "crypto";
import { GitopsError } from "../errors";
import { Identity } from "./exec";
import { Remote } from "./remote";

export interface TreeEntry {
    mode: string;
    type: string;
    oid: string;
}

/** Every entry (recursively) of `rev`'s tree: path -> entry. An undefined rev is the empty tree. */
export async function listTree(r: Remote, rev: string | null | undefined, prefix?: string): Promise<Map<string, TreeEntry>> {
    const out = new Map<string, TreeEntry>();
    if (!rev) return out;
    const args = ["ls-tree", "-r", "-z", "--full-tree", rev];
    if (prefix) args.push("--", prefix);
    const res = await r.git(args);
    for (const rec of res.stdout.split("\0")) {
        if (!rec) continue;
        const tab = rec.indexOf("\t");
        const [mode, type, oid] = rec.slice(0, tab).split(" ");
        out.set(rec.slice(tab + 1), { mode, type, oid });
    }
    return out;
}

/** The object id git gives `content` as a blob (SHA-1 object format). */
export function blobId(content: string | Buffer): string {
    const buf = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    return crypto.createHash("sha1").update(`blob ${buf.length}\0`).update(buf).digest("hex");
}

/** Checks a repo-relative path; throws a GitopsError naming it. Returns the path unchanged. */
export function checkPath(p: string, where = "files"): string {
    const bad = (why: string) => new GitopsError(`${where}:${p}`, `invalid path: ${why}`, "use a relative path like clusters/dev/app.yaml");
    if (typeof p !== "string" || p.length === 0) throw bad("empty");
    if (p.startsWith("/")) throw bad("absolute");
    if (/[\0\n\r]/.test(p) || p.startsWith('"')) throw bad("contains a control character or starts with a quote");
    for (const seg of p.split("/")) {
        if (seg === "" || seg === "." || seg === "..") throw bad(`segment '${seg}'`);
        if (seg.toLowerCase() === ".git") throw bad("names .git");
    }
    return p;
}

export interface TreeEdit {
    path: string;
    /** undefined deletes the path */
    content?: string;
    mode?: string;
}

/**
 * Writes a commit on top of `parents[0]` (or an orphan) applying `edits`, with one process
 * (git fast-import). Extra parents make a merge commit whose tree is `parents[0]`'s plus edits.
 */
export async function writeCommit(
    r: Remote,
    opts: { parents: string[]; edits: TreeEdit[]; message: string; author: Identity },
): Promise<string> {
    const chunks: Buffer[] = [];
    const when = `${Math.floor(Date.now() / 1000)} +0000`;
    const ident = `${clean(opts.author.name)} <${clean(opts.author.email)}> ${when}`;
    const msg = Buffer.from(opts.message.endsWith("\n") ? opts.message : opts.message + "\n", "utf8");
    chunks.push(Buffer.from(`commit refs/gitops/pending\nauthor ${ident}\ncommitter ${ident}\ndata ${msg.length}\n`), msg, Buffer.from("\n"));
    if (opts.parents[0]) chunks.push(Buffer.from(`from ${opts.parents[0]}\n`));
    for (const p of opts.parents.slice(1)) chunks.push(Buffer.from(`merge ${p}\n`));
    for (const e of opts.edits) {
        if (e.content === undefined) {
            chunks.push(Buffer.from(`D ${e.path}\n`));
        } else {
            const data = Buffer.from(e.content, "utf8");
            chunks.push(Buffer.from(`M ${e.mode ?? "100644"} inline ${e.path}\ndata ${data.length}\n`), data, Buffer.from("\n"));
        }
    }
    chunks.push(Buffer.from("done\n"));
    await r.git(["fast-import", "--quiet", "--force", "--done"], { input: Buffer.concat(chunks) });
    const sha = await r.git(["rev-parse", "refs/gitops/pending"]);
    return sha.stdout.trim();
}

function clean(s: string): string {
    const c = String(s ?? "").replace(/[<>\n\r]/g, "").trim();
    if (!c) throw new GitopsError("author", "author name and email must not be empty", "pass author: { name, email }");
    return c;
}

/** `git merge-tree --write-tree`: the merged tree, or the paths in conflict. */
export async function mergeTrees(r: Remote, ours: string, theirs: string): Promise<{ tree: string; conflicts: string[] }> {
    const res = await r.git(["merge-tree", "--write-tree", "--name-only", "--no-messages", "-z", ours, theirs], { allowFail: true });
    if (res.code === 129 || /usage: git merge-tree/i.test(res.stderr)) {
        throw new GitopsError("git", "merging needs git 2.38 or newer (git merge-tree --write-tree)", "upgrade git");
    }
    if (res.code > 1) throw new GitopsError(r.repo.display, `git merge-tree failed: ${res.stderr.trim()}`);
    const parts = res.stdout.split("\0");
    const tree = parts[0];
    const conflicts = res.code === 1 ? [...new Set(parts.slice(1).filter((p) => p.length > 0))] : [];
    return { tree, conflicts };
}

/** `git commit-tree`: a commit of `tree` with `parents` (a merge when there are two). */
export async function commitTree(r: Remote, tree: string, parents: string[], message: string, author: Identity): Promise<string> {
    const args = ["commit-tree", tree];
    for (const p of parents) args.push("-p", p);
    const res = await r.git(args, { input: message.endsWith("\n") ? message : message + "\n", identity: { name: clean(author.name), email: clean(author.email) } });
    return res.stdout.trim();
}
