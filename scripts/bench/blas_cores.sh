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

# Under mpirun (2 ranks, 1 thread each): every rank makes the choice before MPI starts. Prefill of an
# MPI_TOKENS-token prompt (plain attention: inside the trained context), per configuration.
MPI_TOKENS=${MPI_TOKENS:-8192}
if [ "$MPI_TOKENS" -gt 0 ] && command -v mpirun >/dev/null; then
  ids=$(mktemp)
  trap 'rm -f "$ids"' EXIT
  $B tokenize --model "$MODEL" --file data/kjv.txt | tr ' ' '\n' | awk -v n="$MPI_TOKENS" 'NR <= n' > "$ids"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  mpi() { mpirun --oversubscribe --bind-to none -np 2 "$@" $B generate --model "$MODEL" --tokens-file "$ids" \
            --max-new-tokens 2 --greedy --json --quiet --threads 1; }
  mpitag() { python3 -c "import sys, json; o = json.load(sys.stdin); print(json.dumps({'config': '$1', 'ranks': o['ranks'],
    'length': o['prompt_tokens'], 'prefill_tokens_per_second': o['prompt_tokens'] / o['prefill_seconds']}))"; }
  for round in 1 2; do
    LONGLM_BLAS_CORE=library mpi -x LONGLM_BLAS_CORE | mpitag "mpirun-library-pick"
    LONGLM_BLAS_ASSUME_LIBRARY_CORE=Prescott mpi -x LONGLM_BLAS_ASSUME_LIBRARY_CORE 2>/dev/null | mpitag "mpirun-longlm-choice-over-Prescott"
    OPENBLAS_CORETYPE=Prescott mpi -x OPENBLAS_CORETYPE | mpitag "mpirun-forced-Prescott"
  done
fi
