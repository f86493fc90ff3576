// cuda_perturb.cu: the perturbation ops of the CUDA backend (backend.h: rise_masks, masked_batch,
// occlusion_inputs, weighted_map_sum), each with the name and argument order of its CPU twin in
// host/cpu/cpu_perturb.c. The masks and the perturbed inputs are made on the device straight
// into the batch buffer; the RISE resize is index_math.h's, computed in double with explicitly
// rounded operations (__dmul_rn / __dadd_rn: no fused multiply-add), in scipy's order, so it is
// bit identical to the CPU twin and to skimage.
#include <math.h>

#include "cuda_common.cuh"
#include "index_math.h"

// grid (m, cells, cells) u8, offsets (m, 2) -> out (m, s, s); one thread per output value
__global__ void k_rise_masks(const unsigned char *grid, const int *offsets, int m, int cells, int up, int s,
                             float *out) {
    const size_t ss = (size_t)s * s, total = (size_t)m * ss;
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const int i = (int)(idx / ss), y = (int)(idx % ss / s), x = (int)(idx % s);
    const unsigned char *g = grid + (size_t)i * cells * cells;
    int r0, r1, c0, c1;
    double a0, a1, b0, b1;
    pc_zoom_tap(offsets[2 * i] + y, cells, up, &r0, &r1, &a0, &a1);
    pc_zoom_tap(offsets[2 * i + 1] + x, cells, up, &c0, &c1, &b0, &b1);
    out[idx] = pc_zoom_value(g, cells, r0, r1, a0, a1, c0, c1, b0, b1);
}

void cuda_rise_masks(PcBackend *be, const unsigned char *grid, const int *offsets, int m, int cells, int up, int s,
                     float *out) {
    const size_t n = (size_t)m * s * s;
    if (n == 0) return;
    k_rise_masks<<<cu_blocks(n, 256), 256, 0, cu_ctx(be)->stream>>>(grid, offsets, m, cells, up, s, out);
    cudaCheckLaunch();
}

// x (3, s, s), masks (m, s, s) -> out (m, 3, s, s)
__global__ void k_masked_batch(const float *x, const float *masks, size_t ss, size_t total, float *out) {
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const size_t i = idx / (3 * ss), p = idx % ss, c = idx / ss % 3;
    out[idx] = __fmul_rn(x[c * ss + p], masks[i * ss + p]);
}

void cuda_masked_batch(PcBackend *be, const float *x, const float *masks, int m, int s, float *out) {
    const size_t ss = (size_t)s * s, n = (size_t)m * 3 * ss;
    if (n == 0) return;
    k_masked_batch<<<cu_blocks(n, 256), 256, 0, cu_ctx(be)->stream>>>(x, masks, ss, n, out);
    cudaCheckLaunch();
}

// x (3, s, s) -> out (m, 3, s, s): position t = t0 + i, window at rows (t % npos) * stride,
// columns (t / npos) * stride (captum's order), clipped at the border
__global__ void k_occlusion_inputs(const float *x, int s, int window, int stride, int npos, int t0, size_t total,
                                   float *out) {
    const size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= total) return;
    const size_t ss = (size_t)s * s, p = idx % ss;
    const int t = t0 + (int)(idx / (3 * ss)), y = (int)(p / s), xx = (int)(p % s);
    const int y0 = (t % npos) * stride, x0 = (t / npos) * stride;
    const int inside = y >= y0 && y < y0 + window && xx >= x0 && xx < x0 + window;
    out[idx] = inside ? 0.0f : x[idx % (3 * ss)];
}

void cuda_occlusion_inputs(PcBackend *be, const float *x, int s, int window, int stride, int t0, int m, float *out) {
    const size_t n = (size_t)m * 3 * s * s;
    if (n == 0) return;
    const int npos = pc_occlusion_positions(s, window, stride);
    k_occlusion_inputs<<<cu_blocks(n, 256), 256, 0, cu_ctx(be)->stream>>>(x, s, window, stride, npos, t0, n, out);
    cudaCheckLaunch();
}

// out (n) += w (m) ^T maps (m, n): cuBLAS SGEMV on the column-major view (n, m) of maps
void cuda_weighted_map_sum(PcBackend *be, const float *maps, const float *w, int m, int n, float *out) {
    if (m <= 0 || n <= 0) return;
    const float one = 1.0f;
    cublasStatus_t st = cublasSgemv(cu_ctx(be)->cublas, CUBLAS_OP_N, n, m, &one, maps, n, w, 1, &one, out, 1);
    if (st != CUBLAS_STATUS_SUCCESS) cu_die("cuBLAS", "cublasSgemv", __FILE__, __LINE__, cu_cublas_status_string(st));
}
