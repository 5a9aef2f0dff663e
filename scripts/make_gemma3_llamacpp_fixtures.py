#!/usr/bin/env python3
"""llama.cpp reference logits for Gemma 3 270M (Q4_K_M GGUF), every position of four prompts.

Prompts are token ids (llama.cpp's own tokenization, BOS first) of slices of the GPL-3 text that Debian's
base-files ships at /usr/share/common-licenses/GPL-3, so the test needs no tokenizer. For each prompt
length N in LENGTHS, Tests/Fixtures/gemma3-llamacpp/ gets
  prompt-N.npy    int32 [N]          the token ids
  top-N.npy       int32 [N, TOP]     llama.cpp's TOP highest-logit ids per position, best first
  toplogits-N.npy float32 [N, TOP]   their logits
and SOURCE.json (script, llama-cpp-python version, model sha256, settings).
Run once by hand (needs `pip install llama-cpp-python`); the Swift tests read the results.
"""
import hashlib, json, os, sys
import numpy as np
import llama_cpp
from llama_cpp import Llama

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODEL = os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf")
OUT = os.path.join(ROOT, "Tests", "Fixtures", "gemma3-llamacpp")
TEXT = "/usr/share/common-licenses/GPL-3"
LENGTHS = [10, 300, 1500, 3000]
TOP = 40


def main():
    os.makedirs(OUT, exist_ok=True)
    text = open(TEXT, encoding="utf-8").read()
    llm = Llama(model_path=MODEL, n_ctx=4096, n_batch=512, n_ubatch=512, logits_all=True, n_threads=2,
                flash_attn=False, verbose=False)
    for index, n in enumerate(LENGTHS):
        # Different slices of the text for different prompts.
        start = [0, 2000, 9000, 17000][index]
        tokens = llm.tokenize(text[start:].encode("utf-8"), add_bos=True, special=False)[:n]
        assert len(tokens) == n, (n, len(tokens))
        llm.reset()
        llm.eval(tokens)
        scores = np.array(llm.scores[:n], dtype=np.float32)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :TOP].astype(np.int32)
        np.save(os.path.join(OUT, f"prompt-{n}.npy"), np.array(tokens, dtype=np.int32))
        np.save(os.path.join(OUT, f"top-{n}.npy"), top)
        np.save(os.path.join(OUT, f"toplogits-{n}.npy"), np.take_along_axis(scores, top, axis=1))
        print(n, "done", float(scores.max()))
    sha = hashlib.sha256(open(MODEL, "rb").read()).hexdigest()
    with open(os.path.join(OUT, "SOURCE.json"), "w") as f:
        json.dump({"script": "scripts/make_gemma3_llamacpp_fixtures.py",
                   "llama_cpp_python": llama_cpp.__version__, "model_sha256": sha, "text": TEXT,
                   "settings": "n_ctx=4096 n_batch=512 n_threads=2 flash_attn=False logits_all=True",
                   "top": TOP, "lengths": LENGTHS}, f, indent=1)


if __name__ == "__main__":
    sys.exit(main())
