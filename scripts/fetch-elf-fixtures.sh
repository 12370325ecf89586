#!/usr/bin/env bash
# Re-downloads the real ELF old/new pair of fixtures/data/elf/ (README.md there): MarkupSafe's
# compiled extension `markupsafe/_speedups.cpython-312-x86_64-linux-gnu.so` from its 3.0.2 and
# 3.0.3 manylinux x86-64 wheels (PyPI, by exact version), checks each wheel's and each extracted
# file's SHA-256, and writes the two files and the license they ship under into DEST.
# Usage (from the repository root): scripts/fetch-elf-fixtures.sh [DEST]
#   DEST defaults to fixtures/data/elf, the committed set: the files written there are then
#   byte-identical to the committed ones (git status shows no change).
set -euo pipefail
DEST="$(realpath -m "${1:-fixtures/data/elf}")"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
for v in 3.0.2 3.0.3; do
  pip download -q --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
    --python-version 3.12 "markupsafe==$v" -d .
done
sha256sum -c - <<'SUMS'
e17c96c14e19278594aa4841ec148115f9c7615a47382ecb6b82bd8fea3ab0c8  MarkupSafe-3.0.2-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
d6dd0be5b5b189d31db7cda48b91d7e0a9795f31430b7f271219ab30f1d3ac9d  markupsafe-3.0.3-cp312-cp312-manylinux2014_x86_64.manylinux_2_17_x86_64.manylinux_2_28_x86_64.whl
SUMS
so=markupsafe/_speedups.cpython-312-x86_64-linux-gnu.so
for v in 3.0.2 3.0.3; do
  mkdir "$v"
  (cd "$v" && python3 -m zipfile -e ../*arkup*afe-"$v"-cp312-*.whl .)
  cp "$v/$so" "markupsafe-$v-_speedups.so"
  # 3.0.2 ships it as <dist-info>/LICENSE.txt, 3.0.3 as <dist-info>/licenses/LICENSE.txt.
  cp "$(find "$v" -path '*.dist-info/*' -name LICENSE.txt)" "LICENSE-$v.txt"
done
cmp LICENSE-3.0.2.txt LICENSE-3.0.3.txt
mv LICENSE-3.0.3.txt LICENSE-markupsafe.txt
sha256sum -c - <<'SUMS'
b750c1665a6c8c5037d0138ebd77d77d3d70bceff8712d7a55b1f3d7ee3dab95  markupsafe-3.0.2-_speedups.so
f4a31de071c565959002db29bf36c6f8d35ae7929f64700adeeba46fa4f90daf  markupsafe-3.0.3-_speedups.so
489a8e1108509ed98a37bb983e11e0f7e1d31f0bd8f99a79c8448e7ff37d07ea  LICENSE-markupsafe.txt
SUMS
mkdir -p "$DEST"
cp markupsafe-3.0.2-_speedups.so markupsafe-3.0.3-_speedups.so LICENSE-markupsafe.txt "$DEST/"
chmod 0644 "$DEST"/markupsafe-3.0.[23]-_speedups.so "$DEST/LICENSE-markupsafe.txt"
echo "wrote $DEST"
