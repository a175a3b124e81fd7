/**
 * A push race through the real provider host: another writer pushes to the fleet branch between
 * our fetch and our push. The host runs with a `git` shim first on its PATH that, on the first
 * `git push` it sees, lets another clone commit and push to the same branch with the real git, then
 * runs the real push (which is then rejected as non-fast-forward). The sync must retry on the new
 * head, and both changes must survive.
 */
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { fleetSyncProvider } from "../../components/fleet-sync";
import { startTestApiServer, TestApiServer } from "../kube-apiserver";
import { git, TempGit } from "../helpers/git";
import { appliedIds, fleetSyncFixture, FluxGitEmulation, kubeconfigWithToken, ProviderHost, serializeProvider, startProviderHost } from "../helpers/provider-host";

function shq(s: string): string {
    return `'${s.replace(/'/g, `'\\''`)}'`;
}

describe("faults: push race with another writer", function () {
    this.timeout(180_000);
    let t: TempGit;
    let api: TestApiServer;
    let host: ProviderHost;
    let flux: FluxGitEmulation;

    before(async () => {
        t = new TempGit("fleetsync-race-");
        api = await startTestApiServer();
    });
    after(async () => {
        await flux?.stop();
        await host?.stop();
        await api?.stop();
        t?.cleanup();
    });

    it("retries on the other writer's head; both changes survive; Flux applies the merged head", async () => {
        const repo = t.bare("fleet", { "README.md": "fleet\n" });
        const realGit = execFileSync("sh", ["-c", "command -v git"], { encoding: "utf8" }).trim();
        const shimDir = path.join(t.root, "shim");
        const raced = path.join(t.root, "raced");
        const writer = path.join(t.root, "other-writer");
        fs.mkdirSync(shimDir);
        const G = shq(realGit);
        fs.writeFileSync(
            path.join(shimDir, "git"),
            [
                "#!/bin/sh",
                'for a in "$@"; do',
                '  if [ "$a" = "push" ]; then',
                `    if mkdir ${shq(raced)} 2>/dev/null; then`,
                `      ( unset GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE; ${G} clone -q ${shq(repo)} ${shq(writer)} && cd ${shq(writer)} && mkdir -p shared && printf 'team: platform\\n' > shared/team.yaml && ${G} add shared/team.yaml && ${G} -c user.name=Other -c user.email=other@example.com commit -q -m 'other writer' && ${G} push -q origin HEAD:main ) >&2 || exit 97`,
                "    fi",
                "    break",
                "  fi",
                "done",
                `exec ${G} "$@"`,
                "",
            ].join("\n"),
            { mode: 0o755 },
        );
        host = await startProviderHost({ env: { GITOPS_CACHE_DIR: process.env.GITOPS_CACHE_DIR!, PATH: `${shimDir}${path.delimiter}${path.join(__dirname, "..", "..", "node_modules", ".bin")}${path.delimiter}${process.env.PATH}` } });
        const fx = fleetSyncFixture({ repo, kubeconfig: kubeconfigWithToken(api.kubeconfig) });
        flux = new FluxGitEmulation(api, { repo, clusterPath: fx.clusterPath }).start();
        const base = git(["--git-dir", repo, "rev-parse", "main"]).trim();

        const provider = await serializeProvider(fleetSyncProvider);
        const { inputs } = await host.check({}, { ...fx.inputs, __provider: provider });
        const { outs } = await host.create(inputs);

        assert.ok(fs.existsSync(raced), "the other writer pushed during our sync");
        const head = git(["--git-dir", repo, "rev-parse", "main"]).trim();
        const theirs = git(["--git-dir", repo, "rev-parse", "main~1"]).trim();
        assert.equal(outs.commit, head);
        assert.equal(git(["--git-dir", repo, "log", "-1", "--format=%s", theirs]).trim(), "other writer", "our commit sits on top of theirs");
        assert.equal(git(["--git-dir", repo, "rev-parse", "main~2"]).trim(), base);
        assert.equal(git(["--git-dir", repo, "rev-list", "--count", "main"]).trim(), "3", "one commit each, nothing lost, no extra commit");
        const tree = git(["--git-dir", repo, "ls-tree", "-r", "--name-only", "main"]).trim().split("\n").sort();
        assert.deepEqual(tree, ["README.md", "shared/team.yaml", ...Object.keys(fx.files)].sort());
        assert.equal(git(["--git-dir", repo, "show", "main:shared/team.yaml"]), "team: platform\n");
        for (const [p, c] of Object.entries(fx.files)) assert.equal(git(["--git-dir", repo, "show", `main:${p}`]), c, p);
        assert.equal(outs.appliedRevision, `main@sha1:${head}`);
        assert.deepEqual(appliedIds(api), (outs.inventory as Array<{ id: string }>).map((e) => e.id).sort());
    });
});
