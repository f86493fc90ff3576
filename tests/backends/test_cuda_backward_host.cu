// test_cuda_backward_host.cu: the index arithmetic of the CUDA backward's pooling kernels
// (cuda/cuda_backward_pool.cuh, __host__ __device__), run on the host, against PyTorch's CPU
// kernels written as scatter loops: max-pool backward (argmax per window: first max in scan
// order, NaN wins, the last NaN; all -inf: the window's first element; then each input element
// gathers from the windows that chose it) over every window size 1..4, stride 1..3, padding
// 0..k/2 and input 1..13 x 1..9, with ties, NaN and -inf; adaptive average pool backward
// (torch's START_IND / END_IND bins, gradient / kh / kw) for inputs 1..14 to outputs 1..9,
// downsampling and upsampling. Needs nvcc, no GPU: built whenever the CUDA backend is.
#include <math.h>
#include <vector>

#include "cuda_backward_pool.cuh"
extern "C" {
#include "testutil.h"
}

static unsigned rng_state = 7u;
static float frand(void) {   // [0, 1)
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) * (1.0f / 16777216.0f);
}

// max |a - b| / max |b|; NaN must meet NaN
static double rel(const std::vector<float> &a, const std::vector<float> &b) {
    double m = 0, r = 0;
    for (size_t i = 0; i < a.size(); i++) {
        if (isnan(a[i]) || isnan(b[i])) {
            if (!(isnan(a[i]) && isnan(b[i]))) return INFINITY;
            continue;
        }
        m = fmax(m, fabs((double)a[i] - b[i]));
        r = fmax(r, fabs((double)b[i]));
    }
    return r > 0 ? m / r : m;
}

// kind: 0 uniform, 1 values in {0, 1, 2} (ties), 2 ties + 3 NaN, 3 ties + 30 % -inf
static double maxpool_case(int planes, int h, int w, int k, int s, int pad, int kind) {
    const int oh = (h + 2 * pad - k) / s + 1, ow = (w + 2 * pad - k) / s + 1;
    std::vector<float> x((size_t)planes * h * w), gy((size_t)planes * oh * ow);
    std::vector<float> ref(x.size(), 0.0f), got(x.size());
    for (auto &v : x) v = kind ? floorf(3.0f * frand()) : 2.0f * frand() - 1.0f;
    if (kind == 2)
        for (int t = 0; t < 3; t++) x[(size_t)(frand() * x.size())] = NAN;
    if (kind == 3)
        for (auto &v : x)
            if (frand() < 0.3f) v = -INFINITY;
    for (auto &v : gy) v = 2.0f * frand() - 1.0f;
    // PyTorch's cpu_max_pool (dilation 1), then max_pool2d_with_indices_backward's scatter
    for (int p = 0; p < planes; p++)
        for (int oy = 0; oy < oh; oy++)
            for (int ox = 0; ox < ow; ox++) {
                int ih0 = oy * s - pad, iw0 = ox * s - pad;
                int ih1 = ih0 + k < h ? ih0 + k : h, iw1 = iw0 + k < w ? iw0 + k : w;
                while (ih0 < 0) ih0++;
                while (iw0 < 0) iw0++;
                int mi = ih0 * w + iw0;
                float mv = -INFINITY;
                for (int ih = ih0; ih < ih1; ih++)
                    for (int iw = iw0; iw < iw1; iw++) {
                        float v = x[(size_t)p * h * w + ih * w + iw];
                        if (v > mv || isnan(v)) mv = v, mi = ih * w + iw;
                    }
                ref[(size_t)p * h * w + mi] += gy[((size_t)p * oh + oy) * ow + ox];
            }
    std::vector<int> idx(gy.size());
    for (size_t i = 0; i < idx.size(); i++) idx[i] = maxpool_argmax_at(x.data(), i, h, w, oh, ow, k, s, pad);
    for (size_t i = 0; i < got.size(); i++)
        got[i] = maxpool_back_at(gy.data(), idx.data(), i, h, w, oh, ow, k, s, pad);
    return rel(got, ref);
}

static double adaptive_case(int planes, int h, int w, int oh, int ow) {
    std::vector<float> gy((size_t)planes * oh * ow), ref((size_t)planes * h * w, 0.0f), got(ref.size());
    for (auto &v : gy) v = 2.0f * frand() - 1.0f;
    for (int p = 0; p < planes; p++)
        for (int oy = 0; oy < oh; oy++) {
            // torch's START_IND(a, b, c) = (a / b) * c + ((a % b) * c) / b, END_IND = 1 + ((a + 1) * c - 1) / b
            int ys = (oy / oh) * h + ((oy % oh) * h) / oh, ye = 1 + ((oy + 1) * h - 1) / oh;
            for (int ox = 0; ox < ow; ox++) {
                int xs = (ox / ow) * w + ((ox % ow) * w) / ow, xe = 1 + ((ox + 1) * w - 1) / ow;
                float d = gy[((size_t)p * oh + oy) * ow + ox] / (ye - ys) / (xe - xs);
                for (int y = ys; y < ye; y++)
                    for (int x = xs; x < xe; x++) ref[(size_t)p * h * w + y * w + x] += d;
            }
        }
    for (size_t i = 0; i < got.size(); i++) got[i] = adaptive_avg_back_at(gy.data(), i, h, w, oh, ow);
    return rel(got, ref);
}

int main(void) {
    // gather and scatter add the same terms in the same order: equal up to rounding
    const double tol = 1e-6;
    int cases = 0;
    double worst = 0;
    for (int h = 1; h <= 13; h++)
        for (int w = 1; w <= 9; w += 2)
            for (int k = 1; k <= 4; k++)
                for (int s = 1; s <= 3; s++)
                    for (int pad = 0; pad <= k / 2; pad++)
                        for (int kind = 0; kind < 4; kind++) {
                            if (h + 2 * pad < k || w + 2 * pad < k) continue;
                            double e = maxpool_case(2, h, w, k, s, pad, kind);
                            worst = fmax(worst, e), cases++;
                            CHECK(e <= tol, "max-pool %dx%d k%d s%d pad%d kind %d: rel err %.3g", h, w, k, s,
                                  pad, kind, e);
                        }
    printf("  max-pool backward: %d cases, worst rel err %.2e\n", cases, worst);
    cases = 0, worst = 0;
    for (int h = 1; h <= 14; h++)
        for (int oh = 1; oh <= 9; oh++) {
            const int w = h + 3, ow = (2 * oh) % 7 + 1;
            double e = adaptive_case(2, h, w, oh, ow);
            worst = fmax(worst, e), cases++;
            CHECK(e <= tol, "adaptive pool %dx%d -> %dx%d: rel err %.3g", h, w, oh, ow, e);
        }
    const int shapes[4][2] = {{7, 7}, {7, 1}, {10, 3}, {4, 7}};   // VGG, ResNet, uneven, upsampling
    for (int c = 0; c < 4; c++) {
        double e = adaptive_case(3, shapes[c][0], shapes[c][0], shapes[c][1], shapes[c][1]);
        worst = fmax(worst, e), cases++;
        CHECK(e <= tol, "adaptive pool %d -> %d: rel err %.3g", shapes[c][0], shapes[c][1], e);
    }
    printf("  adaptive average pool backward: %d cases, worst rel err %.2e\n", cases, worst);
    return test_summary();
}
