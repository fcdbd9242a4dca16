#!/usr/bin/env bash
# Short cargo-fuzz runs: each target for FUZZ_SECONDS (default 20) from its seeds, failing on
# any crash (libFuzzer writes the input to fuzz/artifacts/; add it to
# tests/fuzzed/crashes/<target>/ so the mutation tests keep it fixed).
# FUZZ_TARGETS: `parse_playbook` (default: the one whose build fits CI's budget) or `all`, which
# also builds the three targets that link the daemon's crates (`--features daemon`).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${FUZZ_SECONDS:-20}
# cargo-fuzz passes nightly-only flags (-Z, sanitizer coverage); stable rustc takes them so.
export RUSTC_BOOTSTRAP=1
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --version 0.13.2 --locked
fi
# No AddressSanitizer (the targets are safe Rust; it only slows the build), 16 codegen units
# (a much shorter build of the dependency tree, fuzzing a little slower).
build=(-s none --codegen-units 16)
targets=(parse_playbook)
if [[ "${FUZZ_TARGETS:-parse_playbook}" == all ]]; then
  build+=(--features daemon)
  targets+=(load_config webhook_mapping defender_responses)
fi

seed() {
  local target=$1
  mkdir -p "corpus/$target"
  case $target in
    parse_playbook) cp ../playbooks/*.yaml ../crates/fleetlr-playbook/tests/cases/*.yaml "corpus/$target/" ;;
    load_config) cp ../config/*.yaml ../config/sim/*.yaml "corpus/$target/" ;;
    *) cp "seeds/$target"/* "corpus/$target/" ;;
  esac
  if [[ -d "../tests/fuzzed/crashes/$target" ]]; then
    cp "../tests/fuzzed/crashes/$target"/* "corpus/$target/"
  fi
}

cargo fuzz build "${build[@]}" "${targets[@]:0:1}"
for target in "${targets[@]}"; do
  seed "$target"
  echo "--- cargo fuzz run $target (${seconds}s)"
  log="target/fuzz-$target.log"
  if ! cargo fuzz run "${build[@]}" "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "cargo fuzz run $target found a crash (input in fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  grep -E '^#[0-9]+ +DONE|stat::number_of_executed_units' "$log"
done
