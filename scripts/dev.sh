#!/usr/bin/env bash
# One entry point for the README's two commands: `make run` and `make test`.
# Creates .venv when missing and (re)installs the project with the dev pins
# whenever pyproject.toml or constraints/dev.txt change.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${WAN_STUDIO_VENV:-.venv}
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
# fonts-wqy-microhei: the official negative prompt is Chinese; without a CJK font it renders as boxes
QT_APT_PACKAGES=(libpulse0 libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxkbcommon-x11-0 libegl1 libgl1 libfontconfig1 libdbus-1-3 xvfb xauth fonts-wqy-microhei)

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtualenv $VENV"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.wan-studio-installed"
  local want
  want=$(cat pyproject.toml constraints/dev.txt | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> installing wan-studio and its pinned dependencies into $VENV"
    local log="$VENV/install.log"
    if ! { "$VENV/bin/python" -m pip install --upgrade pip &&
           "$VENV/bin/python" -m pip install -c constraints/dev.txt -e ".[test]"; } >"$log" 2>&1; then
      tail -n 30 "$log" >&2
      echo "==> installation failed; full log: $log" >&2
      exit 1
    fi
    echo "$want" > "$stamp"
  fi
}

ensure_system_packages() {
  command -v dpkg-query >/dev/null 2>&1 || return 0
  local missing=()
  for p in "${QT_APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "==> missing system packages for Qt: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})" >&2
    return 0
  fi
  echo "==> installing system packages Qt needs: ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

case "${1:-}" in
  run)
    shift
    ensure_venv
    exec "$VENV/bin/wan-studio" "$@"
    ;;
  test)
    shift
    ensure_system_packages
    ensure_venv
    scripts/real_tools.sh "$VENV"  # the real msmodelslim / torch_npu contract (tests/realtools)
    export QT_QPA_PLATFORM=offscreen HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: scripts/dev.sh run|test [args...]" >&2
    exit 2
    ;;
esac
