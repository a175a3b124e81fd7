/**
 * Every command in the docs runs. Each ```sh block of README.md and docs/**.md is split into
 * commands (comments dropped, `\` continuations joined) and each command either:
 *   - runs, in order per document, with bash in a sandbox: a project dir that links this
 *     repository's code and copies its Pulumi.*.yaml, /tmp/ mapped into the sandbox, `gitops`
 *     as bin/gitops on Node 24, and a real fleet repo made with engine/promote in $FLEET
 *     ($DEV_SHA, $TEST_SHA, $PROMOTION, $FIX, $RESULTS point into it); it must exit 0;
 *   - or matches one entry of ALLOWLIST: commands that need real infrastructure (a Pulumi
 *     backend, a cloud, Docker). Each entry names the file that exercises it, and the test
 *     checks that file really contains the command; an entry no doc uses fails the test too.
 */
import * as assert from "assert";
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { promote } from "../../engine/promote";
import { TempGit, TEST_IDENTITY } from "../helpers/git";

const ROOT = path.resolve(__dirname, "../..");

interface Allowed {
    re: RegExp;
    /** The file(s) that run this command for real. */
    where: string[];
    /** The text that must appear in one of them for this command. */
    evidence: (m: RegExpExecArray) => string;
}

const WF = (f: string) => `.github/workflows/${f}`;
export const ALLOWLIST: Allowed[] = [
    { re: /^npm ci && npm test$/, where: [WF("test.yml"), ".ci/run"], evidence: () => "npm test" },
    { re: /^npm ci && npm run up$/, where: [WF("dr-drill.yml")], evidence: () => "npm ci && npm run up" },
    { re: /^pulumi up --stack (\w+) --yes$/, where: [WF("deploy.yml")], evidence: (m) => `pulumi up --stack ${m[1]} --yes` },
    { re: /^pulumi refresh --stack (\w+) --yes$/, where: [WF("dr-drill.yml")], evidence: () => "pulumi refresh --stack" },
    { re: /^pulumi stack output (\w+) --stack (\w+)$/, where: [WF("deploy.yml"), WF("dr-drill.yml")], evidence: (m) => `pulumi stack output ${m[1]} --stack` },
    { re: /^pulumi preview --stack (\w+)( --policy-pack policy)?$/, where: [WF("preview.yml"), WF("deploy.yml")], evidence: (m) => (m[2] ? `pulumi preview --stack ${m[1]} --policy-pack policy` : "pulumi preview --stack") },
    { re: /^pulumi stack init (\w+)$/, where: ["test/e2e/platform.e2e.ts"], evidence: () => `["stack", "init"` },
    // The OCI path needs a registry (and a cluster for status): run against the real docker-registry.
    {
        re: /^gitops (push artifact) oci:\/\/\S+ --path \S+ --source .+ --revision .+$|^gitops (status) --stack \w+$|^gitops (promote artifact) --from \w+ --to \w+ --verified-digest \S+$/,
        where: ["test/engine/oci.test.ts", "test/engine/oci-status-promote.test.ts"],
        evidence: (m) => `"${(m[1] ?? m[2] ?? m[3]).split(" ").join('", "')}"`,
    },
];

export interface DocCommand {
    file: string;
    line: number;
    cmd: string;
}

/** Commands of the ```sh blocks of a markdown text. */
export function extractCommands(file: string, text: string): DocCommand[] {
    const out: DocCommand[] = [];
    const lines = text.split("\n");
    let inSh = false;
    let pending: DocCommand | undefined;
    for (let i = 0; i < lines.length; i++) {
        const raw = lines[i];
        const fence = /^\s*```(\w*)\s*$/.exec(raw);
        if (fence) {
            inSh = !inSh && (fence[1] === "sh" || fence[1] === "bash" || fence[1] === "shell");
            if (!inSh && fence[1] === "" && pending) pending = undefined;
            continue;
        }
        if (!inSh) continue;
        let l = raw.trim();
        if (!pending && (l === "" || l.startsWith("#"))) continue;
        l = l.replace(/\s+#\s.*$/, "").trim(); // trailing comment
        const cont = l.endsWith("\\");
        if (cont) l = l.slice(0, -1).trim();
        if (pending) pending.cmd += " " + l;
        else pending = { file, line: i + 1, cmd: l };
        if (!cont) {
            out.push(pending);
            pending = undefined;
        }
    }
    return out;
}

function markdownFiles(): string[] {
    const out = [path.join(ROOT, "README.md")];
    const walk = (d: string) => {
        for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p);
            else if (e.name.endsWith(".md")) out.push(p);
        }
    };
    walk(path.join(ROOT, "docs"));
    return out.sort();
}

function allowed(cmd: string): { entry: Allowed; m: RegExpExecArray } | undefined {
    for (const entry of ALLOWLIST) {
        const m = entry.re.exec(cmd);
        if (m) return { entry, m };
    }
    return undefined;
}

/** A sandbox project: this repo's code linked, its stack configs copied, a tmp dir. */
function sandbox(root: string): string {
    const proj = path.join(root, "project");
    fs.mkdirSync(path.join(proj), { recursive: true });
    fs.mkdirSync(path.join(root, "tmp"), { recursive: true });
    for (const f of ["bin", "engine", "components", "node_modules", "policy", "index.ts", "package.json", "package-lock.json", "tsconfig.json"]) {
        if (fs.existsSync(path.join(ROOT, f))) fs.symlinkSync(path.join(ROOT, f), path.join(proj, f));
    }
    for (const f of fs.readdirSync(ROOT).filter((x) => /^Pulumi(\.[\w-]+)?\.yaml$/.test(x))) fs.copyFileSync(path.join(ROOT, f), path.join(proj, f));
    return proj;
}

/** A fleet repo with history: dev reconciles, two promotions to test, one to prod, a fix on prod. */
async function fleetFixture(t: TempGit): Promise<Record<string, string>> {
    const fleet = t.bare("fleet");
    const ov = (n: number) => `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../base/echo-version\nimages:\n  - name: ghcr.io/gitops-platform/echo-version\n    newTag: 1.0.${n}\n`;
    const base = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: echo-version\n  namespace: echo\ndata:\n  env: ${cluster_env:=local}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: echo-version\n  namespace: echo\nspec:\n  selector: {matchLabels: {app: echo-version}}\n  template:\n    metadata: {labels: {app: echo-version}}\n    spec:\n      containers:\n        - {name: echo, image: ghcr.io/gitops-platform/echo-version:1.0.0}\n";
    // dev and test overlays on main, as this program's fleet has them (overlays promotion model)
    const c1 = t.commit(fleet, "main", { "apps/base/echo-version/app.yaml": base, "apps/base/echo-version/kustomization.yaml": "resources: [app.yaml]\n", "apps/dev/kustomization.yaml": ov(0), "apps/test/kustomization.yaml": ov(0), "apps/staging/kustomization.yaml": ov(0) }, "Reconcile dev\n\nA apps/dev/kustomization.yaml");
    await promote({ repo: fleet, from: "dev", to: "test", verifiedRevision: c1, author: TEST_IDENTITY });
    const c2 = t.commit(fleet, "main", { "apps/dev/kustomization.yaml": ov(1) }, "Reconcile dev\n\nM apps/dev/kustomization.yaml");
    const p = await promote({ repo: fleet, from: "dev", to: "test", verifiedRevision: c2, author: TEST_IDENTITY });
    await promote({ repo: fleet, from: "test", to: "prod", verifiedRevision: p.commit, author: TEST_IDENTITY });
    const fix = t.commit(fleet, "prod", { "apps/prod/hotfix.yaml": "fix: true\n" }, "fix: prod hotfix");
    const results = path.join(t.root, "results.json");
    fs.writeFileSync(results, JSON.stringify([{ stack: "dev", commit: c2, appliedAt: new Date().toISOString(), result: "applied", recoverySeconds: 95 }]));
    // In the overlays model every stage syncs main: test is verified at a main revision too.
    return { FLEET: fleet, DEV_SHA: c2, TEST_SHA: c2, PROMOTION: p.commit, FIX: fix, RESULTS: results };
}

const docs = markdownFiles().map((f) => ({ file: path.relative(ROOT, f), commands: extractCommands(path.relative(ROOT, f), fs.readFileSync(f, "utf8")) }));

describe("docs: every command runs (or is exercised where the allowlist says)", function () {
    this.timeout(120_000);

    it("finds the docs and their commands", () => {
        const files = docs.map((d) => d.file);
        for (const f of ["README.md", "docs/architecture.md", "docs/runbooks/disaster-recovery.md", "docs/runbooks/rollback.md", "docs/runbooks/hotfix.md", "docs/runbooks/adding-an-app.md", "docs/runbooks/adding-an-environment.md"]) {
            assert.ok(files.includes(f), `${f} missing`);
        }
        const all = docs.flatMap((d) => d.commands);
        assert.ok(all.length >= 30, `only ${all.length} commands found`);
        assert.ok(all.some((c) => c.cmd.startsWith("kubectl kustomize")));
        assert.ok(all.some((c) => /^npm /.test(c.cmd)));
    });

    it("extracts commands: comments dropped, continuations joined, other fences ignored", () => {
        const md = "x\n```sh\n# c\nnpm test   # run\ngitops a \\\n  --b c\n```\n```yaml\nnpm: no\n```\n";
        assert.deepEqual(extractCommands("m.md", md).map((c) => [c.line, c.cmd]), [[4, "npm test"], [5, "gitops a --b c"]]);
    });

    it("the allowlist is small, every entry is used by a doc, and each is exercised where it says", () => {
        assert.ok(ALLOWLIST.length <= 8);
        const all = docs.flatMap((d) => d.commands);
        for (const entry of ALLOWLIST) {
            const uses = all.map((c) => ({ c, m: entry.re.exec(c.cmd) })).filter((x) => x.m);
            assert.ok(uses.length > 0, `allowlist entry ${entry.re} is used by no doc; remove it`);
            const text = entry.where.map((w) => fs.readFileSync(path.join(ROOT, w), "utf8")).join("\n");
            for (const { c, m } of uses) {
                const ev = entry.evidence(m!);
                assert.ok(text.includes(ev), `${c.file}:${c.line}: '${c.cmd}' is allowlisted as exercised in ${entry.where.join(", ")}, which do not contain '${ev}'`);
            }
        }
    });

    for (const doc of docs) {
        if (doc.commands.length === 0) continue;
        describe(doc.file, () => {
            let t: TempGit;
            let proj: string;
            let env: Record<string, string>;
            before(async () => {
                t = new TempGit("gitops-docs-");
                proj = sandbox(path.join(t.root, "sandbox"));
                env = {
                    ...(process.env as Record<string, string>),
                    ...(await fleetFixture(t)),
                    PATH: `${path.join(ROOT, "node_modules", ".bin")}${path.delimiter}${process.env.PATH}`,
                    GITOPS_AUTHOR: "Docs Test <docs@example.com>",
                };
            });
            after(() => t.cleanup());

            for (const c of doc.commands) {
                const a = allowed(c.cmd);
                const label = `${c.file}:${c.line} ${c.cmd}`;
                if (a) {
                    it(`${label}  [exercised in ${a.entry.where.join(", ")}]`, () => {
                        const text = a.entry.where.map((w) => fs.readFileSync(path.join(ROOT, w), "utf8")).join("\n");
                        const ev = a.entry.evidence(a.m);
                        assert.ok(text.includes(ev), `${label} is allowlisted as exercised in ${a.entry.where.join(", ")}, which do not contain '${ev}'`);
                    });
                    continue;
                }
                it(label, () => {
                    const tmp = path.join(path.dirname(proj), "tmp") + "/";
                    const cmd = c.cmd.replace(/\/tmp\//g, tmp);
                    const script = `set -eo pipefail\ngitops() { "${proj}/bin/gitops" "$@"; }\n${cmd}\n`;
                    const r = spawnSync("bash", ["-c", script], { cwd: proj, env, encoding: "utf8", timeout: 110_000 });
                    assert.equal(r.status, 0, `${label}\nexit ${r.status}\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
                });
            }
        });
    }
});
