/**
 * Flux OCI artifacts against a real registry: Debian's docker-registry on 127.0.0.1
 * (test/helpers/registry.ts), behind a recording proxy that counts every request, so idempotence
 * ("not pushed twice") is read from the requests the registry actually received.
 */
import * as assert from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { gunzipSync } from "zlib";
import { main } from "../../engine/cli";
import { GitopsError, isGitopsError } from "../../engine/errors";
import {
    ANNOTATION,
    compileIgnore,
    contentLayer,
    copyArtifact,
    entriesFromDir,
    entriesFromFiles,
    ignored,
    inspectArtifact,
    MEDIA_TYPE,
    parseArtifactRef,
    pushArtifact,
    sha256,
    tar,
} from "../../engine/oci";
import { RecordingProxy, startRecordingProxy, startRegistry, TestRegistry } from "../helpers/registry";

const E2E_BIN = process.env.GITOPS_E2E_BIN || "/var/cache/gitops-e2e/bin";
const HTPASSWD = path.join(__dirname, "../fixtures/images/htpasswd");
const USER = "flux";
const PASS = "s3cret-test-only";

async function expectGitopsError(p: Promise<unknown> | (() => unknown), re: RegExp): Promise<GitopsError> {
    try {
        await (typeof p === "function" ? p() : p);
    } catch (err) {
        assert.ok(isGitopsError(err), `expected a GitopsError, got ${err}`);
        assert.match((err as Error).message, re);
        return err as GitopsError;
    }
    assert.fail("expected a rejection");
}

/** Tar entry names (in order) of a tar+gzip layer, read with the system tar. */
function tarNames(tgz: Buffer): string[] {
    const t = gunzipSync(tgz);
    const names: string[] = [];
    for (let off = 0; off + 512 <= t.length; ) {
        const h = t.subarray(off, off + 512);
        if (h.every((b) => b === 0)) break;
        const name = h.subarray(0, 100).toString("utf8").replace(/\0.*$/s, "");
        const prefix = h.subarray(345, 500).toString("utf8").replace(/\0.*$/s, "");
        const size = parseInt(h.subarray(124, 136).toString("ascii").replace(/\0.*$/s, ""), 8);
        names.push(prefix ? `${prefix}/${name}` : name);
        off += 512 + Math.ceil(size / 512) * 512;
    }
    return names;
}

function fleetDir(): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-oci-src-"));
    fs.mkdirSync(path.join(dir, "clusters/dev"), { recursive: true });
    fs.mkdirSync(path.join(dir, ".git"), { recursive: true });
    fs.writeFileSync(path.join(dir, "clusters/dev/kustomization.yaml"), "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [app.yaml]\n");
    fs.writeFileSync(path.join(dir, "clusters/dev/app.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app, namespace: default}\ndata: {v: '1'}\n");
    fs.writeFileSync(path.join(dir, ".git/HEAD"), "ref: refs/heads/main\n");
    fs.writeFileSync(path.join(dir, "logo.png"), "not really a png");
    return dir;
}

const count = (reqs: string[], re: RegExp) => reqs.filter((r) => re.test(r)).length;

describe("oci: artifact layer (pure)", () => {
    it("writes the tar fluxcd/pkg/tar writes: this tree's tar has the sha256 fluxcd/pkg/tar v1.2.0 produced for it", () => {
        // Reference: the same tree (dirs 0755, files 0644) archived by github.com/fluxcd/pkg/tar
        // v1.2.0 tar.Tar(dir, w, WithSkipGzip()) with Go 1.26; long names take a USTAR prefix or
        // a PAX header exactly as Go's archive/tar does.
        const files = { "clusters/dev/kustomization.yaml": "a: 1\n", "apps/x.yaml": "x\n", [`apps/${"n".repeat(120)}.yaml`]: "long\n" };
        assert.strictEqual(sha256(tar(entriesFromFiles(files))), "sha256:c6d0da350d1dadab2d1caba482f09c9df3b8423edb66a25cf91fd0abebae99f8");
        // The layer is that tar, gzipped: its diffId is the tar's digest.
        const layer = contentLayer(entriesFromFiles(files));
        assert.strictEqual(layer.diffId, "sha256:c6d0da350d1dadab2d1caba482f09c9df3b8423edb66a25cf91fd0abebae99f8");
        assert.ok(gunzipSync(layer.bytes).equals(tar(entriesFromFiles(files))));
    });

    it("writes the tar fluxcd/pkg/tar writes, byte for byte (the fluxtar binary from scripts/e2e-build.sh, on trees of several shapes)", function () {
        const fluxtar = path.join(E2E_BIN, "fluxtar");
        if (!fs.existsSync(fluxtar)) {
            // eslint-disable-next-line no-console
            console.log(`    skipped: ${fluxtar} is missing; build it with \`scripts/e2e-build.sh fluxtar\``);
            this.skip();
        }
        this.timeout(60_000);
        const rnd = (n: number, seed: number) => {
            // A fixed pseudo-random stream (xorshift): incompressible, the same on every run.
            const b = Buffer.alloc(n);
            let x = seed;
            for (let i = 0; i < n; i++) {
                x ^= x << 13;
                x ^= x >>> 17;
                x ^= x << 5;
                b[i] = x & 0xff;
            }
            return b;
        };
        const yaml = (i: number) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm-${i}, namespace: team-${i % 7}}\ndata: {key: "${"v".repeat(i % 50)}"}\n---\n`;
        const trees: Array<[string, Record<string, Buffer | string>]> = [
            ["an empty folder", {}],
            ["a fleet", { "clusters/dev/kustomization.yaml": "resources: [app.yaml]\n", "clusters/dev/app.yaml": yaml(1), ".git/HEAD": "ref: refs/heads/main\n" }],
            ["incompressible data over several blocks", { "bin/a.bin": rnd(200_000, 7), "bin/b.bin": rnd(70_000, 11), "small.txt": "x" }],
            ["a large manifest (window slides, long matches, long names)", { "all.yaml": Array.from({ length: 20_000 }, (_, i) => yaml(i)).join(""), [`deep/${"d".repeat(90)}/${"f".repeat(80)}.yaml`]: "long\n", "zeros": Buffer.alloc(300_000) }],
        ];
        for (const [what, files] of trees) {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-fluxtar-"));
            try {
                for (const [p, c] of Object.entries(files)) {
                    fs.mkdirSync(path.join(dir, path.dirname(p)), { recursive: true });
                    fs.writeFileSync(path.join(dir, p), c);
                }
                // fluxtar writes the gzipped layer as fluxcd/pkg/tar does; the tar inside is compared.
                const theirs = gunzipSync(execFileSync(fluxtar, [dir], { maxBuffer: 1 << 28 }));
                const ours = gunzipSync(contentLayer(entriesFromDir(dir, [])).bytes);
                assert.ok(ours.equals(theirs), `${what}: ${ours.length} tar bytes, fluxcd/pkg/tar ${theirs.length}; first difference at byte ${ours.findIndex((b, i) => b !== theirs[i])}`);
            } finally {
                fs.rmSync(dir, { recursive: true, force: true });
            }
        }
    });

    it("is reproducible: file times, umask and creation order do not change the layer digest", () => {
        const a = fleetDir();
        const b = fleetDir();
        try {
            fs.utimesSync(path.join(b, "clusters/dev/app.yaml"), new Date(2001, 1, 1), new Date(2001, 1, 1));
            const la = contentLayer(entriesFromDir(a));
            const lb = contentLayer(entriesFromDir(b));
            assert.strictEqual(la.digest, lb.digest);
            assert.deepStrictEqual(tarNames(la.bytes), [".", "clusters", "clusters/dev", "clusters/dev/app.yaml", "clusters/dev/kustomization.yaml"]);
            fs.writeFileSync(path.join(b, "clusters/dev/app.yaml"), "changed\n");
            assert.notStrictEqual(contentLayer(entriesFromDir(b)).digest, la.digest, "content change, digest change");
        } finally {
            fs.rmSync(a, { recursive: true, force: true });
            fs.rmSync(b, { recursive: true, force: true });
        }
        const x = entriesFromFiles({ "b/2.yaml": "2", "a/1.yaml": "1", "a.yaml": "0" });
        const y = entriesFromFiles({ "a.yaml": "0", "a/1.yaml": "1", "b/2.yaml": "2" });
        assert.deepStrictEqual(x.map((e) => e.name), [".", "a", "a/1.yaml", "a.yaml", "b", "b/2.yaml"]);
        assert.strictEqual(contentLayer(x).digest, contentLayer(y).digest);
    });

    it("ignores paths the way flux's --ignore-paths does (defaults drop .git/ and images)", () => {
        const p = compileIgnore([".git/", "*.png", "/clusters/prod/", "!keep.png", "docs/**/draft.md"]);
        assert.ok(ignored(p, ".git", true));
        assert.ok(ignored(p, ".git/HEAD", false));
        assert.ok(ignored(p, "a/b/logo.png", false));
        assert.ok(!ignored(p, "a/keep.png", false));
        assert.ok(ignored(p, "clusters/prod/x.yaml", false));
        assert.ok(!ignored(p, "x/clusters/prod", true), "anchored pattern matches from the root only");
        assert.ok(ignored(p, "docs/a/b/draft.md", false));
        assert.ok(!ignored(p, ".git", false), "dir-only pattern does not match a file");
    });

    it("refuses files that leave the artifact", async () => {
        await expectGitopsError(() => entriesFromFiles({ "../x.yaml": "x" }), /must be relative/);
        await expectGitopsError(() => entriesFromFiles({ "/etc/x": "x" }), /must be relative/);
    });

    it("parses oci:// references (loopback over http, tag and digest)", async () => {
        const r = parseArtifactRef(`oci://127.0.0.1:5000/team/fleet:dev@sha256:${"a".repeat(64)}`);
        assert.deepStrictEqual(r, { base: "http://127.0.0.1:5000", host: "127.0.0.1:5000", name: "team/fleet", tag: "dev", digest: `sha256:${"a".repeat(64)}` });
        assert.strictEqual(parseArtifactRef("oci://ghcr.io/org/fleet").base, "https://ghcr.io");
        assert.strictEqual(parseArtifactRef("oci://ghcr.io/org/fleet", { insecure: true }).base, "http://ghcr.io");
        await expectGitopsError(() => parseArtifactRef("https://ghcr.io/org/fleet"), /not an OCI artifact URL/);
        await expectGitopsError(() => parseArtifactRef("oci://ghcr.io/org/fleet:.bad"), /invalid tag/);
        await expectGitopsError(() => parseArtifactRef("oci://ghcr.io/Org/fleet"), /invalid repository name/);
    });
});

describe("oci: push, tags, idempotence and promotion by digest (real docker-registry)", function () {
    this.timeout(120000);
    let reg: TestRegistry;
    let proxy: RecordingProxy;
    let dir: string;
    const SOURCE = "https://example.org/fleet.git";
    const REV = `main@sha1:${"1".repeat(40)}`;

    before(async () => {
        reg = await startRegistry();
        proxy = await startRecordingProxy(reg.url);
        dir = fleetDir();
    });
    after(async () => {
        await proxy?.stop();
        await reg?.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("pushes the Flux media types, annotations and a tar+gzip layer; the digest is the manifest's sha256", async () => {
        proxy.requests.length = 0;
        const r = await pushArtifact({ url: `oci://${proxy.host}/team/fleet:dev`, path: dir, source: SOURCE, revision: REV });
        assert.strictEqual(r.pushed, true);
        assert.strictEqual(r.uploaded.length, 2, "config and layer uploaded");
        assert.strictEqual(r.url, `oci://${proxy.host}/team/fleet@${r.digest}`);
        // HEAD before each upload, one POST+PUT per blob, one manifest PUT.
        assert.strictEqual(count(proxy.requests, /^HEAD \/v2\/team\/fleet\/blobs\//), 2);
        assert.strictEqual(count(proxy.requests, /^POST \/v2\/team\/fleet\/blobs\/uploads\//), 2);
        assert.strictEqual(count(proxy.requests, /^PUT \/v2\/team\/fleet\/blobs\/uploads\//), 2);
        assert.strictEqual(count(proxy.requests, /^PUT \/v2\/team\/fleet\/manifests\/dev$/), 1);

        // Read it back from the registry itself (not through our client).
        const res = await fetch(`${reg.url}/v2/team/fleet/manifests/dev`, { headers: { accept: MEDIA_TYPE.manifest } });
        const bytes = Buffer.from(await res.arrayBuffer());
        assert.strictEqual(res.headers.get("docker-content-digest"), r.digest);
        assert.strictEqual(sha256(bytes), r.digest);
        const m = JSON.parse(bytes.toString());
        assert.strictEqual(m.mediaType, "application/vnd.oci.image.manifest.v1+json");
        assert.strictEqual(m.config.mediaType, "application/vnd.cncf.flux.config.v1+json");
        assert.strictEqual(m.layers.length, 1);
        assert.strictEqual(m.layers[0].mediaType, "application/vnd.cncf.flux.content.v1.tar+gzip");
        assert.strictEqual(m.annotations[ANNOTATION.source], SOURCE);
        assert.strictEqual(m.annotations[ANNOTATION.revision], REV);
        assert.match(m.annotations[ANNOTATION.created], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        const layer = Buffer.from(await (await fetch(`${reg.url}/v2/team/fleet/blobs/${m.layers[0].digest}`)).arrayBuffer());
        assert.deepStrictEqual(tarNames(layer), [".", "clusters", "clusters/dev", "clusters/dev/app.yaml", "clusters/dev/kustomization.yaml"], "flux's default ignore drops .git/ and *.png");
        const config = JSON.parse(Buffer.from(await (await fetch(`${reg.url}/v2/team/fleet/blobs/${m.config.digest}`)).arrayBuffer()).toString());
        assert.strictEqual(config.created, m.annotations[ANNOTATION.created]);
    });

    it("re-pushing the same content is a no-op: same digest, no blob upload, no manifest PUT", async () => {
        const first = await inspectArtifact(`oci://${proxy.host}/team/fleet:dev`);
        proxy.requests.length = 0;
        const r = await pushArtifact({ url: `oci://${proxy.host}/team/fleet:dev`, path: dir, source: SOURCE, revision: REV });
        assert.strictEqual(r.pushed, false);
        assert.strictEqual(r.digest, first.digest);
        assert.deepStrictEqual(r.uploaded, []);
        assert.strictEqual(count(proxy.requests, /^(POST|PUT|PATCH)/), 0, `no writes, saw: ${proxy.requests.join(", ")}`);
    });

    it("a new revision of the same content reuses the blobs (HEAD) and writes only a manifest", async () => {
        const created = "2025-01-02T03:04:05Z";
        await pushArtifact({ url: `oci://${proxy.host}/team/fleet:pinned`, path: dir, source: SOURCE, revision: REV, created });
        proxy.requests.length = 0;
        const again = await pushArtifact({ url: `oci://${proxy.host}/team/fleet:pinned-2`, path: dir, source: SOURCE, revision: REV, created });
        assert.strictEqual(again.pushed, true);
        assert.deepStrictEqual(again.uploaded, [], "config and layer already in the repository");
        assert.strictEqual(count(proxy.requests, /^HEAD \/v2\/team\/fleet\/blobs\//), 2);
        assert.strictEqual(count(proxy.requests, /^POST/), 0);
        const pinned = await inspectArtifact(`oci://${proxy.host}/team/fleet:pinned`);
        assert.strictEqual(again.digest, pinned.digest, "same content, source, revision and created: same digest");
        const other = await pushArtifact({ url: `oci://${proxy.host}/other/fleet:x`, files: undefined, path: dir, source: SOURCE, revision: REV, created });
        assert.strictEqual(other.digest, pinned.digest, "the digest does not depend on the repository");
        const changedRev = await pushArtifact({ url: `oci://${proxy.host}/team/fleet:pinned-3`, path: dir, source: SOURCE, revision: `main@sha1:${"2".repeat(40)}`, created });
        assert.notStrictEqual(changedRev.digest, pinned.digest);
    });

    it("points extra tags (semver, latest) at the digest, once", async () => {
        const r = await pushArtifact({ url: `oci://${proxy.host}/team/app:1.4.0-abc`, path: dir, source: SOURCE, revision: REV, tags: ["1.4.0", "latest"] });
        assert.deepStrictEqual(r.tags, ["1.4.0-abc", "1.4.0", "latest"]);
        for (const t of r.tags) assert.strictEqual((await inspectArtifact(`oci://${proxy.host}/team/app:${t}`)).digest, r.digest, t);
        proxy.requests.length = 0;
        const again = await pushArtifact({ url: `oci://${proxy.host}/team/app:1.4.0-abc`, path: dir, source: SOURCE, revision: REV, tags: ["1.4.0", "latest"] });
        assert.strictEqual(again.digest, r.digest);
        assert.strictEqual(count(proxy.requests, /^PUT/), 0);
        await expectGitopsError(pushArtifact({ url: `oci://${proxy.host}/team/app:x`, path: dir, source: SOURCE, revision: REV, tags: ["-bad"] }), /invalid tag "-bad"/);
    });

    it("retries transient failures with backoff", async () => {
        fs.writeFileSync(path.join(dir, "clusters/dev/retry.yaml"), "x: 1\n");
        try {
            proxy.requests.length = 0;
            proxy.failNext(/^PUT \/v2\/team\/retry\/manifests\//, 2, 503);
            const r = await pushArtifact({ url: `oci://${proxy.host}/team/retry:dev`, path: dir, source: SOURCE, revision: REV, backoffMs: 10 });
            assert.strictEqual(r.pushed, true);
            assert.strictEqual(count(proxy.requests, /^PUT \/v2\/team\/retry\/manifests\/dev$/), 3);
            proxy.failNext(/^GET \/v2\/team\/retry2\//, 10, 503);
            proxy.requests.length = 0;
            await expectGitopsError(
                pushArtifact({ url: `oci://${proxy.host}/team/retry2:dev`, path: dir, source: SOURCE, revision: REV, backoffMs: 5, attempts: 3 }),
                /refused \(HTTP 503\) to fetch manifest dev: UNAVAILABLE: injected \(the registry is failing; try again later\)/,
            );
            assert.strictEqual(count(proxy.requests, /^GET \/v2\/team\/retry2\//), 3, "3 attempts");
            assert.strictEqual(count(proxy.requests, /^(POST|PUT)/), 0, "nothing written after the failure");
        } finally {
            fs.rmSync(path.join(dir, "clusters/dev/retry.yaml"));
        }
    });

    it("says what to do when the registry refuses or cannot be reached", async () => {
        proxy.failNext(/^POST \/v2\/team\/denied\//, 1, 403);
        const e = await expectGitopsError(pushArtifact({ url: `oci://${proxy.host}/team/denied:dev`, path: dir, source: SOURCE, revision: REV }), /access denied \(HTTP 403\) to start a blob upload/);
        assert.strictEqual(e.where, `oci://${proxy.host}/team/denied`);
        assert.match(e.message, /need push access to team\/denied/);
        const closed = await startRecordingProxy(reg.url);
        const host = closed.host;
        await closed.stop();
        await expectGitopsError(pushArtifact({ url: `oci://${host}/team/x:dev`, path: dir, source: SOURCE, revision: REV, attempts: 2, backoffMs: 5 }), /cannot reach the registry at http:\/\/127\.0\.0\.1:\d+ to fetch manifest dev \(2 attempts\)/);
    });

    it("bad input changes nothing: a missing path or flag fails before any request", async () => {
        proxy.requests.length = 0;
        await expectGitopsError(pushArtifact({ url: `oci://${proxy.host}/team/x:dev`, path: path.join(dir, "nope"), source: SOURCE, revision: REV }), /does not exist/);
        await expectGitopsError(pushArtifact({ url: `oci://${proxy.host}/team/x:dev`, path: dir, source: "", revision: REV }), /--source is required/);
        await expectGitopsError(pushArtifact({ url: `oci://${proxy.host}/team/x:dev`, path: dir, source: SOURCE, revision: REV, created: "yesterday" }), /invalid created time/);
        assert.deepStrictEqual(proxy.requests, []);
    });

    it("promotes by digest: the manifest is copied, never rebuilt, and the digest is the same", async () => {
        const dev = await pushArtifact({ url: `oci://${proxy.host}/team/fleet:dev`, path: dir, source: SOURCE, revision: REV });
        proxy.requests.length = 0;
        const c = await copyArtifact({ from: `oci://${proxy.host}/team/fleet:dev`, digest: dev.digest, to: `oci://${proxy.host}/team/fleet:test` });
        assert.strictEqual(c.digest, dev.digest);
        assert.deepStrictEqual(c.copied, [], "same repository: blobs are there");
        assert.strictEqual(count(proxy.requests, /^PUT \/v2\/team\/fleet\/manifests\/test$/), 1);
        assert.strictEqual(count(proxy.requests, /^(POST|PATCH)|^PUT .*blobs/), 0, "no blob written: not a rebuild");
        assert.strictEqual((await inspectArtifact(`oci://${proxy.host}/team/fleet:test`)).digest, dev.digest);
        assert.strictEqual(c.meta.revision, REV);

        // Another repository on the same registry: blobs are mounted, not re-uploaded.
        const x = await copyArtifact({ from: `oci://${proxy.host}/team/fleet@${dev.digest}`, to: `oci://${proxy.host}/prod/fleet:prod` });
        assert.strictEqual(x.digest, dev.digest);
        assert.strictEqual(x.mounted.length + x.copied.length, 2);
        const again = await copyArtifact({ from: `oci://${proxy.host}/team/fleet@${dev.digest}`, to: `oci://${proxy.host}/prod/fleet:prod` });
        assert.strictEqual(again.pushed, false);

        // The source moved on: the verified digest is no longer what the tag holds.
        await pushArtifact({ url: `oci://${proxy.host}/team/fleet:dev`, path: dir, source: SOURCE, revision: `main@sha1:${"3".repeat(40)}` });
        await expectGitopsError(copyArtifact({ from: `oci://${proxy.host}/team/fleet:dev`, digest: dev.digest, to: `oci://${proxy.host}/team/fleet:test` }), /now holds sha256:.*not the verified sha256:.*refusing to copy an unverified artifact/);
    });
});

describe("oci: registry auth (htpasswd)", function () {
    this.timeout(60000);
    let reg: TestRegistry;
    let dir: string;
    before(async () => {
        reg = await startRegistry({ htpasswd: HTPASSWD });
        dir = fleetDir();
    });
    after(async () => {
        await reg?.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("pushes with credentials and refuses without or with wrong ones, naming where credentials come from", async () => {
        const base = { url: `oci://${reg.host}/private/fleet:dev`, path: dir, source: "s", revision: "r" };
        const none = await expectGitopsError(pushArtifact({ ...base }), /requires credentials to fetch manifest dev/);
        assert.match(none.message, new RegExp(`give credentials for ${reg.host.replace(/\./g, "\\.")} with --creds`));
        const wrong = await expectGitopsError(pushArtifact({ ...base, auth: { username: USER, password: "wrong" }, credsFrom: "gitops:registryCredentials" }), /refused the credentials \(HTTP 401\)/);
        assert.match(wrong.message, /check the credentials in gitops:registryCredentials/);
        assert.ok(!wrong.message.includes("wrong"), "the password is never in a message");
        const ok = await pushArtifact({ ...base, auth: { username: USER, password: PASS } });
        assert.strictEqual(ok.pushed, true);
        assert.strictEqual((await inspectArtifact(base.url, { auth: { username: USER, password: PASS } })).digest, ok.digest);
    });

    it("the CLI takes --creds like flux, or GITOPS_REGISTRY_CREDS, and prints JSON", async () => {
        let out = "";
        let err = "";
        const io = { out: (t: string) => void (out += t), err: (t: string) => void (err += t) };
        const args = ["push", "artifact", `oci://${reg.host}/private/cli:v1`, "--path", dir, "--source", "https://example.org/fleet.git", "--revision", "main@sha1:abc", "--tag", "latest", "-o", "json"];
        assert.strictEqual(await main(args, io), 1);
        assert.match(err, /requires credentials/);
        err = "";
        assert.strictEqual(await main([...args, "--creds", `${USER}:${PASS}`], io), 0, err);
        const info = JSON.parse(out);
        assert.strictEqual(info.repository, `${reg.host}/private/cli`);
        assert.strictEqual(info.tag, "v1");
        assert.match(info.digest, /^sha256:[a-f0-9]{64}$/);
        assert.strictEqual(info.url, `oci://${reg.host}/private/cli@${info.digest}`);
        assert.strictEqual(info.pushed, true);
        out = "";
        process.env.GITOPS_REGISTRY_CREDS = JSON.stringify({ [reg.host]: `${USER}:${PASS}` });
        try {
            assert.strictEqual(await main(args, io), 0, err);
        } finally {
            delete process.env.GITOPS_REGISTRY_CREDS;
        }
        assert.strictEqual(JSON.parse(out).digest, info.digest);
        assert.strictEqual(JSON.parse(out).pushed, false);
        assert.ok(!out.includes(PASS) && !err.includes(PASS));
        err = "";
        assert.strictEqual(await main(["push", "artifact", `oci://${reg.host}/private/cli:v1`, "--path", dir, "--revision", "r"], io), 1);
        assert.match(err, /--source: is required/);
    });
});

describe("oci: bearer token auth (token server + auth proxy in front of the registry)", function () {
    this.timeout(60000);
    let reg: TestRegistry;
    let proxy: RecordingProxy;
    let tokens: http.Server;
    let dir: string;
    const scopes: string[] = [];
    const issued = new Map<string, string>(); // token -> scope

    before(async () => {
        reg = await startRegistry();
        dir = fleetDir();
        tokens = http.createServer((req, res) => {
            const u = new URL(req.url!, "http://x");
            const scope = u.searchParams.get("scope") ?? "";
            scopes.push(scope);
            if (req.headers.authorization !== "Basic " + Buffer.from(`${USER}:${PASS}`).toString("base64")) {
                res.writeHead(401).end();
                return;
            }
            const token = `t${issued.size}`;
            issued.set(token, scope);
            res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token }));
        });
        await new Promise<void>((r) => tokens.listen(0, "127.0.0.1", r));
        const realm = `http://127.0.0.1:${(tokens.address() as net.AddressInfo).port}/token`;
        proxy = await startRecordingProxy(reg.url, {
            authorize(req, name) {
                const write = req.method !== "GET" && req.method !== "HEAD";
                const want = `repository:${name}:${write ? "pull,push" : "pull"}`;
                const auth = req.headers.authorization ?? "";
                const granted = issued.get(auth.replace(/^Bearer /, "")) ?? "";
                if (granted === want || granted === `repository:${name}:pull,push`) return undefined;
                return { status: 401, headers: { "www-authenticate": `Bearer realm="${realm}",service="test",scope="${want}"` } };
            },
        });
    });
    after(async () => {
        await proxy?.stop();
        await new Promise((r) => tokens?.close(r));
        await reg?.stop();
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("asks the token endpoint for pull, then pull,push when it writes; refuses clearly without credentials", async () => {
        const r = await pushArtifact({ url: `oci://${proxy.host}/org/fleet:dev`, path: dir, source: "s", revision: "r", auth: { username: USER, password: PASS } });
        assert.strictEqual(r.pushed, true);
        assert.deepStrictEqual(scopes, ["repository:org/fleet:pull", "repository:org/fleet:pull,push"], "one token per scope");
        const e = await expectGitopsError(pushArtifact({ url: `oci://${proxy.host}/org/fleet:dev`, path: dir, source: "s", revision: "r2" }), /token endpoint .*\/token refused \(HTTP 401\) to fetch manifest dev/);
        assert.match(e.message, /give credentials for 127\.0\.0\.1:\d+ with --creds/);
    });
});
