// `dice precompute`: the training-set mean of the penultimate feature, the statistics file DICE
// reads (float64 (D,) .npy, like the reference's cache/*_feat_stat.npy). With --shard i/n it
// processes one contiguous slice and writes a part file of exact sums; --merge adds the parts and
// writes the mean, bit-identical to an unsharded run (see ood/precompute.h). Under mpirun (MPI
// builds) the ranks are the shards and rank 0 writes the result. This file only parses.
#include <cstdio>
#include <unistd.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/common.h"
#include "core/echo.h"
#include "core/error.h"
#include "core/file_io.h"
#include "core/parallel.h"
#include "ood/precompute.h"

namespace dice::cli {

namespace {

int run(int argc, char** argv, const MpiWorld& world) {
  const char* usage =
      "usage: dice precompute --model M --weights CKPT --data SPEC --out STATS.npy\n"
      "                       [--shard i/n] [--batch N] [--threads N] [--quiet]\n"
      "                       [--labels FILE] [--skip-bad] [--decoder stb|turbo] [--max-image-pixels N]\n"
      "       dice precompute --merge PART.npy [PART.npy ...] --out STATS.npy\n"
      "writes the mean penultimate feature of the data set as a float64 (D,) .npy (the\n"
      "--feat-stat file of dice eval). With --shard i/n only samples [i*N/n, (i+1)*N/n) are\n"
      "processed and --out is a part file; --merge combines all n parts into the statistics,\n"
      "identical to the unsharded result. Under `mpirun -n K` (MPI builds) rank r computes\n"
      "shard r/K and rank 0 writes the merged statistics; give each rank --threads.";
  Args args(argc, argv, 2, with_data_options({"model", "weights", "data", "out", "shard", "batch", "threads", "merge..."}),
            {"help", "quiet", "skip-bad"}, usage);
  if (args.has("help")) {
    std::puts(usage);
    return 0;
  }
  const std::string out = args.require("out");
  {
    std::vector<std::string> files{args.get("weights"), args.get("labels")};
    for (const std::string& p : args.all("merge")) files.push_back(p);
    for (const std::string& p : args.positional()) files.push_back(p);
    note_inputs(files, {args.get("data")});
  }
  check_output(out);

  if (world.size > 1 && (args.has("merge") || args.has("shard")))
    args.usage_error("under mpirun the ranks are the shards: drop --shard and --merge");
  if (args.has("merge")) {
    if (args.has("weights") || args.has("data") || args.has("shard"))
      args.usage_error("--merge takes only part files and --out");
    std::vector<std::string> names = args.all("merge");
    for (const std::string& p : args.positional()) names.push_back(p);
    std::vector<PrecomputePart> parts;
    for (const std::string& p : names) parts.push_back(read_part(p));
    ExactFeatureSum total = merge_parts(parts, names);
    write_feature_mean(out, total.mean());
    std::printf("wrote %s (mean of %lld samples, %lld features, from %zu parts)\n", out.c_str(),
                static_cast<long long>(total.count()), static_cast<long long>(total.dim()), parts.size());
    return 0;
  }
  if (!args.positional().empty())
    args.usage_error("unexpected argument '", echo(args.positional()[0]), "'");
  const std::string weights = args.require("weights"), spec = args.require("data");
  const int64_t batch = args.get_int("batch", 64, 1, 1 << 16);
  const DataOptions data_opts =
      data_options(args);
  const bool skip_bad = data_opts.skip_bad;
  set_num_threads(static_cast<int>(args.get_int("threads", 0, 0, 1024)));
  const bool progress = !args.has("quiet") && ::isatty(2) && world.rank == 0;

  LoadedModel lm = load_model(args.get("model", "auto"), weights);
  DatasetOptions dataset_opts = data_opts.dataset;
  dataset_opts.num_classes = lm.model->num_classes();
  auto data = open_data(spec, preprocess_for(*lm.model), dataset_opts);
  const std::string name = split_named_spec(spec).first;
  if (args.has("shard")) {
    const ShardSpec shard = parse_shard(args.get("shard"));
    PrecomputePart part = precompute_part(*lm.model, *data, name, shard, batch, num_threads(), progress, skip_bad);
    write_part(out, part);
    std::printf("wrote %s (shard %lld/%lld: samples [%lld, %lld) of %lld)\n", out.c_str(),
                static_cast<long long>(shard.index), static_cast<long long>(shard.count),
                static_cast<long long>(part.begin), static_cast<long long>(part.end),
                static_cast<long long>(part.total));
    print_skipped({{name, part.end - part.begin - part.sum.count()}});
    return 0;
  }
  if (world.size > 1) {
    const ShardSpec shard{world.rank, world.size};
    PrecomputePart part = precompute_part(*lm.model, *data, name, shard, batch, num_threads(), progress, skip_bad);
    ExactFeatureSum total = mpi_gather_merge(world, part);
    if (world.rank != 0) return 0;
    if (total.count() == 0) throw_error(spec, ": the data set has no samples; nothing to average");
    write_feature_mean(out, total.mean());
    std::printf("wrote %s (mean of %lld samples, %lld features, %d MPI ranks)\n", out.c_str(),
                static_cast<long long>(total.count()), static_cast<long long>(total.dim()), world.size);
    return 0;
  }
  int64_t used = 0;
  std::vector<double> mean =
      precompute_mean(*lm.model, *data, name, batch, num_threads(), progress, skip_bad, &used);
  write_feature_mean(out, mean);
  std::printf("wrote %s (mean of %lld samples, %zu features)\n", out.c_str(),
              static_cast<long long>(used), mean.size());
  print_skipped({{name, data->size() - used}});
  return 0;
}

}  // namespace

int cmd_precompute(int argc, char** argv) {
  const MpiWorld world = mpi_start(&argc, &argv);
  if (!world.active) return run(argc, argv, world);
  // Under mpirun an error on one rank would leave the others waiting in a collective forever:
  // report it with the rank and abort the whole job.
  try {
    const int rc = run(argc, argv, world);
    mpi_stop(world);
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dice precompute (rank %d of %d): error: %s\n", world.rank, world.size, e.what());
    mpi_abort(world, 1);
  }
}

}  // namespace dice::cli
