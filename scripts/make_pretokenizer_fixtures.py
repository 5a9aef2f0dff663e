#!/usr/bin/env python3
"""Writes the pre-tokenizer golden files in Tests/Fixtures/pretokenizers/.

1. Two tiny vocab-only GGUFs whose merges are learned here from a small text (the fixture strings plus a passage):
   - byte-level.gguf: GPT-2 byte-level BPE (the 256 byte characters, then one token per merge), the vocabulary
     shape of almost every `tokenizer.ggml.pre` name;
   - raw-utf8.gguf: BPE over raw UTF-8 characters with spaces written as U+2581 and <0xXX> byte tokens, the
     shape llama.cpp expects for the names it tokenizes without the byte-level alphabet (gemma4,
     granite-embed-multi-311m, sarvam-moe, whitespace).
   Neither sets BOS/EOS ids or add_bos, so llama.cpp's per-name defaults apply.
2. For every pre-tokenizer name llama.cpp's vocabulary code accepts (PRE_TOKENIZER_NAMES), a copy of the right
   GGUF with `tokenizer.ggml.pre` set to that name is written to a temporary directory and loaded by llama.cpp
   (llama-cpp-python, vocab_only). ids.json records, per name and string, the token ids of
   Llama.tokenize(text, add_bos=True, special=False) and, where it differs from the input, the text of
   llama_detokenize(remove_special=False, unparse_special=False). The copies differ from the committed GGUF only
   in that one key, so the tests apply the name to the committed file's metadata instead of storing 91 files.
3. smollm2-llamacpp.json: llama.cpp's ids for the same strings and for a slice of data/kjv.txt (about 3,000
   tokens, the text stored with it) on models/SmolLM2-135M-Instruct.Q4_1.gguf, plus its detokenized text.

Usage: python3 scripts/make_pretokenizer_fixtures.py   (after scripts/setup.sh has fetched the model and text)
Needs: llama-cpp-python, gguf, numpy.
"""
import collections
import importlib.metadata
import json
import os
import re
import tempfile

import gguf
import llama_cpp
from llama_cpp import Llama

from make_tokenizer_fixtures import C_CODE, PASSAGE, PYTHON_CODE, llama_ids_and_text, sha256, write_vocab_gguf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "pretokenizers")
SCRIPT = "scripts/make_pretokenizer_fixtures.py"
SMOLLM2 = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")
KJV = os.path.join(ROOT, "data", "kjv.txt")

# Every name llama.cpp's vocabulary loader maps to a pre-tokenizer type (llama-cpp-python 0.3.36's copy), in the
# order it tests them.
PRE_TOKENIZER_NAMES = [
    "default", "minicpm5", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2",
    "jina-v5-nano", "deepseek-llm", "deepseek-coder", "deepseek-v3", "spark2_5", "youtu", "falcon", "mpt",
    "starcoder", "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
    "modern-bert", "jais-2", "gemma4", "granite-embed-multi-311m", "sarvam-moe", "jina-v1-en", "jina-v2-code",
    "roberta-bpe", "whitespace", "refact", "command-r", "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "qwen35",
    "stablelm2", "olmo", "dbrx", "smaug-bpe", "poro-chat", "chatglm-bpe", "glm4", "glm5", "viking", "jais", "tekken",
    "smollm", "codeshell", "bloom", "gpt3-finnish", "exaone", "exaone4", "exaone-moe", "chameleon", "minerva-7b",
    "megrez", "gpt-4o", "llama4", "kanana2", "talkie", "granite-embed-multi-97m", "tiny_aya", "cohere2moe",
    "superbpe", "trillion", "granite-docling", "bailingmoe", "bailingmoe2", "llada-moe", "seed-coder", "hunyuan",
    "hunyuan-dense", "hy_v4", "joyai-llm", "kimi-k2", "ufakzeka", "grok-2", "afmoe", "laguna", "minimax-m2",
    "solar-open", "mellum2",
]
MERGES = 3000
RAW_UTF8_NAMES = {"gemma4", "granite-embed-multi-311m", "sarvam-moe", "whitespace"}

NUMBERS = " ".join("1234567890"[:n] for n in range(1, 11)) + " 12345678901234567890 0 007"

# Each string aims at a rule some pre-tokenizer has: digit grouping, contractions in either case, letter-case
# splits, whitespace runs before words and newlines, scripts with and without spaces, marks, symbol runs.
STRINGS = [
    "",
    "Hello world",
    "Hello, world! The quick brown fox jumps over the lazy dog.",
    "I'm sure they'll say it's fine, isn't it? We've done what we'd planned.",
    "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'VE 'M 'LL 'D 'Ll 'rE",
    "DON'T YOU'LL HE'S I'M WE'RE THEY'VE SHE'D rock'n'roll o'clock",
    "we'llbe don'tcha it'sokay I'Mhere 'sdf 'tis x'd'd",
    "ALL CAPS SHOUTING AND MiXeD CaSe camelCaseWord HTTPServer getHTTPResponseCode",
    NUMBERS,
    "3.14159 2.71828 -42 +7 1e10 0x1F 1,000,000 42% abc123def 4567xyz v2.0.1",
    "\u0663\u0664\u0665 \u0661\u0662\u0663\u0664 \u00b2\u00b3 \u00bd \u216b \u2460\u2461\u2462 \uff11\uff12\uff13\uff14",
    "a  b   c    d     e" + " " * 12 + "f",
    " leading space",
    "trailing space ",
    "   ",
    "\n",
    "line one\nline two\n\n\nline five\n",
    "\tindented\n\t\tdouble\ta\t\tb",
    "windows\r\nline\r\nendings\r\n\r\n",
    "Done.\nNext!\n\nEnd?\r\n(x):\n\ty;\n",
    " \n \t\n  \n   x\n\n  y",
    "non\u00a0breaking\u2003em\u3000ideographic\u2028line\u0085next",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3067\u3059\u3002\u30ab\u30bf\u30ab\u30ca\u3068\u3072\u3089\u304c\u306a\u3002",
    "\u4e2d\u6587\u6587\u672c\u6d4b\u8bd5\uff0c\u5305\u62ec\u6807\u70b9\u7b26\u53f7\u3002 \u4e2d\u6587ABC\u6df7\u5408123",
    "\ud55c\uad6d\uc5b4 \ubb38\uc7a5\uc785\ub2c8\ub2e4.",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645\u060c \u0643\u064a\u0641 \u062d\u0627\u0644\u0643\u061f",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e\u0964 \u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "\u05e9\u05dc\u05d5\u05dd \u05e2\u05d5\u05dc\u05dd \u0395\u03bb\u03bb\u03b7\u03bd\u03b9\u03ba\u03ac "
    "\u041a\u0438\u0440\u0438\u043b\u043b\u0438\u0446\u0430",
    "\U0001F600 \U0001F602 \U0001F44D\U0001F3FD family: \U0001F468\u200d\U0001F469\u200d\U0001F467, "
    "flag: \U0001F1EB\U0001F1F7, heart: \u2764\ufe0f",
    "caf\u00e9 \u00fcber ni\u00f1o na\u00efve r\u00e9sum\u00e9 fa\u00e7ade \u00c6r\u00f8sk\u00f8bing Stra\u00dfe "
    "\u00c4pfel\u00d6l",
    "e\u0301 (decomposed) vs \u00e9 (precomposed) a\u0308\u0323 stacked",
    PYTHON_CODE,
    C_CODE,
    "http://example.com/path?query=1&x=y#frag email@example.com @mention #hashtag",
    "Wait... what?!?! (really) [yes] {no} <maybe> --flag ==> !== ***",
    "\u2014\u2013 \u201cquoted\u201d \u2018single\u2019 \u00abguillemets\u00bb \u2026 \u00a7\u00b6 \u2122\u00ae",
    "$100 + 20% = \u20ac120 ~ ^_^ | `code` \\ / \u00a3\u00a5",
    "a.b,c!d?e\u2026f\u3002g\uff0ch\u3001i\u0964j\u06d4k\u060cl (m|n)",
    "<sentinel:12> IMGIMGABCZ IMGIMGZ <sentinel:x>",
    "\u2581 a literal lower one eighth block \u2581\u2581",
    "Mixed: English, \u0420\u0443\u0441\u0441\u043a\u0438\u0439, \u0627\u0644\u0639\u0631\u0628\u064a\u0629, "
    "\u0939\u093f\u0928\u094d\u0926\u0940, \u65e5\u672c\u8a9e.",
    "\U0001D518\U0001D52B\U0001D526\U0001D520\U0001D52C\U0001D521\U0001D522 \U0001D55E\U0001D552\U0001D565\U0001D559"
    " \u01c5 \u02b0 \u3005",
    PASSAGE[:400],
]


def bytes_to_unicode():
    """GPT-2's printable stand-in character for each byte (the alphabet of byte-level BPE vocabularies)."""
    kept = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = {}
    extra = 0
    for b in range(256):
        if b in kept:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def learn_merges(words, count):
    """Plain BPE training: repeatedly merge the most frequent adjacent pair (ties: the smaller pair), as long as
    some pair occurs."""
    vocab = collections.Counter(tuple(w) for w in words if w)
    merges = []
    for _ in range(count):
        pairs = collections.Counter()
        for word, n in vocab.items():
            for a, b in zip(word, word[1:]):
                pairs[(a, b)] += n
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        merged = collections.Counter()
        for word, n in vocab.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        vocab = merged
    return merges


def training_words():
    """Words for learning merges: each fixture string whole, plus its words under a GPT-2-like split. Whole strings
    give merges across every boundary some pre-tokenizer might cut, so a different cut gives different ids."""
    split = re.compile(r"'[A-Za-z]+| ?[^\W\d_]+| ?\d{1,3}| ?[^\s\w]+|\s+")
    words = []
    for text in STRINGS + [PASSAGE]:
        words.append(text)
        words.extend(split.findall(text))
    return words


def byte_level_vocabulary():
    alphabet = bytes_to_unicode()
    words = ["".join(alphabet[b] for b in w.encode("utf-8")) for w in training_words()]
    merges = learn_merges(words, MERGES)
    tokens = [alphabet[b] for b in range(256)]
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
    types = [gguf.TokenType.NORMAL] * len(tokens)
    return tokens, types, [f"{a} {b}" for a, b in merges]


def raw_utf8_vocabulary():
    words = [w.replace(" ", "\u2581") for w in training_words()]
    merges = learn_merges(words, MERGES)
    tokens = [f"<0x{b:02X}>" for b in range(256)]
    types = [gguf.TokenType.BYTE] * 256
    for ch in sorted(set("".join(words))):
        tokens.append(ch)
        types.append(gguf.TokenType.NORMAL)
    for a, b in merges:
        if a + b not in tokens:
            tokens.append(a + b)
            types.append(gguf.TokenType.NORMAL)
    return tokens, types, [f"{a} {b}" for a, b in merges]


def write_json(path, obj, indent=None):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, indent=indent, separators=(",", ":") if indent is None else None)
        f.write("\n")
    print("wrote", os.path.relpath(path, ROOT), os.path.getsize(path), "bytes")


def pre_tokenizer_ids(vocabularies):
    """llama.cpp's ids for every name, grouped: names whose ids and detokenized texts agree on every string share
    one entry."""
    groups = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in PRE_TOKENIZER_NAMES:
            kind = "raw-utf8" if name in RAW_UTF8_NAMES else "byte-level"
            tokens, types, merges = vocabularies[kind]
            path = os.path.join(tmp, name + ".gguf")
            # llama.cpp's converter pairs the "whitespace" pre-tokenizer with the "whitespace" tokenizer model.
            model = "whitespace" if name == "whitespace" else "gpt2"
            write_vocab_gguf(path, name, tokens, types, merges, model=model)
            llm = Llama(model_path=path, vocab_only=True, verbose=False)
            ids, decoded = [], {}
            for i, text in enumerate(STRINGS):
                t_ids, t_text = llama_ids_and_text(llm, text)
                ids.append(t_ids)
                if t_text != text:
                    decoded[str(i)] = t_text
            del llm
            key = json.dumps([kind, model, ids, decoded])
            groups.setdefault(key, {"names": [], "vocabulary": kind + ".gguf", "tokenizer_model": model, "ids": ids,
                                    "decoded_where_different": decoded})["names"].append(name)
    return list(groups.values())


def kjv_slice(target_tokens, llm):
    """A slice of data/kjv.txt from a fixed offset, cut at a line end near `target_tokens` tokens."""
    with open(KJV, encoding="utf-8") as f:
        text = f.read()
    start = text.index("\n", 200_000) + 1
    end = start
    while len(llm.tokenize(text[start:end].encode("utf-8"), add_bos=False, special=False)) < target_tokens:
        end = text.index("\n", end + 2000) + 1
    return text[start:end]


def smollm2():
    llm = Llama(model_path=SMOLLM2, vocab_only=True, verbose=False)
    cases = []
    for text in STRINGS + [kjv_slice(3000, llm)]:
        ids, decoded = llama_ids_and_text(llm, text)
        cases.append({"text": text, "ids": ids, "decoded": decoded})
    print(f"smollm2: kjv slice is {len(cases[-1]['ids'])} tokens")
    return {
        "source": {"script": SCRIPT, "llama_cpp_python": llama_cpp.__version__,
                   "model": os.path.basename(SMOLLM2), "model_sha256": sha256(SMOLLM2),
                   "text": "the pre-tokenizer strings, then a slice of data/kjv.txt",
                   "call": "Llama.tokenize(text, add_bos=True, special=False); "
                           "llama_detokenize(remove_special=False, unparse_special=False)"},
        "cases": cases,
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    vocabularies = {"byte-level": byte_level_vocabulary(), "raw-utf8": raw_utf8_vocabulary()}
    hashes = {}
    for kind, (tokens, types, merges) in vocabularies.items():
        path = os.path.join(OUT, kind + ".gguf")
        write_vocab_gguf(path, "default", tokens, types, merges)
        hashes[kind + ".gguf"] = sha256(path)
        print(f"{kind}: {len(tokens)} tokens, {len(merges)} merges, {os.path.getsize(path)} bytes")
    groups = pre_tokenizer_ids(vocabularies)
    write_json(os.path.join(OUT, "ids.json"), {
        "source": {"script": SCRIPT, "llama_cpp_python": llama_cpp.__version__, "gguf": importlib.metadata.version("gguf"),
                   "vocabularies_sha256": hashes,
                   "call": "Llama(vocab_only=True) on the vocabulary with tokenizer.ggml.pre = name; "
                           "Llama.tokenize(text, add_bos=True, special=False); "
                           "llama_detokenize(remove_special=False, unparse_special=False)"},
        "strings": STRINGS,
        "groups": groups,
    })
    print(f"{sum(len(g['names']) for g in groups)} names in {len(groups)} groups:")
    for g in groups:
        print("  ", " ".join(g["names"]))
    write_json(os.path.join(OUT, "smollm2-llamacpp.json"), smollm2(), indent=0)


if __name__ == "__main__":
    main()
