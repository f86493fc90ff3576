// cuda_backward_pool.cuh: the per-element work of the pooling backward kernels of
// cuda_backward.cu, __host__ __device__ so that their index arithmetic also runs on the host
// (tests/backends/test_cuda_backward_host.cu checks it against PyTorch-style scatter loops without a GPU).
// All tensors f32, planes P = N * C of (H, W) stored one after the other (NCHW).
#ifndef PC_CUDA_BACKWARD_POOL_CUH
#define PC_CUDA_BACKWARD_POOL_CUH

#include <math.h>
#include <stddef.h>

// Position yy * W + xx in plane p of x (P, H, W) of the max of window i of the output
// (P, OH, OW), by PyTorch's max_pool2d rule: the first max in scan order (rows, then columns;
// strict >), a NaN taking the place (the last NaN when several), the window's first element when
// all are -inf.
__host__ __device__ inline int maxpool_argmax_at(const float *x, size_t i, int h, int w, int oh, int ow,
                                                 int k, int stride, int pad) {
    int ox = (int)(i % ow);
    size_t r = i / ow;
    int oy = (int)(r % oh);
    size_t plane = r / oh;
    const float *xp = x + plane * h * w;
    int y0 = oy * stride - pad, x0 = ox * stride - pad;
    int ys = y0 > 0 ? y0 : 0, xs = x0 > 0 ? x0 : 0;
    int ye = y0 + k < h ? y0 + k : h, xe = x0 + k < w ? x0 + k : w;
    int best = ys * w + xs;
    float m = -INFINITY;
    for (int yy = ys; yy < ye; yy++)
        for (int xx = xs; xx < xe; xx++) {
            float v = xp[yy * w + xx];
            if (v > m || v != v) {   // NaN: v != v (no fast-math in this build)
                m = v;
                best = yy * w + xx;
            }
        }
    return best;
}

// Gradient of input element i of (P, H, W): the sum of gy (P, OH, OW) over the windows whose
// argmax (idx) is this element. The windows holding row yy are oy in
// [ceil((yy + pad - k + 1) / stride), floor((yy + pad) / stride)] (oy * stride - pad <= yy <=
// oy * stride - pad + k - 1), cut to [0, OH - 1]; likewise the columns. Ascending output order.
__host__ __device__ inline float maxpool_back_at(const float *gy, const int *idx, size_t i, int h, int w,
                                                 int oh, int ow, int k, int stride, int pad) {
    int xx = (int)(i % w);
    size_t r = i / w;
    int yy = (int)(r % h);
    size_t plane = r / h;
    int oy0 = yy + pad - k + 1, ox0 = xx + pad - k + 1;
    oy0 = oy0 <= 0 ? 0 : (oy0 + stride - 1) / stride;
    ox0 = ox0 <= 0 ? 0 : (ox0 + stride - 1) / stride;
    int oy1 = (yy + pad) / stride, ox1 = (xx + pad) / stride;
    if (oy1 > oh - 1) oy1 = oh - 1;
    if (ox1 > ow - 1) ox1 = ow - 1;
    const int *ip = idx + plane * oh * ow;
    const float *gp = gy + plane * oh * ow;
    const int me = yy * w + xx;
    float s = 0.0f;
    for (int oy = oy0; oy <= oy1; oy++)
        for (int ox = ox0; ox <= ox1; ox++)
            if (ip[oy * ow + ox] == me) s += gp[oy * ow + ox];
    return s;
}

// Gradient of input element i of (P, H, W): the sum over the bins holding it of
// gy (P, OH, OW) / bin_h / bin_w. The first bin whose end ceil((oy + 1) H / OH) passes yy is
// oy = floor(yy OH / H); the bins from there on hold yy until one starts after it.
__host__ __device__ inline float adaptive_avg_back_at(const float *gy, size_t i, int h, int w, int oh,
                                                      int ow) {
    int xx = (int)(i % w);
    size_t r = i / w;
    int yy = (int)(r % h);
    size_t plane = r / h;
    const float *gp = gy + plane * oh * ow;
    float s = 0.0f;
    for (int oy = (yy * oh) / h; oy < oh; oy++) {
        int ys = (oy * h) / oh, ye = ((oy + 1) * h + oh - 1) / oh;
        if (ys > yy) break;
        if (ye <= yy) continue;
        for (int ox = (xx * ow) / w; ox < ow; ox++) {
            int xs = (ox * w) / ow, xe = ((ox + 1) * w + ow - 1) / ow;
            if (xs > xx) break;
            if (xe <= xx) continue;
            s += gp[oy * ow + ox] / (float)(ye - ys) / (float)(xe - xs);
        }
    }
    return s;
}

#endif
