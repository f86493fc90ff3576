#!/usr/bin/env python3
"""philox.py: the numpy twin of host/shared/philox.h (Philox-4x32-10 + Box-Muller), for the tools/ scripts
that feed the reference libraries the same noise polycam-eval draws.

Contract (see host/shared/philox.h for the full text): key = (seed & 0xffffffff, seed >> 32); element i
of stream (seed, image, sample) uses word i % 4 of the block counter
(i//4 & 0xffffffff, i//4 >> 32, sample, image).
  uniform(i) = (word >> 8) * 2**-24                                  float32 in [0, 1)
  normal: words (0, 1) -> elements 4b, 4b+1; words (2, 3) -> 4b+2, 4b+3; for a pair (a, b):
          u1 = (a + 1) * 2**-32, u2 = b * 2**-32, r = sqrt(-2 log u1), t = 6.283185307179586 * u2
          (float64), elements float32(r cos t), float32(r sin t).
Uniforms match the C / CUDA ones bit for bit; normals too except, about once in 2**27 values, the
last bit (libm differences in float64 log / cos / sin before the rounding to float32).

Usage as a module:
    from philox import uniform, normal
    eps = normal(seed, image, sample, 3 * 224 * 224).reshape(3, 224, 224)
Run as a script, prints a few values (the ones tests/unit/test_philox.c checks against).
"""
import numpy as np

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK32 = np.uint64(0xFFFFFFFF)


def philox4x32_10(ctr, key):
    """ctr: uint32 array (4, n); key: two python ints. Returns uint32 array (4, n)."""
    c = [np.asarray(x, dtype=np.uint64) & MASK32 for x in ctr]
    k0, k1 = key[0] & 0xFFFFFFFF, key[1] & 0xFFFFFFFF
    for rnd in range(10):
        if rnd > 0:
            k0 = (k0 + W0) & 0xFFFFFFFF
            k1 = (k1 + W1) & 0xFFFFFFFF
        p0 = M0 * c[0]          # < 2**64: no overflow in uint64
        p1 = M1 * c[2]
        c = [(p1 >> np.uint64(32)) ^ c[1] ^ np.uint64(k0), p1 & MASK32,
             (p0 >> np.uint64(32)) ^ c[3] ^ np.uint64(k1), p0 & MASK32]
    return np.stack(c).astype(np.uint32)


def blocks(seed, image, sample, first, n):
    """Words of the blocks covering elements [first, first + n): uint32 (nblocks, 4), first block."""
    b0, b1 = first // 4, (first + n - 1) // 4 + 1
    b = np.arange(b0, b1, dtype=np.uint64)
    nb = b.size
    ctr = [b & MASK32, b >> np.uint64(32), np.full(nb, sample, np.uint64), np.full(nb, image, np.uint64)]
    words = philox4x32_10(ctr, (seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF))
    return words.T, b0


def uniform(seed, image, sample, n, first=0):
    """float32 array of elements [first, first + n) of the uniform stream."""
    w, b0 = blocks(seed, image, sample, first, n)
    flat = w.reshape(-1)
    off = first - 4 * b0
    return ((flat[off:off + n] >> np.uint32(8)).astype(np.float32) * np.float32(2.0 ** -24)).astype(np.float32)


def normal(seed, image, sample, n, first=0):
    """float32 array of elements [first, first + n) of the standard normal stream."""
    w, b0 = blocks(seed, image, sample, first, n)
    out = np.empty((w.shape[0], 4), np.float32)
    for pair in (0, 2):
        u1 = (w[:, pair].astype(np.float64) + 1.0) * 2.0 ** -32
        u2 = w[:, pair + 1].astype(np.float64) * 2.0 ** -32
        r = np.sqrt(-2.0 * np.log(u1))
        t = 6.283185307179586 * u2
        out[:, pair] = (r * np.cos(t)).astype(np.float32)
        out[:, pair + 1] = (r * np.sin(t)).astype(np.float32)
    flat = out.reshape(-1)
    off = first - 4 * b0
    return flat[off:off + n].copy()


def _main():
    kat = philox4x32_10([[0x243f6a88], [0x85a308d3], [0x13198a2e], [0x03707344]], (0xa4093822, 0x299f31d0))
    print("KAT pi:", " ".join("%08x" % int(x[0]) for x in kat))
    for seed, image, sample, first in [(0, 0, 0, 0), (1234, 7, 3, 5), (0x123456789abcdef0, 4999, 49, 150523)]:
        u = uniform(seed, image, sample, 6, first)
        z = normal(seed, image, sample, 6, first)
        print("seed %d image %d sample %d first %d" % (seed, image, sample, first))
        print("  uniform:", ", ".join("%.9g" % v for v in u))
        print("  normal: ", ", ".join("%.9g" % v for v in z))


if __name__ == "__main__":
    _main()
