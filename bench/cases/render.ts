/**
 * render-overlay-1k / render-overlay-5k: ONE generated overlay (namespace, namePrefix, labels, a JSON6902 patch, a
 * strategic-merge patch, the images transformer; postBuild variables in the objects) rendered by
 * ours (kubectl kustomize + our substitution and parsing) against `kubectl kustomize` alone, with
 * the same build flags. ratio = peer/ours; close to 1 means substitution adds little.
 *
 * kustomize's own time grows quadratically with the object count in one build (seconds at 1k,
 * minutes at 5k; kustomize#5084, still so in kustomize/api v0.21.1, the release the pinned
 * kustomize-controller builds with), so 5k runs once. Ours wraps kustomize, so on one overlay it
 * can only match it: the fleet case (render-fleet.ts, render-5k) renders per Kustomization as Flux
 * does. When kustomize v5.8.1 (that release) can be built, its time is printed too. render-subst-growth-<n> times our part alone (split, substitute, parse), in
 * process and without kustomize, at 1k/10k/100k objects to show it grows linearly.
 *
 * RENDER_BENCH_SIZES=1000 (comma-separated) limits the kustomize cases, e.g. to skip 5k.
 */
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { load1, report, timeBest, timePeer } from "../lib";
import { KUSTOMIZE_CLI, kustomizePeer } from "../kustomize-peer";
import { FLUX_BUILD_FLAGS, renderPath } from "../../engine/render/render";
import { splitDocuments, substituteVariables } from "../../engine/render/substitute";
import { yamlLoaderName } from "../../engine/render/yamlparse";

const VARS = { cluster_name: "eu-prod-1", region: "eu-west-1", replicas: "3", log_level: "info" };

function baseObject(i: number): string {
    if (i % 2 === 0) {
        return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app-${i}
  labels:
    app: app-${i}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: app-${i}
  template:
    metadata:
      labels:
        app: app-${i}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        env:
        - name: CLUSTER
          value: \${cluster_name}
        - name: REGION
          value: \${region:=us-east-1}
        - name: LOG_LEVEL
          value: \${log_level:=debug}
`;
    }
    return `apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg-${i}
data:
  cluster: \${cluster_name}
  region: \${region}
  literal: $\${not_a_var}
`;
}

/** Writes base/ (objects in files of 100) and overlay/ into a new temp dir; returns it. */
function generateOverlay(n: number): string {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), `gitops-bench-render-${n}-`));
    const base = path.join(root, "base");
    const overlay = path.join(root, "overlay");
    fs.mkdirSync(base);
    fs.mkdirSync(overlay);
    const files: string[] = [];
    for (let f = 0; f * 100 < n; f++) {
        const docs: string[] = [];
        for (let i = f * 100; i < Math.min(n, (f + 1) * 100); i++) docs.push(baseObject(i));
        const name = `objects-${String(f).padStart(4, "0")}.yaml`;
        fs.writeFileSync(path.join(base, name), docs.join("---\n"));
        files.push(name);
    }
    fs.writeFileSync(path.join(base, "kustomization.yaml"), `resources:\n${files.map((f) => `- ${f}`).join("\n")}\n`);
    fs.writeFileSync(
        path.join(overlay, "kustomization.yaml"),
        `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: prod
namePrefix: prod-
commonLabels:
  env: prod
labels:
- pairs:
    team: platform
resources:
- ../base
images:
- name: nginx
  newName: registry.example.com/nginx
  newTag: "1.27"
patches:
- target:
    kind: Deployment
    name: app-0
  patch: |-
    - op: replace
      path: /spec/replicas
      value: 3
- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: app-2
    spec:
      template:
        metadata:
          annotations:
            cluster: \${cluster_name}
`,
    );
    return root;
}

/** kyaml-like build output of n objects, for the in-process substitution timing. */
function syntheticOutput(n: number): string {
    const docs: string[] = [];
    for (let i = 0; i < n; i++) {
        docs.push(
            baseObject(i)
                .replace(/^metadata:\n {2}name: (\S+)/m, "metadata:\n  name: prod-$1\n  namespace: prod")
                .replace("nginx:1.25", "registry.example.com/nginx:1.27"),
        );
    }
    return docs.join("---\n");
}

async function main(): Promise<void> {
    const sizes = (process.env.RENDER_BENCH_SIZES ?? "1000,5000").split(",").map((s) => parseInt(s, 10)).filter((s) => s > 0);
    console.log(`# render: yaml loader ${yamlLoaderName()}`);
    const k5 = kustomizePeer();
    for (const n of sizes) {
        const root = generateOverlay(n);
        try {
            const repeat = n >= 5000 ? 1 : 3;
            // Alternate ours and the peer so machine load drifts hit both alike; keep the best of each.
            let ours = Infinity;
            let peer = Infinity;
            for (let i = 0; i < repeat; i++) {
                let count = 0;
                ours = Math.min(
                    ours,
                    await timeBest(async () => {
                        const r = await renderPath(root, "overlay", { substitute: VARS, kustomizeBin: "kubectl" });
                        count = r.objects.length;
                    }, 1),
                );
                if (count !== n) throw new Error(`rendered ${count} objects, expected ${n}`);
                peer = Math.min(peer, timePeer("kubectl", ["kustomize", ...FLUX_BUILD_FLAGS, path.join(root, "overlay")], {}, 1));
            }
            const extra: Record<string, string | number> = { peer_is: "kubectl-kustomize", runs: repeat, load1: load1() };
            if (k5) extra[`kustomize_${KUSTOMIZE_CLI}`] = timePeer(k5, ["build", ...FLUX_BUILD_FLAGS, path.join(root, "overlay")], {}, 1).toFixed(4);
            const name = `render-overlay-${n >= 1000 ? `${n / 1000}k` : n}`;
            report(name, ours, peer, extra);
            console.log(`# ${name}: ours-minus-kustomize=${(ours - peer).toFixed(3)}s (runs=${repeat})`);
        } finally {
            fs.rmSync(root, { recursive: true, force: true });
        }
    }

    for (const n of [1000, 10_000, 100_000]) {
        const text = syntheticOutput(n);
        let count = 0;
        const t = await timeBest(() => {
            count = substituteVariables(splitDocuments(text), VARS).length;
        }, n >= 100_000 ? 1 : 3);
        if (count !== n) throw new Error(`substituted ${count} objects, expected ${n}`);
        report(`render-subst-growth-${n / 1000}k`, t);
        console.log(`# render-subst-growth-${n / 1000}k: ${((t / n) * 1e6).toFixed(1)} us/object, ${(text.length / 1e6).toFixed(1)} MB`);
    }
}

main().catch((err) => {
    console.error(err);
    process.exit(1);
});
