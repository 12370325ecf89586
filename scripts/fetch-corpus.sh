#!/usr/bin/env bash
# Builds a benchmark corpus of consecutive real releases (npm and PyPI registries only):
# a: esbuild 0.27.5->0.27.6 (11 MB exe, patch bump)  b: esbuild 0.27.7->0.28.0 (minor bump)
# c: biome 2.6.7->2.6.8 (~100 MB exe)  d: numpy 2.4.5->2.4.6 unpacked wheel (914 files, 57 MB)
# e: ruff 0.17.5->0.17.6 (Rust exe from its PyPI wheel)  f: pillow 12.2.0->12.3.0 unpacked wheel
# (hashed library names under pillow.libs/).
# Pairs land in DEST/pairs as a.old/a.new, ..., d.olddir/d.newdir and deterministic tars d.old/d.new
# (likewise f.olddir/f.newdir and f.old/f.new).
# Usage: scripts/fetch-corpus.sh [DEST]   (default: target/bench-corpus under the current directory)
# Every download is checked against the SHA-256 below, so BENCHMARKS.md can be reproduced from a clone.
set -euo pipefail
DEST="$(realpath -m "${1:-target/bench-corpus}")"
mkdir -p "$DEST/dl" "$DEST/x" "$DEST/pairs"
cd "$DEST/dl"
for v in 0.27.5 0.27.6 0.27.7 0.28.0; do npm pack "@esbuild/linux-x64@$v" --silent >/dev/null; done
for v in 2.6.7 2.6.8; do npm pack "@biomejs/cli-linux-x64@$v" --silent >/dev/null; done
for v in 2.4.5 2.4.6; do
  pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.12 "numpy==$v" -d .
done
for v in 0.17.5 0.17.6; do
  pip download -q --no-deps --only-binary=:all: --platform manylinux_2_17_x86_64 --python-version 3.12 "ruff==$v" -d .
done
for v in 12.2.0 12.3.0; do
  pip download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 --python-version 3.12 "pillow==$v" -d .
done
sha256sum -c - <<'SUMS'
9f05e1a9372bdf041af6ea0ef8e9837b9cbd457ed3a57dc06d040517871378d8  esbuild-linux-x64-0.27.5.tgz
250499d05482b89000311fce229000e4fb0a5d6cd3847506eca897d469e796a7  esbuild-linux-x64-0.27.6.tgz
2c3eb61a67f174520d3c586ef026430480fa92cfb5f285c82a9040fff41355de  esbuild-linux-x64-0.27.7.tgz
e94bf1c7f44197b22cf6a787578eca9af805aa9624104488252de2a765c6a4f0  esbuild-linux-x64-0.28.0.tgz
c360886b5ded263de504608c6ff626c87e8d4a52210b593efabdad7ec2232835  biomejs-cli-linux-x64-2.6.7.tgz
e9fc491ffec6ba4024549b7c797937cd4f01855b4fe66a78220efe83b95be7f1  biomejs-cli-linux-x64-2.6.8.tgz
685681e956fc8dcb75adc6ff26694e1dfd738b24bd8d4696c51ca0110157f912  numpy-2.4.5-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
90f9849678c75fe7afa2d348ac842c168b0a4d3d61919687216dfc547976d853  numpy-2.4.6-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
40ca8afaac309b41a5b2e09e4e7beb1f824826b93c25697c4d74f573324fba4e  ruff-0.17.5-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
aa3b08254a732acba246891089a152c47c5733dc36b8ecb76ce8602f8326e5e4  ruff-0.17.6-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl
62f5409336adb0663b7caa0da5c7d9e7bdbaae9ce761d34669420c2a801b2780  pillow-12.2.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
78cb2c6865a35ab8ff8b75fd122f6033b92a62c82801110e48ddd6c936a45d91  pillow-12.3.0-cp312-cp312-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
SUMS
cd ../x
for f in ../dl/*.tgz; do n=$(basename "$f" .tgz); mkdir -p "$n"; tar -xzf "$f" -C "$n"; done
for f in ../dl/*.whl; do n=$(basename "$f" .whl | cut -d- -f1,2); rm -rf "$n"; mkdir -p "$n"; (cd "$n" && python3 -m zipfile -e "../$f" .); done
cd ../pairs
ln -sf ../x/esbuild-linux-x64-0.27.5/package/bin/esbuild a.old; ln -sf ../x/esbuild-linux-x64-0.27.6/package/bin/esbuild a.new
ln -sf ../x/esbuild-linux-x64-0.27.7/package/bin/esbuild b.old; ln -sf ../x/esbuild-linux-x64-0.28.0/package/bin/esbuild b.new
ln -sf ../x/biomejs-cli-linux-x64-2.6.7/package/biome c.old;      ln -sf ../x/biomejs-cli-linux-x64-2.6.8/package/biome c.new
ln -sfn ../x/numpy-2.4.5 d.olddir; ln -sfn ../x/numpy-2.4.6 d.newdir
ln -sf ../x/ruff-0.17.5/ruff-0.17.5.data/scripts/ruff e.old; ln -sf ../x/ruff-0.17.6/ruff-0.17.6.data/scripts/ruff e.new
ln -sfn ../x/pillow-12.2.0 f.olddir; ln -sfn ../x/pillow-12.3.0 f.newdir
for p in d f; do
  for v in old new; do
    tar --sort=name --mtime='1980-01-01 00:00:00Z' --owner=0 --group=0 --numeric-owner -C "$p.${v}dir/" -cf "$p.$v" .
  done
done
sha256sum -c - <<'SUMS'
44eb0c105a85e318fc6e5ff43be098f398193b38cc6124cd3fec6305bd253f89  a.old
8dff569de6fda5a2ccc664265e0832294958f3807618ee045c8cc6e13ce8cd7a  a.new
c638273fcf95573ca74af586677800b4dd874c55f8f945adb54316d6902ba14b  b.old
aafacdf135322bf47c882a4ea4db33d0375583f5b9c3fd2d4e12258e470568be  b.new
d924b8407471748465121f0a2dc1a0bc277038b0b89142e77583e3ce0dda3746  c.old
fc1cb7c6664d6fa315144f58bd03096ee5d035e641538840a80262d59203d5dd  c.new
SUMS
# d/f tars: checksums depend on GNU tar version and file modes set by zip extraction;
# the extracted trees (from the checksummed wheels) are the canonical input.
sha256sum d.old d.new f.old f.new || true
