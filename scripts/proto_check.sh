#!/usr/bin/env bash
# The contract protects itself: `buf lint` on proto/, then `buf breaking` against the
# previous contract: main's (the merge base) on a branch, the previous commit on main
# itself; PROTO_BASE=<git ref> overrides. buf comes from npm (`npm ci`).
set -euo pipefail
cd "$(dirname "$0")/.."
BUF=node_modules/.bin/buf
[ -x "$BUF" ] || { echo "proto-check: $BUF is missing: run npm ci" >&2; exit 2; }
"$BUF" lint
if [ -n "${PROTO_BASE:-}" ]; then
  base="$PROTO_BASE"
elif [ "$(git rev-parse --abbrev-ref HEAD)" = main ]; then
  base="HEAD~1"
else
  base="$(git merge-base HEAD main)"
fi
previous="$(mktemp -d)"
trap 'rm -rf "$previous"' EXIT
git archive "$base" proto | tar -x -C "$previous"
"$BUF" breaking proto --against "$previous/proto"
echo "proto-check: lint clean, no breaking change against $base"
