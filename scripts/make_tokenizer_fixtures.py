#!/usr/bin/env python3
"""Writes the tokenizer golden files in Tests/Fixtures/tokenizer/.

1. gemma3-llamacpp.json: llama.cpp's token ids (via llama-cpp-python, vocab only, add_bos=True, special=False) and
   llama_detokenize(remove_special=False, unparse_special=False) text for a varied set of strings, using the Gemma 3
   GGUF in models/.
2. Three tiny byte-level BPE tokenizers trained here with the `tokenizers` library (Llama 3's split regex; Qwen 2's
   split regex with its NFC normalizer; GPT-2's ByteLevel regex), each saved as tokenizer.json and converted to a
   vocab-only GGUF the way convert_hf_to_gguf.py does. bpe-<name>.json records, per string, the ids from `tokenizers` (special tokens in the
   text not parsed) and from llama.cpp on the GGUF.

Usage: python3 scripts/make_tokenizer_fixtures.py [path/to/gemma-3-270m.gguf]
Needs: llama-cpp-python, gguf, tokenizers, numpy.
"""
import ctypes
import hashlib
import json
import os
import sys

import gguf
import llama_cpp
import tokenizers
from llama_cpp import Llama
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "tokenizer")
SCRIPT = "scripts/make_tokenizer_fixtures.py"

PYTHON_CODE = '''def fibonacci(n):
    """Return the n-th Fibonacci number."""
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


class Stack:
    def __init__(self):
        self.items = []

    def push(self, item):
        if item is not None:
            self.items.append(item)
'''

C_CODE = '''#include <stdio.h>

int main(int argc, char **argv) {
\tfor (int i = 0; i < argc; ++i) {
\t\tprintf("%d: %s\\n", i, argv[i]);
\t}
\treturn 0;
}
'''

PASSAGE = ("In the beginning the Universe was created. This has made a lot of people very angry and been widely "
           "regarded as a bad move. Many were increasingly of the opinion that they'd all made a big mistake in "
           "coming down from the trees in the first place. ")

STRINGS = [
    "",
    "Hello world",
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    " leading space",
    "  two leading spaces",
    "trailing space ",
    "I'm sure they'll say it's fine, isn't it? We've done what we'd planned.",
    *["a" + " " * n + "b" for n in range(2, 11)],
    "x" + " " * 31 + "y",
    "x" + " " * 32 + "y",
    "x" + " " * 45 + "y",
    " " * 7,
    "\n",
    "line one\nline two",
    "\n\n\n",
    "a\n\n\nb",
    "para\n\n\n\n\n\nnext",
    "\tindented with a tab",
    "a\t\tb\t\t\tc",
    "windows\r\nline\r\nendings\r\n",
    " \n \t\n  \n",
    "0123456789",
    "3.14159 2.71828",
    "12345678901234567890",
    "1,000,000 and 42%",
    "café über niño",
    "naïve résumé façade Ærøskøbing",
    "e\u0301 (decomposed) vs \u00e9 (precomposed)",
    "日本語のテキストです。",
    "中文文本测试，包括标点符号。",
    "한국어 문장입니다.",
    "😀 😂 👍🏽",
    "family: 👨‍👩‍👧‍👦, flag: 🇫🇷, heart: ❤️",
    PYTHON_CODE,
    C_CODE,
    (PASSAGE * 12)[:2000],
    "<start_of_turn>user\nHello there<end_of_turn>\n<start_of_turn>model\n",
    "text with <start_of_turn> written literally",
    "مرحبا بالعالم",
    "नमस्ते दुनिया",
    "Привет, мир! Как дела?",
    "Mixed: English, Русский, العربية, हिन्दी, 日本語.",
    "<0x41>",
    "<0x0A> and <0xFF>",
    "</s>",
    "a</s>b",
    "<bos><eos><unk><pad><mask>",
    "[multimodal]",
    "<div><ul><li>item</li></ul></div>",
    "<unused0>",
    "\u2581 a literal lower one eighth block \u2581\u2581",
    "non\u00a0breaking and zero\u200bwidth",
    "nul\u0000byte and bell\u0007",
    "private use \ue000 and \U0010fffd",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙",
    "ALL CAPS SHOUTING AND MiXeD CaSe",
    "http://example.com/path?query=1&x=y#frag",
    "email@example.com, @mention #hashtag",
    "'s 't 're 've 'm 'll 'd 'S 'T",
]

SPECIAL_MARKERS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"]
USER_MARKERS = ["<tag>", "</tag>"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def llama_ids_and_text(llm, text):
    ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)
    arr = (llama_cpp.llama_token * max(len(ids), 1))(*ids)
    size = 16 * len(text.encode("utf-8")) + 64
    buf = ctypes.create_string_buffer(size)
    n = llama_cpp.llama_detokenize(llm._model.vocab, arr, len(ids), buf, size, False, False)
    if n < 0:  # the buffer was too small; -n is the size needed
        size = -n
        buf = ctypes.create_string_buffer(size)
        n = llama_cpp.llama_detokenize(llm._model.vocab, arr, len(ids), buf, size, False, False)
    assert 0 <= n <= size, n
    return ids, buf.raw[:n].decode("utf-8", errors="replace")


def write_json(name, obj):
    path = os.path.join(OUT, name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote", os.path.relpath(path, ROOT), os.path.getsize(path), "bytes")


def gemma(model_path):
    llm = Llama(model_path=model_path, vocab_only=True, verbose=False)
    cases = []
    for text in STRINGS:
        ids, decoded = llama_ids_and_text(llm, text)
        cases.append({"text": text, "ids": ids, "decoded": decoded})
    write_json("gemma3-llamacpp.json", {
        "source": {"script": SCRIPT, "llama_cpp_python": llama_cpp.__version__,
                   "model": os.path.basename(model_path), "model_sha256": sha256(model_path),
                   "call": "Llama.tokenize(text, add_bos=True, special=False); "
                           "llama_detokenize(remove_special=False, unparse_special=False)"},
        "cases": cases,
    })


LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


QWEN2_SPLIT = LLAMA3_SPLIT.replace(r"\p{N}{1,3}", r"\p{N}")


def train_bpe(style):
    tok = Tokenizer(models.BPE())
    if style in ("llama3", "qwen2"):
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3_SPLIT if style == "llama3" else QWEN2_SPLIT),
                                 behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ])
        if style == "qwen2":
            tok.normalizer = normalizers.NFC()  # as Qwen 2's tokenizer.json; llama.cpp does not normalize
    else:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=900, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  special_tokens=SPECIAL_MARKERS)
    corpus = [PASSAGE * 3, PYTHON_CODE, C_CODE] + [s for s in STRINGS if s] * 2
    tok.train_from_iterator(corpus, trainer=trainer)
    tok.add_tokens([tokenizers.AddedToken(t, special=False, normalized=False) for t in USER_MARKERS])
    if style == "llama3":
        bos = tok.token_to_id("<|begin_of_text|>")
        tok.post_processor = processors.TemplateProcessing(
            single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", bos)])
    return tok


def to_gguf(tok, path, pre):
    """A vocab-only GGUF as convert_hf_to_gguf.py writes a gpt2-style vocabulary (plus the llama hparams that
    llama.cpp needs to open the file)."""
    spec = json.loads(tok.to_str())
    vocab = spec["model"]["vocab"]
    added = {t["id"]: t for t in spec["added_tokens"]}
    n = max(list(vocab.values()) + list(added)) + 1
    tokens = [f"[PAD{i}]" for i in range(n)]
    types = [gguf.TokenType.UNUSED] * n
    for text, i in vocab.items():
        tokens[i] = text
        types[i] = gguf.TokenType.NORMAL
    for i, t in added.items():
        tokens[i] = t["content"]
        types[i] = gguf.TokenType.CONTROL if t["special"] else gguf.TokenType.USER_DEFINED
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]
    write_vocab_gguf(path, pre, tokens, types, merges, bos=tok.token_to_id("<|begin_of_text|>"),
                     eos=tok.token_to_id("<|end_of_text|>"), add_bos=pre == "llama-bpe")


def write_vocab_gguf(path, pre, tokens, types, merges, bos=None, eos=None, add_bos=None, model="gpt2"):
    """A vocab-only BPE GGUF (tokenizer model `model`) with the llama hparams llama.cpp needs to open it; BOS/EOS ids and add_bos are
    written only when given, so that llama.cpp's defaults for the pre-tokenizer apply otherwise."""
    w = gguf.GGUFWriter(path, "llama")
    w.add_context_length(128)
    w.add_embedding_length(8)
    w.add_block_count(1)
    w.add_feed_forward_length(16)
    w.add_head_count(1)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model(model)
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    if bos is not None:
        w.add_bos_token_id(bos)
    if eos is not None:
        w.add_eos_token_id(eos)
    if add_bos is not None:
        w.add_add_bos_token(add_bos)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def bpe(style, pre):
    name = f"tiny-bpe-{style}"
    tok = train_bpe(style)
    os.makedirs(os.path.join(OUT, name), exist_ok=True)
    json_path = os.path.join(OUT, name, "tokenizer.json")
    tok.save(json_path)
    gguf_path = os.path.join(OUT, name + ".gguf")
    to_gguf(tok, gguf_path, pre)
    llm = Llama(model_path=gguf_path, vocab_only=True, verbose=False)
    tok.encode_special_tokens = True  # special tokens in the text are plain text, like parse_special=false
    cases = []
    extra = ["<tag>x</tag> and <|eot_id|> literally", "a<tag>b<tag>c"]
    for text in STRINGS + extra:
        enc = tok.encode(text, add_special_tokens=True)
        ids, decoded = llama_ids_and_text(llm, text)
        cases.append({"text": text, "hf_ids": enc.ids, "llamacpp_ids": ids, "llamacpp_decoded": decoded})
    write_json(f"{name}.json", {
        "source": {"script": SCRIPT, "tokenizers": tokenizers.__version__,
                   "llama_cpp_python": llama_cpp.__version__, "gguf_pre": pre,
                   "tokenizer_json_sha256": sha256(json_path), "gguf_sha256": sha256(gguf_path),
                   "call": "tokenizers: encode(text, add_special_tokens=True) with encode_special_tokens=True; "
                           "llama.cpp: tokenize(add_bos=True, special=False), llama_detokenize(False, False)"},
        "cases": cases,
    })
    mismatches = [c["text"] for c in cases if c["hf_ids"] != c["llamacpp_ids"]]
    print(f"{name}: {len(mismatches)} strings where tokenizers and llama.cpp differ: {mismatches!r}")


def main():
    model = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf")
    os.makedirs(OUT, exist_ok=True)
    gemma(model)
    bpe("llama3", "llama-bpe")
    bpe("qwen2", "qwen2")
    bpe("gpt2", "gpt-2")


if __name__ == "__main__":
    main()
