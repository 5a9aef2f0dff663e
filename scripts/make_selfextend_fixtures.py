#!/usr/bin/env python3
"""Makes SelfExtend reference fixtures from the OFFICIAL implementation (datamllab/LongLM).

The official code is not part of this repository: this script imports it at run time from a checkout
given with --longlm (the directory holding SelfExtend.py and self_extend_patch/). It is run once, by
hand, in a venv with the transformers version the official non-flash Llama patch was written for:

    python3 -m venv --system-site-packages /opt/selfextend-venv
    /opt/selfextend-venv/bin/pip install -r scripts/requirements-selfextend-reference.txt
    /opt/selfextend-venv/bin/python scripts/make_selfextend_fixtures.py \
        --longlm /tmp/LongLM --longlm-commit <commit>

For each model in MODELS, Tests/Fixtures/selfextend-longlm/<name>/ gets config.json + model.safetensors
(tiny random Llama, float32) and:
  prompt.npy          int32 [240]        random token ids (past max_position_embeddings = 128)
  logits.npy          float32 [240, V]   SelfExtend (G=4, W=32) logits, one full prefill call
  greedy_prompt.npy   int32 [200]        the first 200 tokens of prompt.npy
  greedy_tokens.npy   int32 [16]         greedy continuation through the KV cache (patched q_len == 1 path)
  greedy_logits.npy   float32 [16, V]    the logits each greedy step was taken from
  selfextend.json     parameters, versions, LongLM commit, and the sanity-check numbers below

Sanity checks (asserted):
  * the patch bound to every attention layer (SelfExtend.apply raising is not enough: see LongLM
    issues #23/#39, where it silently did nothing);
  * patched == unpatched logits (1e-5) for positions < W (every pair is a neighbour pair there) and
    patched != unpatched beyond W;
  * the decode path (q_len == 1) agrees with the prefill path on the same tokens;
  * an independent float64 implementation of the per-pair rule
    (docs/methods.md §A.2, integer shift W - W//G) reproduces the official logits.
"""
import argparse, hashlib, importlib, importlib.machinery, json, math, os, sys, types

import numpy as np
import torch
import transformers
from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "Tests", "Fixtures", "selfextend-longlm")
PATCH_FILE = "self_extend_patch/Llama.py"   # what SelfExtend.apply binds for Llama* without flash attention
GROUP, WINDOW = 4, 32
COMMON = dict(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
              max_position_embeddings=128, rope_theta=20000.0, rms_norm_eps=1e-5, initializer_range=0.1,
              torch_dtype="float32")
MODELS = [
    ("llama-mha", dict(num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=False)),
    ("llama-gqa-tied", dict(num_attention_heads=8, num_key_value_heads=2, tie_word_embeddings=True)),
]
PROMPT_LENGTH, GREEDY_PROMPT, GREEDY_STEPS = 240, 200, 16
SAME_TOLERANCE = 1e-5       # patched vs unpatched, positions < W
DIFFERENT_MINIMUM = 1e-3    # patched vs unpatched, positions >= W must differ by more than this
DECODE_TOLERANCE = 1e-4     # decode path vs prefill path, same tokens
SPEC_TOLERANCE = 1e-4       # float64 rule of docs/methods.md §A.2 vs official (float32) logits


def import_longlm(path):
    """Imports the official SelfExtend module from `path`.

    self_extend_patch/Llama.py imports flash_attn at module level (for its flash paths, which this script
    never uses). flash_attn cannot be installed on a CPU-only machine, so if it is missing, a stub module
    whose functions raise is put in its place; the non-flash `self_extend_forward` never calls it.
    Triton (imported by the Triton flash path) is installed with torch; it is stubbed only if missing.
    """
    stubs = []
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        stub = types.ModuleType("flash_attn")
        # A spec, so importlib.util.find_spec works; transformers still finds no installed distribution
        # (importlib.metadata), so it reports flash attention as unavailable.
        stub.__spec__ = importlib.machinery.ModuleSpec("flash_attn", None)

        def unavailable(*args, **kwargs):
            raise RuntimeError("flash_attn stub: the flash path must not run in this script")
        stub.flash_attn_func = stub.flash_attn_varlen_func = unavailable
        sys.modules["flash_attn"] = stub
        stubs.append("flash_attn")
    try:
        import triton, triton.language  # noqa: F401,E401
    except ImportError:
        triton = types.ModuleType("triton")
        language = types.ModuleType("triton.language")
        triton.__spec__ = importlib.machinery.ModuleSpec("triton", None)
        language.__spec__ = importlib.machinery.ModuleSpec("triton.language", None)
        language.__getattr__ = lambda name: object
        triton.language = language
        triton.jit = lambda fn=None, **kw: fn if fn is not None else (lambda f: f)
        triton.heuristics = lambda *a, **kw: (lambda f: f)
        triton.__getattr__ = lambda name: (lambda *a, **kw: None)
        sys.modules["triton"], sys.modules["triton.language"] = triton, language
        stubs.append("triton")
    sys.path.insert(0, os.path.abspath(path))
    selfextend = importlib.import_module("SelfExtend")
    patch_module = importlib.import_module("self_extend_patch.Llama")
    return selfextend, patch_module, stubs


def git_blob_sha1(path):
    """The id git gives the file's content (`git rev-parse <commit>:<path>` must print the same)."""
    data = open(path, "rb").read()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def randomize(model, generator):
    """Norm weights that are not all ones, so the tests see them."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=generator))


def load(out):
    return LlamaForCausalLM.from_pretrained(out, torch_dtype=torch.float32, attn_implementation="eager").eval()


def forward_logits(model, tokens):
    with torch.no_grad():
        return model(torch.tensor(np.asarray(tokens)[None, :], dtype=torch.long)).logits[0].float().numpy()


# ------------------------------------------------------------------------------------------------------
# Independent float64 implementation of the rule in docs/methods.md §A.2, for the last sanity check only.

def rotate(x, positions, theta):
    """HF rotate_half RoPE of x [heads, n, d] at float64 positions [n]."""
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
    angles = positions[:, None].to(torch.float64) * inv_freq[None, :]
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin


def spec_logits(model, tokens, group, window):
    config = model.config
    sd = {k: v.detach().to(torch.float64) for k, v in model.state_dict().items()}
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads
    head_dim = config.hidden_size // heads
    n = len(tokens)
    pos = torch.arange(n)
    shift = window - window // group                      # integer shift
    i, j = pos[:, None], pos[None, :]
    neighbour = (i - j) < window
    causal = j <= i

    def rms(x, w):
        return x / torch.sqrt((x * x).mean(-1, keepdim=True) + config.rms_norm_eps) * w

    x = sd["model.embed_tokens.weight"][torch.tensor(np.asarray(tokens), dtype=torch.long)]
    for layer in range(config.num_hidden_layers):
        p = f"model.layers.{layer}."
        h = rms(x, sd[p + "input_layernorm.weight"])
        q = (h @ sd[p + "self_attn.q_proj.weight"].T).view(n, heads, head_dim).transpose(0, 1)
        k = (h @ sd[p + "self_attn.k_proj.weight"].T).view(n, kv_heads, head_dim).transpose(0, 1)
        v = (h @ sd[p + "self_attn.v_proj.weight"].T).view(n, kv_heads, head_dim).transpose(0, 1)
        rep = heads // kv_heads
        k, v = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
        theta = config.rope_theta
        s_nb = rotate(q, pos, theta) @ rotate(k, pos, theta).transpose(1, 2)
        s_gr = rotate(q, pos // group + shift, theta) @ rotate(k, pos // group, theta).transpose(1, 2)
        s = torch.where(neighbour, s_nb, s_gr) / math.sqrt(head_dim)
        s = s.masked_fill(~causal, float("-inf")).softmax(-1)
        a = (s @ v).transpose(0, 1).reshape(n, heads * head_dim)
        x = x + a @ sd[p + "self_attn.o_proj.weight"].T
        h = rms(x, sd[p + "post_attention_layernorm.weight"])
        gate, up = h @ sd[p + "mlp.gate_proj.weight"].T, h @ sd[p + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(gate) * up) @ sd[p + "mlp.down_proj.weight"].T
    x = rms(x, sd["model.norm.weight"])
    head = sd["lm_head.weight"] if "lm_head.weight" in sd else sd["model.embed_tokens.weight"]
    return (x @ head.T).numpy()


# ------------------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--longlm", required=True, help="directory with LongLM's SelfExtend.py and self_extend_patch/")
    parser.add_argument("--longlm-commit", required=True, help="the LongLM commit that directory was taken from")
    parser.add_argument("--out", default=ROOT)
    args = parser.parse_args()

    assert WINDOW % GROUP == 0, "docs/methods.md §A.2 requires G | W (the official Llama.py uses W - W/G, a float)"
    max_length = (COMMON["max_position_embeddings"] - WINDOW) * GROUP + WINDOW
    assert PROMPT_LENGTH <= max_length and GREEDY_PROMPT + GREEDY_STEPS <= max_length
    assert PROMPT_LENGTH > COMMON["max_position_embeddings"]

    SelfExtend, patch_module, stubs = import_longlm(args.longlm)
    patch_path = os.path.join(args.longlm, PATCH_FILE)
    apply_path = os.path.join(args.longlm, "SelfExtend.py")
    print("transformers", transformers.__version__, "torch", torch.__version__, "stubbed:", stubs or "nothing")

    torch.manual_seed(1234)
    generator = torch.Generator().manual_seed(1234)
    for name, extra in MODELS:
        out = os.path.join(args.out, name)
        os.makedirs(out, exist_ok=True)
        config = LlamaConfig(**COMMON, **extra)
        model = LlamaForCausalLM(config)
        randomize(model, generator)
        model.save_pretrained(out, safe_serialization=True)
        for extra_file in ("generation_config.json",):
            path = os.path.join(out, extra_file)
            if os.path.exists(path):
                os.remove(path)

        rng = np.random.default_rng(len(name) * 7919)
        prompt = rng.integers(0, config.vocab_size, size=PROMPT_LENGTH).astype(np.int32)

        plain = load(out)
        plain_logits = forward_logits(plain, prompt)

        patched = load(out)
        SelfExtend.apply(patched, GROUP, WINDOW, enable_flash_attention=False)
        # The patch must be bound on every attention module (issues #23/#39: it can silently do nothing).
        attention = [layer.self_attn for layer in patched.model.layers]
        for module in attention:
            bound = module.__dict__.get("forward")
            assert bound is not None and getattr(bound.__func__, "func", None) is patch_module.self_extend_forward, \
                f"{name}: SelfExtend patch not bound on {type(module).__name__}"
            assert bound.__func__.keywords == dict(group_size_1=GROUP, group_size_2=WINDOW, scale_base=-1)
        q_lens = []
        hooks = [m.register_forward_pre_hook(lambda mod, a, kw: q_lens.append(kw["hidden_states"].shape[1]),
                                             with_kwargs=True) for m in attention]

        logits = forward_logits(patched, prompt)
        assert set(q_lens) == {PROMPT_LENGTH}, q_lens
        before = float(np.abs(logits[:WINDOW] - plain_logits[:WINDOW]).max())
        after = float(np.abs(logits[WINDOW:] - plain_logits[WINDOW:]).max())
        first_diff = int(np.argmax(np.abs(logits - plain_logits).max(-1) > SAME_TOLERANCE))
        print(f"{name}: max |patched - unpatched| positions < {WINDOW}: {before:.3g}, >= {WINDOW}: {after:.3g}"
              f" (first position differing > {SAME_TOLERANCE}: {first_diff}); max |logit| {np.abs(logits).max():.3g}")
        assert before <= SAME_TOLERANCE, f"{name}: patched differs from unpatched inside the window"
        assert after > DIFFERENT_MINIMUM, f"{name}: the SelfExtend patch changed nothing beyond the window"

        # Greedy decode through the KV cache: prefill (q_len == kv_len), then the patched q_len == 1 path.
        greedy_prompt = prompt[:GREEDY_PROMPT]
        tokens, step_logits = [], []
        q_lens.clear()
        with torch.no_grad():
            past = DynamicCache()
            result = patched(torch.tensor(greedy_prompt[None, :], dtype=torch.long), past_key_values=past,
                             use_cache=True)
            past = result.past_key_values
            row = result.logits[0, -1]
            for step in range(GREEDY_STEPS):
                step_logits.append(row.float().numpy().copy())
                token = int(torch.argmax(row))
                tokens.append(token)
                if step == GREEDY_STEPS - 1:
                    break
                result = patched(torch.tensor([[token]], dtype=torch.long), past_key_values=past, use_cache=True)
                past = result.past_key_values
                row = result.logits[0, -1]
        n_layers = config.num_hidden_layers
        assert q_lens == [GREEDY_PROMPT] * n_layers + [1] * (n_layers * (GREEDY_STEPS - 1)), q_lens
        for h in hooks:
            h.remove()
        step_logits = np.stack(step_logits).astype(np.float32)
        tokens = np.array(tokens, dtype=np.int32)

        # Decode path vs prefill path on the same tokens (positions 199 .. 214).
        full = np.concatenate([greedy_prompt, tokens[:-1]])
        prefill_rows = forward_logits(patched, full)[GREEDY_PROMPT - 1:]
        decode_vs_prefill = float(np.abs(prefill_rows - step_logits).max())
        # Independent float64 implementation of the docs/methods.md §A.2 rule vs the official logits.
        spec_full = float(np.abs(spec_logits(plain, prompt, GROUP, WINDOW) - logits).max())
        spec_decode = float(np.abs(spec_logits(plain, full, GROUP, WINDOW)[GREEDY_PROMPT - 1:] - step_logits).max())
        print(f"{name}: decode vs prefill {decode_vs_prefill:.3g}; spec rule (f64) vs official: prefill "
              f"{spec_full:.3g}, decode {spec_decode:.3g}; greedy tokens {tokens.tolist()}")
        assert decode_vs_prefill <= DECODE_TOLERANCE
        assert spec_full <= SPEC_TOLERANCE and spec_decode <= SPEC_TOLERANCE

        np.save(os.path.join(out, "prompt.npy"), prompt)
        np.save(os.path.join(out, "logits.npy"), logits.astype(np.float32))
        np.save(os.path.join(out, "greedy_prompt.npy"), greedy_prompt)
        np.save(os.path.join(out, "greedy_tokens.npy"), tokens)
        np.save(os.path.join(out, "greedy_logits.npy"), step_logits)
        with open(os.path.join(out, "selfextend.json"), "w") as f:
            json.dump({
                "group_size": GROUP, "window": WINDOW,
                "shift": WINDOW - WINDOW // GROUP, "max_length": max_length,
                "script": "scripts/make_selfextend_fixtures.py",
                "transformers": transformers.__version__, "torch": torch.__version__, "numpy": np.__version__,
                "longlm_repository": "datamllab/LongLM", "longlm_commit": args.longlm_commit,
                "patch_file": PATCH_FILE, "patch_function": "self_extend_forward",
                "patch_file_git_blob": git_blob_sha1(patch_path),
                "apply_file_git_blob": git_blob_sha1(apply_path),
                "apply_call": f"SelfExtend.apply(model, {GROUP}, {WINDOW}, enable_flash_attention=False)",
                "stubbed_modules": stubs,
                "reference": "eager attention, float32, batch 1",
                "checks": {
                    "max_abs_patched_minus_unpatched_below_window": before,
                    "max_abs_patched_minus_unpatched_from_window": after,
                    "max_abs_decode_minus_prefill": decode_vs_prefill,
                    "max_abs_spec_rule_f64_minus_official_prefill": spec_full,
                    "max_abs_spec_rule_f64_minus_official_decode": spec_decode,
                },
            }, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
