/**
 * Hostile paths: every path from stack config or the command line stays inside its root.
 * Each case asserts the message (it names the key or file and entry, and the fix) and that
 * nothing changed outside the intended place: the whole scene (project, out, a victim folder next
 * to them) is snapshotted before and after. `gitops render` runs against real bare repositories
 * (git CLI) and real `kubectl kustomize`.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { serveFleet } from "../../engine/fleet/serve";
import { confine } from "../../engine/util/paths";
import { Scene, snapshotTree } from "../helpers/tree";

function git(cwd: string, ...args: string[]): string {
    return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@e", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@e" } });
}

/** A bare repository whose first commit holds `files` (string: content; { link }: a symbolic link). */
function bareRepo(s: Scene, name: string, files: Record<string, string | { link: string }>): string {
    const work = path.join(s.root, `${name}-work`);
    fs.mkdirSync(work);
    git(work, "init", "-q", "-b", "main");
    for (const [rel, v] of Object.entries(files)) {
        const p = path.join(work, rel);
        fs.mkdirSync(path.dirname(p), { recursive: true });
        if (typeof v === "string") fs.writeFileSync(p, v);
        else fs.symlinkSync(v.link, p);
    }
    git(work, "add", "-A");
    git(work, "commit", "-qm", "initial");
    const bare = path.join(s.root, `${name}.git`);
    git(s.root, "clone", "-q", "--bare", work, bare);
    fs.rmSync(work, { recursive: true, force: true });
    return bare;
}

const CM = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  a: "1"\n`;

describe("hostile paths: confinement of config and CLI paths", function () {
    this.timeout(180_000);
    let s: Scene;
    beforeEach(() => (s = new Scene()));
    afterEach(() => s.cleanup());

    describe("gitops fleet render", () => {
        it("refuses gitops:fleet.path leading out of --out, and writes nothing anywhere", async () => {
            for (const bad of ["../../victim", "clusters/../../victim", "/tmp/elsewhere", "."]) {
                s.stack("dev", { "gitops:fleet": { path: bad } });
                const before = s.snapshot();
                const r = await s.render();
                assert.strictEqual(r.code, 1, `${bad}: ${r.out}`);
                assert.match(r.err, /Pulumi\.dev\.yaml: gitops:fleet\.path /, bad);
                assert.match(r.err, /\.\.|absolute|root|relative path/, bad);
                assert.deepStrictEqual(s.snapshot(), before, bad);
            }
        });

        it("refuses an output whose owned folder is a symbolic link out of it; the victim is untouched", async () => {
            s.stack("dev");
            fs.mkdirSync(s.out);
            fs.symlinkSync(path.join(s.victim, "clusters"), path.join(s.out, "clusters"));
            const before = s.snapshot();
            const r = await s.render();
            assert.strictEqual(r.code, 1);
            assert.match(r.err, /--out: clusters\/dev\/?: .*follows a symbolic link to .*victim.*, outside /);
            assert.deepStrictEqual(s.snapshot(), before);
        });

        it("refuses gitops:flux.componentsFile outside the project (absolute, .., or through a link)", async () => {
            fs.writeFileSync(path.join(s.victim, "secret.yaml"), "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stolen\n");
            fs.symlinkSync(path.join(s.victim, "secret.yaml"), path.join(s.project, "flux", "link.yaml"));
            const cases: Array<[string, RegExp]> = [
                ["/etc/passwd", /gitops:flux\.componentsFile must be a relative path inside the project directory/],
                ["../victim/secret.yaml", /gitops:flux\.componentsFile must stay inside the project directory/],
                ["flux/link.yaml", /gitops:flux\.componentsFile: .*follows a symbolic link to .*victim\/secret\.yaml, outside /],
            ];
            for (const [file, want] of cases) {
                s.stack("dev", { "gitops:flux": { componentsFile: file } });
                const before = s.snapshot();
                const r = await s.render();
                assert.strictEqual(r.code, 1, file);
                assert.match(r.err, want, file);
                assert.match(r.err, /vendor the file inside the project directory/, file);
                assert.deepStrictEqual(s.snapshot(), before, file);
                assert.ok(!fs.existsSync(s.out), "nothing written");
            }
        });

        it("refuses '..' in Kustomization and image automation paths at config time", async () => {
            const cases: Array<[Record<string, unknown>, RegExp]> = [
                [{ "gitops:kustomizations": [{ name: "extra", path: "./apps/../../secrets" }] }, /gitops:kustomizations\[0\]\.path must stay inside the repository/],
                [{ "gitops:imageAutomation": { enabled: true, path: "../other-repo" } }, /gitops:imageAutomation\.path must stay inside the repository/],
                [{ "gitops:kustomizations": [{ name: "extra", path: "./apps/x/../y" }] }, /gitops:kustomizations\[0\]\.path must not contain '\.\.'/],
            ];
            for (const [cfg, want] of cases) {
                s.stack("dev", cfg);
                const before = s.snapshot();
                const r = await s.render();
                assert.strictEqual(r.code, 1);
                assert.match(r.err, want);
                assert.match(r.err, /give a path relative to the repository root/);
                assert.deepStrictEqual(s.snapshot(), before);
            }
        });

        it("still renders a good stack into --out (and only there)", async () => {
            s.stack("dev");
            const victim = snapshotTree(s.victim);
            const project = snapshotTree(s.project);
            const r = await s.render();
            assert.strictEqual(r.code, 0, r.err);
            assert.ok(fs.existsSync(path.join(s.out, "clusters/dev/flux-system/gotk-sync.yaml")));
            assert.deepStrictEqual(snapshotTree(s.victim), victim);
            assert.deepStrictEqual(snapshotTree(s.project), project);
            assert.deepStrictEqual(fs.readdirSync(s.root).sort(), ["out", "project", "victim"]);
        });
    });

    describe("gitops render: loads only files inside the source root (real git, real kubectl kustomize)", () => {
        const kustomization = (body: string) => `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n${body}`;

        it("refuses absolute and ../ resources and generator files, naming the file and the entry", async () => {
            fs.writeFileSync(path.join(s.victim, "secret.yaml"), CM("stolen-victim-data"));
            fs.writeFileSync(path.join(s.victim, "token.txt"), "victim-token-bytes\n");
            const cases: Array<[string, string, RegExp]> = [
                ["absolute resource", kustomization(`resources:\n- ${path.join(s.victim, "secret.yaml")}\n`), /app\/kustomization\.yaml: resources\[0\]: .* is an absolute path outside the source root/],
                ["../ resource", kustomization(`resources:\n- ok.yaml\n- ../../victim/secret.yaml\n`), /app\/kustomization\.yaml: resources\[1\]: "\.\.\/\.\.\/victim\/secret\.yaml" leads outside the source root/],
                ["configMapGenerator files", kustomization(`configMapGenerator:\n- name: c\n  files:\n  - tok=../../victim/token.txt\n`), /app\/kustomization\.yaml: configMapGenerator\[0\]\.files\[0\]: "\.\.\/\.\.\/victim\/token\.txt" leads outside/],
                ["secretGenerator envs", kustomization(`secretGenerator:\n- name: c\n  envs:\n  - ${path.join(s.victim, "token.txt")}\n`), /app\/kustomization\.yaml: secretGenerator\[0\]\.envs\[0\]: .* is an absolute path outside/],
                ["patch path", kustomization(`resources:\n- ok.yaml\npatches:\n- path: ../../victim/secret.yaml\n`), /app\/kustomization\.yaml: patches\[0\]\.path: .* leads outside/],
            ];
            for (const [name, k, want] of cases) {
                const repo = bareRepo(s, name.replace(/\W+/g, "-"), { "app/kustomization.yaml": k, "app/ok.yaml": CM("ok") });
                const before = snapshotTree(s.victim);
                const r = await s.gitops(["render", "--repo", repo, "--path", "app"]);
                assert.strictEqual(r.code, 1, `${name}: ${r.out}`);
                assert.match(r.err, want, name);
                assert.match(r.err, /Flux builds only files inside the source/, name);
                assert.ok(!r.out.includes("victim") && !r.err.includes("victim-token-bytes") && !r.out.includes("stolen"), name);
                assert.deepStrictEqual(snapshotTree(s.victim), before, name);
                fs.rmSync(repo, { recursive: true, force: true });
            }
        });

        it("refuses a symbolic link in the repository that leads out of it, with or without a kustomization file", async () => {
            fs.writeFileSync(path.join(s.victim, "secret.yaml"), CM("stolen"));
            const repo = bareRepo(s, "links", {
                "plain/ok.yaml": CM("ok"),
                "plain/evil.yaml": { link: path.join(s.victim, "secret.yaml") },
                "app/kustomization.yaml": kustomization("resources:\n- evil.yaml\n"),
                "app/evil.yaml": { link: "../../../victim/secret.yaml" },
            });
            const plain = await s.gitops(["render", "--repo", repo, "--path", "plain"]);
            assert.strictEqual(plain.code, 1);
            assert.match(plain.err, /plain\/evil\.yaml: .*follows a symbolic link to .*victim\/secret\.yaml, outside /);
            const app = await s.gitops(["render", "--repo", repo, "--path", "app"]);
            assert.strictEqual(app.code, 1);
            assert.match(app.err, /app\/kustomization\.yaml: resources\[0\]: .*(symbolic link|outside)/);
            assert.ok(!plain.out.includes("stolen") && !app.out.includes("stolen"));
        });

        it("never reads a linked file outside the root, so its bytes cannot leak into a message", async () => {
            fs.writeFileSync(path.join(s.victim, "token.txt"), "victim-token-bytes: [unclosed\n");
            const repo = bareRepo(s, "leak", {
                "plain/evil.yaml": { link: path.join(s.victim, "token.txt") },
                "app/kustomization.yaml": { link: path.join(s.victim, "token.txt") },
            });
            for (const p of ["plain", "app"]) {
                const r = await s.gitops(["render", "--repo", repo, "--path", p]);
                assert.strictEqual(r.code, 1, p);
                assert.match(r.err, new RegExp(`${p}/(evil|kustomization)\\.yaml: .*follows a symbolic link to .*victim/token\\.txt, outside `), p);
                assert.ok(!r.err.includes("victim-token-bytes") && !r.out.includes("victim-token-bytes"), r.err);
            }
        });

        it("refuses --path leading out of the work tree", async () => {
            fs.mkdirSync(path.join(s.project, "repo", "app"), { recursive: true });
            fs.writeFileSync(path.join(s.project, "repo", "app", "ok.yaml"), CM("ok"));
            fs.symlinkSync(s.victim, path.join(s.project, "repo", "out-link"));
            for (const p of ["../../victim", "out-link"]) {
                const r = await s.gitops(["render", "--repo", path.join(s.project, "repo"), "--path", p]);
                assert.strictEqual(r.code, 1, p);
                assert.match(r.err, new RegExp(`gitops render: ${p.replace(/\./g, "\\.")}: .*outside `), p);
            }
        });

        it("still builds ../ bases that stay inside the repository, as Flux does", async () => {
            const repo = bareRepo(s, "inside", {
                "base/kustomization.yaml": kustomization("resources:\n- cm.yaml\n"),
                "base/cm.yaml": CM("from-base"),
                "overlays/dev/kustomization.yaml": kustomization("resources:\n- ../../base\nconfigMapGenerator:\n- name: gen\n  files:\n  - ../../files/a.txt\n"),
                "files/a.txt": "inside\n",
            });
            const r = await s.gitops(["render", "--repo", repo, "--path", "overlays/dev"]);
            assert.strictEqual(r.code, 0, r.err);
            assert.match(r.out, /name: from-base/);
            assert.match(r.out, /a\.txt: \|?\s*inside/);
        });
    });

    describe("gitops fleet serve", () => {
        it("answers 404 to request paths that leave --root, and serves what is inside", async () => {
            const root = path.join(s.root, "fleetroot");
            fs.mkdirSync(root);
            git(root, "init", "-q", "--bare", "fleet.git");
            const srv = await serveFleet(root, 0, "127.0.0.1");
            try {
                const get = (p: string) =>
                    new Promise<number>((resolve, reject) => http.get(`${srv.url}${p}`, (res) => (res.resume(), resolve(res.statusCode ?? 0))).on("error", reject));
                assert.strictEqual(await get("/..%2F..%2Fvictim%2Fprecious.txt"), 404);
                assert.strictEqual(await get("/%E0%A4%A"), 404); // malformed escape: no crash
                assert.strictEqual(await get("/fleet.git/info/refs?service=git-upload-pack"), 200);
            } finally {
                await srv.close();
            }
        });
    });

    describe("confine()", () => {
        it("is the one rule: lexical, absolute and symbolic-link escapes are refused; inside paths resolve", () => {
            fs.mkdirSync(path.join(s.out, "a"), { recursive: true });
            fs.symlinkSync(s.victim, path.join(s.out, "a", "v"));
            fs.symlinkSync(path.join(s.out, "nowhere"), path.join(s.out, "dangling"));
            assert.strictEqual(confine(s.out, "a/b/c.yaml", "k"), path.join(s.out, "a/b/c.yaml"));
            assert.throws(() => confine(s.out, "../victim", "k"), /^GitopsError: k: "\.\.\/victim" resolves to .*, outside /);
            assert.throws(() => confine(s.out, "/etc/passwd", "k"), /is an absolute path/);
            assert.throws(() => confine(s.out, "a/v/precious.txt", "k"), /follows a symbolic link to .*victim\/precious\.txt/);
            assert.throws(() => confine(s.out, "dangling/x", "k"), /symbolic link that points nowhere/);
        });
    });
});
