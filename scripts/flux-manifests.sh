#!/usr/bin/env bash
# Fills the Flux manifest cache that engine/flux/upstream.ts reads, for one Flux release, from
# published sources only (no hand-made YAML):
#   1. github.com/fluxcd/flux2/v2@<release> from the Go module proxy: its manifests/ (bases per
#      controller, rbac, policies) are what the flux CLI bundles for `flux install`;
#   2. each base names its controller's release assets <name>.crds.yaml / <name>.deployment.yaml;
#      as the controllers' release jobs do, they are built with kustomize from config/crd and
#      config/manager of the controller's own Go module at that version;
#   3. every base, rbac and policies is built with `kubectl kustomize` into
#      <cache>/<release>/manifests/<name>.yaml, rbac.yaml, policies.yaml (flux2's
#      manifests/scripts/bundle.sh), the set `flux install` assembles the install from.
# A controller whose module the proxy refuses is left out and named in <cache>/<release>/status;
# the install then cannot include it (upstream.ts says so).
#
#   scripts/flux-manifests.sh [release]    default: FLUX_RELEASE.version in engine/flux/upstream.ts
# Cache root: $GITOPS_FLUX_CACHE (default ~/.cache/gitops/flux). Go module downloads reuse
# $GITOPS_E2E_CACHE/gomod (default /var/cache/gitops-e2e/gomod) when writable.
set -euo pipefail
cd "$(dirname "$0")/.."

RELEASE=${1:-$(grep -oE 'version: "v2\.[0-9]+\.[0-9]+"' engine/flux/upstream.ts | head -1 | grep -oE 'v2\.[0-9]+\.[0-9]+')}
[[ $RELEASE =~ ^v2\.[0-9]+\.[0-9]+$ ]] || { echo "flux-manifests: bad release '$RELEASE'" >&2; exit 2; }
ROOT=${GITOPS_FLUX_CACHE:-$HOME/.cache/gitops/flux}
OUT=$ROOT/$RELEASE
if [ -f "$OUT/manifests/.complete" ]; then echo "flux-manifests: $OUT is filled" >&2; echo "$OUT"; exit 0; fi

command -v go >/dev/null || { echo "flux-manifests: the Go toolchain is not on PATH (needed to fetch the Flux modules)" >&2; exit 2; }
command -v kubectl >/dev/null || { echo "flux-manifests: kubectl is not on PATH (kubectl kustomize builds the manifests)" >&2; exit 2; }
E2E=${GITOPS_E2E_CACHE:-/var/cache/gitops-e2e}
if mkdir -p "$E2E/gomod" 2>/dev/null && [ -w "$E2E/gomod" ]; then export GOMODCACHE=$E2E/gomod; fi
export GOFLAGS=-mod=mod GOTOOLCHAIN=local GOWORK=off

WORK=$(mktemp -d /tmp/gitops-flux-manifests.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
t0=$SECONDS
# moddir <module@version>: downloaded module folder, or empty when the proxy refuses it.
moddir() { { (cd "$WORK" && go mod download -json "$1" 2>/dev/null) || true; } | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p'; }

flux2=$(moddir "github.com/fluxcd/flux2/v2@$RELEASE")
[ -n "$flux2" ] || { echo "flux-manifests: github.com/fluxcd/flux2/v2@$RELEASE is not served by the Go module proxy" >&2; exit 1; }
cp -r "$flux2/manifests" "$WORK/manifests" && chmod -R u+w "$WORK/manifests"
mkdir -p "$WORK/out"
status=()
for base in "$WORK"/manifests/bases/*/; do
  name=$(basename "$base")
  # - https://github.com/fluxcd/<name>/releases/download/<version>/<name>.crds.yaml
  version=$(grep -oE "releases/download/v[0-9][^/]*/$name\.crds\.yaml" "$base/kustomization.yaml" | cut -d/ -f3)
  [ -n "$version" ] || { echo "flux-manifests: $name: no release asset in flux2 manifests/bases/$name" >&2; exit 1; }
  # Go's semantic import versioning: v2 and later live at <module>/vN.
  major=${version%%.*}; mod=github.com/fluxcd/$name; [ "$major" = v0 ] || [ "$major" = v1 ] || mod=$mod/$major
  dir=$(moddir "$mod@$version")
  if [ -z "$dir" ]; then status+=("$name $version refused: $mod@$version is not served by the Go module proxy"); continue; fi
  kubectl kustomize "$dir/config/crd" >"$base/$name.crds.yaml"
  kubectl kustomize "$dir/config/manager" >"$base/$name.deployment.yaml"
  sed -i -E "s#https://github.com/fluxcd/$name/releases/download/$version/##" "$base/kustomization.yaml"
  kubectl kustomize "$base" >"$WORK/out/$name.yaml"
  status+=("$name $version ok")
done
kubectl kustomize "$WORK/manifests/rbac" >"$WORK/out/rbac.yaml"
kubectl kustomize "$WORK/manifests/policies" >"$WORK/out/policies.yaml"
printf '%s\n' "${status[@]}" >"$WORK/out/.status"
touch "$WORK/out/.complete"
mkdir -p "$OUT"
rm -rf "$OUT/manifests" "$OUT"/install-*.yaml
mv "$WORK/out" "$OUT/manifests"
cp "$OUT/manifests/.status" "$OUT/status"
echo "flux-manifests: Flux $RELEASE in $OUT/manifests ($((SECONDS - t0))s):" >&2
sed 's/^/  /' "$OUT/status" >&2
echo "$OUT"
