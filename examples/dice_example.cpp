// A program that uses dice-cuda as an installed library (find_package(dice) or pkg-config dice):
// loads the paper's CIFAR-10 DenseNet checkpoint, computes penultimate features of a CIFAR binary
// batch (ID) and of Gaussian noise images (OOD), builds the DICE mask from the feature mean, and
// prints the ID accuracy and the AUROC of the Energy and DICE scores.
//
//   dice_example CHECKPOINT FEAT_STAT.npy CIFAR_test_batch.bin [N]
//
// CI builds it against the installed tree (scripts/test-install.sh), so the package cannot rot.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include "core/error.h"
#include "data/dataset.h"
#include "data/transforms.h"
#include "formats/npy.h"
#include "nn/model.h"
#include "ood/dice_mask.h"
#include "ood/evaluate.h"
#include "ood/metrics.h"
#include "weights/state_dict.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s CHECKPOINT FEAT_STAT.npy CIFAR_test_batch.bin [N]\n", argv[0]);
    return 2;
  }
  try {
    const int64_t n = argc > 4 ? std::atoll(argv[4]) : 200;
    const dice::StateDict sd = dice::load_weights(argv[1]);
    std::unique_ptr<dice::Model> model = dice::make_model("auto", sd);
    const dice::Preprocess pp = dice::Preprocess::cifar();
    const auto id_data = dice::open_cifar_binary(argv[3], pp);
    const auto ood_data = dice::make_synthetic("gaussian", n, dice::kSyntheticSeed, pp);
    const dice::FeatureSet id = dice::extract_features(*model, *id_data, "cifar10", 64, 2, n, false);
    const dice::FeatureSet ood = dice::extract_features(*model, *ood_data, "gaussian", 64, 2, n, false);

    const std::vector<double> mean = dice::npy_to_double(dice::read_npy(argv[2]), argv[2]);
    const dice::DiceMask dm = dice::dice_mask(model->fc_weight().ptr(), model->num_classes(),
                                              model->feature_dim(), mean.data(), 90.0);
    dice::HeadConfig energy, dice_head;
    energy.label = "Energy";
    dice_head.label = "DICE (p=90)";
    dice_head.mask = dm.mask;
    for (const dice::HeadConfig& h : {energy, dice_head}) {
      const dice::HeadResult a = dice::apply_head(*model, id, h), b = dice::apply_head(*model, ood, h);
      std::printf("%-12s ID accuracy %.2f%%, AUROC vs Gaussian noise %.2f%%\n", h.label.c_str(),
                  100 * dice::accuracy(a, id), 100 * dice::compute_metrics(a.scores, b.scores).auroc);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dice_example: %s\n", e.what());
    return 1;
  }
}
