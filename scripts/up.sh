#!/usr/bin/env bash
# The main job on the embedded default: `pulumi up` for one stack (default dev) on the local file
# backend with the passphrase secrets provider. What it needs follows the stack's own config
# (gitops:cluster.kind in Pulumi.<stack>.yaml), checked first by `gitops check`:
#   k3d / kind  Docker and k3d/kind; without them, the local control plane below instead
#   local       the local control plane (`gitops local up`: kube-apiserver, etcd, controller-manager,
#               scheduler, kwok, the real Flux controllers), built from Go modules once
#   none        Git only: the fleet repo is rendered and committed, no cluster
# The Pulumi CLI: PATH, ~/.pulumi/bin, the npm pulumi package's download, else built from Go modules.
#
#   npm run up               # dev
#   npm run up -- prod       # another stack (needs its cloud credentials)
#   PREVIEW=1 npm run up     # pulumi preview instead of up
#   npm run down             # pulumi destroy, then the local control plane down
set -euo pipefail
cd "$(dirname "$0")/.."
# The Node npm ci installed runs everything (the program, the provider host), as under `npm run`.
export PATH="$PWD/node_modules/.bin:$PATH"
stack="${1:-dev}"
work=.gitops/up
mkdir -p "$work"
t_start=$SECONDS
say() { printf '== %s\n' "$*" >&2; }
elapsed() { local s=$((SECONDS - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

# 1. What this stack needs, present or missing (exits here, with the fix for each, when something is missing).
say "gitops check --stack $stack"
rm -f "$work/plan.env"
node bin/gitops check --stack "$stack" --plan "$work/plan.env" >&2 || { say "gitops check failed: fix what it says above, then run npm run up again"; exit 1; }
# shellcheck disable=SC1091
. "$work/plan.env"

# 2. The Pulumi CLI. Not found by the check: the npm pulumi package's download, with a timeout.
build=($GITOPS_BUILD)
if [ -z "$GITOPS_PULUMI" ]; then
  version=$(node -p 'require("pulumi/package.json").version')
  say "pulumi: not on PATH nor in ~/.pulumi; asking the npm pulumi package to download v$version from get.pulumi.com"
  if why=$(node -e '
      fetch("https://get.pulumi.com/install.sh", { method: "HEAD", signal: AbortSignal.timeout(10000) })
        .then((r) => { if (!r.ok) { console.log("HTTP " + r.status); process.exit(1); } })
        .catch((e) => { console.log((e.cause && (e.cause.code || e.cause.message)) || e.message); process.exit(1); })' 2>&1) \
     && timeout 600 node node_modules/pulumi/run.js version >/dev/null; then
    node bin/gitops check --stack "$stack" --plan "$work/plan.env" >/dev/null
    . "$work/plan.env"
    build=($GITOPS_BUILD)
  else
    say "pulumi: get.pulumi.com is not reachable from here (${why:-download failed or timed out after 600s}); building the CLI from Go modules instead"
  fi
fi

# 3. Build what is missing from Go modules (cached in the e2e cache; seconds when already built).
if [ ${#build[@]} -gt 0 ]; then
  command -v go >/dev/null || { say "Go is needed to build ${build[*]} (see gitops check above)"; exit 1; }
  say "building ${build[*]} from Go modules into $GITOPS_E2E_BIN: $GITOPS_BUILD_ESTIMATE; logs in ${GITOPS_E2E_BIN%/bin}/logs"
  t0=$SECONDS
  # Its own process group, so an interrupted `npm run up` stops every go build it started.
  setsid bash scripts/e2e-build.sh "${build[@]}" >/dev/null &
  pid=$!
  trap 'kill -- -$pid 2>/dev/null; say "build interrupted"; exit 130' INT TERM
  while kill -0 $pid 2>/dev/null; do
    sleep 30 & wait $! || true
    kill -0 $pid 2>/dev/null && say "still building ($(elapsed $t0) so far): $(ls -t "${GITOPS_E2E_BIN%/bin}"/logs/*.log 2>/dev/null | head -1 | xargs -r basename)"
  done
  trap - INT TERM
  wait $pid || { say "the build failed after $(elapsed $t0): $(grep -l '^failed' "$GITOPS_E2E_BIN"/status/* 2>/dev/null | xargs -r -n1 basename | tr '\n' ' ')(see $GITOPS_E2E_BIN/status and the logs)"; exit 1; }
  say "built in $(elapsed $t0)"
  node bin/gitops check --stack "$stack" --plan "$work/plan.env" >/dev/null || { say "still missing after the build:"; node bin/gitops check --stack "$stack" >&2; exit 1; }
  . "$work/plan.env"
fi
[ -n "$GITOPS_PULUMI" ] || { say "no Pulumi CLI (see gitops check above)"; exit 1; }
say "pulumi: $GITOPS_PULUMI ($GITOPS_PULUMI_SOURCE)"
. scripts/pulumi-env.sh
pulumi stack select "$stack" --create --secrets-provider passphrase >/dev/null

# 4. The cluster.
config=(--stack "$stack")
case $GITOPS_CLUSTER_KIND in
  k3d|kind)
    # Flux in the cluster pulls the local fleet repo over HTTP from the host.
    mkdir -p .fleet
    if ! (exec 3<>/dev/tcp/127.0.0.1/8765) 2>/dev/null; then
      nohup node bin/gitops fleet serve --root .fleet --port 8765 > .fleet/serve.log 2>&1 &
      echo $! > "$work/fleet-serve.pid"
      say "serving .fleet on :8765 (pid $!, log .fleet/serve.log)"
    fi ;;
  local)
    [ "$GITOPS_CLUSTER_CONFIGURED" = local ] || say "cluster: $GITOPS_CLUSTER_REASON, so the local control plane stands in for $GITOPS_CLUSTER_CONFIGURED"
    node bin/gitops local --help >/dev/null 2>&1 || { say "this checkout has no \`gitops local\` (the local control plane): set gitops:cluster.kind none in Pulumi.$stack.yaml to run Git only, or start Docker and install k3d"; exit 1; }
    mkdir -p .fleet
    if [ -n "${PREVIEW:-}" ]; then
      : # a preview starts nothing
    elif node bin/gitops local status >/dev/null 2>&1; then
      say "the local control plane is already running (npx gitops local status)"
    else
      node bin/gitops local down >/dev/null 2>&1 || true # leftovers of a half-stopped plane
      say "starting the local control plane (gitops local up; one log per piece in .gitops/local)"
      t0=$SECONDS
      node bin/gitops local up --fleet-root .fleet >&2
      say "local control plane up in $(elapsed $t0)"
    fi
    # The stack adopts it (gitops:cluster.kind local). When the stack file says k3d, Pulumi gets a
    # copy that says local; Pulumi.$stack.yaml itself is not changed.
    if [ "$GITOPS_CLUSTER_CONFIGURED" != local ]; then
      node bin/gitops up config --stack "$stack" --out "$work/Pulumi.$stack.yaml" | sed "s/^/== /" >&2
      config+=(--config-file "$work/Pulumi.$stack.yaml")
    fi ;;
  none) ;;
esac
# npm run down destroys with the same arguments.
printf '%s\n' "${config[@]}" > "$work/pulumi-args-$stack"

# 5. pulumi up: FleetSync commits the fleet, applies the Flux bootstrap and waits until Flux has
# applied that commit (Pulumi prints each resource's progress while it waits).
t0=$SECONDS
if [ -n "${PREVIEW:-}" ]; then
  pulumi preview "${config[@]}" --diff
  exit 0
fi
pulumi up "${config[@]}" --yes --skip-preview
say "pulumi up took $(elapsed $t0)"

# 6. What runs now, and how to look and tear down.
node bin/gitops up summary --kind "$GITOPS_CLUSTER_KIND" --stack "$stack"
say "npm run up took $(elapsed $t_start) in all"
