#!/usr/bin/env python3
"""Makes tiny random Hugging Face checkpoints and their transformers reference outputs.

For each model in MODELS: Tests/Fixtures/hf-tiny/<name>/ gets config.json + model.safetensors (in the
dtype named), and reference files:
  prompt.npy          int32 [200]        random token ids (past max_position_embeddings = 128)
  logits.npy          float32 [200, V]   transformers logits for every position (eager attention, f32)
  greedy_prompt.npy   int32 [16]
  greedy_tokens.npy   int32 [24]         greedy continuation through transformers' KV cache
  greedy_logits.npy   float32 [24, V]    the logits each greedy step was taken from
  SOURCE.json         script, versions, seed
Run once by hand (needs torch, transformers, safetensors); the Swift tests read the results.
"""
import json, os, sys
import numpy as np
import torch
import transformers
from transformers import (LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM,
                          Qwen2Config, Qwen2ForCausalLM)

ROOT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "hf-tiny")
COMMON = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
              max_position_embeddings=128, rms_norm_eps=1e-5, initializer_range=0.1)
MODELS = [
    # name, config class, model class, dtype stored, extra config
    ("llama-mha", LlamaConfig, LlamaForCausalLM, torch.float32,
     dict(num_attention_heads=4, num_key_value_heads=4, rope_theta=500000.0, tie_word_embeddings=False)),
    ("llama-gqa-tied-bf16", LlamaConfig, LlamaForCausalLM, torch.bfloat16,
     dict(num_attention_heads=8, num_key_value_heads=2, rope_theta=20000.0, tie_word_embeddings=True)),
    ("qwen2-bias-f16", Qwen2Config, Qwen2ForCausalLM, torch.float16,
     dict(num_attention_heads=4, num_key_value_heads=2, rope_theta=1000000.0, tie_word_embeddings=False)),
    ("mistral-window", MistralConfig, MistralForCausalLM, torch.float32,
     dict(num_attention_heads=4, num_key_value_heads=1, rope_theta=50000.0, sliding_window=48,
          tie_word_embeddings=False)),
    # rope_scaling variants (transformers 5 writes them as `rope_parameters`); greedy prompts pass L = 128.
    ("llama-rope-linear", LlamaConfig, LlamaForCausalLM, torch.float32,
     dict(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
          rope_parameters={"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0})),
    ("llama-rope-dynamic", LlamaConfig, LlamaForCausalLM, torch.float32,
     dict(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
          rope_parameters={"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0})),
    ("llama-rope-yarn", LlamaConfig, LlamaForCausalLM, torch.float32,
     dict(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
          rope_parameters={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32,
                           "rope_theta": 10000.0})),
    ("llama-rope-llama3", LlamaConfig, LlamaForCausalLM, torch.float32,
     dict(num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
          rope_parameters={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                           "original_max_position_embeddings": 64, "rope_theta": 500000.0})),
]
# Greedy prompt length per model (default GREEDY_PROMPT): past max_position_embeddings for dynamic NTK,
# whose base depends on the sequence length.
GREEDY_PROMPT_FOR = {"llama-rope-dynamic": 140, "llama-rope-yarn": 140}
PROMPT_LENGTH, GREEDY_PROMPT, GREEDY_STEPS = 200, 16, 24


def randomize(model, generator):
    """Norm weights that are not all ones and biases that are not zero, so the tests see them."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=generator))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=generator))


def main():
    torch.manual_seed(1234)
    generator = torch.Generator().manual_seed(1234)
    for name, config_class, model_class, dtype, extra in MODELS:
        out = os.path.join(ROOT, name)
        os.makedirs(out, exist_ok=True)
        config = config_class(**COMMON, **extra)
        model = model_class(config)
        randomize(model, generator)
        # Store in `dtype`, then reload and run in float32, so the reference uses exactly the stored weights.
        model.to(dtype).save_pretrained(out, safe_serialization=True)
        for extra_file in ("generation_config.json",):
            path = os.path.join(out, extra_file)
            if os.path.exists(path):
                os.remove(path)
        model = model_class.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()

        rng = np.random.default_rng(len(name) * 7919)
        prompt = rng.integers(0, config.vocab_size, size=PROMPT_LENGTH).astype(np.int32)
        with torch.no_grad():
            logits = model(torch.tensor(prompt[None, :], dtype=torch.long)).logits[0].float().numpy()
        np.save(os.path.join(out, "prompt.npy"), prompt)
        np.save(os.path.join(out, "logits.npy"), logits.astype(np.float32))

        # A fresh model per sequence: transformers' dynamic-NTK rotary keeps the base it grew to in the previous
        # call (200 tokens above), which would leak into this one.
        model = model_class.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
        greedy_prompt = prompt[:GREEDY_PROMPT_FOR.get(name, GREEDY_PROMPT)]
        tokens, step_logits = [], []
        with torch.no_grad():
            result = model(torch.tensor(greedy_prompt[None, :], dtype=torch.long), use_cache=True)
            past = result.past_key_values
            row = result.logits[0, -1]
            for _ in range(GREEDY_STEPS):
                step_logits.append(row.float().numpy().copy())
                token = int(torch.argmax(row))
                tokens.append(token)
                result = model(torch.tensor([[token]], dtype=torch.long), past_key_values=past, use_cache=True)
                past = result.past_key_values
                row = result.logits[0, -1]
        np.save(os.path.join(out, "greedy_prompt.npy"), greedy_prompt)
        np.save(os.path.join(out, "greedy_tokens.npy"), np.array(tokens, dtype=np.int32))
        np.save(os.path.join(out, "greedy_logits.npy"), np.stack(step_logits).astype(np.float32))
        with open(os.path.join(out, "SOURCE.json"), "w") as f:
            json.dump({"script": "scripts/make_hf_fixtures.py", "torch": torch.__version__,
                       "transformers": transformers.__version__, "numpy": np.__version__,
                       "stored_dtype": str(dtype), "reference": "eager attention, float32"}, f, indent=1)
        print(name, "max |logit|", float(np.abs(logits).max()))


if __name__ == "__main__":
    sys.exit(main())
