#!/usr/bin/env bash
# Refresh the dashboard's vendored chart library from its npm package (no Node build at run time).
#
#   scripts/update_vendor.sh            # the version pinned below
#   scripts/update_vendor.sh 5.2.1      # another version
#
# Copies the standalone production build and its licence into src/coinpilot/web/static/vendor/
# and records name, version and checksum in VERSIONS.txt. Needs `npm` (only for this script).
set -euo pipefail

PACKAGE=lightweight-charts
VERSION="${1:-5.2.1}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DEST="$ROOT/src/coinpilot/web/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

cd "$WORK"
npm pack --silent "$PACKAGE@$VERSION" >/dev/null
tar xzf "$PACKAGE-$VERSION.tgz"
mkdir -p "$DEST"
cp package/dist/lightweight-charts.standalone.production.js "$DEST/lightweight-charts.standalone.production.js"
cp package/LICENSE "$DEST/lightweight-charts.LICENSE"
SUM="$(sha256sum "$DEST/lightweight-charts.standalone.production.js" | cut -d' ' -f1)"
cat >"$DEST/VERSIONS.txt" <<TXT
$PACKAGE $VERSION (npm, Apache-2.0, TradingView Inc.)
  lightweight-charts.standalone.production.js sha256 $SUM
  lightweight-charts.LICENSE
TXT
echo "vendored $PACKAGE $VERSION into $DEST"
