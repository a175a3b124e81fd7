/**
 * Folder snapshots for "nothing outside the intended place changed" assertions, and a small
 * hostile-input scene: a project with a stack file, an output folder, and a victim folder next to
 * them that nothing may touch.
 *
 *   const s = new Scene();                      // <tmp>/{project,out,victim}
 *   s.stack("dev", { "gitops:fleet": { path: "../../victim" } });
 *   const before = s.snapshot();                // every file, dir and link under <tmp>
 *   const r = await s.gitops(["fleet", "render", ...]);
 *   assert.deepStrictEqual(s.snapshot(), before);
 */
import * as assert from "assert";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { main } from "../../engine/cli";

/** path (relative to `dir`) -> "dir" | "link -> target" | "file <mode> <sha256>", for every entry, links not followed. */
export function snapshotTree(dir: string): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (d: string) => {
        for (const name of fs.readdirSync(d).sort()) {
            const p = path.join(d, name);
            const rel = path.relative(dir, p);
            const st = fs.lstatSync(p);
            if (st.isSymbolicLink()) out[rel] = `link -> ${fs.readlinkSync(p)}`;
            else if (st.isDirectory()) {
                out[rel] = "dir";
                walk(p);
            } else out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${crypto.createHash("sha256").update(fs.readFileSync(p)).digest("hex")}`;
        }
    };
    if (fs.existsSync(dir)) walk(dir);
    return out;
}

/** A minimal Flux install manifest the stacks vendor, so renders need no download. */
export const VENDORED_COMPONENTS = "# vendored for tests\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n";

export class Scene {
    readonly root: string;
    readonly project: string;
    readonly out: string;
    readonly victim: string;

    constructor(prefix = "gitops-hostile-") {
        this.root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
        this.project = path.join(this.root, "project");
        this.out = path.join(this.root, "out");
        this.victim = path.join(this.root, "victim");
        fs.mkdirSync(path.join(this.project, "flux"), { recursive: true });
        fs.writeFileSync(path.join(this.project, "flux", "gotk-components.yaml"), VENDORED_COMPONENTS);
        fs.mkdirSync(path.join(this.victim, "clusters", "dev"), { recursive: true });
        fs.writeFileSync(path.join(this.victim, "precious.txt"), "do not touch\n");
        fs.writeFileSync(path.join(this.victim, "clusters", "dev", "kustomization.yaml"), "# someone else's file\n");
    }

    /** Writes Pulumi.<stack>.yaml with `config` (gitops:* keys) on top of a cluster-less base. */
    stack(stack: string, config: Record<string, unknown> = {}): string {
        const base = { "gitops:cluster": { kind: "none" }, "gitops:flux": { componentsFile: "flux/gotk-components.yaml" } };
        return this.stackText(stack, YAML.stringify({ config: { ...base, ...config } }));
    }

    stackText(stack: string, text: string | Buffer): string {
        const file = path.join(this.project, `Pulumi.${stack}.yaml`);
        fs.writeFileSync(file, text);
        return file;
    }

    /** Every entry under the scene's root (project, out, victim, and anything that appears next to them). */
    snapshot(): Record<string, string> {
        return snapshotTree(this.root);
    }

    /** Runs the gitops CLI in this process; returns the exit code and what it printed. */
    async gitops(argv: string[]): Promise<{ code: number; out: string; err: string }> {
        let out = "";
        let err = "";
        const code = await main(argv, { out: (t) => (out += t), err: (t) => (err += t) });
        return { code, out, err };
    }

    async render(stack = "dev", out = this.out): Promise<{ code: number; out: string; err: string }> {
        return this.gitops(["fleet", "render", "--stack", stack, "--out", out, "--project", this.project]);
    }

    /**
     * Renders `stack` and asserts it is refused: exit 1, a message from the stack file matching
     * `want` that repeats none of `secrets`, and the whole scene byte for byte as before.
     */
    async expectRefused(stack: string, want: RegExp, secrets: string[] = []): Promise<string> {
        const before = this.snapshot();
        const r = await this.render(stack);
        assert.strictEqual(r.code, 1, r.out);
        assert.match(r.err, new RegExp(`^gitops fleet render: Pulumi\\.${stack}\\.yaml: `));
        assert.match(r.err, want);
        for (const secret of secrets) assert.ok(!r.err.includes(secret), `the message repeats a secret: ${r.err}`);
        assert.deepStrictEqual(this.snapshot(), before, "nothing changed");
        return r.err;
    }

    cleanup(): void {
        fs.rmSync(this.root, { recursive: true, force: true });
    }
}
