#!/usr/bin/env python3
"""Makes the dequantization fixtures in Tests/Fixtures/quant from the `gguf` PyPI package.

For each GGML type the Swift engine dequantizes, writes
    <TYPE>.bin           raw block bytes, exactly as they sit in a GGUF tensor
    <TYPE>.expected.f32  little-endian float32, gguf.quants.dequantize(raw) (ggml's reference arithmetic)
and a README.md naming this script and the package versions.

Where gguf can quantize a type, the blocks come from quantizing a seeded random array whose per-block magnitude
spans 1e-4..1e2, so the f16 scales vary. Where it cannot (the K-quants), the blocks are seeded random bytes with
the f16 scale fields overwritten by finite halves (random bytes there could be inf or NaN), some of them subnormal.
The float types also carry hand-picked special bit patterns (signed zero, subnormals, inf, quiet and signalling
NaN) appended after the random part.

Usage: python3 scripts/make_quant_fixtures.py [output-dir]   (default: Tests/Fixtures/quant)
"""

from __future__ import annotations

import datetime
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES

SEED = 20240617
BLOCKS_SMALL = 8   # blocks for 32-element types
BLOCKS_K = 4       # blocks for 256-element K-quants
FLOAT_COUNT = 256  # random elements for F32/F16/BF16, before the special values

# (name, type) in the order the fixtures README lists them.
TYPES = [
    ("F32", T.F32), ("F16", T.F16), ("BF16", T.BF16),
    ("Q8_0", T.Q8_0), ("Q4_0", T.Q4_0), ("Q4_1", T.Q4_1), ("Q5_0", T.Q5_0), ("Q5_1", T.Q5_1),
    ("Q4_K", T.Q4_K), ("Q5_K", T.Q5_K), ("Q6_K", T.Q6_K),
]

# Byte offsets of the f16 scale fields inside one block (ggml-common.h block structs).
HALF_FIELDS = {
    T.Q4_K: [0, 2],    # d, dmin
    T.Q5_K: [0, 2],    # d, dmin
    T.Q6_K: [208],     # d (after ql[128], qh[64], scales[16])
}

SPECIAL_F32 = [0x00000000, 0x80000000, 0x00000001, 0x007FFFFF, 0x7F7FFFFF, 0x7F800000, 0xFF800000,
               0x7FC00000, 0x7F800001, 0xFFC12345]
SPECIAL_F16 = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xC000, 0x7BFF, 0xFBFF,
               0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE3F]
SPECIAL_BF16 = [0x0000, 0x8000, 0x0001, 0x3F80, 0xC000, 0x7F7F, 0x7F80, 0xFF80, 0x7FC0, 0x7F81]


def varied_values(rng: np.random.Generator, blocks: int, block_size: int) -> np.ndarray:
    """Normal values with a per-block magnitude between 1e-4 and 1e2, so block scales differ."""
    magnitude = 10.0 ** rng.uniform(-4.0, 2.0, size=(blocks, 1))
    return (rng.standard_normal((blocks, block_size)) * magnitude).astype(np.float32).reshape(-1)


def finite_halves(rng: np.random.Generator, n: int) -> np.ndarray:
    """Finite f16 scales between 1e-6 (subnormal in f16) and 10, both signs."""
    sign = np.where(rng.random(n) < 0.25, -1.0, 1.0)
    return (sign * 10.0 ** rng.uniform(-6.0, 1.0, size=n)).astype(np.float16)


def try_quantize(values: np.ndarray, qtype: T) -> np.ndarray | None:
    try:
        return np.asarray(quants.quantize(values, qtype))
    except NotImplementedError:
        return None


def make_raw(rng: np.random.Generator, qtype: T) -> tuple[np.ndarray, str]:
    """Returns the raw block bytes and how they were made."""
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    if qtype in (T.F32, T.F16, T.BF16):
        values = rng.standard_normal(FLOAT_COUNT).astype(np.float32) * np.float32(10.0) ** rng.uniform(
            -3.0, 3.0, size=FLOAT_COUNT).astype(np.float32)
        quantized = try_quantize(values, qtype)
        assert quantized is not None, f"gguf cannot convert to {qtype.name}"
        special = {T.F32: (SPECIAL_F32, np.uint32), T.F16: (SPECIAL_F16, np.uint16),
                   T.BF16: (SPECIAL_BF16, np.uint16)}[qtype]
        raw = np.concatenate([quantized.view(np.uint8).reshape(-1),
                              np.array(special[0], dtype=special[1]).view(np.uint8)])
        return raw, "gguf.quants.quantize of seeded random values, then special bit patterns"

    blocks = BLOCKS_K if block_size == 256 else BLOCKS_SMALL
    values = varied_values(rng, blocks, block_size)
    quantized = try_quantize(values, qtype)
    if quantized is not None:
        return quantized.view(np.uint8).reshape(-1), "gguf.quants.quantize of seeded random values"

    raw = rng.integers(0, 256, size=(blocks, type_size), dtype=np.uint8)
    for offset in HALF_FIELDS[qtype]:
        raw[:, offset:offset + 2] = finite_halves(rng, blocks).view(np.uint8).reshape(blocks, 2)
    return raw.reshape(-1), "seeded random block bytes with finite f16 scales (gguf cannot quantize it)"


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "Tests/Fixtures/quant"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)

    rows = []
    for name, qtype in TYPES:
        raw, how = make_raw(rng, qtype)
        expected = np.asarray(quants.dequantize(raw, qtype), dtype=np.float32).reshape(-1)
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        assert raw.size % type_size == 0 and expected.size == raw.size // type_size * block_size
        (out / f"{name}.bin").write_bytes(raw.tobytes())
        (out / f"{name}.expected.f32").write_bytes(expected.astype("<f4").tobytes())
        rows.append(f"| {name} | {raw.size // type_size} | {expected.size} | {how} |")

    readme = f"""# Dequantization fixtures

Made by `scripts/make_quant_fixtures.py` (numpy seed {SEED}) on {datetime.date.today().isoformat()} with
gguf {version("gguf")} and numpy {version("numpy")}. Regenerate with `python3 scripts/make_quant_fixtures.py`.

Per type: `<TYPE>.bin` holds raw GGML blocks (as stored in a GGUF tensor, little-endian) and
`<TYPE>.expected.f32` holds `gguf.quants.dequantize(raw, type)` as little-endian float32. gguf's numpy
dequantizers use the same float operations in the same order as ggml's scalar `dequantize_row_*`
(ggml-quants.c), so the Swift dequantizer must match them bit for bit (checked by `DequantizeTests.swift`).

| type | blocks | elements | blocks made by |
|------|--------|----------|----------------|
""" + "\n".join(rows) + "\n"
    (out / "README.md").write_text(readme)
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {len(TYPES)} fixtures to {out} ({total} bytes)")


if __name__ == "__main__":
    main()
