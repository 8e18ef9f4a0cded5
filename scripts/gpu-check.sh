#!/usr/bin/env bash
# gpu-check.sh — one command for a machine with an NVIDIA GPU: build libhumpback's CUDA backend for this GPU,
# run the CUDA parity suite (CPU vs CUDA, ctest -R Cuda) and bench-cuda; where the .NET SDK is installed, also
# the whole-model parity (a tiny Llama's losses and gradients, CUDA vs CPU, fp32 and bf16 mixed precision,
# through the C# model) and `humpback profile train` on the real graph at Llama-3.2-1B/3B shapes (tokens/s,
# MFU, device memory). Prints a summary and writes it to docs/gpu-results/<date>.md.
#
# Usage: scripts/gpu-check.sh [--quick]      (--quick: fewer benchmark repetitions)
# Environment: HB_GPU_BUILD_DIR (default build-gpu-sm<arch>), HB_CUDA_MATMUL for the parity suite's GEMMs.
# Exit status: 0 all passed; 1 build, parity or benchmark failure; 2 no GPU on this machine.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

quick=""
for arg in "$@"; do
  case "$arg" in
    --quick) quick="--quick" ;;
    *) echo "usage: scripts/gpu-check.sh [--quick]" >&2; exit 1 ;;
  esac
done

if ! command -v nvidia-smi >/dev/null 2>&1; then
  echo "gpu-check: no GPU: nvidia-smi not found (no NVIDIA driver on this machine)"
  exit 2
fi
if ! gpu_line="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n1)" \
   || [ -z "$gpu_line" ]; then
  echo "gpu-check: no GPU: nvidia-smi lists no device"
  exit 2
fi
cap="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n1 | tr -d ' ' || true)"
if [[ "$cap" =~ ^[0-9]+\.[0-9]+$ ]]; then
  arch="${cap/./}"
else
  arch="native"   # old drivers lack compute_cap: let CMake (>= 3.24) ask the GPU
  cap="unknown (CMake 'native')"
fi
echo "gpu-check: $gpu_line, compute capability $cap"

build="${HB_GPU_BUILD_DIR:-build-gpu-sm$arch}"
generator=()
command -v ninja >/dev/null 2>&1 && generator=(-G Ninja)
log_dir="$(mktemp -d)"
trap 'rm -rf "$log_dir"' EXIT

status=0
build_ok=yes
if ! cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DHB_CUDA=ON \
       -DCMAKE_CUDA_ARCHITECTURES="$arch" >"$log_dir/configure.log" 2>&1 \
   || ! cmake --build "$build" -j"$(nproc)" >"$log_dir/build.log" 2>&1; then
  build_ok=no
  status=1
  tail -n 40 "$log_dir/configure.log" "$log_dir/build.log" 2>/dev/null || true
  echo "gpu-check: build FAILED"
fi

parity="not run"
bench="not run"
model_parity="not run"
profiles="not run"
if [ "$build_ok" = yes ]; then
  set +e
  (cd "$build" && ctest -R Cuda --output-on-failure) >"$log_dir/parity.log" 2>&1
  ctest_rc=$?
  set -e
  summary_line="$(grep -E '[0-9]+% tests passed' "$log_dir/parity.log" | tail -n1 || true)"
  skipped="$(grep -c '(Skipped)' "$log_dir/parity.log" || true)"
  if [ "$ctest_rc" -ne 0 ]; then
    parity="FAILED — $summary_line"
    status=1
    grep -E '\((Failed|Skipped)\)|out of tolerance|\] got |Failure' "$log_dir/parity.log" | head -n 60 || true
  elif [ "${skipped:-0}" -gt 0 ]; then
    # On a GPU machine a skipped parity test means the library did not see the GPU: that is a failure here.
    parity="FAILED — $skipped tests skipped although a GPU is present ($summary_line)"
    status=1
    grep -m5 '(Skipped)' "$log_dir/parity.log" || true
  else
    parity="passed — $summary_line"
  fi
  echo "gpu-check: parity $parity"

  set +e
  "$build/bin/bench-cuda" $quick >"$log_dir/bench.md" 2>"$log_dir/bench.err"
  bench_rc=$?
  set -e
  if [ "$bench_rc" -eq 0 ]; then
    bench="ran"
  else
    bench="FAILED (exit $bench_rc): $(tail -n 3 "$log_dir/bench.err" | tr '\n' ' ')"
    status=1
  fi

  # The C# model graph on the GPU: whole-model parity, then training-step profiles at real shapes.
  if command -v dotnet >/dev/null 2>&1; then
    export HUMPBACK_NATIVE_LIB="$root/$build/lib/libhumpback.so"
    set +e
    dotnet build "$root/Humpback.sln" -c Release -nologo -v quiet -clp:ErrorsOnly >"$log_dir/dotnet-build.log" 2>&1
    dn_build_rc=$?
    set -e
    if [ "$dn_build_rc" -ne 0 ]; then
      model_parity="FAILED — dotnet build (see the log below)"
      status=1
      tail -n 30 "$log_dir/dotnet-build.log"
    else
      set +e
      dotnet test "$root/tests/Humpback.Tests/Humpback.Tests.csproj" -c Release --no-build -nologo \
        --filter "FullyQualifiedName~CudaModelParity" --logger "console;verbosity=normal" >"$log_dir/model-parity.log" 2>&1
      mp_rc=$?
      set -e
      mp_summary="$(grep -E '^ +(Passed|Failed|Skipped): +[0-9]+' "$log_dir/model-parity.log" | tr -s ' ' | tr '\n' ' ')"
      if [ "$mp_rc" -ne 0 ] || grep -qE '^ +Skipped: +[1-9]' "$log_dir/model-parity.log"; then
        model_parity="FAILED — $mp_summary"
        status=1
        grep -E 'Failed |Assert|Skipped ' "$log_dir/model-parity.log" | head -n 30 || true
      else
        model_parity="passed — $mp_summary"
      fi
      echo "gpu-check: whole-model parity $model_parity"
      # Real graph, real shapes, random weights: B=1, T=2048. LoRA r=16 on every linear layer (3B), full (1B).
      prof_rc=0
      : >"$log_dir/profiles.md"
      run_profile() { # name, extra args...
        local name="$1"; shift
        set +e
        "$root/scripts/humpback" profile train --device cuda --batch 1 --seq 2048 --steps "${steps:-3}" --no-cross-check \
          --json "$log_dir/$name.json" "$@" >"$log_dir/$name.txt" 2>"$log_dir/$name.err"
        local rc=$?
        set -e
        if [ "$rc" -ne 0 ]; then prof_rc=1; echo "profile $name FAILED: $(tail -n 3 "$log_dir/$name.err" | tr '\n' ' ')" >>"$log_dir/profiles.md"; fi
        { echo; echo "#### $name"; echo; echo '```'; cat "$log_dir/$name.txt"; echo '```'; } >>"$log_dir/profiles.md"
      }
      steps=3; [ -n "$quick" ] && steps=1
      l3b=(--dim 3072 --layers 28 --heads 24 --kv-heads 8 --ffn 8192 --vocab 128256)
      l1b=(--dim 2048 --layers 16 --heads 32 --kv-heads 8 --ffn 8192 --vocab 128256)
      run_profile lora-3b-bf16 "${l3b[@]}" --train-mode lora --precision bf16
      run_profile lora-3b-fp32 "${l3b[@]}" --train-mode lora --precision fp32
      run_profile full-1b-bf16 "${l1b[@]}" --train-mode full --precision bf16
      if [ "$prof_rc" -eq 0 ]; then profiles="ran"; else profiles="FAILED (see below)"; status=1; fi
    fi
  else
    model_parity="not run: no .NET SDK on this machine (install dotnet 10 and run again for the C# model's checks)"
    profiles="$model_parity"
  fi
fi

date_tag="$(date +%Y-%m-%d)"
out_dir="$root/docs/gpu-results"
mkdir -p "$out_dir"
report="$out_dir/$date_tag.md"
[ -e "$report" ] && report="$out_dir/$date_tag-$(date +%H%M%S).md"
{
  echo "# GPU check $date_tag"
  echo
  echo "| item | result |"
  echo "|---|---|"
  echo "| GPU | $gpu_line |"
  echo "| compute capability | $cap (built for CMAKE_CUDA_ARCHITECTURES=$arch) |"
  echo "| commit | $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (dirty)') |"
  echo "| nvcc | $(nvcc --version 2>/dev/null | grep -o 'release [0-9.]*' || echo unknown) |"
  echo "| HB_CUDA_MATMUL (parity) | ${HB_CUDA_MATMUL:-fp32 (default)} |"
  echo "| build | $build_ok |"
  echo "| parity suite (ctest -R Cuda) | $parity |"
  echo "| benchmark (bench-cuda) | $bench |"
  echo "| whole-model parity (C# model, CUDA vs CPU, fp32 and bf16) | $model_parity |"
  echo "| training-step profiles (humpback profile train) | $profiles |"
  if [ -s "$log_dir/bench.md" ]; then
    echo
    cat "$log_dir/bench.md"
  fi
  if [ -s "$log_dir/profiles.md" ]; then
    echo
    echo "### Training steps through the C# model (humpback profile train, B=1, T=2048, random weights)"
    echo
    echo "The share of the limit here is against the GEMM ceiling each profile measures on this GPU (fp32 GEMM for fp32, bf16 GEMM for bf16), not 989 TFLOP/s; bench-cuda above reports MFU against 989."
    cat "$log_dir/profiles.md"
  fi
  if [ "$status" -ne 0 ] && [ -s "$log_dir/parity.log" ]; then
    echo
    echo "## Parity failures (first lines)"
    echo
    echo '```'
    grep -E '\((Failed|Skipped)\)|out of tolerance|\] got |Failure' "$log_dir/parity.log" | head -n 80 || true
    echo '```'
  fi
} >"$report"

echo
cat "$report"
echo
echo "gpu-check: written to ${report#"$root"/}"
exit "$status"
