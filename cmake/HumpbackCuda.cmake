# Decides whether the CUDA backend is built (HB_CUDA = AUTO | ON | OFF) and sets HB_WITH_CUDA.
# AUTO builds it when nvcc is found. Debian's nvcc 11.8 rejects gcc 12 as host compiler, so a
# clang-14 found on the PATH becomes the host compiler unless CMAKE_CUDA_HOST_COMPILER is given.
# Architectures: sm_80 and sm_90 machine code plus PTX for newer GPUs.
set(HB_WITH_CUDA OFF)
string(TOUPPER "${HB_CUDA}" _hb_cuda)
if(_hb_cuda STREQUAL "OFF")
  message(STATUS "humpback: CUDA backend disabled (HB_CUDA=OFF)")
  return()
endif()

if(NOT CMAKE_CUDA_HOST_COMPILER AND NOT DEFINED ENV{CUDAHOSTCXX})
  find_program(HB_CLANG14 NAMES clang++-14 clang-14)
  if(HB_CLANG14)
    set(CMAKE_CUDA_HOST_COMPILER "${HB_CLANG14}" CACHE FILEPATH "Host compiler for nvcc")
  endif()
endif()
if(NOT CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "80-real;90-real;90-virtual")
endif()

# check_language(CUDA) of CMake 3.25 does not pass the host compiler on, so look for nvcc directly.
if(NOT CMAKE_CUDA_COMPILER)
  find_program(HB_NVCC nvcc HINTS "$ENV{CUDA_HOME}/bin" "$ENV{CUDA_PATH}/bin" /usr/local/cuda/bin)
  if(HB_NVCC)
    set(CMAKE_CUDA_COMPILER "${HB_NVCC}" CACHE FILEPATH "CUDA compiler")
  endif()
endif()
if(NOT CMAKE_CUDA_COMPILER)
  if(_hb_cuda STREQUAL "ON")
    message(FATAL_ERROR "humpback: HB_CUDA=ON but no CUDA compiler (nvcc) was found. Install the CUDA toolkit "
                        "(Debian: apt-get install nvidia-cuda-toolkit from the non-free component) or use -DHB_CUDA=OFF.")
  endif()
  message(STATUS "humpback: nvcc not found, CUDA backend not built (HB_CUDA=AUTO)")
  return()
endif()

enable_language(CUDA)
# FindCUDAToolkit of CMake 3.25 misses Debian's layout (nvcc in /usr/bin, headers in /usr/include);
# fall back to plain library look-ups there.
find_package(CUDAToolkit QUIET)
if(CUDAToolkit_FOUND)
  set(HB_CUDA_LIBS CUDA::cudart CUDA::cublas CUDA::cublasLt)
else()
  find_library(HB_CUDART cudart REQUIRED)
  find_library(HB_CUBLAS cublas REQUIRED)
  find_library(HB_CUBLASLT cublasLt REQUIRED)
  set(HB_CUDA_LIBS ${HB_CUDART} ${HB_CUBLAS} ${HB_CUBLASLT})
endif()
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(HB_WITH_CUDA ON)
message(STATUS "humpback: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, host ${CMAKE_CUDA_HOST_COMPILER}, archs ${CMAKE_CUDA_ARCHITECTURES})")
