#!/usr/bin/env bash
# Builds the real parts the e2e suite (test/e2e) runs, from published Go modules, one harness
# module (test/e2e/harness/<module>: go.mod + tools.go) per group of binaries:
#   kube         etcd, kube-apiserver, kube-controller-manager, kube-scheduler
#                (k8s.io/kubernetes + go.etcd.io/etcd/server/v3)
#   flux         source-controller, kustomize-controller (github.com/fluxcd/*, the versions
#                Flux v2.9.4 ships; see engine/flux/upstream.ts)
#   helm         helm-controller (optional: a failure is recorded, not fatal)
#   fluxextra    notification-controller, image-reflector-controller, image-automation-controller
#                (optional, each on its own: a failure is recorded, not fatal)
#   kwok         kwok (sigs.k8s.io/kwok cmd/kwok) + kwok-stages.yaml (the module's stage configs)
#   pulumi       pulumi (github.com/pulumi/pulumi/pkg/v3 cmd/pulumi)
#   langhost     pulumi-language-nodejs (github.com/pulumi/pulumi/sdk/v3), plus the launcher
#                script shipped in that module's nodejs/dist: pulumi-resource-pulumi-nodejs
#                (dynamic providers). Policy packs run through policy/analyzer (see there).
#
# Cache: GOCACHE, GOMODCACHE and the binaries live in /var/cache/gitops-e2e/{gocache,gomod,bin}
# (override with GITOPS_E2E_CACHE). If that folder is unusable, everything is built from scratch in
# a temp folder. Each binary is built on its own; one that fails is recorded in
# <bin>/status/<name> ("failed: <reason>", last lines of its log) and the others still build.
# <bin>/status/times has one line per build: "<name> wall=<s> cpu=<s> <cached|built|failed> load=<1-min load> <date>".
# Progress goes to stderr; stdout is only the bin folder (for GITOPS_E2E_BIN).
#
#   scripts/e2e-build.sh [piece...]     pieces: kube flux helm fluxextra kwok pulumi langhost
#                                        fluxtar cosign (default all; helm, fluxextra and
#                                        cosign optional). Exit 1 if a required
#                                        piece failed. GOFLAGS from the environment (e.g. -p=1 on a
#                                        busy machine) are kept.
# The pieces build in GITOPS_E2E_JOBS lanes at once (default 2, balanced by their measured CPU
# cost): a single go build leaves a core idle while it downloads modules and links. Binaries are
# linked without symbol tables or DWARF (-s -w): nothing here debugs them, and linking is faster.
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
export GOCACHE=$CACHE/gocache GOMODCACHE=$CACHE/gomod GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod" GOTOOLCHAIN=local
# A Go build cache that fails its own check is dropped and rebuilt once (clean fallback).
go env GOCACHE >/dev/null 2>&1 || { rm -rf "$GOCACHE"; mkdir -p "$GOCACHE"; }

# stamp of a harness module: its go.mod/go.sum/sources (and extra words, e.g. ldflags), so a
# changed pin rebuilds.
stamp() { (cd "$HARNESS/$1" && { cat go.mod go.sum $(find . -name '*.go' | sort) 2>/dev/null; echo "${*:2}"; } | sha256sum | cut -c1-16); }
# CPU seconds (user+sys) of this shell's finished children (a lane's builds), so a build's cost
# shows apart from how busy the machine was.
# Sets CPU; runs in the lane's shell (no fork), since a subshell would not see its children.
child_cpu() {
  local f=$CACHE/logs/.times.$BASHPID
  times >"$f"
  local _ u s; { read -r _; read -r u s; } <"$f"; rm -f "$f"
  local um=${u%%m*} us=${u#*m} sm=${s%%m*} ss=${s#*m}
  CPU=$((10#$um * 60 + 10#${us%%.*} + 10#$sm * 60 + 10#${ss%%.*}))
}
# times <name> <wall seconds> <cached|built|failed> <cpu seconds>
times_log() { echo "$1 wall=$2s cpu=${4:-0}s $3 load=$(cut -d' ' -f1 /proc/loadavg) $(date -u +%FT%TZ)" >>"$BIN/status/times"; }

# build <module> <output> <package> [ldflags]
build() {
  local dir=$1 out=$2 pkg=$3 ldflags="-s -w${4:+ $4}"
  local log=$CACHE/logs/$dir-$out.log
  local want; want=$(stamp "$dir" "$ldflags")
  if [ -x "$BIN/$out" ] && [ "$(cat "$BIN/status/$out.stamp" 2>/dev/null)" = "$want" ]; then
    echo "ok (cached)" >"$BIN/status/$out"; echo "e2e-build: $out cached" >&2; times_log "$out" 0 cached; return 0
  fi
  echo "e2e-build: building $out from $pkg (log $log)" >&2
  local t0=$SECONDS c0; child_cpu; c0=$CPU
  local args=(build -o "$BIN/$out.new" -ldflags "$ldflags")
  if (cd "$HARNESS/$dir" && nice go "${args[@]}" "$pkg") >"$log" 2>&1; then
    mv "$BIN/$out.new" "$BIN/$out"
    echo "$want" >"$BIN/status/$out.stamp"
    echo "ok (built in $((SECONDS - t0))s)" >"$BIN/status/$out"
    echo "e2e-build: $out built in $((SECONDS - t0))s" >&2; child_cpu; times_log "$out" $((SECONDS - t0)) built $((CPU - c0))
  elif grep -qiE 'checksum mismatch|SECURITY ERROR|could not import .*(cache|export data)|unexpected EOF|invalid (zip|cache)' "$log" \
      && (cd "$HARNESS/$dir" && GOCACHE=$(mktemp -d /tmp/gitops-e2e-gocache.XXXXXX) GOMODCACHE=$(mktemp -d /tmp/gitops-e2e-gomod.XXXXXX) nice go "${args[@]}" "$pkg") >>"$log" 2>&1; then
    # The cache looked corrupt: built again from scratch with fresh caches.
    mv "$BIN/$out.new" "$BIN/$out"
    echo "$want" >"$BIN/status/$out.stamp"
    echo "ok (rebuilt from scratch, cache was unusable, in $((SECONDS - t0))s)" >"$BIN/status/$out"
    echo "e2e-build: $out rebuilt from scratch in $((SECONDS - t0))s" >&2; child_cpu; times_log "$out" $((SECONDS - t0)) built $((CPU - c0))
  else
    rm -f "$BIN/$out.new" "$BIN/$out.stamp"
    { echo "failed: go build $pkg in test/e2e/harness/$dir:"; grep -v '^go: downloading' "$log" | tail -15; } >"$BIN/status/$out"
    echo "e2e-build: $out FAILED after $((SECONDS - t0))s; see $log" >&2; child_cpu; times_log "$out" $((SECONDS - t0)) failed $((CPU - c0))
    return 1
  fi
}

# moddir <module> <go module path>: where the go command unpacked that dependency.
moddir() { (cd "$HARNESS/$1" && go list -m -f '{{.Dir}}' "$2"); }

# copy <name> <from>: a file shipped inside a module, installed as-is into the bin folder.
copy() {
  if [ -n "$2" ] && install -m 0755 "$2" "$BIN/$1.new" && mv "$BIN/$1.new" "$BIN/$1"; then
    echo "ok (copied from $2)" >"$BIN/status/$1"
  else
    echo "failed: $2 not found" >"$BIN/status/$1"; return 1
  fi
}

# The kwok stage configs the fake node and its Pods need (kwok's default "fast" set plus the node
# heartbeat), concatenated from the module as one multi-document file.
kwok_stages() {
  local dir; dir=$(moddir kwok sigs.k8s.io/kwok) || return 1
  local f out=$BIN/kwok-stages.yaml.new
  : >"$out"
  for f in node/fast/node-initialize node/heartbeat/node-heartbeat pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
    [ -f "$dir/kustomize/stage/$f.yaml" ] || { echo "failed: no kustomize/stage/$f.yaml in $dir" >"$BIN/status/kwok-stages.yaml"; rm -f "$out"; return 1; }
    { echo "---"; sed '/^---[[:space:]]*$/d' "$dir/kustomize/stage/$f.yaml"; } >>"$out"
  done
  mv "$out" "$BIN/kwok-stages.yaml"
  echo "ok (from $dir/kustomize/stage)" >"$BIN/status/kwok-stages.yaml"
}

pieces=("$@")
# Every piece is built by default, so CI runs every test: helm (test/e2e/helm.e2e.ts), fluxextra
# (test/e2e/images.e2e.ts) and cosign (the OCI signing test) are optional in that a failed build is
# recorded and their tests say they are skipped and why; the local control plane starts
# helm-controller and the fluxextra controllers only when they are there.
ALL=(kube flux kwok pulumi langhost fluxtar helm fluxextra cosign)
[ ${#pieces[@]} -eq 0 ] && pieces=("${ALL[@]}")
# piece <name>: builds one piece; 1 if a required binary failed (the piece's other binaries still
# build).
piece() {
  local r=0 sdk c
  case $1 in
    kube)
      build kube etcd ./etcd || r=1
      build kube kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver || r=1
      build kube kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager || r=1
      build kube kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler || r=1 ;;
    flux)
      build flux source-controller github.com/fluxcd/source-controller || r=1
      build flux kustomize-controller github.com/fluxcd/kustomize-controller || r=1 ;;
    helm) build helm helm-controller github.com/fluxcd/helm-controller || echo "e2e-build: helm-controller is optional; the suite says it is missing" >&2 ;;
    fluxextra)
      for c in notification-controller image-reflector-controller image-automation-controller; do
        build fluxextra "$c" "github.com/fluxcd/$c" || echo "e2e-build: $c is optional; the suite says it is missing" >&2
      done ;;
    kwok) { build kwok kwok sigs.k8s.io/kwok/cmd/kwok && kwok_stages; } || r=1 ;;
    pulumi) build pulumi pulumi github.com/pulumi/pulumi/pkg/v3/cmd/pulumi || r=1 ;;
    langhost)
      if build langhost pulumi-language-nodejs github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs; then
        sdk=$(moddir langhost github.com/pulumi/pulumi/sdk/v3)
        copy pulumi-resource-pulumi-nodejs "$sdk/nodejs/dist/pulumi-resource-pulumi-nodejs" || r=1
      else r=1; fi ;;
    fluxtar) build fluxtar fluxtar . || r=1 ;;
    cosign) build cosign cosign github.com/sigstore/cosign/v3/cmd/cosign || echo "e2e-build: cosign is optional; the OCI signing test says it is missing" >&2 ;;
  esac
  return $r
}

# CPU seconds each piece took cold on this 2-core machine (bin/status/times), to balance lanes
# (fluxextra: notification-controller 326 + image-reflector 24 + image-automation 16, built after
# the flux and helm pieces, whose packages they share).
weight() { case $1 in kube) echo 1190;; flux) echo 940;; pulumi) echo 780;; cosign) echo 680;; helm) echo 450;; fluxextra) echo 370;; kwok) echo 300;; *) echo 60;; esac; }
for p in "${pieces[@]}"; do
  [[ " ${ALL[*]} " == *" $p "* ]] || { echo "e2e-build: unknown piece '$p' (pieces: ${ALL[*]})" >&2; exit 2; }
done
jobs=${GITOPS_E2E_JOBS:-2}
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "e2e-build: GITOPS_E2E_JOBS must be a positive number, not '$jobs'" >&2; exit 2; }
# Heaviest first, each onto the lane with the least work so far.
mapfile -t sorted < <(for p in "${pieces[@]}"; do echo "$(weight "$p") $p"; done | sort -rn | cut -d' ' -f2)
declare -a lane load
for ((l = 0; l < jobs; l++)); do lane[l]=""; load[l]=0; done
for p in "${sorted[@]}"; do
  best=0; for ((l = 1; l < jobs; l++)); do [ "${load[l]}" -lt "${load[best]}" ] && best=$l; done
  lane[best]+="$p "; load[best]=$((load[best] + $(weight "$p")))
done
run_lane() { local p r=0 e; for p in $1; do piece "$p"; e=$?; [ $e -gt $r ] && r=$e; done; return $r; }
pids=()
for ((l = 0; l < jobs; l++)); do
  [ -n "${lane[l]}" ] || continue
  [ "$jobs" -gt 1 ] && echo "e2e-build: lane $((l + 1)): ${lane[l]}" >&2
  run_lane "${lane[l]}" & pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid"; e=$?; [ $e -gt $rc ] && rc=$e; done
echo "$BIN"
exit $rc
