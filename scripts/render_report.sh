#!/usr/bin/env bash
# Render an sshconv HTML report in headless Chromium and save a screenshot, to check
# by eye that the page draws (verdict, tables, embedded histograms and pictures).
# Not a CI test: CI has no browser. Needs Debian's chromium (apt-get install chromium).
#
#   scripts/render_report.sh REPORT.html [OUT.png] [WIDTHxHEIGHT]
set -euo pipefail
report=${1:?usage: $0 REPORT.html [OUT.png] [WIDTHxHEIGHT]}
out=${2:-${report%.html}.png}
size=${3:-1280x2400}
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "render_report.sh: chromium not found; apt-get install chromium" >&2; exit 2; }
[ -f "$report" ] || { echo "render_report.sh: $report: no such file" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --screenshot="$out" --window-size="${size/x/,}" \
  "file://$(realpath "$report")" 2>/dev/null
echo "$out"
