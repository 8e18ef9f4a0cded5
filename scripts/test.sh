#!/usr/bin/env bash
# Builds (scripts/build.sh), runs the native suite (ctest) and the .NET suite (dotnet test), and ends with
# one line "N passed, N failed, N skipped" summing both. Exit status non-zero when anything failed.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${HB_BUILD_DIR:-$ROOT/build}"
CONFIG="${HB_DOTNET_CONFIG:-Release}"
LOG_DIR="$BUILD_DIR/test-logs"

"$ROOT/scripts/build.sh" || { echo "0 passed, 1 failed"; exit 1; }
mkdir -p "$LOG_DIR"

echo "==> native tests (ctest)"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "${HB_JOBS:-2}" --timeout 600) 2>&1 | tee "$LOG_DIR/ctest.log"
ctest_rc=${PIPESTATUS[0]}
# ctest: "100% tests passed, 0 tests failed out of 38". A skipped test shows twice: "***Skipped" on its progress
# line and "(Skipped)" in the closing list — count the progress lines only, once per test.
native_total=$(grep -Eo "tests failed out of [0-9]+" "$LOG_DIR/ctest.log" | grep -Eo "[0-9]+$" | tail -1)
native_failed=$(grep -Eo "[0-9]+ tests failed out of" "$LOG_DIR/ctest.log" | grep -Eo "^[0-9]+" | tail -1)
native_skipped=$(grep -c "\*\*\*Skipped" "$LOG_DIR/ctest.log" || true)
native_total=${native_total:-0}; native_failed=${native_failed:-0}; native_skipped=${native_skipped:-0}
if [ "$ctest_rc" -ne 0 ] && [ "$native_failed" -eq 0 ]; then native_failed=1; fi
native_passed=$((native_total - native_failed - native_skipped))

echo "==> .NET tests (dotnet test)"
dotnet test "$ROOT/tests/Humpback.Tests/Humpback.Tests.csproj" -c "$CONFIG" --no-build -nologo \
  --logger "console;verbosity=normal" ${HB_DOTNET_TEST_ARGS:-} 2>&1 | tee "$LOG_DIR/dotnet-test.log"
dotnet_rc=${PIPESTATUS[0]}
# The summary block: "Total tests: 40" then "     Passed: 38", "     Failed: 1", "    Skipped: 1" (absent lines = 0).
count() { grep -E "^ +$1: +[0-9]+" "$LOG_DIR/dotnet-test.log" | tail -1 | grep -Eo "[0-9]+" || echo 0; }
dn_passed=$(count Passed); dn_failed=$(count Failed); dn_skipped=$(count Skipped)
if ! grep -q "Total tests:" "$LOG_DIR/dotnet-test.log"; then dn_failed=$((dn_failed + 1)); fi
if [ "$dotnet_rc" -ne 0 ] && [ "$dn_failed" -eq 0 ]; then dn_failed=1; fi

passed=$((native_passed + dn_passed))
failed=$((native_failed + dn_failed))
skipped=$((native_skipped + dn_skipped))
echo "native: $native_passed passed, $native_failed failed, $native_skipped skipped; .NET: $dn_passed passed, $dn_failed failed, $dn_skipped skipped"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
