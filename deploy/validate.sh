#!/usr/bin/env bash
# Validates everything in deploy/ and exits non-zero on any failure:
#   - docker-compose config on docker-compose.yaml (no Docker engine needed)
#   - helm lint --strict and helm template of the chart
#   - the Go tests in deploy/ (rendered-chart assertions, compose checks,
#     connector configs vs schemas/avsc), none of them allowed to skip
#   - JSON validity of every connector config, shell syntax of the scripts
#
# On a fresh Debian machine it installs what it needs: docker-compose from
# apt, and helm v3.22.0 compiled from source with the Go toolchain (the first
# compile takes a few minutes; the binary is cached under
# ${XDG_CACHE_HOME:-$HOME/.cache}/coupa-kafka/bin, so later runs take seconds).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/coupa-kafka/bin
helm_version=v3.22.0
helm=$cache/helm-$helm_version

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'validate.sh: FAIL: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || fail "go is not installed (needed for helm and the tests)"

# --- docker-compose (v1 from Debian, or the v2 plugin if present) ----------
compose=()
if command -v docker-compose >/dev/null; then
  compose=(docker-compose)
elif command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
else
  step "installing docker-compose (apt)"
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq docker-compose >/dev/null
  compose=(docker-compose)
fi

# --- helm, built once from source and cached -------------------------------
if [ ! -x "$helm" ]; then
  step "building helm $helm_version from source (first run only; a few minutes)"
  mkdir -p "$cache"
  gobin=$(mktemp -d)
  # `go install pkg@version` is how the go command builds a tool at a version
  # outside any module; GOBIN points it at a temporary directory.
  GOBIN=$gobin GOFLAGS= go install "helm.sh/helm/v3/cmd/helm@$helm_version"
  mv "$gobin/helm" "$helm.tmp" && mv "$helm.tmp" "$helm"
  rmdir "$gobin"
fi
export HELM=$helm

cd "$root"
chart=deploy/helm/coupa-kafka

step "helm lint"
"$helm" lint --strict "$chart" -f "$chart/ci/test-values.yaml"

step "helm template"
"$helm" template coupa-kafka "$chart" -f "$chart/ci/test-values.yaml" >/dev/null
echo "rendered"

step "${compose[*]} config"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A copy with .env made from .env.example: a developer's real .env is never read.
mkdir -p "$tmp/deploy"
cp -r deploy/. "$tmp/deploy/"
cp Dockerfile "$tmp/"
cp deploy/.env.example "$tmp/deploy/.env"
(cd "$tmp/deploy" && env -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME "${compose[@]}" -f docker-compose.yaml config -q)
echo "valid"

step "connector configs are JSON"
# TestConnectorConfigs below parses them too (and checks their content);
# this is the quick, dependency-free check with the same exit semantics.
bad=0
for f in deploy/connect/*.json deploy/connect/*/*.json; do
  if command -v python3 >/dev/null; then
    python3 -m json.tool "$f" >/dev/null || { echo "invalid JSON: $f" >&2; bad=1; }
  fi
done
[ $bad = 0 ] || fail "invalid connector JSON"
echo "ok ($(ls deploy/connect/*.json deploy/connect/*/*.json | wc -l) files)"

step "shell syntax"
bash -n deploy/validate.sh deploy/connect/apply.sh
echo "ok"

step "go test ./deploy/ (no skips allowed)"
out=$(go test -count=1 -v ./deploy/ 2>&1) || { echo "$out"; fail "go test ./deploy/"; }
echo "$out" | grep -E '^(=== RUN|--- |ok|PASS|FAIL)' | grep -v '=== RUN' || true
if echo "$out" | grep -q -- '--- SKIP'; then
  echo "$out" | grep -A2 -- '--- SKIP'
  fail "some deploy tests were skipped"
fi

printf '\nvalidate.sh: all deploy checks passed\n'
