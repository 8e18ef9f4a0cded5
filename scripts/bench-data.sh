#!/usr/bin/env bash
# Benchmarks `humpback data segment` (read + cut + filter + dedup + write Parquet) on synthetic C4-like json
# lines: generates HB_BENCH_MB (default 200) MB of json lines, gzip-compressed like a real c4-train shard, then
# times HB_BENCH_RUNS (default 3) runs with HB_BENCH_THREADS (default 2) workers and prints json MB/s per run
# (wall clock and per CPU-second) with the machine and its load. Build first with scripts/build.sh.
# Results go in docs/PERF.md, "## Data pipeline".
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MB="${HB_BENCH_MB:-200}"
RUNS="${HB_BENCH_RUNS:-3}"
THREADS="${HB_BENCH_THREADS:-2}"
WORK="${HB_BENCH_DIR:-${TMPDIR:-/tmp}/humpback-bench-data}"
mkdir -p "$WORK"
INPUT="$WORK/c4-synth-${MB}mb.json.gz"
HB="$ROOT/scripts/humpback"

if [ ! -f "$INPUT" ]; then
  echo "==> generating $INPUT ($MB MB of json lines)"
  "$HB" data synth-c4 --out "$INPUT" --mb "$MB" --seed 1
fi
echo "==> input: $(du -h "$INPUT" | cut -f1) gzip, $MB MB json lines"
echo "==> machine: $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), $(nproc) cores; threads $THREADS"

stat_of() { sed -n "s/.*\"$1\": \"\\([0-9.]*\\)\".*/\\1/p" "$WORK/candidates.stats.json"; }
for i in $(seq 1 "$RUNS"); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  "$HB" data segment --input "$INPUT" --out "$WORK/candidates.parquet" --threads "$THREADS" >/dev/null 2>&1
  echo "run $i: $(stat_of json_mb_per_s) MB/s wall ($(stat_of seconds) s), $(stat_of json_mb_per_cpu_s) MB per CPU-second ($(stat_of cpu_seconds) CPU s), load average before: $load"
done
"$HB" data stats "$WORK/candidates.parquet" | head -3
sed -n '/"counters"/,/}/p' "$WORK/candidates.stats.json"
