#!/usr/bin/env bash
# Tell the user clearly which system package is missing before anything is installed.
set -euo pipefail
python=${1:-python3}
missing=()
libs=$(ldconfig -p)
if ! "$python" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "missiva needs Python 3.11+ with venv (Debian/Ubuntu: apt-get install python3 python3-venv)" >&2
  exit 1
fi
for lib in libpango-1.0.so.0:libpango-1.0-0 libpangoft2-1.0.so.0:libpangoft2-1.0-0 \
           libharfbuzz-subset.so.0:libharfbuzz-subset0; do
  if ! grep -q "${lib%%:*}" <<<"$libs"; then missing+=("${lib##*:}"); fi
done
if [ ! -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then missing+=(fonts-dejavu-core); fi
# Chinese/Japanese names: DejaVu has no CJK glyphs, letters would print empty boxes.
if [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; then missing+=(fonts-wqy-microhei); fi
if ((${#missing[@]})); then
  echo "missing system packages: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
