/**
 * One image update automation run: commit message templates (Flux's template data, Go template
 * subset), real git (bare repos in temp dirs) for checkout/commit/push to the push branch, and a
 * local HTTP server standing in for the GitHub pulls API.
 */
import * as assert from "assert";
import * as http from "http";
import { AddressInfo } from "net";
import { GitopsError } from "../../engine/errors";
import { parseImageRef, PolicyLatest, SetterChange } from "../../engine/images/setters";
import {
    DEFAULT_MESSAGE_TEMPLATE,
    ensurePullRequest,
    renderMessageTemplate,
    runImageUpdate,
    templateData,
} from "../../engine/images/update";
import { git, TempGit, TEST_IDENTITY } from "../helpers/git";

const AUTOMATION = { namespace: "flux-system", name: "fleet" };

function change(file: string, kind: string, name: string, setter: string, oldValue: string, newValue: string, line = 1): SetterChange {
    return { file, line, object: { apiVersion: "apps/v1", kind, name, namespace: "apps" }, setter, oldValue, newValue };
}

const CHANGES = [
    change("apps/b.yaml", "Deployment", "web", "apps:web", "web:v1", "web:v2", 9),
    change("apps/a.yaml", "Deployment", "api", "apps:api", "api:v1", "api:v2", 9),
    change("apps/a.yaml", "CronJob", "api-job", "apps:api:tag", "v1", "v2", 20),
    change("apps/c.yaml", "Deployment", "api", "apps:api", "api:v1", "api:v2", 9),
];

describe("engine/images update automation", () => {
    describe("commit message templates (Go text/template subset, Flux template data)", () => {
        it("renders Flux's documented example template", () => {
            // The example from Flux's image update automation docs (messageTemplate).
            const template = `Automated image update

Automation name: {{ .AutomationObject }}

Files:
{{ range $filename, $_ := .Changed.FileChanges -}}
- {{ $filename }}
{{ end -}}

Objects:
{{ range $resource, $changes := .Changed.Objects -}}
- {{ $resource.Kind }} {{ $resource.Name }}
  Changes:
{{- range $_, $change := $changes }}
    - {{ $change.OldValue }} -> {{ $change.NewValue }}
{{ end -}}
{{ end -}}
`;
            const out = renderMessageTemplate(template, templateData(AUTOMATION, CHANGES));
            // As in Go, `{{ end -}}` eats the blank line before "Objects:".
            assert.strictEqual(
                out,
                `Automated image update

Automation name: flux-system/fleet

Files:
- apps/a.yaml
- apps/b.yaml
- apps/c.yaml
Objects:
- CronJob api-job
  Changes:
    - v1 -> v2
- Deployment api
  Changes:
    - api:v1 -> api:v2
- Deployment web
  Changes:
    - web:v1 -> web:v2
`,
            );
        });

        it("supports if/else, with, len, $, .Values, comments and de-duplicated .Changed.Changes", () => {
            const template = [
                "{{/* a comment */}}{{ if .Changed.Changes }}{{ len .Changed.Changes }} change(s){{ else }}none{{ end }}",
                "{{ range .Changed.Changes }}[{{ .Setter }}: {{ .OldValue }} -> {{ .NewValue }}]{{ end }}",
                "{{ with .Values.env }}env={{ . }}{{ else }}no env{{ end }} {{ if .Values.missing }}x{{ else if $.Values.env }}y{{ end }}",
                '{{ range $i, $c := .Changed.Changes }}{{ $i }}{{ end }} {{ "quoted" }} {{ range .Values.nothing }}x{{ else }}empty{{ end }}',
            ].join("\n");
            const out = renderMessageTemplate(template, templateData(AUTOMATION, CHANGES, { env: "dev" }));
            assert.strictEqual(
                out,
                "3 change(s)\n[apps:api:tag: v1 -> v2][apps:api: api:v1 -> api:v2][apps:web: web:v1 -> web:v2]\nenv=dev y\n012 quoted empty",
            );
        });

        it("the default template lists files, objects and old -> new", () => {
            const out = renderMessageTemplate(DEFAULT_MESSAGE_TEMPLATE, templateData(AUTOMATION, CHANGES.slice(0, 3)));
            assert.strictEqual(
                out,
                "Update images from image update automation flux-system/fleet\n\napps/a.yaml\n  CronJob/api-job: v1 -> v2\n  Deployment/api: api:v1 -> api:v2\napps/b.yaml\n  Deployment/web: web:v1 -> web:v2\n",
            );
        });

        it("rejects what it does not support with the template line", () => {
            const bad: Array<[string, RegExp]> = [
                ["line one\n{{ printf \"%s\" .X }}", /messageTemplate:2: 'printf "%s" .X' is not supported/],
                ["{{ range .Changed.Changes }}x", /messageTemplate:1: range without \{\{ end \}\}/],
                ["{{ end }}", /messageTemplate:1: unexpected \{\{ end \}\}/],
                ["{{ .Nope }}", /messageTemplate:1: can't evaluate field Nope/],
                ["{{ $x }}", /messageTemplate:1: undefined variable \$x/],
                ["{{ .Changed", /unclosed action/],
            ];
            for (const [t, want] of bad) {
                assert.throws(() => renderMessageTemplate(t, templateData(AUTOMATION, CHANGES)), (e: unknown) => e instanceof GitopsError && want.test((e as Error).message), t);
            }
        });
    });

    describe("pull requests (GitHub API on a local server)", () => {
        let server: http.Server;
        let apiUrl: string;
        let requests: Array<{ method: string; url: string; auth?: string; body?: unknown }>;
        let open: Array<{ number: number; html_url: string; head: string }>;

        beforeEach(async () => {
            requests = [];
            open = [];
            server = http.createServer((req, res) => {
                let data = "";
                req.on("data", (c) => (data += c));
                req.on("end", () => {
                    const body = data ? JSON.parse(data) : undefined;
                    requests.push({ method: req.method!, url: req.url!, auth: req.headers.authorization, body });
                    const u = new URL(req.url!, "http://x");
                    res.setHeader("Content-Type", "application/json");
                    if (u.pathname !== "/repos/acme/fleet/pulls") {
                        res.statusCode = 404;
                        return res.end(JSON.stringify({ message: "Not Found" }));
                    }
                    if (req.method === "GET") {
                        const head = u.searchParams.get("head");
                        return res.end(JSON.stringify(open.filter((p) => `acme:${p.head}` === head)));
                    }
                    if (body.base === "missing") {
                        res.statusCode = 422;
                        return res.end(JSON.stringify({ message: "Validation Failed", errors: [{ field: "base", code: "invalid" }] }));
                    }
                    const pr = { number: 100 + open.length, html_url: `https://github.test/acme/fleet/pull/${100 + open.length}`, head: body.head };
                    open.push(pr);
                    res.statusCode = 201;
                    return res.end(JSON.stringify(pr));
                });
            });
            await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
            apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        });
        afterEach(async () => {
            await new Promise<void>((r) => server.close(() => r()));
        });

        it("opens one pull request per head branch, and reuses it afterwards", async () => {
            const opts = { apiUrl, token: "t0ken", owner: "acme", repo: "fleet", base: "main" };
            const first = await ensurePullRequest(opts, "__image/dev/project", "body", "Update images");
            assert.deepStrictEqual(first, { number: 100, url: "https://github.test/acme/fleet/pull/100", created: true });
            const second = await ensurePullRequest(opts, "__image/dev/project", "body 2", "Update images again");
            assert.deepStrictEqual(second, { number: 100, url: "https://github.test/acme/fleet/pull/100", created: false });
            assert.deepStrictEqual(
                requests.map((r) => `${r.method} ${r.url}`),
                [
                    "GET /repos/acme/fleet/pulls?state=open&head=acme%3A__image%2Fdev%2Fproject&base=main",
                    "POST /repos/acme/fleet/pulls",
                    "GET /repos/acme/fleet/pulls?state=open&head=acme%3A__image%2Fdev%2Fproject&base=main",
                ],
            );
            assert.deepStrictEqual(requests[1].body, { title: "Update images", head: "__image/dev/project", base: "main", body: "body" });
            assert.ok(requests.every((r) => r.auth === "Bearer t0ken"));
        });

        it("reports API failures with the repository and status, without the token", async () => {
            await assert.rejects(
                ensurePullRequest({ apiUrl, token: "s3cret", owner: "acme", repo: "fleet", base: "missing" }, "b", "x", "t"),
                (e: unknown) => e instanceof GitopsError && /github:acme\/fleet: GitHub API POST pulls returned 422: Validation Failed/.test((e as Error).message) && !(e as Error).message.includes("s3cret"),
            );
            await assert.rejects(
                ensurePullRequest({ apiUrl, owner: "other", repo: "x", base: "main" }, "b", "x", "t"),
                (e: unknown) => e instanceof GitopsError && /returned 404: Not Found/.test((e as Error).message),
            );
        });

        describe("a full run against real git", () => {
            let t: TempGit;
            beforeEach(() => (t = new TempGit()));
            afterEach(() => t.cleanup());

            const APP = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: echo
  namespace: echo
spec:
  template:
    spec:
      containers:
        - name: echo
          # the image is managed by automation
          image: ghcr.io/acme/echo:1.0.0 # {"$imagepolicy": "flux-system:echo"}
`;
            const latest = (tag: string): PolicyLatest[] => [{ namespace: "flux-system", name: "echo", latest: parseImageRef(`ghcr.io/acme/echo:${tag}`, "t") }];

            it("commits to the push branch, opens a pull request once, and is idempotent", async () => {
                const remote = t.bare("fleet", { "apps/dev/echo.yaml": APP, "apps/prod/echo.yaml": APP, "README.md": "fleet\n" });
                const mainBefore = t.head(remote, "main");
                const base = {
                    repo: remote,
                    checkoutBranch: "main",
                    pushBranch: "__image/dev/project",
                    path: "./apps/dev",
                    author: TEST_IDENTITY,
                    automation: AUTOMATION,
                    pullRequest: { apiUrl, token: "t0ken", owner: "acme", repo: "fleet", base: "main" },
                };
                const r1 = await runImageUpdate({ ...base, policies: latest("1.1.0") });
                assert.strictEqual(r1.committed, true);
                assert.strictEqual(r1.pushed, true);
                assert.strictEqual(r1.revision, mainBefore);
                assert.deepStrictEqual(r1.setters.changes.map((c) => `${c.file}:${c.line} ${c.oldValue} -> ${c.newValue}`), [
                    "apps/dev/echo.yaml:12 ghcr.io/acme/echo:1.0.0 -> ghcr.io/acme/echo:1.1.0",
                ]);
                assert.strictEqual(t.head(remote, "main"), mainBefore, "main is untouched");
                assert.strictEqual(t.head(remote, "__image/dev/project"), r1.commit);
                assert.strictEqual(t.read(remote, "__image/dev/project", "apps/dev/echo.yaml"), APP.replace("echo:1.0.0 #", "echo:1.1.0 #"));
                assert.strictEqual(t.read(remote, "__image/dev/project", "apps/prod/echo.yaml"), APP, "outside the update path");
                const msg = git(["log", "-1", "--format=%B", "__image/dev/project"], remote);
                // The template names files relative to the update path, as image-automation-controller
                // does (it runs its setters with spec.update.path as the root: internal/policy/applier.go;
                // test/e2e/images.e2e.ts compares a real controller's commit with ours).
                assert.strictEqual(
                    msg.trim(),
                    "Update images from image update automation flux-system/fleet\n\necho.yaml\n  Deployment/echo: ghcr.io/acme/echo:1.0.0 -> ghcr.io/acme/echo:1.1.0",
                );
                assert.strictEqual(git(["log", "-1", "--format=%an <%ae>", "__image/dev/project"], remote).trim(), `${TEST_IDENTITY.name} <${TEST_IDENTITY.email}>`);
                assert.deepStrictEqual(r1.pullRequest, { number: 100, url: "https://github.test/acme/fleet/pull/100", created: true });

                // Same latest image again: nothing to commit or push; the open pull request is found (one GET).
                const calls = requests.length;
                const r2 = await runImageUpdate({ ...base, policies: latest("1.1.0") });
                assert.strictEqual(r2.committed, false);
                assert.strictEqual(r2.setters.changes.length, 0);
                assert.strictEqual(t.head(remote, "__image/dev/project"), r1.commit);
                assert.deepStrictEqual(requests.slice(calls).map((r) => r.method), ["GET"]);
                assert.deepStrictEqual(r2.pullRequest, { number: 100, url: "https://github.test/acme/fleet/pull/100", created: false });

                // A newer image: builds on the push branch, reuses the open pull request.
                const r3 = await runImageUpdate({ ...base, policies: latest("1.2.0"), messageTemplate: "bump {{ range .Changed.Changes }}{{ .NewValue }}{{ end }}" });
                assert.strictEqual(r3.committed, true);
                assert.deepStrictEqual(r3.setters.changes.map((c) => c.oldValue), ["ghcr.io/acme/echo:1.1.0"]);
                assert.strictEqual(git(["rev-parse", `${r3.commit}^`], remote).trim(), r1.commit);
                assert.strictEqual(git(["log", "-1", "--format=%B", "__image/dev/project"], remote).trim(), "bump ghcr.io/acme/echo:1.2.0");
                assert.deepStrictEqual(r3.pullRequest, { number: 100, url: "https://github.test/acme/fleet/pull/100", created: false });
                assert.strictEqual(requests.filter((r) => r.method === "POST").length, 1);
            });

            it("opens the pull request on the next run when the API failed after the push", async () => {
                const remote = t.bare("fleet", { "apps/dev/echo.yaml": APP });
                const base = { repo: remote, checkoutBranch: "main", pushBranch: "__image/dev/project", path: "apps/dev", author: TEST_IDENTITY, automation: AUTOMATION };
                await assert.rejects(
                    runImageUpdate({ ...base, policies: latest("1.1.0"), pullRequest: { apiUrl: `${apiUrl}/down`, owner: "acme", repo: "fleet", base: "main" } }),
                    /github:acme\/fleet: GitHub API GET pulls returned 404/,
                );
                const pushed = t.head(remote, "__image/dev/project");
                assert.ok(pushed, "the commit was pushed before the API failed");
                const again = await runImageUpdate({ ...base, policies: latest("1.1.0"), pullRequest: { apiUrl, owner: "acme", repo: "fleet", base: "main" } });
                assert.strictEqual(again.committed, false);
                assert.strictEqual(t.head(remote, "__image/dev/project"), pushed);
                assert.deepStrictEqual(again.pullRequest, { number: 100, url: "https://github.test/acme/fleet/pull/100", created: true });
                const post = requests.find((r) => r.method === "POST")!;
                assert.deepStrictEqual(post.body, { title: "Update images from image update automation flux-system/fleet", head: "__image/dev/project", base: "main", body: "" });
            });

            it("dry run and bad input leave the remote untouched", async () => {
                const remote = t.bare("fleet", { "apps/dev/echo.yaml": APP });
                const refs = t.refs(remote);
                const base = { repo: remote, checkoutBranch: "main", pushBranch: "__image/dev/project", path: "apps/dev", author: TEST_IDENTITY, automation: AUTOMATION, policies: latest("2.0.0") };
                const dry = await runImageUpdate({ ...base, dryRun: true });
                assert.strictEqual(dry.pushed, false);
                assert.strictEqual(dry.setters.changes.length, 1);
                assert.match(dry.message, /ghcr\.io\/acme\/echo:1\.0\.0 -> ghcr\.io\/acme\/echo:2\.0\.0/);
                await assert.rejects(runImageUpdate({ ...base, messageTemplate: "{{ range .X }}" }), /messageTemplate:1: range without/);
                await assert.rejects(runImageUpdate({ ...base, path: "../outside" }), /update path must stay inside the repository/);
                await assert.rejects(runImageUpdate({ ...base, pushBranch: "bad..branch" }), /invalid branch name/);
                await assert.rejects(runImageUpdate({ ...base, path: "apps/staging" }), /update\.path:apps\/staging: no such path in /);
                await assert.rejects(runImageUpdate({ ...base, messageTemplate: "{{ .Nope }}" }), /can't evaluate field Nope/);
                assert.strictEqual(t.refs(remote), refs);
                assert.strictEqual(requests.length, 0);
            });
        });
    });
});
