/**
 * `gitops get`, `gitops reconcile`, `gitops suspend`, `gitops resume`: the Flux objects of a
 * cluster, as the flux CLI shows and drives them.
 *
 * reconcile: sets the reconcile.fluxcd.io/requestedAt annotation to a new value and waits until
 * the controller reports it back in status.lastHandledReconcileAt, then reads the Ready
 * condition (fluxcd/pkg/apis/meta ReconcileRequestStatus). suspend/resume set spec.suspend;
 * resume also requests a reconcile and waits for it.
 */
import { GitopsError } from "../errors";
import { API, KubeObject, RECONCILE_REQUESTED_AT } from "../flux/api";
import type { Command, CliIO } from "../util/cli";
import { parseFlags } from "../util/cli";
import { CONN, CONN_FLAGS, client, parseDuration } from "./cli";
import type { ClusterClient } from "./client";

/** One Flux kind: the API versions to try (newest first) and how its revision reads. */
interface FluxKind {
    readonly kind: string;
    readonly versions: readonly string[];
    /** Words that name it on the command line: ["ks"], ["source", "git"]. */
    readonly words: readonly string[];
    readonly revision: (o: Status) => string;
    /** For reconcile --with-source: the source reference of an object of this kind. */
    readonly sourceOf?: (o: KubeObject) => { kind: string; name: string; namespace?: string } | undefined;
}

type Status = {
    status?: {
        conditions?: Array<{ type: string; status: string; reason?: string; message?: string; observedGeneration?: number }>;
        lastHandledReconcileAt?: string;
        lastAppliedRevision?: string;
        lastAttemptedRevision?: string;
        artifact?: { revision?: string };
        lastScanResult?: { tagCount?: number };
        latestRef?: { name?: string; tag?: string; digest?: string };
        latestImage?: string;
        lastPushCommit?: string;
        observedGeneration?: number;
    };
    spec?: { suspend?: boolean; sourceRef?: { kind: string; name: string; namespace?: string }; chart?: { spec?: { sourceRef?: { kind: string; name: string } } } };
    metadata?: { generation?: number; creationTimestamp?: string; namespace?: string; name: string };
};

const src = (o: KubeObject) => {
    const s = (o as Status).spec?.sourceRef;
    return s ? { kind: s.kind, name: s.name, namespace: s.namespace } : undefined;
};

const FLUX_KINDS: readonly FluxKind[] = [
    { kind: "Kustomization", versions: [API.kustomize], words: ["ks"], revision: (o) => o.status?.lastAppliedRevision ?? "", sourceOf: src },
    {
        kind: "HelmRelease",
        versions: [API.helm],
        words: ["hr"],
        revision: (o) => o.status?.lastAttemptedRevision ?? "",
        sourceOf: (o) => {
            const s = (o as Status).spec?.chart?.spec?.sourceRef;
            return s ? { kind: s.kind, name: s.name } : src(o);
        },
    },
    { kind: "GitRepository", versions: [API.source], words: ["source", "git"], revision: (o) => o.status?.artifact?.revision ?? "" },
    { kind: "OCIRepository", versions: [API.source, "source.toolkit.fluxcd.io/v1beta2"], words: ["source", "oci"], revision: (o) => o.status?.artifact?.revision ?? "" },
    { kind: "HelmRepository", versions: [API.source, "source.toolkit.fluxcd.io/v1beta2"], words: ["source", "helm"], revision: (o) => o.status?.artifact?.revision ?? "" },
    { kind: "HelmChart", versions: [API.source, "source.toolkit.fluxcd.io/v1beta2"], words: ["source", "chart"], revision: (o) => o.status?.artifact?.revision ?? "" },
    { kind: "Bucket", versions: [API.source, "source.toolkit.fluxcd.io/v1beta2"], words: ["source", "bucket"], revision: (o) => o.status?.artifact?.revision ?? "" },
    {
        kind: "ImageRepository",
        versions: [API.image, "image.toolkit.fluxcd.io/v1beta2"],
        words: ["image", "repository"],
        revision: (o) => (o.status?.lastScanResult?.tagCount !== undefined ? `${o.status.lastScanResult.tagCount} tags` : ""),
    },
    {
        kind: "ImagePolicy",
        versions: [API.image, "image.toolkit.fluxcd.io/v1beta2"],
        words: ["image", "policy"],
        revision: (o) => {
            const r = o.status?.latestRef;
            return r?.name ? `${r.name}:${r.tag ?? ""}${r.digest ? `@${r.digest}` : ""}` : (o.status?.latestImage ?? "");
        },
    },
    { kind: "ImageUpdateAutomation", versions: [API.image, "image.toolkit.fluxcd.io/v1beta2"], words: ["image", "update"], revision: (o) => o.status?.lastPushCommit ?? "" },
];

const GROUPS: Record<string, readonly string[]> = {
    ks: ["Kustomization"],
    kustomizations: ["Kustomization"],
    hr: ["HelmRelease"],
    helmreleases: ["HelmRelease"],
    sources: ["GitRepository", "OCIRepository", "HelmRepository", "HelmChart", "Bucket"],
    images: ["ImageRepository", "ImagePolicy", "ImageUpdateAutomation"],
};
GROUPS.all = [...GROUPS.sources, "Kustomization", "HelmRelease", ...GROUPS.images];

const KIND_WORDS = FLUX_KINDS.map((k) => k.words.join(" ")).join(", ");

/** The served API version of a Flux kind, or undefined when its CRD is not installed. */
async function served(c: ClusterClient, k: FluxKind): Promise<string | undefined> {
    for (const v of k.versions) if (await c.tryResource(v, k.kind)) return v;
    return undefined;
}

function readyOf(o: Status): { ready: string; message: string } {
    const cond = o.status?.conditions?.find((x) => x.type === "Ready");
    if (!cond) return { ready: "Unknown", message: "waiting to be reconciled" };
    const stale = cond.observedGeneration !== undefined && o.metadata?.generation !== undefined && cond.observedGeneration < o.metadata.generation;
    return { ready: stale ? "Unknown" : cond.status, message: (cond.message ?? "").split("\n")[0] };
}

/** "12s", "5m", "3h", "4d" since an RFC 3339 time. */
export function age(from: string | undefined, now = Date.now()): string {
    const t = from ? Date.parse(from) : NaN;
    if (Number.isNaN(t)) return "";
    const s = Math.max(0, Math.floor((now - t) / 1000));
    if (s < 120) return `${s}s`;
    if (s < 7200) return `${Math.floor(s / 60)}m`;
    if (s < 172800) return `${Math.floor(s / 3600)}h`;
    return `${Math.floor(s / 86400)}d`;
}

function table(rows: string[][]): string {
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd()).join("\n") + "\n";
}

export const getCommand: Command = {
    path: ["get"],
    summary: "list Flux objects with Ready, revision, suspended, age and message (like flux get)",
    help: `Usage: gitops get [all|ks|sources|hr|images] [NAME] [-A | -n NS]

Lists the Flux objects of the cluster: Kustomizations (ks), sources (GitRepository,
OCIRepository, HelmRepository, HelmChart, Bucket), HelmReleases (hr), image automation
(ImageRepository, ImagePolicy, ImageUpdateAutomation), or all of them (the default).
Kinds whose CRDs are not installed are left out.

Columns: NAME, REVISION (the applied or fetched revision), SUSPENDED, READY, AGE, MESSAGE.

Options:
  -A, --all-namespaces  every namespace (adds a NAMESPACE column)
  -n, --namespace NS    the namespace (default flux-system)
${CONN}
`,
    async run(args: string[], io: CliIO): Promise<number> {
        const { values: f, positionals } = parseFlags(
            "get",
            args,
            { ...CONN_FLAGS, "all-namespaces": { type: "boolean", short: "A" }, namespace: { type: "string", short: "n" } },
            { positionals: ["KIND", "NAME"], minPositionals: 0 },
        );
        const what = positionals[0] ?? "all";
        const kinds = GROUPS[what];
        if (!kinds) throw new GitopsError(`gitops get ${what}`, "unknown kind", `use one of: ${Object.keys(GROUPS).join(", ")}`);
        const ns = f["all-namespaces"] ? undefined : (f.namespace ?? "flux-system");
        const c = client(f);
        try {
            const rows: string[][] = [[...(ns ? [] : ["NAMESPACE"]), "NAME", "REVISION", "SUSPENDED", "READY", "AGE", "MESSAGE"]];
            let servedAny = false;
            for (const kind of kinds) {
                const k = FLUX_KINDS.find((x) => x.kind === kind)!;
                const v = await served(c, k);
                if (!v) continue;
                servedAny = true;
                const items = (await c.list(v, k.kind, ns)).filter((o) => !positionals[1] || o.metadata.name === positionals[1]);
                items.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
                for (const o of items) {
                    const s = o as Status;
                    const r = readyOf(s);
                    const name = kinds.length > 1 ? `${k.kind.toLowerCase()}/${o.metadata.name}` : o.metadata.name;
                    rows.push([...(ns ? [] : [o.metadata.namespace ?? ""]), name, k.revision(s), String(!!s.spec?.suspend), r.ready, age(o.metadata.creationTimestamp as string | undefined), r.message]);
                }
            }
            if (!servedAny) throw new GitopsError(`gitops get ${what}`, `the cluster serves none of: ${kinds.join(", ")}`, "install Flux (its CRDs) in this cluster, or check --kubeconfig/--context");
            if (rows.length === 1) io.err(`no ${what === "all" ? "Flux objects" : kinds.join(", ")} found${ns ? ` in namespace ${ns}` : ""}\n`);
            else io.out(table(rows));
            return 0;
        } finally {
            c.close();
        }
    },
};

/** Reads `KIND... NAME` from positionals: ks NAME, hr NAME, source git NAME, image repository NAME. */
function kindAndName(cmd: string, positionals: string[]): { k: FluxKind; name: string } {
    const k = FLUX_KINDS.find((x) => x.words.every((w, i) => positionals[i] === w));
    if (!k) throw new GitopsError(`gitops ${cmd} ${positionals.join(" ")}`.trim(), "unknown or missing kind", `give one of: ${KIND_WORDS}, then NAME`);
    const rest = positionals.slice(k.words.length);
    if (rest.length !== 1) throw new GitopsError(`gitops ${cmd} ${k.words.join(" ")}`, rest.length ? `one NAME expected, got ${rest.join(" ")}` : "NAME is required", `e.g. gitops ${cmd} ${k.words.join(" ")} flux-system`);
    return { k, name: rest[0] };
}

async function mustGet(c: ClusterClient, k: FluxKind, name: string, ns: string): Promise<{ v: string; obj: KubeObject }> {
    const id = `${k.kind}/${ns}/${name}`;
    const v = await served(c, k);
    if (!v) throw new GitopsError(id, `the cluster does not serve ${k.kind}`, "install Flux (its CRDs), or check --kubeconfig/--context");
    const obj = await c.get(v, k.kind, name, ns);
    if (!obj) throw new GitopsError(id, "not found", `check the name and --namespace (gitops get ${k.words[0] === "source" ? "sources" : k.words[0] === "image" ? "images" : k.words[0]} -A lists them)`);
    return { v, obj };
}

/**
 * Requests a reconcile of one object and waits until the controller handled it: sets
 * reconcile.fluxcd.io/requestedAt and waits for status.lastHandledReconcileAt to equal it, then
 * for Ready at the current generation. Returns the object as last read.
 */
export async function requestReconcile(
    c: ClusterClient,
    k: FluxKind,
    name: string,
    ns: string,
    opts: { timeoutMs: number; extraPatch?: Record<string, unknown>; onProgress?: (m: string) => void; pollMs?: number },
): Promise<KubeObject> {
    const id = `${k.kind}/${ns}/${name}`;
    const { v } = await mustGet(c, k, name, ns);
    const at = new Date().toISOString();
    await c.mergePatch(v, k.kind, name, ns, { ...(opts.extraPatch ?? {}), metadata: { annotations: { [RECONCILE_REQUESTED_AT]: at } } });
    opts.onProgress?.(`${id}: reconcile requested at ${at}`);
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
        const o = (await c.get(v, k.kind, name, ns)) as KubeObject & Status;
        if (!o) throw new GitopsError(id, "was deleted while waiting for it to reconcile");
        const handled = o.status?.lastHandledReconcileAt === at;
        const r = readyOf(o);
        if (handled && r.ready === "True") return o;
        if (handled && r.ready === "False") throw new GitopsError(id, `reconcile failed: ${r.message}`, "fix the cause named here, then reconcile again");
        if (Date.now() > deadline) {
            const why = handled ? `Ready is ${r.ready}${r.message ? `: ${r.message}` : ""}` : `the controller has not handled the request (status.lastHandledReconcileAt is ${o.status?.lastHandledReconcileAt ?? "unset"})`;
            throw new GitopsError(id, `not reconciled within ${Math.round(opts.timeoutMs / 1000)}s: ${why}`, "check that the Flux controllers run (kubectl -n flux-system get pods), or raise --timeout");
        }
        await new Promise((res) => setTimeout(res, opts.pollMs ?? 500));
    }
}

const WAIT_FLAGS = { ...CONN_FLAGS, namespace: { type: "string", short: "n" }, timeout: { type: "string" } } as const;
const WAIT_HELP = `  -n, --namespace NS    the object's namespace (default flux-system)
  --timeout DURATION    how long to wait for the controller (default 5m)
${CONN}`;

export const reconcileCommand: Command = {
    path: ["reconcile"],
    summary: "ask Flux to reconcile an object now and wait until it has (requestedAt -> lastHandledReconcileAt)",
    help: `Usage: gitops reconcile KIND NAME [--with-source] [options]
  KIND: ${KIND_WORDS}

Sets the reconcile.fluxcd.io/requestedAt annotation to the current time and waits until the
controller reports the same value in status.lastHandledReconcileAt and the object is Ready.
Prints the revision it is at. Refuses a suspended object (resume it first).

Options:
  --with-source         reconcile the object's source (spec.sourceRef) first, and wait for it
${WAIT_HELP}
`,
    async run(args: string[], io: CliIO): Promise<number> {
        const { values: f, positionals } = parseFlags("reconcile", args, { ...WAIT_FLAGS, "with-source": { type: "boolean" } }, { positionals: ["KIND", "KIND2", "NAME"], minPositionals: 0 });
        const { k, name } = kindAndName("reconcile", positionals);
        const ns = f.namespace ?? "flux-system";
        const timeoutMs = parseDuration(f.timeout ?? "5m", "--timeout");
        const progress = (m: string) => io.err(`… ${m}\n`);
        const c = client(f);
        try {
            const { obj } = await mustGet(c, k, name, ns);
            if ((obj as Status).spec?.suspend) throw new GitopsError(`${k.kind}/${ns}/${name}`, "is suspended", `resume it first: gitops resume ${k.words.join(" ")} ${name} -n ${ns}`);
            if (f["with-source"]) {
                const ref = k.sourceOf?.(obj);
                if (!ref) throw new GitopsError(`${k.kind}/${ns}/${name}`, "has no spec.sourceRef", "drop --with-source");
                const sk = FLUX_KINDS.find((x) => x.kind === ref.kind);
                if (!sk) throw new GitopsError(`${k.kind}/${ns}/${name} spec.sourceRef`, `unknown source kind ${ref.kind}`);
                const s = await requestReconcile(c, sk, ref.name, ref.namespace ?? ns, { timeoutMs, onProgress: progress });
                io.out(`${sk.kind}/${ref.namespace ?? ns}/${ref.name} reconciled: revision ${sk.revision(s as Status) || "(none)"}\n`);
            }
            const o = await requestReconcile(c, k, name, ns, { timeoutMs, onProgress: progress });
            io.out(`${k.kind}/${ns}/${name} reconciled: revision ${k.revision(o as Status) || "(none)"}\n`);
            return 0;
        } finally {
            c.close();
        }
    },
};

function suspendCommand(suspend: boolean): Command {
    const verb = suspend ? "suspend" : "resume";
    return {
        path: [verb],
        summary: suspend ? "stop Flux reconciling an object (spec.suspend: true)" : "let Flux reconcile a suspended object again, and wait until it has",
        help: `Usage: gitops ${verb} KIND NAME [options]
  KIND: ${KIND_WORDS}

${
    suspend
        ? "Sets spec.suspend: true: the controller stops reconciling the object until it is resumed."
        : "Sets spec.suspend: false and requests a reconcile (reconcile.fluxcd.io/requestedAt), then\nwaits until the controller has handled it and the object is Ready."
}

Options:
${WAIT_HELP}
`,
        async run(args: string[], io: CliIO): Promise<number> {
            const { values: f, positionals } = parseFlags(verb, args, WAIT_FLAGS, { positionals: ["KIND", "KIND2", "NAME"], minPositionals: 0 });
            const { k, name } = kindAndName(verb, positionals);
            const ns = f.namespace ?? "flux-system";
            const c = client(f);
            try {
                const { v } = await mustGet(c, k, name, ns);
                if (suspend) {
                    await c.mergePatch(v, k.kind, name, ns, { spec: { suspend: true } });
                    io.out(`${k.kind}/${ns}/${name} suspended\n`);
                    return 0;
                }
                const o = await requestReconcile(c, k, name, ns, {
                    timeoutMs: parseDuration(f.timeout ?? "5m", "--timeout"),
                    extraPatch: { spec: { suspend: false } },
                    onProgress: (m) => io.err(`… ${m}\n`),
                });
                io.out(`${k.kind}/${ns}/${name} resumed: revision ${k.revision(o as Status) || "(none)"}\n`);
                return 0;
            } finally {
                c.close();
            }
        },
    };
}

export const suspendFluxCommand = suspendCommand(true);
export const resumeFluxCommand = suspendCommand(false);
