/**
 * Credentials in config: a token in a URL, or an incoming-webhook address given as a plain
 * provider address, is refused before anything is written, with the exact
 * `pulumi config set --secret` command to use instead. The message never repeats the credential,
 * and nothing lands in the output folder (the fleet repo's files).
 */
import * as assert from "assert";
import { parseStackConfig, redactUrl, StackConfigError, urlCredentialKind } from "../../engine/config";
import { Scene } from "../helpers/tree";

const TOKEN = "ghp_S3cr3tT0k3nValue0123456789";
const HOOK = "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX";

describe("hostile credentials: credentials in config are refused with the secret command", function () {
    this.timeout(120_000);
    let s: Scene;
    beforeEach(() => (s = new Scene()));
    afterEach(() => s.cleanup());

    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
        [
            "token in fleet.url",
            { "gitops:fleet": { url: `https://x-access-token:${TOKEN}@github.com/acme/fleet.git` } },
            /gitops:fleet\.url holds a password in the URL \("https:\/\/\*\*\*@github\.com\/acme\/fleet\.git"\); credentials in config end up in Git and in plain stack outputs \(remove it from the URL \("https:\/\/github\.com\/acme\/fleet\.git"\) and run `pulumi config set --secret gitops:githubToken <credential>`\)/,
        ],
        [
            "token as user name in fleet.clusterUrl",
            { "gitops:fleet": { url: "ssh://git@github.com/acme/fleet.git", clusterUrl: `https://${TOKEN}@github.com/acme/fleet.git` } },
            /gitops:fleet\.clusterUrl holds a user name or token in the URL .*`pulumi config set --secret gitops:githubToken <credential>`/,
        ],
        [
            "password in a source URL",
            { "gitops:sources": [{ name: "charts", kind: "helm", url: `https://robot:${TOKEN}@charts.example.com/` }] },
            /gitops:sources\[0\]\.url holds a password in the URL .*remove it from the URL \("https:\/\/charts\.example\.com\/"\) and put them in a Secret in the cluster and name it in gitops:sources\[0\]\.secretRef/,
        ],
        [
            "Slack webhook as a plain provider address",
            { "gitops:notifications": { providers: [{ name: "slack", type: "slack", address: `https://hooks.slack.com/services/${HOOK}` }] } },
            /gitops:notifications\.providers\[0\]\.address is an incoming-webhook URL, which is itself a credential \("https:\/\/hooks\.slack\.com\/\*\*\*"\); it would land in Git \(remove it and run `pulumi config set --secret --path gitops:notificationSecrets\.slack <webhook-url>`\)/,
        ],
        [
            "Teams webhook",
            { "gitops:notifications": { providers: [{ name: "teams", type: "msteams", address: `https://acme.webhook.office.com/webhookb2/${HOOK}` }] } },
            /gitops:notifications\.providers\[0\]\.address is an incoming-webhook URL.*`pulumi config set --secret --path gitops:notificationSecrets\.teams <webhook-url>`/,
        ],
        [
            "token in a generic webhook's query",
            { "gitops:notifications": { providers: [{ name: "hook", type: "generic", address: `https://hooks.example.com/flux?token=${TOKEN}` }] } },
            /gitops:notifications\.providers\[0\]\.address holds a credential in the query parameter "token" \("https:\/\/hooks\.example\.com\/flux\?token=\*\*\*"\).*`pulumi config set --secret --path gitops:notificationSecrets\.hook <credential>`/,
        ],
        [
            "credentials in a canary webhook",
            {
                "gitops:delivery": { flagger: { enabled: true }, istio: { enabled: true }, prometheus: { enabled: true } },
                "gitops:apps": [{ name: "echo", image: "ghcr.io/acme/echo", tag: "1.0.0", canary: { confirmPromotion: `https://gate:${TOKEN}@gate.example.com/approve` } }],
            },
            /gitops:apps\[0\]\.canary\.confirmPromotion holds a password in the URL/,
        ],
    ];

    for (const [name, cfg, want] of cases) {
        it(`${name}: refused, the secret is never echoed, nothing is written`, async () => {
            s.stack("dev", cfg);
            await s.expectRefused("dev", want, [TOKEN, HOOK]);
        });
    }

    it("a credential is masked even where another rule reports the value", () => {
        try {
            parseStackConfig({ fleet: { url: "ssh://git@github.com/a/b.git", clusterUrl: `ftp://u:${TOKEN}@host/x` } }, "dev");
            assert.fail("expected an error");
        } catch (e) {
            assert.ok(e instanceof StackConfigError);
            assert.match(e.message, /gitops:fleet\.clusterUrl must be an ssh:\/\/ or http\(s\):\/\/ URL the cluster can reach; got "ftp:\/\/\*\*\*@host\/x"/);
            assert.ok(!e.message.includes(TOKEN));
        }
    });

    it("URLs without credentials pass: ssh://git@, scp-like git@host:, plain https, the Slack API endpoint", async () => {
        for (const u of ["ssh://git@github.com/acme/fleet.git", "git@github.com:acme/fleet.git", "https://github.com/acme/fleet.git", "https://slack.com/api/chat.postMessage?channel=x"]) {
            assert.strictEqual(urlCredentialKind(u), undefined, u);
        }
        assert.strictEqual(redactUrl(`https://u:${TOKEN}@h/p?sig=${TOKEN}&x=1`), "https://***@h/p?sig=***&x=1");
        s.stack("dev", { "gitops:fleet": { url: "https://github.com/acme/fleet.git" }, "gitops:notifications": { providers: [{ name: "gh", type: "github", address: "https://github.com/acme/fleet" }] } });
        const r = await s.render();
        assert.strictEqual(r.code, 0, r.err);
    });
});
