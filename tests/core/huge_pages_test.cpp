// core/huge_pages: a hint that never fails and never changes what the memory holds, for buffers of
// any size and alignment (the collapse into 2 MB pages copies the small pages' contents).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "core/huge_pages.h"

TEST(HugePages, AdviceKeepsTheContents) {
  // 12 MB plus an odd tail, advised from an unaligned start: the 2 MB-aligned interior only.
  std::vector<uint32_t> v((12u << 20) / 4 + 7);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint32_t>(i * 2654435761u);
  dice::advise_huge_pages(v.data() + 1, (v.size() - 2) * sizeof(uint32_t));
  for (size_t i = 0; i < v.size(); ++i)
    ASSERT_EQ(v[i], static_cast<uint32_t>(i * 2654435761u)) << i;
  v[v.size() / 2] = 5;  // still ordinary, writable memory
  EXPECT_EQ(v[v.size() / 2], 5u);
}

TEST(HugePages, SmallOrEmptyBuffersAreLeftAlone) {
  std::vector<float> small(100, 1.5f);
  dice::advise_huge_pages(small.data(), small.size() * sizeof(float));
  dice::advise_huge_pages(nullptr, 0);
  dice::advise_huge_pages(nullptr, 64u << 20);
  for (float x : small) EXPECT_EQ(x, 1.5f);
}
