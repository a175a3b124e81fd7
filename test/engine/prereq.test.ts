/**
 * `gitops check` and the prerequisite rules (engine/prereq): "present" is checked against the real
 * tools on this machine (their own output read independently), "missing" with a PATH of temp
 * folders that hold only the tools a case allows.
 */
import * as assert from "assert";
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { main } from "../../engine/cli";
import {
    buildEstimate,
    CheckContext,
    COLD_BUILD_MINUTES,
    defaultContext,
    formatReport,
    goFloor,
    probeDockerEngine,
    probeDockerRegistry,
    probeGit,
    probeGo,
    probeKubectl,
    probeNode,
    probeSshKeygen,
    summarize,
    upSection,
} from "../../engine/prereq";
import { checkStack, checkTests, writePlan } from "../../engine/prereq/cli";
import { findPulumi } from "../../engine/prereq/pulumi";
import { which } from "../../engine/prereq/tools";

const ROOT = path.resolve(__dirname, "../..");

function capture() {
    const io = { out: "", err: "" };
    return { io, cli: { out: (t: string) => (io.out += t), err: (t: string) => (io.err += t) } };
}

describe("gitops check (prerequisites)", function () {
    this.timeout(120_000);
    let tmp: string;
    /** A PATH folder holding links to the named real tools only. */
    const pathWith = (...tools: string[]) => {
        const dir = fs.mkdtempSync(path.join(tmp, "bin-"));
        for (const t of tools) {
            const real = which(t, process.env);
            if (real) fs.symlinkSync(real, path.join(dir, t));
        }
        return dir;
    };
    const ctxWith = (pathDirs: string[], over: Partial<CheckContext> = {}): CheckContext => ({
        ...defaultContext(ROOT, { ...process.env, PATH: pathDirs.join(path.delimiter), HOME: path.join(tmp, "home") }),
        bin: path.join(tmp, "empty-bin"),
        ...over,
    });
    before(() => {
        tmp = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-prereq-"));
        fs.mkdirSync(path.join(tmp, "home"));
        fs.mkdirSync(path.join(tmp, "empty-bin"));
    });
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    describe("present: the real tools", () => {
        const real = () => defaultContext(ROOT);
        it("git and docker-registry with the versions they print themselves", async () => {
            const git = await probeGit(real());
            assert.strictEqual(git.state, "ok");
            const gitSays = execFileSync("git", ["--version"], { encoding: "utf8" });
            assert.ok(gitSays.includes(git.detail.split(" ")[0]), `${git.detail} vs ${gitSays}`);
            const reg = await probeDockerRegistry(real());
            assert.strictEqual(reg.state, "ok", reg.detail);
            assert.ok(execFileSync("docker-registry", ["--version"], { encoding: "utf8" }).includes(reg.detail.split(" ")[0]));
            assert.ok(reg.detail.includes(which("docker-registry", process.env)!));
        });

        it("kubectl (client version), ssh-keygen, and the Node npm ci installed", async () => {
            const k = await probeKubectl(real());
            assert.strictEqual(k.state, "ok");
            const json = JSON.parse(execFileSync("kubectl", ["version", "--client", "-o", "json"], { encoding: "utf8" }));
            assert.strictEqual(`v${k.detail.split(" ")[0]}`, json.clientVersion.gitVersion);
            assert.strictEqual((await probeSshKeygen(real())).state, "ok");
            const n = await probeNode(real());
            assert.strictEqual(n.state, "ok", n.detail);
            assert.ok(n.detail.startsWith(require(path.join(ROOT, "package.json")).dependencies.node));
        });

        it("Go against the floor the e2e harness modules declare", async () => {
            const floor = goFloor(ROOT);
            for (const dir of fs.readdirSync(path.join(ROOT, "test/e2e/harness"))) {
                const mod = path.join(ROOT, "test/e2e/harness", dir, "go.mod");
                if (!fs.existsSync(mod)) continue;
                const m = /^go\s+(\S+)/m.exec(fs.readFileSync(mod, "utf8"));
                if (m) assert.ok(floor.localeCompare(m[1], undefined, { numeric: true }) >= 0, `${floor} < ${m[1]} (${dir})`);
            }
            const go = await probeGo(real());
            const says = spawnSync("go", ["version"], { encoding: "utf8" });
            if (says.status === 0) assert.strictEqual(go.state, "ok", go.detail);
            else assert.strictEqual(go.state, "missing");
        });

        it("the Docker engine: ok only when the daemon answers, not when only the CLI is there", async () => {
            const d = await probeDockerEngine(real());
            const cli = which("docker", process.env);
            const answers = cli ? spawnSync(cli, ["version", "--format", "{{.Server.Version}}"], { encoding: "utf8", timeout: 10_000 }) : undefined;
            if (answers?.status === 0 && answers.stdout.trim()) assert.strictEqual(d.state, "ok");
            else {
                assert.strictEqual(d.state, "missing");
                assert.match(d.detail, cli ? /is there, but no engine answers/ : /docker CLI is not on PATH/);
                assert.match(d.fix, /docker\.io/);
            }
        });
    });

    describe("missing: a PATH without the tool", () => {
        it("each missing tool says so and names the command (and Debian package) that fixes it", async () => {
            const ctx = ctxWith([pathWith()]);
            const [git, kubectl, ssh, reg, docker] = await Promise.all([probeGit(ctx), probeKubectl(ctx), probeSshKeygen(ctx), probeDockerRegistry(ctx), probeDockerEngine(ctx)]);
            for (const f of [git, kubectl, ssh, reg, docker]) assert.strictEqual(f.state, "missing", f.name);
            assert.deepStrictEqual([git.apt, kubectl.apt, ssh.apt, reg.apt], ["git", "kubectl", "openssh-client", "docker-registry"]);
            assert.strictEqual(reg.fix, "apt-get install -y docker-registry");
            assert.match(docker.detail, /docker CLI is not on PATH/);
        });

        it("npm test's pretest fails fast with one message naming the tool and the install command", async () => {
            const ctx = ctxWith([pathWith("git", "kubectl", "ssh-keygen")]);
            const { io, cli } = capture();
            const code = await checkTests(ctx, cli, true); // no apt-get on this PATH: nothing to install with
            assert.strictEqual(code, 1);
            assert.strictEqual(io.err.trim().split("\n").length, 1, io.err);
            assert.match(io.err, /^npm test needs docker-registry \(not found on PATH\): run `(sudo )?apt-get install -y docker-registry`, then run npm test again/);
            assert.strictEqual(io.out, "");
            // With everything there it passes quietly.
            const all = ctxWith([pathWith("git", "kubectl", "ssh-keygen", "docker-registry")]);
            assert.strictEqual(await checkTests(all, capture().cli, true), 0);
        });
    });

    describe("the stack's needs follow gitops:cluster.kind", () => {
        const info = (kind: string) => ({ stack: "dev", kind, file: "Pulumi.dev.yaml" });
        const names = (fs: Array<{ name: string }>) => fs.map((f) => f.name);

        it("none: Git and the Pulumi CLI only, no cluster tool", async () => {
            const { section, plan } = await upSection(ctxWith([pathWith("git")]), info("none"));
            assert.strictEqual(plan.kind, "none");
            assert.ok(!names(section.findings).some((n) => /docker|k3d|kubectl|etcd|kube-apiserver/i.test(n)), names(section.findings).join());
            assert.deepStrictEqual(names(section.findings).slice(0, 3), ["node", "git", "pulumi"]);
        });

        it("k3d without a Docker engine: the local control plane stands in, built with Go when not built yet", async () => {
            const ctx = ctxWith([pathWith("git", "kubectl", "go")]);
            const report = summarize([(await upSection(ctx, info("k3d"))).section], (await upSection(ctx, info("k3d"))).plan);
            const plan = report.plan!;
            assert.strictEqual(plan.configuredKind, "k3d");
            assert.strictEqual(plan.kind, "local");
            assert.match(plan.reason!, /Docker engine and k3d are missing/);
            assert.deepStrictEqual(plan.build, ["pulumi", "langhost", "kube", "kwok", "flux"]);
            assert.ok(report.ok, "everything missing can be built");
            const text = formatReport(report);
            assert.match(text, /kube-apiserver +to build: .* is not built/);
            assert.match(text, /fix: bash scripts\/e2e-build\.sh kube/);
            assert.match(text, /runs the local control plane \(cluster\.kind local\) instead/);
        });

        it("local without Go nor the built binaries: missing, and the check fails", async () => {
            const ctx = ctxWith([pathWith("git", "kubectl")]);
            const { section, plan } = await upSection(ctx, info("local"));
            const report = summarize([section], plan);
            assert.strictEqual(report.ok, false);
            const api = section.findings.find((f) => f.name === "kube-apiserver")!;
            assert.strictEqual(api.state, "missing");
            assert.match(api.fix, /install Go, then bash scripts\/e2e-build\.sh kube/);
            assert.match(formatReport(report), /✗ kube-apiserver/);
        });

        it("local with the binaries built: ok (a real binary from the e2e cache, linked)", async function () {
            const built = path.join(defaultContext(ROOT).bin, "etcd");
            if (!fs.existsSync(built)) this.skip();
            const bin = fs.mkdtempSync(path.join(tmp, "cache-bin-"));
            fs.symlinkSync(built, path.join(bin, "etcd"));
            const { section } = await upSection(ctxWith([pathWith("git", "kubectl")], { bin }), info("local"));
            assert.strictEqual(section.findings.find((f) => f.name === "etcd")!.state, "ok");
        });
    });

    it("the build estimate uses this machine's own build records where it has them", () => {
        const bin = fs.mkdtempSync(path.join(tmp, "records-"));
        fs.mkdirSync(path.join(bin, "status"));
        const ctx = ctxWith([pathWith()], { bin });
        assert.strictEqual(buildEstimate(ctx, []), "");
        assert.match(buildEstimate(ctx, ["kube"]), new RegExp(`^about ${COLD_BUILD_MINUTES.kube} min \\(kube: rough cold-build figures`));
        for (const b of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"]) fs.writeFileSync(path.join(bin, "status", b), "ok (built in 150s)\n");
        fs.writeFileSync(path.join(bin, "status", "kwok"), "failed: go build ...\n");
        assert.strictEqual(
            buildEstimate(ctx, ["kube", "kwok"]),
            `about ${10 + COLD_BUILD_MINUTES.kwok} min (kube as last built here; kwok: rough cold-build figures for 2 cores shared with other builds; seconds when the Go cache already holds them)`,
        );
    });

    describe("the Pulumi CLI", () => {
        /** An executable named pulumi (the resolution order is about where, not what it runs). */
        const placeCli = (dir: string) => {
            fs.mkdirSync(dir, { recursive: true });
            fs.writeFileSync(path.join(dir, "pulumi"), "#!/bin/sh\necho v3\n", { mode: 0o755 });
            return path.join(dir, "pulumi");
        };

        it("PATH first (never node_modules/.bin, the npm package's launcher), then ~/.pulumi/bin, then the npm package's download", () => {
            const home = fs.mkdtempSync(path.join(tmp, "home-"));
            const nm = placeCli(path.join(tmp, "proj", "node_modules", ".bin"));
            const ctx = ctxWith([path.dirname(nm)], { home });
            assert.strictEqual(findPulumi(ctx), undefined);
            const downloaded = placeCli(path.join(home, ".pulumi", "versions", "3.265.0", "bin"));
            const pinned = { ...ctx, env: { ...ctx.env, PULUMI_VERSION: "3.265.0" } };
            assert.deepStrictEqual([findPulumi(pinned)!.path, findPulumi(pinned)!.source], [downloaded, "npm pulumi package"]);
            const installed = placeCli(path.join(home, ".pulumi", "bin"));
            assert.strictEqual(findPulumi(pinned)!.path, installed);
            const onPath = placeCli(path.join(tmp, "usr-bin"));
            assert.strictEqual(findPulumi({ ...pinned, env: { ...pinned.env, PATH: `${path.dirname(nm)}:${path.dirname(onPath)}` } })!.path, onPath);
        });

        it("the built CLI counts only with its language host and provider beside it", () => {
            const bin = fs.mkdtempSync(path.join(tmp, "built-"));
            const ctx = ctxWith([pathWith()], { bin, home: fs.mkdtempSync(path.join(tmp, "home-")) });
            placeCli(bin);
            assert.strictEqual(findPulumi(ctx), undefined);
            for (const b of ["pulumi-language-nodejs", "pulumi-resource-pulumi-nodejs"]) fs.writeFileSync(path.join(bin, b), "", { mode: 0o755 });
            assert.strictEqual(findPulumi(ctx)!.source, "built from Go modules");
        });
    });

    describe("the command", () => {
        it("reads the stack file; an unknown stack names the file and the stacks there are", async () => {
            const { io, cli } = capture();
            assert.strictEqual(await main(["check", "--stack", "nope", "--project", ROOT], cli), 1);
            assert.match(io.err, /Pulumi\.nope\.yaml: no such stack file .*dev, prod, test/);
        });

        it("writes the plan for scripts/up.sh as shell variables that round-trip through bash", async () => {
            const report = await checkStack(ctxWith([pathWith("git", "kubectl", "go")]), { stack: "dev", kind: "k3d", file: "Pulumi.dev.yaml" });
            const file = path.join(tmp, "plan.env");
            writePlan(file, { ...report.plan!, reason: "it's missing" });
            const out = execFileSync("bash", ["-c", `. "${file}"; printf '%s|%s|%s' "$GITOPS_CLUSTER_KIND" "$GITOPS_BUILD" "$GITOPS_CLUSTER_REASON"`], { encoding: "utf8" });
            assert.strictEqual(out, "local|pulumi langhost kube kwok flux|it's missing");
        });

        it("lists the stack's and the tests' prerequisites and exits 0/1 with what is missing", async () => {
            const { io, cli } = capture();
            const code = await main(["check", "--stack", "dev", "--project", ROOT], cli);
            assert.match(io.out, /► npm run up \(stack dev, cluster\.kind k3d\)/);
            assert.match(io.out, /► npm test/);
            assert.strictEqual(code, /✗ /.test(io.out) ? 1 : 0, io.out);
        });
    });
});
