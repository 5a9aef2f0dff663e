#!/usr/bin/env bash
# OpenBLAS kernel sets ("cores") on this node, measured in one run: sgemm GFLOP/s and `bench` prefill/decode
# for each core this node's OS lets run, for the library's own pick, for longlm-dist's start-up choice when
# the library is taken to have fallen back to SSE3 (as Debian's OpenBLAS does on CPUs newer than itself), and
# llama.cpp beside them (when llama-cpp-python is installed). Configurations alternate per length.
# Output: JSON lines, one per (configuration, length), each tagged with "config".
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=${MODEL:-models/gemma-3-270m-q4_k_m.gguf}
LENGTHS=${LENGTHS:-512,2048,8192}
THREADS=${THREADS:-2}
export PATH="/opt/swift/usr/bin:$PATH"
swift build -c release --product longlm-dist >/dev/null
B=.build/release/longlm-dist
if [ -n "${OPENBLAS_CORETYPE:-}" ]; then echo "blas_cores: unset OPENBLAS_CORETYPE to compare cores" >&2; exit 1; fi

features=$($B info --model "$MODEL" | sed -n 's/^cpu: .*enabled: //p')
cores="Prescott Sandybridge"
case " $features " in *" avx2 "*) cores="$cores Haswell Zen";; esac
case " $features " in *" avx512bw "*) cores="$cores SkylakeX";; esac
case " $features " in *" avx512_bf16 "*) cores="$cores Cooperlake";; esac
echo "# node features: $features; cores measured: $cores" >&2

tag() { sed "s/^{/{\"config\":\"$1\",/"; }
for n in ${LENGTHS//,/ }; do
  LONGLM_BLAS_CORE=library $B bench --model "$MODEL" --lengths "$n" --threads "$THREADS" --json | tag "library-pick"
  LONGLM_BLAS_ASSUME_LIBRARY_CORE=Prescott $B bench --model "$MODEL" --lengths "$n" --threads "$THREADS" --json 2>/dev/null | tag "longlm-choice-over-Prescott"
  for core in $cores; do
    OPENBLAS_CORETYPE=$core $B bench --model "$MODEL" --lengths "$n" --threads "$THREADS" --json | tag "forced-$core"
  done
  if python3 -c "import llama_cpp" 2>/dev/null; then
    python3 scripts/bench/llamacpp_peer.py --model "$MODEL" --lengths "$n" --threads "$THREADS" | tag "llama.cpp"
  fi
done
