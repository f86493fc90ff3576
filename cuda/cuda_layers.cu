// cuda_layers.cu: the network kernels that are not cuDNN / cuBLAS calls: layout and precision
// conversion (NCHW fp32 <-> NHWC fp16/bf16), bias + ReLU, residual add + ReLU, max pooling and
// adaptive average pooling. Every kernel exists for f32, f16 and bf16 storage and computes in
// f32; NHWC is the layout of the tensor-core paths, NCHW the layout of the fp32 path.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda_common.cuh"

template <typename T> __device__ __forceinline__ float to_f(T v);
template <> __device__ __forceinline__ float to_f<float>(float v) { return v; }
template <> __device__ __forceinline__ float to_f<__half>(__half v) { return __half2float(v); }
template <> __device__ __forceinline__ float to_f<__nv_bfloat16>(__nv_bfloat16 v) {
    return __bfloat162float(v);
}
template <typename T> __device__ __forceinline__ T from_f(float v);
template <> __device__ __forceinline__ float from_f<float>(float v) { return v; }
template <> __device__ __forceinline__ __half from_f<__half>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(float v) {
    return __float2bfloat16_rn(v);
}

// Runs the statements with T the storage type of dt (C++17: no templated lambdas).
#define DISPATCH(dt, ...)                                                                        \
    switch (dt) {                                                                                \
    case CU_F32: { typedef float T; __VA_ARGS__; } break;                                        \
    case CU_F16: { typedef __half T; __VA_ARGS__; } break;                                       \
    case CU_BF16: { typedef __nv_bfloat16 T; __VA_ARGS__; } break;                               \
    }

#define GRID(n) cu_blocks((n), 256), 256, 0, st

// ---- layout conversion ------------------------------------------------------------------------

// x (N, C, H, W) f32 -> y (N, H, W, C_pad) T, channels C..C_pad-1 zero; one thread per output
// element (coalesced writes)
template <typename T>
__global__ void k_nchw_to_nhwc(const float *x, int n, int c, int c_pad, int hw, T *y) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * c_pad * hw) return;
    int ch = (int)(i % c_pad);
    size_t r = i / c_pad;
    int p = (int)(r % hw);
    size_t img = r / hw;
    y[i] = from_f<T>(ch < c ? x[(img * c + ch) * hw + p] : 0.0f);
}

void cu_nchw_f32_to_nhwc(cudaStream_t st, const float *x, int n, int c, int c_pad, int h, int w,
                         CuDtype dt, void *y) {
    size_t total = (size_t)n * c_pad * h * w;
    if (!total) return;
    DISPATCH(dt,
        k_nchw_to_nhwc<T><<<GRID(total)>>>(x, n, c, c_pad, h * w, (T *)y);
        cudaCheckLaunch());
}

// x (N, H, W, C) T -> y (N, C, H, W) f32; one thread per output element
template <typename T>
__global__ void k_nhwc_to_nchw(const T *x, int n, int c, int hw, float *y) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * c * hw) return;
    int p = (int)(i % hw);
    size_t r = i / hw;
    int ch = (int)(r % c);
    size_t img = r / c;
    y[i] = to_f<T>(x[(img * hw + p) * c + ch]);
}

template <typename T> __global__ void k_to_f32(const T *x, size_t count, float *y) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) y[i] = to_f<T>(x[i]);
}

void cu_to_nchw_f32(cudaStream_t st, const void *x, CuDtype dt, int nhwc, int n, int c, int h,
                    int w, float *y) {
    size_t total = (size_t)n * c * h * w;
    if (!total) return;
    if (!nhwc || h * w == 1) {
        if (dt == CU_F32) {
            cudaCheck(cudaMemcpyAsync(y, x, total * sizeof(float), cudaMemcpyDeviceToDevice, st));
            return;
        }
        DISPATCH(dt,
            k_to_f32<T><<<GRID(total)>>>((const T *)x, total, y);
            cudaCheckLaunch());
        return;
    }
    DISPATCH(dt,
        k_nhwc_to_nchw<T><<<GRID(total)>>>((const T *)x, n, c, h * w, y);
        cudaCheckLaunch());
}

// ---- bias + activation, residual add ----------------------------------------------------------

template <typename T>
__global__ void k_bias_act(T *y, size_t total, int c, int hw, int nhwc, const float *bias,
                           int relu) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    int ch = nhwc ? (int)(i % c) : (int)((i / hw) % c);
    float v = to_f<T>(y[i]) + (bias ? bias[ch] : 0.0f);
    if (relu && v < 0.0f) v = 0.0f;   // NaN stays NaN, as on the CPU
    y[i] = from_f<T>(v);
}

void cu_bias_act(cudaStream_t st, void *y, CuDtype dt, int nhwc, int n, int c, int hw,
                 const float *bias, int relu) {
    size_t total = (size_t)n * c * hw;
    if (!total || (!bias && !relu)) return;
    DISPATCH(dt,
        k_bias_act<T><<<GRID(total)>>>((T *)y, total, c, hw, nhwc, bias, relu);
        cudaCheckLaunch());
}

template <typename T>
__global__ void k_add_act(const T *a, const T *b, T *y, size_t total, int relu) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= total) return;
    float v = to_f<T>(a[i]) + to_f<T>(b[i]);
    if (relu && v < 0.0f) v = 0.0f;   // NaN stays NaN, as on the CPU
    y[i] = from_f<T>(v);
}

void cu_add_act(cudaStream_t st, const void *a, const void *b, void *y, CuDtype dt, size_t count,
                int relu) {
    if (!count) return;
    DISPATCH(dt,
        k_add_act<T><<<GRID(count)>>>((const T *)a, (const T *)b, (T *)y, count, relu);
        cudaCheckLaunch());
}

// ---- pooling ----------------------------------------------------------------------------------

// Index of element (img, ch, y, x) of an (N, C, H, W) tensor stored NCHW or NHWC.
__device__ __forceinline__ size_t at(int nhwc, size_t img, int ch, int y, int x, int c, int h,
                                     int w) {
    return nhwc ? ((img * h + y) * w + x) * c + ch : ((img * c + ch) * h + y) * w + x;
}

// Decomposes an output index into (img, ch, oy, ox) in the storage order of the layout.
__device__ __forceinline__ void out_coords(size_t i, int nhwc, int c, int oh, int ow, size_t *img,
                                           int *ch, int *oy, int *ox) {
    if (nhwc) {
        *ch = (int)(i % c);
        size_t r = i / c;
        *ox = (int)(r % ow);
        r /= ow;
        *oy = (int)(r % oh);
        *img = r / oh;
    } else {
        *ox = (int)(i % ow);
        size_t r = i / ow;
        *oy = (int)(r % oh);
        r /= oh;
        *ch = (int)(r % c);
        *img = r / c;
    }
}

template <typename T>
__global__ void k_maxpool(const T *x, T *y, int nhwc, int n, int c, int h, int w, int oh, int ow,
                          int k, int stride, int pad, int relu) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * c * oh * ow) return;
    size_t img;
    int ch, oy, ox;
    out_coords(i, nhwc, c, oh, ow, &img, &ch, &oy, &ox);
    float m = -INFINITY;
    int y0 = oy * stride - pad, x0 = ox * stride - pad;
    for (int dy = 0; dy < k; dy++) {
        int yy = y0 + dy;
        if (yy < 0 || yy >= h) continue;
        for (int dx = 0; dx < k; dx++) {
            int xx = x0 + dx;
            if (xx < 0 || xx >= w) continue;
            float v = to_f<T>(x[at(nhwc, img, ch, yy, xx, c, h, w)]);
            m = (v > m || v != v) ? v : m;   // a NaN wins and stays (torch, CPU backend)
        }
    }
    if (relu && m < 0.0f) m = 0.0f;
    y[i] = from_f<T>(m);
}

void cu_maxpool(cudaStream_t st, const void *x, void *y, CuDtype dt, int nhwc, int n, int c, int h,
                int w, int oh, int ow, int k, int stride, int pad, int relu) {
    size_t total = (size_t)n * c * oh * ow;
    if (!total) return;
    DISPATCH(dt,
        k_maxpool<T><<<GRID(total)>>>((const T *)x, (T *)y, nhwc, n, c, h, w, oh, ow, k, stride, pad,
                                      relu);
        cudaCheckLaunch());
}

// torch adaptive pooling bins: [floor(i H / OH), ceil((i + 1) H / OH))
template <typename T>
__global__ void k_adaptive_avgpool(const T *x, T *y, int nhwc, int n, int c, int h, int w, int oh,
                                   int ow, int relu) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= (size_t)n * c * oh * ow) return;
    size_t img;
    int ch, oy, ox;
    out_coords(i, nhwc, c, oh, ow, &img, &ch, &oy, &ox);
    int ys = (oy * h) / oh, ye = ((oy + 1) * h + oh - 1) / oh;
    int xs = (ox * w) / ow, xe = ((ox + 1) * w + ow - 1) / ow;
    float sum = 0.0f;
    for (int yy = ys; yy < ye; yy++)
        for (int xx = xs; xx < xe; xx++) sum += to_f<T>(x[at(nhwc, img, ch, yy, xx, c, h, w)]);
    float v = sum / (float)((ye - ys) * (xe - xs));
    if (relu && v < 0.0f) v = 0.0f;   // NaN stays NaN, as on the CPU
    y[i] = from_f<T>(v);
}

void cu_adaptive_avgpool(cudaStream_t st, const void *x, void *y, CuDtype dt, int nhwc, int n,
                         int c, int h, int w, int oh, int ow, int relu) {
    size_t total = (size_t)n * c * oh * ow;
    if (!total) return;
    DISPATCH(dt,
        k_adaptive_avgpool<T><<<GRID(total)>>>((const T *)x, (T *)y, nhwc, n, c, h, w, oh, ow, relu);
        cudaCheckLaunch());
}
