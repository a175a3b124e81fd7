/**
 * Tag listing against a real registry: Debian's docker-registry on 127.0.0.1 (test/helpers/registry.ts),
 * tags pushed over its HTTP API by the test; basic auth through the registry's own htpasswd
 * support; bearer auth through a token server written here. Registry 2.8 ignores `n` on
 * tags/list, so pagination (small pages, Link rel="next") goes through startPaginatingFront,
 * which pages the real registry's tags per the OCI Distribution spec.
 */
import * as assert from "assert";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { GitopsError, isGitopsError } from "../../engine/errors";
import { listTags, nextLink, parseChallenge, parseRepositoryRef, selectTag } from "../../engine/images";
import { Front, pushTags, startPaginatingFront, startRegistry, TestRegistry } from "../helpers/registry";

const HTPASSWD = path.join(__dirname, "../fixtures/images/htpasswd");
const USER = "flux";
const PASS = "s3cret-test-only";
const basicHeader = (u: string, p: string) => "Basic " + Buffer.from(`${u}:${p}`).toString("base64");

// 60 tags: semver, prereleases, timestamps, signatures and junk, in no particular order.
const TAGS = [
    ...Array.from({ length: 12 }, (_, i) => `1.${i}.0`),
    ...Array.from({ length: 6 }, (_, i) => `v2.0.${i}`),
    "2.1.0-rc.1", "2.1.0-rc.2", "3.0.0-alpha",
    ...Array.from({ length: 15 }, (_, i) => `main-${(0xabc000 + i).toString(16)}-${1700000000 + i * 37}`),
    ...Array.from({ length: 10 }, (_, i) => `sha256-${"0".repeat(60)}${10 + i}.sig`),
    "latest", "stable", "1.2", "v1", "1.0.0.1", "sig", "x.sig.y", "not-a.sig2", "ZZZ", "0.0.1-SNAPSHOT",
    "1.99.0", "1.100.0", "nightly-20240101", "nightly-20231231",
];

async function expectGitopsError(p: Promise<unknown>, re: RegExp): Promise<GitopsError> {
    try {
        await p;
    } catch (err) {
        assert.ok(isGitopsError(err), `expected a GitopsError, got ${err}`);
        assert.match((err as Error).message, re);
        return err as GitopsError;
    }
    assert.fail("expected a rejection");
}

describe("registry: tag listing (real docker-registry)", function () {
    this.timeout(120000);

    describe("without auth", () => {
        let reg: TestRegistry;
        let front: Front;
        before(async () => {
            reg = await startRegistry();
            await pushTags(reg.url, "team/app", TAGS);
            front = await startPaginatingFront(reg.url);
        });
        after(async () => {
            await front?.stop();
            if (reg) await reg.stop();
        });

        it("reads the real registry directly (one page: registry 2.8 ignores n)", async () => {
            const tags = await listTags(`${reg.host}/team/app`, { insecure: true, exclusionList: [] });
            assert.deepStrictEqual([...tags].sort(), [...TAGS].sort());
        });

        it("lists every tag across pages of 7, dropping *.sig by default", async () => {
            front.requests.length = 0;
            const tags = await listTags(`${front.url.replace("http://", "")}/team/app`, { insecure: true, pageSize: 7 });
            assert.strictEqual(front.requests.length, Math.ceil(TAGS.length / 7), front.requests.join("\n"));
            assert.match(front.requests[1], /[?&]last=/);
            const want = TAGS.filter((t) => !/^.*\.sig$/.test(t)).sort();
            assert.deepStrictEqual([...tags].sort(), want);
            assert.strictEqual(new Set(tags).size, tags.length, "no tag twice");
            assert.ok(tags.includes("x.sig.y") && tags.includes("not-a.sig2") && tags.includes("sig"));
        });

        it("pages of 1 and one big page give the same list; an http:// ref needs no insecure flag", async () => {
            front.requests.length = 0;
            const one = await listTags(`${front.url}/team/app`, { pageSize: 1, exclusionList: [] });
            assert.strictEqual(front.requests.length, TAGS.length);
            const all = await listTags(`${front.url}/team/app`, { exclusionList: [] });
            assert.deepStrictEqual([...one].sort(), [...TAGS].sort());
            assert.deepStrictEqual([...all].sort(), [...TAGS].sort());
        });

        it("applies a custom exclusionList (Go regexps) before the policy", async () => {
            const tags = await listTags(`${front.url}/team/app`, { pageSize: 10, exclusionList: ["^main-", "(?i)^NIGHTLY", "\\.sig\\z"] });
            assert.ok(!tags.some((t) => t.startsWith("main-") || t.startsWith("nightly") || t.endsWith(".sig")));
            assert.ok(tags.includes("latest"));
            await expectGitopsError(listTags(`${reg.url}/team/app`, { exclusionList: ["(?=x)"] }), /exclusionList\[0\].*invalid regular expression pattern "\(\?=x\)"/);
        });

        it("feeds the policies: semver, numerical with extract, alphabetical", async () => {
            const tags = await listTags(`${front.url}/team/app`, { pageSize: 9 });
            assert.strictEqual(selectTag({ semver: { range: ">=1.0.0" } }, undefined, tags), "v2.0.5");
            assert.strictEqual(selectTag({ semver: { range: "^1.0" } }, undefined, tags), "1.100.0");
            assert.strictEqual(selectTag({ semver: { range: ">=2.1.0-0" } }, undefined, tags), "3.0.0-alpha");
            assert.strictEqual(
                selectTag({ numerical: { order: "asc" } }, { pattern: "^main-[a-f0-9]+-(?P<ts>[0-9]+)$", extract: "$ts" }, tags),
                `main-${(0xabc000 + 14).toString(16)}-${1700000000 + 14 * 37}`,
            );
            assert.strictEqual(selectTag({ alphabetical: { order: "asc" } }, { pattern: "^nightly-" }, tags), "nightly-20240101");
        });

        it("reports a missing repository and an unreachable registry with the ref", async () => {
            await expectGitopsError(listTags(`${reg.url}/team/nope`), /not found/);
            const port = await new Promise<number>((res) => {
                const s = net.createServer().listen(0, "127.0.0.1", () => {
                    const p = (s.address() as net.AddressInfo).port;
                    s.close(() => res(p));
                });
            });
            const e = await expectGitopsError(listTags(`http://127.0.0.1:${port}/team/app`), /cannot reach the registry/);
            assert.strictEqual(e.where, `http://127.0.0.1:${port}/team/app`);
        });
    });

    describe("basic auth (registry htpasswd)", () => {
        let reg: TestRegistry;
        before(async () => {
            reg = await startRegistry({ htpasswd: HTPASSWD });
            await pushTags(reg.url, "private/app", ["1.0.0", "1.1.0", "2.0.0-rc.1", "a.sig"], basicHeader(USER, PASS));
        });
        after(async () => reg && (await reg.stop()));

        it("lists with the right credentials", async () => {
            const tags = await listTags(`${reg.url}/private/app`, { pageSize: 2, auth: { username: USER, password: PASS } });
            assert.deepStrictEqual([...tags].sort(), ["1.0.0", "1.1.0", "2.0.0-rc.1"]);
        });

        it("refuses without or with wrong credentials, saying what to do", async () => {
            await expectGitopsError(listTags(`${reg.url}/private/app`), /requires basic authentication/);
            await expectGitopsError(listTags(`${reg.url}/private/app`, { auth: { username: USER, password: "wrong" } }), /refused the credentials \(HTTP 401\)/);
        });
    });

    describe("bearer token auth (token server + auth proxy in front of the registry)", () => {
        let reg: TestRegistry;
        let front: Front;
        let tokens: http.Server;
        let proxyUrl = "";
        const issued = new Map<string, string>(); // token -> scope
        const tokenRequests: string[] = [];

        before(async () => {
            reg = await startRegistry();
            await pushTags(reg.url, "org/svc", Array.from({ length: 23 }, (_, i) => `0.${i}.0`));
            tokens = http.createServer((req, res) => {
                const u = new URL(req.url!, "http://x");
                tokenRequests.push(u.search);
                if (u.pathname !== "/token" || req.headers.authorization !== basicHeader(USER, PASS) || u.searchParams.get("service") !== "test-registry") {
                    res.writeHead(401).end();
                    return;
                }
                const token = `t${issued.size}-${Math.random().toString(36).slice(2)}`;
                issued.set(token, u.searchParams.get("scope") ?? "");
                res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token, expires_in: 300 }));
            });
            await new Promise<void>((r) => tokens.listen(0, "127.0.0.1", r));
            const realm = `http://127.0.0.1:${(tokens.address() as net.AddressInfo).port}/token`;
            front = await startPaginatingFront(reg.url, {
                authorize(req, name) {
                    const auth = req.headers.authorization ?? "";
                    const token = auth.startsWith("Bearer ") ? auth.slice(7) : "";
                    if (issued.get(token) === `repository:${name}:pull`) return undefined;
                    return { status: 401, headers: { "www-authenticate": `Bearer realm="${realm}",service="test-registry",scope="repository:${name}:pull"` } };
                },
            });
            proxyUrl = front.url;
        });
        after(async () => {
            await front?.stop();
            if (tokens) await new Promise((r) => tokens.close(r));
            if (reg) await reg.stop();
        });

        it("answers the challenge at the token endpoint and pages with the token", async () => {
            tokenRequests.length = 0;
            const tags = await listTags(`${proxyUrl}/org/svc`, { pageSize: 4, auth: { username: USER, password: PASS } });
            assert.strictEqual(tags.length, 23);
            assert.strictEqual(tokenRequests.length, 1, "one token for all pages");
            assert.match(tokenRequests[0], /scope=repository%3Aorg%2Fsvc%3Apull/);
            assert.strictEqual(selectTag({ semver: { range: "~0.2" } }, undefined, tags), "0.2.0");
            assert.strictEqual(selectTag({ semver: { range: "*" } }, undefined, tags), "0.22.0");
        });

        it("fails clearly when the token endpoint refuses", async () => {
            await expectGitopsError(listTags(`${proxyUrl}/org/svc`, { auth: { username: USER, password: "nope" } }), /token endpoint .* refused \(HTTP 401\)/);
            await expectGitopsError(listTags(`${proxyUrl}/org/svc`), /token endpoint .* refused/);
        });
    });
});

describe("registry: header and reference parsing", () => {
    it("parses Bearer challenges (quoted, escaped, unquoted)", () => {
        assert.deepStrictEqual(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"'), {
            scheme: "bearer",
            params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/nginx:pull" },
        });
        assert.deepStrictEqual(parseChallenge('Basic realm="a \\"b\\"", charset=UTF-8'), { scheme: "basic", params: { realm: 'a "b"', charset: "UTF-8" } });
    });

    it("finds rel=next among several links", () => {
        assert.strictEqual(nextLink('</v2/a/tags/list?last=x&n=5>; rel="next"'), "/v2/a/tags/list?last=x&n=5");
        assert.strictEqual(nextLink('<https://r/p?a=1,2>; rel="prev", <https://r/n?b=2>; title="x"; rel="next"'), "https://r/n?b=2");
        assert.strictEqual(nextLink('</first>; rel="first"'), undefined);
        assert.strictEqual(nextLink(null), undefined);
    });

    it("normalises references like Docker", () => {
        assert.deepStrictEqual(parseRepositoryRef("nginx"), { base: "https://registry-1.docker.io", name: "library/nginx" });
        assert.deepStrictEqual(parseRepositoryRef("docker.io/fluxcd/flux"), { base: "https://registry-1.docker.io", name: "fluxcd/flux" });
        assert.deepStrictEqual(parseRepositoryRef("ghcr.io/fluxcd/source-controller"), { base: "https://ghcr.io", name: "fluxcd/source-controller" });
        assert.deepStrictEqual(parseRepositoryRef("localhost:5000/a/b", true), { base: "http://localhost:5000", name: "a/b" });
        assert.deepStrictEqual(parseRepositoryRef("http://127.0.0.1:1234/x"), { base: "http://127.0.0.1:1234", name: "x" });
        for (const bad of ["ghcr.io/org/app:1.0", "ghcr.io/Org/App", "ghcr.io/a@sha256:00", ""]) {
            assert.throws(() => parseRepositoryRef(bad), (e: unknown) => isGitopsError(e), bad);
        }
    });
});
