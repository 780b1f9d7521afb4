// The training-set mean of the penultimate feature that DICE needs (the reference ships it as
// cache/*_feat_stat.npy: float64, shape (D,)), computed on one machine or split across many.
//
// A shard i/n processes the contiguous slice [i*N/n, (i+1)*N/n) of the N samples and keeps, per
// feature dimension, the EXACT sum of its float32 features: each float32 is an integer multiple
// of 2^-149, so the sum is kept as a wide fixed-point integer (ExactFeatureSum) and no rounding
// happens until the end. Addition of exact sums is associative, so merging shards in any grouping
// gives the same integer as one pass over the whole set, and the mean written by
// `--merge` is bit-identical to the unsharded one for every n (the unsharded run is itself shard
// 0/1 going through the same merge). Only the final conversion rounds: sum -> double (within 2
// ulp, deterministic), then / count. ImageNet's 1.28 M x 2048 features cost ~2.6 G integer adds,
// noise next to the network; features are streamed batch by batch, never all held in memory.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "nn/model.h"

namespace dice {

// Exact per-dimension sums of float32 rows. Value of dimension d:
//   sum_d = sum_j limb(d, j) * 2^(32 j - 149),  j = 0 .. kLimbs-1
// where, once normalized, limbs 0..kLimbs-2 lie in [0, 2^32) and the top limb is signed.
class ExactFeatureSum {
 public:
  static constexpr int kLimbs = 10;  // 320 bits: float32 spans 277 bits above 2^-149, +43 of headroom

  ExactFeatureSum() = default;
  explicit ExactFeatureSum(int64_t dim);
  int64_t dim() const { return dim_; }
  int64_t count() const { return count_; }
  // Adds `rows` rows of dim floats. Returns the index of the first row holding a NaN or infinity
  // (nothing of that row or after it is added), or -1 when all were added.
  int64_t add(const float* rows_data, int64_t rows);
  void merge(const ExactFeatureSum& other);  // same dim
  // Exact sums rounded to double (deterministic: a function of the exact value only).
  std::vector<double> sums() const;
  std::vector<double> mean() const;  // sums / count; count must be > 0

  // Normalized limbs, [dim][kLimbs], and rebuilding from them (for part files).
  std::vector<int64_t> limbs() const;
  static ExactFeatureSum from_limbs(int64_t dim, int64_t count, const std::vector<int64_t>& limbs);

 private:
  void normalize();
  int64_t dim_ = 0, count_ = 0;
  int64_t pending_ = 0;  // adds since the last normalize (each moves a limb by < 2^32)
  std::vector<int64_t> limbs_;
};

// "i/n" with 0 <= i < n.
struct ShardSpec {
  int64_t index = 0, count = 1;
  int64_t begin(int64_t n) const { return index * n / count; }
  int64_t end(int64_t n) const { return (index + 1) * n / count; }
};
ShardSpec parse_shard(const std::string& text);  // throws dice::Error naming the option

// What one shard produced, and where it sits in the whole.
struct PrecomputePart {
  ExactFeatureSum sum;
  ShardSpec shard;
  int64_t total = 0;        // N of the whole data set
  int64_t begin = 0, end = 0;
  int64_t fingerprint = 0;  // of the model's fc layer, so parts of different models do not merge
};

// A hash of the model's fc weight and bias (FNV-1a over their bytes), stored in part files.
int64_t model_fingerprint(const Model& model);

// Runs the model over this shard's slice of the data set. With skip_bad, samples that fail to
// load are warned about and left out of the sum (its count is then below end - begin).
PrecomputePart precompute_part(Model& model, const Dataset& data, const std::string& name,
                               ShardSpec shard, int64_t batch, int loader_threads, bool progress,
                               bool skip_bad = false);
// Checks that the parts are shards 0..n-1 of one n, of one data set and one model, each once,
// covering [0, N) contiguously; then adds them in shard order. `names` label the parts in errors.
ExactFeatureSum merge_parts(const std::vector<PrecomputePart>& parts, const std::vector<std::string>& names);
// The unsharded computation: shard 0/1 through merge_parts. Returns the (D,) mean.
std::vector<double> precompute_mean(Model& model, const Dataset& data, const std::string& name,
                                    int64_t batch, int loader_threads, bool progress,
                                    bool skip_bad = false, int64_t* used = nullptr);

// Part files: one int64 .npy of shape (D + 1, kLimbs) (C order, written atomically):
//   rows 0..D-1: the normalized limbs of each dimension's exact sum (see ExactFeatureSum);
//   row D:       [magic, version, count, shard index, shard count, N, begin, end, D, fingerprint]
//                magic = the 8 ASCII bytes "DICESUM1" read as a little-endian int64; version = 1.
void write_part(const std::string& path, const PrecomputePart& part);
PrecomputePart read_part(const std::string& path);
// The same rows in memory (the MPI path sends them between ranks); `name` labels errors.
std::vector<int64_t> part_to_rows(const PrecomputePart& part);
PrecomputePart part_from_rows(std::vector<int64_t> rows, const std::string& name);

// MPI (built with -DDICE_HAVE_MPI; otherwise these are single-process stubs). mpi_start calls
// MPI_Init only when the process was launched by mpirun/mpiexec (OMPI_/PMI_/PMIX_ variables set),
// so a plain `dice precompute` of an MPI build never touches MPI. Under `mpirun -n K`, rank r
// computes shard r/K and mpi_gather_merge sends every part to rank 0, which merges them exactly as
// `--merge` does (rank 0 returns the total; other ranks an empty sum).
struct MpiWorld {
  int rank = 0, size = 1;
  bool active = false;  // MPI_Init was called
};
MpiWorld mpi_start(int* argc, char*** argv);
void mpi_stop(const MpiWorld& world);                    // MPI_Finalize if active
[[noreturn]] void mpi_abort(const MpiWorld& world, int code);  // MPI_Abort if active, else exit
ExactFeatureSum mpi_gather_merge(const MpiWorld& world, const PrecomputePart& mine);
// The statistics file: float64 .npy of shape (D,), as the reference's cache/*_feat_stat.npy.
void write_feature_mean(const std::string& path, const std::vector<double>& mean);

}  // namespace dice
