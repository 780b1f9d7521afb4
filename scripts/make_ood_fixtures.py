#!/usr/bin/python3
"""Writes the committed fixtures of tests/ood/ (run offline; the C++ tests never need Python).

  tests/fixtures/ood/percentile.txt  np.percentile (numpy's default 'linear' method) on a few arrays
  tests/fixtures/ood/dice_mask.txt   the DICE contribution threshold and mask, as the reference
                                     computes them (float64 mean * float32 weight, np.percentile)
  tests/fixtures/ood/metrics.txt     FPR95 / AUROC / AUPR-In / AUPR-Out / DTERR on score sets with
                                     many ties, plus AUROC from sklearn.metrics.roc_auc_score

The metrics are a plain numpy transcription of docs/DICE.md ("Metrics"), written the way the
reference writes them (an explicit merge loop, np.trapz), so that the C++ port can be checked to
the last bit; sklearn's roc_auc_score is an independent check of the AUROC.

Format: one record per line, a keyword then whitespace-separated values; '#' starts a comment.
Floats are printed with %.17g (float32 values widened to float64 print exactly), so strtod gives
back the very same doubles. The two large score sets are not stored: both sides generate them
with the 64-bit LCG below (see `lcg_scores`), so that the sums cross numpy's 8192-element
reduction blocks without a megabyte of fixture.

Usage: /usr/bin/python3 scripts/make_ood_fixtures.py   (from the repository root)
"""
import os

import numpy as np
from sklearn.metrics import roc_auc_score

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ood")


def fmt(x):
    return "%.17g" % float(x)


def join(values):
    return " ".join(fmt(v) for v in values)


# ---------------------------------------------------------------- metrics, as the reference has them
def get_curve(known, novel):
    known = np.sort(np.asarray(known, dtype=np.float64))
    novel = np.sort(np.asarray(novel, dtype=np.float64))
    all_ = np.sort(np.concatenate((known, novel)))
    num_k = known.shape[0]
    num_n = novel.shape[0]
    threshold = known[round(0.05 * num_k)]

    tp = -np.ones([num_k + num_n + 1], dtype=int)
    fp = -np.ones([num_k + num_n + 1], dtype=int)
    tp[0], fp[0] = num_k, num_n
    k, n = 0, 0
    for l in range(num_k + num_n):
        if k == num_k:
            tp[l + 1:] = tp[l]
            fp[l + 1:] = np.arange(fp[l] - 1, -1, -1)
            break
        elif n == num_n:
            tp[l + 1:] = np.arange(tp[l] - 1, -1, -1)
            fp[l + 1:] = fp[l]
            break
        else:
            if novel[n] < known[k]:
                n += 1
                tp[l + 1] = tp[l]
                fp[l + 1] = fp[l] - 1
            else:
                k += 1
                tp[l + 1] = tp[l] - 1
                fp[l + 1] = fp[l]
    j = num_k + num_n - 1
    for _ in range(num_k + num_n - 1):
        if all_[j] == all_[j - 1]:
            tp[j] = tp[j + 1]
            fp[j] = fp[j + 1]
        j -= 1
    fpr95 = np.sum(novel > threshold) / float(num_n)
    return tp, fp, fpr95


def cal_metric(known, novel):
    tp, fp, fpr95 = get_curve(known, novel)
    r = {"fpr95": fpr95}
    tpr = np.concatenate([[1.], tp / tp[0], [0.]])
    fpr = np.concatenate([[1.], fp / fp[0], [0.]])
    r["auroc"] = -np.trapz(1. - fpr, tpr)
    r["dterr"] = ((tp[0] - tp + fp) / (tp[0] + fp[0])).min()
    denom = tp + fp
    denom[denom == 0.] = -1.
    pin_ind = np.concatenate([[True], denom > 0., [True]])
    pin = np.concatenate([[.5], tp / denom, [0.]])
    r["aupr_in"] = -np.trapz(pin[pin_ind], tpr[pin_ind])
    denom = tp[0] - tp + fp[0] - fp
    denom[denom == 0.] = -1.
    pout_ind = np.concatenate([[True], denom > 0., [True]])
    pout = np.concatenate([[0.], (fp[0] - fp) / denom, [.5]])
    r["aupr_out"] = np.trapz(pout[pout_ind], 1. - fpr[pout_ind])
    return r


# ------------------------------------------------------------------------- deterministic generator
LCG_MUL = 6364136223846793005
LCG_ADD = 1442695040888963407
MASK64 = (1 << 64) - 1


def lcg_scores(n, seed, bits, scale, offset):
    """n float32 scores offset + scale * u, u = the top `bits` bits of a 64-bit LCG / 2**bits.

    The sum is done in float64 (exact: bits <= 24 and scale, offset small dyadic numbers), then
    rounded once to float32, which C++ reproduces with static_cast<float>."""
    state = seed & MASK64
    out = np.empty(n, dtype=np.float32)
    for i in range(n):
        state = (state * LCG_MUL + LCG_ADD) & MASK64
        u = (state >> (64 - bits)) / float(1 << bits)
        out[i] = np.float32(offset + scale * u)
    return out.astype(np.float64)


def write_metrics():
    rng = np.random.default_rng(20220808)
    cases = []  # (name, id scores, ood scores, gen line or None)

    # Integer scores: ties inside and across ID/OOD. n_k picks the rounding of 0.05 * n_k.
    for name, nk, no, lo_k, hi_k, lo_o, hi_o in [
        ("int_nk20", 20, 25, 0, 8, -3, 5),    # 0.05*20 = 1.0 -> index 1
        ("int_nk50", 50, 40, 0, 10, -2, 7),   # 2.5 -> round half to even = 2
        ("int_nk30", 30, 33, 0, 6, 0, 6),     # 1.5 -> 2
        ("int_nk70", 70, 15, 1, 4, 0, 4),     # 3.5 -> 4
        ("int_nk10", 10, 10, 0, 3, 0, 3),     # 0.5 -> 0
    ]:
        k = rng.integers(lo_k, hi_k + 1, nk).astype(np.float64)
        o = rng.integers(lo_o, hi_o + 1, no).astype(np.float64)
        cases.append((name, k, o, None))
    # Every score equal; ID and OOD identical sets; perfectly separated both ways; one sample each.
    cases.append(("all_equal", np.full(12, 2.5), np.full(9, 2.5), None))
    same = rng.integers(0, 5, 40).astype(np.float64)
    cases.append(("same_sets", same.copy(), rng.permutation(same), None))
    cases.append(("separated", np.arange(10, 30, dtype=np.float64), np.arange(0, 10, dtype=np.float64), None))
    cases.append(("reversed", np.arange(0, 10, dtype=np.float64), np.arange(10, 30, dtype=np.float64), None))
    cases.append(("single", np.array([1.0]), np.array([1.0]), None))
    # float32 energies (as the C++ widens them), continuous, with a few duplicated values.
    k = rng.normal(8.0, 2.0, 300).astype(np.float32).astype(np.float64)
    o = rng.normal(6.0, 2.5, 500).astype(np.float32).astype(np.float64)
    o[:25] = k[:25]
    cases.append(("float32_normal", k, o, None))
    # Large generated sets (> 8192 terms in each trapz): continuous, and 10-bit with heavy ties.
    gens = [("gen_continuous", 10000, 12000, 11, 12, 24, 4.0, 1.0, 4.0, 0.0),
            ("gen_ties", 9000, 9500, 21, 22, 10, 2.0, 0.25, 2.0, 0.0)]
    for name, nk, no, sk, so, bits, sck, ofk, sco, ofo in gens:
        k = lcg_scores(nk, sk, bits, sck, ofk)
        o = lcg_scores(no, so, bits, sco, ofo)
        line = "gen %s %d %d %d %d %d %s %s %s %s" % (name, nk, no, sk, so, bits, fmt(sck), fmt(ofk), fmt(sco), fmt(ofo))
        cases.append((name, k, o, line))

    lines = ["# generated by scripts/make_ood_fixtures.py; see its header for the format",
             "# case NAME | gen NAME NK NO SEED_ID SEED_OOD BITS SCALE_ID OFFSET_ID SCALE_OOD OFFSET_OOD",
             "# id N values... | ood N values... | expect FPR95 AUROC AUPR_IN AUPR_OUT DTERR | sklearn_auroc X"]
    for name, k, o, gen in cases:
        r = cal_metric(k, o)
        labels = np.concatenate([np.ones(len(k)), np.zeros(len(o))])
        sk = roc_auc_score(labels, np.concatenate([k, o])) if len(k) and len(o) else float("nan")
        assert abs(sk - r["auroc"]) < 1e-12, (name, sk, r["auroc"])
        if gen is None:
            lines.append("case " + name)
            lines.append("id %d %s" % (len(k), join(k)))
            lines.append("ood %d %s" % (len(o), join(o)))
        else:
            lines.append(gen)
        lines.append("expect " + join([r["fpr95"], r["auroc"], r["aupr_in"], r["aupr_out"], r["dterr"]]))
        lines.append("sklearn_auroc " + fmt(sk))
    with open(os.path.join(OUT, "metrics.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------- percentile
def write_percentile():
    rng = np.random.default_rng(7)
    arrays = [
        np.array([3.0]),
        np.array([2.0, -1.0]),
        np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
        rng.integers(-3, 4, 17).astype(np.float64),               # ties
        rng.normal(0, 1, 101),
        rng.normal(0, 1e-3, 640) * rng.normal(0, 1, 640),        # contribution-like
        np.array([0.0, -0.0, 0.0, -0.0, 1.0, -1.0]),             # signed zeros
        np.array([1e300, -1e300, 3.0, 7.0]),                     # huge differences
    ]
    ps = [0, 0.5, 5, 10, 12.5, 25, 33.3, 50, 66.6, 70, 90, 95, 99, 99.9, 100]
    lines = ["# generated by scripts/make_ood_fixtures.py: np.percentile(a, p), numpy " + np.__version__,
             "# array N values... | pct P EXPECTED (for the array above)"]
    for a in arrays:
        lines.append("array %d %s" % (len(a), join(a)))
        for p in ps:
            lines.append("pct %s %s" % (fmt(p), fmt(np.percentile(a, p))))
    with open(os.path.join(OUT, "percentile.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


# -------------------------------------------------------------------------------------- DICE mask
def write_dice_mask():
    rng = np.random.default_rng(90)
    cases = []
    # DenseNet-like: float32 weights, non-negative float64 means with dead (exactly 0) features.
    w = rng.normal(0, 0.1, (10, 64)).astype(np.float32)
    m = np.abs(rng.normal(0.5, 0.4, 64))
    m[rng.choice(64, 7, replace=False)] = 0.0
    cases.append(("densenet_like", w, m, [0, 10, 50, 70, 90, 99, 100]))
    # Heavy ties: quarter-integer weights and small integer means.
    w = (rng.integers(-4, 5, (6, 20)) / 4.0).astype(np.float32)
    m = rng.integers(0, 4, 20).astype(np.float64)
    cases.append(("ties", w, m, [0, 25, 37.5, 50, 90, 100]))
    lines = ["# generated by scripts/make_ood_fixtures.py: V = mean[None, :] * weight (float64),",
             "# threshold = np.percentile(V, p), mask = V > threshold",
             "# case NAME C D | weight C*D values | mean D values | p P THRESHOLD KEPT MASK(0/1 chars)"]
    for name, w, m, ps in cases:
        c, d = w.shape
        lines.append("case %s %d %d" % (name, c, d))
        lines.append("weight " + join(w.reshape(-1)))
        lines.append("mean " + join(m))
        contrib = m[None, :] * w
        assert contrib.dtype == np.float64
        for p in ps:
            t = np.percentile(contrib, p)
            mask = contrib > t
            lines.append("p %s %s %d %s" % (fmt(p), fmt(t), int(mask.sum()),
                                            "".join("1" if b else "0" for b in mask.reshape(-1))))
    with open(os.path.join(OUT, "dice_mask.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    write_percentile()
    write_dice_mask()
    write_metrics()
    print("wrote", os.path.normpath(OUT))
