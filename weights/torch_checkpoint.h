// Reading PyTorch checkpoints without PyTorch: both torch.save formats.
//   * zip format (torch >= 1.6 default): "<top>/data.pkl" pickles the object; each storage is a
//     member "<top>/data/<key>" of raw little-endian bytes; "<top>/byteorder" may say "big".
//   * legacy format (torch < 1.6, e.g. torchvision's resnet50-19c8e357.pth): five pickles in a row
//     (magic number, protocol version, sys info, the object, the list of storage keys), then
//     per storage key: u64 LE element count and the raw element bytes.
// In both, tensors are pickled as calls of torch._utils._rebuild_tensor_v2(storage, offset, size,
// stride, ...) whose storage is a persistent id ('storage', torch.XStorage, key, location, numel).
// Only that vocabulary (plus OrderedDict and numpy scalars) is allowed: anything else, for example
// os.system, is refused, and nothing in the file is ever executed.
//
// Result: a StateDict of float32 tensors. Views honour storage offset and strides (gathered into
// contiguous tensors); fp16/bf16/fp64 and integer tensors (e.g. BatchNorm's num_batches_tracked) are
// converted to float32 (integers are exact up to 2^24). Wrappers {'state_dict': ...}, {'model': ...}
// are unwrapped, a 'module.' prefix on every key (nn.DataParallel) is stripped, and scalar entries of
// a wrapper (e.g. 'epoch') become metadata.
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "weights/state_dict.h"

namespace dice {

StateDict load_torch_checkpoint(const std::string& path);
// The same from bytes already in memory; `path` names the file in errors.
StateDict load_torch_checkpoint(std::vector<uint8_t> bytes, const std::string& path);

// The "module.name" globals a checkpoint pickle may name (torch's tensor/storage rebuild
// functions, OrderedDict, numpy scalars); every other global is refused. Exposed for the fuzzer.
const std::set<std::string>& torch_allowed_globals();

}  // namespace dice
