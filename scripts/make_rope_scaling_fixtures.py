#!/usr/bin/env python3
"""Writes Tests/Fixtures/rope-scaling/frequencies.json: transformers' RoPE-scaling frequency tables.

For each case below it builds a LlamaConfig with `rope_parameters` (transformers 5.x naming) and calls
`ROPE_INIT_FUNCTIONS[rope_type](config, "cpu", seq_len=...)` from `transformers.modeling_rope_utils`, storing
the inputs, `inv_freq` (float32, as transformers computes it) and `attention_scaling`.
RopeScalingTests compares `RopeScaling`'s frequencies with these to 1e-6 relative.
Run once by hand (needs torch, transformers >= 5): python scripts/make_rope_scaling_fixtures.py
"""
import json, os
import torch
import transformers
from transformers import LlamaConfig
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "rope-scaling", "frequencies.json")

# (rope_parameters, head_dim, max_position_embeddings, seq_len for the dynamic type)
CASES = [
    (dict(rope_type="linear", rope_theta=10000.0, factor=4.0), 128, 16384, None),
    (dict(rope_type="linear", rope_theta=500000.0, factor=2.5), 64, 8192, None),
    # dynamic NTK: L0 is max_position_embeddings; seq_len None means "at init" (= L0, plain RoPE).
    (dict(rope_type="dynamic", rope_theta=10000.0, factor=2.0), 128, 4096, None),
    (dict(rope_type="dynamic", rope_theta=10000.0, factor=2.0), 128, 4096, 8192),
    (dict(rope_type="dynamic", rope_theta=10000.0, factor=2.0), 128, 4096, 16384),
    (dict(rope_type="dynamic", rope_theta=10000.0, factor=1.0), 128, 4096, 8192),
    (dict(rope_type="dynamic", rope_theta=1000000.0, factor=4.0), 64, 2048, 3001),
    (dict(rope_type="dynamic", rope_theta=10000.0, factor=2.0), 128, 4096, 1000),
    # YaRN: the example of docs/methods.md §C.6, a Qwen2-style long config, explicit betas and attention factor, head_dim 96.
    (dict(rope_type="yarn", rope_theta=10000.0, factor=4.0, original_max_position_embeddings=4096), 128, 16384, None),
    (dict(rope_type="yarn", rope_theta=1000000.0, factor=4.0, original_max_position_embeddings=32768), 128, 131072, None),
    (dict(rope_type="yarn", rope_theta=50000.0, factor=16.0, original_max_position_embeddings=2048,
          beta_fast=64.0, beta_slow=2.0, attention_factor=1.25), 64, 32768, None),
    (dict(rope_type="yarn", rope_theta=10000.0, factor=8.0, original_max_position_embeddings=4096), 96, 32768, None),
    # Llama 3.1 and Llama 3.2 (1B/3B) parameters.
    (dict(rope_type="llama3", rope_theta=500000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
          original_max_position_embeddings=8192), 128, 131072, None),
    (dict(rope_type="llama3", rope_theta=500000.0, factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0,
          original_max_position_embeddings=8192), 64, 131072, None),
]


def main():
    cases = []
    for parameters, head_dim, max_positions, seq_len in CASES:
        config = LlamaConfig(hidden_size=head_dim * 4, num_attention_heads=4, head_dim=head_dim,
                             max_position_embeddings=max_positions, rope_parameters=dict(parameters))
        inv_freq, attention_scaling = ROPE_INIT_FUNCTIONS[parameters["rope_type"]](config, "cpu", seq_len=seq_len)
        cases.append(dict(parameters=parameters, head_dim=head_dim, max_position_embeddings=max_positions,
                          seq_len=seq_len, inv_freq=[float(x) for x in inv_freq.to(torch.float32)],
                          attention_scaling=float(attention_scaling)))
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(dict(source=dict(script="scripts/make_rope_scaling_fixtures.py",
                                   reference="transformers.modeling_rope_utils.ROPE_INIT_FUNCTIONS",
                                   transformers=transformers.__version__, torch=torch.__version__),
                       cases=cases), f, indent=1)
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
