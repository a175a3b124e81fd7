/**
 * A stack name from a flag becomes a file name (Pulumi.<stack>.yaml, .gitops/up/kubeconfig-<stack>):
 * only a stack name (a DNS label) is taken, before any file is read or written; `gitops up config`
 * never writes over a stack file of the project; `gitops up summary --kind` takes a cluster kind.
 */
import * as assert from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main } from "../../engine/cli";
import { stackFilePath } from "../../engine/config/load";
import { capture } from "../helpers/cli";

const REPO = path.resolve(__dirname, "../..");

describe("cli: stack names and stack files", () => {
    let root: string;
    let project: string;
    beforeEach(() => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-stack-names-"));
        project = path.join(root, "project");
        fs.mkdirSync(project);
        for (const f of ["Pulumi.yaml", "Pulumi.dev.yaml"]) fs.copyFileSync(path.join(REPO, f), path.join(project, f));
        // A stack file outside the project that a crafted name would reach.
        fs.copyFileSync(path.join(REPO, "Pulumi.dev.yaml"), path.join(root, "elsewhere.yaml"));
    });
    afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

    const listing = () => fs.readdirSync(root, { recursive: true }).map(String).sort();
    async function refused(args: string[], want: RegExp): Promise<void> {
        const before = listing();
        const io = capture();
        assert.notStrictEqual(await main(args, io.io), 0, io.text());
        assert.match(io.errText(), want);
        assert.deepStrictEqual(listing(), before, "nothing written");
    }

    it("stackFilePath takes DNS labels only, naming the stacks there are", () => {
        assert.strictEqual(stackFilePath(project, "dev"), path.join(project, "Pulumi.dev.yaml"));
        for (const bad of ["x/../../elsewhere", "../x", "Dev", "dev.local", "", "-dev", "a".repeat(64)]) {
            assert.throws(() => stackFilePath(project, bad), (e: Error) => {
                assert.match(e.message, /not a stack name: a stack name is a DNS label/);
                assert.match(e.message, /pick one of: dev/);
                return true;
            }, bad);
        }
    });

    it("fleet render --stack with a path in it: refused before any file outside the project is read", async () => {
        await refused(["fleet", "render", "--stack", "x/../../elsewhere", "--out", path.join(root, "out"), "--project", project], /stack "x\/\.\.\/\.\.\/elsewhere": not a stack name/);
    });

    it("up config --out over the project's own stack file: refused, the file unchanged", async () => {
        const file = path.join(project, "Pulumi.dev.yaml");
        const before = fs.readFileSync(file, "utf8");
        await refused(["up", "config", "--stack", "dev", "--out", file, "--project", project], /--out: .*Pulumi\.dev\.yaml is a stack file of this project/);
        assert.strictEqual(fs.readFileSync(file, "utf8"), before);
        // Elsewhere it writes, with gitops:cluster.kind local.
        const io = capture();
        const out = path.join(root, "up", "Pulumi.dev.yaml");
        assert.strictEqual(await main(["up", "config", "--stack", "dev", "--out", out, "--project", project], io.io), 0, io.errText());
        assert.match(fs.readFileSync(out, "utf8"), /kind: local/);
    });

    it("up summary: --kind must be a cluster kind, --stack a stack name", async () => {
        await refused(["up", "summary", "--stack", "dev", "--kind", "bogus", "--project", project], /--kind: must be one of k3d, kind, aks, existing, local, none; got "bogus"/);
        await refused(["up", "summary", "--stack", "../x", "--kind", "local", "--project", project], /stack "\.\.\/x": not a stack name/);
    });

    it("report preview --stack: a stack name", async () => {
        await refused(["report", "preview", "--stack", "../x", "--json", path.join(root, "p.json")], /--stack: not a stack name: "\.\.\/x"/);
    });
});
