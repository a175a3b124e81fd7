/**
 * `gitops cluster ...`: the cluster engine from the command line — apply (staged, with prune),
 * diff (report-only drift/preview), health, and wait (for Flux to apply a revision).
 */
import * as fs from "fs";
import { parseAllDocuments } from "yaml";
import { Command, CliIO } from "../cli";
import { GitopsError } from "../errors";
import { KubeObject } from "../flux/api";
import { parseFlags } from "../util/args";
import { applyStaged } from "./apply";
import { applyWithInventory, fileInventoryStore } from "./inventory";
import { ObjectResult } from "./plan";
import { ClusterClient } from "./client";
import { diffCluster } from "./diff";
import { Inventory } from "./ids";
import { checkHealth, FluxRef, waitForRevision } from "./wait";

const CONN = `  --kubeconfig FILE   kubeconfig to use (default: $KUBECONFIG)
  --context NAME      kubeconfig context (default: its current-context)`;

function client(flags: { get(n: string): string | undefined }): ClusterClient {
    const path = flags.get("kubeconfig") ?? process.env.KUBECONFIG;
    if (!path) throw new GitopsError("--kubeconfig", "no kubeconfig given", "pass --kubeconfig FILE or set KUBECONFIG");
    let text: string;
    try {
        text = fs.readFileSync(path, "utf8");
    } catch (err) {
        throw new GitopsError(path, `cannot read the kubeconfig: ${(err as Error).message}`);
    }
    return ClusterClient.fromKubeconfig(text, flags.get("context"));
}

/** Reads YAML/JSON manifests (multi-document; `kind: List` items are flattened). */
export function readManifests(files: string[]): KubeObject[] {
    const out: KubeObject[] = [];
    for (const file of files) {
        let text: string;
        try {
            text = fs.readFileSync(file, "utf8");
        } catch (err) {
            throw new GitopsError(file, `cannot read: ${(err as Error).message}`);
        }
        for (const doc of parseAllDocuments(text)) {
            if ("errors" in doc && doc.errors.length) {
                const e = doc.errors[0];
                throw new GitopsError(`${file}:${e.linePos?.[0]?.line ?? 1}`, `invalid YAML: ${e.message.split("\n")[0]}`);
            }
            const v = doc.toJS() as KubeObject | null;
            if (!v) continue;
            if (v.kind === "List" && Array.isArray((v as { items?: unknown }).items)) out.push(...((v as unknown as { items: KubeObject[] }).items));
            else out.push(v);
        }
    }
    return out;
}

async function readInventory(path: string | undefined): Promise<Inventory | undefined> {
    return path ? fileInventoryStore(path).read() : undefined;
}

/** `configured id (changes) [took over from m: paths]`, one line per object that is not unchanged. */
function resultLine(r: ObjectResult): string {
    const detail = r.changes?.length ? r.changes.join("; ") : r.message;
    const took = r.takenOver?.length ? ` [took over ${r.takenOver.join("; ")}]` : "";
    return `${r.action} ${r.id}${detail ? ` (${detail})` : ""}${took}\n`;
}

function progressLine(io: CliIO): (m: string) => void {
    return (m) => io.err(`… ${m}\n`);
}

export const clusterApplyCommand: Command = {
    path: ["cluster", "apply"],
    summary: "Server-side apply manifests in stages, record the inventory, prune what left it",
    help: `Usage: gitops cluster apply --file FILE... [--inventory FILE] [--prune]

Applies the manifests with server-side apply (field manager gitops-platform): CRDs and
Namespaces first, waits until they are established, then the rest (8 requests in flight).
Objects already matching the cluster are not sent again.

${CONN}
  --file FILE         manifests (YAML, multi-document); repeatable
  --inventory FILE    inventory JSON: read as the previous one; before anything is applied it
                      records every object the run may create, after the run the final set
                      (so an interrupted apply is still pruned by the next run)
  --prune             delete objects that left the inventory (needs --inventory)

Fields another field manager owned and this apply took over are named per object.
`,
    async run(args, io) {
        const f = parseFlags("cluster apply", args, { values: ["kubeconfig", "context", "file", "inventory"], repeatable: ["file"], booleans: ["prune"], required: ["file"] });
        const objects = readManifests(f.all("file"));
        const file = f.get("inventory");
        if (f.has("prune") && !file) throw new GitopsError("--prune", "needs --inventory", "prune deletes only what left a recorded inventory");
        const store = file ? fileInventoryStore(file) : undefined;
        if (store) await store.read(); // a broken inventory file fails before the cluster is touched
        const c = client(f);
        try {
            const onProgress = progressLine(io);
            if (!store) {
                const res = await applyStaged(c, objects, { onProgress });
                for (const r of res.results) if (r.action !== "unchanged") io.out(resultLine(r));
                return 0;
            }
            const res = await applyWithInventory(c, objects, { store, prune: f.has("prune"), onProgress });
            for (const r of res.applied.results) if (r.action !== "unchanged") io.out(resultLine(r));
            for (const r of res.pruned?.results ?? []) io.out(resultLine(r));
            for (const x of res.pruned?.failures ?? []) io.err(`delete failed, kept in the inventory: ${x.error}\n`);
            return 0;
        } finally {
            c.close();
        }
    },
};

export const clusterDiffCommand: Command = {
    path: ["cluster", "diff"],
    summary: "Report drift: what applying the manifests would create, configure or prune (never writes)",
    help: `Usage: gitops cluster diff --file FILE... [--inventory FILE] [--no-dry-run] [--exit-code]

Compares the live cluster with the manifests and prints, per object, created / configured /
unchanged / deleted / skipped, with the fields that differ. Report-only: nothing is changed.

${CONN}
  --file FILE         manifests (YAML, multi-document); repeatable
  --inventory FILE    previous inventory JSON, to show what would be pruned
  --no-dry-run        compare declared fields only (no server-side dry-run apply)
  --verbose           list unchanged objects too
  --exit-code         exit 3 when there is drift
`,
    async run(args, io) {
        const f = parseFlags("cluster diff", args, { values: ["kubeconfig", "context", "file", "inventory"], repeatable: ["file"], booleans: ["no-dry-run", "verbose", "exit-code"], required: ["file"] });
        const c = client(f);
        try {
            const res = await diffCluster(c, readManifests(f.all("file")), await readInventory(f.get("inventory")), { dryRun: !f.has("no-dry-run"), verbose: f.has("verbose") });
            io.out(res.summary);
            const drift = res.counts.created + res.counts.configured + res.counts.deleted > 0;
            return f.has("exit-code") && drift ? 3 : 0;
        } finally {
            c.close();
        }
    },
};

export const clusterHealthCommand: Command = {
    path: ["cluster", "health"],
    summary: "Print the kstatus health (Current/InProgress/Failed/...) of the manifests' objects",
    help: `Usage: gitops cluster health --file FILE...

${CONN}
  --file FILE         manifests (YAML, multi-document); repeatable
Exits 1 when any object is Failed or NotFound.
`,
    async run(args, io) {
        const f = parseFlags("cluster health", args, { values: ["kubeconfig", "context", "file"], repeatable: ["file"], required: ["file"] });
        const c = client(f);
        try {
            const hs = await checkHealth(c, readManifests(f.all("file")));
            for (const h of hs) io.out(`${h.status.padEnd(11)} ${h.id}  ${h.message}\n`);
            return hs.some((h) => h.status === "Failed" || h.status === "NotFound") ? 1 : 0;
        } finally {
            c.close();
        }
    },
};

function parseRef(s: string): FluxRef {
    const i = s.indexOf("/");
    return i < 0 ? { name: s } : { namespace: s.slice(0, i), name: s.slice(i + 1) };
}

/** "90s", "5m", "1h", "1500ms" or plain seconds. */
export function parseDuration(s: string, where: string): number {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(s.trim());
    if (!m) throw new GitopsError(where, `not a duration: ${s}`, "use e.g. 90s, 5m, 1h");
    const n = parseFloat(m[1]);
    return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "ms" | "s" | "m" | "h"]);
}

export const clusterWaitCommand: Command = {
    path: ["cluster", "wait"],
    summary: "Trigger Flux and wait until it has applied a Git revision",
    help: `Usage: gitops cluster wait --revision SHA --kustomization [NS/]NAME... [--git-repository [NS/]NAME]

Annotates the GitRepository and Kustomizations with reconcile.fluxcd.io/requestedAt, then waits
until the GitRepository's artifact is at the revision (<branch>@sha1:<sha> or a bare sha) and
every Kustomization is Ready with lastAppliedRevision at it. Namespaces default to flux-system.

${CONN}
  --revision SHA            the commit to wait for
  --git-repository NAME     default flux-system/flux-system
  --kustomization NAME      repeatable
  --timeout DURATION        default 5m
  --no-trigger              do not annotate, only wait
`,
    async run(args, io) {
        const f = parseFlags("cluster wait", args, {
            values: ["kubeconfig", "context", "revision", "git-repository", "kustomization", "timeout"],
            repeatable: ["kustomization"],
            booleans: ["no-trigger"],
            required: ["revision"],
        });
        const c = client(f);
        try {
            const r = await waitForRevision(c, {
                gitRepository: parseRef(f.get("git-repository") ?? "flux-system/flux-system"),
                kustomizations: f.all("kustomization").map(parseRef),
                revision: f.get("revision")!,
                timeoutMs: parseDuration(f.get("timeout") ?? "5m", "--timeout"),
                trigger: !f.has("no-trigger"),
                onProgress: progressLine(io),
            });
            io.out(`revision ${r.revision} applied (${Object.keys(r.applied).length} Kustomizations, ${(r.elapsedMs / 1000).toFixed(1)}s)\n`);
            return 0;
        } finally {
            c.close();
        }
    },
};
