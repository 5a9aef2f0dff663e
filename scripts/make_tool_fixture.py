#!/usr/bin/env python3
"""Makes Tests/Fixtures/hf-tiny-tools: a tiny random Llama with a real tokenizer, for end-to-end tests of
the tools that take text (passkey, needle, perplexity, batch).

The tokenizer is the tiny byte-level BPE of Tests/Fixtures/tokenizer/tiny-bpe-llama3 (902 ids); the model has
the same vocabulary, 2 layers, trained context 256. Its outputs are meaningless: the tests compare runs (one
process vs mpirun) and check the tools' files, not answers. Run once by hand (needs torch, transformers).
"""
import json, os, shutil
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "Tests", "Fixtures")
OUT = os.path.join(ROOT, "hf-tiny-tools")
TOKENIZER = os.path.join(ROOT, "tokenizer", "tiny-bpe-llama3", "tokenizer.json")

def main():
    tokenizer = json.load(open(TOKENIZER))
    added = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    vocab = 1 + max(max(tokenizer["model"]["vocab"].values()), max(added.values()))
    torch.manual_seed(20261121)
    config = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         rms_norm_eps=1e-5, initializer_range=0.1, tie_word_embeddings=False,
                         bos_token_id=added.get("<|begin_of_text|>"), eos_token_id=added.get("<|end_of_text|>"))
    model = LlamaForCausalLM(config).eval()
    os.makedirs(OUT, exist_ok=True)
    model.save_pretrained(OUT, safe_serialization=True)
    shutil.copy(TOKENIZER, os.path.join(OUT, "tokenizer.json"))
    for extra in ["generation_config.json"]:
        path = os.path.join(OUT, extra)
        if os.path.exists(path):
            os.remove(path)
    json.dump({"script": "scripts/make_tool_fixture.py", "transformers": transformers.__version__,
               "torch": torch.__version__, "seed": 20261121, "tokenizer": "tokenizer/tiny-bpe-llama3/tokenizer.json"},
              open(os.path.join(OUT, "SOURCE.json"), "w"), indent=1)

if __name__ == "__main__":
    main()
