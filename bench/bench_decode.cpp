// JPEG decode throughput, one thread: stb_image (with libjpeg's arithmetic, the default) against
// libjpeg-turbo (--decoder turbo, when built with it), on the JPEGs of a folder tree (default
// ../shared/assets/datasets/imagenet-sample). Files are read into memory first, so only decoding
// is timed. Before timing, every image is decoded by both and compared: the report says how many
// differ and by how much (stb's path is bit-exact with PIL, so any difference is turbo's).
//
//   bench_decode [--benchmark_filter=...]      (env DICE_BENCH_DIR picks another folder,
//                                               DICE_BENCH_LIMIT caps the number of files)
#include <benchmark/benchmark.h>
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/file_io.h"
#include "data/image.h"

namespace {

struct Corpus {
  std::vector<std::string> names;
  std::vector<std::vector<uint8_t>> bytes;
  double megapixels = 0;
};

void collect(const std::string& dir, std::vector<std::string>* out) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    const std::string p = dir + "/" + n;
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      collect(p, out);
    } else {
      std::string l = n;
      for (char& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (l.size() > 4 && (l.compare(l.size() - 4, 4, ".jpg") == 0 ||
                           (l.size() > 5 && l.compare(l.size() - 5, 5, ".jpeg") == 0)))
        out->push_back(p);
    }
  }
  ::closedir(d);
}

const Corpus& corpus() {
  static Corpus c = [] {
    Corpus k;
    const char* env = std::getenv("DICE_BENCH_DIR");
    const std::string dir = env ? env : DICE_TEST_ASSETS "/datasets/imagenet-sample";
    collect(dir, &k.names);
    std::sort(k.names.begin(), k.names.end());
    if (const char* lim = std::getenv("DICE_BENCH_LIMIT"))
      k.names.resize(std::min(k.names.size(), static_cast<size_t>(std::atol(lim))));
    for (const std::string& n : k.names) k.bytes.push_back(dice::read_file(n));
    std::printf("%zu JPEG files under %s\n", k.names.size(), dir.c_str());
    // Parity, once, before any timing.
    int64_t differ = 0, max_diff = 0, fallback = 0;
    for (size_t i = 0; i < k.names.size(); ++i) {
      const auto& b = k.bytes[i];
      dice::Image s =
          dice::decode_image_memory(b.data(), b.size(), k.names[i], dice::JpegDecoder::kStb);
      k.megapixels += s.width * 1e-6 * s.height;
      if (!dice::have_turbojpeg()) continue;
      dice::Image t;
      if (!dice::decode_jpeg_turbo(b.data(), b.size(), k.names[i], &t)) {
        ++fallback;
        continue;
      }
      int64_t m = 0;
      for (size_t j = 0; j < s.rgb.size(); ++j)
        m = std::max<int64_t>(m, std::abs(int(s.rgb[j]) - int(t.rgb[j])));
      differ += m > 0;
      max_diff = std::max(max_diff, m);
    }
    if (dice::have_turbojpeg())
      std::printf(
          "parity stb vs libjpeg-turbo: %lld of %zu images differ (max %lld levels); "
          "%lld use stb's fallback\n",
          static_cast<long long>(differ), k.names.size(), static_cast<long long>(max_diff),
          static_cast<long long>(fallback));
    return k;
  }();
  return c;
}

void run(benchmark::State& state, dice::JpegDecoder dec) {
  const Corpus& c = corpus();
  if (c.names.empty()) {
    state.SkipWithError("no JPEG files (set DICE_BENCH_DIR)");
    return;
  }
  if (dec == dice::JpegDecoder::kTurbo && !dice::have_turbojpeg()) {
    state.SkipWithError("built without libjpeg-turbo (install libturbojpeg0-dev and rebuild)");
    return;
  }
  int64_t images = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < c.names.size(); ++i) {
      dice::Image im =
          dice::decode_image_memory(c.bytes[i].data(), c.bytes[i].size(), c.names[i], dec);
      benchmark::DoNotOptimize(im.rgb.data());
    }
    images += static_cast<int64_t>(c.names.size());
  }
  state.counters["images/s"] =
      benchmark::Counter(static_cast<double>(images), benchmark::Counter::kIsRate);
  state.counters["Mpix/s"] = benchmark::Counter(
      c.megapixels * static_cast<double>(images) / static_cast<double>(c.names.size()),
      benchmark::Counter::kIsRate);
}

void BM_decode_stb(benchmark::State& s) { run(s, dice::JpegDecoder::kStb); }
void BM_decode_turbo(benchmark::State& s) { run(s, dice::JpegDecoder::kTurbo); }
BENCHMARK(BM_decode_stb)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();
BENCHMARK(BM_decode_turbo)->Unit(benchmark::kMillisecond)->MinTime(2.0)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
