#!/usr/bin/python3
"""Writes the small torch checkpoints that tests/weights reads, plus the values they must give.

Run offline with a Python that has torch (Debian's python3-torch): the C++ tests never need
Python. Output: tests/fixtures/weights/*.pt and expected.json ({key: {"shape", "values"}}, values
as float32 widened to double, so the comparison in C++ is exact).

What the files exercise:
  zip_basic.pt / legacy_basic.pt  every storage type the loader converts (f32, f16, bf16, f64,
                                  i64, i32), non-contiguous views (transpose, strided slice), a
                                  slice with a storage offset, two tensors sharing one storage,
                                  a 0-d and an empty tensor
  zip_proto4.pt                   the same dict pickled with protocol 4 (STACK_GLOBAL, MEMOIZE, FRAME)
  zip_wrapped_dp.pt / legacy_wrapped_dp.pt
                                  {'epoch': 7, 'best_prec1': numpy float64, 'arch': str,
                                   'state_dict': <'module.'-prefixed dict, as nn.DataParallel saves>}
  zip_model_wrapper.pt            {'model': dict}
  legacy_with_optimizer.pt        {'state_dict', 'optimizer'}: storages outside the state dict are skipped
  zip_params.pt                   a dict of nn.Parameter (torch._utils._rebuild_parameter)

It also writes tests/fixtures/formats/ (read by tests/formats), in the real formats as Python's
own writers produce them:
  deflated.zip   two deflated members and an archive comment (zipfile, ZIP_DEFLATED)
  zip64.zip      one stored member with zip64 extra fields (zipfile force_zip64)
  *.npy          numpy.save / format.write_array: versions 1, 2 and 3, several dtypes, and two
                 arrays the reader must refuse (Fortran order, big-endian)
  python.safetensors  written by a literal transcription of the reference writer's layout
                 (sorted by dtype size then name, header padded with spaces to 8 bytes)
"""
import collections
import json
import math
import os

import numpy as np
import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
OUT = os.path.join(ROOT, "weights")
FMT = os.path.join(ROOT, "formats")


def basic():
    g = torch.Generator().manual_seed(1234)
    sd = collections.OrderedDict()
    sd["conv.weight"] = torch.randn(4, 3, 3, 3, generator=g)
    sd["fc.bias"] = torch.randn(5, generator=g)
    sd["bn.num_batches_tracked"] = torch.tensor(123, dtype=torch.int64)
    sd["half"] = torch.randn(6, generator=g).half()
    sd["bf16"] = torch.randn(4, generator=g).bfloat16()
    sd["double"] = torch.randn(2, 3, generator=g).double()
    sd["int32"] = torch.arange(-2, 3, dtype=torch.int32)
    sd["transposed"] = torch.randn(3, 4, generator=g).t()
    base = torch.randn(10, generator=g)
    sd["sliced"] = base[3:8]  # storage offset 3 into a 10-element storage
    sd["strided"] = torch.randn(4, 6, generator=g)[1:, ::2]  # offset and stride 2
    shared = torch.randn(3, 2, generator=g)
    sd["shared.a"] = shared
    sd["shared.b"] = shared[1]  # same storage as shared.a
    sd["scalar"] = torch.tensor(2.5)
    sd["empty"] = torch.zeros(0, 3)
    sd["subnormal_half"] = torch.tensor([6e-8, -6e-5, 65504.0, float("inf")]).half()
    assert not sd["transposed"].is_contiguous() and not sd["strided"].is_contiguous()
    return sd


def expected(sd):
    out = {}
    for k, v in sd.items():
        f = v.detach().to(torch.float32).contiguous()
        # JSON has no inf/nan: those are written as the strings "inf", "-inf", "nan".
        vals = [x if math.isfinite(x) else str(x) for x in f.reshape(-1).tolist()]
        out[k] = {"shape": list(f.shape), "values": vals}
    return out


def formats_fixtures():
    import struct
    import zipfile
    os.makedirs(FMT, exist_ok=True)
    text = ("hello zip " * 50).encode()
    with zipfile.ZipFile(os.path.join(FMT, "deflated.zip"), "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/hello.txt", text)
        z.writestr("b/bin", bytes(range(256)) * 4)
        z.comment = b"archive comment"
    with zipfile.ZipFile(os.path.join(FMT, "zip64.zip"), "w", zipfile.ZIP_STORED) as z:
        with z.open("big.bin", "w", force_zip64=True) as f:
            f.write(b"zip64 payload")
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 4
    np.save(os.path.join(FMT, "f4_v1.npy"), a)
    for ver in [(2, 0), (3, 0)]:
        with open(os.path.join(FMT, "f8_v%d.npy" % ver[0]), "wb") as f:
            np.lib.format.write_array(f, np.linspace(-1, 1, 5), version=ver)
    np.save(os.path.join(FMT, "u1.npy"), np.array([0, 7, 255], dtype=np.uint8))
    np.save(os.path.join(FMT, "i8.npy"), np.array([[-3], [2**40]], dtype=np.int64))
    np.save(os.path.join(FMT, "i4.npy"), np.array([-1, 5], dtype=np.int32))
    np.save(os.path.join(FMT, "scalar.npy"), np.float64(3.5))
    np.save(os.path.join(FMT, "fortran.npy"), np.asfortranarray(a))
    np.save(os.path.join(FMT, "big_endian.npy"), a.astype(">f4"))
    tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "h": np.array([1.5, -2], dtype=np.float16),
               "n": np.array(9, dtype=np.int64)}
    order = sorted(tensors, key=lambda k: (-tensors[k].dtype.itemsize, k))
    names = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16", np.dtype(np.int64): "I64"}
    header, off, blob = {"__metadata__": {"format": "pt"}}, 0, b""
    for k in order:
        b = tensors[k].tobytes()
        header[k] = {"dtype": names[tensors[k].dtype], "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blob += b
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(FMT, "python.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + blob)


def main():
    formats_fixtures()
    os.makedirs(OUT, exist_ok=True)
    sd = basic()
    torch.save(sd, os.path.join(OUT, "zip_basic.pt"))
    torch.save(sd, os.path.join(OUT, "legacy_basic.pt"), _use_new_zipfile_serialization=False)
    torch.save(sd, os.path.join(OUT, "zip_proto4.pt"), pickle_protocol=4)

    small = collections.OrderedDict((k, sd[k]) for k in ["conv.weight", "fc.bias", "transposed", "half"])
    dp = collections.OrderedDict(("module." + k, v) for k, v in small.items())
    wrapped = {"epoch": 7, "best_prec1": np.float64(93.25), "arch": "densenet", "state_dict": dp}
    torch.save(wrapped, os.path.join(OUT, "zip_wrapped_dp.pt"))
    torch.save(wrapped, os.path.join(OUT, "legacy_wrapped_dp.pt"), _use_new_zipfile_serialization=False)
    opt = {"state": {0: {"momentum_buffer": torch.ones(3, dtype=torch.float64)}}, "param_groups": [{"lr": 0.1}]}
    torch.save({"state_dict": small, "optimizer": opt}, os.path.join(OUT, "legacy_with_optimizer.pt"),
               _use_new_zipfile_serialization=False)
    torch.save({"model": small}, os.path.join(OUT, "zip_model_wrapper.pt"))
    params = collections.OrderedDict((k, torch.nn.Parameter(v.float())) for k, v in small.items())
    torch.save(params, os.path.join(OUT, "zip_params.pt"))

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected(sd), f, indent=0, allow_nan=False)
        f.write("\n")
    for d in [OUT, FMT]:
        total = sum(os.path.getsize(os.path.join(d, n)) for n in os.listdir(d))
        print(f"wrote {len(os.listdir(d))} files, {total} bytes, to {os.path.normpath(d)}")


if __name__ == "__main__":
    main()
