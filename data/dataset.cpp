// open_dataset: the spec dispatcher of dataset.h, and the file-name rules shared by the readers.
#include "data/dataset.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"

namespace dice {
namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// "gaussian:N" or "gaussian:N:SEED" (likewise uniform). Returns false if spec is not of that
// form; throws if it is but N or SEED is malformed.
bool parse_synthetic(const std::string& spec, std::string* kind, int64_t* n, uint64_t* seed) {
  size_t colon = spec.find(':');
  if (colon == std::string::npos) return false;
  std::string k = spec.substr(0, colon);
  if (k != "gaussian" && k != "uniform") return false;
  std::string rest = spec.substr(colon + 1);
  std::string num = rest, seed_str;
  size_t c2 = rest.find(':');
  const bool has_seed = c2 != std::string::npos;
  if (has_seed) {
    num = rest.substr(0, c2);
    seed_str = rest.substr(c2 + 1);
  }
  auto parse_u = [&](const std::string& s, uint64_t max, const char* what) {
    if (s.empty() || s.size() > 19 ||
        !std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; }))
      throw_error(spec, ": bad ", what, " '", s, "'; write ", k, ":N or ", k,
                  ":N:SEED with decimal integers, e.g. ", k, ":1000");
    uint64_t v = std::stoull(s);
    if (v > max) throw_error(spec, ": ", what, " ", v, " is too large (at most ", max, ")");
    return v;
  };
  *kind = k;
  // The bound keeps the features of the set in memory (N x D floats; 1M x 2048 is 8 GB).
  *n = static_cast<int64_t>(parse_u(num, uint64_t(1) << 20, "image count"));
  if (*n <= 0) throw_error(spec, ": the image count must be positive, e.g. ", k, ":1000");
  *seed = has_seed ? parse_u(seed_str, ~uint64_t(0) >> 1, "seed") : kSyntheticSeed;
  return true;
}

bool is_pickle(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  unsigned char b[2] = {0, 0};
  size_t n = std::fread(b, 1, 2, f);
  std::fclose(f);
  return n == 2 && b[0] == 0x80 && b[1] >= 2 && b[1] <= 5;  // PROTO 2..5
}

}  // namespace

bool has_image_extension(const std::string& name) {
  static const char* const kExt[] = {".jpg", ".jpeg", ".png",  ".ppm", ".bmp",
                                     ".pgm", ".tif",  ".tiff", ".webp"};
  std::string l = lower(name);
  for (const char* e : kExt)
    if (ends_with(l, e)) return true;
  return false;
}

std::unique_ptr<Dataset> open_dataset(const std::string& spec, const Preprocess& pp,
                                      const DatasetOptions& opts) {
  if (pp.crop <= 0 || pp.resize <= 0)
    throw_error("preprocess: resize ", pp.resize, " and crop ", pp.crop, " must be positive");
  auto no_labels = [&](const char* what) {
    if (!opts.labels.empty())
      throw_error(spec, ": --labels ", opts.labels, " applies only to a flat folder of images (",
                  what, " carries its own labels); drop --labels");
  };
  if (spec.rfind("tensor:", 0) == 0) {
    no_labels("a tensor: spec");
    return open_tensor_npy(spec.substr(7), pp, opts.num_classes);
  }
  std::string kind;
  int64_t n = 0;
  uint64_t seed = 0;
  if (!file_exists(spec) && parse_synthetic(spec, &kind, &n, &seed)) {
    no_labels("a synthetic set");
    return make_synthetic(kind, n, seed, pp);
  }
  if (spec.empty())
    throw_error("empty data set spec; pass a folder, a CIFAR batch file, or gaussian:N");
  if (!file_exists(spec))
    throw_error(spec,
                ": no such file or folder; pass an image folder, a CIFAR batch file, an SVHN "
                ".mat file, tensor:FILE.npy, gaussian:N or uniform:N");
  if (is_directory(spec)) return open_image_folder(spec, pp, opts.labels, opts.num_classes);
  if (!is_regular_file(spec))  // a FIFO would block the reads below
    throw_error(echo(spec), ": not a regular file (a FIFO, device or socket); pass a data set file or folder");
  no_labels("a data set file");
  if (ends_with(lower(spec), ".bin")) return open_cifar_binary(spec, pp);
  if (ends_with(lower(spec), ".mat")) return open_svhn_mat(spec, pp);
  if (ends_with(lower(spec), ".npy"))
    throw_error(spec,
                ": an .npy file is read as pre-processed tensors only with the prefix: "
                "tensor:",
                spec);
  if (is_pickle(spec)) return open_cifar_python(spec, pp);
  throw_error(spec,
              ": not a data set this tool reads (expected an image folder, a CIFAR binary "
              "batch *.bin, a CIFAR python batch, an SVHN *.mat file or tensor:FILE.npy); "
              "check the path");
}

}  // namespace dice
