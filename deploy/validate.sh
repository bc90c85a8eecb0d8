#!/usr/bin/env bash
# Validates everything in deploy/ and exits non-zero on any failure:
#   - compose config on docker-compose.yaml (no Docker engine needed), and a
#     broken copy of it that must be refused
#   - helm lint --strict and helm template of the chart, with each
#     helm/coupa-kafka/ci/*-values.yaml
#   - the Go tests in deploy/ (rendered-chart assertions, compose checks,
#     connector configs vs schemas/avsc), none of them allowed to skip
#   - JSON validity of every connector config, shell syntax of the scripts
#
# What it installs, and where: nothing system-wide, nothing as root, no apt.
# With Go on the PATH, it builds at most two binaries from the Go module proxy
# into one directory of your own, ${XDG_CACHE_HOME:-$HOME/.cache}/coupa-kafka/bin/:
#   helm-v3.22.0
#       `go install helm.sh/helm/v3/cmd/helm@v3.22.0` (GOBIN: a temporary
#       directory); about 3 minutes the first time on 2 cores.
#   compose-config-v2.16.2-<first 12 hex digits of sha256(compose-config/main.go)>
#       only when neither docker-compose nor `docker compose` is installed
#       (whichever is, is used instead, as before). It is `docker compose
#       config` without Docker: deploy/compose-config/main.go built against
#       github.com/compose-spec/compose-go/v2 v2.16.2, the loader and Compose
#       Specification schema of Docker Compose itself (v5.7.1 uses that
#       version), with `go get` + `go build` in a temporary module (not this
#       repository's go.mod) that is removed afterwards; about 20 seconds the
#       first time. A build of an older main.go or version is replaced.
# Later runs reuse them and take seconds. As with any go build, Go keeps the
# downloaded modules and compiled packages in its own caches: `go env
# GOMODCACHE` (default ~/go/pkg/mod) and `go env GOCACHE` (~/.cache/go-build).
# To remove what this script installed:
#   rm -f "${XDG_CACHE_HOME:-$HOME/.cache}"/coupa-kafka/bin/{helm-v3.22.0,compose-config-*}
# and, only if you want Go's caches (shared by all your Go work) emptied too:
#   go clean -modcache -cache
#
# Settings (environment):
#   COUPA_COMPOSE=compose-config   use the compose-config build even when
#                                  docker-compose or docker compose is installed
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cache=${XDG_CACHE_HOME:-$HOME/.cache}/coupa-kafka/bin
helm_version=v3.22.0
helm=$cache/helm-$helm_version

step() { printf '\n==> %s\n' "$*"; }
fail() { printf 'validate.sh: FAIL: %s\n' "$*" >&2; exit 1; }

command -v go >/dev/null || fail "go is not installed (needed for helm and the tests)"

# --- compose: docker-compose, else docker compose, else compose-config ---------
compose_go_version=v2.16.2
compose_src=$here/compose-config/main.go
compose=()
unset COUPA_COMPOSE_CONFIG  # set below for the deploy tests, when compose-config is used
if [ "${COUPA_COMPOSE:-}" = compose-config ]; then
  :
elif [ -n "${COUPA_COMPOSE:-}" ]; then
  fail "COUPA_COMPOSE=$COUPA_COMPOSE: the only value is compose-config"
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose)
elif command -v docker >/dev/null && docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
fi
if [ ${#compose[@]} = 0 ]; then
  compose_hash=$(sha256sum "$compose_src" | cut -c1-12)
  compose_bin=$cache/compose-config-$compose_go_version-$compose_hash
  if [ ! -x "$compose_bin" ]; then
    step "building compose-config (compose-go $compose_go_version) into $compose_bin (first run only; about 20 s)"
    t0=$SECONDS
    mkdir -p "$cache"
    gomod=$(mktemp -d)
    cp "$compose_src" "$gomod/main.go"
    # A throwaway module: this repository's go.mod is not touched. The listed
    # file is built despite its `//go:build ignore` line.
    (
      trap 'rm -rf "$gomod"' EXIT
      cd "$gomod" && export GOFLAGS='' GOWORK=off &&
        go mod init compose-config >/dev/null 2>&1 &&
        { out=$(go get "github.com/compose-spec/compose-go/v2/cli@$compose_go_version" \
            "github.com/compose-spec/compose-go/v2/types@$compose_go_version" 2>&1) ||
            { echo "$out" >&2; false; }; } &&
        go build -mod=readonly -trimpath -o "$compose_bin.tmp" main.go
    ) || { rm -f "$compose_bin.tmp"; fail "could not build compose-config (see above)"; }
    mv "$compose_bin.tmp" "$compose_bin"
    # Older builds (of another main.go or compose-go version) go.
    for old in "$cache"/compose-config-*; do
      [ "$old" = "$compose_bin" ] || rm -f "$old"
    done
    echo "installed $compose_bin in $((SECONDS - t0)) s (remove: rm -f $compose_bin)"
  fi
  compose=("$compose_bin")
  # The deploy tests (TestComposeConfig) use the same build.
  export COUPA_COMPOSE_CONFIG=$compose_bin
fi

# --- helm, built once from source and cached -------------------------------
if [ ! -x "$helm" ]; then
  step "building helm $helm_version from source (first run only; a few minutes)"
  mkdir -p "$cache"
  gobin=$(mktemp -d)
  # `go install pkg@version` is how the go command builds a tool at a version
  # outside any module; GOBIN points it at a temporary directory.
  GOBIN=$gobin GOFLAGS='' go install "helm.sh/helm/v3/cmd/helm@$helm_version"
  mv "$gobin/helm" "$helm.tmp" && mv "$helm.tmp" "$helm"
  rmdir "$gobin"
fi
export HELM=$helm

cd "$root"
chart=deploy/helm/coupa-kafka

# Every values file in ci/ (as chart-testing does): one instance
# (test-values.yaml) and several (instances-values.yaml).
for values in "$chart"/ci/*-values.yaml; do
  step "helm lint (${values##*/})"
  "$helm" lint --strict "$chart" -f "$values"

  step "helm template (${values##*/})"
  "$helm" template coupa-kafka "$chart" -f "$values" >/dev/null
  echo "rendered"
done

step "${compose[*]##*/} config"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# A copy with .env made from .env.example: a developer's real .env is never read.
mkdir -p "$tmp/deploy"
cp -r deploy/. "$tmp/deploy/"
cp Dockerfile "$tmp/"
cp deploy/.env.example "$tmp/deploy/.env"
(cd "$tmp/deploy" && env -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME "${compose[@]}" -f docker-compose.yaml config -q)
echo "valid"
# The same command must refuse a broken copy: a service with an option the
# Compose Specification does not have.
awk '{ print } /^services:$/ { print "  broken:"; print "    image: busybox:1.37"; print "    no_such_option: true" }' \
  deploy/docker-compose.yaml >"$tmp/deploy/broken.yaml"
grep -q no_such_option "$tmp/deploy/broken.yaml" || fail "could not make the broken compose copy"
if out=$(cd "$tmp/deploy" && env -u COMPOSE_FILE -u COMPOSE_PROJECT_NAME "${compose[@]}" -f broken.yaml config -q 2>&1); then
  fail "${compose[*]##*/} config accepted a compose file with an unknown option"
fi
grep -q no_such_option <<<"$out" || { echo "$out" >&2; fail "${compose[*]##*/} config refused the broken copy, but not for its unknown option"; }
echo "a broken copy is refused: $(grep -m1 no_such_option <<<"$out")"

step "connector configs are JSON"
# TestConnectorConfigs below parses them too (and checks their content);
# this is the quick, dependency-free check with the same exit semantics.
bad=0
jsons=(deploy/connect/*.json deploy/connect/*/*.json)
for f in "${jsons[@]}"; do
  if command -v python3 >/dev/null; then
    python3 -m json.tool "$f" >/dev/null || { echo "invalid JSON: $f" >&2; bad=1; }
  fi
done
[ $bad = 0 ] || fail "invalid connector JSON"
echo "ok (${#jsons[@]} files)"

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
