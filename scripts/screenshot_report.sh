#!/usr/bin/env bash
# Render a spark_prune HTML report to a PNG with headless Chromium (no network, no GPU).
#
#   scripts/screenshot_report.sh REPORT.html OUT.png [WIDTH] [HEIGHT] [MAX_KB]
#
# Needs Debian's chromium (apt-get install -y --no-install-recommends chromium). When the PNG
# is larger than MAX_KB (default 500) it is re-encoded with a 256-colour palette (Pillow, from
# .venv or the system Python), which keeps charts and thumbnails legible.
set -euo pipefail

if [[ $# -lt 2 ]]; then
  sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
report=$(realpath "$1")
out=$(realpath -m "$2")
width=${3:-1280}
height=${4:-3000}
max_kb=${5:-500}

browser=""
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then browser=$candidate; break; fi
done
if [[ -z $browser ]]; then
  echo "no chromium found: apt-get update && apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi
[[ -f $report ]] || { echo "no such report: $report" >&2; exit 1; }

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
mkdir -p "$(dirname "$out")"
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --hide-scrollbars --user-data-dir="$profile" --window-size="${width},${height}" \
  --screenshot="$out" "file://$report" >/dev/null 2>&1 || true
[[ -s $out ]] || { echo "chromium wrote no screenshot" >&2; exit 1; }

size_kb=$(( $(stat -c %s "$out") / 1024 ))
if (( size_kb > max_kb )); then
  python=$(dirname "$0")/../.venv/bin/python
  [[ -x $python ]] || python=python3
  "$python" - "$out" <<'EOF'
import sys
from PIL import Image

path = sys.argv[1]
with Image.open(path) as image:
    small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
small.save(path, optimize=True)
EOF
  size_kb=$(( $(stat -c %s "$out") / 1024 ))
fi
echo "$out (${width}x${height}, ${size_kb} KB)"
