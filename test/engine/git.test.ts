/**
 * engine/git against real git: temp bare repos as remotes, another writer pushing in between,
 * a fake ssh program that records what it was given, and an HTTP server that records headers.
 */
import * as assert from "assert";
import { spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as path from "path";
import { AddressInfo } from "net";
import { GitopsError } from "../../engine/errors";
import { ensureBareRepo, materialize, readFileAt, redact, syncFiles, SyncFilesOptions } from "../../engine/git";
import { isRemoteUrl, localRepoPath, projectRepo } from "../../engine/git/url";
import { git, TempGit, TEST_IDENTITY } from "../helpers/git";

describe("engine/git", () => {
    let t: TempGit;
    beforeEach(() => (t = new TempGit()));
    afterEach(() => t.cleanup());

    function opts(remote: string, files: Record<string, string>, extra: Partial<SyncFilesOptions> = {}): SyncFilesOptions {
        return {
            repo: remote,
            branch: "main",
            files,
            owned: ["clusters/dev"],
            author: TEST_IDENTITY,
            message: "sync {{branch}}: {{count}} file(s)\n\n{{changes}}",
            ...extra,
        };
    }

    describe("syncFiles", () => {
        it("commits once, then is idempotent: identical content creates no commit", async () => {
            const remote = t.bare("fleet", { "README.md": "hello\n" });
            const first = await syncFiles(opts(remote, { "clusters/dev/app.yaml": "replicas: 1\n" }));
            assert.strictEqual(first.committed, true);
            assert.strictEqual(first.pushed, true);
            assert.deepStrictEqual(first.changes, [{ path: "clusters/dev/app.yaml", action: "created" }]);
            assert.strictEqual(t.head(remote, "main"), first.commit);
            assert.strictEqual(t.read(remote, "main", "clusters/dev/app.yaml"), "replicas: 1\n");
            const count = t.count(remote, "main");

            const second = await syncFiles(opts(remote, { "clusters/dev/app.yaml": "replicas: 1\n" }));
            assert.strictEqual(second.committed, false);
            assert.strictEqual(second.pushed, false);
            assert.strictEqual(second.commit, first.commit);
            assert.deepStrictEqual(second.changes, [{ path: "clusters/dev/app.yaml", action: "unchanged" }]);
            assert.strictEqual(t.count(remote, "main"), count);

            const third = await syncFiles(opts(remote, { "clusters/dev/app.yaml": "replicas: 2\n" }));
            assert.deepStrictEqual(third.changes, [{ path: "clusters/dev/app.yaml", action: "configured" }]);
            assert.strictEqual(third.previous, first.commit);
            assert.strictEqual(t.count(remote, "main"), count + 1);
        });

        it("writes the author and expands the message template", async () => {
            const remote = t.bare("fleet", { "README.md": "hello\n" });
            await syncFiles(opts(remote, { "clusters/dev/a.yaml": "a\n", "clusters/dev/b.yaml": "b\n" }));
            const log = git(["log", "-1", "--format=%an <%ae>|%cn <%ce>|%B", "main"], remote);
            assert.strictEqual(log, "Test Writer <test@example.com>|Test Writer <test@example.com>|sync main: 2 file(s)\n\n- created clusters/dev/a.yaml\n- created clusters/dev/b.yaml\n\n");
        });

        it("deletes files under owned prefixes only", async () => {
            const remote = t.bare("fleet", {
                "clusters/dev/old.yaml": "old\n",
                "clusters/dev/sub/deep.yaml": "deep\n",
                "clusters/devx/not-owned.yaml": "x\n",
                "clusters/prod/app.yaml": "prod\n",
                "README.md": "hi\n",
            });
            const r = await syncFiles(opts(remote, { "clusters/dev/new.yaml": "new\n" }));
            assert.deepStrictEqual(
                r.changes.map((c) => `${c.action} ${c.path}`),
                ["created clusters/dev/new.yaml", "deleted clusters/dev/old.yaml", "deleted clusters/dev/sub/deep.yaml"],
            );
            assert.deepStrictEqual(t.files(remote, "main"), ["README.md", "clusters/dev/new.yaml", "clusters/devx/not-owned.yaml", "clusters/prod/app.yaml"]);
        });

        it("dry run computes the plan and leaves the remote untouched", async () => {
            const remote = t.bare("fleet", { "clusters/dev/old.yaml": "old\n" });
            const before = t.refs(remote);
            const r = await syncFiles(opts(remote, { "clusters/dev/new.yaml": "new\n" }, { dryRun: true }));
            assert.strictEqual(r.committed, false);
            assert.strictEqual(r.pushed, false);
            assert.deepStrictEqual(r.changes.map((c) => c.action).sort(), ["created", "deleted"]);
            assert.strictEqual(t.refs(remote), before);
        });

        it("a concurrent commit to a different file lands and both survive", async () => {
            const remote = t.bare("fleet", { "clusters/dev/app.yaml": "v1\n", "clusters/prod/app.yaml": "p1\n" });
            let other = "";
            const r = await syncFiles(
                opts(remote, { "clusters/dev/app.yaml": "v2\n" }, {
                    beforePush: (attempt) => {
                        if (attempt === 0) other = t.commit(remote, "main", { "clusters/prod/app.yaml": "p2\n" }, "other writer");
                    },
                }),
            );
            assert.strictEqual(r.pushed, true);
            assert.strictEqual(t.read(remote, "main", "clusters/dev/app.yaml"), "v2\n");
            assert.strictEqual(t.read(remote, "main", "clusters/prod/app.yaml"), "p2\n");
            // ours sits on top of theirs: a fast-forward, never a force
            assert.strictEqual(git(["rev-parse", `${r.commit}^`], remote).trim(), other);
            assert.strictEqual(t.head(remote, "main"), r.commit);
        });

        it("a concurrent change to the same file fails naming the path and leaves the remote as the other writer left it", async () => {
            const remote = t.bare("fleet", { "clusters/dev/app.yaml": "v1\n" });
            let after = "";
            await assert.rejects(
                syncFiles(
                    opts(remote, { "clusters/dev/app.yaml": "ours\n" }, {
                        beforePush: () => {
                            t.commit(remote, "main", { "clusters/dev/app.yaml": "theirs\n" }, "other writer");
                            after = t.refs(remote);
                        },
                    }),
                ),
                (e: unknown) => e instanceof GitopsError && /clusters\/dev\/app\.yaml/.test(e.message) && /nothing was pushed/.test(e.message),
            );
            assert.strictEqual(t.refs(remote), after);
            assert.strictEqual(t.read(remote, "main", "clusters/dev/app.yaml"), "theirs\n");
        });

        it("gives up after maxRetries when the branch keeps moving, pushing nothing", async () => {
            const remote = t.bare("fleet", { "README.md": "0\n" });
            let n = 0;
            await assert.rejects(
                syncFiles(
                    opts(remote, { "clusters/dev/app.yaml": "ours\n" }, {
                        maxRetries: 2,
                        beforePush: () => void t.commit(remote, "main", { "README.md": `${++n}\n` }, `other ${n}`),
                    }),
                ),
                /rejected 3 times/,
            );
            assert.strictEqual(n, 3);
            assert.strictEqual(t.read(remote, "main", "clusters/dev/app.yaml"), undefined);
        });

        it("serializes concurrent syncs of the same repo in one process", async () => {
            const remote = t.bare("fleet", { "README.md": "hi\n" });
            const results = await Promise.all(
                ["a", "b", "c", "d"].map((n) => syncFiles({ ...opts(remote, { [`clusters/${n}/app.yaml`]: `${n}\n` }), owned: [`clusters/${n}`] })),
            );
            assert.ok(results.every((r) => r.pushed));
            assert.deepStrictEqual(t.files(remote, "main"), ["README.md", "clusters/a/app.yaml", "clusters/b/app.yaml", "clusters/c/app.yaml", "clusters/d/app.yaml"]);
            assert.strictEqual(t.count(remote, "main"), 5);
        });

        it("serializes syncs across processes sharing one cache, and takes over a stale lock", async function () {
            this.timeout(180_000);
            const remote = t.bare("fleet", { "README.md": "hi\n" });
            const cache = process.env.GITOPS_CACHE_DIR!;
            // a lock left by a dead process is taken over
            fs.mkdirSync(cache, { recursive: true });
            const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout.toString();
            const probe = await syncFiles(opts(remote, { "clusters/dev/a.yaml": "a\n" }));
            const lockFile = fs.readdirSync(cache).filter((f) => f.endsWith(".git")).map((f) => path.join(cache, f + ".lock"))[0];
            fs.writeFileSync(lockFile, dead);
            const again = await syncFiles(opts(remote, { "clusters/dev/a.yaml": "b\n" }));
            assert.strictEqual(again.previous, probe.commit);
            assert.ok(!fs.existsSync(lockFile), "lock released");

            const child = path.join(__dirname, "..", "fixtures", "git", "sync-child.ts");
            const names = ["p1", "p2", "p3"];
            const outs = await Promise.all(
                names.map(
                    (n) =>
                        new Promise<{ code: number; out: string; err: string }>((resolve) => {
                            const c = spawn(process.execPath, ["-r", "sucrase/register/ts", child, remote, n], { env: process.env, cwd: path.join(__dirname, "..", "..") });
                            let out = "";
                            let err = "";
                            c.stdout.on("data", (b) => (out += b));
                            c.stderr.on("data", (b) => (err += b));
                            c.on("error", (e) => resolve({ code: 1, out, err: err + e.message }));
                            c.on("close", (code) => resolve({ code: code ?? 1, out, err }));
                        }),
                ),
            );
            for (const o of outs) assert.strictEqual(o.code, 0, o.err);
            assert.deepStrictEqual(t.files(remote, "main"), ["README.md", "clusters/dev/a.yaml", "clusters/p1/app.yaml", "clusters/p2/app.yaml", "clusters/p3/app.yaml"]);
        });

        it("creates a missing branch from the default branch, or as an orphan in an empty repo", async () => {
            const remote = t.bare("fleet", { "README.md": "hi\n" });
            const r = await syncFiles(opts(remote, { "clusters/dev/a.yaml": "a\n" }, { branch: "dev", createBranch: true }));
            assert.strictEqual(r.previous, null);
            assert.deepStrictEqual(t.files(remote, "dev"), ["README.md", "clusters/dev/a.yaml"]);
            assert.strictEqual(git(["rev-parse", "dev^"], remote).trim(), t.head(remote, "main"));
            // from a named base branch
            t.commit(remote, "staging", { "staging.txt": "s\n" }, "staging", "main");
            const b = await syncFiles(opts(remote, { "clusters/dev/b.yaml": "b\n" }, { branch: "auto", createBranch: true, baseBranch: "staging" }));
            assert.strictEqual(git(["rev-parse", "auto^"], remote).trim(), t.head(remote, "staging"));
            assert.deepStrictEqual(b.changes, [{ path: "clusters/dev/b.yaml", action: "created" }]);
            await assert.rejects(syncFiles(opts(remote, { "a.yaml": "a\n" }, { branch: "x", createBranch: true, baseBranch: "nope" })), /base branch 'nope' does not exist/);

            const fresh = await ensureBareRepo(path.join(t.root, "embedded", "fleet.git"));
            const o = await syncFiles(opts(fresh, { "clusters/dev/a.yaml": "a\n" }, { createBranch: true }));
            assert.strictEqual(o.committed, true);
            assert.deepStrictEqual(t.files(fresh, "main"), ["clusters/dev/a.yaml"]);
            assert.strictEqual(t.count(fresh, "main"), 1);
            // ensureBareRepo on an existing repo is a no-op; on a non-repo dir it refuses
            assert.strictEqual(await ensureBareRepo(fresh), fresh);
            fs.mkdirSync(path.join(t.root, "plain"));
            await assert.rejects(ensureBareRepo(path.join(t.root, "plain")), /not a git repository/);
        });

        it("refuses a missing branch without createBranch, bad paths and missing repos, leaving the remote untouched", async () => {
            const remote = t.bare("fleet", { "README.md": "hi\n" });
            const before = t.refs(remote);
            await assert.rejects(syncFiles(opts(remote, { "a.yaml": "a\n" }, { branch: "nope" })), (e: unknown) => e instanceof GitopsError && /branch 'nope' does not exist/.test(e.message));
            await assert.rejects(syncFiles(opts(remote, { "../escape.yaml": "a\n" })), (e: unknown) => e instanceof GitopsError && e.where === "files:../escape.yaml");
            await assert.rejects(syncFiles(opts(remote, { ".git/config": "a\n" })), /names \.git/);
            await assert.rejects(syncFiles(opts(path.join(t.root, "missing.git"), { "a.yaml": "a\n" })), /repository does not exist/);
            assert.strictEqual(t.refs(remote), before);
        });
    });

    describe("materialize and readFileAt", () => {
        it("checks out the default branch, a branch, a tag and a sha", async () => {
            const remote = t.bare("fleet", { "v.txt": "1\n" });
            const first = t.head(remote, "main");
            git(["tag", "-a", "-m", "release", "v1", first], remote);
            t.commit(remote, "main", { "v.txt": "2\n" }, "two");
            t.commit(remote, "other", { "v.txt": "other\n" }, "branch", "main");

            const d = await materialize(remote);
            try {
                assert.strictEqual(fs.readFileSync(path.join(d.dir, "v.txt"), "utf8"), "2\n");
                assert.strictEqual(d.revision, t.head(remote, "main"));
                assert.ok(!fs.existsSync(path.join(d.dir, ".git")));
            } finally {
                await d.cleanup();
            }
            assert.ok(!fs.existsSync(d.dir), "cleanup removes the checkout");

            const tag = await materialize(remote, "v1");
            try {
                assert.strictEqual(tag.revision, first);
                assert.strictEqual(fs.readFileSync(path.join(tag.dir, "v.txt"), "utf8"), "1\n");
            } finally {
                await tag.cleanup();
            }

            assert.strictEqual(await readFileAt(remote, "other", "v.txt"), "other\n");
            assert.strictEqual(await readFileAt(remote, first, "v.txt"), "1\n");
            assert.strictEqual(await readFileAt(remote, first.slice(0, 10), "v.txt"), "1\n");
            assert.strictEqual(await readFileAt(remote, "main", "missing.txt"), undefined);
            await assert.rejects(readFileAt(remote, "no-such-ref", "v.txt"), (e: unknown) => e instanceof GitopsError && /no-such-ref/.test(e.message));
        });

        it("reads a non-bare repo as a remote", async () => {
            const remote = t.bare("fleet", { "v.txt": "1\n" });
            const work = t.clone(remote);
            assert.strictEqual(await readFileAt(work, "main", "v.txt"), "1\n");
        });
    });

    describe("auth", () => {
        it("SSH: the key goes to a 0600 temp file named in GIT_SSH_COMMAND, removed afterwards", async function () {
            const remote = t.bare("fleet", { "README.md": "hi\n" });
            const log = path.join(t.root, "ssh.log");
            const fake = path.join(t.root, "fake-ssh");
            // Records its args and the key file's mode, then serves the request locally.
            fs.writeFileSync(
                fake,
                `#!/bin/sh
for a in "$@"; do echo "ARG $a" >> "${log}"; done
prev=""; for a in "$@"; do if [ "$prev" = "-i" ]; then echo "MODE $(stat -c %a "$a")" >> "${log}"; echo "KEY $(cat "$a")" >> "${log}"; fi; prev="$a"; done
for a in "$@"; do last="$a"; done
exec sh -c "$last"
`,
                { mode: 0o755 },
            );
            const prev = process.env.GITOPS_SSH;
            process.env.GITOPS_SSH = fake;
            try {
                const auth = { sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nFAKEKEYMATERIAL\n-----END OPENSSH PRIVATE KEY-----", knownHosts: "fleet.example ssh-ed25519 AAAAC3Nza" };
                const url = `ssh://git@fleet.example${remote}`;
                const r = await syncFiles({ ...opts(url, { "clusters/dev/a.yaml": "a\n" }), auth });
                assert.strictEqual(r.pushed, true);
                assert.strictEqual(t.read(remote, "main", "clusters/dev/a.yaml"), "a\n");
                assert.strictEqual(await readFileAt(url, "main", "clusters/dev/a.yaml", auth), "a\n");
            } finally {
                if (prev === undefined) delete process.env.GITOPS_SSH;
                else process.env.GITOPS_SSH = prev;
            }
            const lines = fs.readFileSync(log, "utf8").split("\n");
            const args = lines.filter((l) => l.startsWith("ARG ")).map((l) => l.slice(4));
            assert.ok(args.includes("IdentitiesOnly=yes"), args.join(" "));
            assert.ok(args.includes("StrictHostKeyChecking=yes"));
            assert.ok(args.includes("git@fleet.example"));
            const keyFiles = [...new Set(args.filter((_, i) => args[i - 1] === "-i"))];
            assert.ok(keyFiles.length >= 2, "one key file per operation");
            assert.ok(lines.filter((l) => l.startsWith("MODE ")).every((l) => l === "MODE 600"));
            assert.ok(lines.some((l) => l.startsWith("KEY -----BEGIN OPENSSH PRIVATE KEY----- FAKEKEYMATERIAL") || l === "KEY -----BEGIN OPENSSH PRIVATE KEY-----"));
            for (const k of keyFiles) {
                assert.ok(!fs.existsSync(k), `key file ${k} removed`);
                assert.ok(!fs.existsSync(path.dirname(k)), `key dir ${path.dirname(k)} removed`);
            }
            const kh = args.find((a) => a.startsWith("UserKnownHostsFile="));
            assert.ok(kh && !fs.existsSync(kh.slice("UserKnownHostsFile=".length)));
            // and the key never reached the cache repo's config
            const cacheFiles = git(["config", "--list", "--local"], fs.readdirSync(process.env.GITOPS_CACHE_DIR!).map((d) => path.join(process.env.GITOPS_CACHE_DIR!, d)).find((d) => d.endsWith(".git"))!);
            assert.ok(!/FAKEKEY|ssh/i.test(cacheFiles));
        });

        it("HTTPS: the token travels as a header, never in argv or a URL, and is redacted from errors", async () => {
            const seen: string[] = [];
            const server = http.createServer((req, res) => {
                seen.push(`${req.url} ${req.headers.authorization ?? "-"}`);
                res.statusCode = 500;
                res.end("boom tok_SECRET_123 boom");
            });
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            const port = (server.address() as AddressInfo).port;
            try {
                const token = "tok_SECRET_123";
                const basic = Buffer.from(`x-access-token:${token}`).toString("base64");
                let msg = "";
                await readFileAt(`http://127.0.0.1:${port}/fleet.git`, "main", "a", { httpsToken: token }).catch((e: Error) => (msg = e.message));
                assert.ok(msg.length > 0, "the read fails");
                assert.ok(!msg.includes(token) && !msg.includes(basic), msg);
                assert.ok(seen.some((s) => s.endsWith(`Basic ${basic}`)), seen.join("\n"));
                assert.ok(seen.every((s) => !s.includes(token)));

                // credentials embedded in the URL are lifted into the header and redacted too
                seen.length = 0;
                msg = "";
                await readFileAt(`http://bot:${token}@127.0.0.1:${port}/fleet.git`, "main", "a").catch((e: Error) => (msg = e.message));
                assert.ok(msg.length > 0 && !msg.includes(token), msg);
                assert.ok(seen.some((s) => s.endsWith(`Basic ${Buffer.from(`bot:${token}`).toString("base64")}`)), seen.join("\n"));
            } finally {
                await new Promise((r) => server.close(r));
            }
        });

        it("redact() removes secrets and URL credentials", () => {
            assert.strictEqual(redact("fatal: https://u:pw@host/x failed with abcd1234", ["abcd1234"]), "fatal: https://***@host/x failed with ***");
        });
    });
});

describe("git: one rule for repository locations (engine/git/url.ts)", () => {
    it("remote transports are remote; paths and file:// are local, as git sees them", () => {
        for (const u of ["ssh://git@github.com/o/r.git", "https://github.com/o/r", "http://127.0.0.1:8765/fleet.git", "git://h/r", "git@github.com:o/r.git", "host:path/r"]) assert.strictEqual(isRemoteUrl(u), true, u);
        for (const u of [".fleet/fleet.git", "/srv/fleet.git", "file:///srv/fleet.git", "C:/fleet", "./a:b"]) assert.strictEqual(isRemoteUrl(u), false, u);
    });

    it("a project resolves a local path against itself, keeps URLs and file:// as given, and finds the folder of a local repo", () => {
        assert.strictEqual(projectRepo("/p", ".fleet/fleet.git"), "/p/.fleet/fleet.git");
        assert.strictEqual(projectRepo("/p", "file:///srv/fleet.git"), "file:///srv/fleet.git");
        assert.strictEqual(projectRepo("/p", "git@github.com:o/r.git"), "git@github.com:o/r.git");
        assert.strictEqual(localRepoPath("/p", "file:///srv/fleet.git"), "/srv/fleet.git");
        assert.strictEqual(localRepoPath("/p", "../fleet.git"), "/fleet.git");
        assert.strictEqual(localRepoPath("/p", "https://h/r"), undefined);
    });
});
