// Feature statistics for DICE, exact and shardable (see precompute.h for the design).
//
// Accumulation: a float32 with biased exponent E and mantissa m (implicit bit included when E > 0)
// is m * 2^(max(E,1) - 150), i.e. m shifted left by s = max(E,1) - 1 (0..253) bits above 2^-149.
// m has 24 bits, so m << (s % 32) fits in 56 bits and touches only limbs s/32 and s/32 + 1; it is
// added to them as two 32-bit halves with no carry propagation. Each add moves a limb by less than
// 2^32, so int64 limbs cannot overflow within 2^31 adds; normalize() propagates carries long
// before that (and before every read), leaving limbs 0..8 in [0, 2^32) and the sign in limb 9.
#include "ood/precompute.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "data/loader.h"
#include "formats/npy.h"

namespace dice {
namespace {

constexpr int64_t kPartMagic = 0x314d555345434944;  // "DICESUM1" little-endian
constexpr int64_t kPartVersion = 1;
constexpr int64_t kNormalizeEvery = int64_t{1} << 30;
constexpr int kL = ExactFeatureSum::kLimbs;

// Shard [begin, end) of another data set, without copying anything.
class SliceDataset : public Dataset {
 public:
  SliceDataset(const Dataset& base, int64_t begin, int64_t end)
      : Dataset(base.image_size()), base_(base), begin_(begin), end_(end) {}
  int64_t size() const override { return end_ - begin_; }
  int64_t label(int64_t i) const override { return base_.label(begin_ + i); }
  void load(int64_t i, float* chw) const override { base_.load(begin_ + i, chw); }
  std::string describe() const override {
    return base_.describe() + " [" + std::to_string(begin_) + ", " + std::to_string(end_) + ")";
  }

 private:
  const Dataset& base_;
  int64_t begin_, end_;
};

uint64_t fnv1a(uint64_t h, const void* data, size_t n) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

}  // namespace

ExactFeatureSum::ExactFeatureSum(int64_t dim) : dim_(dim), limbs_(static_cast<size_t>(dim * kL), 0) {}

int64_t ExactFeatureSum::add(const float* rows_data, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = rows_data + r * dim_;
    for (int64_t d = 0; d < dim_; ++d)
      if (!std::isfinite(row[d])) return r;
    if (pending_ >= kNormalizeEvery) normalize();
    for (int64_t d = 0; d < dim_; ++d) {
      uint32_t u;
      std::memcpy(&u, &row[d], 4);
      const uint32_t e = (u >> 23) & 0xff;
      const uint64_t m = e ? ((u & 0x7fffffu) | 0x800000u) : (u & 0x7fffffu);
      if (!m) continue;
      const uint32_t s = (e ? e : 1) - 1;
      const uint64_t t = m << (s & 31);
      const int64_t lo = static_cast<int64_t>(t & 0xffffffffu), hi = static_cast<int64_t>(t >> 32);
      int64_t* limb = limbs_.data() + d * kL + (s >> 5);
      if (u >> 31) {
        limb[0] -= lo, limb[1] -= hi;
      } else {
        limb[0] += lo, limb[1] += hi;
      }
    }
    ++pending_;
    ++count_;
  }
  return -1;
}

void ExactFeatureSum::normalize() {
  for (int64_t d = 0; d < dim_; ++d) {
    int64_t* limb = limbs_.data() + d * kL;
    int64_t carry = 0;
    for (int j = 0; j + 1 < kL; ++j) {
      const int64_t v = limb[j] + carry;
      const int64_t low = static_cast<int64_t>(static_cast<uint64_t>(v) & 0xffffffffu);
      limb[j] = low;
      carry = (v - low) / (int64_t{1} << 32);  // exact: v - low is a multiple of 2^32
    }
    limb[kL - 1] += carry;
  }
  pending_ = 0;
}

void ExactFeatureSum::merge(const ExactFeatureSum& other) {
  DICE_ASSERT(other.dim_ == dim_);
  ExactFeatureSum o = other;
  o.normalize();
  normalize();
  for (size_t i = 0; i < limbs_.size(); ++i) limbs_[i] += o.limbs_[i];
  pending_ = 1;  // limbs may now exceed 32 bits: normalize before the next read
  count_ += o.count_;
}

std::vector<double> ExactFeatureSum::sums() const {
  ExactFeatureSum n = *this;
  n.normalize();
  std::vector<double> out(static_cast<size_t>(dim_));
  for (int64_t d = 0; d < dim_; ++d) {
    const int64_t* limb = n.limbs_.data() + d * kL;
    // Top limb first, so the large parts are exact and each smaller one rounds once at most.
    double v = 0;
    for (int j = kL - 1; j >= 0; --j) v += std::ldexp(static_cast<double>(limb[j]), 32 * j - 149);
    out[static_cast<size_t>(d)] = v;
  }
  return out;
}

std::vector<double> ExactFeatureSum::mean() const {
  DICE_ASSERT(count_ > 0);
  std::vector<double> s = sums();
  for (double& v : s) v /= static_cast<double>(count_);
  return s;
}

std::vector<int64_t> ExactFeatureSum::limbs() const {
  ExactFeatureSum n = *this;
  n.normalize();
  return n.limbs_;
}

ExactFeatureSum ExactFeatureSum::from_limbs(int64_t dim, int64_t count, const std::vector<int64_t>& limbs) {
  DICE_ASSERT(static_cast<int64_t>(limbs.size()) == dim * kL);
  ExactFeatureSum s(dim);
  s.count_ = count;
  s.limbs_ = limbs;
  s.pending_ = 1;
  return s;
}

ShardSpec parse_shard(const std::string& text) {
  ShardSpec s;
  char* end = nullptr;
  const size_t slash = text.find('/');
  bool ok = slash != std::string::npos && slash > 0 && slash + 1 < text.size();
  if (ok) {
    errno = 0;
    s.index = std::strtoll(text.c_str(), &end, 10);
    ok = end == text.c_str() + slash && !errno;
    s.count = std::strtoll(text.c_str() + slash + 1, &end, 10);
    ok = ok && *end == '\0' && !errno && s.count >= 1 && s.count <= (int64_t{1} << 20) &&
         s.index >= 0 && s.index < s.count;
  }
  if (!ok) throw_error("option --shard must be i/n with 0 <= i < n (e.g. 0/4), got '", text, "'");
  return s;
}

int64_t model_fingerprint(const Model& model) {
  uint64_t h = 0xcbf29ce484222325ull;
  h = fnv1a(h, model.fc_weight().ptr(), static_cast<size_t>(model.fc_weight().numel()) * 4);
  h = fnv1a(h, model.fc_bias().ptr(), static_cast<size_t>(model.fc_bias().numel()) * 4);
  return static_cast<int64_t>(h);
}

PrecomputePart precompute_part(Model& model, const Dataset& data, const std::string& name,
                               ShardSpec shard, int64_t batch, int loader_threads, bool progress,
                               bool skip_bad) {
  if (data.image_size() != model.input_size())
    throw_error(name, ": images are pre-processed to ", data.image_size(), "x", data.image_size(),
                " but ", model.name(), " expects ", model.input_size(), "x", model.input_size());
  PrecomputePart part;
  part.shard = shard;
  part.total = data.size();
  part.begin = shard.begin(part.total), part.end = shard.end(part.total);
  part.fingerprint = model_fingerprint(model);
  part.sum = ExactFeatureSum(model.feature_dim());
  SliceDataset slice(data, part.begin, part.end);
  if (slice.size() == 0) return part;
  const int64_t dim = model.feature_dim();
  std::vector<float> feats;
  BatchLoader loader(slice, batch, loader_threads, -1, progress ? name : std::string(), skip_bad);
  Batch b;
  while (loader.next(&b)) {
    feats.resize(static_cast<size_t>(b.count * dim));
    model.features(b.images.ptr(), b.count, feats.data());
    // Rows [r0, r1) of the batch that loaded; the skipped ones are left out of the sum.
    auto add_rows = [&](int64_t r0, int64_t r1) {
      const int64_t bad = r1 > r0 ? part.sum.add(feats.data() + r0 * dim, r1 - r0) : -1;
      if (bad >= 0)
        throw_error(name, ": sample ", part.begin + b.start + r0 + bad, " has a NaN or infinite "
                    "feature; the weights or the input are broken (check them with dice features)");
    };
    int64_t r0 = 0;
    for (int64_t idx : b.skipped) {
      add_rows(r0, idx - b.start);
      r0 = idx - b.start + 1;
    }
    add_rows(r0, b.count);
  }
  DICE_ASSERT(part.sum.count() + loader.skipped() == part.end - part.begin);
  return part;
}

ExactFeatureSum merge_parts(const std::vector<PrecomputePart>& parts, const std::vector<std::string>& names) {
  DICE_ASSERT(parts.size() == names.size());
  if (parts.empty()) throw_error("precompute --merge: no part files given");
  const PrecomputePart& p0 = parts[0];
  std::vector<size_t> order(parts.size(), SIZE_MAX);
  for (size_t k = 0; k < parts.size(); ++k) {
    const PrecomputePart& p = parts[k];
    if (p.shard.count != p0.shard.count || p.total != p0.total || p.sum.dim() != p0.sum.dim() ||
        p.fingerprint != p0.fingerprint)
      throw_error(names[k], ": is shard ", p.shard.index, "/", p.shard.count, " of ", p.total,
                  " samples (D = ", p.sum.dim(), ") but ", names[0], " is shard ", p0.shard.index, "/",
                  p0.shard.count, " of ", p0.total, " (D = ", p0.sum.dim(), ")",
                  p.fingerprint != p0.fingerprint ? " of another model" : "",
                  "; merge the parts of one run only");
    if (static_cast<int64_t>(parts.size()) != p.shard.count) continue;  // reported below
    if (order[static_cast<size_t>(p.shard.index)] != SIZE_MAX)
      throw_error(names[k], ": shard ", p.shard.index, "/", p.shard.count, " given twice (also ",
                  names[order[static_cast<size_t>(p.shard.index)]], ")");
    order[static_cast<size_t>(p.shard.index)] = k;
  }
  if (static_cast<int64_t>(parts.size()) != p0.shard.count)
    throw_error("precompute --merge: got ", parts.size(), " part files but the run has ", p0.shard.count,
                " shards (", names[0], " is shard ", p0.shard.index, "/", p0.shard.count, "); pass all of them");
  ExactFeatureSum total(p0.sum.dim());
  int64_t next = 0;
  for (size_t idx : order) {
    const PrecomputePart& p = parts[idx];
    if (p.begin != next || p.end != p.shard.end(p.total) || p.sum.count() > p.end - p.begin)
      throw_error(names[idx], ": covers samples [", p.begin, ", ", p.end, ") with ", p.sum.count(),
                  " counted; expected [", next, ", ", p.shard.end(p.total), "): the file is damaged");
    total.merge(p.sum);
    next = p.end;
  }
  if (total.count() == 0) throw_error(names[0], ": the data set has no samples; nothing to average");
  return total;
}

std::vector<double> precompute_mean(Model& model, const Dataset& data, const std::string& name,
                                    int64_t batch, int loader_threads, bool progress,
                                    bool skip_bad, int64_t* used) {
  std::vector<PrecomputePart> parts;
  parts.push_back(
      precompute_part(model, data, name, ShardSpec{}, batch, loader_threads, progress, skip_bad));
  ExactFeatureSum total = merge_parts(parts, {name});
  if (used) *used = total.count();
  return total.mean();
}

std::vector<int64_t> part_to_rows(const PrecomputePart& part) {
  std::vector<int64_t> rows = part.sum.limbs();
  const int64_t meta[kL] = {kPartMagic, kPartVersion, part.sum.count(), part.shard.index,
                            part.shard.count, part.total, part.begin, part.end, part.sum.dim(),
                            part.fingerprint};
  rows.insert(rows.end(), meta, meta + kL);
  return rows;
}

PrecomputePart part_from_rows(std::vector<int64_t> v, const std::string& name) {
  const char* fix = "; pass the files `dice precompute --shard i/n` wrote";
  if (v.empty() || v.size() % kL)
    throw_error(name, ": not a precompute part file (expected an int64 array of shape (D + 1, ", kL, "))", fix);
  const int64_t dim = static_cast<int64_t>(v.size() / kL) - 1;
  const int64_t* meta = v.data() + dim * kL;
  if (meta[0] != kPartMagic) throw_error(name, ": not a precompute part file (no DICESUM1 marker)", fix);
  if (meta[1] != kPartVersion)
    throw_error(name, ": precompute part file version ", meta[1], "; this dice reads version ", kPartVersion,
                ": rerun the shard with this build");
  PrecomputePart p;
  p.shard.index = meta[3], p.shard.count = meta[4];
  p.total = meta[5], p.begin = meta[6], p.end = meta[7], p.fingerprint = meta[9];
  if (meta[8] != dim || meta[2] < 0 || p.shard.count < 1 || p.shard.index < 0 ||
      p.shard.index >= p.shard.count || p.total < 0 || p.begin < 0 || p.end < p.begin || p.end > p.total ||
      meta[2] > p.end - p.begin)  // below it when --skip-bad left samples out
    throw_error(name, ": inconsistent precompute part header; the file is damaged", fix);
  const int64_t count = meta[2];
  v.resize(static_cast<size_t>(dim * kL));
  for (int64_t d = 0; d < dim; ++d) {  // normalized limbs; sums beyond 2^180 cannot come from floats
    const int64_t* limb = v.data() + d * kL;
    bool ok = limb[kL - 1] > -(int64_t{1} << 40) && limb[kL - 1] < (int64_t{1} << 40);
    for (int j = 0; j + 1 < kL; ++j) ok = ok && limb[j] >= 0 && limb[j] <= 0xffffffffll;
    if (!ok) throw_error(name, ": corrupt sum of feature ", d, " in precompute part file; the file is damaged", fix);
  }
  p.sum = ExactFeatureSum::from_limbs(dim, count, v);
  return p;
}

void write_part(const std::string& path, const PrecomputePart& part) {
  std::vector<int64_t> rows = part_to_rows(part);
  write_npy_i64(path, {part.sum.dim() + 1, kL}, rows.data());
}

PrecomputePart read_part(const std::string& path) {
  NpyArray a = read_npy(path);
  if (a.descr != "<i8" || a.shape.size() != 2 || a.shape[1] != kL || a.shape[0] < 1)
    throw_error(path, ": not a precompute part file (expected an int64 array of shape (D + 1, ", kL,
                ")); pass the files `dice precompute --shard i/n` wrote");
  std::vector<int64_t> v(static_cast<size_t>(a.numel()));
  std::memcpy(v.data(), a.data.data(), v.size() * 8);
  return part_from_rows(std::move(v), path);
}

void write_feature_mean(const std::string& path, const std::vector<double>& mean) {
  write_npy_f64(path, {static_cast<int64_t>(mean.size())}, mean.data());
}

}  // namespace dice
