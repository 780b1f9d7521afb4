#!/usr/bin/env python3
"""Compares two runs of the CIFAR-10 evaluation that differ only in --precision (bf16-accuracy.sh):
top-1 agreement and accuracy of the two runs' ID logits, how far their features moved, and every
OOD metric of the two `dice eval --json` reports side by side with the change.

  precision_compare.py BASE_PREFIX OTHER_PREFIX BASE.json OTHER.json [BASE_NAME OTHER_NAME]

PREFIX: what `dice features --out PREFIX` wrote (.features.npy, .logits.npy, .labels.npy).
Standard library only (the .npy files are float32 / int64 little-endian, C order, as dice writes
them), so it runs wherever the project's scripts do."""
import ast
import json
import math
import struct
import sys


def load_npy(path):
    """(shape, flat list) of a little-endian float32 or int64 .npy in C order."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        sys.exit(f"precision_compare: {path} is not a .npy file")
    major = data[6]
    hlen_size = 2 if major == 1 else 4
    hlen = int.from_bytes(data[8:8 + hlen_size], "little")
    start = 8 + hlen_size
    header = ast.literal_eval(data[start:start + hlen].decode("latin1"))
    if header["fortran_order"]:
        sys.exit(f"precision_compare: {path}: Fortran order is not supported")
    fmt = {"<f4": "f", "<i8": "q"}.get(header["descr"])
    if fmt is None:
        sys.exit(f"precision_compare: {path}: dtype {header['descr']} (expected <f4 or <i8)")
    shape = header["shape"]
    n = math.prod(shape)
    values = struct.unpack_from(f"<{n}{fmt}", data, start + hlen)
    return shape, values


def rows(shape, values):
    width = math.prod(shape[1:])
    return [values[i * width:(i + 1) * width] for i in range(shape[0])]


def argmax(row):
    best = 0
    for j, v in enumerate(row):
        if v > row[best]:
            best = j
    return best


def main():
    if len(sys.argv) not in (5, 7):
        sys.exit(__doc__)
    base, other, base_json, other_json = sys.argv[1:5]
    names = sys.argv[5:7] if len(sys.argv) == 7 else ["base", "other"]
    ls, lb = load_npy(base + ".logits.npy")
    lo_shape, lo = load_npy(other + ".logits.npy")
    if ls != lo_shape:
        sys.exit(f"precision_compare: logits shapes differ: {ls} vs {lo_shape}")
    _, labels = load_npy(base + ".labels.npy")
    pb = [argmax(r) for r in rows(ls, lb)]
    po = [argmax(r) for r in rows(lo_shape, lo)]
    n = len(pb)
    agree = sum(a == b for a, b in zip(pb, po))
    acc_b = sum(a == y for a, y in zip(pb, labels)) / n
    acc_o = sum(a == y for a, y in zip(po, labels)) / n
    fs, fb = load_npy(base + ".features.npy")
    _, fo = load_npy(other + ".features.npy")
    rel = [0.0] * fs[0]
    for i, (rb, ro) in enumerate(zip(rows(fs, fb), rows(fs, fo))):
        norm = math.sqrt(sum(v * v for v in rb)) or 1.0
        rel[i] = math.sqrt(sum((a - b) ** 2 for a, b in zip(rb, ro))) / norm
    logit_dev = max(abs(a - b) for a, b in zip(lb, lo)) / max(abs(v) for v in lb)
    print(f"ID set: {n} images")
    print(f"top-1 agreement {names[1]} vs {names[0]}: {agree}/{n} = {100.0 * agree / n:.2f}%")
    print(f"accuracy: {names[0]} {100.0 * acc_b:.2f}%, {names[1]} {100.0 * acc_o:.2f}%")
    rel.sort()
    print(f"features, relative L2 change per image: median {rel[n // 2]:.2e}, max {rel[-1]:.2e}; "
          f"logits, max abs change / max |logit|: {logit_dev:.2e}")

    with open(base_json) as f:
        jb = json.load(f)
    with open(other_json) as f:
        jo = json.load(f)
    print()
    print(f"{'method':<14} {'OOD set':<17} {'metric':<7} {names[0]:>8} {names[1]:>8} {'change':>8}")
    for rb, ro in ((jb.get("baseline"), jo.get("baseline")), (jb, jo)):
        if rb is None or ro is None:
            continue
        sets = [(s["name"], s, t) for s, t in zip(rb["ood"], ro["ood"])]
        sets.append(("AVG", rb["average"], ro["average"]))
        for name, s, t in sets:
            for metric, label in (("fpr95", "FPR95"), ("auroc", "AUROC"), ("aupr_in", "AUIN")):
                a, b = 100.0 * s[metric], 100.0 * t[metric]
                print(f"{rb['method']:<14} {name:<17} {label:<7} {a:8.2f} {b:8.2f} {b - a:+8.2f}")
        a, b = 100.0 * rb["id"]["accuracy"], 100.0 * ro["id"]["accuracy"]
        print(f"{rb['method']:<14} {'(ID accuracy)':<17} {'acc':<7} {a:8.2f} {b:8.2f} {b - a:+8.2f}")


if __name__ == "__main__":
    main()
