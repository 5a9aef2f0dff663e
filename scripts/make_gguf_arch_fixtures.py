#!/usr/bin/env python3
"""llama.cpp reference logits for tiny random checkpoints of every GGUF architecture the engine reads.

For each architecture in MODELS this script
  1. builds a tiny random Hugging Face checkpoint (transformers, float32) with a small byte-level BPE tokenizer
     trained here on data/kjv.txt (the `tokenizers` library);
  2. converts it with llama.cpp's own converter, convert_hf_to_gguf.py (path given with --llama-cpp), to F32;
  3. quantizes the F32 file with llama.cpp's quantizer (llama_cpp.llama_model_quantize) to Q8_0, Q4_K_M, Q4_1
     and IQ4_NL; llama.cpp keeps tensors whose rows are not whole blocks of a type in a fallback type, so
     SOURCE.json records the tensor types each file really has;
  4. runs llama.cpp (llama_cpp.Llama, logits_all=True, n_threads=2) on a few prompts of random token ids in
     several configurations (flash attention off/on, n_batch = n_ubatch 512 or 7, KV cache f16 or f32) and
     saves every position's logits of the first configuration (flash off, batch 512, f16 cache: llama.cpp's
     defaults) as the reference, and per file the largest |logit difference| between that and any other
     configuration as llama.cpp's own run-to-run noise.

The converter recognises a BPE pre-tokenizer by hashing the ids a tokenizer gives a test string; a tokenizer
trained here has no entry in its table, so the script runs the converter with `get_vocab_base_pre` answering
the pre-tokenizer named in MODELS (the tokenizer's split rule is that pre-tokenizer's). Nothing else of the
converter is changed, and the converter is run from its own directory, not copied.

Output, Tests/Fixtures/gguf-arch/:
  <arch>-<TYPE>.gguf                      the converted / quantized file
  <arch>-<TYPE>-<prompt>.npy              float32 [n, vocab]: llama.cpp's logits for every position
  prompt-<prompt>.npy                     int32 [n]: the token ids
  SOURCE.json                             versions, settings, per file: tensor types, noise per prompt
Run once by hand:
  python3 scripts/make_gguf_arch_fixtures.py --llama-cpp <llama.cpp source directory>
(needs torch, transformers, tokenizers, llama-cpp-python 0.3.36 and the converter's own requirements).
"""
import argparse, json, os, shutil, subprocess, sys, tempfile
import numpy as np
import torch
import transformers
import tokenizers
import llama_cpp
from llama_cpp import Llama
from gguf_dequantized_copy import dequantized_copy
from make_hf_fixtures import randomize

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "gguf-arch")
TEXT = os.path.join(ROOT, "data", "kjv.txt")
VOCAB = 300
SEED = 20260914

# Common shape: hidden 64, 2 layers, 4 query heads over 2 key/value heads, feed-forward 64.
COMMON = dict(hidden_size=64, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, rms_norm_eps=1e-5, initializer_range=0.1)

# name, transformers config class, model class, pre-tokenizer the converter is told, extra config,
# prompts (name -> (length, llama.cpp n_ctx)), quantized types
ALL_TYPES = ["Q8_0", "Q4_K_M", "Q4_1", "IQ4_NL"]
PROMPTS = {"6": 6, "36": 36}
MODELS = [
    # Llama 3.1-style RoPE scaling: the converter writes the factors as the rope_freqs tensor.
    ("llama", "LlamaConfig", "LlamaForCausalLM", "llama-bpe",
     dict(max_position_embeddings=256, tie_word_embeddings=False,
          rope_parameters={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                           "original_max_position_embeddings": 32, "rope_theta": 500000.0}),
     PROMPTS, ALL_TYPES),
    # Mistral (GGUF architecture "llama") with a head dimension (32) that is not hidden / heads (16).
    ("mistral", "MistralConfig", "MistralForCausalLM", "llama-bpe",
     dict(max_position_embeddings=256, head_dim=32, sliding_window=None, tie_word_embeddings=True,
          rope_theta=1000000.0),
     PROMPTS, ALL_TYPES),
    # Qwen2 with QKV bias and Qwen2.5's YaRN rope_scaling, tied embeddings.
    ("qwen2", "Qwen2Config", "Qwen2ForCausalLM", "qwen2",
     dict(max_position_embeddings=256, tie_word_embeddings=True,
          rope_parameters={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64,
                           "rope_theta": 1000000.0}),
     PROMPTS, ALL_TYPES),
    # Qwen3: per-head Q/K RMS norm, head dimension 32 != 64 / 4.
    ("qwen3", "Qwen3Config", "Qwen3ForCausalLM", "qwen2",
     dict(max_position_embeddings=256, head_dim=32, tie_word_embeddings=True, rope_theta=1000000.0),
     PROMPTS, ALL_TYPES),
    # Phi-3 with LongRoPE: fused attn_qkv and gate-up ffn_up; short factors up to 256 tokens, long beyond.
    ("phi3", "Phi3Config", "Phi3ForCausalLM", "gpt-2",
     dict(max_position_embeddings=1024, original_max_position_embeddings=256, tie_word_embeddings=False, pad_token_id=0,
          rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                           "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.5, 3.0, 3.5],
                           "long_factor": [1.2, 1.9, 3.1, 4.7, 6.3, 8.0, 9.5, 11.0]}),
     dict(PROMPTS, **{"260": 260}), ALL_TYPES),
    # Ministral 3 (GGUF architecture "mistral3"): YaRN with mscale_all_dim written as yarn_log_multiplier, Llama-4
    # attention temperature (llama_4_scaling_beta), head dimension 32 != 64 / 4.
    ("mistral3", "Ministral3Config", "Ministral3ForCausalLM", "llama-bpe",
     dict(max_position_embeddings=256, head_dim=32, sliding_window=None, tie_word_embeddings=True,
          rope_parameters={"rope_type": "yarn", "type": "yarn", "rope_theta": 1000000.0, "factor": 16.0,
                           "original_max_position_embeddings": 16, "beta_fast": 32.0, "beta_slow": 1.0,
                           "mscale": 1.0, "mscale_all_dim": 1.0, "llama_4_scaling_beta": 0.1}),
     PROMPTS, ALL_TYPES),
]
# The phi3 260-token prompt (> the original 256: long factors) is run on the F32 file only (fixture size).

# llama.cpp configurations: the first is the reference; the rest measure its run-to-run noise. For a quantized
# file the noise also includes llama.cpp on the very same weights dequantized into an F32 GGUF ("dequantized"):
# llama.cpp rounds the activations to 8 bits in the products of quantized matrices, in every configuration alike,
# and this run is the one that shows how far that rounding alone moves its logits.
CONFIGS = [
    dict(flash_attn=False, n_batch=512),
    dict(flash_attn=True, n_batch=512),
    dict(flash_attn=False, n_batch=7),
    dict(flash_attn=True, n_batch=7),
    dict(flash_attn=False, n_batch=512, kv_f32=True),
]
FTYPES = {"Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0, "Q4_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
          "Q4_1": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_1, "IQ4_NL": llama_cpp.LLAMA_FTYPE_MOSTLY_IQ4_NL}
GGML_TYPE_F32 = 0


def train_tokenizer(directory, pre, phi):
    """A byte-level BPE of VOCAB ids trained on the KJV text, saved as tokenizer.json + tokenizer_config.json."""
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|bos|>"]
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    text = open(TEXT, encoding="utf-8").read()[:400000]
    tok.train_from_iterator([text[i:i + 2000] for i in range(0, len(text), 2000)], trainer)
    assert tok.get_vocab_size() == VOCAB, tok.get_vocab_size()
    tok.save(os.path.join(directory, "tokenizer.json"))
    config = {"tokenizer_class": "GPT2Tokenizer" if phi else "PreTrainedTokenizerFast",
              "bos_token": "<|bos|>", "eos_token": "<|endoftext|>", "model_max_length": 4096}
    json.dump(config, open(os.path.join(directory, "tokenizer_config.json"), "w"))
    return {t: tok.token_to_id(t) for t in specials}


def build_checkpoint(directory, name, config_class, model_class, extra, specials):
    generator = torch.Generator().manual_seed(SEED + len(name))
    torch.manual_seed(SEED + len(name))
    config = getattr(transformers, config_class)(vocab_size=VOCAB, bos_token_id=specials["<|bos|>"],
                                                 eos_token_id=specials["<|endoftext|>"], **COMMON, **extra)
    model = getattr(transformers, model_class)(config).eval()
    randomize(model, generator)
    model.save_pretrained(directory, safe_serialization=True)


def convert(llama_cpp_dir, checkpoint, outfile, pre):
    """Runs convert_hf_to_gguf.py from its directory, answering the pre-tokenizer question with `pre`."""
    bootstrap = (
        "import sys, runpy\n"
        f"sys.path.insert(0, {llama_cpp_dir!r})\n"
        "import conversion.base as base\n"
        f"base.TextModel.get_vocab_base_pre = lambda self, tokenizer: {pre!r}\n"
        f"sys.argv = ['convert_hf_to_gguf.py', {checkpoint!r}, '--outtype', 'f32', '--outfile', {outfile!r}]\n"
        "runpy.run_path('convert_hf_to_gguf.py', run_name='__main__')\n")
    subprocess.run([sys.executable, "-c", bootstrap], cwd=llama_cpp_dir, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def quantize(source, target, ftype):
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = 2
    status = llama_cpp.llama_model_quantize(source.encode(), target.encode(), params)
    assert status == 0, (target, status)


def tensor_types(path, gguf_module):
    reader = gguf_module.GGUFReader(path)
    counts = {}
    for t in reader.tensors:
        counts.setdefault(t.tensor_type.name, []).append(t.name)
    return {k: sorted(v) for k, v in sorted(counts.items())}


def run(path, tokens, n_ctx, config):
    kwargs = dict(model_path=path, n_ctx=n_ctx, n_batch=config["n_batch"], n_ubatch=config["n_batch"],
                  logits_all=True, n_threads=2, flash_attn=config["flash_attn"], verbose=False)
    if config.get("kv_f32"):
        kwargs.update(type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32)
    llm = Llama(**kwargs)
    llm.eval(list(map(int, tokens)))
    logits = np.array(llm.scores[:len(tokens)], dtype=np.float32)
    del llm
    return logits


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--llama-cpp", required=True, help="llama.cpp source directory (with convert_hf_to_gguf.py)")
    args = parser.parse_args()
    llama_cpp_dir = os.path.abspath(args.llama_cpp)
    sys.path.insert(0, os.path.join(llama_cpp_dir, "gguf-py"))
    import gguf
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(SEED)
    prompts = {}
    for prompt_name, n in sorted({(k, v) for m in MODELS for k, v in m[5].items()}):
        # Ids 2..VOCAB-1: random text tokens (0 and 1 are the special tokens).
        prompts[prompt_name] = rng.integers(2, VOCAB, size=n).astype(np.int32)
        np.save(os.path.join(OUT, f"prompt-{prompt_name}.npy"), prompts[prompt_name])
    files = {}
    for name, config_class, model_class, pre, extra, model_prompts, types in MODELS:
        with tempfile.TemporaryDirectory() as work:
            specials = train_tokenizer(work, pre, phi=name == "phi3")
            build_checkpoint(work, name, config_class, model_class, extra, specials)
            f32 = os.path.join(OUT, f"{name}-F32.gguf")
            convert(llama_cpp_dir, work, f32, pre)
        for type_name in ["F32"] + types:
            path = os.path.join(OUT, f"{name}-{type_name}.gguf")
            if type_name != "F32":
                quantize(f32, path, FTYPES[type_name])
            entry = {"tensor_types": tensor_types(path, gguf), "noise": {}, "bytes": os.path.getsize(path)}
            for prompt_name, n in model_prompts.items():
                if n > 256 and type_name != "F32":
                    continue
                tokens = prompts[prompt_name]
                n_ctx = 512 if n > 256 else 256
                results = [run(path, tokens, n_ctx, c) for c in CONFIGS]
                dequantized_noise = 0.0
                if type_name != "F32":
                    with tempfile.TemporaryDirectory() as work:
                        copy = os.path.join(work, "dequantized.gguf")
                        dequantized_copy(path, copy, gguf)
                        dequantized = [run(copy, tokens, n_ctx, c) for c in CONFIGS]
                    results.append(dequantized[0])
                    # llama.cpp's noise on the dequantized weights themselves (its F32-weight numerics).
                    dequantized_noise = max(float(np.abs(r - dequantized[0]).max()) for r in dequantized[1:])
                reference = results[0]
                per_config = [float(np.abs(r - reference).max()) for r in results[1:]]
                noise = max(per_config)
                np.save(os.path.join(OUT, f"{name}-{type_name}-{prompt_name}.npy"), reference)
                entry["noise"][prompt_name] = {"max_abs": noise, "per_config": per_config, "dequantized_noise": dequantized_noise,
                                               "n_ctx": n_ctx,
                                               "max_abs_logit": float(np.abs(reference).max())}
                print(f"{name}-{type_name} {prompt_name}: noise {noise:.3g} {[round(x, 4) for x in per_config]}, |logit| up to {np.abs(reference).max():.3g}",
                      flush=True)
            files[f"{name}-{type_name}"] = entry
    source = {
        "script": "scripts/make_gguf_arch_fixtures.py",
        "llama_cpp_python": llama_cpp.__version__, "torch": torch.__version__,
        "transformers": transformers.__version__, "tokenizers": tokenizers.__version__, "numpy": np.__version__,
        "converter": "convert_hf_to_gguf.py of the llama.cpp vendored in llama-cpp-python "
                     + llama_cpp.__version__ + ", --outtype f32, get_vocab_base_pre answered per model",
        "seed": SEED, "vocab": VOCAB, "common_config": COMMON,
        "models": {m[0]: {"config": m[1], "pre_tokenizer": m[3], "extra": m[4], "prompts": m[5]} for m in MODELS},
        "reference_settings": "n_threads=2 logits_all=True flash_attn=False n_batch=n_ubatch=512 KV cache f16; "
                              "n_ctx 256, or 512 for prompts longer than 256",
        "noise_settings": CONFIGS[1:] + ["quantized files: the reference settings on the same weights dequantized to F32"],
        "noise": "max |logits(config) - logits(reference)| over every position, vocabulary entry and config; "
                 "dequantized_noise: the same over the configs, run on the dequantized F32 copy against its own reference run",
        "files": files,
    }
    with open(os.path.join(OUT, "SOURCE.json"), "w") as f:
        json.dump(source, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
