#!/usr/bin/env python3
"""Writes the fuzz seed corpora in Fuzz/corpus/TARGET/ (small valid inputs the fuzzer mutates).

Run from anywhere: python3 Fuzz/make_seeds.py. Standard library only; the output is deterministic, so rerunning
it changes nothing unless this script changed. GGUF layout as in Sources/LongLMModels/Formats/GGUFFile.swift.
"""
import json, os, shutil, struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
FIXTURES = os.path.join(HERE, "..", "Tests", "Fixtures")


def write(target, name, data):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- GGUF ---------------------------------------------------------------------------------------------------
U32, I32, F32, BOOL, STRING, ARRAY, U64 = 4, 5, 6, 7, 8, 9, 10


def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gvalue(kind, v):
    if kind == U32: return struct.pack("<I", v)
    if kind == I32: return struct.pack("<i", v)
    if kind == F32: return struct.pack("<f", v)
    if kind == BOOL: return struct.pack("<B", v)
    if kind == STRING: return gstr(v)
    if kind == U64: return struct.pack("<Q", v)
    raise ValueError(kind)


def garray(kind, values):
    return struct.pack("<IQ", kind, len(values)) + b"".join(gvalue(kind, v) for v in values)


def gguf(metadata, tensors, alignment=32):
    """metadata: [(key, kind, value)]; tensors: [(name, shape ne[0] first)] stored as F32 counting up."""
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata))
    for key, kind, value in metadata:
        out += gstr(key) + struct.pack("<I", kind)
        out += garray(value[0], value[1]) if kind == ARRAY else gvalue(kind, value)
    offset, blobs = 0, []
    for name, shape in tensors:
        n = 1
        for d in shape: n *= d
        out += gstr(name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        out += struct.pack("<IQ", 0, offset)
        blob = b"".join(struct.pack("<f", (i % 7) * 0.125 - 0.375) for i in range(n))
        blobs.append((offset, blob))
        offset = (offset + len(blob) + alignment - 1) // alignment * alignment
    out += b"\0" * (-len(out) % alignment)
    start = len(out)
    for off, blob in blobs:
        out += b"\0" * (start + off - len(out)) + blob
    return out


def llama_tensors(hidden, heads, kv, head_dim, ffn, vocab, layers, qk_norm=False):
    t = [("token_embd.weight", [hidden, vocab]), ("output_norm.weight", [hidden])]
    for l in range(layers):
        b = f"blk.{l}."
        t += [(b + "attn_norm.weight", [hidden]), (b + "attn_q.weight", [hidden, heads * head_dim]),
              (b + "attn_k.weight", [hidden, kv * head_dim]), (b + "attn_v.weight", [hidden, kv * head_dim]),
              (b + "attn_output.weight", [heads * head_dim, hidden]), (b + "ffn_norm.weight", [hidden]),
              (b + "ffn_gate.weight", [hidden, ffn]), (b + "ffn_up.weight", [hidden, ffn]),
              (b + "ffn_down.weight", [ffn, hidden])]
        if qk_norm:
            t += [(b + "attn_q_norm.weight", [head_dim]), (b + "attn_k_norm.weight", [head_dim]),
                  (b + "post_attention_norm.weight", [hidden]), (b + "post_ffw_norm.weight", [hidden])]
    return t


bpe_tokens = ["!", "a", "b", "c", "Ġ", "ab", "Ġa", "<|end|>", "<b>"]
bpe_meta = [("tokenizer.ggml.model", STRING, "gpt2"), ("tokenizer.ggml.pre", STRING, "llama-bpe"),
            ("tokenizer.ggml.tokens", ARRAY, (STRING, bpe_tokens)),
            ("tokenizer.ggml.token_type", ARRAY, (I32, [1, 1, 1, 1, 1, 1, 1, 3, 4])),
            ("tokenizer.ggml.merges", ARRAY, (STRING, ["a b", "Ġ a"])),
            ("tokenizer.ggml.bos_token_id", U32, 0), ("tokenizer.ggml.eos_token_id", U32, 7),
            ("tokenizer.ggml.add_bos_token", BOOL, 1)]
llama_meta = [("general.architecture", STRING, "llama"), ("general.alignment", U32, 32),
              ("llama.block_count", U32, 1), ("llama.embedding_length", U32, 4), ("llama.attention.head_count", U32, 2),
              ("llama.attention.head_count_kv", U32, 1), ("llama.feed_forward_length", U32, 8),
              ("llama.context_length", U32, 64), ("llama.attention.layer_norm_rms_epsilon", F32, 1e-5),
              ("llama.rope.freq_base", F32, 10000.0), ("llama.rope.dimension_count", U32, 2)]
write("gguf", "llama-bpe.gguf", gguf(llama_meta + bpe_meta, llama_tensors(4, 2, 1, 2, 8, len(bpe_tokens), 1)))

spm_tokens = ["<unk>", "<s>", "</s>", "\u2581", "\u2581a", "a", "b", "<0x41>", "<end_of_turn>"]
spm_meta = [("tokenizer.ggml.model", STRING, "llama"), ("tokenizer.ggml.tokens", ARRAY, (STRING, spm_tokens)),
            ("tokenizer.ggml.scores", ARRAY, (F32, [0.0, 0.0, 0.0, -1.0, -2.0, -3.0, -4.0, 0.0, 0.0])),
            ("tokenizer.ggml.token_type", ARRAY, (I32, [2, 3, 3, 1, 1, 1, 1, 6, 4])),
            ("tokenizer.ggml.add_space_prefix", BOOL, 1)]
gemma_meta = [("general.architecture", STRING, "gemma3")] + [
    ("gemma3." + k, U32, v) for k, v in [("block_count", 1), ("embedding_length", 4), ("attention.head_count", 1),
                                         ("attention.head_count_kv", 1), ("attention.key_length", 4),
                                         ("attention.value_length", 4), ("feed_forward_length", 8),
                                         ("context_length", 64), ("attention.sliding_window", 8),
                                         ("attention.sliding_window_pattern", 6)]] + [
    ("gemma3.attention.layer_norm_rms_epsilon", F32, 1e-6), ("gemma3.rope.freq_base", F32, 1e6),
    ("gemma3.rope.scaling.type", STRING, "linear"), ("gemma3.rope.scaling.factor", F32, 8.0)]
write("gguf", "gemma3-spm.gguf", gguf(gemma_meta + spm_meta, llama_tensors(4, 1, 1, 4, 8, len(spm_tokens), 1, qk_norm=True)))

# --- safetensors --------------------------------------------------------------------------------------------
def safetensors(tensors):
    header, data = {"__metadata__": {"format": "pt"}}, b""
    for name, dtype, shape, blob in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


write("safetensors", "three-dtypes.safetensors", safetensors([
    ("w.f32", "F32", [2, 2], struct.pack("<4f", 1, -2, 0.5, 3)),
    ("w.bf16", "BF16", [3], bytes.fromhex("803f0040c0bf")),
    ("w.f16", "F16", [2, 1], bytes.fromhex("003c00c0")),
    ("empty", "F32", [0, 4], b""),
]))

# --- config.json: the committed tiny checkpoints' configs -------------------------------------------------------
for name in ["llama-mha", "llama-gqa-tied-bf16", "mistral-window", "qwen2-bias-f16", "llama-rope-yarn",
             "llama-rope-llama3", "llama-rope-dynamic", "llama-rope-linear"]:
    shutil.copyfile(os.path.join(FIXTURES, "hf-tiny", name, "config.json"), os.path.join(CORPUS, "config", name + ".json"))

# --- tokenizer.json -----------------------------------------------------------------------------------------
def byte_alphabet():
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars, n = {}, 0
    for b in range(256):
        if b in keep: chars[b] = chr(b)
        else: chars[b] = chr(256 + n); n += 1
    return [chars[b] for b in range(256)]


alphabet = byte_alphabet()
vocab = {c: i for i, c in enumerate(alphabet)}
merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a")]
for left, right in merges: vocab[left + right] = len(vocab)
added = [{"id": len(vocab), "content": "<|end|>", "special": True},
         {"id": len(vocab) + 1, "content": "<tool>", "special": False, "lstrip": True, "rstrip": False}]
gpt2 = {"version": "1.0", "added_tokens": added, "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True},
        "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<|end|>", "type_id": 0}},
                                                                  {"Sequence": {"id": "A", "type_id": 0}}],
                           "special_tokens": {"<|end|>": {"id": "<|end|>", "ids": [len(vocab)], "tokens": ["<|end|>"]}}},
        "decoder": {"type": "ByteLevel"},
        "model": {"type": "BPE", "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges], "byte_fallback": False,
                  "ignore_merges": False}}
write("tokenizer", "bytelevel-template.json", json.dumps(gpt2, ensure_ascii=False))
split = dict(gpt2)
split["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"},
     "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "use_regex": False}]}
split["normalizer"] = {"type": "NFC"}
split["post_processor"] = {"type": "RobertaProcessing", "sep": ["<|end|>", len(vocab)], "cls": ["<|end|>", len(vocab)]}
split["model"] = dict(gpt2["model"], merges=[[a, b] for a, b in merges], unk_token="<|end|>", byte_fallback=True)
write("tokenizer", "split-regex-pairs.json", json.dumps(split, ensure_ascii=False))

# --- pre-tokenizer text -------------------------------------------------------------------------------------
texts = {
    "english.txt": "Hello world! It's a test: they'll see we're 100% done, isn't it?\n",
    "whitespace.txt": "a  b\t\tc\r\n\r\n  d \u000b\u0085\u00a0e\u3000f   ",
    "digits.txt": "1234567 3.14159 0x1F 1,000,000 ٣٤٥ ½",
    "mixed-scripts.txt": "Grüße, Καλημέρα, こんにちは世界, 안녕하세요, مرحبا, 👋🏽 family: 👨‍👩‍👧",
    "specials.txt": "<b>bold</b> <lstrip>  x <b><b>  ▁a ab",
    "combining.txt": "e\u0301e\u0301\u0301 Z\u0351\u0352a\u0353l\u0354g\u0355o",
}
for name, text in texts.items(): write("pretokenizer", name, text)

# --- batch job lines ----------------------------------------------------------------------------------------
jobs = {
    "document.jsonl": {"id": "a1", "document": "The pass key is 12345.", "prompt": "Summarise: {document}", "max_new_tokens": 64},
    "options-object.jsonl": {"id": "b2", "document": "x", "options": {"method": "selfextend", "group_size": 8, "greedy": True}},
    "options-string.jsonl": {"id": "c3", "document": "y", "options": "--method dca --chunk-size 1024"},
    "document-path.jsonl": {"id": "d4", "document_path": "doc.txt"},
}
for name, job in jobs.items(): write("batchjob", name, json.dumps(job) + "\n")
