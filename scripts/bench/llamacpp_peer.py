#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python) as the peer for `longlm-dist bench`: same GGUF, same thread count, synthetic
prompts of the given lengths, prefill tokens/s and decode tokens/s, with flash attention on or off. Prints one
JSON line per length."""
import argparse, json, random, time
from llama_cpp import Llama, __version__ as llama_cpp_version

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--lengths", default="512,2048,8192")
parser.add_argument("--decode-tokens", type=int, default=32)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--batch-size", type=int, default=512)
parser.add_argument("--flash-attn", choices=["on", "off"], default="off")
args = parser.parse_args()

lengths = [int(x) for x in args.lengths.split(",")]
llm = Llama(model_path=args.model, n_ctx=max(lengths) + args.decode_tokens + 8, n_batch=args.batch_size,
            n_ubatch=args.batch_size, n_threads=args.threads, n_threads_batch=args.threads,
            flash_attn=args.flash_attn == "on", verbose=False)
vocab = llm.n_vocab()
bos = llm.token_bos()
rng = random.Random(1)
# Warm-up: touch the mapped weights once, so the first length is not charged for it (as `longlm-dist bench`).
llm.reset()
llm.eval([bos] + [1] * 31)
for n in lengths:
    # Ids from the lower part of the vocabulary, BOS first (as `longlm-dist bench`).
    tokens = [bos] + [rng.randrange(min(vocab, 32000)) for _ in range(n - 1)]
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    prefill = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(args.decode_tokens - 1):
        llm.eval([1000 % vocab])   # the token fed does not change the cost of a decode step
    decode = time.perf_counter() - t1
    print(json.dumps({"length": n, "prefill_tokens_per_second": n / prefill,
                      "decode_tokens_per_second": (args.decode_tokens - 1) / decode, "threads": args.threads,
                      "engine": "llama.cpp", "flash_attn": args.flash_attn, "version": llama_cpp_version}), flush=True)
