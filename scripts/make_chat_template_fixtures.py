#!/usr/bin/env python3
"""Writes the chat-template golden files in Tests/Fixtures/chat-templates/, all from llama.cpp itself.

1. conversations.json: a fixed set of conversations (system or not, multi-turn, odd white space and Unicode, a
   system message after the first turn, two system messages, with and without the generation prompt).
2. renderings.json: for every built-in template family llama.cpp names (`llama_chat_builtin_templates`), every
   conversation rendered by `llama_chat_apply_template(name, ...)` (llama-cpp-python's low-level binding).
3. templates.json: real chat templates and llama.cpp's family for each, as its own detection code
   (`llm_chat_detect_template`, exported by libllama.so) says: the SmolLM2 GGUF's `tokenizer.chat_template`, every
   published model template llama.cpp keeps in models/templates/, and every template of the cases of its
   tests/test-chat-template.cpp. A family none of these belongs to gets a minimal template written here (marked
   "minimal": a few lines of Jinja containing the markers llama.cpp looks for, not a published template); two
   families have no markers at all (llama.cpp reaches them by name only) and are listed with a null template.
   Each family's "representative" is its first template in that order.
4. tokens.json: llama.cpp's token ids for every conversation rendered in the family of each default model
   (Gemma 3 270M has no template in its file: its family, gemma, is given by name; SmolLM2 is detected as chatml),
   tokenized as llama.cpp tokenizes a chat prompt: `llama_tokenize(add_special=True, parse_special=True)`.

llama.cpp's detection function is C++ (`llm_chat_detect_template(const std::string &)`), so a five-line helper
calling it is compiled against the installed libllama.so and the header in the llama.cpp source that ships in the
llama-cpp-python source distribution (`pip download --no-binary :all: --no-deps llama-cpp-python==0.3.36`, then
unpack; the source is its vendor/llama.cpp).

Usage: python3 scripts/make_chat_template_fixtures.py LLAMA_CPP_SOURCE_DIR
Needs: llama-cpp-python 0.3.36, gguf, a C++ compiler, and the two default models (scripts/setup.sh).
"""
import ctypes
import glob
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile

import gguf
import llama_cpp
from llama_cpp import Llama

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "chat-templates")
SCRIPT = "scripts/make_chat_template_fixtures.py"
GEMMA = os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf")
SMOLLM2 = os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf")

CONVERSATIONS = [
    ("user-only", [("user", "What is the capital of France?")], True),
    ("system-and-user", [("system", "You are a helpful assistant."), ("user", "Hello")], True),
    ("multi-turn", [("system", "You are a helpful assistant"), ("user", "Hello"), ("assistant", "Hi there"),
                    ("user", "Who are you"), ("assistant", "   I am an assistant   "), ("user", "Another question")], True),
    ("multi-turn-without-system", [("user", "Hello"), ("assistant", "Hi there"), ("user", "Who are you")], True),
    ("without-generation-prompt", [("system", "Be brief."), ("user", "Hello"), ("assistant", "Hi.")], False),
    ("user-only-without-generation-prompt", [("user", "Hello")], False),
    ("white-space-and-unicode", [("system", "  Réponds en français.\n"),
                                 ("user", "\n  Qu'est-ce que «ceci» ? 日本語 ✓ \t")], True),
    ("system-after-first-turn", [("user", "Hello"), ("assistant", "Hi there"), ("system", "Now answer in one word."),
                                 ("user", "Colour of the sky?")], True),
    ("two-system-messages", [("system", "First rule."), ("system", "Second rule."), ("user", "Go")], True),
    ("ends-with-assistant", [("user", "Say yes"), ("assistant", "Yes")], True),
    ("empty-user", [("user", "")], True),
]

# Families none of the real templates belongs to: a minimal template with llama.cpp's markers for each. The script
# checks that llama.cpp detects each as its family.
MINIMAL = {
    "llama2-sys": "{% for message in messages %}{% if message['role'] == 'system' %}{{ '[INST] <<SYS>>\\n' + message['content'] + "
                  "'\\n<</SYS>>\\n\\n' }}{% elif message['role'] == 'user' %}{{ message['content'] + ' [/INST]' }}"
                  "{% else %}{{ message['content'] + eos_token + '[INST] ' }}{% endif %}{% endfor %}",
    "falcon3": "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '\\n' }}{% endfor %}"
               "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}{# <|user|> </s> #}",
    # llama.cpp tells Zephyr from GLM-Edge by the absence of a literal <|assistant|>.
    "zephyr": "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\n' }}{% else %}{{ '<|' + message['role'] + "
              "'|>\\n' }}{% endif %}{{ message['content'] + '<|endoftext|>\\n' }}{% endfor %}"
              "{% if add_generation_prompt %}{{ '<|' + 'assistant' + '|>\\n' }}{% endif %}",
    "exaone3": "{% for message in messages %}{{ '[|' + message['role'] + '|]' + message['content'] }}{% if message['role'] != 'user' %}"
               "{{ '[|endofturn|]' }}{% endif %}{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '[|assistant|]' }}{% endif %}"
               "{# [|system|] #}",
    "exaone4": "{% for message in messages %}{{ '[|' + message['role'] + '|]' + message['content'] }}{% if message['role'] != 'user' %}"
               "{{ '[|endofturn|]' }}{% endif %}{{ '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '[|assistant|]' }}{% endif %}"
               "{# [|system|] [|tool|] #}",
    "exaone-moe": "{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + message['content'] + '<|endofturn|>\\n' }}"
                  "{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}{# <|user|> <|tool_declare|> #}",
    "llama4": "{% for message in messages %}{{ '<|header_start|>' + message['role'] + '<|header_end|>\\n\\n' + message['content'] + "
              "'<|eot|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|header_start|>assistant<|header_end|>\\n\\n' }}{% endif %}",
    "smolvlm": "<|im_start|>{% for message in messages %}{{ message['role'] | capitalize + ': ' + message['content'] + "
               "'<end_of_utterance>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}",
    "hunyuan-moe": "{% for message in messages %}{% if message['role'] == 'assistant' %}{{ message['content'] + '<|eos|>' }}"
                   "{% else %}{{ '<|startoftext|>' + message['content'] + '<|extra_0|>' }}{% endif %}{% endfor %}{# <|extra_4|> #}",
    "hunyuan-dense": "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<｜hy_User｜>' + message['content'] + "
                     "'<｜hy_Assistant｜>' }}{% else %}{{ message['content'] + '<｜hy_place▁holder▁no▁2｜>' }}{% endif %}{% endfor %}"
                     "{# <｜hy_place▁holder▁no▁3｜> #}",
    "hunyuan-vl": "<｜hy_begin▁of▁sentence｜>{% for message in messages %}{% if message['role'] == 'user' %}{{ message['content'] + "
                  "'<｜hy_User｜>' }}{% else %}{{ message['content'] + '<｜hy_Assistant｜>' }}{% endif %}{% endfor %}",
    "grok-2": "{% for message in messages %}{% if message['role'] == 'user' %}{{ 'Human: ' + message['content'] + '<|separator|>\\n\\n' }}"
              "{% else %}{{ 'Assistant: '  + message['content'] + '<|separator|>\\n\\n' }}{% endif %}{% endfor %}"
              "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}",
    "pangu-embedded": "{% if messages[0]['role'] != 'system' %}{{ '[unused9]系统：[unused10]' }}{% endif %}{% for message in messages %}"
                      "{{ '[unused9]' + message['role'] + '：' + message['content'] + '[unused10]' }}{% endfor %}",
    "bailing-think": "{% for message in messages %}{% set role = message['role'] | upper %}{% if role == 'USER' %}{% set role = \"HUMAN\" %}"
                     "{% endif %}{{ '<role>' + role + '</role>' + message['content'] }}{% endfor %}"
                     "{% if add_generation_prompt %}{{ '<role>ASSISTANT</role><think>' }}{% endif %}",
}

# Families llama.cpp detects and renders but has no name for (its LLM_CHAT_TEMPLATE_DOTS1 is missing from the name
# table): named here after llama.cpp's enum, rendered through their template text.
UNNAMED = {
    "dots1": "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|userprompt|>' + message['content'] + "
             "'<|endofuserprompt|>' }}{% else %}{{ '<|response|>' + message['content'] + '<|endofresponse|>' }}{% endif %}{% endfor %}",
}

DETECT_HELPER = r'''
#include "llama-chat.h"
#include <iostream>
#include <iterator>
#include <string>
// Prints the family number llama.cpp's detection gives the template text on standard input.
int main() {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    std::cout << (int) llm_chat_detect_template(text) << std::endl;
}
'''


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def build_detector(source):
    libdir = os.path.join(os.path.dirname(llama_cpp.__file__), "lib")
    work = tempfile.mkdtemp(prefix="chat-detect-")
    cpp, exe = os.path.join(work, "detect.cpp"), os.path.join(work, "detect")
    with open(cpp, "w") as f:
        f.write(DETECT_HELPER)
    subprocess.run(["g++", "-std=c++17", "-O1", cpp, "-I", os.path.join(source, "src"), "-I", os.path.join(source, "include"),
                    "-L", libdir, "-lllama", "-Wl,-rpath," + libdir, "-o", exe], check=True)
    return lambda text: int(subprocess.run([exe], input=text.encode(), capture_output=True, check=True).stdout)


def builtin_names():
    n = llama_cpp.llama_chat_builtin_templates(None, 0)
    array = (ctypes.c_char_p * n)()
    llama_cpp.llama_chat_builtin_templates(array, n)
    return [array[i].decode() for i in range(n)]


def render(template, messages, add_generation_prompt):
    chat = (llama_cpp.llama_chat_message * len(messages))(
        *[llama_cpp.llama_chat_message(role.encode(), content.encode()) for role, content in messages])
    n = llama_cpp.llama_chat_apply_template(template.encode(), chat, len(messages), add_generation_prompt, None, 0)
    if n < 0:
        raise RuntimeError(f"llama.cpp cannot render {template[:40]!r}")
    buffer = ctypes.create_string_buffer(n + 1)
    llama_cpp.llama_chat_apply_template(template.encode(), chat, len(messages), add_generation_prompt, buffer, n + 1)
    return buffer.raw[:n].decode()


def c_string_literal(text, start):
    """The value of the C string literal whose opening quote is at text[start], and the index after it."""
    out, i = [], start + 1
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0"}
    while text[i] != '"':
        if text[i] == "\\":
            out.append(escapes[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out), i + 1


def test_case_templates(source):
    """(case name, template text) of every case in llama.cpp's tests/test-chat-template.cpp."""
    path = os.path.join(source, "tests", "test-chat-template.cpp")
    text = open(path, encoding="utf-8").read()
    cases = []
    for match in re.finditer(r'/\* \.name= \*/\s*"', text):
        name, after = c_string_literal(text, match.end() - 1)
        # The template follows the name, perhaps after comment lines; one case writes ".template_str" without "=".
        tmpl = re.compile(r'\s*,(?:\s*//[^\n]*)*\s*/\* \.template_str=? \*/\s*(?:u8|U8C\()?"').match(text, after)
        if tmpl:
            cases.append((name, c_string_literal(text, tmpl.end() - 1)[0]))
    return cases


def gguf_string(path, key):
    reader = gguf.GGUFReader(path)
    field = reader.fields.get(key)
    return None if field is None else bytes(field.parts[field.data[0]]).decode()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    source = sys.argv[1]
    detect = build_detector(source)
    names = builtin_names()
    family_of_number = {detect(name): name for name in names}   # a name detects as itself
    for name, text in UNNAMED.items():
        assert detect(text) not in family_of_number, f"llama.cpp has a name for {name} now"
        family_of_number[detect(text)] = name
    # How llama_chat_apply_template is asked for each family: by name, or by template text for the unnamed ones.
    reference = {name: name for name in names} | UNNAMED

    def family(text):
        return family_of_number.get(detect(text))

    templates = []
    smol_template = gguf_string(SMOLLM2, "tokenizer.chat_template")
    templates.append({"source": "model file models/SmolLM2-135M-Instruct.Q4_1.gguf (tokenizer.chat_template)",
                      "kind": "model file", "text": smol_template})
    assert gguf_string(GEMMA, "tokenizer.chat_template") is None, "the Gemma 3 270M file was expected to carry no template"
    for path in sorted(glob.glob(os.path.join(source, "models", "templates", "*.jinja"))):
        templates.append({"source": "llama.cpp models/templates/" + os.path.basename(path), "kind": "published template",
                          "text": open(path, encoding="utf-8").read()})
    for name, text in test_case_templates(source):
        templates.append({"source": f"llama.cpp tests/test-chat-template.cpp case {name!r}", "kind": "published template",
                          "text": text})
    for entry in templates:
        entry["family"] = family(entry["text"])
    covered = {t["family"] for t in templates}
    for name, text in (MINIMAL | UNNAMED).items():
        assert name not in covered, f"{name} has a real template now; drop its minimal one"
        assert family(text) == name, f"the minimal {name} template is detected as {family(text)}"
        templates.append({"source": f"minimal {name} template written for this fixture (contains the markers llama.cpp detects)",
                          "kind": "minimal", "text": text, "family": name})
    covered = {t["family"] for t in templates}
    by_name_only = sorted(set(reference) - covered)
    representatives = {}
    for entry in templates:
        if entry["family"] and entry["family"] not in representatives:
            representatives[entry["family"]] = entry["source"]

    conversations = [{"name": name, "add_generation_prompt": gen,
                      "messages": [{"role": r, "content": c} for r, c in messages]} for name, messages, gen in CONVERSATIONS]
    renderings = {name: {c: render(reference[name], messages, gen) for c, messages, gen in CONVERSATIONS}
                  for name in sorted(reference)}
    # A family's real template renders as its name does (the detection and the renderer agree).
    for entry in templates:
        if entry["family"]:
            for c, messages, gen in CONVERSATIONS:
                assert render(entry["text"], messages, gen) == renderings[entry["family"]][c], (entry["source"], c)

    tokens = {}
    for label, path, tmpl in [("gemma-3-270m-q4_k_m.gguf", GEMMA, "gemma"), ("SmolLM2-135M-Instruct.Q4_1.gguf", SMOLLM2, smol_template)]:
        fam = family(tmpl)
        llm = Llama(model_path=path, vocab_only=True, verbose=False)
        tokens[label] = {"family": fam, "template_from": "name (the file has none)" if tmpl == fam else "the file's tokenizer.chat_template",
                         "sha256": sha256(path),
                         "ids": {c: llm.tokenize(renderings[fam][c].encode(), add_bos=True, special=True)
                                 for c, _, _ in CONVERSATIONS}}

    os.makedirs(OUT, exist_ok=True)

    def write(name, value):
        with open(os.path.join(OUT, name), "w", encoding="utf-8") as f:
            json.dump(value, f, indent=1, ensure_ascii=False)
            f.write("\n")

    write("conversations.json", conversations)
    write("renderings.json", renderings)
    write("templates.json", {"representatives": representatives, "by_name_only": by_name_only, "templates": templates})
    write("tokens.json", tokens)
    write("SOURCE.json", {
        "script": SCRIPT,
        "llama_cpp_python": llama_cpp.__version__,
        "llama_cpp_source": "vendor/llama.cpp of the llama-cpp-python " + llama_cpp.__version__ + " source distribution",
        "reference": "llama_chat_apply_template (renderings), llm_chat_detect_template (templates.json families), "
                     "llama_tokenize add_special=True parse_special=True (tokens.json)",
        "families": len(reference),
        "families_without_a_llama_cpp_name": sorted(UNNAMED),
        "templates": len(templates),
        "minimal_templates": sorted(MINIMAL | UNNAMED),
        "models": {k: v["sha256"] for k, v in tokens.items()},
    })
    print(f"{len(reference)} families, {len(templates)} templates ({len(MINIMAL) + len(UNNAMED)} minimal), by name only: {by_name_only}")


if __name__ == "__main__":
    main()
