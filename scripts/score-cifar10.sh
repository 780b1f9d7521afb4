#!/usr/bin/env bash
# Issue 14's acceptance run: all 18 post-hoc methods of `dice score` on the paper's CIFAR-10
# DenseNet-101, then a 90-point DICE sweep. The network runs once per data set (`dice features`,
# cached in FEATURES_DIR and reused on later runs); every method is then fitted and scored from
# those files. --train is the JPEG test set, a stand-in (the training set is not in the assets);
# ID = the 1,032 exact CIFAR-10 test images; OOD = Textures (dtd) and ImageNet images.
#   scripts/score-cifar10.sh [ASSETS_DIR] [extra dice score options, e.g. --json out.json]
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=${1:-../shared/assets}
shift || true
FEATURES_DIR=${FEATURES_DIR:-/tmp/dice-features}
CKPT=$ASSETS/checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar
for f in checkpoints/CIFAR-10/densenet/checkpoint_100.pth.tar cache/CIFAR-10_densenet_feat_stat.npy \
         data/cifar-10-test-jpeg data/cifar-10-batches-bin-exact1032/test_batch.bin \
         datasets/ood_datasets/dtd/images datasets/imagenet-sample; do
  [ -e "$ASSETS/$f" ] || { echo "score-cifar10: $ASSETS/$f is missing; pass the assets folder as the first argument" >&2; exit 1; }
done
scripts/setup.sh >&2
DICE=${BUILD_DIR:-build}/dice
mkdir -p "$FEATURES_DIR"
features() {  # NAME DATA: the network's pass over DATA, once
  [ -e "$FEATURES_DIR/$1.logits.npy" ] ||
    "$DICE" features --model densenet101 --weights "$CKPT" --data "$2" --out "$FEATURES_DIR/$1" --quiet
}
features train "$ASSETS/data/cifar-10-test-jpeg"
features id "$ASSETS/data/cifar-10-batches-bin-exact1032/test_batch.bin"
features dtd "$ASSETS/datasets/ood_datasets/dtd/images"
features imagenet-sample "$ASSETS/datasets/imagenet-sample"
common=(--weights "$CKPT" --feat-stat "$ASSETS/cache/CIFAR-10_densenet_feat_stat.npy"
        --id "cifar10-exact1032=$FEATURES_DIR/id" --ood "dtd=$FEATURES_DIR/dtd"
        --ood "imagenet-sample=$FEATURES_DIR/imagenet-sample")
methods=()
for m in msp maxlogit energy gen gradnorm fdbd react dice dice_react ash_p ash_b ash_s scale \
         knn nnguide mahalanobis rmds vim; do
  methods+=(--method "$m")
done
"$DICE" score "${common[@]}" --train "$FEATURES_DIR/train" "${methods[@]}" "$@"
echo
"$DICE" score "${common[@]}" --sweep dice:p=10:99:1
