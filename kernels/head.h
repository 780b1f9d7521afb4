// The classifier head, as one op: optional ReAct clip of the feature, the (optionally DICE-masked)
// fc layer, and the per-sample quantities the OOD scores need.
//   h'        = min(h, clip)                      (clip = +inf disables ReAct)
//   logits    = (W * M) h' + b                    (mask M: uint8 [classes][features], null = all 1)
//   energy    = logsumexp(logits)                 (max-subtracted, accumulated in double)
//   msp       = max softmax(logits) = 1 / sum(exp(logits - max))
//   argmax    = first index of the largest logit
// Any output pointer may be null. Shapes: features [batch][in_features], W [classes][in_features].
#pragma once
#include <cstdint>
#include <limits>

namespace dice {

struct HeadParams {
  int64_t batch = 0, in_features = 0, classes = 0;
  float clip = std::numeric_limits<float>::infinity();
};

struct HeadOutputs {
  float* logits = nullptr;   // [batch][classes]
  float* energy = nullptr;   // [batch]
  float* msp = nullptr;      // [batch]
  int32_t* argmax = nullptr; // [batch]
};

void head_cpu(const HeadParams& p, const float* features, const float* weight, const float* bias,
              const uint8_t* mask, const HeadOutputs& out);

// Building blocks, also used on their own: row-wise logsumexp and softmax over [batch][classes].
void logsumexp_cpu(int64_t batch, int64_t classes, const float* logits, float* out);
void softmax_cpu(int64_t batch, int64_t classes, const float* logits, float* out);

}  // namespace dice
