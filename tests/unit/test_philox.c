// test_philox.c: host/shared/philox.h. Philox-4x32-10 against the Random123 known-answer vectors
// (kat_vectors of Random123 1.x, "philox4x32 10" lines); the uniform and normal streams against
// values printed by the independent numpy twin tools/philox.py (`python3 tools/philox.py`); the
// bulk fills against the element-wise functions; moments of 1e6 draws; different images, samples
// and seeds giving different streams.
// Test plan for the twins: uniforms must match bit for bit everywhere (integer ops and one exact
// float multiply). Normals go through double log / sqrt / cos / sin rounded once to float: the
// numpy twin matches these values exactly; a CUDA check should compare many values and allow a
// rare (about 1 in 2^27) one-ulp difference, as philox.h explains.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "philox.h"
#include "testutil.h"

static void test_kat(void) {
    static const struct {
        uint32_t ctr[4], key[2], want[4];
    } kat[] = {
        {{0, 0, 0, 0}, {0, 0}, {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
        {{0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
         {0xffffffff, 0xffffffff},
         {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
        {{0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
         {0xa4093822, 0x299f31d0},
         {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
    };
    for (int t = 0; t < 3; t++) {
        PcPhilox4 c;
        memcpy(c.v, kat[t].ctr, sizeof c.v);
        PcPhilox4 o = pc_philox4x32_10(c, kat[t].key[0], kat[t].key[1]);
        CHECK(memcmp(o.v, kat[t].want, sizeof o.v) == 0, "KAT %d: %08x %08x %08x %08x", t, o.v[0], o.v[1], o.v[2],
              o.v[3]);
    }
    // the keying: seed 0, image 0, sample 0, block 0 is the all-zero KAT
    PcPhilox4 o = pc_philox_block(0, 0, 0, 0);
    CHECK(o.v[0] == 0x6627e8d5 && o.v[3] == 0x9b00dbd8, "block (0,0,0,0) is the zero KAT");
    CHECK(pc_philox_uniform(0, 0, 0, 0) == (float)(0x6627e8d5u >> 8) / 16777216.0f, "uniform = word >> 8");
}

// Values printed by tools/philox.py (numpy twin), %.9g: exact float32 round trip.
static void test_twin(void) {
    static const struct {
        uint64_t seed;
        uint32_t image, sample;
        uint64_t first;
        float u[6], z[6];
    } tw[] = {
        {0, 0, 0, 0,
         {0.399046421f, 0.880520165f, 0.735712767f, 0.605481803f, 0.972241163f, 0.362091064f},
         {0.991137683f, -0.92466259f, -0.617608964f, -0.482068598f, -0.153638229f, 0.180825904f}},
        {1234, 7, 3, 5,
         {0.701214015f, 0.249872625f, 0.114191175f, 0.551658452f, 0.215295196f, 0.247762978f},
         {-0.49525407f, 1.25482702f, 1.09499633f, 0.235956505f, 1.06488347f, -1.46640539f}},
        {0x123456789abcdef0ull, 4999, 49, 150523,
         {0.0685854554f, 0.0706452727f, 0.180555344f, 0.476862311f, 0.369602025f, 0.716523468f},
         {0.247058839f, 0.972957909f, 2.08650899f, -0.830863476f, 0.889224827f, -0.183435917f}},
    };
    for (int t = 0; t < 3; t++) {
        float fu[6], fz[6];
        pc_philox_fill_uniform(tw[t].seed, tw[t].image, tw[t].sample, tw[t].first, 6, fu);
        pc_philox_fill_normal(tw[t].seed, tw[t].image, tw[t].sample, tw[t].first, 6, fz);
        for (int j = 0; j < 6; j++) {
            uint64_t i = tw[t].first + j;
            float u = pc_philox_uniform(tw[t].seed, tw[t].image, tw[t].sample, i);
            float z = pc_philox_normal(tw[t].seed, tw[t].image, tw[t].sample, i);
            CHECK(u == tw[t].u[j], "twin %d uniform[%d] = %.9g, numpy %.9g", t, j, u, tw[t].u[j]);
            CHECK(z == tw[t].z[j], "twin %d normal[%d] = %.9g, numpy %.9g", t, j, z, tw[t].z[j]);
            CHECK(fu[j] == u && fz[j] == z, "twin %d element %d: bulk fill equals element-wise", t, j);
        }
    }
}

static void test_moments(void) {
    const size_t n = 1000000;
    float *u = xmalloc(n * sizeof(float)), *z = xmalloc(n * sizeof(float));
    pc_philox_fill_uniform(42, 3, 1, 0, n, u);
    pc_philox_fill_normal(42, 3, 1, 0, n, z);
    double su = 0, suu = 0, sz = 0, szz = 0, sz3 = 0, sz4 = 0, lag = 0;
    float umin = 1, umax = 0;
    size_t beyond2 = 0;
    for (size_t i = 0; i < n; i++) {
        su += u[i], suu += (double)u[i] * u[i];
        umin = fminf(umin, u[i]), umax = fmaxf(umax, u[i]);
        double v = z[i];
        sz += v, szz += v * v, sz3 += v * v * v, sz4 += v * v * v * v;
        if (fabs(v) > 2) beyond2++;
        if (i) lag += (double)z[i] * z[i - 1];   // pairs of one Box-Muller draw are uncorrelated
    }
    double mu = su / n, vu = suu / n - mu * mu, mz = sz / n, vz = szz / n - mz * mz;
    // 1e6 draws: standard errors ~ 3e-4 (uniform mean), 1e-3 (normal mean), 1.4e-3 (variance)
    CHECK(fabs(mu - 0.5) < 2e-3 && fabs(vu - 1.0 / 12) < 1e-3, "uniform mean %.5f var %.5f", mu, vu);
    CHECK(umin >= 0 && umax < 1, "uniform range [%g, %g]", umin, umax);
    CHECK(fabs(mz) < 5e-3 && fabs(vz - 1) < 7e-3, "normal mean %.5f var %.5f", mz, vz);
    CHECK(fabs(sz3 / n) < 2e-2 && fabs(sz4 / n - 3) < 5e-2, "normal skew %.4f kurtosis %.4f", sz3 / n, sz4 / n);
    double p2 = (double)beyond2 / n;   // P(|z| > 2) = 0.0455
    CHECK(fabs(p2 - 0.0455) < 1.5e-3, "normal P(|z| > 2) = %.4f", p2);
    CHECK(fabs(lag / (n - 1)) < 5e-3, "normal lag-1 correlation %.4f", lag / (n - 1));
    printf("  uniform mean %.5f var %.5f; normal mean %.5f var %.5f skew %.4f kurt %.4f P(|z|>2) %.4f\n", mu, vu,
           mz, vz, sz3 / n, sz4 / n, p2);
    free(u), free(z);
}

// Streams of different (seed, image, sample) are different, and uncorrelated.
static void test_independence(void) {
    const size_t n = 4096;
    const struct {
        uint64_t seed;
        uint32_t image, sample;
    } keys[] = {{1, 0, 0}, {1, 1, 0}, {1, 0, 1}, {2, 0, 0}, {1ull << 32 | 1, 0, 0}, {1, 1, 1}};
    const int nk = (int)(sizeof keys / sizeof keys[0]);
    float z[6][4096];
    for (int a = 0; a < nk; a++) pc_philox_fill_normal(keys[a].seed, keys[a].image, keys[a].sample, 0, n, z[a]);
    for (int a = 0; a < nk; a++)
        for (int b = a + 1; b < nk; b++) {
            size_t same = 0;
            double dot = 0;
            for (size_t i = 0; i < n; i++) {
                same += z[a][i] == z[b][i];
                dot += (double)z[a][i] * z[b][i];
            }
            // correlation of independent streams: standard error 1/sqrt(4096) = 0.016
            CHECK(same == 0 && fabs(dot / n) < 0.08, "streams %d and %d: %zu equal values, correlation %.3f", a, b,
                  same, dot / n);
        }
    // the same key twice gives the same values (a pure function)
    float again[16];
    pc_philox_fill_normal(keys[2].seed, keys[2].image, keys[2].sample, 100, 16, again);
    CHECK(memcmp(again, z[2] + 100, sizeof again) == 0, "same key, same values");
}

int main(void) {
    test_kat();
    test_twin();
    test_moments();
    test_independence();
    return test_summary();
}
