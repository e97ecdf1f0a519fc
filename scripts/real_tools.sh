#!/usr/bin/env bash
# Fetch the real tools the tests compare against into <venv>/real-tools (issue #11):
#   site/       msmodelslim 26.1.0 + its light imports (pip --target, --no-deps)
#   torch_npu/  two text files of the torch_npu 2.14.0 wheel (op schemas, meta functions)
#   wheels/     the downloaded wheels (a re-install needs no network)
# Pinned with sha256 in constraints/real-tools.txt; a stamp makes a second run a no-op.
# Never fatal: when PyPI is unreachable it says what to fetch, and the tests that need the
# tools fail with the same message (they are never skipped).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${1:?usage: scripts/real_tools.sh VENV}
PY="$VENV/bin/python"
RT="$VENV/real-tools"
PINS=constraints/real-tools.txt
want=$(cat "$PINS" scripts/real_tools.sh | sha256sum | cut -d' ' -f1)
if [ -f "$RT/.installed" ] && [ "$(cat "$RT/.installed")" = "$want" ]; then
  exit 0
fi

echo "==> fetching the real msmodelslim and the torch_npu contract for the tests into $RT"
mkdir -p "$RT/wheels"
log="$RT/install.log"
fetch() {
  # the local wheels first (no network), then the package index
  "$PY" -m pip download --no-deps --require-hashes --only-binary=:all: -r "$PINS" \
      -d "$RT/wheels" --no-index --find-links "$RT/wheels" ||
    "$PY" -m pip download --no-deps --require-hashes --only-binary=:all: -r "$PINS" -d "$RT/wheels"
}
install() {
  rm -rf "$RT/site.tmp" "$RT/torch_npu.tmp"
  local wheels=()
  for w in "$RT"/wheels/*.whl; do
    case "$(basename "$w")" in torch_npu-*) ;; *) wheels+=("$w") ;; esac
  done
  "$PY" -m pip install --no-deps --no-index --no-compile --target "$RT/site.tmp" "${wheels[@]}"
  "$PY" - "$RT" <<'PYEOF'
import pathlib, sys, zipfile
rt = pathlib.Path(sys.argv[1])
(wheel,) = sorted((rt / "wheels").glob("torch_npu-2.14.0-*.whl"))
names = ("torch_npu/csrc/aten/npu_native_functions_by_codegen.yaml",
         "torch_npu/op_plugin/meta/_meta_registrations.py")
with zipfile.ZipFile(wheel) as zf:
    for name in names:
        zf.extract(name, rt / "torch_npu.tmp")
PYEOF
  rm -rf "$RT/site" "$RT/torch_npu"
  mv "$RT/site.tmp" "$RT/site"
  mv "$RT/torch_npu.tmp" "$RT/torch_npu"
}
if ! { fetch && install; } >"$log" 2>&1; then
  tail -n 5 "$log" >&2
  echo "==> could not fetch the real tools (full log: $log). Fetch from PyPI the files pinned in" >&2
  echo "    $PINS (msmodelslim==26.1.0, scipy, easydict, einops, wcmatch, bracex, pygtrie," >&2
  echo "    torch-npu==2.14.0) into $RT/wheels and re-run; until then the real-tool tests FAIL." >&2
  exit 0
fi
echo "$want" > "$RT/.installed"
