#!/usr/bin/env python3
"""How the softmax denominator of BF16 tiles should be summed: from the probabilities before or after their
rounding to bfloat16 (docs/kernels.md, "BF16 attention tiles"). Random tiles of 512 keys, scores N(0, 2) with
an optional attention sink (key 0 raised by 6 or 12), values N(0.5, 1) kept exact so that only the probabilities'
rounding is measured. Prints the mean and worst error of the output relative to its largest entry, against the
Double softmax, for (a) the unrounded sum and (b) the rounded sum. Needs numpy.
"""
import numpy as np


def bf16(x):
    bits = np.asarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16).astype(np.uint32)).view(np.float32)


rng = np.random.default_rng(1)
for sink in [0, 6, 12]:
    errors = {"unrounded sum": [], "rounded sum": []}
    for _ in range(300):
        s = rng.normal(0, 2, size=512).astype(np.float32)
        s[0] += sink
        v = rng.normal(0, 1, size=(512, 64)) + 0.5
        p = np.exp(s.astype(np.float64) - s.max())
        reference = (p[:, None] * v).sum(0) / p.sum()
        rounded = bf16(np.exp(s - s.max())).astype(np.float64)
        numerator = (rounded[:, None] * v).sum(0)
        scale = np.abs(reference).max()
        errors["unrounded sum"].append(np.abs(numerator / p.sum() - reference).max() / scale)
        errors["rounded sum"].append(np.abs(numerator / rounded.sum() - reference).max() / scale)
    print(f"sink {sink:2d}: " + "; ".join(f"{k}: mean {np.mean(e):.2e}, worst {np.max(e):.2e}" for k, e in errors.items()))
