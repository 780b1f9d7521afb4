// Shared test helpers (see test_util.h).
#include "test_util.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "random.h"

namespace dice::test {

static bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}

std::string asset(const std::string& rel) {
  const char* env = std::getenv("DICE_ASSETS");
  std::string root = env && *env ? env : DICE_TEST_ASSETS;
  std::string p = root + "/" + rel;
  return exists(p) ? p : std::string();
}

bool gpu_required() {
  const char* env = std::getenv("DICE_REQUIRE_GPU");
  return env && *env && std::string(env) != "0";
}

std::string fixture(const std::string& rel) {
  // $DICE_FIXTURES lets binaries built here run from another checkout path (the GPU machine).
  const char* env = std::getenv("DICE_FIXTURES");
  return std::string(env && *env ? env : DICE_TEST_FIXTURES) + "/" + rel;
}

std::string temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/dice_test_XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) ADD_FAILURE() << "mkdtemp failed";
  return std::string(buf.data());
}

int run_dice(const std::string& args, std::string* output) {
  std::string cmd = std::string(DICE_BINARY) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  if (output) *output = out;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::vector<float> take_slice(const Slice& s, const std::vector<float>& buf, int64_t* clobbered) {
  DICE_ASSERT(static_cast<int64_t>(buf.size()) == s.size());
  std::vector<float> t;
  t.reserve(static_cast<size_t>(s.batch * s.channels * s.plane));
  int64_t bad = 0;
  for (int64_t i = 0; i < s.size(); ++i) {
    const int64_t j = i - Slice::kMargin, ch = j >= 0 ? j / s.plane % s.buffer_channels : -1;
    const bool inside =
        j >= 0 && j < s.batch * s.batch_stride() && ch >= s.offset && ch < s.offset + s.channels;
    if (inside)
      t.push_back(buf[static_cast<size_t>(i)]);
    else if (!is_poison(buf[static_cast<size_t>(i)]))
      ++bad;
  }
  if (clobbered) *clobbered = bad;
  return t;
}

double normalized_error(const float* a, const float* b, int64_t n, double tol, const char* what) {
  double max_ref = 0, max_diff = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(a[i]) || std::isnan(b[i])) {
      ADD_FAILURE() << what << ": NaN at " << i;
      return INFINITY;
    }
    max_ref = std::fmax(max_ref, std::fabs(b[i]));
  }
  int shown = 0;
  for (int64_t i = 0; i < n; ++i) {
    double d = std::fabs(static_cast<double>(a[i]) - b[i]);
    max_diff = std::fmax(max_diff, d);
    if (d > tol * (max_ref > 0 ? max_ref : 1) && shown < 5) {
      ++shown;
      std::printf("  %s mismatch at %lld: got %.8g want %.8g\n", what, static_cast<long long>(i),
                  a[i], b[i]);
    }
  }
  return max_ref > 0 ? max_diff / max_ref : max_diff;
}

}  // namespace dice::test
