#!/usr/bin/env bash
# The main job: builds the project (installing missing Debian packages) and runs the paper's
# CIFAR-10 evaluation with the paper's DenseNet-101 checkpoint on the CPU: the Energy baseline and
# DICE (p=90) tables. ID = the 10,000 CIFAR-10 test images; OOD = Textures (dtd), ImageNet
# images resized as CIFAR inputs, Gaussian and uniform noise.
#   scripts/run-cifar10.sh [ASSETS_DIR] [extra dice eval options, e.g. --limit 500 --json out.json]
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${1:-../shared/assets}
shift || true
for f in checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar cache/CIFAR-10_densenet_feat_stat.npy \
         data/cifar-10-test-jpeg datasets/ood_datasets/dtd/images datasets/imagenet-sample; do
  [ -e "$ASSETS/$f" ] || { echo "run-cifar10: $ASSETS/$f is missing; pass the assets folder as the first argument" >&2; exit 1; }
done
scripts/setup.sh >&2
exec "${BUILD_DIR:-build}/dice" eval --model densenet101 \
  --weights "$ASSETS/checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar" \
  --feat-stat "$ASSETS/cache/CIFAR-10_densenet_feat_stat.npy" --p 90 \
  --id "cifar10=$ASSETS/data/cifar-10-test-jpeg" \
  --ood "dtd=$ASSETS/datasets/ood_datasets/dtd/images" \
  --ood "imagenet-sample=$ASSETS/datasets/imagenet-sample" \
  --ood gaussian:1000 --ood uniform:1000 "$@"
