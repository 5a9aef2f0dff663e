#!/usr/bin/env python3
"""Exact f32 reference for Gemma 3 270M: transformers loads the same Q4_K_M GGUF (dequantized to float32 by
its GGUF loader, Gemma's folded norm weights un-folded) and runs it in float32 with eager attention.
For each prompt of Tests/Fixtures/gemma3-llamacpp/prompt-N.npy it writes to Tests/Fixtures/gemma3-transformers/
  top-N.npy       int32 [N, TOP]     transformers' TOP highest-logit ids per position, best first
  toplogits-N.npy float32 [N, TOP]   their logits
and SOURCE.json. Needs torch, transformers, accelerate, gguf; run once by hand."""
import json, os, shutil, sys, tempfile
import numpy as np
import torch, transformers
from transformers import AutoModelForCausalLM

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODEL = os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf")
PROMPTS = os.path.join(ROOT, "Tests", "Fixtures", "gemma3-llamacpp")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "gemma3-transformers")
LENGTHS = [10, 300, 1500, 3000]
TOP = 40


def main():
    os.makedirs(OUT, exist_ok=True)
    folder = tempfile.mkdtemp()
    os.symlink(os.path.abspath(MODEL), os.path.join(folder, "model.gguf"))
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file="model.gguf", dtype=torch.float32,
                                                 attn_implementation="eager").eval()
    shutil.rmtree(folder)
    for n in LENGTHS:
        prompt = np.load(os.path.join(PROMPTS, f"prompt-{n}.npy")).astype(np.int64)
        with torch.no_grad():
            logits = model(torch.tensor(prompt[None, :])).logits[0].float().numpy()
        top = np.argsort(-logits, axis=1, kind="stable")[:, :TOP].astype(np.int32)
        np.save(os.path.join(OUT, f"top-{n}.npy"), top)
        np.save(os.path.join(OUT, f"toplogits-{n}.npy"), np.take_along_axis(logits, top, axis=1))
        print(n, "done", flush=True)
    with open(os.path.join(OUT, "SOURCE.json"), "w") as f:
        json.dump({"script": "scripts/make_gemma3_transformers_fixtures.py", "torch": torch.__version__,
                   "transformers": transformers.__version__, "reference": "GGUF dequantized to float32, eager attention",
                   "top": TOP, "lengths": LENGTHS}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
