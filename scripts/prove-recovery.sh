#!/usr/bin/env bash
# Proves that scenarios prove their recoveries: each patch in scenarios/proofs/ puts one bug
# back (removes one mechanism); with it applied, every scenario its "# scenarios:" line names
# must FAIL. The tree is restored after each patch, whatever happens.
#
#   scripts/prove-recovery.sh                 # every patch (a release build per patch)
#   scripts/prove-recovery.sh own-address     # the patches whose names contain this
#
# Builds into target/proofs, so the normal release build is left alone. Exits 1 if a patch no
# longer applies or a named scenario passes with its mechanism removed.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! git diff --quiet -- client sim src seeder tracker-mock; then
  echo "prove-recovery: commit or stash changes to the sources first" >&2
  exit 2
fi
export CARGO_TARGET_DIR=target/proofs
bin=target/proofs/release/bitswarm
applied=""
restore() { if [ -n "$applied" ]; then git apply -R "$applied"; applied=""; fi; }
trap restore EXIT

failed=0
for patch in scenarios/proofs/*.patch; do
  name=$(basename "$patch" .patch)
  case "$name" in *"${1:-}"*) ;; *) continue ;; esac
  scenarios=$(sed -n 's/^# scenarios: //p' "$patch")
  echo "== $name: $(sed -n '1s/^# //p' "$patch")"
  if ! git apply "$patch"; then
    echo "   DOES NOT APPLY: update the patch"
    failed=1
    continue
  fi
  applied=$patch
  cargo build --release --quiet --bin bitswarm
  for s in $scenarios; do
    case "$s" in
      matrix:*) args=(sim matrix "${s#matrix:}") ;;
      *) args=(sim "scenarios/$s.toml") ;;
    esac
    if out=$("$bin" "${args[@]}" 2>&1); then
      echo "   $s: PASSED with the bug put back: it proves nothing"
      failed=1
    else
      echo "   $s: fails as it should: $(grep -m1 'failed:' <<<"$out" | sed 's/^ *failed: //')"
    fi
  done
  restore
done
exit $failed
