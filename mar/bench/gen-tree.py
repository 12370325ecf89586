#!/usr/bin/env python3
"""Writes a deterministic synthetic install tree of about SIZE_MB megabytes for benchmarks.

Binaries mix random bytes with repeated and slightly edited chunks (compressing to ~40-60%, as
real executables do); text files are prose-like. Usage: gen-tree.py DEST SIZE_MB [SEED]
"""
import os
import random
import sys

dest, size_mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(2000)]
target = size_mb << 20
written = 0
i = 0
while written < target:
    kind = i % 5
    sub = os.path.join(dest, f"lib{i % 7}", f"mod{i % 13}")
    os.makedirs(sub, exist_ok=True)
    if kind == 0:
        n = min(rng.randint(64 << 10, 512 << 10), target - written)
        data = b" ".join(rng.choice(words) for _ in range(n // 6))[:n]
        path = os.path.join(sub, f"file{i}.js")
    else:
        n = min(rng.randint(1 << 20, 8 << 20), target - written)
        chunk = rng.randbytes(4096)
        parts = []
        got = 0
        while got < n:
            if rng.random() < 0.45:
                piece = rng.randbytes(rng.randint(256, 4096))
            else:
                piece = bytearray(chunk)
                for _ in range(rng.randint(1, 40)):
                    piece[rng.randrange(len(piece))] = rng.randrange(256)
                piece = bytes(piece)
            parts.append(piece)
            got += len(piece)
        data = b"".join(parts)[:n]
        path = os.path.join(sub, f"lib{i}.so")
    with open(path, "wb") as f:
        f.write(data)
    written += len(data)
    i += 1
