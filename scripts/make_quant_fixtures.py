#!/usr/bin/env python3
"""Makes the dequantization fixtures in Tests/Fixtures/quant from llama.cpp's own quantizer and dequantizer.

For each GGML type the Swift engine dequantizes, writes
    <TYPE>.bin           raw block bytes, exactly as they sit in a GGUF tensor
    <TYPE>.expected.f32  little-endian float32, the reference dequantization of <TYPE>.bin
and a README.md naming this script and the reference versions.

Quantized types (Q8_0 ... IQ4_XS): the reference is ggml as shipped in llama-cpp-python (libggml-base), called
through ctypes:
- the first blocks are seeded random values (per-block magnitude 1e-4..1e2, so the f16 scales vary) quantized by
  `ggml_quantize_chunk`, the function `llama_model_quantize` (llama-quantize) runs on every tensor; the first
  half without an importance matrix, the second half with one (seeded positive weights per column), as an
  imatrix quantization (the IQ4 files) does;
- the remaining blocks are seeded random bytes with the f16 scale fields overwritten by finite halves (random
  bytes there could be inf or NaN), some of them subnormal, so every bit pattern of the packed fields occurs,
  including ones the quantizer never writes;
- expected values are ggml's `to_float` for the type (`dequantize_row_*`), and the script checks that
  `gguf.quants.dequantize` (gguf-py's numpy port) gives the same bits.
Float types (F32, F16, BF16): seeded random values converted by gguf.quants, then hand-picked special bit
patterns (signed zero, subnormals, inf, quiet and signalling NaN); expected values from gguf.quants.dequantize
(numpy's conversion, which keeps signalling NaNs signalling where ggml's hardware conversion may quiet them).

Usage: python3 scripts/make_quant_fixtures.py [output-dir]   (default: Tests/Fixtures/quant)
Needs: pip install gguf numpy llama-cpp-python
"""

from __future__ import annotations

import ctypes
import datetime
import os
import sys
from importlib.metadata import version
from pathlib import Path

import llama_cpp
import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants
from gguf.constants import GGML_QUANT_SIZES

SEED = 20240617
QUANTIZED_BLOCKS_SMALL = 16  # quantizer-made blocks for 32-element types (half of them with an imatrix)
RANDOM_BLOCKS_SMALL = 8      # random-byte blocks for 32-element types
QUANTIZED_BLOCKS_K = 4       # the same for 256-element super-block types
RANDOM_BLOCKS_K = 4
FLOAT_COUNT = 256            # random elements for F32/F16/BF16, before the special values

# (name, type) in the order the fixtures README lists them.
TYPES = [
    ("F32", T.F32), ("F16", T.F16), ("BF16", T.BF16),
    ("Q8_0", T.Q8_0), ("Q4_0", T.Q4_0), ("Q4_1", T.Q4_1), ("Q5_0", T.Q5_0), ("Q5_1", T.Q5_1),
    ("Q2_K", T.Q2_K), ("Q3_K", T.Q3_K), ("Q4_K", T.Q4_K), ("Q5_K", T.Q5_K), ("Q6_K", T.Q6_K),
    ("IQ4_NL", T.IQ4_NL), ("IQ4_XS", T.IQ4_XS),
]

# Byte offsets of the f16 scale fields inside one block (ggml-common.h block structs).
HALF_FIELDS = {
    T.Q8_0: [0], T.Q4_0: [0], T.Q5_0: [0], T.IQ4_NL: [0], T.IQ4_XS: [0],   # d first
    T.Q4_1: [0, 2], T.Q5_1: [0, 2],                                        # d, m
    T.Q4_K: [0, 2], T.Q5_K: [0, 2],                                        # d, dmin
    T.Q2_K: [80, 82],  # d, dmin after scales[16], qs[64]
    T.Q3_K: [108],     # d after hmask[32], qs[64], scales[12]
    T.Q6_K: [208],     # d after ql[128], qh[64], scales[16]
}

SPECIAL_F32 = [0x00000000, 0x80000000, 0x00000001, 0x007FFFFF, 0x7F7FFFFF, 0x7F800000, 0xFF800000,
               0x7FC00000, 0x7F800001, 0xFFC12345]
SPECIAL_F16 = [0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xC000, 0x7BFF, 0xFBFF,
               0x7C00, 0xFC00, 0x7E00, 0x7C01, 0xFE3F]
SPECIAL_BF16 = [0x0000, 0x8000, 0x0001, 0x3F80, 0xC000, 0x7F7F, 0x7F80, 0xFF80, 0x7FC0, 0x7F81]


class GGMLTypeTraits(ctypes.Structure):
    """ggml.h `struct ggml_type_traits`."""
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_float), ctypes.c_int64)


class GGML:
    """The quantizer and dequantizers of the libggml-base that llama-cpp-python ships."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "libggml-base.so"))
        self.lib.ggml_quantize_chunk.restype = ctypes.c_size_t
        self.lib.ggml_quantize_chunk.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                                 ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
        self.lib.ggml_quantize_requires_imatrix.restype = ctypes.c_bool
        self.lib.ggml_get_type_traits.restype = ctypes.POINTER(GGMLTypeTraits)
        self.lib.ggml_get_type_traits.argtypes = [ctypes.c_int]
        self.lib.ggml_version.restype = ctypes.c_char_p
        self.lib.ggml_commit.restype = ctypes.c_char_p

    def version(self) -> str:
        return f"{self.lib.ggml_version().decode()} (commit {self.lib.ggml_commit().decode()})"

    def quantize(self, qtype: T, values: np.ndarray, n_per_row: int, imatrix: np.ndarray | None) -> np.ndarray:
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        src = np.ascontiguousarray(values, dtype=np.float32)
        rows = src.size // n_per_row
        dst = np.zeros(rows * n_per_row // block_size * type_size, dtype=np.uint8)
        weights = None if imatrix is None else np.ascontiguousarray(imatrix, dtype=np.float32)
        written = self.lib.ggml_quantize_chunk(int(qtype), src.ctypes.data, dst.ctypes.data, 0, rows, n_per_row,
                                               None if weights is None else weights.ctypes.data)
        assert written == dst.size, f"ggml_quantize_chunk wrote {written} bytes, expected {dst.size}"
        return dst

    def dequantize(self, qtype: T, raw: np.ndarray) -> np.ndarray:
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        traits = self.lib.ggml_get_type_traits(int(qtype)).contents
        assert traits.blck_size == block_size and traits.type_size == type_size, qtype.name
        count = raw.size // type_size * block_size
        out = np.zeros(count, dtype=np.float32)
        src = np.ascontiguousarray(raw)
        TO_FLOAT(traits.to_float)(src.ctypes.data, out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), count)
        return out


def varied_values(rng: np.random.Generator, blocks: int, block_size: int) -> np.ndarray:
    """Normal values with a per-block magnitude between 1e-4 and 1e2, so block scales differ."""
    magnitude = 10.0 ** rng.uniform(-4.0, 2.0, size=(blocks, 1))
    return (rng.standard_normal((blocks, block_size)) * magnitude).astype(np.float32).reshape(-1)


def finite_halves(rng: np.random.Generator, n: int) -> np.ndarray:
    """Finite f16 scales between 1e-6 (subnormal in f16) and 10, both signs."""
    sign = np.where(rng.random(n) < 0.25, -1.0, 1.0)
    return (sign * 10.0 ** rng.uniform(-6.0, 1.0, size=n)).astype(np.float16)


def float_fixture(rng: np.random.Generator, qtype: T) -> tuple[np.ndarray, np.ndarray, str]:
    values = rng.standard_normal(FLOAT_COUNT).astype(np.float32) * np.float32(10.0) ** rng.uniform(
        -3.0, 3.0, size=FLOAT_COUNT).astype(np.float32)
    converted = np.asarray(quants.quantize(values, qtype))
    special = {T.F32: (SPECIAL_F32, np.uint32), T.F16: (SPECIAL_F16, np.uint16),
               T.BF16: (SPECIAL_BF16, np.uint16)}[qtype]
    raw = np.concatenate([converted.view(np.uint8).reshape(-1),
                          np.array(special[0], dtype=special[1]).view(np.uint8)])
    expected = np.asarray(quants.dequantize(raw, qtype), dtype=np.float32).reshape(-1)
    return raw, expected, ("gguf.quants.quantize of seeded random values, then special bit patterns; "
                           "expected: gguf.quants.dequantize")


def quantized_fixture(ggml: GGML, rng: np.random.Generator, qtype: T) -> tuple[np.ndarray, np.ndarray, str]:
    block_size, type_size = GGML_QUANT_SIZES[qtype]
    small = block_size == 32
    quantized_blocks = QUANTIZED_BLOCKS_SMALL if small else QUANTIZED_BLOCKS_K
    random_blocks = RANDOM_BLOCKS_SMALL if small else RANDOM_BLOCKS_K
    assert not ggml.lib.ggml_quantize_requires_imatrix(int(qtype)), qtype.name

    # Rows of 256 values (one K super-block, eight small blocks), half quantized plainly, half with an imatrix.
    n_per_row = 256
    rows = quantized_blocks * block_size // n_per_row
    assert rows % 2 == 0
    values = varied_values(rng, quantized_blocks, block_size)
    half = rows // 2 * n_per_row
    imatrix = rng.uniform(0.05, 4.0, size=n_per_row).astype(np.float32)
    parts = [ggml.quantize(qtype, values[:half], n_per_row, None),
             ggml.quantize(qtype, values[half:], n_per_row, imatrix)]

    noise = rng.integers(0, 256, size=(random_blocks, type_size), dtype=np.uint8)
    for offset in HALF_FIELDS[qtype]:
        noise[:, offset:offset + 2] = finite_halves(rng, random_blocks).view(np.uint8).reshape(random_blocks, 2)
    raw = np.concatenate(parts + [noise.reshape(-1)])

    expected = ggml.dequantize(qtype, raw)
    numpy_port = np.asarray(quants.dequantize(raw, qtype), dtype=np.float32).reshape(-1)
    assert np.array_equal(expected.view(np.uint32), numpy_port.view(np.uint32)), \
        f"{qtype.name}: ggml and gguf.quants dequantize differently"
    how = (f"{quantized_blocks} blocks by ggml_quantize_chunk (the second half with an imatrix), then "
           f"{random_blocks} random-byte blocks; expected: ggml to_float (= gguf.quants.dequantize)")
    return raw, expected, how


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "Tests/Fixtures/quant"
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    ggml = GGML()

    rows = []
    for name, qtype in TYPES:
        if qtype in (T.F32, T.F16, T.BF16):
            raw, expected, how = float_fixture(rng, qtype)
        else:
            raw, expected, how = quantized_fixture(ggml, rng, qtype)
        block_size, type_size = GGML_QUANT_SIZES[qtype]
        assert raw.size % type_size == 0 and expected.size == raw.size // type_size * block_size
        (out / f"{name}.bin").write_bytes(raw.tobytes())
        (out / f"{name}.expected.f32").write_bytes(expected.astype("<f4").tobytes())
        rows.append(f"| {name} | {raw.size // type_size} | {expected.size} | {how} |")

    readme = f"""# Dequantization fixtures

Made by `scripts/make_quant_fixtures.py` (numpy seed {SEED}) on {datetime.date.today().isoformat()} with
llama-cpp-python {version("llama_cpp_python")} (its libggml-base: ggml {ggml.version()}), gguf {version("gguf")} and
numpy {version("numpy")}. Regenerate with `python3 scripts/make_quant_fixtures.py`.

Per type: `<TYPE>.bin` holds raw GGML blocks (as stored in a GGUF tensor, little-endian) and
`<TYPE>.expected.f32` their reference dequantization as little-endian float32. For the quantized types the
blocks come from llama.cpp's quantizer (`ggml_quantize_chunk`, what `llama_model_quantize` runs per tensor)
followed by random-byte blocks, and the expected values are ggml's own dequantizer (`dequantize_row_*`),
checked by the script to equal `gguf.quants.dequantize` bit for bit. The Swift dequantizer must match them bit
for bit (`DequantizeTests.swift`); the matrix-vector kernels are checked against the Swift dequantizer
(`QuantizedMatrixTests.swift`).

| type | blocks | elements | blocks made by, expected values from |
|------|--------|----------|--------------------------------------|
""" + "\n".join(rows) + "\n"
    (out / "README.md").write_text(readme)
    total = sum(p.stat().st_size for p in out.iterdir())
    print(f"wrote {len(TYPES)} fixtures to {out} ({total} bytes)")


if __name__ == "__main__":
    main()
