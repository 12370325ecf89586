#!/usr/bin/env bash
# Re-downloads the real ELF old/new pairs of fixtures/data/elf/ (README.md there): MarkupSafe's
# compiled extension `markupsafe/_speedups.cpython-312-x86_64-linux-gnu.so` from its 3.0.2 and
# 3.0.3 manylinux x86-64 wheels (PyPI, by exact version), checks each wheel's and each extracted
# file's SHA-256, and writes the two files and the license they ship under into DEST; likewise
# charset-normalizer 3.3.1 and 3.3.2's mypyc module (CPython 3.11 wheels) and its license.
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
# The larger pair: charset-normalizer's mypyc-compiled module, CPython 3.11 wheels.
for v in 3.3.1 3.3.2; do
  pip download -q --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 \
    --python-version 3.11 "charset-normalizer==$v" -d .
done
sha256sum -c - <<'SUMS'
ae55d592b02c4349525b6ed8f74c692509e5adffa842e582c0f861751701a673  charset_normalizer-3.3.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
753f10e867343b4511128c6ed8c82f7bec3bd026875576dfd88483c5c73b2fd8  charset_normalizer-3.3.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
SUMS
for v in 3.3.1 3.3.2; do
  mkdir "cn-$v"
  (cd "cn-$v" && python3 -m zipfile -e ../charset_normalizer-"$v"-cp311-*.whl .)
  cp "cn-$v/charset_normalizer/md__mypyc.cpython-311-x86_64-linux-gnu.so" \
    "charset-normalizer-$v-md__mypyc.so"
done
cmp cn-3.3.1/charset_normalizer-3.3.1.dist-info/LICENSE cn-3.3.2/charset_normalizer-3.3.2.dist-info/LICENSE
cp cn-3.3.2/charset_normalizer-3.3.2.dist-info/LICENSE LICENSE-charset-normalizer.txt
sha256sum -c - <<'SUMS'
8a6c9354e0bd70a0e0930fa0803bf7f388142a0f43b643eae5e9e7928991f78c  charset-normalizer-3.3.1-md__mypyc.so
f774f40bf86827145e4debdcecda6333b3fb7da7bf53eb1cbf907e02190a2ad6  charset-normalizer-3.3.2-md__mypyc.so
eb31a0c5a4fb09b8a4e32055d25c1e5f9c358a2752fef3cd720213d1ccfee241  LICENSE-charset-normalizer.txt
SUMS
mkdir -p "$DEST"
cp markupsafe-3.0.2-_speedups.so markupsafe-3.0.3-_speedups.so LICENSE-markupsafe.txt \
  charset-normalizer-3.3.[12]-md__mypyc.so LICENSE-charset-normalizer.txt "$DEST/"
chmod 0644 "$DEST"/*.so "$DEST"/LICENSE-*.txt
echo "wrote $DEST"
