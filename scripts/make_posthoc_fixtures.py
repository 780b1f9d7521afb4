#!/usr/bin/python3
"""Writes the committed fixtures of the post-hoc OOD methods (tests/ood/methods_test.cpp).

Each method below is a numpy transcription of the formula in its reference file (cited per
function and in docs/methods.md), not the reference code itself: the reference files need torch,
faiss or a GPU, and their float32 arithmetic is replaced by float64 here (the C++ port computes
in double too, and its scores are compared with these sample by sample, 1e-5 relative).

Shared conventions, the same as the C++ side:
  - logits are (features @ W.T + b) accumulated in float64 and rounded to float32 once (what
    `dice features` writes and kernels/head.h computes);
  - a method that changes the feature (ReAct, ASH, SCALE) rounds the changed feature to float32
    before the fc layer, as the reference's float32 tensors do;
  - top-k ties (ASH, SCALE) go to the lower index (a stable sort on -x).

Outputs (tests/fixtures/ood/posthoc/, a few KB):
  train.{features,logits,labels}.npy   the fit set (150 x 12, 5 classes)
  test.{features,logits,labels}.npy    the scored set: 40 ID-like then 30 OOD-like samples
  fc_weight.npy (5 x 12 float32), fc_bias.npy (5), feat_stat.npy (12 float64, DICE's mean)
  scores.txt  one line per method spec: the spec, then its 70 scores (%.17g)
  openood_fpr.txt  sklearn's roc_curve FPR at TPR >= 0.95 (OOD positive) on tie-heavy score sets

Usage: /usr/bin/python3 scripts/make_posthoc_fixtures.py   (from the repository root)
"""
import os

import numpy as np
from sklearn.covariance import EmpiricalCovariance
from sklearn.metrics import roc_curve

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ood",
                   "posthoc")
f32, f64 = np.float32, np.float64


def logits_of(feat, W, b, mask=None):
    Wm = W.astype(f64) if mask is None else W.astype(f64) * mask
    return (feat.astype(f64) @ Wm.T + b.astype(f64)).astype(f32)


def lse(logits, T=1.0):
    x = logits.astype(f64) / T
    m = x.max(axis=1)
    return T * (m + np.log(np.exp(x - m[:, None]).sum(axis=1)))


def softmax(logits):
    x = logits.astype(f64)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# --- logit-based ---------------------------------------------------------------------------------
def msp(ctx, x):  # OpenOOD v1.5 base_postprocessor.py (the base class is MSP): max softmax
    return softmax(ctx.lg(x)).max(axis=1)


def maxlogit(ctx, x):  # OpenOOD v1.5 maxlogit_postprocessor.py
    return ctx.lg(x).astype(f64).max(axis=1)


def energy(ctx, x, T=1.0):  # DICE repo util (energy = T * logsumexp(l / T))
    return lse(ctx.lg(x), T)


def gen(ctx, x, gamma=0.1, M=None):  # GEN (Liu et al. 2023), benchmark.py: generalized_entropy
    M = M or min(100, ctx.C)
    p = np.sort(softmax(ctx.lg(x)), axis=1)[:, -M:]
    return -np.sum(p ** gamma * (1 - p) ** gamma, axis=1)


def gradnorm(ctx, x, T=1.0):
    # gradnorm_ood (Huang et al. 2021), test_ood.py iterate_data_gradnorm: all-ones targets,
    # loss = sum_c -log softmax(l / T)_c; |dL/dW| summed = sum|h| * sum_c |C p_c - 1| / T.
    p = softmax(ctx.lg(x).astype(f64) / T)
    return np.abs(x.astype(f64)).sum(axis=1) * np.abs(ctx.C * p - 1).sum(axis=1) / T


def fdbd(ctx, x):  # OpenOOD v1.5 fdbd_postprocessor.py (distance_as_normalizer=True)
    W = ctx.W.astype(f64)
    lg = ctx.lg(x).astype(f64)
    pred = lg.argmax(axis=1)
    den = np.linalg.norm(W[None, :, :] - W[:, None, :], axis=2)  # den[p, c] = |w_c - w_p|
    np.fill_diagonal(den, 1.0)
    sub = np.abs(lg - lg.max(axis=1, keepdims=True))
    mean = ctx.train.astype(f64).mean(axis=0)
    return (sub / den[pred]).sum(axis=1) / np.linalg.norm(x.astype(f64) - mean, axis=1)


# --- activation shaping ----------------------------------------------------------------------------
def react_clip(ctx, percentile):  # OpenOOD v1.5 react_postprocessor.py: percentile of all entries
    return f32(np.percentile(ctx.train.astype(f64).ravel(), percentile))


def react(ctx, x, percentile=90.0, clip=None):
    c = f32(clip) if clip is not None else react_clip(ctx, percentile)
    return lse(logits_of(np.minimum(x, c), ctx.W, ctx.b))


def dice_mask(ctx, p):  # DICE repo models/route.py RouteDICE.calculate_mask_weight
    contrib = ctx.feat_stat[None, :] * ctx.W.astype(f64)
    return (contrib > np.percentile(contrib, p)).astype(f64)


def dice(ctx, x, p=90.0):
    return lse(logits_of(x, ctx.W, ctx.b, dice_mask(ctx, p)))


def dice_react(ctx, x, p=90.0, percentile=90.0, clip=None):
    c = f32(clip) if clip is not None else react_clip(ctx, percentile)
    return lse(logits_of(np.minimum(x, c), ctx.W, ctx.b, dice_mask(ctx, p)))


def topk_mask(x, percentile):  # ASH repo ash.py: k = n - round(n * p / 100) kept per sample
    n = x.shape[1]
    k = n - int(np.round(n * percentile / 100.0))
    idx = np.argsort(-x, axis=1, kind="stable")[:, :k]
    m = np.zeros_like(x, dtype=bool)
    np.put_along_axis(m, idx, True, axis=1)
    return m, k


def ash_p(ctx, x, percentile=90.0):
    m, _ = topk_mask(x, percentile)
    return lse(logits_of(np.where(m, x, 0).astype(f32), ctx.W, ctx.b))


def ash_b(ctx, x, percentile=90.0):
    m, k = topk_mask(x, percentile)
    s1 = x.astype(f64).sum(axis=1)
    h = np.where(m, (s1 / k)[:, None], 0.0).astype(f32)
    return lse(logits_of(h, ctx.W, ctx.b))


def ash_s(ctx, x, percentile=90.0):
    m, _ = topk_mask(x, percentile)
    x64 = x.astype(f64)
    s1 = x64.sum(axis=1)
    kept = np.where(m, x64, 0.0)
    s2 = kept.sum(axis=1)
    return lse(logits_of((kept * np.exp(s1 / s2)[:, None]).astype(f32), ctx.W, ctx.b))


def scale(ctx, x, percentile=85.0):  # SCALE (Xu et al. 2024), OpenOOD v1.5 scale_postprocessor.py
    m, _ = topk_mask(x, percentile)
    x64 = x.astype(f64)
    s1 = x64.sum(axis=1)
    s2 = np.where(m, x64, 0.0).sum(axis=1)
    return lse(logits_of((x64 * np.exp(s1 / s2)[:, None]).astype(f32), ctx.W, ctx.b))


# --- distance-based --------------------------------------------------------------------------------
def knn(ctx, x, k=50):  # knn-ood (Sun et al. 2022) run_cifar.py: faiss IndexFlatL2, -D[:, -1]
    norm = lambda a: a / (np.linalg.norm(a, axis=1, keepdims=True) + 1e-10)
    bank, q = norm(ctx.train.astype(f64)), norm(x.astype(f64))
    d = ((q[:, None, :] - bank[None, :, :]) ** 2).sum(axis=2)
    return -np.sort(d, axis=1)[:, k - 1]


def nnguide(ctx, x, k=100):
    # OpenOOD v1.5 nnguide_postprocessor.py; its normalizer is x / |x| + 1e-10 (sic: the 1e-10 is
    # added after the division), kept as written. Bank = whole train set (alpha = 1).
    norm = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True) + 1e-10
    guide = norm(ctx.train.astype(f64)) * lse(ctx.lg(ctx.train))[:, None]
    ip = norm(x.astype(f64)) @ guide.T
    top = -np.sort(-ip, axis=1)[:, :k]
    return top.mean(axis=1) * lse(ctx.lg(x))


def class_means(ctx):
    X = ctx.train.astype(f64)
    return np.stack([X[ctx.labels == c].mean(axis=0) for c in range(ctx.C)])


def mahalanobis(ctx, x):
    # ViM repo benchmark.py (Mahalanobis): class means, class-centred features, one
    # EmpiricalCovariance(assume_centered=True), score = -min_c (x - mu_c)^T P (x - mu_c).
    X = ctx.train.astype(f64)
    mu = class_means(ctx)
    centred = X - mu[ctx.labels]
    P = EmpiricalCovariance(assume_centered=True).fit(centred).precision_
    d = np.stack([(((x - m) @ P) * (x - m)).sum(axis=1) for m in mu], axis=1)
    return -d.min(axis=1)


def rmds(ctx, x):  # OpenOOD v1.5 rmds_postprocessor.py (Ren et al. 2021)
    X = ctx.train.astype(f64)
    mu = class_means(ctx)
    P = EmpiricalCovariance(assume_centered=False).fit(X - mu[ctx.labels]).precision_
    whole = X.mean(axis=0)
    Pw = EmpiricalCovariance(assume_centered=False).fit(X - whole).precision_
    xb = x.astype(f64) - whole
    bg = -((xb @ Pw) * xb).sum(axis=1)
    cls = np.stack([-(((x - m) @ P) * (x - m)).sum(axis=1) - bg for m in mu], axis=1)
    return cls.max(axis=1)


def vim(ctx, x, dim=None):  # ViM repo benchmark.py (Wang et al. 2022)
    D = ctx.D
    dim = dim or (1000 if D >= 2048 else 512 if D >= 768 else D // 2)
    W, b = ctx.W.astype(f64), ctx.b.astype(f64)
    u = -np.linalg.pinv(W) @ b
    ec = EmpiricalCovariance(assume_centered=True).fit(ctx.train.astype(f64) - u)
    vals, vecs = np.linalg.eigh(ec.covariance_)  # eig in the reference; same space, real order
    NS = vecs[:, np.argsort(-vals)[dim:]]
    v_train = np.linalg.norm((ctx.train.astype(f64) - u) @ NS, axis=1)
    alpha = ctx.lg(ctx.train).astype(f64).max(axis=1).mean() / v_train.mean()
    v = np.linalg.norm((x.astype(f64) - u) @ NS, axis=1) * alpha
    return -v + lse(ctx.lg(x))


class Ctx:
    def __init__(self, W, b, train, labels, feat_stat):
        self.W, self.b, self.train, self.labels, self.feat_stat = W, b, train, labels, feat_stat
        self.C, self.D = W.shape

    def lg(self, x):
        return logits_of(x, self.W, self.b)


SPECS = [
    ("msp", msp, {}), ("maxlogit", maxlogit, {}), ("energy", energy, {}),
    ("energy:T=2", energy, {"T": 2.0}),
    ("gen", gen, {}), ("gen:gamma=0.5,M=3", gen, {"gamma": 0.5, "M": 3}),
    ("react", react, {}), ("react:percentile=60", react, {"percentile": 60.0}),
    ("react:clip=0.8", react, {"clip": 0.8}),
    ("dice", dice, {}), ("dice:p=75", dice, {"p": 75.0}),
    ("dice_react", dice_react, {}), ("dice_react:p=30,clip=1.1", dice_react, {"p": 30.0, "clip": 1.1}),
    ("ash_p", ash_p, {}), ("ash_b", ash_b, {}), ("ash_s", ash_s, {}),
    ("ash_p:percentile=65", ash_p, {"percentile": 65.0}),
    ("ash_b:percentile=65", ash_b, {"percentile": 65.0}),
    ("ash_s:percentile=65", ash_s, {"percentile": 65.0}),
    ("scale", scale, {}), ("scale:percentile=50", scale, {"percentile": 50.0}),
    ("gradnorm", gradnorm, {}),
    ("knn", knn, {}), ("knn:k=5", knn, {"k": 5}),
    ("mahalanobis", mahalanobis, {}), ("rmds", rmds, {}),
    ("vim", vim, {}), ("vim:dim=3", vim, {"dim": 3}),
    ("fdbd", fdbd, {}),
    ("nnguide", nnguide, {}), ("nnguide:k=10", nnguide, {"k": 10}),
]


def fixtures():
    rng = np.random.default_rng(14)
    C, D, per_class = 5, 12, 30
    centers = rng.gamma(2.0, 0.6, (C, D))
    labels = np.repeat(np.arange(C), per_class)
    train = np.maximum(centers[labels] + 0.5 * rng.standard_normal((C * per_class, D)), 0)
    id_labels = rng.integers(0, C, 40)
    test_id = np.maximum(centers[id_labels] + 0.5 * rng.standard_normal((40, D)), 0)
    test_ood = np.maximum(rng.normal(0.9, 0.9, (30, D)), 0)
    W = (centers - centers.mean(axis=0)) + 0.3 * rng.standard_normal((C, D))
    b = 0.1 * rng.standard_normal(C)
    train, W, b = train.astype(f32), W.astype(f32), b.astype(f32)
    test = np.concatenate([test_id, test_ood]).astype(f32)
    test_labels = np.concatenate([id_labels, -np.ones(30, dtype=np.int64)]).astype(np.int64)
    feat_stat = train.astype(f64).mean(axis=0) * (1 + 0.05 * rng.standard_normal(D))
    return W, b, train, labels.astype(np.int64), test, test_labels, feat_stat


def openood_fpr_cases(rng):
    """Tie-heavy score sets; sklearn's roc_curve (drop_intermediate=True, OpenOOD's call)."""
    sets = [(np.arange(20.0), np.arange(20.0)),          # a diagonal: drop_intermediate matters
            (np.arange(40.0), np.arange(20.0) - 1.5)]
    for case in range(8):
        nk, nn = int(rng.integers(5, 80)), int(rng.integers(5, 80))
        levels = [3, 5, 20, 1000, 2, 4, 8, 50][case]
        known = rng.integers(0, levels, nk).astype(f64)
        novel = rng.integers(0, levels, nn).astype(f64) - [0, 1, 6, 300, 0, 2, 3, 10][case]
        sets.append((known, novel))
    out = []
    for known, novel in sets:
        conf = np.concatenate([known, novel])
        ood = np.concatenate([np.zeros(len(known)), np.ones(len(novel))])
        fpr, tpr, _ = roc_curve(ood, -conf)
        out.append((known, novel, fpr[np.argmax(tpr >= 0.95)]))
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    W, b, train, labels, test, test_labels, feat_stat = fixtures()
    ctx = Ctx(W, b, train, labels, feat_stat)
    save = lambda name, a: np.save(os.path.join(OUT, name), a)
    save("train.features.npy", train)
    save("train.logits.npy", ctx.lg(train))
    save("train.labels.npy", labels)
    save("test.features.npy", test)
    save("test.logits.npy", ctx.lg(test))
    save("test.labels.npy", test_labels)
    save("fc_weight.npy", W)
    save("fc_bias.npy", b)
    save("feat_stat.npy", feat_stat)
    with open(os.path.join(OUT, "scores.txt"), "w") as f:
        f.write("# spec, then the scores of test.features.npy; "
                "written by scripts/make_posthoc_fixtures.py\n")
        for spec, fn, kw in SPECS:
            s = fn(ctx, test, **kw)
            f.write(spec + " " + " ".join("%.17g" % v for v in s) + "\n")
    with open(os.path.join(OUT, "openood_fpr.txt"), "w") as f:
        f.write("# known <ID scores>; novel <OOD scores>; fpr <sklearn roc_curve FPR at TPR>=0.95>\n")
        for known, novel, fpr in openood_fpr_cases(np.random.default_rng(95)):
            f.write("known " + " ".join("%.17g" % v for v in known) + "\n")
            f.write("novel " + " ".join("%.17g" % v for v in novel) + "\n")
            f.write("fpr %.17g\n" % fpr)


if __name__ == "__main__":
    main()
