// cpu-kernels.hpp — the CPU kernels (the specification every other backend is checked against).
// One file per kernel family; each fills its entries of the ops table in register_kernels.
#pragma once

#include "backend.hpp"

namespace hb::cpu {

// Fills every kernel entry of the CPU ops table (defined in cpu-register.cpp).
void register_kernels(hb_backend_ops& ops);

}  // namespace hb::cpu
