/**
 * What a stack and the tests need on this machine, present or missing, each with the command that
 * fixes it: the one home of these rules, used by `gitops check` (like `flux check --pre`), by
 * `npm test`'s pretest step (`gitops check --tests --install`) and by `npm run up` (scripts/up.sh
 * reads the plan `gitops check --plan FILE` writes). No Pulumi imports.
 *
 * The cluster a stack needs follows its gitops:cluster.kind:
 *   none      Git only (the fleet repo is rendered and committed, no cluster)
 *   k3d/kind  a reachable Docker engine (not only the docker CLI) and k3d/kind, plus kubectl; when
 *             either is missing, `npm run up` runs the local control plane instead (kind local)
 *   local     the control plane built from Go modules into the e2e cache (etcd, kube-apiserver,
 *             controller-manager, scheduler, kwok, source-/kustomize-controller), or Go to build it
 *   existing  kubectl and a kubeconfig;  aks  the Azure CLI
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { findPulumi, PulumiCli, PULUMI_PIECES } from "./pulumi";
import type { CheckContext } from "./tools";
import { isExecutable, runQuiet, versionAtLeast, versionIn, which } from "./tools";
import { BINARIES, OPTIONAL, Piece } from "../localcluster/controlplane";

export type State = "ok" | "missing" | "to build";

export interface Finding {
    /** Short name: "docker-registry", "Docker engine", "kube-apiserver". */
    name: string;
    state: State;
    /** The version and where it is, or why it is missing. */
    detail: string;
    /** The command (or step) that fixes it. */
    fix: string;
    /** The Debian package that provides it, when one does (`--install` uses it as root). */
    apt?: string;
    /** Shown for information: something else stands in for it (the local control plane for Docker). */
    optional?: boolean;
}

export interface Section {
    title: string;
    /** Whether a missing finding here makes `gitops check` fail. */
    required: boolean;
    findings: Finding[];
    /** Said under the findings (e.g. which cluster `npm run up` will use). */
    notes: string[];
}

/** What `npm run up` will do, for scripts/up.sh. */
export interface UpPlan {
    stack: string;
    /** gitops:cluster.kind as written in Pulumi.<stack>.yaml. */
    configuredKind: string;
    /** The cluster `npm run up` runs: the configured kind, or "local" when Docker/k3d are missing. */
    kind: string;
    /** Why kind differs from configuredKind. */
    reason?: string;
    pulumi?: PulumiCli;
    /** scripts/e2e-build.sh pieces to build before `pulumi up`. */
    build: string[];
    /** The folder the built binaries live in. */
    bin: string;
    /** How long the build is likely to take, and what that figure rests on. */
    buildEstimate: string;
}

export interface Report {
    sections: Section[];
    /** Every required section has nothing missing ("to build" is fine: `npm run up` builds it). */
    ok: boolean;
    plan?: UpPlan;
}

export type { CheckContext };

export function defaultContext(projectDir: string, env: NodeJS.ProcessEnv = process.env): CheckContext {
    return {
        env,
        projectDir,
        bin: path.resolve(env.GITOPS_E2E_BIN || path.join(env.GITOPS_E2E_CACHE || "/var/cache/gitops-e2e", "bin")),
        home: env.HOME || os.homedir(),
    };
}

/**
 * The local control plane's binaries, with the scripts/e2e-build.sh piece that builds each (the
 * contract with engine/localcluster/controlplane.ts, which starts them).
 */
/** The local control plane's required binaries (its optional ones left out), with the build piece of each. */
export const LOCAL_BINARIES: Record<string, string> = Object.fromEntries(Object.entries(BINARIES).filter(([name]) => !OPTIONAL.has(name as Piece)));

const APT = (pkgs: string) => `apt-get install -y ${pkgs}`;

// ---------------------------------------------------------------- one probe per tool

export async function probeNode(ctx: CheckContext): Promise<Finding> {
    const pinned = String(readPackageJson(ctx.projectDir).dependencies?.node ?? "");
    const ours = path.join(ctx.projectDir, "node_modules", "node", "bin", "node");
    const fix = "npm ci (installs Node " + (pinned || "24") + " from the npm `node` package; npm scripts and gitops run on it)";
    if (!isExecutable(ours)) return { name: "node", state: "missing", detail: `${path.relative(ctx.projectDir, ours)} is not installed`, fix };
    const r = await runQuiet(ours, ["--version"], { env: ctx.env });
    const v = versionIn(r.stdout);
    if (!r.ok || !v) return { name: "node", state: "missing", detail: `${ours} does not run: ${r.failure ?? r.stderr.trim()}`, fix };
    if (pinned && v !== pinned) return { name: "node", state: "missing", detail: `${ours} is ${v}, package.json pins ${pinned}`, fix };
    return { name: "node", state: "ok", detail: `${v} (node_modules/.bin/node; npm scripts and gitops run on it)`, fix };
}

/** A tool found on PATH that prints its version with `args`; `apt` is its Debian package. */
async function probeVersion(ctx: CheckContext, name: string, args: string[], fix: string, apt?: string, parse = versionIn): Promise<Finding> {
    const file = which(name, ctx.env);
    if (!file) return { name, state: "missing", detail: "not found on PATH", fix, apt };
    const r = await runQuiet(file, args, { env: ctx.env });
    const v = parse(r.stdout + "\n" + r.stderr);
    if (!r.ok && !v) return { name, state: "missing", detail: `${file} does not run: ${r.failure ?? firstLine(r.stderr)}`, fix, apt };
    return { name, state: "ok", detail: `${v ?? "?"} (${file})`, fix, apt };
}

export const probeGit = (ctx: CheckContext) => probeVersion(ctx, "git", ["--version"], APT("git"), "git");

export const probeKubectl = (ctx: CheckContext) =>
    probeVersion(ctx, "kubectl", ["version", "--client", "-o", "json"], `${APT("kubectl")} (or see https://kubernetes.io/docs/tasks/tools/)`, "kubectl", (t) => {
        const m = /"gitVersion":\s*"v?([^"]+)"/.exec(t);
        return m?.[1];
    });

export async function probeSshKeygen(ctx: CheckContext): Promise<Finding> {
    const file = which("ssh-keygen", ctx.env);
    const fix = APT("openssh-client");
    return file ? { name: "ssh-keygen", state: "ok", detail: file, fix, apt: "openssh-client" } : { name: "ssh-keygen", state: "missing", detail: "not found on PATH", fix, apt: "openssh-client" };
}

export const probeDockerRegistry = (ctx: CheckContext) =>
    probeVersion(ctx, "docker-registry", ["--version"], APT("docker-registry"), "docker-registry");

/** The oldest Go the e2e harness modules accept: the highest `go` line of their go.mod files. */
export function goFloor(projectDir: string): string {
    const harness = path.join(projectDir, "test", "e2e", "harness");
    let floor = "1.22";
    for (const dir of safeReaddir(harness)) {
        const text = safeRead(path.join(harness, dir, "go.mod"));
        const v = /^go\s+(\d+\.\d+(?:\.\d+)?)\s*$/m.exec(text)?.[1];
        if (v && versionAtLeast(v, floor)) floor = v;
    }
    return floor;
}

export async function probeGo(ctx: CheckContext): Promise<Finding> {
    const floor = goFloor(ctx.projectDir);
    const fix = `install Go ${floor} or newer (https://go.dev/doc/install; Debian's golang-go is older)`;
    const f = await probeVersion(ctx, "go", ["version"], fix, undefined, (t) => /go(\d+\.\d+(?:\.\d+)?)/.exec(t)?.[1]);
    const v = versionIn(f.detail);
    if (f.state === "ok" && v && !versionAtLeast(v, floor)) return { ...f, state: "missing", detail: `${f.detail} is older than ${floor}` };
    return f;
}

/** The Docker engine answers (the docker CLI alone is not enough: k3d and kind need the daemon). */
export async function probeDockerEngine(ctx: CheckContext): Promise<Finding> {
    const name = "Docker engine";
    const fix = `${APT("docker.io")}, then start it: systemctl start docker (or \`dockerd &\`)`;
    const file = which("docker", ctx.env);
    if (!file) return { name, state: "missing", detail: "the docker CLI is not on PATH", fix };
    const r = await runQuiet(file, ["version", "--format", "{{.Server.Version}}"], { env: ctx.env, timeoutMs: 10_000 });
    const server = r.stdout.trim();
    if (r.ok && server) return { name, state: "ok", detail: `server ${server} (${file})`, fix };
    return { name, state: "missing", detail: `${file} is there, but no engine answers: ${r.failure ?? firstLine(r.stderr) ?? "no server version"}`, fix };
}

export const probeK3d = (ctx: CheckContext) =>
    probeVersion(ctx, "k3d", ["version"], "curl -s https://raw.githubusercontent.com/k3d-io/k3d/main/install.sh | bash (https://k3d.io)");

export const probeKind = (ctx: CheckContext) => probeVersion(ctx, "kind", ["version"], "go install sigs.k8s.io/kind@latest (https://kind.sigs.k8s.io)");

export async function probeAz(ctx: CheckContext): Promise<Finding> {
    const file = which("az", ctx.env);
    const fix = "install the Azure CLI (https://learn.microsoft.com/cli/azure/install-azure-cli-linux), then `az login`";
    return file ? { name: "az", state: "ok", detail: file, fix } : { name: "az", state: "missing", detail: "not found on PATH", fix };
}

/** One e2e-cache binary: built (status ok), or to build when Go is there, else missing. */
export function probeBuilt(ctx: CheckContext, name: string, piece: string, goOk: boolean): Finding {
    const file = path.join(ctx.bin, name);
    const fix = `bash scripts/e2e-build.sh ${piece}`;
    if (isExecutable(file)) return { name, state: "ok", detail: file, fix };
    const status = firstLine(safeRead(path.join(ctx.bin, "status", name)));
    const why = `${file} is not built${status ? ` (last build: ${status})` : ""}`;
    return goOk ? { name, state: "to build", detail: why, fix } : { name, state: "missing", detail: `${why}, and Go is missing to build it`, fix: `install Go, then ${fix}` };
}

// ---------------------------------------------------------------- sections

/** What `npm test` needs. */
export async function testSection(ctx: CheckContext, required: boolean): Promise<Section> {
    const findings = await Promise.all([probeNode(ctx), probeGit(ctx), probeKubectl(ctx), probeSshKeygen(ctx), probeDockerRegistry(ctx)]);
    return { title: "npm test", required, findings, notes: [] };
}

export interface StackInfo {
    stack: string;
    /** gitops:cluster.kind (a string: kinds the schema does not know yet are reported, not refused). */
    kind: string;
    /** The stack file, for messages. */
    file: string;
    existing?: { kubeconfigPath?: string; secretSet: boolean };
}

/** What `npm run up` needs for a stack, and the plan it follows. */
export async function upSection(ctx: CheckContext, info: StackInfo): Promise<{ section: Section; plan: UpPlan }> {
    const findings: Finding[] = [];
    const notes: string[] = [];
    const [node, git, go] = await Promise.all([probeNode(ctx), probeGit(ctx), probeGo(ctx)]);
    const goOk = go.state === "ok";
    findings.push(node, git);

    const pulumi = findPulumi(ctx);
    const build: string[] = [];
    if (pulumi) findings.push({ name: "pulumi", state: "ok", detail: `${pulumi.version ?? ""} ${pulumi.path} (${pulumi.source})`.trim(), fix: "" });
    else {
        const offline = "curl -fsSL https://get.pulumi.com | sh";
        findings.push({
            name: "pulumi",
            state: goOk ? "to build" : "missing",
            detail: `not on PATH, nor in ~/.pulumi; \`npm run up\` tries the npm pulumi package's download, then ${goOk ? "builds it from Go modules" : "needs Go to build it"}`,
            fix: goOk ? `bash scripts/e2e-build.sh ${PULUMI_PIECES.join(" ")}` : `${offline}, or install Go and run \`bash scripts/e2e-build.sh ${PULUMI_PIECES.join(" ")}\``,
        });
        if (goOk) build.push(...PULUMI_PIECES);
    }

    let kind = info.kind;
    let reason: string | undefined;
    const localFindings = async (): Promise<Finding[]> => {
        const out = [await probeKubectl(ctx)];
        for (const [name, piece] of Object.entries(LOCAL_BINARIES)) {
            const f = probeBuilt(ctx, name, piece, goOk);
            out.push(f);
            if (f.state === "to build" && !build.includes(piece)) build.push(piece);
        }
        // kwok's stage configs (node-initialize, pod-ready, ...) come with the kwok piece.
        const stages = path.join(ctx.bin, "kwok-stages.yaml");
        if (fs.existsSync(stages)) out.push({ name: "kwok-stages.yaml", state: "ok", detail: stages, fix: "bash scripts/e2e-build.sh kwok" });
        else {
            out.push({ name: "kwok-stages.yaml", state: goOk ? "to build" : "missing", detail: `${stages} is not there`, fix: "bash scripts/e2e-build.sh kwok" });
            if (goOk && !build.includes("kwok")) build.push("kwok");
        }
        return out;
    };
    if (info.kind === "k3d" || info.kind === "kind") {
        const docker = await probeDockerEngine(ctx);
        const tool = info.kind === "k3d" ? await probeK3d(ctx) : await probeKind(ctx);
        const kubectl = await probeKubectl(ctx);
        const direct = [docker, tool, kubectl];
        const missing = direct.filter((f) => f.state !== "ok");
        if (missing.length === 0) findings.push(...direct);
        else {
            // The embedded default must run on a machine without Docker: the local control plane.
            const local = await localFindings();
            kind = "local";
            reason = `${missing.map((f) => f.name).join(" and ")} ${missing.length > 1 ? "are" : "is"} missing`;
            // Shown, but not required: the local control plane stands in for them.
            for (const f of [docker, tool]) findings.push({ ...f, optional: true });
            findings.push(...local);
            notes.push(`cluster: ${info.file} says gitops:cluster.kind ${info.kind}, but ${reason}: \`npm run up\` runs the local control plane (cluster.kind local) instead`);
        }
    } else if (info.kind === "local") {
        findings.push(...(await localFindings()));
    } else if (info.kind === "existing") {
        findings.push(await probeKubectl(ctx));
        const p = info.existing?.kubeconfigPath;
        if (p) {
            const ok = fs.existsSync(path.resolve(ctx.projectDir, p));
            findings.push({ name: "kubeconfig", state: ok ? "ok" : "missing", detail: ok ? p : `${p} (gitops:cluster.existing.kubeconfigPath) does not exist`, fix: `point gitops:cluster.existing.kubeconfigPath at a kubeconfig file` });
        } else {
            findings.push({
                name: "kubeconfig",
                state: info.existing?.secretSet ? "ok" : "missing",
                detail: info.existing?.secretSet ? "gitops:kubeconfig is set (secret)" : "neither gitops:kubeconfig nor gitops:cluster.existing.kubeconfigPath is set",
                fix: `pulumi config set --secret gitops:kubeconfig "$(cat ~/.kube/config)" --stack ${info.stack}`,
            });
        }
    } else if (info.kind === "aks") {
        findings.push(await probeAz(ctx));
    }
    if (build.length) findings.push({ ...go, detail: `${go.detail} [builds ${build.join(", ")}]` });
    else if (kind === "local" || !pulumi) findings.push(go);
    if (kind === "none") notes.push("cluster: none (gitops:cluster.kind none): `npm run up` renders and commits the fleet repo; no cluster");

    const section: Section = { title: `npm run up (stack ${info.stack}, cluster.kind ${info.kind})`, required: true, findings, notes };
    return { section, plan: { stack: info.stack, configuredKind: info.kind, kind, reason, pulumi, build, bin: ctx.bin, buildEstimate: buildEstimate(ctx, build) } };
}

/**
 * Rough cold-build minutes per scripts/e2e-build.sh piece, used only when this machine has no
 * record of its own (bin/status/<binary> says "ok (built in Ns)"). Measured in a cold `.ci/run` on
 * this project's machine kind (2 cores, empty Go caches, two builds at a time beside `npm test`;
 * test/e2e/README.md): kube 28 min (etcd 5, kube-apiserver 19, controller-manager 4), flux 27,
 * pulumi 13, kwok 4, langhost 1.3. The script builds two pieces at once, so the sum is an upper
 * bound.
 */
export const COLD_BUILD_MINUTES: Record<string, number> = { kube: 28, kwok: 4, flux: 27, pulumi: 13, langhost: 2 };

/** Binaries per scripts/e2e-build.sh piece (for the records in bin/status). */
function binariesOf(piece: string): string[] {
    const all: Record<string, string> = { ...LOCAL_BINARIES, pulumi: "pulumi", "pulumi-language-nodejs": "langhost" };
    return Object.keys(all).filter((b) => all[b] === piece);
}

/** "about N min (...)": this machine's own records where it has them, else the figures above. */
export function buildEstimate(ctx: CheckContext, pieces: string[]): string {
    if (!pieces.length) return "";
    let seconds = 0;
    const measured: string[] = [];
    const guessed: string[] = [];
    for (const piece of pieces) {
        const records = binariesOf(piece).map((b) => /built in (\d+)s/.exec(safeRead(path.join(ctx.bin, "status", b)))?.[1]);
        if (records.length && records.every((r) => r !== undefined)) {
            seconds += records.reduce((a, r) => a + Number(r), 0);
            measured.push(piece);
        } else {
            seconds += (COLD_BUILD_MINUTES[piece] ?? 10) * 60;
            guessed.push(piece);
        }
    }
    const parts = [...(measured.length ? [`${measured.join(", ")} as last built here`] : []), ...(guessed.length ? [`${guessed.join(", ")}: rough cold-build figures for 2 cores shared with other builds`] : [])];
    return `about ${Math.max(1, Math.round(seconds / 60))} min (${parts.join("; ")}; seconds when the Go cache already holds them)`;
}

/** True when the finding counts against its section: missing, and nothing stands in for it. */
export function blocking(f: Finding): boolean {
    return f.state === "missing" && !f.optional;
}

export function summarize(sections: Section[], plan?: UpPlan): Report {
    return { sections, plan, ok: sections.every((s) => !s.required || !s.findings.some(blocking)) };
}

// ---------------------------------------------------------------- output

export function formatReport(r: Report): string {
    const lines: string[] = [];
    for (const s of r.sections) {
        lines.push(`► ${s.title}${s.required ? "" : " (not checked for this command; `gitops check --tests`)"}`);
        const width = Math.max(...s.findings.map((f) => f.name.length));
        for (const f of s.findings) {
            const mark = f.state === "ok" ? "✔" : f.state === "to build" ? "…" : blocking(f) && s.required ? "✗" : "-";
            lines.push(`${mark} ${f.name.padEnd(width)}  ${f.state === "ok" ? "" : `${f.state}${f.optional ? " (optional)" : ""}: `}${f.detail}`);
            if (f.state !== "ok" && f.fix) lines.push(`  ${" ".repeat(width)}  fix: ${f.fix}`);
        }
        for (const n of s.notes) lines.push(`  ${n}`);
    }
    const toBuild = r.plan?.build ?? [];
    if (toBuild.length) lines.push(`… to build from Go modules by \`npm run up\`: ${toBuild.join(" ")} (\`bash scripts/e2e-build.sh ${toBuild.join(" ")}\`)`);
    lines.push(r.ok ? "✔ all prerequisites are met" : "✗ prerequisites are missing (see fix: above)");
    return lines.join("\n") + "\n";
}

/** The one message `npm test` prints when it cannot install what it needs itself. */
export function missingMessage(purpose: string, missing: Finding[]): string {
    const apt = missing.filter((f) => f.apt).map((f) => f.apt!);
    const other = missing.filter((f) => !f.apt).map((f) => f.fix);
    const steps = [...(apt.length ? [`${process.getuid?.() === 0 ? "" : "sudo "}apt-get install -y ${apt.join(" ")}`] : []), ...other];
    return `${purpose} needs ${missing.map((f) => `${f.name} (${f.detail})`).join(", ")}: run \`${steps.join("` and `")}\`, then run ${purpose} again\n`;
}

// ---------------------------------------------------------------- helpers

function readPackageJson(dir: string): { dependencies?: Record<string, string> } {
    try {
        return JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    } catch {
        return {};
    }
}

function safeRead(file: string): string {
    try {
        return fs.readFileSync(file, "utf8");
    } catch {
        return "";
    }
}

function safeReaddir(dir: string): string[] {
    try {
        return fs.readdirSync(dir);
    } catch {
        return [];
    }
}

function firstLine(text: string): string | undefined {
    return text.split("\n").map((l) => l.trim()).find((l) => l) ?? undefined;
}
