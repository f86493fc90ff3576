// cpu_backend.c: the CPU backend's memory functions and vtable. Its memory is host memory, so
// upload/download are copies; it is the reference every CUDA op is tested against.
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_backend.h"
#include "cpu_internal.h"

// NULL past the simulated limit (options.max_alloc) or when the host is out of memory.
static void *cpu_alloc(PcBackend *be, size_t bytes) {
    const CpuContext *ctx = be->impl;
    if (ctx->max_alloc && bytes > ctx->max_alloc) return NULL;
    return calloc(1, bytes ? bytes : 1);
}

static void cpu_release(PcBackend *be, void *p) {
    (void)be;
    free(p);
}

static void cpu_copy(PcBackend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memmove(dst, src, bytes);
}

static void cpu_synchronize(PcBackend *be) { (void)be; }

// The CPU ops allocate nothing that can fail short of the host running out (which aborts).
static int cpu_take_error(PcBackend *be, PcError *err) {
    (void)be, (void)err;
    return 0;
}

void pc_backend_cpu_libraries(char *buf, size_t n) {
    cpu_blas_select_kernel();   // report the kernels the CPU backend really uses
    const char *blas = openblas_get_config();
    const char *kernels = openblas_get_corename();
    snprintf(buf, n, "%s (kernels %s)", blas ? blas : "OpenBLAS", kernels ? kernels : "unknown");
}

// The emulation runs every 8-bit conv in 8 bits (in value): no fallbacks.
static int cpu_net_quant_fallbacks(PcBackend *be, const PcBackendNet *bn, int *nodes, int max) {
    (void)be, (void)bn, (void)nodes, (void)max;
    return 0;
}

static void cpu_destroy(PcBackend *be) {
    if (!be) return;
    free(be->impl);
    free(be);
}

PcBackend *pc_backend_cpu_create(const PcBackendOptions *opt, PcError *err) {
    (void)err;
    PcBackend *be = xcalloc(1, sizeof *be);
    CpuContext *ctx = xcalloc(1, sizeof *ctx);
    ctx->precision = opt ? opt->precision : PC_PREC_FP32;
    ctx->threads = (opt && opt->threads > 0) ? opt->threads : pc_default_threads();
    ctx->no_direct_conv = opt ? opt->no_direct_conv : 0;
    ctx->max_alloc = opt ? opt->max_alloc : 0;
    cpu_blas_select_kernel();   // before any BLAS call: OpenBLAS may have picked its slowest kernels
    openblas_set_num_threads(ctx->threads);
    be->name = "cpu";
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    be->preferred_batch = 32;   // past 32, the CPU's passes per second stop growing
    snprintf(be->device_name, sizeof be->device_name, "CPU (%ld cores, %d threads, OpenBLAS)",
             cores, ctx->threads);
    be->impl = ctx;
    be->alloc = cpu_alloc;
    be->release = cpu_release;
    be->upload = cpu_copy;
    be->download = cpu_copy;
    be->synchronize = cpu_synchronize;
    be->net_prepare = cpu_net_prepare;
    be->net_release = cpu_net_release;
    be->net_set_quant = cpu_net_set_quant;
    be->net_quant_fallbacks = cpu_net_quant_fallbacks;
    be->forward = cpu_forward;
    be->backward = cpu_backward;
    be->softmax_gather = cpu_softmax_gather;
    be->normalize_maps = cpu_normalize_maps;
    be->resample = cpu_resample;
    be->masked_inputs = cpu_masked_inputs;
    be->scaled_masked_inputs = cpu_scaled_masked_inputs;
    be->weighted_channel_sum = cpu_weighted_channel_sum;
    be->lnorm = cpu_lnorm;
    be->mul_relu = cpu_mul_relu;
    be->blur = cpu_blur;
    be->argsort_desc = cpu_argsort_desc;
    be->insdel_samples = cpu_insdel_samples;
    be->rise_masks = cpu_rise_masks;
    be->masked_batch = cpu_masked_batch;
    be->occlusion_inputs = cpu_occlusion_inputs;
    be->weighted_map_sum = cpu_weighted_map_sum;
    be->road_impute = cpu_road_impute;
    be->region_samples = cpu_region_samples;
    be->uniform_baseline = cpu_uniform_baseline;
    be->destroy = cpu_destroy;
    be->take_error = cpu_take_error;
    return be;
}
