// cuda_metric_ops.cu: the perturbation metrics' ops of the CUDA backend (backend.h: road_impute,
// region_samples, uniform_baseline), each with the name and argument order of its CPU twin in
// host/cpu/cpu_metric_ops.c and the index / value arithmetic of host/metric_math.h.
// ROAD's imputation solves the same symmetric positive definite system as the CPU's banded
// Cholesky, here by conjugate gradients in double, all m masks and 3 channels at once (one system
// per (mask, channel)), to a relative residual of 1e-10: the values agree with the CPU's to about
// 1e-7 after rounding to float. The dot products are block reductions in a fixed order, so a run
// repeats bit for bit.
#include <math.h>

#include "cuda_common.cuh"
#include "metric_math.h"
#include "philox.h"

#define ROAD_THREADS 256
#define ROAD_CHECK_EVERY 25
#define ROAD_MAX_ITERS 20000
#define ROAD_REL_TOL2 1e-20   // (relative residual 1e-10)^2

// u (m, ss) = 1 for the removed pixels of mask j: order[i] for i < counts[j] (from the end when
// from_end). u zeroed before.
__global__ void k_road_mark(const int *order, const int *counts, int m, int ss, int from_end, unsigned char *u) {
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)m * ss) return;
    const int j = (int)(idx / ss), i = (int)(idx % ss), k = counts[j];
    if (i < k) u[(size_t)j * ss + order[from_end ? ss - k + i : i]] = 1;
}

// b (right-hand side) of unknown pixels, X = 0, R = P = b; zeros elsewhere. One thread per (j, c, p).
__global__ void k_road_init(const float *x, const unsigned char *u, int m, int s, double *X, double *R, double *P) {
    const size_t ss = (size_t)s * s, idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)m * 3 * ss) return;
    const size_t j = idx / (3 * ss), c = idx / ss % 3, p = idx % ss;
    const unsigned char *uj = u + j * ss;
    double b = 0.0;
    if (uj[p]) {
        const int y = (int)(p / s), xx = (int)(p % s);
        for (int n = 0; n < PC_ROAD_NEIGHBOURS; n++) {
            int q;
            double w;
            if (pc_road_neighbour_at(n, y, xx, s, &q, &w) && !uj[q]) b += w * (double)x[c * ss + q];
        }
    }
    X[idx] = 0.0;
    R[idx] = b;
    P[idx] = b;
}

// AP = M P on the unknowns: weight sum * P(p) - sum of w * P(neighbour) over unknown neighbours.
__global__ void k_road_apply(const unsigned char *u, int m, int s, const double *P, double *AP) {
    const size_t ss = (size_t)s * s, idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)m * 3 * ss) return;
    const size_t j = idx / (3 * ss), p = idx % ss, base = idx - p;
    const unsigned char *uj = u + j * ss;
    if (!uj[p]) {
        AP[idx] = 0.0;
        return;
    }
    const int y = (int)(p / s), xx = (int)(p % s);
    double v = pc_road_weight_sum(y, xx, s) * P[idx];
    for (int n = 0; n < PC_ROAD_NEIGHBOURS; n++) {
        int q;
        double w;
        if (pc_road_neighbour_at(n, y, xx, s, &q, &w) && uj[q]) v -= w * P[base + q];
    }
    AP[idx] = v;
}

// out[jc] = sum over the ss values of system jc of a * b: one block per system, fixed order.
__global__ void k_road_dot(const double *a, const double *b, size_t ss, double *out) {
    __shared__ double part[ROAD_THREADS];
    const size_t off = (size_t)blockIdx.x * ss;
    double acc = 0.0;
    for (size_t i = threadIdx.x; i < ss; i += ROAD_THREADS) acc += a[off + i] * b[off + i];
    part[threadIdx.x] = acc;
    __syncthreads();
    for (int h = ROAD_THREADS / 2; h > 0; h >>= 1) {
        if ((int)threadIdx.x < h) part[threadIdx.x] += part[threadIdx.x + h];
        __syncthreads();
    }
    if (threadIdx.x == 0) out[blockIdx.x] = part[0];
}

// X += alpha P, R -= alpha AP with alpha = rr / pap of the value's system.
__global__ void k_road_step(size_t total, size_t ss, const double *rr, const double *pap, const double *P,
                            const double *AP, double *X, double *R) {
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const size_t jc = idx / ss;
    const double alpha = pap[jc] != 0.0 ? rr[jc] / pap[jc] : 0.0;
    X[idx] += alpha * P[idx];
    R[idx] -= alpha * AP[idx];
}

// P = R + beta P with beta = rr_new / rr (rr then takes rr_new, in a separate launch).
__global__ void k_road_dir(size_t total, size_t ss, const double *rr, const double *rr_new, const double *R,
                           double *P) {
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const size_t jc = idx / ss;
    const double beta = rr[jc] != 0.0 ? rr_new[jc] / rr[jc] : 0.0;
    P[idx] = R[idx] + beta * P[idx];
}

__global__ void k_road_out(const float *x, const unsigned char *u, const double *X, int m, int s, float noise,
                           uint64_t seed, uint32_t image, const uint32_t *samples, float *out) {
    const size_t ss = (size_t)s * s, idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)m * 3 * ss) return;
    const size_t j = idx / (3 * ss), c = idx / ss % 3, p = idx % ss;
    if (!u[j * ss + p]) {
        out[idx] = x[c * ss + p];
        return;
    }
    const float z = pc_philox_normal(seed, image, samples[j], (uint64_t)c * ss + p);
    out[idx] = pc_road_value(X[idx], noise, z);
}

// Conjugate gradients on the 3m systems until every relative residual is below 1e-10 (checked
// every ROAD_CHECK_EVERY iterations on the host). A system without known pixels (everything
// removed) is singular: its values come out NaN, as the CPU's.
static void road_cg(CudaContext *cx, const unsigned char *u, int m, int s, double *X, double *R, double *P,
                    double *AP, double *sc) {
    const size_t ss = (size_t)s * s, total = (size_t)m * 3 * ss;
    const int nsys = 3 * m;
    double *rr = sc, *rr_new = sc + nsys, *pap = sc + 2 * nsys, *bb = sc + 3 * nsys;
    double *host = (double *)malloc((size_t)2 * nsys * sizeof(double));
    const unsigned nb = cu_blocks(total, 256);
    k_road_dot<<<nsys, ROAD_THREADS, 0, cx->stream>>>(R, R, ss, rr);
    cudaCheckLaunch();
    cudaCheck(cudaMemcpyAsync(bb, rr, nsys * sizeof(double), cudaMemcpyDeviceToDevice, cx->stream));
    for (int it = 0; it < ROAD_MAX_ITERS; it++) {
        k_road_apply<<<nb, 256, 0, cx->stream>>>(u, m, s, P, AP);
        k_road_dot<<<nsys, ROAD_THREADS, 0, cx->stream>>>(P, AP, ss, pap);
        k_road_step<<<nb, 256, 0, cx->stream>>>(total, ss, rr, pap, P, AP, X, R);
        k_road_dot<<<nsys, ROAD_THREADS, 0, cx->stream>>>(R, R, ss, rr_new);
        k_road_dir<<<nb, 256, 0, cx->stream>>>(total, ss, rr, rr_new, R, P);
        cudaCheckLaunch();
        cudaCheck(cudaMemcpyAsync(rr, rr_new, nsys * sizeof(double), cudaMemcpyDeviceToDevice, cx->stream));
        if ((it + 1) % ROAD_CHECK_EVERY) continue;
        cudaCheck(cudaMemcpyAsync(host, rr, nsys * sizeof(double), cudaMemcpyDeviceToHost, cx->stream));
        cudaCheck(cudaMemcpyAsync(host + nsys, bb, nsys * sizeof(double), cudaMemcpyDeviceToHost, cx->stream));
        cudaCheck(cudaStreamSynchronize(cx->stream));
        int done = 1;
        for (int k = 0; k < nsys && done; k++) done = !(host[k] > ROAD_REL_TOL2 * host[nsys + k]);
        if (done) break;
    }
    free(host);
}

// x (3, s, s), order (s*s) -> out (m, 3, s, s)
void cuda_road_impute(PcBackend *be, const float *x, const int *order, int s, const int *counts, int m, int from_end,
                      float noise, uint64_t seed, uint32_t image, const uint32_t *samples, float *out) {
    CudaContext *cx = cu_ctx(be);
    const size_t ss = (size_t)s * s, total = (size_t)m * 3 * ss;
    if (m <= 0) return;
    unsigned char *u = (unsigned char *)cu_scratch(cx, (size_t)m * ss);
    double *buf = (double *)cu_scratch(cx, 4 * total * sizeof(double));
    double *sc = (double *)cu_scratch(cx, (size_t)4 * 3 * m * sizeof(double));
    int *d_counts = (int *)cu_scratch(cx, (size_t)m * sizeof(int));
    uint32_t *d_samples = (uint32_t *)cu_scratch(cx, (size_t)m * sizeof(uint32_t));
    if (u && buf && sc && d_counts && d_samples) {
        int *cl = (int *)malloc((size_t)m * sizeof(int));
        for (int j = 0; j < m; j++) cl[j] = counts[j] < 0 ? 0 : counts[j] > (int)ss ? (int)ss : counts[j];
        cudaCheck(cudaMemcpyAsync(d_counts, cl, (size_t)m * sizeof(int), cudaMemcpyHostToDevice, cx->stream));
        cudaCheck(cudaMemcpyAsync(d_samples, samples, (size_t)m * sizeof(uint32_t), cudaMemcpyHostToDevice, cx->stream));
        cudaCheck(cudaMemsetAsync(u, 0, (size_t)m * ss, cx->stream));
        k_road_mark<<<cu_blocks((size_t)m * ss, 256), 256, 0, cx->stream>>>(order, d_counts, m, (int)ss, from_end, u);
        double *X = buf, *R = buf + total, *P = buf + 2 * total, *AP = buf + 3 * total;
        k_road_init<<<cu_blocks(total, 256), 256, 0, cx->stream>>>(x, u, m, s, X, R, P);
        cudaCheckLaunch();
        road_cg(cx, u, m, s, X, R, P, AP, sc);
        k_road_out<<<cu_blocks(total, 256), 256, 0, cx->stream>>>(x, u, X, m, s, noise, seed, image, d_samples, out);
        cudaCheckLaunch();
        cudaCheck(cudaStreamSynchronize(cx->stream));   // cl (host) was copied from
        free(cl);
    }
    void *all[] = {u, buf, sc, d_counts, d_samples};
    for (int i = 0; i < 5; i++)
        if (all[i]) cu_scratch_free(cx, all[i]);
}

// x, base (3, s, s), rank (patches) -> out (m, 3, s, s)
__global__ void k_region_samples(const float *x, const float *base, const int *rank, int s, int patch, int t0,
                                 size_t total, float *out) {
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const size_t ss = (size_t)s * s, p = idx % ss, cp = idx % (3 * ss);
    const int t = t0 + (int)(idx / (3 * ss)), y = (int)(p / s), xx = (int)(p % s);
    out[idx] = rank[pc_region_of(y, xx, s, patch)] <= t ? base[cp] : x[cp];
}

void cuda_region_samples(PcBackend *be, const float *x, const float *base, const int *rank, int s, int patch, int t0,
                         int m, float *out) {
    const size_t n = (size_t)m * 3 * s * s;
    if (n == 0) return;
    k_region_samples<<<cu_blocks(n, 256), 256, 0, cu_ctx(be)->stream>>>(x, base, rank, s, patch, t0, n, out);
    cudaCheckLaunch();
}

// -> out (3, s, s)
__global__ void k_uniform_baseline(size_t ss, float lo, float hi, uint64_t seed, uint32_t image, uint32_t sample,
                                   float *out) {
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= 3 * ss) return;
    out[idx] = pc_uniform_baseline_value(pc_philox_uniform(seed, image, sample, idx), lo, hi, (int)(idx / ss));
}

void cuda_uniform_baseline(PcBackend *be, int s, float lo, float hi, uint64_t seed, uint32_t image, uint32_t sample,
                           float *out) {
    const size_t ss = (size_t)s * s;
    k_uniform_baseline<<<cu_blocks(3 * ss, 256), 256, 0, cu_ctx(be)->stream>>>(ss, lo, hi, seed, image, sample, out);
    cudaCheckLaunch();
}
