/**
 * Hostile input and partial failure, class "secrets": no Secret value and no git credential in
 * plain text, anywhere a user or a log can see it.
 *
 * - `gitops cluster apply` and `gitops cluster diff` mask Secret data as `flux diff` does (`***`,
 *   `*** (before)`, `*** (after)`) and name only the keys that changed; an apply error on a Secret
 *   never quotes its values, even when the server echoes the request back.
 * - FleetSync with gitAuth (an HTTPS token, checked by a real git smart-HTTP server): the token
 *   is in no output, no log line, no file or object of the fleet repo; delete still pushes, with
 *   the token read from the stack config, and without it says which key to set.
 *
 * Every secret is checked by every 10-character window of every form it can take (raw, base64,
 * basic-auth header), so a prefix or a slice of it counts as a leak.
 */
import { strict as assert } from "assert";
import { execFile, execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { promisify } from "util";
import { main } from "../../engine/cli";
import { serveFleet, FleetServer } from "../../engine/fleet/serve";
import { fleetSyncProvider } from "../../components/fleet-sync";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { git, TempGit } from "../helpers/git";
import {
    allStrings, DEPLOY_KEY_MARKER, fleetSyncFixture, FluxGitEmulation, KUBE_TOKEN, kubeconfigWithToken, plain, ProviderHost, secret,
    serializeProvider, startProviderHost,
} from "../helpers/provider-host";

/** Every 10-character window of every form of each secret. */
function leakProbes(secrets: string[]): string[] {
    const forms = new Set<string>();
    for (const s of secrets) {
        forms.add(s);
        forms.add(Buffer.from(s).toString("base64"));
        forms.add(JSON.stringify(s).slice(1, -1));
    }
    const probes = new Set<string>();
    for (const f of forms) for (let i = 0; i + 10 <= f.length; i++) probes.add(f.slice(i, i + 10));
    return [...probes];
}

function assertNoLeak(text: string, probes: string[], what: string): void {
    const hit = probes.find((p) => text.includes(p));
    assert.equal(hit, undefined, `${what} carries a secret (${JSON.stringify(hit)}):\n${text.slice(0, 2000)}`);
}

describe("hostile input: secrets never in plain text", function () {
    this.timeout(180_000);

    describe("gitops cluster apply / diff mask Secret data (API test server)", () => {
        let api: TestApiServer;
        let dir: string;
        const v1 = { password: "pw-ONE-7b1f0c2e9a4d", pem: "-----BEGIN PRIVATE KEY-----\nKEYLINE-ONE-5e8d2a7c41b9f3\n-----END PRIVATE KEY-----\n", token: "tok-ONE-c3d9e1f07a2b" };
        const v2 = { password: "pw-TWO-0f9e8d7c6b5a", apiKey: "apikey-TWO-1a2b3c4d5e6f" };
        const v3 = { password: "pw-THREE-aa11bb22cc33" };
        const all = [...Object.values(v1), ...Object.values(v2), ...Object.values(v3), "KEYLINE-ONE-5e8d2a7c41b9f3"];
        const probes = leakProbes(all);

        const secretYaml = (stringData: Record<string, string>, data: Record<string, string> = {}) =>
            [
                "apiVersion: v1",
                "kind: Secret",
                "metadata:",
                "  name: creds",
                "  namespace: team",
                "type: Opaque",
                "stringData:",
                ...Object.entries(stringData).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`),
                ...(Object.keys(data).length ? ["data:", ...Object.entries(data).map(([k, v]) => `  ${k}: ${Buffer.from(v).toString("base64")}`)] : []),
                "",
            ].join("\n");
        const others = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: team\ndata:\n  level: info\n";

        async function run(...args: string[]): Promise<{ code: number; out: string; err: string }> {
            const out: string[] = [];
            const err: string[] = [];
            const code = await main(args, { out: (t) => void out.push(t), err: (t) => void err.push(t) });
            return { code, out: out.join(""), err: err.join("") };
        }
        const kc = () => ["--kubeconfig", api.kubeconfigPath];
        const decoded = () => {
            const s = api.get("v1", "Secret", "creds", "team");
            return Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(String(v), "base64").toString()]));
        };

        before(async () => {
            api = await startTestApiServer();
            dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-hostile-secrets-"));
            fs.writeFileSync(path.join(dir, "others.yaml"), others);
            fs.writeFileSync(path.join(dir, "v1.yaml"), secretYaml({ password: v1.password, "tls.key": v1.pem }, { token: v1.token }));
            fs.writeFileSync(path.join(dir, "v2.yaml"), secretYaml({ password: v2.password, "tls.key": v1.pem, "api-key": v2.apiKey }));
            fs.writeFileSync(path.join(dir, "v3.yaml"), secretYaml({ password: v3.password, "tls.key": v1.pem, "api-key": v2.apiKey }));
        });
        after(async () => {
            await api?.stop();
            if (dir) fs.rmSync(dir, { recursive: true, force: true });
        });

        it("apply creates the Secret and prints no value", async () => {
            const r = await run("cluster", "apply", ...kc(), "--file", path.join(dir, "others.yaml"), "--file", path.join(dir, "v1.yaml"), "--inventory", path.join(dir, "inv.json"));
            assert.equal(r.code, 0, r.err);
            assert.match(r.out, /^created team_creds__Secret$/m);
            assertNoLeak(r.out + r.err, probes, "apply output");
            assert.deepEqual(decoded(), { password: v1.password, "tls.key": v1.pem, token: v1.token });
        });

        it("diff names the keys that changed, with values masked as flux diff does, and writes nothing", async () => {
            const rv = api.resourceVersion;
            const r = await run("cluster", "diff", ...kc(), "--file", path.join(dir, "others.yaml"), "--file", path.join(dir, "v2.yaml"), "--exit-code");
            assert.equal(r.code, 3, r.err);
            const line = r.out.split("\n").find((l) => l.startsWith("configured team_creds__Secret"));
            assert.ok(line, r.out);
            assert.match(line!, /data\.password: \*\*\* \(before\) -> \*\*\* \(after\)/);
            assert.match(line!, /data\.api-key: <none> -> \*\*\* \(after\)/);
            assert.match(line!, /data\.token: \*\*\* \(before\) -> <none>/);
            assert.ok(!/tls\.key/.test(line!), `an unchanged key is not listed: ${line}`);
            assertNoLeak(r.out + r.err, probes, "diff output");
            assert.equal(api.resourceVersion, rv, "diff wrote to the cluster");
        });

        it("apply configures it and prints the masked changes; the ConfigMap is untouched", async () => {
            const cmBefore = api.get("v1", "ConfigMap", "settings", "team");
            const r = await run("cluster", "apply", ...kc(), "--file", path.join(dir, "others.yaml"), "--file", path.join(dir, "v2.yaml"), "--inventory", path.join(dir, "inv.json"), "--prune");
            assert.equal(r.code, 0, r.err);
            const line = r.out.split("\n").find((l) => l.startsWith("configured team_creds__Secret"));
            assert.ok(line, r.out);
            assert.match(line!, /password: \*\*\* \(before\) -> \*\*\* \(after\)/);
            assertNoLeak(r.out + r.err, probes, "apply output");
            assert.deepEqual(decoded(), { password: v2.password, "tls.key": v1.pem, "api-key": v2.apiKey });
            assert.deepEqual(api.get("v1", "ConfigMap", "settings", "team"), cmBefore);
            assertNoLeak(fs.readFileSync(path.join(dir, "inv.json"), "utf8"), probes, "the inventory file");
        });

        it("a server that echoes the request back: the error names the Secret, carries no value, and nothing changes", async () => {
            const before = api.snapshot();
            const invBefore = fs.readFileSync(path.join(dir, "inv.json"), "utf8");
            api.faults.next(100, "echo", (q) => q.method === "PATCH" && q.path.includes("/secrets/"));
            try {
                const r = await run("cluster", "apply", ...kc(), "--file", path.join(dir, "others.yaml"), "--file", path.join(dir, "v3.yaml"), "--inventory", path.join(dir, "inv.json"));
                assert.equal(r.code, 1, r.out);
                assert.match(r.err, /team_creds__Secret: apply failed: HTTP 500: "upstream rejected the request: /);
                assert.match(r.err, /\*\*\*/, "the echoed values are masked");
                assert.match(r.err, /stringData/, "the rest of the server's message is kept");
                assertNoLeak(r.out + r.err, probes, "the apply error");
            } finally {
                api.faults.clear();
            }
            assert.deepEqual(decoded(), { password: v2.password, "tls.key": v1.pem, "api-key": v2.apiKey });
            assert.deepEqual(api.snapshot(), before, "the failed apply changed the cluster");
            assert.equal(fs.readFileSync(path.join(dir, "inv.json"), "utf8"), invBefore, "the failed apply rewrote the inventory");
        });
    });

    describe("FleetSync with gitAuth: no credential in outputs, logs or the fleet repo; delete still pushes", () => {
        const GIT_TOKEN = "ghp_FLEETSYNCtest0token0e3b9c1d7a5f";
        const CONFIG_KEY = "gitops:githubToken";
        let t: TempGit;
        let api: TestApiServer;
        let server: FleetServer;
        let flux: FluxGitEmulation;
        let host: ProviderHost;
        let bare: string;
        let url: string;
        let provider: string;
        // The basic-auth form's user name is public: windows that lie wholly inside it are no leak.
        const probes = leakProbes([GIT_TOKEN, `x-access-token:${GIT_TOKEN}`, KUBE_TOKEN, DEPLOY_KEY_MARKER]).filter((p) => !"x-access-token:".includes(p));

        /** Every byte of the fleet repo: its files as stored, and every object decompressed. */
        function repoText(): string {
            const files: string[] = [];
            const walk = (d: string) => {
                for (const e of fs.readdirSync(d, { withFileTypes: true })) {
                    const p = path.join(d, e.name);
                    if (e.isDirectory()) walk(p);
                    else if (e.isFile()) files.push(`${p}\n${fs.readFileSync(p).toString("latin1")}`);
                }
            };
            walk(bare);
            const objects = execFileSync("git", ["--git-dir", bare, "cat-file", "--batch-all-objects", "--batch"], { maxBuffer: 256 << 20 }).toString("utf8");
            return files.join("\n") + objects;
        }

        before(async () => {
            t = new TempGit("gitops-hostile-gitauth-");
            bare = t.bare("fleet", { "README.md": "fleet\n" });
            server = await serveFleet(t.root, 0, "127.0.0.1", { auth: { user: "x-access-token", password: GIT_TOKEN } });
            url = `${server.url}/fleet.git`;
            api = await startTestApiServer();
            provider = await serializeProvider(fleetSyncProvider);
            host = await startProviderHost({ env: { GITOPS_CACHE_DIR: process.env.GITOPS_CACHE_DIR! }, config: { [CONFIG_KEY]: GIT_TOKEN } });
        });
        after(async () => {
            await flux?.stop();
            await host?.stop();
            await server?.close();
            await api?.stop();
            t?.cleanup();
        });

        it("create, update, diff and delete over an authenticated remote leave the token nowhere", async () => {
            // Without credentials the server refuses: the pushes below prove the token was used.
            // (async: the server answers on this process's event loop)
            await assert.rejects(
                promisify(execFile)("git", ["ls-remote", url], { env: { ...process.env, GIT_TERMINAL_PROMPT: "0", GIT_CONFIG_GLOBAL: "/dev/null" } }),
                /401|Authentication failed|could not read Username/,
            );

            const fx = fleetSyncFixture({ repo: url, kubeconfig: kubeconfigWithToken(api.kubeconfig) });
            flux = new FluxGitEmulation(api, { repo: bare, clusterPath: fx.clusterPath }).start();
            const inputs = { ...fx.inputs, gitAuth: secret({ httpsToken: GIT_TOKEN }), gitAuthConfig: { httpsToken: CONFIG_KEY }, __provider: provider };
            const checked = await host.check({}, inputs);
            assert.deepEqual(checked.failures, []);
            const { id, outs } = await host.create(checked.inputs);
            const head1 = git(["--git-dir", bare, "rev-parse", "main"]).trim();
            assert.equal(outs.commit, head1);
            assert.equal(outs.gitAuth, undefined, "gitAuth is not an output");
            assert.deepEqual(outs.gitAuthConfig, { httpsToken: CONFIG_KEY }, "delete finds the credential by its config key");

            // Update: one more file.
            const files2 = { ...fx.files, [`${fx.clusterPath}/extra.yaml`]: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n  namespace: default\n" };
            const owned2 = [...fx.owned];
            const news = (await host.check(plain(checked.inputs), { ...inputs, files: files2, owned: owned2 })).inputs;
            const d = await host.diff(id, outs, news);
            assert.equal(d.changes, "some");
            const { outs: outs2 } = await host.update(id, outs, news, plain(checked.inputs));
            const head2 = git(["--git-dir", bare, "rev-parse", "main"]).trim();
            assert.notEqual(head2, head1);
            assert.equal(outs2.commit, head2);

            // Delete on a provider without the config key: refused, naming the key and the command; Git unchanged.
            const bare2 = await startProviderHost({ env: { GITOPS_CACHE_DIR: process.env.GITOPS_CACHE_DIR! } });
            try {
                await assert.rejects(bare2.delete(id, outs2), (e: Error) => {
                    assert.match(e.message, /needs the git credential in stack config gitops:githubToken, which is not set/);
                    assert.match(e.message, /pulumi config set --secret gitops:githubToken <value>/);
                    return true;
                });
            } finally {
                await bare2.stop();
            }
            assert.equal(git(["--git-dir", bare, "rev-parse", "main"]).trim(), head2, "a refused delete changed the fleet repo");

            // Delete with the stack config: the stack's files leave the fleet repo.
            await host.delete(id, outs2);
            const tree = git(["--git-dir", bare, "ls-tree", "-r", "--name-only", "main"]).trim().split("\n");
            assert.deepEqual(tree, ["README.md"], "delete removed exactly the stack's files");

            // No secret byte in outputs (state), logs, or the fleet repo.
            for (const [what, v] of [["create outputs", outs], ["update outputs", outs2]] as const) {
                assertNoLeak(JSON.stringify(v), probes, what);
                assertNoLeak(allStrings(v).join("\n"), probes, what);
            }
            assertNoLeak([...host.messages(), ...host.stdout, ...host.stderr, ...host.logs.map((l) => l.message)].join("\n"), probes, "the provider's logs");
            assertNoLeak(repoText(), probes, "the fleet repo");
        });
    });
});
