/**
 * `gitops cluster ...`: the cluster engine from the command line — apply (staged, with prune),
 * diff (report-only drift/preview), health, and wait (for Flux to apply a revision).
 */
import * as fs from "fs";
import { parseAllDocuments } from "yaml";
import type { Command, CliIO } from "../util/cli";
import { GitopsError } from "../errors";
import { KubeObject } from "../flux/api";
import { parseFlags } from "../util/cli";
import { applyStaged } from "./apply";
import { applyWithInventory, fileInventoryStore } from "./inventory";
import { ObjectResult } from "./plan";
import { ClientOptions, ClusterClient } from "./client";
import { diffCluster } from "./diff";
import { Inventory } from "./ids";
import { checkHealth, FluxRef, waitForRevision } from "./wait";

export const CONN = `  --kubeconfig FILE   kubeconfig to use (default: $KUBECONFIG)
  --context NAME      kubeconfig context (default: its current-context)`;

/** The connection flags every cluster command takes (see CONN). */
export const CONN_FLAGS = { kubeconfig: { type: "string" }, context: { type: "string" } } as const;

/** A client for --kubeconfig/--context (or $KUBECONFIG); the caller closes it. */
export function client(flags: { kubeconfig?: string; context?: string }, opts: ClientOptions = {}): ClusterClient {
    const path = flags.kubeconfig ?? process.env.KUBECONFIG;
    if (!path) throw new GitopsError("--kubeconfig", "no kubeconfig given", "pass --kubeconfig FILE or set KUBECONFIG");
    let text: string;
    try {
        text = fs.readFileSync(path, "utf8");
    } catch (err) {
        throw new GitopsError(path, `cannot read the kubeconfig: ${(err as Error).message}`);
    }
    return ClusterClient.fromKubeconfig(text, flags.context, opts);
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
        const { values: f } = parseFlags(
            "cluster apply",
            args,
            { ...CONN_FLAGS, file: { type: "string", multiple: true }, inventory: { type: "string" }, prune: { type: "boolean" } },
            { required: ["file"] },
        );
        const objects = readManifests(f.file!);
        const file = f.inventory;
        if (f.prune && !file) throw new GitopsError("--prune", "needs --inventory", "prune deletes only what left a recorded inventory");
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
            const res = await applyWithInventory(c, objects, { store, prune: !!f.prune, onProgress });
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
        const { values: f } = parseFlags(
            "cluster diff",
            args,
            {
                ...CONN_FLAGS,
                file: { type: "string", multiple: true },
                inventory: { type: "string" },
                "no-dry-run": { type: "boolean" },
                verbose: { type: "boolean" },
                "exit-code": { type: "boolean" },
            },
            { required: ["file"] },
        );
        const c = client(f);
        try {
            const res = await diffCluster(c, readManifests(f.file!), await readInventory(f.inventory), { dryRun: !f["no-dry-run"], verbose: !!f.verbose });
            io.out(res.summary);
            const drift = res.counts.created + res.counts.configured + res.counts.deleted > 0;
            return f["exit-code"] && drift ? 3 : 0;
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
        const { values: f } = parseFlags("cluster health", args, { ...CONN_FLAGS, file: { type: "string", multiple: true } }, { required: ["file"] });
        const c = client(f);
        try {
            const hs = await checkHealth(c, readManifests(f.file!));
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
        const { values: f } = parseFlags(
            "cluster wait",
            args,
            {
                ...CONN_FLAGS,
                revision: { type: "string" },
                "git-repository": { type: "string" },
                kustomization: { type: "string", multiple: true },
                timeout: { type: "string" },
                "no-trigger": { type: "boolean" },
            },
            { required: ["revision"] },
        );
        const c = client(f);
        try {
            const r = await waitForRevision(c, {
                gitRepository: parseRef(f["git-repository"] ?? "flux-system/flux-system"),
                kustomizations: (f.kustomization ?? []).map(parseRef),
                revision: f.revision!,
                timeoutMs: parseDuration(f.timeout ?? "5m", "--timeout"),
                trigger: !f["no-trigger"],
                onProgress: progressLine(io),
            });
            io.out(`revision ${r.revision} applied (${Object.keys(r.applied).length} Kustomizations, ${(r.elapsedMs / 1000).toFixed(1)}s)\n`);
            return 0;
        } finally {
            c.close();
        }
    },
};
