// cuda_backend.cu: the CUDA backend's context (device, stream, cuDNN / cuBLAS handles, workspace,
// stream-ordered scratch pool), its memory functions and its vtable. pc_backend_cuda_create
// returns NULL with a one-line error, and prints nothing, when there is no usable device.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_backend.h"
#include "cuda_common.cuh"
#include "cuda_internal.cuh"

[[noreturn]] void cu_die(const char *what, const char *stmt, const char *file, int line,
                         const char *detail) {
    fprintf(stderr, "[%s error] %s at %s:%d (%s)\n", what, stmt, file, line, detail ? detail : "");
    exit(1);
}

int cu_try_fail(PcError *err, int oom, const char *stmt, const char *file, int line,
                const char *what, const char *reason) {
    pc_fail(err, "%s: %s at %s:%d: %s", what, stmt, file, line, reason);
    return oom ? PC_ERR_OOM : -1;
}

int cu_try_fail_cudnn_be(PcError *err, cudnnStatus_t st, const char *stmt, const char *file, int line,
                         const char *what) {
    char last[512] = "";
    cudnnGetLastErrorString(last, sizeof last);   // the message of the last failed cuDNN call
    char reason[768];
    snprintf(reason, sizeof reason, "%s%s%.500s", cudnnGetErrorString(st), last[0] ? ": " : "", last);
    return cu_try_fail(err, st == CUDNN_STATUS_ALLOC_FAILED, stmt, file, line, what, reason);
}

const char *cu_cublas_status_string(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    }
    return "unknown cuBLAS status";
}

// ---- scratch and workspace --------------------------------------------------------------------

// NULL when the device is out of memory (other failures exit, as cudaCheck).
static void *try_malloc_async(CudaContext *ctx, size_t bytes) {
    void *p = NULL;
    cudaError_t e = cudaMallocAsync(&p, bytes ? bytes : 16, ctx->stream);
    if (e == cudaErrorMemoryAllocation) {
        cudaGetLastError();   // not sticky: clear it so the next check does not see it
        return NULL;
    }
    cudaCheck(e);
    return p;
}

void *cu_scratch(CudaContext *ctx, size_t bytes) {
    void *p = try_malloc_async(ctx, bytes);
    if (!p && !ctx->oom_bytes) ctx->oom_bytes = bytes ? bytes : 16;
    return p;
}

void cu_scratch_free(CudaContext *ctx, void *p) {
    if (p) cudaCheck(cudaFreeAsync(p, ctx->stream));
}

int cu_workspace_reserve(CudaContext *ctx, size_t bytes, PcError *err) {
    if (bytes <= ctx->workspace_bytes) return 0;
    // work queued on the stream may still use the old workspace
    CU_TRY_CUDA(err, cudaStreamSynchronize(ctx->stream), "cuDNN workspace");
    if (ctx->workspace) cudaFree(ctx->workspace);
    ctx->workspace = NULL;
    ctx->workspace_bytes = 0;
    CU_TRY_CUDA(err, cudaMalloc(&ctx->workspace, bytes), "cuDNN workspace");
    ctx->workspace_bytes = bytes;
    return 0;
}

// ---- memory -----------------------------------------------------------------------------------

// Stream-ordered allocations from the device pool (which keeps freed memory, see create): the
// engine allocates its per-image buffers on every call, and a plain cudaMalloc / cudaFree pair
// would synchronise the device each time.
static void *cuda_alloc(PcBackend *be, size_t bytes) {
    CudaContext *ctx = cu_ctx(be);
    void *p = try_malloc_async(ctx, bytes);   // NULL: the caller reports it
    if (p) cudaCheck(cudaMemsetAsync(p, 0, bytes ? bytes : 16, ctx->stream));
    return p;
}

static void cuda_release(PcBackend *be, void *p) {
    cu_scratch_free(cu_ctx(be), p);   // ordered after the queued work that may still read p
}

static void cuda_upload(PcBackend *be, void *dst, const void *src_host, size_t bytes) {
    // pageable source: staged before the call returns, so the caller may reuse src_host at once
    if (bytes)
        cudaCheck(cudaMemcpyAsync(dst, src_host, bytes, cudaMemcpyHostToDevice, cu_ctx(be)->stream));
}

static void cuda_download(PcBackend *be, void *dst_host, const void *src, size_t bytes) {
    CudaContext *ctx = cu_ctx(be);
    if (bytes) cudaCheck(cudaMemcpyAsync(dst_host, src, bytes, cudaMemcpyDeviceToHost, ctx->stream));
    cudaCheck(cudaStreamSynchronize(ctx->stream));
}

static void cuda_synchronize(PcBackend *be) { cudaCheck(cudaStreamSynchronize(cu_ctx(be)->stream)); }

int cuda_take_error(PcBackend *be, PcError *err) {
    CudaContext *ctx = cu_ctx(be);
    if (!ctx->oom_bytes) return 0;
    pc_fail(err, "out of GPU memory (an op asked for %.1f MiB)", (double)ctx->oom_bytes / 1048576.0);
    ctx->oom_bytes = 0;
    return PC_ERR_OOM;
}

// ---- lifetime ---------------------------------------------------------------------------------

static void context_free(CudaContext *ctx) {
    if (!ctx) return;
    if (ctx->stream) cudaStreamSynchronize(ctx->stream);
    if (ctx->workspace) cudaFree(ctx->workspace);
    if (ctx->cublas) cublasDestroy(ctx->cublas);
    if (ctx->cudnn) cudnnDestroy(ctx->cudnn);
    if (ctx->stream) cudaStreamDestroy(ctx->stream);
    free(ctx);
}

static void cuda_destroy(PcBackend *be) {
    if (!be) return;
    context_free(cu_ctx(be));
    free(be);
}

static int context_init(CudaContext *ctx, const PcBackendOptions *opt, char *device_name,
                        size_t name_size, int *preferred_batch, PcError *err) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        return pc_fail(err, "no CUDA device: %s", cudaGetErrorString(e));
    }
    if (count <= 0) return pc_fail(err, "no CUDA device: none found");
    ctx->device = opt ? opt->device : 0;
    if (ctx->device < 0 || ctx->device >= count)
        return pc_fail(err, "CUDA device %d does not exist (%d device%s)", ctx->device, count,
                       count == 1 ? "" : "s");
    ctx->precision = opt ? opt->precision : PC_PREC_FP32;
    CU_TRY_CUDA(err, cudaSetDevice(ctx->device), "CUDA set-up");
    cudaDeviceProp prop;
    CU_TRY_CUDA(err, cudaGetDeviceProperties(&prop, ctx->device), "CUDA set-up");
    snprintf(device_name, name_size, "%.96s (sm_%d%d, %d SMs)", prop.name, prop.major, prop.minor,
             prop.multiProcessorCount);
    ctx->sm_count = prop.multiProcessorCount;
    // batch = auto: 256 filled an H100 (batch 512 gained under 3%, 128 lost up to 30% on ResNet50
    // fp16; bench/RESULTS.md); VGG16 at fp32 needs about 10 GB of activations at 256
    *preferred_batch = prop.totalGlobalMem >= ((size_t)40 << 30) ? 256
                       : prop.totalGlobalMem >= ((size_t)16 << 30) ? 128 : 64;
    if ((ctx->precision == PC_PREC_BF16 || ctx->precision == PC_PREC_TF32) && prop.major < 8)
        return pc_fail(err, "precision %s needs compute capability 8.0 or newer (device is %d.%d)",
                       ctx->precision == PC_PREC_BF16 ? "bf16" : "tf32", prop.major, prop.minor);
    // fp8: E4M3 tensor cores and conversions from compute capability 8.9 (Ada, Hopper); cuDNN's
    // fp8 convolution engines want 9.0. int8 tensor cores exist from 7.5.
    if (ctx->precision == PC_PREC_FP8 && prop.major * 10 + prop.minor < 89)
        return pc_fail(err, "precision fp8 needs compute capability 8.9 or newer (device %s is %d.%d)", prop.name,
                       prop.major, prop.minor);
    if (ctx->precision == PC_PREC_INT8 && prop.major * 10 + prop.minor < 75)
        return pc_fail(err, "precision int8 needs compute capability 7.5 or newer (device %s is %d.%d)", prop.name,
                       prop.major, prop.minor);
    CU_TRY_CUDA(err, cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking), "CUDA set-up");
    CU_TRY_CUDNN(err, cudnnCreate(&ctx->cudnn), "CUDA set-up");
    CU_TRY_CUDNN(err, cudnnSetStream(ctx->cudnn, ctx->stream), "CUDA set-up");
    CU_TRY_CUBLAS(err, cublasCreate(&ctx->cublas), "CUDA set-up");
    CU_TRY_CUBLAS(err, cublasSetStream(ctx->cublas, ctx->stream), "CUDA set-up");
    // fp32 GEMMs must not silently use TF32; the compute type of each GemmEx call decides
    CU_TRY_CUBLAS(err, cublasSetMathMode(ctx->cublas, CUBLAS_DEFAULT_MATH), "CUDA set-up");

    // Keep freed scratch in the pool: the ops allocate and free per call.
    int pools = 0;
    CU_TRY_CUDA(err, cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, ctx->device),
                "CUDA set-up");
    if (!pools)
        return pc_fail(err, "CUDA device %d has no stream-ordered allocator (cudaMallocAsync)", ctx->device);
    cudaMemPool_t pool;
    CU_TRY_CUDA(err, cudaDeviceGetDefaultMemPool(&pool, ctx->device), "CUDA set-up");
    uint64_t keep = UINT64_MAX;
    CU_TRY_CUDA(err, cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep),
                "CUDA set-up");

    size_t free_b = 0, total_b = 0;
    CU_TRY_CUDA(err, cudaMemGetInfo(&free_b, &total_b), "CUDA set-up");
    ctx->workspace_limit = free_b / 8 < ((size_t)2 << 30) ? free_b / 8 : ((size_t)2 << 30);
    ctx->no_fusion = opt ? opt->cuda_no_fusion : 0;
    ctx->use_find = opt ? opt->cudnn_find : 0;
    ctx->tune = opt ? opt->cudnn_tune : 0;
    return 0;
}

extern "C" PcBackend *pc_backend_cuda_create(const PcBackendOptions *opt, PcError *err) {
    CudaContext *ctx = (CudaContext *)calloc(1, sizeof *ctx);
    PcBackend *be = (PcBackend *)calloc(1, sizeof *be);
    if (!ctx || !be) {
        free(ctx);
        free(be);
        pc_fail(err, "out of host memory creating the CUDA backend");
        return NULL;
    }
    if (context_init(ctx, opt, be->device_name, sizeof be->device_name, &be->preferred_batch, err) != 0) {
        context_free(ctx);
        free(be);
        return NULL;
    }
    be->name = "cuda";
    be->impl = ctx;
    be->alloc = cuda_alloc;
    be->release = cuda_release;
    be->upload = cuda_upload;
    be->download = cuda_download;
    be->synchronize = cuda_synchronize;
    be->net_prepare = cuda_net_prepare;
    be->net_release = cuda_net_release;
    be->net_set_quant = cuda_net_set_quant;
    be->net_quant_fallbacks = cuda_net_quant_fallbacks;
    be->forward = cuda_forward;
    be->backward = cuda_backward;
    be->softmax_gather = cuda_softmax_gather;
    be->normalize_maps = cuda_normalize_maps;
    be->resample = cuda_resample;
    be->masked_inputs = cuda_masked_inputs;
    be->scaled_masked_inputs = cuda_scaled_masked_inputs;
    be->weighted_channel_sum = cuda_weighted_channel_sum;
    be->lnorm = cuda_lnorm;
    be->mul_relu = cuda_mul_relu;
    be->blur = cuda_blur;
    be->argsort_desc = cuda_argsort_desc;
    be->insdel_samples = cuda_insdel_samples;
    be->rise_masks = cuda_rise_masks;
    be->masked_batch = cuda_masked_batch;
    be->occlusion_inputs = cuda_occlusion_inputs;
    be->weighted_map_sum = cuda_weighted_map_sum;
    be->road_impute = cuda_road_impute;
    be->region_samples = cuda_region_samples;
    be->uniform_baseline = cuda_uniform_baseline;
    be->destroy = cuda_destroy;
    be->take_error = cuda_take_error;
    return be;
}

extern "C" int pc_backend_cuda_compiled(void) { return 1; }
