#!/usr/bin/env bash
# Builds the real parts the e2e suite (test/e2e) runs, from published Go modules:
#   pulumi                      github.com/pulumi/pulumi/pkg/v3 cmd/pulumi        (harness/pulumi)
#   pulumi-language-nodejs      github.com/pulumi/pulumi/sdk/v3 nodejs/cmd/...     (harness/langhost)
#   pulumi-resource-pulumi-nodejs  the dynamic-provider launcher script shipped in that sdk module
#   pulumi-resource-kubernetes  github.com/pulumi/pulumi-kubernetes cmd/...       (harness/k8sprovider)
#   kube-apiserver, etcd        k8s.io/kubernetes + go.etcd.io/etcd/server/v3      (harness/kube)
#
# Cache: GOCACHE, GOMODCACHE and the binaries live in /var/cache/gitops-e2e/{gocache,gomod,bin}
# (override with GITOPS_E2E_CACHE). If that folder is unusable, everything is built from scratch in
# a temp folder. Each piece is built on its own; a piece that fails is recorded in
# <bin>/status/<piece> ("failed: <reason>", last lines of its log) and the others still build.
# Progress goes to stderr; stdout is only the bin folder (for GITOPS_E2E_BIN).
#
#   scripts/e2e-build.sh [piece...]     pieces: pulumi langhost k8sprovider kube (default all)
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
HARNESS=$ROOT/test/e2e/harness

command -v go >/dev/null || { echo "e2e-build: the Go toolchain is not on PATH" >&2; exit 2; }

CACHE=${GITOPS_E2E_CACHE:-/var/cache/gitops-e2e}
usable() { mkdir -p "$1/gocache" "$1/gomod" "$1/bin" "$1/logs" 2>/dev/null && touch "$1/bin/.probe" 2>/dev/null && rm -f "$1/bin/.probe"; }
if ! usable "$CACHE"; then
  echo "e2e-build: cache $CACHE is unusable; building from scratch in a temp folder" >&2
  CACHE=$(mktemp -d /tmp/gitops-e2e-cache.XXXXXX)
  usable "$CACHE" || { echo "e2e-build: cannot create $CACHE" >&2; exit 2; }
fi
BIN=$CACHE/bin
mkdir -p "$BIN/status"
export GOCACHE=$CACHE/gocache GOMODCACHE=$CACHE/gomod GOFLAGS=-mod=mod GOTOOLCHAIN=local
# A Go build cache that fails its own check is dropped and rebuilt once (clean fallback).
go env GOCACHE >/dev/null 2>&1 || { rm -rf "$GOCACHE"; mkdir -p "$GOCACHE"; }

# stamp of a harness module: its go.mod/go.sum/sources, so a changed pin rebuilds.
stamp() { (cd "$HARNESS/$1" && cat go.mod go.sum $(find . -name '*.go' | sort) 2>/dev/null | sha256sum | cut -c1-16); }

# build <piece> <module dir> <output> <package>
build() {
  local piece=$1 dir=$2 out=$3 pkg=$4
  local log=$CACHE/logs/$piece-$out.log
  local want; want=$(stamp "$dir")
  if [ -x "$BIN/$out" ] && [ "$(cat "$BIN/status/$out.stamp" 2>/dev/null)" = "$want" ]; then
    echo "ok (cached)" >"$BIN/status/$out"; echo "e2e-build: $out cached" >&2; return 0
  fi
  echo "e2e-build: building $out from $pkg (log $log)" >&2
  local t0=$SECONDS
  if (cd "$HARNESS/$dir" && nice go build -o "$BIN/$out.new" "$pkg") >"$log" 2>&1; then
    mv "$BIN/$out.new" "$BIN/$out"
    echo "$want" >"$BIN/status/$out.stamp"
    echo "ok (built in $((SECONDS - t0))s)" >"$BIN/status/$out"
    echo "e2e-build: $out built in $((SECONDS - t0))s" >&2
  elif grep -qiE 'checksum mismatch|SECURITY ERROR|could not import .*(cache|export data)|unexpected EOF|invalid (zip|cache)' "$log" \
      && (cd "$HARNESS/$dir" && GOCACHE=$(mktemp -d /tmp/gitops-e2e-gocache.XXXXXX) GOMODCACHE=$(mktemp -d /tmp/gitops-e2e-gomod.XXXXXX) nice go build -o "$BIN/$out.new" "$pkg") >>"$log" 2>&1; then
    # The cache looked corrupt: built again from scratch with fresh caches.
    mv "$BIN/$out.new" "$BIN/$out"
    echo "$want" >"$BIN/status/$out.stamp"
    echo "ok (rebuilt from scratch, cache was unusable, in $((SECONDS - t0))s)" >"$BIN/status/$out"
    echo "e2e-build: $out rebuilt from scratch in $((SECONDS - t0))s" >&2
  else
    rm -f "$BIN/$out.new" "$BIN/$out.stamp"
    { echo "failed: go build $pkg in test/e2e/harness/$dir:"; grep -v '^go: downloading' "$log" | tail -15; } >"$BIN/status/$out"
    echo "e2e-build: $out FAILED after $((SECONDS - t0))s; see $log" >&2
    return 1
  fi
}

pieces=("$@")
[ ${#pieces[@]} -eq 0 ] && pieces=(kube pulumi langhost k8sprovider)
rc=0
for p in "${pieces[@]}"; do
  case $p in
    pulumi) build pulumi pulumi pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi || rc=1 ;;
    langhost)
      if build langhost langhost pulumi-language-nodejs github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs; then
        # The dynamic-provider launcher is a script in the same module (nodejs/dist).
        dir=$(cd "$HARNESS/langhost" && go list -m -f '{{.Dir}}' github.com/pulumi/pulumi/sdk/v3)
        install -m 0755 "$dir/nodejs/dist/pulumi-resource-pulumi-nodejs" "$BIN/pulumi-resource-pulumi-nodejs" \
          && echo "ok (copied from $dir/nodejs/dist)" >"$BIN/status/pulumi-resource-pulumi-nodejs" \
          || { echo "failed: nodejs/dist/pulumi-resource-pulumi-nodejs not found in $dir" >"$BIN/status/pulumi-resource-pulumi-nodejs"; rc=1; }
      else rc=1; fi ;;
    k8sprovider) build k8sprovider k8sprovider pulumi-resource-kubernetes github.com/pulumi/pulumi-kubernetes/cmd/pulumi-resource-kubernetes || rc=1 ;;
    kube)
      build kube kube etcd ./etcd || rc=1
      build kube kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver || rc=1 ;;
    *) echo "e2e-build: unknown piece $p (pulumi langhost k8sprovider kube)" >&2; rc=2 ;;
  esac
done
echo "$BIN"
exit $rc
