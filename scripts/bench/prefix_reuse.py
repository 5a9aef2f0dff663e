#!/usr/bin/env python3
"""Time to first token for a second question about the same long document, with and without the server's prefix
cache (docs/performance.md). Starts `longlm-dist serve` on the model, sends the document (the first N tokens of the
KJV text) with a first question, then with a second question; then a server started with --no-prefix-cache gets
the second question alone. Each time to first token is measured by the client (streaming, until the first text).
Usage: scripts/bench/prefix_reuse.py [--tokens 32000] [--model models/gemma-3-270m-q4_k_m.gguf] [--ranks 1]
Prints one JSON line per request.
"""
import argparse
import http.client
import json
import os
import re
import subprocess
import threading
import time


def start(binary, model, ranks, extra):
    command = [binary, "serve", "--model", model, "--port", "0", *extra]
    env = dict(os.environ)
    if ranks > 1:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        command = ["mpirun", "-np", str(ranks), "--oversubscribe", "--bind-to", "none", *command]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
    port, ready = [None], threading.Event()

    def read():
        for line in process.stderr:
            match = re.search(r"listening on http://[^:]+:(\d+)", line)
            if match:
                port[0] = int(match.group(1))
            if "ready:" in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(300)
    return process, port[0]


def first_token_seconds(port, prompt_ids):
    """(seconds to the first streamed text, the final longlm object)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=3600)
    body = json.dumps({"prompt": prompt_ids, "max_tokens": 8, "temperature": 0, "stream": True})
    started = time.time()
    connection.request("POST", "/v1/completions", body=body, headers={"Content-Type": "application/json"})
    response = connection.getresponse()
    first, details = None, None
    for raw in response:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[6:])
        if first is None and event["choices"] and event["choices"][0]["text"]:
            first = time.time() - started
        if "longlm" in event:
            details = event["longlm"]
    connection.close()
    return first, details


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/longlm-dist")
    parser.add_argument("--model", default="models/gemma-3-270m-q4_k_m.gguf")
    parser.add_argument("--tokens", type=int, default=32000)
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--text", default="data/kjv.txt")
    args = parser.parse_args()
    text = open(args.text, encoding="utf-8").read()[: args.tokens * 8]
    process, port = start(args.binary, args.model, args.ranks, [])
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
        connection.request("POST", "/tokenize", body=json.dumps({"content": text, "add_special": True}))
        ids = json.loads(connection.getresponse().read())["tokens"][: args.tokens]
        connection.close()
        question = lambda q: json.loads(http_post(port, "/tokenize", {"content": q}))["tokens"]
        q1 = question("\n\nQuestion: Who built the ark? Answer:")
        q2 = question("\n\nQuestion: Who led the people out of Egypt? Answer:")
        for label, prompt in [("first question", ids + q1), ("second question, prefix cache", ids + q2)]:
            seconds, details = first_token_seconds(port, prompt)
            print(json.dumps({"request": label, "prompt_tokens": len(prompt), "ranks": args.ranks, "ttft_seconds": round(seconds, 2),
                              "reused_prompt_tokens": details["reused_prompt_tokens"], "method": details["method"]}), flush=True)
    finally:
        process.terminate()
        process.wait(120)
    process, port = start(args.binary, args.model, args.ranks, ["--no-prefix-cache"])
    try:
        seconds, details = first_token_seconds(port, ids + q2)
        print(json.dumps({"request": "second question, --no-prefix-cache", "prompt_tokens": len(ids + q2), "ranks": args.ranks,
                          "ttft_seconds": round(seconds, 2), "reused_prompt_tokens": details["reused_prompt_tokens"],
                          "method": details["method"]}), flush=True)
    finally:
        process.terminate()
        process.wait(120)


def http_post(port, path, body):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.request("POST", path, body=json.dumps(body))
    data = connection.getresponse().read()
    connection.close()
    return data


if __name__ == "__main__":
    main()
