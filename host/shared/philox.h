// philox.h: the one random-number generator of polycam-eval, for host C and CUDA device code
// (every function is `static inline`, marked __host__ __device__ under nvcc through PC_HD).
//
// Generator: Philox-4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel Random Numbers: As Easy as
// 1, 2, 3", SC11), a counter-based generator: 4 x 32 output bits are a pure function of a 128-bit
// counter and a 64-bit key, so any thread can compute any element independently, and a draw
// depends only on what it is for, never on the order in which draws were made. Checked against
// the Random123 known-answer vectors (tests/unit/test_philox.c).
//
// Keying (the contract shared with cuda/ and with the Python twin tools/philox.py):
//   key     = (k0, k1) = (low 32 bits of seed, high 32 bits of seed)
//   counter = (c0, c1, c2, c3) = (low 32 bits of b, high 32 bits of b, sample, image)
//             with b = i / 4 the block of element i, `image` the image's position in the run's
//             image list (not in a shard or a batch: a sharded or resumed run draws the same noise)
//             and `sample` the draw's index within the image (SmoothGrad's s, ...).
//   Element i uses word w = i % 4 of block b: out[0..3] = philox4x32_10(counter, key).
//
// Uniform (pc_philox_uniform): u = (out[w] >> 8) * 2^-24, a float in [0, 1) with every value a
//   multiple of 2^-24 (exact in float32, so identical everywhere).
// Standard normal (pc_philox_normal), Box-Muller on the word pairs (out[0], out[1]) -> elements
//   4b, 4b+1 and (out[2], out[3]) -> elements 4b+2, 4b+3. For a pair (a, b) of words:
//     u1 = (a + 1) * 2^-32          in (0, 1]   (never 0: log is finite; exact in double)
//     u2 = b * 2^-32                in [0, 1)
//     r  = sqrt(-2 * log(u1)),  t = 6.283185307179586 * u2      (double)
//     first element  = (float)(r * cos(t)),  second element = (float)(r * sin(t))
//   computed in double and rounded once to float. Numerics caveat: the double log / cos / sin of
//   glibc, CUDA (log 1 ulp, sin / cos 2 ulp) and numpy may differ in the last bit of the double;
//   after rounding to float that changes a value only when the double lies within a few double
//   ulps of a float rounding boundary (about 1 value in 2^27), and then by one float ulp. So CPU,
//   GPU and Python agree bit for bit except, rarely, in the last bit of a normal. Uniforms agree
//   always. |z| <= sqrt(2 * 32 ln 2) = 6.66.
// The uniform and the normal of the same (seed, image, sample, i) come from the same block:
// a method that needs both independent should use two seeds (e.g. seed and seed ^ a constant).
#ifndef PC_PHILOX_H
#define PC_PHILOX_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define PC_HD __host__ __device__
#else
#define PC_HD
#endif

#define PC_PHILOX_M0 0xD2511F53u
#define PC_PHILOX_M1 0xCD9E8D57u
#define PC_PHILOX_W0 0x9E3779B9u   // key bumps: golden ratio, sqrt(3) - 1
#define PC_PHILOX_W1 0xBB67AE85u

typedef struct {
    uint32_t v[4];
} PcPhilox4;

// One round: (c0, c1, c2, c3) -> (hi(M1*c2) ^ c1 ^ k0, lo(M1*c2), hi(M0*c0) ^ c3 ^ k1, lo(M0*c0)).
PC_HD static inline PcPhilox4 pc_philox_round(PcPhilox4 c, uint32_t k0, uint32_t k1) {
    const uint64_t p0 = (uint64_t)PC_PHILOX_M0 * c.v[0];
    const uint64_t p1 = (uint64_t)PC_PHILOX_M1 * c.v[2];
    PcPhilox4 r;
    r.v[0] = (uint32_t)(p1 >> 32) ^ c.v[1] ^ k0;
    r.v[1] = (uint32_t)p1;
    r.v[2] = (uint32_t)(p0 >> 32) ^ c.v[3] ^ k1;
    r.v[3] = (uint32_t)p0;
    return r;
}

// Philox-4x32-10: ten rounds, the key bumped by (W0, W1) between rounds (wrapping).
PC_HD static inline PcPhilox4 pc_philox4x32_10(PcPhilox4 ctr, uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        if (round > 0) {
            k0 += PC_PHILOX_W0;
            k1 += PC_PHILOX_W1;
        }
        ctr = pc_philox_round(ctr, k0, k1);
    }
    return ctr;
}

// The four words of block b (elements 4b .. 4b+3) of stream (seed, image, sample).
PC_HD static inline PcPhilox4 pc_philox_block(uint64_t seed, uint32_t image, uint32_t sample, uint64_t b) {
    PcPhilox4 c;
    c.v[0] = (uint32_t)b;
    c.v[1] = (uint32_t)(b >> 32);
    c.v[2] = sample;
    c.v[3] = image;
    return pc_philox4x32_10(c, (uint32_t)seed, (uint32_t)(seed >> 32));
}

// Word -> float in [0, 1): 24 high bits, exact in float32.
PC_HD static inline float pc_philox_u24(uint32_t x) { return (float)(x >> 8) * (1.0f / 16777216.0f); }

// Box-Muller of one word pair; which = 0 gives the cosine element, 1 the sine element.
PC_HD static inline float pc_philox_box_muller(uint32_t a, uint32_t b, int which) {
    const double u1 = ((double)a + 1.0) * (1.0 / 4294967296.0);   // (0, 1]
    const double u2 = (double)b * (1.0 / 4294967296.0);           // [0, 1)
    const double r = sqrt(-2.0 * log(u1));
    const double t = 6.283185307179586 * u2;
    return (float)(which ? r * sin(t) : r * cos(t));
}

// Uniform element i of stream (seed, image, sample), in [0, 1).
PC_HD static inline float pc_philox_uniform(uint64_t seed, uint32_t image, uint32_t sample, uint64_t i) {
    const PcPhilox4 o = pc_philox_block(seed, image, sample, i >> 2);
    return pc_philox_u24(o.v[i & 3]);
}

// Standard normal element i of stream (seed, image, sample).
PC_HD static inline float pc_philox_normal(uint64_t seed, uint32_t image, uint32_t sample, uint64_t i) {
    const PcPhilox4 o = pc_philox_block(seed, image, sample, i >> 2);
    const int pair = (int)(i & 2);   // words 0,1 or 2,3
    return pc_philox_box_muller(o.v[pair], o.v[pair + 1], (int)(i & 1));
}

// Host bulk fills (host-only functions, also under nvcc): out[j] = element (first + j) of the stream, j < n. Same values as the
// element-wise functions, one Philox call per block.
static inline void pc_philox_fill_uniform(uint64_t seed, uint32_t image, uint32_t sample, uint64_t first,
                                          size_t n, float *out) {
    size_t j = 0;
    while (j < n) {
        const uint64_t i = first + j, b = i >> 2;
        const PcPhilox4 o = pc_philox_block(seed, image, sample, b);
        for (unsigned w = (unsigned)(i & 3); w < 4 && j < n; w++, j++) out[j] = pc_philox_u24(o.v[w]);
    }
}

static inline void pc_philox_fill_normal(uint64_t seed, uint32_t image, uint32_t sample, uint64_t first,
                                         size_t n, float *out) {
    size_t j = 0;
    while (j < n) {
        const uint64_t i = first + j, b = i >> 2;
        const PcPhilox4 o = pc_philox_block(seed, image, sample, b);
        for (unsigned w = (unsigned)(i & 3); w < 4 && j < n; w++, j++)
            out[j] = pc_philox_box_muller(o.v[w & 2], o.v[(w & 2) + 1], (int)(w & 1));
    }
}

#endif
