// GemmIsa::pack_gather (batch mode's im2col) against its definition: panel row kk, column j of
// chunk q is src[off[kk] + idx[q * nr + j]] (relu(x * scale[c] + shift[c]) with a prologue), on
// every ISA, with and without the slack that lets an ISA load runs of consecutive taps in one
// go (kPatchLoads: AVX-512's vpatch4) instead of gathering row by row. The offsets model 3x3 and
// 5x5 convs' taps, K blocks that start and end inside a kernel row, and channel boundaries that
// happen to be one float apart (a run must not cross them when a prologue is applied).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/gemm_cpu.h"
#include "random.h"

namespace dice {
namespace {

struct Case {
  int64_t kernel, wp, plane, channels, k0, k, n;
};

TEST(PackGather, RunsOfTapsMatchTheDefinitionOnEveryIsa) {
  // {3, 3, 9, ...}: rows and channels 3 and 9 floats apart put every tap one float after the last,
  // across channels too; with a prologue a run must stop at the channel boundary.
  const Case cases[] = {{3, 30, 900, 8, 0, 72, 70},  {3, 30, 900, 8, 4, 61, 33},
                        {5, 20, 400, 3, 7, 60, 17},  {3, 12, 150, 5, 2, 40, 96},
                        {1, 12, 150, 16, 0, 16, 40}, {3, 3, 9, 4, 1, 30, 32}};
  for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
    if (!cpu_isa_supported(isa)) continue;
    const CpuIsa old = force_cpu_isa(isa);
    const GemmIsa& gi = cpu_isa();
    const int64_t nr = gi.nr;
    for (const Case& c : cases) {
      const int64_t taps = c.kernel * c.kernel;
      // The taps of the full K (c * taps + ky * kernel + kx), of which rows [k0, k0 + k) are packed.
      std::vector<int32_t> off;
      for (int64_t ch = 0; ch < c.channels; ++ch)
        for (int64_t ky = 0; ky < c.kernel; ++ky)
          for (int64_t kx = 0; kx < c.kernel; ++kx)
            off.push_back(static_cast<int32_t>(ch * c.plane + ky * c.wp + kx));
      ASSERT_LE(c.k0 + c.k, static_cast<int64_t>(off.size()));
      const int64_t reach = off.back() + 1;
      const int64_t chunks = (c.n + nr - 1) / nr;
      // Column offsets: arbitrary, some of them equal (tail columns repeat the last one).
      std::vector<int32_t> idx(static_cast<size_t>(chunks * nr));
      const std::vector<float> pick = test::random_floats(chunks * nr, 31, 0.0f, 1.0f);
      for (int64_t j = 0; j < chunks * nr; ++j)
        idx[static_cast<size_t>(j)] =
            j < c.n ? static_cast<int32_t>(pick[static_cast<size_t>(j)] * 200) : idx[static_cast<size_t>(c.n - 1)];
      const int64_t src_floats = 200 + reach + 16;  // 16 floats of slack past the last one read
      const std::vector<float> src = test::random_floats(src_floats, 32, -2.0f, 2.0f);
      const std::vector<float> scale = test::random_floats(c.channels, 33, 0.5f, 1.5f);
      const std::vector<float> shift = test::random_floats(c.channels, 34, -0.5f, 0.5f);
      for (bool prologue : {false, true}) {
        // The panel with row-by-row gathers (slack 0) and with runs where the ISA loads them.
        std::vector<float> panel[2];
        for (int with_slack = 0; with_slack < 2; ++with_slack) {
          PackGather pg;
          pg.src = src.data(), pg.off = off.data() + c.k0, pg.idx = idx.data();
          pg.k = c.k, pg.n = c.n, pg.taps = taps, pg.k0 = c.k0, pg.slack = with_slack ? 16 : 0;
          if (prologue) pg.scale = scale.data(), pg.shift = shift.data();
          panel[with_slack].assign(static_cast<size_t>(chunks * c.k * nr), NAN);
          pg.dst = panel[with_slack].data();
          gi.pack_gather(pg);
        }
        const std::string what = std::string(gi.name) + " kernel " + std::to_string(c.kernel) +
                                 " k0 " + std::to_string(c.k0) + " k " + std::to_string(c.k) +
                                 (prologue ? " prologue" : "");
        // Both against the definition (the prologue's multiply-add may or may not be fused on
        // an ISA, hence the tolerance), and against each other bitwise.
        int64_t bad = 0;
        for (int64_t q = 0; q < chunks; ++q)
          for (int64_t kk = 0; kk < c.k; ++kk)
            for (int64_t j = 0; j < nr && q * nr + j < c.n; ++j) {
              float want = src[static_cast<size_t>(off[static_cast<size_t>(c.k0 + kk)] +
                                                   idx[static_cast<size_t>(q * nr + j)])];
              if (prologue) {
                const size_t ch = static_cast<size_t>((c.k0 + kk) / taps);
                want = std::fmax(want * scale[ch] + shift[ch], 0.0f);
              }
              const size_t at = static_cast<size_t>((q * c.k + kk) * nr + j);
              const float got = panel[0][at], run = panel[1][at];
              const bool ok = std::fabs(got - want) <= 1e-6f * std::fmax(1.0f, std::fabs(want)) &&
                              std::memcmp(&got, &run, sizeof got) == 0;
              if (!ok && bad++ < 3)
                ADD_FAILURE() << what << ": chunk " << q << " row " << kk << " column " << j
                              << ": gathered " << got << ", with runs " << run << ", want " << want;
            }
        EXPECT_EQ(bad, 0) << what;
      }
    }
    force_cpu_isa(old);
  }
}

}  // namespace
}  // namespace dice
