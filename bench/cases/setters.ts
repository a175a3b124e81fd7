/**
 * BENCH setters-2000-files (and setters-10000-files for growth): apply image-policy setter
 * markers over a generated fleet repo in which 10% of the YAML files carry markers.
 *
 * ours: engine/images/setters.updateWithSetters, in process.
 * peer: bench/peers/setters, a Go program doing what Flux's image-automation-controller does
 *       (kyaml ByteReader + fieldmeta setters + LocalPackageWriter), built here with `go build`.
 * Each side gets its own fresh copy of the same tree for every run (copying is not timed), and
 * the two outputs are checked to hold the same values before anything is reported. Besides the
 * BENCH lines (wall time, best of N), CPU lines give user+system CPU seconds of each side (ours
 * from process.cpuUsage around the call, the peer's own getrusage), which a loaded machine
 * disturbs far less than wall time.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { parseImageRef, PolicyLatest, updateWithSetters } from "../../engine/images/setters";
import { report } from "../lib";

const APPS = 40;
const POLICIES: Array<[string, string]> = [];
for (let i = 0; i < APPS; i++) POLICIES.push([`apps:app-${i}`, `ghcr.io/org/app-${i}:v2.${i}.0`]);

function deployment(i: number, marked: boolean): string {
    const app = `app-${i % APPS}`;
    const m = (s: string) => (marked ? ` # {"$imagepolicy": "apps:${app}${s}"}` : "");
    return `# generated ${i}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${app}-${i}
  namespace: apps
  labels:
    app.kubernetes.io/name: ${app}
    app.kubernetes.io/part-of: fleet
spec:
  replicas: 2
  selector:
    matchLabels:
      app: ${app}-${i}
  template:
    metadata:
      labels:
        app: ${app}-${i}
      annotations:
        prometheus.io/scrape: "true"
    spec:
      containers:
        - name: main
          image: ghcr.io/org/${app}:v1.0.0${m("")}
          args: ["--port=8080", "--log-level=info"]
          ports:
            - containerPort: 8080
              name: http
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {memory: 128Mi}
          env:
            - name: VERSION
              value: v1.0.0${m(":tag")}
        - name: sidecar
          image: docker.io/library/busybox:1.36
---
apiVersion: v1
kind: Service
metadata:
  name: ${app}-${i}
  namespace: apps
spec:
  selector:
    app: ${app}-${i}
  ports:
    - port: 80
      targetPort: http
`;
}

export function generate(root: string, files: number): void {
    for (let i = 0; i < files; i++) {
        const dir = path.join(root, "clusters", `c${i % 10}`, `ns-${Math.floor(i / 10) % 20}`);
        fs.mkdirSync(dir, { recursive: true });
        fs.writeFileSync(path.join(dir, `app-${i}.yaml`), deployment(i, i % 10 === 0));
    }
    fs.writeFileSync(path.join(root, "README.md"), "fleet\n");
}

function buildPeer(work: string): string | undefined {
    const src = path.join(__dirname, "..", "peers", "setters");
    const bin = path.join(work, "setters-peer");
    const r = spawnSync("go", ["build", "-o", bin, "."], { cwd: src, stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
    if (r.status !== 0) {
        process.stderr.write(`setters bench: peer not built (${r.error?.message ?? r.stderr.trim()}); reporting ours only\n`);
        return undefined;
    }
    return bin;
}

/** Parsed documents of every changed .yaml file, to compare the two sides by value. */
function values(root: string, files: string[]): string {
    return files.map((f) => JSON.stringify(YAML.parseAllDocuments(fs.readFileSync(path.join(root, f), "utf8")).map((d) => d.toJS()))).join("\n");
}

interface Timing {
    ours: number;
    peer?: number;
    /** CPU seconds (user+system, all threads), far less sensitive to a loaded machine than wall time. */
    oursCpu: number;
    peerCpu?: number;
}

function run(files: number, work: string, peerBin: string | undefined, repeat = 3): Timing {
    const pristine = path.join(work, `pristine-${files}`);
    generate(pristine, files);
    const policies: PolicyLatest[] = POLICIES.map(([k, ref]) => {
        const [namespace, name] = k.split(":");
        return { namespace, name, latest: parseImageRef(ref, k) };
    });
    let ours = Infinity;
    let peer: number | undefined;
    let oursCpu = Infinity;
    let peerCpu: number | undefined;
    let changed: string[] = [];
    for (let i = 0; i < repeat; i++) {
        const a = path.join(work, `ours-${files}-${i}`);
        fs.cpSync(pristine, a, { recursive: true });
        const c0 = process.cpuUsage();
        const t0 = process.hrtime.bigint();
        const res = updateWithSetters(a, policies);
        ours = Math.min(ours, Number(process.hrtime.bigint() - t0) / 1e9);
        const c1 = process.cpuUsage(c0);
        oursCpu = Math.min(oursCpu, (c1.user + c1.system) / 1e6);
        changed = [...res.files.keys()];
        if (res.changes.length !== (files / 10) * 2) throw new Error(`ours changed ${res.changes.length} values, expected ${(files / 10) * 2}`);
        if (peerBin) {
            const b = path.join(work, `peer-${files}-${i}`);
            fs.cpSync(pristine, b, { recursive: true });
            const args = ["-cpu", b, ...POLICIES.map(([k, ref]) => `${k}=${ref}`)];
            const t1 = process.hrtime.bigint();
            const r = spawnSync(peerBin, args, { stdio: ["ignore", "ignore", "pipe"] });
            const dt = Number(process.hrtime.bigint() - t1) / 1e9;
            if (r.status !== 0) throw new Error(`peer failed: ${r.stderr}`);
            peer = Math.min(peer ?? Infinity, dt);
            const cpu = /cpu_seconds=([0-9.]+)/.exec(String(r.stderr));
            if (cpu) peerCpu = Math.min(peerCpu ?? Infinity, Number(cpu[1]));
            if (i === 0 && values(a, changed) !== values(b, changed)) throw new Error("ours and the peer disagree on the updated values");
            fs.rmSync(b, { recursive: true, force: true });
        }
        fs.rmSync(a, { recursive: true, force: true });
    }
    return { ours, peer, oursCpu, peerCpu };
}

function reportCpu(name: string, t: Timing): void {
    const peer = t.peerCpu === undefined ? "n/a" : t.peerCpu.toFixed(4);
    const ratio = t.peerCpu === undefined ? "n/a" : (t.peerCpu / t.oursCpu).toFixed(2);
    console.log(`CPU ${name} ours=${t.oursCpu.toFixed(4)} peer=${peer} ratio=${ratio}`);
}

function main(): void {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "bench-setters-"));
    try {
        const peerBin = process.env.SETTERS_NO_PEER ? undefined : buildPeer(work);
        const small = run(2000, work, peerBin, 5);
        report("setters-2000-files", small.ours, small.peer);
        reportCpu("setters-2000-files", small);
        const large = run(10000, work, peerBin, 2);
        report("setters-10000-files", large.ours, large.peer);
        reportCpu("setters-10000-files", large);
        const g = (a: number, b?: number) => (b === undefined ? "n/a" : (b / a).toFixed(2));
        console.log(`GROWTH setters 2000->10000 files (x5): ours x${g(small.ours, large.ours)} peer x${g(small.peer ?? NaN, large.peer)}`);
    } finally {
        fs.rmSync(work, { recursive: true, force: true });
    }
}

if (require.main === module) main();
