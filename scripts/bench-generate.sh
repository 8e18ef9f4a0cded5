#!/usr/bin/env bash
# The generation target of the inference issue: tokens/s of batched generation at 32 (and 64) parallel sequences over
# one-sequence-at-a-time generation, on small random Llamas whose weights do not fit in the CPU caches (as no real
# model does), with the real self-augmentation's 128 new tokens, on every core. Prints one ratio line per model and
# keeps the JSON in $HB_BENCH_DIR. Takes ~9 min on 2 cores. Build first with scripts/build.sh.
# Results go in docs/PERF.md, "## Generation and scoring".
#   HB_BENCH_SHAPES  random-model shapes (default: a 59M and a 195M-parameter model)
#   HB_BENCH_TYPE    GGUF type of the random models (default f32, the mini preset's export type; q8_0, f16, q4_0)
#   HB_BENCH_THREADS ggml threads (default: all cores)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SHAPES="${HB_BENCH_SHAPES:-d1024-l4-h8-k4-f2816-v4096 d2048-l4-h16-k4-f5632-v4096}"
TYPE="${HB_BENCH_TYPE:-f32}"
THREADS="${HB_BENCH_THREADS:-$(nproc)}"
WORK="${HB_BENCH_DIR:-${TMPDIR:-/tmp}/humpback-bench-generate}"
mkdir -p "$WORK"
echo "==> machine: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(nproc) cores; $THREADS ggml threads; load $(cut -d' ' -f1 /proc/loadavg)"
for shape in $SHAPES; do
  json="$WORK/generate-$shape-$TYPE.json"
  "$ROOT/scripts/humpback" profile generate --random-shape "$shape" --random-type "$TYPE" --threads "$THREADS" \
    --parallel 32,64 --rows 64 --naive-rows 16 --max-new-tokens 128 --no-cross-check --json "$json" \
    | grep -E "^(naive|hand-tuned|engine) |over_naive|params, vocab"
done
