// Cheaper first writes to large output buffers.
//
// A fresh output tensor is usually fresh memory: every 4 KiB page faults on
// its first write, and in a virtual machine that costs microseconds, as
// much as computing a few hundred output values. On Linux, asking for
// transparent huge pages on the buffer turns 512 of those faults into one.
// Only whole 2 MiB pages inside the buffer are affected, so no memory
// beyond it is committed; where the hint is not supported nothing happens.
#ifndef TF_CONV1D_OP_CORE_OUTPUT_PAGES_H_
#define TF_CONV1D_OP_CORE_OUTPUT_PAGES_H_

#include <cstddef>

namespace conv1d {

void PreferHugePages(void* data, size_t bytes);

}  // namespace conv1d

#endif  // TF_CONV1D_OP_CORE_OUTPUT_PAGES_H_
