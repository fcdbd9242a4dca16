#!/usr/bin/env bash
# Short libFuzzer runs of the cargo-fuzz targets: each target for FUZZ_SECONDS (default 20)
# from its seeds, failing on any crash (libFuzzer writes the input to fuzz/artifacts/; add it
# to tests/fuzzed/crashes/<target>/ so the mutation tests keep it fixed).
# FUZZ_TARGETS: `all` (default, what CI runs: parse_playbook, webhook_mapping,
# defender_responses and load_config, each built from light crates only), or target names.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${FUZZ_SECONDS:-20}
# What `cargo fuzz build -s none` does, without installing cargo-fuzz: libFuzzer's coverage
# instrumentation (stable codegen flags), no AddressSanitizer (the targets are safe Rust), 16
# codegen units (a much shorter build, fuzzing a little slower). `--target` keeps the flags off
# build scripts and proc-macros.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-sanitizer-coverage-stack-depth \
--cfg fuzzing -Cdebug-assertions -Ccodegen-units=16"
triple=$(rustc -vV | sed -n 's/^host: //p')
build=(--release --target "$triple")
case ${FUZZ_TARGETS:-all} in
  all) targets=(parse_playbook webhook_mapping defender_responses load_config) ;;
  *) read -ra targets <<<"$FUZZ_TARGETS" ;;
esac
for target in "${targets[@]}"; do
  build+=(--bin "$target")
done

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

cargo build --locked "${build[@]}"
for target in "${targets[@]}"; do
  seed "$target"
  echo "--- fuzzing $target (${seconds}s)"
  log="target/fuzz-$target.log"
  mkdir -p "artifacts/$target"
  if ! "target/$triple/release/$target" "corpus/$target" -max_total_time="$seconds" \
    -print_final_stats=1 -artifact_prefix="artifacts/$target/" >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "fuzzing $target found a crash (input in fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  grep -E '^#[0-9]+[[:space:]]+DONE|stat::number_of_executed_units' "$log"
done
