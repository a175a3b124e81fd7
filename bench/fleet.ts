/**
 * A generated fleet for the render benches: three environments, each with one Flux Kustomization
 * per app (path apps/<env>/<app>, postBuild variables), over a shared base per app.
 *
 *   apps/base/<app>/{kustomization,objects}.yaml    Deployments (envFrom their ConfigMap) + ConfigMaps
 *   apps/<env>/<app>/kustomization.yaml             namespace, namePrefix, labels, images, replicas, a JSON6902 patch
 *   apps/<env>/kustomization.yaml                   lists every app of the env (what `kubectl kustomize apps/<env>` builds)
 *   clusters/<env>/apps.yaml                        the Flux Kustomizations
 *
 * The objects hold no ${...}, so postBuild substitution leaves kustomize's bytes as they are and
 * the output can be compared with `kubectl kustomize apps/<env>` byte for byte.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import type { RevisionItem } from "../engine/render/cache";

export const ENVS = ["dev", "staging", "prod"];

export interface FleetShape {
    apps: number;
    /** Objects per app (half Deployments, half ConfigMaps). */
    objectsPerApp: number;
}

/** apps × objectsPerApp × 3 environments: at least `objects`. */
export function shapeFor(objects: number, apps = 50): FleetShape {
    return { apps, objectsPerApp: Math.max(2, Math.ceil(objects / ENVS.length / apps)) };
}

export const appName = (i: number): string => `app-${String(i).padStart(3, "0")}`;

function appObjects(app: string, n: number, version = "1"): string {
    const docs: string[] = [];
    for (let i = 0; i < n; i++) {
        const c = Math.floor(i / 2);
        if (i % 2 === 0) {
            docs.push(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${app}-c${c}
  labels:
    app: ${app}
    component: c${c}
spec:
  replicas: 1
  selector:
    matchLabels:
      app: ${app}
      component: c${c}
  template:
    metadata:
      labels:
        app: ${app}
        component: c${c}
    spec:
      containers:
      - name: main
        image: nginx:1.25
        envFrom:
        - configMapRef:
            name: ${app}-c${c}-config
        resources:
          requests:
            cpu: 10m
            memory: 32Mi
`);
        } else {
            docs.push(`apiVersion: v1
kind: ConfigMap
metadata:
  name: ${app}-c${c}-config
data:
  LOG_LEVEL: info
  FEATURE_FLAGS: "a,b,c"
  VERSION: "${version}"
`);
        }
    }
    return docs.join("---\n");
}

function overlay(env: string, app: string): string {
    return `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: ${app}-${env}
namePrefix: ${env}-
labels:
- pairs:
    env: ${env}
resources:
- ../../base/${app}
images:
- name: nginx
  newTag: 1.27-${env}
replicas:
- name: ${app}-c0
  count: ${env === "prod" ? 3 : 1}
patches:
- target:
    kind: Deployment
    labelSelector: app=${app}
  patch: |-
    - op: add
      path: /spec/template/spec/containers/0/env
      value:
      - name: ENVIRONMENT
        value: ${env}
`;
}

/** Every file of the fleet: repo-relative path -> content. */
export function fleetFiles(shape: FleetShape): Record<string, string> {
    const files: Record<string, string> = {};
    for (let a = 0; a < shape.apps; a++) {
        const app = appName(a);
        files[`apps/base/${app}/kustomization.yaml`] = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- objects.yaml\n";
        files[`apps/base/${app}/objects.yaml`] = appObjects(app, shape.objectsPerApp);
    }
    for (const env of ENVS) {
        const apps: string[] = [];
        const kustomizations: string[] = [];
        for (let a = 0; a < shape.apps; a++) {
            const app = appName(a);
            apps.push(app);
            files[`apps/${env}/${app}/kustomization.yaml`] = overlay(env, app);
            kustomizations.push(`apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: ${app}
  namespace: flux-system
spec:
  interval: 10m
  path: ./apps/${env}/${app}
  prune: true
  sourceRef:
    kind: GitRepository
    name: flux-system
  postBuild:
    substitute:
      cluster_env: ${env}
`);
        }
        files[`apps/${env}/kustomization.yaml`] = `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n${apps.map((a) => `- ${a}`).join("\n")}\n`;
        files[`clusters/${env}/apps.yaml`] = kustomizations.join("---\n");
    }
    return files;
}

/** A one-app change for a pull request: bumps a value in the app's base (seen in every env). */
export function appChange(shape: FleetShape, app: number, version: string): Record<string, string> {
    return { [`apps/base/${appName(app)}/objects.yaml`]: appObjects(appName(app), shape.objectsPerApp, version) };
}

/** What Flux would render: one item per Kustomization in clusters/<env>/apps.yaml, env by env. */
export function fleetItems(shape: FleetShape): RevisionItem[] {
    const items: RevisionItem[] = [];
    for (const env of ENVS) for (let a = 0; a < shape.apps; a++) items.push({ path: `apps/${env}/${appName(a)}`, substitute: { cluster_env: env } });
    return items;
}

export function writeFiles(dir: string, files: Record<string, string>): void {
    for (const [p, c] of Object.entries(files)) {
        fs.mkdirSync(path.join(dir, path.dirname(p)), { recursive: true });
        fs.writeFileSync(path.join(dir, p), c);
    }
}

function git(args: string[], cwd: string): string {
    return execFileSync("git", ["-c", "user.name=bench", "-c", "user.email=bench@localhost", ...args], { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** A work tree at `dir` holding `files`, committed on main, pushed to a new bare repo; returns the bare repo. */
export function fleetRepo(root: string, files: Record<string, string>): { bare: string; work: string } {
    const bare = path.join(root, "fleet.git");
    const work = path.join(root, "work");
    fs.mkdirSync(work, { recursive: true });
    git(["init", "--quiet", "--bare", "--initial-branch=main", bare], root);
    git(["init", "--quiet", "--initial-branch=main"], work);
    writeFiles(work, files);
    git(["add", "-A"], work);
    git(["commit", "--quiet", "-m", "fleet"], work);
    git(["push", "--quiet", bare, "HEAD:refs/heads/main"], work);
    return { bare, work };
}

/** Commits `files` in `work` on a new branch from main and pushes it; leaves `work` on that branch. */
export function pushBranch(work: string, bare: string, branch: string, files: Record<string, string>): void {
    git(["checkout", "--quiet", "-B", branch, "main"], work);
    writeFiles(work, files);
    git(["commit", "--quiet", "-am", branch], work);
    git(["push", "--quiet", bare, `HEAD:refs/heads/${branch}`], work);
}
