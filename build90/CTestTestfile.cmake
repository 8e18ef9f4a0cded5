# CMake generated Testfile for 
# Source directory: /work/wt-tc
# Build directory: /work/wt-tc/build90
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
subdirs("native")
subdirs("tests/native")
