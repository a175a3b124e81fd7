/**
 * The local control plane with real Flux (engine/localcluster/controlplane.ts), all real parts built
 * from Go modules by scripts/e2e-build.sh: etcd, kube-apiserver, kube-controller-manager,
 * kube-scheduler, kwok, source-controller and kustomize-controller, and the fleet served over Git
 * smart HTTP by `git http-backend`. Skipped, naming the missing binary, only when one is not built.
 */
import { strict as assert } from "assert";
import { execFileSync, spawn, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { freePort, tcpOpen } from "../../engine/util/net";
import { until } from "../helpers/wait";
import { defaultBin, LocalControlPlane, missingBinaries, missingBinary, readState, status } from "../../engine/localcluster/controlplane";

const BIN = defaultBin();
const missing = missingBinaries(BIN);
const REPO = path.resolve(__dirname, "../..");
const GITOPS = path.join(REPO, "bin", "gitops");

function skipUnlessBuilt(ctx: Mocha.Context) {
    if (Object.keys(missing).length) {
        console.log(`      skipped: not built: ${Object.keys(missing).join(", ")}\n        ${Object.values(missing).join("\n        ")}`);
        ctx.skip();
    }
}

const GIT_ENV = { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@example.com", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@example.com", GIT_CONFIG_GLOBAL: "/dev/null", GIT_CONFIG_NOSYSTEM: "1" };
const git = (args: string[], cwd?: string) => execFileSync("git", args, { cwd, encoding: "utf8", env: GIT_ENV, stdio: ["ignore", "pipe", "pipe"] }).trim();



function pidAlive(pid: number): boolean {
    try {
        process.kill(pid, 0);
        return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"));
    } catch {
        return false;
    }
}

/** Every pid and port a state records. */
function recorded(dir: string): { pids: number[]; ports: number[] } {
    const st = readState(dir)!;
    const ps = Object.values(st.pieces).filter(Boolean);
    return { pids: ps.map((p) => p!.pid), ports: ps.flatMap((p) => Object.values(p!.ports)) };
}

async function assertNothingLeft(pids: number[], ports: number[]) {
    assert.ok(pids.length >= 8, `pids recorded: ${pids.join(", ")}`);
    for (const pid of pids) assert.equal(pidAlive(pid), false, `process ${pid} still runs`);
    for (const port of ports) assert.equal(await tcpOpen(port), false, `port ${port} still open`);
}

/** A bare fleet repo <root>/fleet.git whose apps/ holds a ConfigMap and a Deployment. */
function fleetRepo(root: string, note: string): { bare: string; commit: string } {
    const bare = path.join(root, "fleet.git");
    if (!fs.existsSync(bare)) git(["init", "--bare", "--quiet", "--initial-branch=main", bare]);
    const w = fs.mkdtempSync(path.join(os.tmpdir(), "lc-work-"));
    git(["clone", "--quiet", bare, w]);
    git(["checkout", "-q", "-B", "main"], w);
    fs.mkdirSync(path.join(w, "apps"), { recursive: true });
    fs.writeFileSync(
        path.join(w, "apps", "app.yaml"),
        [
            "apiVersion: v1",
            "kind: Namespace",
            "metadata: {name: lc-app}",
            "---",
            "apiVersion: v1",
            "kind: ConfigMap",
            "metadata: {name: note, namespace: lc-app}",
            `data: {note: ${JSON.stringify(note)}}`,
            "---",
            "apiVersion: apps/v1",
            "kind: Deployment",
            "metadata: {name: web, namespace: lc-app}",
            "spec:",
            "  replicas: 1",
            "  selector: {matchLabels: {app: web}}",
            "  template:",
            "    metadata: {labels: {app: web}}",
            "    spec: {containers: [{name: web, image: registry.example.com/web:1.0.0}]}",
            "",
        ].join("\n"),
    );
    git(["add", "-A"], w);
    git(["commit", "--quiet", "-m", note], w);
    git(["push", "--quiet", "origin", "main"], w);
    fs.rmSync(w, { recursive: true, force: true });
    return { bare, commit: git(["rev-parse", "refs/heads/main"], bare) };
}

function cond(obj: any, type: string): { status?: string; reason?: string; message?: string } {
    return (obj?.status?.conditions ?? []).find((c: any) => c.type === type) ?? {};
}

describe("localcluster: the local control plane with real Flux (binaries from scripts/e2e-build.sh)", function () {
    this.timeout(600_000);
    let root: string;
    let cp: LocalControlPlane;
    let progress: string[];
    const timings: Record<string, number> = {};

    before(async function () {
        skipUnlessBuilt(this);
        root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-localcluster-"));
        fs.mkdirSync(path.join(root, "repos"));
        progress = [];
        const t0 = Date.now();
        cp = await LocalControlPlane.start({ dir: path.join(root, "cp"), fleetRoot: path.join(root, "repos"), progress: (l) => progress.push(l) });
        timings.startSeconds = (Date.now() - t0) / 1000;
        console.log(`      ${progress.join("\n      ")}`);
    });

    after(async function () {
        if (Object.keys(timings).length) console.log(`      timings: ${JSON.stringify(timings)}`);
        if (cp) await cp.stop();
        if (root && !process.env.GITOPS_E2E_KEEP) fs.rmSync(root, { recursive: true, force: true });
    });

    it("starts every piece in order, health-checked, with its state in the folder", async function () {
        const s = await status(cp.dir);
        const running = s.pieces.filter((p) => p.state === "running").map((p) => p.piece);
        for (const p of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "source-controller", "kustomize-controller", "fleet"]) {
            assert.ok(running.includes(p as any), `${p} running; got ${JSON.stringify(s.pieces)}`);
        }
        const st = readState(cp.dir)!;
        const order = Object.entries(st.pieces).map(([piece, p]) => ({ piece, at: Date.parse(p!.startedAt) }));
        assert.deepEqual(order.map((o) => o.piece), [...order].sort((a, b) => a.at - b.at).map((o) => o.piece), "started in order");
        for (const [piece, p] of Object.entries(st.pieces)) {
            assert.equal(typeof p!.readyMs, "number", `${piece} readyMs`);
            assert.ok(fs.statSync(p!.log).size > 0, `${piece} writes its own log`);
        }
        assert.ok(st.crds && st.crds.names.includes("gitrepositories.source.toolkit.fluxcd.io") && st.crds.names.includes("kustomizations.kustomize.toolkit.fluxcd.io"), JSON.stringify(st.crds));
        // The upstream CRDs carry their OpenAPI schema (not preserve-unknown-fields stand-ins).
        const crd = JSON.parse(await cp.kubectl(["get", "crd", "kustomizations.kustomize.toolkit.fluxcd.io", "-o", "json"]));
        const v1 = crd.spec.versions.find((v: any) => v.name === "v1");
        assert.ok(v1?.schema?.openAPIV3Schema?.properties?.spec?.properties?.interval, "the v1 schema declares spec.interval");
        // kube-controller-manager made the default ServiceAccount in a new namespace.
        await cp.kubectl(["create", "namespace", "lc-sa"]);
        await until("the default ServiceAccount in lc-sa", async () => ((await cp.kubectl(["get", "serviceaccount", "default", "-n", "lc-sa", "-o", "name"])).trim() || undefined));
        for (const p of Object.values(st.pieces)) timings[`${p!.log.replace(/^.*\//, "").replace(/\.log$/, "")}ReadyMs`] = p!.readyMs!;
    });

    it("a Deployment gets a Pod on the kwok Node that is Running and Ready, and the Deployment is Available", async function () {
        await cp.kubectl(["create", "namespace", "lc-kwok"]);
        await until("the default ServiceAccount in lc-kwok", async () => ((await cp.kubectl(["get", "serviceaccount", "default", "-n", "lc-kwok", "-o", "name"])).trim() || undefined));
        await cp.kubectl(["create", "deployment", "hello", "-n", "lc-kwok", "--image=registry.example.com/hello:1.0.0", "--replicas=2"]);
        const { value: pods, ms } = await until("2 Ready Pods", async () => {
            const items = JSON.parse(await cp.kubectl(["get", "pods", "-n", "lc-kwok", "-o", "json"])).items as any[];
            const ready = items.filter((p) => p.status?.phase === "Running" && cond(p, "Ready").status === "True");
            return ready.length === 2 ? ready : undefined;
        });
        timings.podsReadyMs = ms;
        for (const p of pods) assert.equal(p.spec.nodeName, "kwok-node-0", `${p.metadata.name} scheduled on the fake node`);
        const d = JSON.parse(await cp.kubectl(["get", "deployment", "hello", "-n", "lc-kwok", "-o", "json"]));
        await until("Deployment Available", async () => (cond(JSON.parse(await cp.kubectl(["get", "deployment", "hello", "-n", "lc-kwok", "-o", "json"])), "Available").status === "True" ? true : undefined));
        assert.ok(d.metadata.uid);
    });

    let commit = "";
    it("a GitRepository and a Kustomization on the fleet served over HTTP become Ready at main@sha1:<commit>, applied by the real kustomize-controller", async function () {
        commit = fleetRepo(path.join(root, "repos"), "first").commit;
        const url = `${cp.fleetUrl}/fleet.git`;
        // The fleet server answers Git's smart HTTP protocol.
        assert.match(git(["ls-remote", url, "refs/heads/main"]), new RegExp(`^${commit}\\s+refs/heads/main`));
        const t0 = Date.now();
        await cp.kubectl(
            ["apply", "-f", "-"],
            [
                "apiVersion: source.toolkit.fluxcd.io/v1",
                "kind: GitRepository",
                "metadata: {name: fleet, namespace: flux-system}",
                `spec: {interval: 1h, url: ${JSON.stringify(url)}, ref: {branch: main}}`,
                "---",
                "apiVersion: kustomize.toolkit.fluxcd.io/v1",
                "kind: Kustomization",
                "metadata: {name: apps, namespace: flux-system}",
                "spec: {interval: 1h, path: ./apps, prune: true, wait: true, timeout: 2m, sourceRef: {kind: GitRepository, name: fleet}}",
                "",
            ].join("\n"),
        );
        // Ready and at the commit: Flux's patch helper writes the conditions before the rest of the
        // status, so Ready=True can be read a moment before lastAppliedRevision (as the engine's wait knows).
        const { value: ks } = await until(`Kustomization apps Ready at main@sha1:${commit}`, async () => {
            const k = JSON.parse(await cp.kubectl(["get", "kustomizations.kustomize.toolkit.fluxcd.io", "apps", "-n", "flux-system", "-o", "json"]));
            if (cond(k, "Ready").status === "False" && cond(k, "Ready").reason !== "Progressing" && !/progress|waiting|dependency/i.test(cond(k, "Ready").message ?? "")) throw new Error(`Ready=False: ${cond(k, "Ready").reason}: ${cond(k, "Ready").message}`);
            if (cond(k, "Ready").status !== "True" || k.status?.lastAppliedRevision !== `main@sha1:${commit}`) throw new Error(`Ready=${cond(k, "Ready").status}, lastAppliedRevision ${k.status?.lastAppliedRevision ?? "<none>"}`);
            return k;
        });
        timings.kustomizationReadyMs = Date.now() - t0;
        assert.equal(cond(ks, "Ready").reason, "ReconciliationSucceeded");
        const gr = JSON.parse(await cp.kubectl(["get", "gitrepositories.source.toolkit.fluxcd.io", "fleet", "-n", "flux-system", "-o", "json"]));
        assert.equal(cond(gr, "Ready").status, "True");
        assert.equal(gr.status.artifact.revision, `main@sha1:${commit}`);
        assert.match(gr.status.artifact.url, new RegExp(`^http://127\\.0\\.0\\.1:${readState(cp.dir)!.pieces["source-controller"]!.ports.storage}/`));
        const cm = JSON.parse(await cp.kubectl(["get", "configmap", "note", "-n", "lc-app", "-o", "json", "--show-managed-fields"]));
        assert.equal(cm.data.note, "first");
        assert.deepEqual(cm.metadata.managedFields.map((m: any) => m.manager), ["kustomize-controller"]);
        assert.equal(cm.metadata.labels["kustomize.toolkit.fluxcd.io/name"], "apps");
        // wait: true — the Deployment it applied is healthy, through kwok's Pod.
        assert.equal(cond(JSON.parse(await cp.kubectl(["get", "deployment", "web", "-n", "lc-app", "-o", "json"])), "Available").status, "True");
    });

    it("a new commit, requested with reconcile.fluxcd.io/requestedAt, reaches the cluster", async function () {
        const next = fleetRepo(path.join(root, "repos"), "second").commit;
        assert.notEqual(next, commit);
        const t0 = Date.now();
        const at = new Date().toISOString();
        await cp.kubectl(["annotate", "--overwrite", "-n", "flux-system", "gitrepositories.source.toolkit.fluxcd.io/fleet", `reconcile.fluxcd.io/requestedAt=${at}`]);
        await cp.kubectl(["annotate", "--overwrite", "-n", "flux-system", "kustomizations.kustomize.toolkit.fluxcd.io/apps", `reconcile.fluxcd.io/requestedAt=${at}`]);
        await until(`apps at ${next}`, async () => {
            const k = JSON.parse(await cp.kubectl(["get", "kustomizations.kustomize.toolkit.fluxcd.io", "apps", "-n", "flux-system", "-o", "json"]));
            return k.status?.lastAppliedRevision === `main@sha1:${next}` ? true : undefined;
        });
        timings.commitAppliedMs = Date.now() - t0;
        assert.equal(JSON.parse(await cp.kubectl(["get", "configmap", "note", "-n", "lc-app", "-o", "json"])).data.note, "second");
    });

    it("stop leaves no process and no port behind", async function () {
        const { pids, ports } = recorded(cp.dir);
        const t0 = Date.now();
        await cp.stop();
        timings.stopSeconds = (Date.now() - t0) / 1000;
        await assertNothingLeft(pids, ports);
        assert.equal(readState(cp.dir), undefined, "the state file is removed");
    });
});

describe("localcluster: gitops local up|status|logs|down from other processes, and SIGINT", function () {
    this.timeout(600_000);
    let root: string;

    before(function () {
        skipUnlessBuilt(this);
        root = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-local-cli-"));
    });

    after(async function () {
        if (root) {
            spawnSync(process.execPath, [GITOPS, "local", "down", "--dir", path.join(root, "cp")], { encoding: "utf8" });
            spawnSync(process.execPath, [GITOPS, "local", "down", "--dir", path.join(root, "cp-int")], { encoding: "utf8" });
            spawnSync(process.execPath, [GITOPS, "local", "down", "--dir", path.join(root, "cp-up-int")], { encoding: "utf8" });
            fs.rmSync(root, { recursive: true, force: true });
        }
    });

    const gitops = (args: string[]) => spawnSync(process.execPath, [GITOPS, ...args], { cwd: root, encoding: "utf8", timeout: 300_000 });

    it("up returns with the pieces running; status and logs see them; down stops every one", async function () {
        const dir = path.join(root, "cp");
        fs.mkdirSync(path.join(root, "repos"));
        const up = gitops(["local", "up", "--dir", dir, "--fleet-root", path.join(root, "repos"), "--fleet-port", "0"]);
        assert.equal(up.status, 0, `up failed:\n${up.stdout}\n${up.stderr}`);
        for (const p of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "source-controller", "kustomize-controller", "fleet"]) {
            assert.match(up.stdout, new RegExp(`${p}\\s+ready in \\d+\\.\\ds`), `progress names ${p}`);
        }
        // Still running after the `up` process has exited.
        const st = gitops(["local", "status", "--dir", dir, "--json"]);
        assert.equal(st.status, 0, st.stdout + st.stderr);
        const json = JSON.parse(st.stdout);
        assert.equal(json.pieces.find((p: any) => p.piece === "kustomize-controller").state, "running");
        const again = gitops(["local", "up", "--dir", dir]);
        assert.equal(again.status, 1);
        assert.match(again.stderr, /already running from this folder.*gitops local down/);
        const logs = gitops(["local", "logs", "source-controller", "--dir", dir, "--lines", "5"]);
        assert.equal(logs.status, 0, logs.stderr);
        assert.match(logs.stdout, /==> .*source-controller\.log <==/);
        const bad = gitops(["local", "logs", "kubelet", "--dir", dir]);
        assert.equal(bad.status, 1);
        assert.match(bad.stderr, /unknown piece "kubelet".*one of etcd, kube-apiserver/);
        const kubeconfig = readState(dir)!.kubeconfig;
        const server = readState(dir)!.server;
        execFileSync("kubectl", ["--kubeconfig", kubeconfig, "create", "configmap", "kept", "-n", "default", "--from-literal=a=1"], { stdio: "pipe" });
        const { pids, ports } = recorded(dir);
        const down = gitops(["local", "down", "--dir", dir]);
        assert.equal(down.status, 0, down.stderr);
        assert.match(down.stdout, /stopped/);
        await assertNothingLeft(pids, ports);
        const none = gitops(["local", "status", "--dir", dir]);
        assert.equal(none.status, 3);
        assert.match(none.stdout, /no local control plane recorded/);
        // Up again from the same folder: same address (the kubeconfig stays valid), same data.
        const up2 = gitops(["local", "up", "--dir", dir, "--fleet-root", path.join(root, "repos"), "--fleet-port", "0"]);
        assert.equal(up2.status, 0, `second up failed:\n${up2.stdout}\n${up2.stderr}`);
        assert.equal(readState(dir)!.server, server);
        assert.equal(execFileSync("kubectl", ["--kubeconfig", kubeconfig, "get", "configmap", "kept", "-n", "default", "-o", "jsonpath={.data.a}"], { encoding: "utf8" }), "1");
        const again2 = recorded(dir);
        assert.equal(gitops(["local", "down", "--dir", dir]).status, 0);
        await assertNothingLeft(again2.pids, again2.ports);
        // --purge when nothing runs still deletes the data (a plane stopped by pulumi destroy leaves it).
        assert.ok(fs.existsSync(path.join(dir, "etcd-data")));
        const purge = gitops(["local", "down", "--dir", dir, "--purge"]);
        assert.equal(purge.status, 0, purge.stderr);
        assert.match(purge.stdout, /deleted the cluster's data.*\n.*no local control plane runs from/);
        for (const f of ["etcd-data", "artifacts", "certs", "kubeconfig"]) assert.ok(!fs.existsSync(path.join(dir, f)), `${f} is deleted`);
    });

    it("SIGINT while `gitops local up` is still starting stops what it started (detached pieces stay only after a start that finished)", async function () {
        const dir = path.join(root, "cp-up-int");
        const child = spawn(process.execPath, [GITOPS, "local", "up", "--dir", dir, "--fleet-root", path.join(root, "repos-int"), "--fleet-port", "0"], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        // Interrupted once the API server runs: the later pieces are not started yet.
        await until("kube-apiserver ready", async () => (/kube-apiserver\s+ready/.test(out) ? true : child.exitCode !== null ? Promise.reject(new Error(out)) : undefined), 300_000, 50);
        const { pids } = recorded(dir);
        assert.ok(pids.length >= 2, `pieces running before the interrupt: ${pids.join(", ")}`);
        const exited = new Promise((r) => child.once("exit", (code, sig) => r(sig ?? code)));
        child.kill("SIGINT");
        assert.equal(await exited, "SIGINT", `the process ends by the signal it got:\n${out}`);
        for (const pid of pids) assert.equal(pidAlive(pid), false, `process ${pid} still runs after the interrupted start`);
        assert.equal(readState(dir), undefined, "no state left: `gitops local status` sees nothing running");
    });

    it("SIGINT to a process that started it attached stops every piece", async function () {
        const dir = path.join(root, "cp-int");
        const script = `require(${JSON.stringify(require.resolve("sucrase/register/ts"))});
            require(${JSON.stringify(path.join(REPO, "engine/localcluster/controlplane.ts"))}).LocalControlPlane.start({ dir: ${JSON.stringify(dir)} })
              .then(() => console.log("READY"), (e) => { console.error(e.message); process.exit(2); });
            setInterval(() => {}, 1000);`;
        const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "pipe"] });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        await until("READY", async () => (out.includes("READY") ? true : child.exitCode !== null ? Promise.reject(new Error(out)) : undefined), 300_000);
        const { pids, ports } = recorded(dir);
        const exited = new Promise((r) => child.once("exit", (code, sig) => r(sig ?? code)));
        child.kill("SIGINT");
        assert.equal(await exited, "SIGINT", "the process ends by the signal it got");
        await assertNothingLeft(pids, ports);
    });
});

describe("localcluster: ports", function () {
    // CI once gave notification-controller the same port for --health-addr and --events-addr:
    // the kernel may hand one ephemeral port to two binds in a row.
    it("freePort never hands out the same port twice in one process", async function () {
        const seen = new Set<number>();
        for (let i = 0; i < 2000; i++) {
            const p = await freePort();
            assert.ok(!seen.has(p), `port ${p} handed out twice (call ${i + 1})`);
            seen.add(p);
        }
    });
});

describe("localcluster: pieces \"api\" (etcd and kube-apiserver only)", function () {
    it("asks only for etcd and kube-apiserver when they are missing, and starts nothing", async function () {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-local-api-"));
        try {
            const bin = path.join(dir, "bin");
            fs.mkdirSync(bin);
            const err = await LocalControlPlane.start({ dir: path.join(dir, "cp"), bin, pieces: "api" }).then(
                () => assert.fail("started without binaries"),
                (e: Error) => e,
            );
            assert.match(err.message, /etcd is not built/);
            assert.match(err.message, /kube-apiserver is not built/);
            assert.doesNotMatch(err.message, /kwok|controller/, "only the two API pieces are asked for");
            assert.strictEqual(readState(path.join(dir, "cp")), undefined, "no state written");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("starts etcd and kube-apiserver only; the API answers; stop leaves nothing", async function () {
        if (missingBinary(BIN, "etcd") || missingBinary(BIN, "kube-apiserver")) {
            console.log(`      skipped: ${missingBinary(BIN, "etcd") ?? missingBinary(BIN, "kube-apiserver")}`);
            return this.skip();
        }
        this.timeout(120_000);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-local-api-"));
        const cp = await LocalControlPlane.start({ dir, bin: BIN, pieces: "api" });
        try {
            assert.deepStrictEqual(Object.keys(readState(dir)!.pieces), ["etcd", "kube-apiserver"]);
            assert.match(await cp.kubectl(["get", "namespace", "default", "-o", "name"]), /^namespace\/default$/m);
            assert.strictEqual((await cp.kubectl(["get", "crd", "-o", "name"])).trim(), "", "no Flux CRDs in api mode");
        } finally {
            const pids = Object.values(readState(dir)?.pieces ?? {}).map((p) => p!.pid);
            await cp.stop();
            for (const pid of pids) assert.ok(!pidAlive(pid), `pid ${pid} still running after stop`);
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
    it("a file where the state folder or the fleet root should be: refused naming it, and no folder made", async function () {
        if (missingBinary(BIN, "etcd") || missingBinary(BIN, "kube-apiserver")) return this.skip();
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-local-api-"));
        try {
            fs.writeFileSync(path.join(dir, "afile"), "x");
            const refused = (opts: { dir: string; fleetRoot?: string }) =>
                LocalControlPlane.start({ ...opts, bin: BIN, pieces: "api" }).then(
                    async (cp) => {
                        await cp.stop();
                        assert.fail("started");
                    },
                    (e: Error) => e.message,
                );
            assert.match(await refused({ dir: path.join(dir, "afile") }), /afile: the state folder \(--dir, \$GITOPS_LOCAL_DIR\) is not a folder: it is a file/);
            assert.match(await refused({ dir: path.join(dir, "cp"), fleetRoot: path.join(dir, "afile", "repos") }), /afile\/repos: the fleet root \(--fleet-root\) is not a folder: .*afile is a file/);
            assert.deepStrictEqual(fs.readdirSync(dir), ["afile"], "no folder made");
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });

    it("a port another process holds (bound, not listening) makes the piece start again on a new one", async function () {
        if (missingBinary(BIN, "etcd") || missingBinary(BIN, "kube-apiserver")) return this.skip();
        this.timeout(180_000);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-local-api-"));
        // ports.json from an earlier start names etcd's client port; another process now holds it
        // without listening, so the reuse check (nothing listens) passes and etcd's bind fails.
        const held = await freePort();
        const holder = spawn("perl", ["-MSocket", "-e", `$|=1; socket(S,PF_INET,SOCK_STREAM,0) or die; bind(S, sockaddr_in(${held}, inet_aton("127.0.0.1"))) or die "bind: $!"; print "bound\\n"; sleep 600`], { stdio: ["ignore", "pipe", "inherit"] });
        await new Promise<void>((r) => holder.stdout!.once("data", () => r()));
        fs.writeFileSync(path.join(dir, "ports.json"), JSON.stringify({ etcd: { client: held } }));
        const lines: string[] = [];
        let cp: LocalControlPlane | undefined;
        try {
            cp = await LocalControlPlane.start({ dir, bin: BIN, pieces: "api", progress: (l) => lines.push(l) });
            assert.ok(lines.some((l) => /etcd: a port was taken by another process/.test(l)), lines.join("\n"));
            assert.notStrictEqual(JSON.parse(fs.readFileSync(path.join(dir, "ports.json"), "utf8")).etcd.client, held);
            assert.match(await cp.kubectl(["get", "namespace", "default", "-o", "name"]), /^namespace\/default$/m);
        } finally {
            await cp?.stop();
            holder.kill("SIGKILL");
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("localcluster: the state folder lets another process see and stop the pieces (no binaries needed)", function () {
    let dir: string;
    before(() => {
        dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-local-state-"));
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it("status names running and stopped pieces; down stops them in reverse order, TERM-ignoring ones with SIGKILL", async function () {
        this.timeout(60_000);
        // Stand-ins for two pieces: real processes; one ignores SIGTERM.
        const polite = spawn("sleep", ["300"], { detached: true, stdio: "ignore" });
        const stubborn = spawn("bash", ["-c", "trap '' TERM; while :; do sleep 0.1; done"], { detached: true, stdio: "ignore" });
        const gone = spawn("true", [], { stdio: "ignore" });
        await new Promise((r) => gone.once("exit", r));
        const piece = (pid: number, exe: string) => ({ pid, exe, ports: {}, log: path.join(dir, "x.log"), startedAt: new Date().toISOString(), readyMs: 1 });
        const state = {
            version: 1,
            dir,
            bin: "/nonexistent",
            kubeconfig: path.join(dir, "kubeconfig"),
            server: "https://127.0.0.1:1",
            fleetUrl: "http://127.0.0.1:2",
            fleetRoot: dir,
            pieces: { etcd: piece(polite.pid!, "/usr/bin/sleep"), "kube-apiserver": piece(stubborn.pid!, "/usr/bin/bash"), kwok: piece(gone.pid!, "/usr/bin/true") },
            skipped: { "helm-controller": "not built" },
        };
        fs.writeFileSync(path.join(dir, "state.json"), JSON.stringify(state));
        const s = await status(dir);
        const by = Object.fromEntries(s.pieces.map((p) => [p.piece, p.state]));
        assert.equal(by.etcd, "running");
        assert.equal(by["kube-apiserver"], "running");
        assert.equal(by.kwok, "stopped");
        assert.equal(by["helm-controller"], "skipped");
        assert.equal(by["source-controller"], "not started");
        const st = spawnSync(process.execPath, [GITOPS, "local", "status", "--dir", dir], { encoding: "utf8" });
        assert.equal(st.status, 1, "a stopped piece makes status exit 1");
        assert.match(st.stdout, /kwok\s+stopped/);
        const t0 = Date.now();
        const down = spawnSync(process.execPath, [GITOPS, "local", "down", "--dir", dir], { encoding: "utf8", timeout: 60_000 });
        assert.equal(down.status, 0, down.stderr);
        assert.match(down.stdout, /kube-apiserver\s+killed/);
        assert.match(down.stdout, /etcd\s+stopped/);
        assert.ok(down.stdout.indexOf("kube-apiserver") < down.stdout.indexOf("etcd"), `reverse order:\n${down.stdout}`);
        assert.ok(Date.now() - t0 >= 10_000, "SIGKILL only after the grace period");
        for (const p of [polite, stubborn]) assert.equal(pidAlive(p.pid!), false, `pid ${p.pid} left running`);
        assert.equal(readState(dir), undefined);
    });

    it("a recycled pid running another program is never signalled", async function () {
        this.timeout(30_000);
        const other = spawn("sleep", ["300"], { detached: true, stdio: "ignore" });
        try {
            fs.writeFileSync(
                path.join(dir, "state.json"),
                JSON.stringify({ version: 1, dir, bin: "/x", kubeconfig: "", server: "", fleetUrl: "", fleetRoot: dir, skipped: {}, pieces: { etcd: { pid: other.pid, exe: "/var/cache/gitops-e2e/bin/etcd", ports: {}, log: "", startedAt: new Date().toISOString() } } }),
            );
            assert.equal((await status(dir)).pieces.find((p) => p.piece === "etcd")!.state, "stopped");
            const down = spawnSync(process.execPath, [GITOPS, "local", "down", "--dir", dir], { encoding: "utf8" });
            assert.equal(down.status, 0, down.stderr);
            assert.equal(pidAlive(other.pid!), true, "the unrelated process still runs");
        } finally {
            other.kill("SIGKILL");
        }
    });
});
