#!/usr/bin/env bash
# Builds and installs llama-cpp-python (the CPU engine, and llama.cpp's model server) for this CPU,
# without llama.cpp's AMX kernels. Run by `make install`; by hand: scripts/install_llama_cpp.sh .venv/bin/pip
#
# Why: on CPUs with AMX (Intel Sapphire Rapids and later), a native build (-march=native) compiles
# ggml's AMX matmul kernels, and decoding the bundled Q4_1 SmolLM2 then dies with SIGSEGV in
# llama_decode (ggml_backend_amx_mul_mat; upstream: ggml-org/llama.cpp#20824, closed unfixed; #16315
# reports wrong results for Q4_0/Q4_1 from the same kernels). The AMX path only ever runs the
# quantized types, so switching it off costs nothing the project serves: bf16 keeps AVX512-BF16,
# Q4_1 runs the AVX2/AVX-512 kernels, as on every other x86-64 CPU.
# How: keep -march=native (the bf16 weights served by default need AVX512-BF16 where the CPU has it)
# and take AMX out with -mno-amx-*, which GCC and Clang honour whatever their order on the line.
# --no-cache-dir --no-binary: always compile on this machine; a wheel pip cached on another CPU has
# other kernels in it (that is how the crash stayed hidden).
set -euo pipefail
pip=${1:?usage: install_llama_cpp.sh PIP [CONSTRAINTS]}
constraints=${2:-constraints.txt}
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}
flags=""
if [ "$(uname -m)" = x86_64 ]; then
  flags="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
fi
echo "building llama-cpp-python for this CPU (GGML_NATIVE=ON, extra flags: ${flags:-none}); about 5 minutes on 2 cores"
CFLAGS="${CFLAGS:-} $flags" CXXFLAGS="${CXXFLAGS:-} $flags" CMAKE_ARGS="${CMAKE_ARGS:-} -DGGML_NATIVE=ON" \
  "$pip" install --no-cache-dir --no-binary llama-cpp-python -c "$constraints" 'llama-cpp-python[server]'
# A llama-cpp-python already in this environment (built natively elsewhere) is kept by pip as
# "already satisfied": rebuild it when it has the AMX kernels.
python="$(dirname "$pip")/python"
if "$python" -c "import llama_cpp, sys; sys.exit(b'AMX_INT8 = 1' not in llama_cpp.llama_print_system_info())" 2>/dev/null; then
  echo "the installed llama-cpp-python has AMX kernels: rebuilding it without them"
  CFLAGS="${CFLAGS:-} $flags" CXXFLAGS="${CXXFLAGS:-} $flags" CMAKE_ARGS="${CMAKE_ARGS:-} -DGGML_NATIVE=ON" \
    "$pip" install --force-reinstall --no-deps --no-cache-dir --no-binary llama-cpp-python -c "$constraints" llama-cpp-python
fi
