#!/usr/bin/env bash
# Tears down what `npm run up` made: `pulumi destroy` of the stack (with the same arguments up
# used), then the local control plane down with its data (etcd, artifacts, certificates: the next
# `npm run up` starts a fresh cluster, as after deleting a k3d cluster), then the fleet server up
# started for k3d. Leaves no process or port behind. The fleet repo (.fleet) and Pulumi's state stay.
#
#   npm run down             # dev
#   npm run down -- test     # another stack
set -uo pipefail
cd "$(dirname "$0")/.."
# The Node npm ci installed runs everything (the program, the provider host), as under `npm run`.
export PATH="$PWD/node_modules/.bin:$PATH"
stack="${1:-dev}"
work=.gitops/up
say() { printf '== %s\n' "$*" >&2; }
rc=0

rm -f "$work/plan.env"
node bin/gitops check --stack "$stack" --plan "$work/plan.env" >/dev/null 2>&1
# shellcheck disable=SC1091
[ -f "$work/plan.env" ] && . "$work/plan.env"
args=(--stack "$stack")
[ -f "$work/pulumi-args-$stack" ] && mapfile -t args < "$work/pulumi-args-$stack"
# A --config-file up wrote is written again (the stack file may have changed since).
for a in "${args[@]}"; do
  [ "$a" = "$work/Pulumi.$stack.yaml" ] && node bin/gitops up config --stack "$stack" --out "$a" >/dev/null
done

if [ -n "${GITOPS_PULUMI:-}" ]; then
  . scripts/pulumi-env.sh
  if pulumi stack select "$stack" >/dev/null 2>&1; then
    say "pulumi destroy ${args[*]}"
    pulumi destroy "${args[@]}" --yes --skip-preview || { say "pulumi destroy failed; the local control plane is stopped anyway"; rc=1; }
  else
    say "no stack $stack in ${PULUMI_BACKEND_URL:-file://~}: nothing to destroy"
  fi
else
  say "no Pulumi CLI found (gitops check --stack $stack says how to get one): skipping pulumi destroy"
  rc=1
fi

if node bin/gitops local --help >/dev/null 2>&1; then
  say "gitops local down --purge"
  node bin/gitops local down --purge >&2 || rc=1
fi
if [ -f "$work/fleet-serve.pid" ]; then
  pid=$(cat "$work/fleet-serve.pid")
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "fleet serve"; then
    kill "$pid" && say "stopped the fleet server (pid $pid)"
  fi
  rm -f "$work/fleet-serve.pid"
fi
exit $rc
