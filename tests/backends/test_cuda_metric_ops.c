// test_cuda_metric_ops.c: the perturbation metrics' ops of the CUDA backend (backend.h:
// road_impute, region_samples, uniform_baseline; cuda/cuda_metric_ops.cu) against the CPU backend,
// the reference. region_samples and uniform_baseline must be bit identical (same index arithmetic,
// exact Philox uniforms); road_impute within 1e-5 (CPU: banded Cholesky, exact in double; CUDA:
// conjugate gradients to a relative residual of 1e-10), the noise term included.
// Skips (exit 77) when the CUDA backend is not compiled in or no device is present.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_backend.h"
#include "cuda_backend.h"
#include "metric_math.h"
#include "testutil.h"

static PcBackend *cpu, *gpu;

static unsigned rng_state = 4242u;
static float frand(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) * (1.0f / 16777216.0f);
}

static void compare(const char *what, const float *got, const float *ref, size_t n, double tol) {
    size_t bad = 0;
    double dmax = 0;
    for (size_t i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - ref[i]);
        if (!(d <= tol) || (tol == 0 && memcmp(&got[i], &ref[i], sizeof(float)))) bad++;
        if (d == d) dmax = fmax(dmax, d);
    }
    printf("  %-44s n=%-9zu over tolerance %zu (max abs %.2e)\n", what, n, bad, dmax);
    CHECK(bad == 0, "%s: %zu of %zu values differ from the CPU (max abs %.3g, tolerance %.0e)", what, bad, n, dmax, tol);
}

// A descending order of a smooth random map (the CPU's argsort), so removed regions are blobs.
static int *smooth_order(int s) {
    const size_t ss = (size_t)s * s;
    float *m = xmalloc(ss * sizeof(float));
    const float a = 6.0f * frand() + 1.0f, b = 6.0f * frand() + 1.0f;
    for (size_t p = 0; p < ss; p++)
        m[p] = sinf(a * (float)(p / s) / s) * cosf(b * (float)(p % s) / s) + 0.01f * frand();
    int *order = xmalloc(ss * sizeof(int));
    cpu->argsort_desc(cpu, m, (int)ss, order);
    free(m);
    return order;
}

static void road_case(int s, int m, int from_end) {
    const size_t ss = (size_t)s * s, xs = 3 * ss;
    float *x = xmalloc(xs * sizeof(float));
    for (size_t i = 0; i < xs; i++) x[i] = 4 * frand() - 2;
    int *order = smooth_order(s), counts[16];
    uint32_t samples[16];
    for (int j = 0; j < m; j++) {
        counts[j] = (int)((double)ss * (10.0 * (j + 1)) / 100.0);
        samples[j] = ((uint32_t)PC_STREAM_ROAD << 16) | ((uint32_t)from_end << 8) | (uint32_t)j;
    }
    float *ref = xmalloc((size_t)m * xs * sizeof(float));
    cpu->road_impute(cpu, x, order, s, counts, m, from_end, 0.01f, 7, 3, samples, ref);
    float *dx = test_upload(gpu, x, xs * sizeof(float));
    int *dorder = test_upload(gpu, order, ss * sizeof(int));
    float *dout = gpu->alloc(gpu, (size_t)m * xs * sizeof(float));
    gpu->road_impute(gpu, dx, dorder, s, counts, m, from_end, 0.01f, 7, 3, samples, dout);
    float *got = test_download(gpu, dout, (size_t)m * xs * sizeof(float));
    char what[96];
    snprintf(what, sizeof what, "road_impute s=%d m=%d %s", s, m, from_end ? "LeRF" : "MoRF");
    compare(what, got, ref, (size_t)m * xs, 1e-5);
    gpu->release(gpu, dx), gpu->release(gpu, dorder), gpu->release(gpu, dout);
    free(x), free(order), free(ref), free(got);
}

static void region_case(int s, int patch, int t0, int m) {
    const size_t ss = (size_t)s * s, xs = 3 * ss;
    const int side = pc_region_per_side(s, patch), np = side * side;
    float *x = xmalloc(xs * sizeof(float)), *base = xmalloc(xs * sizeof(float));
    for (size_t i = 0; i < xs; i++) x[i] = frand(), base[i] = -frand();
    int *rank = xmalloc((size_t)np * sizeof(int));
    for (int i = 0; i < np; i++) rank[i] = i;
    for (int i = np - 1; i > 0; i--) {   // a random permutation
        int j = (int)(frand() * (i + 1)), t = rank[i];
        rank[i] = rank[j], rank[j] = t;
    }
    float *ref = xmalloc((size_t)m * xs * sizeof(float));
    cpu->region_samples(cpu, x, base, rank, s, patch, t0, m, ref);
    float *dx = test_upload(gpu, x, xs * sizeof(float)), *db = test_upload(gpu, base, xs * sizeof(float));
    int *dr = test_upload(gpu, rank, (size_t)np * sizeof(int));
    float *dout = gpu->alloc(gpu, (size_t)m * xs * sizeof(float));
    gpu->region_samples(gpu, dx, db, dr, s, patch, t0, m, dout);
    float *got = test_download(gpu, dout, (size_t)m * xs * sizeof(float));
    char what[96];
    snprintf(what, sizeof what, "region_samples s=%d patch=%d t0=%d", s, patch, t0);
    compare(what, got, ref, (size_t)m * xs, 0);
    gpu->release(gpu, dx), gpu->release(gpu, db), gpu->release(gpu, dr), gpu->release(gpu, dout);
    free(x), free(base), free(rank), free(ref), free(got);
}

static void uniform_case(int s) {
    const size_t xs = (size_t)3 * s * s;
    float *ref = xmalloc(xs * sizeof(float));
    cpu->uniform_baseline(cpu, s, 0.0f, 1.0f, 11, 5, (uint32_t)PC_STREAM_PERTURB_BASE << 16, ref);
    float *dout = gpu->alloc(gpu, xs * sizeof(float));
    gpu->uniform_baseline(gpu, s, 0.0f, 1.0f, 11, 5, (uint32_t)PC_STREAM_PERTURB_BASE << 16, dout);
    float *got = test_download(gpu, dout, xs * sizeof(float));
    compare("uniform_baseline", got, ref, xs, 0);
    gpu->release(gpu, dout);
    free(ref), free(got);
}

int main(void) {
    PcError err = {{0}};
    PcBackendOptions opt = {.precision = PC_PREC_FP32};
    gpu = pc_backend_cuda_create(&opt, &err);
    if (!gpu) test_skip(err.msg);
    cpu = pc_backend_cpu_create(&opt, &err);
    CHECK(cpu != NULL, "CPU backend: %s", err.msg);
    if (!cpu) return test_summary();
    printf("test_cuda_metric_ops on %s vs %s\n", gpu->device_name, cpu->device_name);
    road_case(64, 9, 0);
    road_case(64, 9, 1);
    road_case(224, 3, 0);
    region_case(224, 16, 0, 7);
    region_case(224, 9, 40, 5);    // padded grid (224 % 9 != 0)
    region_case(50, 8, 3, 4);
    uniform_case(224);
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    return test_summary();
}
