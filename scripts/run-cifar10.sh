#!/usr/bin/env bash
# The main job: builds the project (installing missing Debian packages) and runs the paper's
# CIFAR-10 evaluation with the paper's DenseNet-101 checkpoint on the CPU: the Energy baseline and
# DICE (p=90) tables. ID = the 1,032 exact CIFAR-10 test images (the official binary format; what
# gives paper-like numbers here); OOD = Textures (dtd), ImageNet images resized as CIFAR inputs,
# Gaussian and uniform noise.
#   scripts/run-cifar10.sh [ASSETS_DIR] [extra dice eval options, e.g. --limit 500 --json out.json]
# Besides the tables it writes cifar10-report.html (ROC curves, score histograms, the run's
# metadata; REPORT=path to put it elsewhere) and says where.
#   ID_SET=jpeg scripts/run-cifar10.sh    the second run: all 10,000 test images, but re-encoded as
#                                         JPEG by a third party (~30.7 dB), which costs ~12 points
#                                         of accuracy and most of the OOD separation
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${1:-../shared/assets}
shift || true
case "${ID_SET:-exact}" in
  exact) ID=data/cifar-10-batches-bin-exact1032/test_batch.bin ;;
  jpeg) ID=data/cifar-10-test-jpeg ;;
  *) echo "run-cifar10: ID_SET is exact (default) or jpeg, not '$ID_SET'" >&2; exit 1 ;;
esac
for f in checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar cache/CIFAR-10_densenet_feat_stat.npy \
         "$ID" datasets/ood_datasets/dtd/images datasets/imagenet-sample; do
  [ -e "$ASSETS/$f" ] || { echo "run-cifar10: $ASSETS/$f is missing; pass the assets folder as the first argument" >&2; exit 1; }
done
scripts/setup.sh >&2
exec "${BUILD_DIR:-build}/dice" eval --model densenet101 \
  --weights "$ASSETS/checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar" \
  --feat-stat "$ASSETS/cache/CIFAR-10_densenet_feat_stat.npy" --p 90 \
  --id "cifar10=$ASSETS/$ID" \
  --ood "dtd=$ASSETS/datasets/ood_datasets/dtd/images" \
  --ood "imagenet-sample=$ASSETS/datasets/imagenet-sample" \
  --ood gaussian:1000 --ood uniform:1000 --report "${REPORT:-cifar10-report.html}" "$@"
