# CMake generated Testfile for 
# Source directory: /work/wt-tc/tests/native
# Build directory: /work/wt-tc/build90/tests/native
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
include("/work/wt-tc/build90/tests/native/test-adamw[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-attention[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-bf16[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-cross-entropy[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-cuda-emulated[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-cuda-parity[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-elementwise[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-embedding[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-lora[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-matmul[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-rmsnorm[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-rope[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-runtime[1]_include.cmake")
include("/work/wt-tc/build90/tests/native/test-swiglu[1]_include.cmake")
add_test([=[bench-cuda-smoke]=] "/work/wt-tc/build90/bin/bench-cuda" "--smoke")
set_tests_properties([=[bench-cuda-smoke]=] PROPERTIES  _BACKTRACE_TRIPLES "/work/wt-tc/tests/native/CMakeLists.txt;33;add_test;/work/wt-tc/tests/native/CMakeLists.txt;0;")
