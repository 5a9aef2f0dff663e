#!/usr/bin/env python3
"""llama.cpp (llama-cpp-python) as the peer for `longlm-dist bench`: same GGUF, same thread count,
synthetic prompts of the given lengths, prefill tokens/s and decode tokens/s. Prints JSON lines."""
import argparse, json, random, time
from llama_cpp import Llama

parser = argparse.ArgumentParser()
parser.add_argument("--model", required=True)
parser.add_argument("--lengths", default="512,2048,8192")
parser.add_argument("--decode-tokens", type=int, default=32)
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--batch-size", type=int, default=512)
args = parser.parse_args()

lengths = [int(x) for x in args.lengths.split(",")]
llm = Llama(model_path=args.model, n_ctx=max(lengths) + args.decode_tokens + 8, n_batch=args.batch_size,
            n_ubatch=args.batch_size, n_threads=args.threads, n_threads_batch=args.threads, verbose=False)
rng = random.Random(1)
for n in lengths:
    tokens = [2] + [rng.randrange(32000) for _ in range(n - 1)]
    llm.reset()
    t0 = time.perf_counter()
    llm.eval(tokens)
    prefill = time.perf_counter() - t0
    t1 = time.perf_counter()
    for _ in range(args.decode_tokens - 1):
        llm.eval([236743])   # the token fed does not change the cost of a decode step
    decode = time.perf_counter() - t1
    print(json.dumps({"length": n, "prefill_tokens_per_second": n / prefill,
                      "decode_tokens_per_second": (args.decode_tokens - 1) / decode, "threads": args.threads,
                      "peer": "llama.cpp"}), flush=True)
