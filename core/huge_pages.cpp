// See huge_pages.h.
#include "core/huge_pages.h"

#include <cstdint>

#ifdef __linux__
#include <sys/mman.h>
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25  // Linux's value (asm-generic/mman-common.h); glibc 2.36 lacks the name
#endif
#endif

namespace dice {

void advise_huge_pages(void* p, size_t bytes) {
#ifdef __linux__
  constexpr uintptr_t kHuge = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (!p || end <= begin) return;
  void* a = reinterpret_cast<void*>(begin);
  const size_t len = end - begin;
  madvise(a, len, MADV_HUGEPAGE);
  madvise(a, len, MADV_COLLAPSE);  // EINVAL on kernels before 6.1: the hint above still holds
#else
  (void)p, (void)bytes;
#endif
}

}  // namespace dice
