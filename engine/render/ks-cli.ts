/**
 * `gitops build ks NAME` and `gitops diff ks NAME`: a Flux Kustomization object, rendered as
 * kustomize-controller would apply it, and compared with the cluster (server-side apply
 * dry-run) or, without a cluster, with the same Kustomization at another git revision.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as YAML from "yaml";
import { GitopsError } from "../errors";
import { API, Kustomization, KubeObject, SubstituteReference } from "../flux/api";
import type { Inventory } from "../cluster/ids";
import type { ClusterClient } from "../cluster/client";
import { CONN, CONN_FLAGS, client, readManifests } from "../cluster/cli";
import type { Command, CliIO } from "../util/cli";
import { parseFlags } from "../util/cli";
import { buildKustomization, ksName, maskSecret } from "./kustomization";
import type { RenderedObject, VarSourceObject } from "./substitute";

const SOURCE_FLAGS = {
    ...CONN_FLAGS,
    namespace: { type: "string", short: "n" },
    "kustomization-file": { type: "string" },
    path: { type: "string" },
    repo: { type: "string" },
    ref: { type: "string" },
    "substitute-from": { type: "string", multiple: true },
    "strict-substitute": { type: "boolean" },
} as const;

const SOURCE_HELP = `Where the Kustomization comes from:
  --kustomization-file F   a YAML file holding the Kustomization object (no cluster needed);
                           without it, the object is read from the cluster
  -n, --namespace NS       its namespace (default flux-system)

Where its files come from (one of):
  --path DIR               the local directory holding spec.path (a checkout; the repository
                           root is found with git, so ../ references work)
  --repo URL|DIR [--ref REV]  a repository: spec.path (or --path, as a path inside the
                           repository) is built at REV (any git revision: branch, tag, sha,
                           HEAD~1; default the repository's HEAD)

postBuild.substituteFrom ConfigMaps and Secrets are read from:
  --substitute-from FILE   YAML files with ConfigMaps/Secrets (repeatable), first; then
  the cluster, when one is reachable (--kubeconfig, $KUBECONFIG).
  --strict-substitute      fail on an unset variable without a default (kustomize-controller's
                           StrictPostBuildSubstitutions feature gate)

${CONN}`;

type SourceFlags = {
    kubeconfig?: string;
    context?: string;
    namespace?: string;
    "kustomization-file"?: string;
    path?: string;
    repo?: string;
    ref?: string;
    "substitute-from"?: string[];
    "strict-substitute"?: boolean;
};

/** A cluster client when one is configured; undefined when no kubeconfig is given at all. */
function maybeClient(f: SourceFlags): ClusterClient | undefined {
    if (!f.kubeconfig && !process.env.KUBECONFIG) return undefined;
    return client(f, { fieldManager: "kustomize-controller" });
}

/** The Kustomization NAME from --kustomization-file, or from the cluster. */
async function loadKustomization(name: string, f: SourceFlags, c: ClusterClient | undefined): Promise<Kustomization> {
    const ns = f.namespace ?? "flux-system";
    const id = `Kustomization/${ns}/${name}`;
    const file = f["kustomization-file"];
    if (file) {
        const all = readManifests([file]).filter((o) => o.kind === "Kustomization" && (o.apiVersion ?? "").startsWith("kustomize.toolkit.fluxcd.io/"));
        const ks = all.find((o) => o.metadata?.name === name && (o.metadata.namespace ?? ns) === ns);
        if (!ks) {
            const names = all.map((o) => `${o.metadata?.namespace ?? ns}/${o.metadata?.name}`).join(", ") || "none";
            throw new GitopsError(file, `no ${id} in the file (it holds: ${names})`, "check NAME and --namespace");
        }
        return { ...(ks as Kustomization), metadata: { ...ks.metadata, namespace: ns } };
    }
    if (!c) throw new GitopsError(id, "no cluster to read it from", "pass --kustomization-file F, or --kubeconfig FILE (or set KUBECONFIG)");
    const ks = await c.get(API.kustomize, "Kustomization", name, ns);
    if (!ks) throw new GitopsError(id, "not found in the cluster", "check NAME and --namespace (gitops get ks -A lists them)");
    return ks as Kustomization;
}

/** substituteFrom lookups: local files first, then the cluster. */
function lookupFor(ks: Kustomization, f: SourceFlags, c: ClusterClient | undefined): (ref: SubstituteReference) => Promise<VarSourceObject | undefined> {
    const ns = ks.metadata.namespace ?? "flux-system";
    const local = readManifests(f["substitute-from"] ?? []);
    return async (ref) => {
        const hit = local.find((o) => o.kind === ref.kind && o.metadata?.name === ref.name && (o.metadata.namespace ?? ns) === ns);
        if (hit) {
            const data: Record<string, string> = { ...((hit as { data?: Record<string, string> }).data ?? {}) };
            // stringData is plain text; data of a Secret is base64, as in the cluster.
            for (const [k, v] of Object.entries((hit as { stringData?: Record<string, string> }).stringData ?? {})) {
                data[k] = ref.kind === "Secret" ? Buffer.from(String(v)).toString("base64") : String(v);
            }
            return { data };
        }
        if (!c) {
            if (ref.optional) return undefined;
            throw new GitopsError(`${ksName(ks)} spec.postBuild.substituteFrom ${ref.kind}/${ref.name}`, "not in any --substitute-from file and no cluster to read it from", `pass --substitute-from FILE holding ${ref.kind} ${ns}/${ref.name}, or --kubeconfig`);
        }
        return (await c.get("v1", ref.kind, ref.name, ns)) as VarSourceObject | undefined;
    };
}

/**
 * The source root of a local directory, as Flux's artifact root: git's top level; outside git,
 * the directory minus a trailing spec.path (DIR=/tmp/fleet/apps/dev, spec.path ./apps/dev ->
 * /tmp/fleet); else the directory itself.
 */
function checkoutOf(dir: string, specPath?: string): { root: string; rel: string } {
    const abs = path.resolve(dir);
    if (!fs.existsSync(abs) || !fs.statSync(abs).isDirectory()) throw new GitopsError(`--path ${dir}`, "no such directory", "give the local directory holding the Kustomization's spec.path");
    const r = spawnSync("git", ["-C", abs, "rev-parse", "--show-toplevel"], { encoding: "utf8" });
    let root = abs;
    if (r.status === 0) root = r.stdout.trim();
    else if (specPath) {
        const tail = path.normalize(specPath.replace(/^\.?\/+/, "")).replace(/\/+$/, "");
        if (tail && tail !== "." && abs.endsWith(path.sep + tail)) root = abs.slice(0, abs.length - tail.length - 1);
    }
    return { root, rel: path.relative(root, abs) || "." };
}

/**
 * Renders `ks` at `ref`: from --repo (with --path as the path inside it instead of spec.path), or
 * from the local directory --path (its git repository when a revision is asked for).
 */
async function render(ks: Kustomization, f: SourceFlags, lookup: ReturnType<typeof lookupFor>, ref: string | undefined): Promise<RenderedObject[]> {
    const strict = !!f["strict-substitute"];
    if (!f.repo && !f.path) throw new GitopsError(ksName(ks), "no files to build", "pass --path DIR (a local checkout of spec.path) or --repo URL|DIR");
    if (!f.repo && ref === undefined) {
        const { root, rel } = checkoutOf(f.path!, ks.spec?.path);
        return (await buildKustomization(ks, root, { lookup, strict, path: rel })).objects;
    }
    const local = f.repo ? undefined : checkoutOf(f.path!);
    const repo = f.repo ?? local!.root;
    const rel = f.repo ? f.path : local!.rel;
    const { materialize } = await import("../git");
    const checkout = await materialize(repo, ref);
    try {
        // A --kustomization-file inside a local repository is read at the same revision too.
        const file = f["kustomization-file"];
        if (file && fs.existsSync(repo) && fs.statSync(repo).isDirectory()) {
            const inRepo = path.relative(checkoutOf(repo).root, path.resolve(file));
            const atRef = path.join(checkout.dir, inRepo);
            if (!inRepo.startsWith("..") && fs.existsSync(atRef)) ks = await loadKustomization(ks.metadata.name, { ...f, "kustomization-file": atRef }, undefined);
        }
        return (await buildKustomization(ks, checkout.dir, { lookup, strict, path: rel })).objects;
    } finally {
        await checkout.cleanup();
    }
}

function yamlOf(objects: readonly RenderedObject[]): string {
    return objects.map((o) => YAML.stringify(maskSecret(o.object))).join("---\n");
}

export const buildKsCommand: Command = {
    path: ["build", "ks"],
    summary: "print what kustomize-controller would apply for a Flux Kustomization (Secret values masked)",
    help: `Usage: gitops build ks NAME (--path DIR | --repo URL|DIR [--ref REV]) [--kustomization-file F] [options]

Renders the Flux Kustomization NAME exactly as kustomize-controller does: its targetNamespace,
namePrefix, nameSuffix, patches, components and images are written into the kustomization,
kustomize builds it, postBuild substitutes variables (substitute, substituteFrom; with
substituteStrategy Always even when there are none), and every object gets the owner labels
kustomize.toolkit.fluxcd.io/name and /namespace plus spec.commonMetadata. Prints the objects as
multi-document YAML; Secret data and stringData values are printed as ***.

${SOURCE_HELP}
`,
    async run(args: string[], io: CliIO): Promise<number> {
        const { values: f, positionals } = parseFlags("build ks", args, SOURCE_FLAGS, { positionals: ["NAME"] });
        const c = maybeClient(f);
        try {
            const ks = await loadKustomization(positionals[0], f, c);
            io.out(yamlOf(await render(ks, f, lookupFor(ks, f, c), f.ref)));
            return 0;
        } finally {
            c?.close();
        }
    },
};

/** A unified diff of two texts (git diff --no-index), without the file header lines. */
function unifiedDiff(a: string, b: string): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "gitops-diff-"));
    try {
        fs.writeFileSync(path.join(dir, "a"), a);
        fs.writeFileSync(path.join(dir, "b"), b);
        const r = spawnSync("git", ["diff", "--no-index", "--no-color", "-U3", "a", "b"], { cwd: dir, encoding: "utf8" });
        if (r.status !== 0 && r.status !== 1) throw new GitopsError("git diff --no-index", r.stderr.trim() || "failed", "check that git is installed");
        return r.stdout
            .split("\n")
            .filter((l) => l && !/^(diff --git|index |--- |\+\+\+ )/.test(l))
            .join("\n");
    } finally {
        fs.rmSync(dir, { recursive: true, force: true });
    }
}

/** Object-by-object comparison of two renders: created, deleted, configured with a YAML diff. */
export function diffRenders(before: readonly RenderedObject[], after: readonly RenderedObject[]): { text: string; changed: number } {
    const old = new Map(before.map((o) => [o.id, o]));
    const lines: string[] = [];
    let changed = 0;
    for (const o of after) {
        const prev = old.get(o.id);
        old.delete(o.id);
        if (!prev) {
            changed++;
            lines.push(`created ${o.id}`);
            continue;
        }
        const a = YAML.stringify(maskSecret(prev.object));
        const b = YAML.stringify(maskSecret(o.object));
        if (a === b) {
            if (JSON.stringify(prev.object) !== JSON.stringify(o.object)) {
                changed++;
                lines.push(`configured ${o.id} (Secret values changed; masked)`);
            }
            continue;
        }
        changed++;
        lines.push(`configured ${o.id}`, unifiedDiff(a, b).replace(/^/gm, "    "));
    }
    for (const id of old.keys()) {
        changed++;
        lines.push(`deleted ${id}`);
    }
    return { text: lines.length ? lines.join("\n") + "\n" : "", changed };
}

export const diffKsCommand: Command = {
    path: ["diff", "ks"],
    summary: "what applying a Flux Kustomization would change: in the cluster (dry-run) or against another git revision",
    help: `Usage: gitops diff ks NAME (--path DIR | --repo URL|DIR [--ref REV]) [--against REV] [options]

Renders the Flux Kustomization NAME as 'gitops build ks' does, then:
  without --against   compares it with the cluster: a server-side apply dry-run as
                      kustomize-controller (field manager kustomize-controller), and the objects
                      of the Kustomization's status.inventory that would be pruned. Nothing is
                      written.
  --against REV       compares it, cluster-free, with the same Kustomization rendered at REV of the
                      same repository (--repo, or git's repository of the local --path DIR),
                      object by object.
Prints one line per created / configured / deleted object, with the changed fields or a YAML
diff; Secret values are printed as ***.

${SOURCE_HELP}
  --against REV            the git revision to compare with (any revision: HEAD~1, a tag, a sha)
  --exit-code              exit 3 when there are differences
`,
    async run(args: string[], io: CliIO): Promise<number> {
        const { values: f, positionals } = parseFlags(
            "diff ks",
            args,
            { ...SOURCE_FLAGS, against: { type: "string" }, "exit-code": { type: "boolean" } },
            { positionals: ["NAME"] },
        );
        const c = maybeClient(f);
        try {
            const ks = await loadKustomization(positionals[0], f, c);
            const lookup = lookupFor(ks, f, c);
            const objects = await render(ks, f, lookup, f.ref);
            let changed: number;
            if (f.against !== undefined) {
                const before = await render(ks, f, lookup, f.against);
                const d = diffRenders(before, objects);
                io.out(d.text || `no changes between ${f.against} and ${f.ref ?? (f.repo ? "HEAD" : "the working tree")}\n`);
                changed = d.changed;
            } else {
                if (!c) throw new GitopsError(ksName(ks), "no cluster to compare with", "pass --kubeconfig FILE (or set KUBECONFIG), or --against REV to compare two git revisions");
                const { diffCluster } = await import("../cluster/diff");
                const live = await c.get(API.kustomize, "Kustomization", ks.metadata.name, ks.metadata.namespace);
                const inventory = (live as Kustomization & { status?: { inventory?: Inventory } } | undefined)?.status?.inventory;
                const res = await diffCluster(c, objects.map((o) => o.object as KubeObject), inventory);
                io.out(res.summary);
                changed = res.counts.created + res.counts.configured + res.counts.deleted;
            }
            return f["exit-code"] && changed > 0 ? 3 : 0;
        } finally {
            c?.close();
        }
    },
};
