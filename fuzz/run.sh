#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (CI: `.ci/run`), with the machine's stable compiler:
# the same libFuzzer and coverage instrumentation cargo-fuzz uses, without a sanitizer (which
# would need nightly). Each run starts from the target's seeds and from what earlier runs on
# this machine kept in fuzz/corpus/. A crash fails the run and leaves its input in
# fuzz/artifacts/<target>/.
#
#   fuzz/run.sh [SECONDS_PER_TARGET]     (default 60)
#   fuzz/run.sh --runs N                 (N executions per target, however long they take)
set -euo pipefail
cd "$(dirname "$0")"
if [ "${1:-}" = "--runs" ]; then
  budget="-runs=${2:?fuzz/run.sh --runs N}"
  what="${2} runs"
else
  budget="-max_total_time=${1:-60}"
  what="${1:-60} s"
fi
host="$(rustc -vV | sed -n 's/^host: //p')"

# The flags cargo-fuzz passes for libFuzzer's coverage feedback; --cfg fuzzing as it does.
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
# --target keeps these flags off build scripts and proc macros, as cargo-fuzz does.
cargo build --locked --release --target "$host" --bins

# Seeds: the inputs the box is shipped with or documented with.
seeds_of() {
  case "$1" in
    token_file) echo ../assets/demo-tokens.json ../tests/fixtures/aln-tokens.json ;;
    config_file) echo ../packaging/venuebox.toml ;;
    *) ls seeds/"$1"-* 2>/dev/null || true ;;
  esac
}

for target in log_record token_file config_file gm_submit realtime_frame tournament_frame \
  sports_frame sse_last_event_id rest_body; do
  corpus="corpus/$target"
  artifacts="artifacts/$target"
  mkdir -p "$corpus" "$artifacts"
  for seed in $(seeds_of "$target"); do cp "$seed" "$corpus/seed-$(basename "$seed")"; done
  echo "fuzz/run.sh: $target for $what"
  if ! "target/$host/release/$target" "$budget" -max_len=65536 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 "$corpus" 2>"$artifacts/last-run.log"; then
    tail -n 40 "$artifacts/last-run.log" >&2
    echo "fuzz/run.sh: $target crashed; the input is in fuzz/$artifacts/ (replay: target/$host/release/$target FILE)" >&2
    exit 1
  fi
  grep -E '^stat::number_of_executed_units' "$artifacts/last-run.log" | sed "s/^/  $target /"
done
