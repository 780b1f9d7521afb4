// Transparent huge pages for the large, long-lived CPU buffers (packed weights, the activation
// arena): with 4 KB pages, streaming ResNet-50's 100 MB of weights at batch 1 misses the TLB and
// the hardware prefetchers stop at every page boundary. Where Linux's THP is in "madvise" mode (as
// on the development machine), buffers get 2 MB pages only when asked.
#pragma once
#include <cstddef>

namespace dice {

// Asks the kernel to back the 2 MB-aligned interior of [p, p + bytes) with huge pages, collapsing
// the pages already there (MADV_COLLAPSE, Linux 6.1+; MADV_HUGEPAGE for later faults). A hint
// only: does nothing for small buffers, off Linux, or where THP is disabled; never fails.
void advise_huge_pages(void* p, size_t bytes);

}  // namespace dice
