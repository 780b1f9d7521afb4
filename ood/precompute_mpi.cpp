// The MPI path of `dice precompute` (see precompute.h): `mpirun -n K dice precompute ...` runs
// shard rank/K on every rank and gathers the exact part sums on rank 0, so the result is the same
// bits as the unsharded run and as --merge of K part files. Parts travel as the int64 rows of the
// part-file layout (part_to_rows), so the MPI path and the file path share one validation.
// Without DICE_HAVE_MPI the functions are single-process stubs and no MPI header is needed.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "ood/precompute.h"

#ifdef DICE_HAVE_MPI
#include <mpi.h>
#endif

namespace dice {

#ifdef DICE_HAVE_MPI

namespace {
bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return true;
  return false;
}
}  // namespace

MpiWorld mpi_start(int* argc, char*** argv) {
  MpiWorld w;
  if (!launched_by_mpirun()) return w;
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited && MPI_Init(argc, argv) != MPI_SUCCESS) throw_error("MPI_Init failed; run without mpirun");
  w.active = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  return w;
}

void mpi_stop(const MpiWorld& world) {
  if (world.active) MPI_Finalize();
}

void mpi_abort(const MpiWorld& world, int code) {
  if (world.active) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

ExactFeatureSum mpi_gather_merge(const MpiWorld& world, const PrecomputePart& mine) {
  std::vector<int64_t> rows = part_to_rows(mine);
  if (!world.active || world.size == 1) return merge_parts({mine}, {"rank 0"});
  // Every rank loaded the same model, but check: MPI_Gather needs equal counts everywhere.
  long long n = static_cast<long long>(rows.size()), lo = 0, hi = 0;
  MPI_Allreduce(&n, &lo, 1, MPI_LONG_LONG, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(&n, &hi, 1, MPI_LONG_LONG, MPI_MAX, MPI_COMM_WORLD);
  if (lo != hi || n > static_cast<long long>(INT32_MAX))
    throw_error("mpirun: ranks computed features of different widths; give every rank the same --model and --weights");
  std::vector<int64_t> all;
  if (world.rank == 0) all.resize(rows.size() * static_cast<size_t>(world.size));
  MPI_Gather(rows.data(), static_cast<int>(n), MPI_INT64_T, all.data(), static_cast<int>(n), MPI_INT64_T, 0,
             MPI_COMM_WORLD);
  if (world.rank != 0) return ExactFeatureSum(mine.sum.dim());
  std::vector<PrecomputePart> parts;
  std::vector<std::string> names;
  for (int r = 0; r < world.size; ++r) {
    names.push_back("rank " + std::to_string(r));
    parts.push_back(part_from_rows(std::vector<int64_t>(all.begin() + r * n, all.begin() + (r + 1) * n), names.back()));
  }
  return merge_parts(parts, names);
}

#else  // no MPI: one process is the whole world

MpiWorld mpi_start(int*, char***) { return MpiWorld{}; }
void mpi_stop(const MpiWorld&) {}
void mpi_abort(const MpiWorld&, int code) { std::exit(code); }
ExactFeatureSum mpi_gather_merge(const MpiWorld&, const PrecomputePart& mine) {
  return merge_parts({mine}, {"rank 0"});
}

#endif

}  // namespace dice
