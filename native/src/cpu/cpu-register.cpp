// cpu-register.cpp — wires the CPU kernels into the CPU ops table.
// An op left NULL here is reported by the API as "not implemented by the cpu backend".
#include "cpu-kernels.hpp"

namespace hb::cpu {

void register_kernels(hb_backend_ops& ops) {
    (void)ops;
}

}  // namespace hb::cpu
