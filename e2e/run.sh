#!/usr/bin/env bash
# Browser tests of the banner, the staff console and the demo: builds
# actas, installs what is missing (Debian's Chromium and the fonts of the
# banner's layout tests through apt-get, playwright-core through npm ci; no
# browser is ever downloaded by npm),
# then runs `node --test e2e/` (or the test files named as arguments).
# Screenshots land in target/screenshots/.
#
#   e2e/run.sh                                          # every browser test
#   ACTAS_HOST_APP=express e2e/run.sh e2e/demo.test.mjs # the demo's test on another Acme Billing
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "e2e: installing Chromium with apt-get" >&2
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    echo "e2e: $chromium is missing; run as root or install the chromium package" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends chromium chromium-driver
  chromium=/usr/bin/chromium
  [ -x "$chromium" ] || { echo "e2e: apt-get did not install $chromium" >&2; exit 1; }
fi

# The banner's layout is checked under two font setups (e2e/fonts/*.conf):
# DejaVu Sans and Liberation Sans, each alone on the font path.
font_files=(
  /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
  /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf
)
font_packages=(fonts-dejavu-core fonts-liberation)
missing_fonts=()
for i in "${!font_files[@]}"; do
  [ -f "${font_files[$i]}" ] || missing_fonts+=("${font_packages[$i]}")
done
if [ "${#missing_fonts[@]}" -gt 0 ]; then
  echo "e2e: installing ${missing_fonts[*]} with apt-get" >&2
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo -n)
  else
    echo "e2e: fonts are missing; run as root or install ${missing_fonts[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing_fonts[@]}"
  for f in "${font_files[@]}"; do
    [ -f "$f" ] || { echo "e2e: apt-get did not install $f" >&2; exit 1; }
  done
fi

if ! command -v node >/dev/null 2>&1 || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "e2e: Node.js 20 or later is needed" >&2
  exit 1
fi

echo "e2e: building actas" >&2
cargo build --bin actas
target_dir="${CARGO_TARGET_DIR:-$root/target}"
export ACTAS_BIN="${ACTAS_BIN:-$target_dir/debug/actas}"
export CHROMIUM="$chromium"

stamp="e2e/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ e2e/package-lock.json -nt "$stamp" ]; then
  echo "e2e: npm ci" >&2
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix e2e --no-audit --no-fund
fi

mkdir -p target/screenshots
exec node --test "${@:-e2e/}"
