#!/usr/bin/env bash
# The main job on the embedded default: `pulumi up` for one stack (default dev) on the local
# file backend with the passphrase secrets provider. dev needs Docker and k3d (a local cluster)
# and serves its local fleet repository to the cluster on port 8765.
#
#   npm run up               # dev
#   npm run up -- prod       # another stack (needs its cloud credentials)
#   PREVIEW=1 npm run up     # pulumi preview instead of up
set -euo pipefail
cd "$(dirname "$0")/.."
stack="${1:-dev}"

pulumi() {
  if command -v pulumi >/dev/null 2>&1; then command pulumi "$@"; else npx --no-install pulumi "$@"; fi
}

# Local state, and an empty passphrase unless one is set: nothing here needs a cloud account.
# (`pulumi login --local` is file://~; set PULUMI_BACKEND_URL to use another backend.)
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
pulumi login "${PULUMI_BACKEND_URL:-file://~}" >/dev/null
pulumi stack select "$stack" --create --secrets-provider passphrase >/dev/null

if [ "$stack" = dev ]; then
  command -v docker >/dev/null || { echo "dev needs Docker for its k3d cluster (or set gitops:cluster.kind to none)"; exit 1; }
  command -v k3d >/dev/null || { echo "dev needs k3d: https://k3d.io (or set gitops:cluster.kind to none)"; exit 1; }
  # Flux in the k3d cluster pulls the local fleet repo over HTTP from the host.
  mkdir -p .fleet
  if ! (exec 3<>/dev/tcp/127.0.0.1/8765) 2>/dev/null; then
    nohup node bin/gitops fleet serve --root .fleet --port 8765 > .fleet/serve.log 2>&1 &
    echo "serving .fleet on :8765 (pid $!, log .fleet/serve.log)"
  fi
fi

if [ -n "${PREVIEW:-}" ]; then
  pulumi preview --stack "$stack" --diff
else
  pulumi up --stack "$stack" --yes
fi
