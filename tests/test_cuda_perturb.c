// test_cuda_perturb.c: the perturbation ops of the CUDA backend (backend.h: rise_masks,
// masked_batch, occlusion_inputs, weighted_map_sum) against the CPU backend, the reference. The
// first three must be bit identical (the RISE resize is computed in double with explicitly
// rounded operations on both); the GEMV within 1e-5 relative (summation order differs).
// Skips (exit 77) when the CUDA backend is not compiled in or no device is present.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "testutil.h"
#include "cpu_backend.h"
#include "cuda_backend.h"

static PcBackend *cpu, *gpu;

static TestRng rng = {777u};
static float frand(void) { return test_rand01(&rng); }

static void same_bits(const char *what, const float *got, const float *ref, size_t n) {
    size_t bad = 0;
    double dmax = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &ref[i], sizeof(float))) bad++, dmax = fmax(dmax, fabs((double)got[i] - ref[i]));
    printf("  %-40s n=%-9zu differing %zu (max abs %.2e)\n", what, n, bad, dmax);
    CHECK(bad == 0, "%s: %zu of %zu values differ from the CPU (max abs %.3g)", what, bad, n, dmax);
}

static void rise_case(int m, int cells, int s) {
    const int cell = (s + cells - 1) / cells, up = (cells + 1) * cell;
    unsigned char *grid = xmalloc((size_t)m * cells * cells);
    int *off = xmalloc((size_t)m * 2 * sizeof(int));
    for (size_t i = 0; i < (size_t)m * cells * cells; i++) grid[i] = frand() < 0.3f;
    for (int i = 0; i < 2 * m; i++) off[i] = (int)(frand() * cell);
    const size_t n = (size_t)m * s * s;
    float *ref = xmalloc(n * sizeof(float));
    cpu->rise_masks(cpu, grid, off, m, cells, up, s, ref);
    void *dg = test_upload(gpu, grid, (size_t)m * cells * cells), *doff = test_upload(gpu, off, (size_t)m * 2 * sizeof(int));
    float *dout = gpu->alloc(gpu, n * sizeof(float));
    gpu->rise_masks(gpu, dg, doff, m, cells, up, s, dout);
    float *got = test_download(gpu, dout, n * sizeof(float));
    char what[96];
    snprintf(what, sizeof what, "rise_masks m=%d cells=%d s=%d", m, cells, s);
    same_bits(what, got, ref, n);
    gpu->release(gpu, dg), gpu->release(gpu, doff), gpu->release(gpu, dout);
    free(grid), free(off), free(ref), free(got);
}

static void masked_case(int m, int s) {
    const size_t ss = (size_t)s * s;
    float *x = xmalloc(3 * ss * sizeof(float)), *mk = xmalloc(m * ss * sizeof(float));
    for (size_t i = 0; i < 3 * ss; i++) x[i] = 4 * frand() - 2;
    for (size_t i = 0; i < m * ss; i++) mk[i] = frand();
    float *ref = xmalloc((size_t)m * 3 * ss * sizeof(float));
    cpu->masked_batch(cpu, x, mk, m, s, ref);
    float *dx = test_upload(gpu, x, 3 * ss * sizeof(float)), *dm = test_upload(gpu, mk, m * ss * sizeof(float));
    float *dout = gpu->alloc(gpu, (size_t)m * 3 * ss * sizeof(float));
    gpu->masked_batch(gpu, dx, dm, m, s, dout);
    float *got = test_download(gpu, dout, (size_t)m * 3 * ss * sizeof(float));
    same_bits("masked_batch", got, ref, (size_t)m * 3 * ss);
    gpu->release(gpu, dx), gpu->release(gpu, dm), gpu->release(gpu, dout);
    free(x), free(mk), free(ref), free(got);
}

static void occlusion_case(int s, int window, int stride, int t0, int m) {
    const size_t xs = (size_t)3 * s * s;
    float *x = xmalloc(xs * sizeof(float));
    for (size_t i = 0; i < xs; i++) x[i] = frand() + 0.5f;
    float *ref = xmalloc((size_t)m * xs * sizeof(float));
    cpu->occlusion_inputs(cpu, x, s, window, stride, t0, m, ref);
    float *dx = test_upload(gpu, x, xs * sizeof(float)), *dout = gpu->alloc(gpu, (size_t)m * xs * sizeof(float));
    gpu->occlusion_inputs(gpu, dx, s, window, stride, t0, m, dout);
    float *got = test_download(gpu, dout, (size_t)m * xs * sizeof(float));
    char what[96];
    snprintf(what, sizeof what, "occlusion_inputs s=%d w=%d st=%d t0=%d", s, window, stride, t0);
    same_bits(what, got, ref, (size_t)m * xs);
    gpu->release(gpu, dx), gpu->release(gpu, dout);
    free(x), free(ref), free(got);
}

static void gemv_case(int m, int n) {
    float *maps = xmalloc((size_t)m * n * sizeof(float)), *w = xmalloc(m * sizeof(float));
    float *acc = xmalloc(n * sizeof(float)), *ref = xmalloc(n * sizeof(float));
    for (size_t i = 0; i < (size_t)m * n; i++) maps[i] = frand();
    for (int i = 0; i < m; i++) w[i] = frand();
    for (int i = 0; i < n; i++) acc[i] = ref[i] = frand();
    cpu->weighted_map_sum(cpu, maps, w, m, n, ref);
    float *dm = test_upload(gpu, maps, (size_t)m * n * sizeof(float)), *dw = test_upload(gpu, w, m * sizeof(float));
    float *da = test_upload(gpu, acc, n * sizeof(float));
    gpu->weighted_map_sum(gpu, dm, dw, m, n, da);
    float *got = test_download(gpu, da, n * sizeof(float));
    double dmax = 0, rmax = 0;
    for (int i = 0; i < n; i++) {
        const double d = fabs((double)got[i] - ref[i]);
        dmax = d == d ? fmax(dmax, d) : INFINITY;   // fmax would skip a NaN the GPU wrote
        rmax = fmax(rmax, fabs(ref[i]));
    }
    printf("  weighted_map_sum m=%d n=%d: rel %.2e\n", m, n, dmax / rmax);
    CHECK(dmax <= 1e-5 * rmax, "weighted_map_sum m=%d n=%d: rel diff %.3g", m, n, dmax / rmax);
    gpu->release(gpu, dm), gpu->release(gpu, dw), gpu->release(gpu, da);
    free(maps), free(w), free(acc), free(ref), free(got);
}

int main(void) {
    PcError err = {{0}};
    PcBackendOptions opt = {.precision = PC_PREC_FP32};
    gpu = pc_backend_cuda_create(&opt, &err);
    if (!gpu) test_skip(err.msg);
    cpu = pc_backend_cpu_create(&opt, &err);
    CHECK(cpu != NULL, "CPU backend: %s", err.msg);
    if (!cpu) return test_summary();
    printf("test_cuda_perturb on %s vs %s\n", gpu->device_name, cpu->device_name);
    rise_case(40, 8, 224);
    rise_case(9, 7, 50);
    rise_case(3, 1, 16);
    rise_case(5, 3, 224);
    masked_case(7, 224);
    occlusion_case(224, 64, 8, 0, 33);
    occlusion_case(224, 64, 8, 430, 11);
    occlusion_case(50, 16, 12, 2, 14);   // last window clipped at the border
    gemv_case(64, 224 * 224);
    gemv_case(3, 100);
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    return test_summary();
}
