#!/usr/bin/env python3
"""How far llama.cpp's own SmolLM2 logits move when its KV cache is narrower than f16.

Compares llama.cpp runs with other KV cache types against the reference logits stored in
Tests/Fixtures/smollm2-llamacpp/ (made by scripts/make_smollm2_llamacpp_fixtures.py: flash attention off,
n_batch = n_ubatch = 512, f16 KV, n_threads 2, logits_all, on models/SmolLM2-135M-Instruct.Q4_1.gguf), on the
same stored entries that script measures its noise on: the top-20 reference ids at every position plus the full
rows at the full positions (every position for "4" and "8", SOURCE.json full_positions for "3000" and "greedy").
Each prompt is evaluated as that script evaluates its noise variants: the whole token sequence in one
llm.eval() with n_batch = n_ubatch = 512 (for "greedy" that is the stored prompt plus its 32 greedy tokens in one
batch, not token-by-token decoding).

Variants (n_ctx 4096, n_threads 2, logits_all, n_batch = n_ubatch = 512):
  f16_reference_rerun          the reference settings again (0 when llama.cpp is deterministic here)
  f16_flash_attn               the control: SOURCE.json's flash-attention noise variant, re-measured; it must
                               equal SOURCE.json noise[prompt].per_variant[0] to show this comparison is the same
  q8_0_flash_attn              K and V cache GGML_TYPE_Q8_0 (llama.cpp needs flash attention for a quantized V
                               cache); llama.cpp's default, which Hadamard-rotates K and V for quantized caches
                               (its log: attn_rot_k = attn_rot_v = 1)
  q8_0_flash_attn_no_rotation  the same with LLAMA_ATTN_ROT_DISABLE=1: plain q8_0 blocks of the raw K and V
  bf16                         K and V cache GGML_TYPE_BF16, flash attention off (only the KV type differs from
                               the reference)
  bf16_flash_attn              K and V cache bf16, flash attention on
Per prompt and variant, kv-spread.json holds
  max_abs                            largest |variant - reference| over the stored entries
  top1_changes_at_clear_positions    positions whose reference top-2 margin exceeds SOURCE.json
                                     noise[prompt].max_abs where the variant's argmax over the stored entries
                                     (full row at full positions, else the 20 stored ids) is not the reference top-1
  top1_changes_all_positions         the same without the margin condition
  max_abs_vs_f16_flash_attn          (flash-attention variants) largest difference over the same entries to the
                                     f16_flash_attn run: the KV type's own effect, without flash attention's
and "control" compares f16_flash_attn's max_abs with the stored value.
Rerun (about 9 minutes on 2 shared cores, nearly all of it the six 3000-token runs; needs llama-cpp-python
0.3.36, numpy and the model from scripts/setup.sh):
  python3 scripts/measure_llamacpp_kv_spread.py
It writes Tests/Fixtures/smollm2-llamacpp/kv-spread.json.
"""
import contextlib, ctypes, glob, hashlib, json, os, sys, tempfile, time
import numpy as np
import llama_cpp
from llama_cpp import Llama

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
MODEL_REL = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL = os.path.join(ROOT, MODEL_REL)
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures", "smollm2-llamacpp")
OUT = os.path.join(FIXTURES, "kv-spread.json")
PROMPTS = ["4", "8", "3000", "greedy"]
N_CTX, N_BATCH, N_THREADS = 4096, 512, 2
# ggml.h's enum ggml_type; llama_cpp's bindings define F16 and Q8_0 but leave BF16 (30) out, so it is checked
# against ggml_type_name() below.
KV_TYPES = {"f16": 1, "q8_0": 8, "bf16": 30}
NO_ROTATION = {"LLAMA_ATTN_ROT_DISABLE": "1"}
VARIANTS = {
    "f16_reference_rerun": dict(flash_attn=False, kv="f16"),
    "f16_flash_attn": dict(flash_attn=True, kv="f16"),
    "q8_0_flash_attn": dict(flash_attn=True, kv="q8_0"),
    "q8_0_flash_attn_no_rotation": dict(flash_attn=True, kv="q8_0", env=NO_ROTATION),
    "bf16": dict(flash_attn=False, kv="bf16"),
    "bf16_flash_attn": dict(flash_attn=True, kv="bf16"),
}
CONTROL = "f16_flash_attn"
CONTROL_SOURCE_VARIANT = {"flash_attn": True, "n_batch": 512}  # its entry in SOURCE.json noise_variants


def check_type_ids():
    """Confirms the KV_TYPES ids against the installed ggml (when its shared library is where pip puts it)."""
    libs = sorted(glob.glob(os.path.join(os.path.dirname(llama_cpp.__file__), "lib", "*ggml-base*")))
    if not libs:
        return "not checked: libggml-base not found next to llama_cpp"
    lib = ctypes.CDLL(libs[0])
    lib.ggml_type_name.restype, lib.ggml_type_name.argtypes = ctypes.c_char_p, [ctypes.c_int]
    for name, ident in KV_TYPES.items():
        got = lib.ggml_type_name(ident).decode()
        assert got == name, f"ggml type {ident} is {got}, expected {name}"
    return "checked with ggml_type_name()"


@contextlib.contextmanager
def environment(extra):
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def llama_kwargs(variant, verbose=False):
    kv = KV_TYPES[variant["kv"]]
    return dict(model_path=MODEL, n_ctx=N_CTX, n_batch=N_BATCH, n_ubatch=N_BATCH, logits_all=True,
                n_threads=N_THREADS, flash_attn=variant["flash_attn"], type_k=kv, type_v=kv, verbose=verbose)


def failure_reason(variant):
    """llama.cpp's own log lines when it refuses a context (it only logs them with verbose=True)."""
    with tempfile.TemporaryFile(mode="w+b") as log:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            with environment(variant.get("env", {})):
                Llama(**llama_kwargs(variant, verbose=True))
            message = None
        except Exception as e:
            message = f"{type(e).__name__}: {e}"
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        log.seek(0)
        lines = log.read().decode("utf-8", "replace").splitlines()
    keep = [l.strip() for l in lines if any(w in l.lower() for w in ("requires", "error", "fail", "not supported"))]
    return keep + ([message] if message else [])


def evaluate(variant, tokens):
    """The logits of every position, or the reason llama.cpp refuses the variant."""
    try:
        with environment(variant.get("env", {})):
            llm = Llama(**llama_kwargs(variant))
    except ValueError:
        return None, failure_reason(variant)
    llm.eval(list(map(int, tokens)))
    logits = np.array(llm.scores[:len(tokens)], dtype=np.float32)
    del llm
    if not np.isfinite(logits).all():
        return None, ["non-finite logits"]
    return logits, None


class Stored:
    """A run's values on the stored entries: the reference top ids everywhere and the full rows at `full`."""

    def __init__(self, top_values, full_rows, top_ids, full):
        self.top, self.full = top_values, full_rows
        # argmax over the stored entries: the whole row where it is stored, else among the stored top ids
        self.argmax = top_ids[np.arange(len(top_ids)), np.argmax(top_values, axis=1)]
        self.argmax[full] = np.argmax(full_rows, axis=1)

    @classmethod
    def of(cls, logits, top_ids, full):
        return cls(np.take_along_axis(logits, top_ids, 1), logits[full], top_ids, full)

    def max_abs(self, other):
        return float(max(np.abs(self.top - other.top).max(), np.abs(self.full - other.full).max()))


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def main():
    source = json.load(open(os.path.join(FIXTURES, "SOURCE.json")))
    control_index = source["noise_variants"].index(CONTROL_SOURCE_VARIANT)
    model_sha = sha256(MODEL)
    assert model_sha == source["model_sha256"], "the model is not the one the fixtures were made from"
    type_check = check_type_ids()
    started = time.time()
    results, control, refused, clear_counts = {}, {}, {}, {}
    for name in PROMPTS:
        tokens = np.load(os.path.join(FIXTURES, f"prompt-{name}.npy"))
        top_ids = np.load(os.path.join(FIXTURES, f"top-{name}.npy")).astype(np.int64)
        top_logits = np.load(os.path.join(FIXTURES, f"toplogits-{name}.npy"))
        full = source["full_positions"].get(name, list(range(len(tokens))))
        full_rows = np.load(os.path.join(FIXTURES, f"logits-{name}.npy"))
        assert top_ids.shape[0] == len(tokens) and full_rows.shape[0] == len(full)
        reference = Stored(top_logits, full_rows, top_ids, full)
        assert np.array_equal(np.take_along_axis(full_rows, top_ids[full], 1), top_logits[full])
        assert np.array_equal(reference.argmax, top_ids[:, 0])
        noise = source["noise"][name]["max_abs"]
        clear = (top_logits[:, 0] - top_logits[:, 1]) > noise
        clear_counts[name] = {"positions": int(len(tokens)), "clear_positions": int(clear.sum()),
                              "noise_max_abs": noise}
        results[name], runs = {}, {}
        for key, variant in VARIANTS.items():
            t0 = time.time()
            logits, reason = evaluate(variant, tokens)
            if logits is None:
                refused[key] = reason
                results[name][key] = {"refused": reason}
                print(name, key, "refused:", reason, flush=True)
                continue
            run = runs[key] = Stored.of(logits, top_ids, full)
            del logits
            changed = run.argmax != reference.argmax
            entry = {"max_abs": run.max_abs(reference),
                     "top1_changes_at_clear_positions": int((changed & clear).sum()),
                     "top1_changes_all_positions": int(changed.sum())}
            if variant["flash_attn"] and key != CONTROL and CONTROL in runs:
                entry["max_abs_vs_f16_flash_attn"] = runs[CONTROL].max_abs(run)
            results[name][key] = entry
            print(name, key, {k: round(v, 4) for k, v in entry.items()}, f"{time.time() - t0:.1f}s", flush=True)
        stored = source["noise"][name]["per_variant"][control_index]
        measured = results[name][CONTROL].get("max_abs")
        control[name] = {"measured": measured, "stored": stored, "equal": measured == stored}
    settings = {}
    for key, variant in VARIANTS.items():
        settings[key] = {"flash_attn": variant["flash_attn"], "type_k": variant["kv"], "type_v": variant["kv"],
                         "ggml_type": KV_TYPES[variant["kv"]], "n_ctx": N_CTX, "n_batch": N_BATCH,
                         "n_ubatch": N_BATCH, "n_threads": N_THREADS, "logits_all": True,
                         "environment": variant.get("env", {})}
    settings["q8_0_flash_attn"]["note"] = ("llama.cpp's default for a quantized KV cache: K and V are Hadamard-"
                                           "rotated before quantization (its log: attn_rot_k = attn_rot_v = 1)")
    settings["q8_0_flash_attn_no_rotation"]["note"] = "rotation off (attn_rot_k = attn_rot_v = 0): plain q8_0 of K, V"
    with open(OUT, "w") as f:
        json.dump({"script": "scripts/measure_llamacpp_kv_spread.py",
                   "llama_cpp_python": llama_cpp.__version__, "numpy": np.__version__,
                   "model": MODEL_REL, "model_sha256": model_sha,
                   "reference": "Tests/Fixtures/smollm2-llamacpp (SOURCE.json reference_settings: "
                                + source["reference_settings"] + ")",
                   "evaluation": "each prompt's whole token sequence in one llm.eval() (greedy: its 56 stored "
                                 "tokens in one batch), as make_smollm2_llamacpp_fixtures.py evaluates its variants",
                   "stored_entries": "the reference top-20 ids at every position, full rows at full_positions "
                                     "(every position for prompts 4 and 8)",
                   "clear_position": "reference top-1 minus top-2 logit > SOURCE.json noise[prompt].max_abs",
                   "ggml_type_ids": type_check,
                   "variants": settings, "positions": clear_counts,
                   "control": {"variant": CONTROL, "source_noise_variant_index": control_index,
                               "per_prompt": control,
                               "all_equal": all(c["equal"] for c in control.values())},
                   "refused": refused, "results": results}, f, indent=1)
        f.write("\n")
    print("control", control, flush=True)
    print(f"wrote {os.path.relpath(OUT, ROOT)} in {time.time() - started:.0f}s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
