// testutil.h: tiny test harness (CHECK macros, pass/fail counting, closing summary line) and
// HDF5 readers for the fixture files. Each test program ends with `return test_summary();`.
#ifndef PC_TESTUTIL_H
#define PC_TESTUTIL_H

#include <stdint.h>
#include <stdio.h>

#include "backend.h"
#include "common.h"
#include "model.h"
#include "saliency.h"
#include "state_dict.h"

extern int test_passed, test_failed;

// Records one check; prints "FAIL file:line: msg" on failure.
void test_check(int ok, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define CHECK(cond, ...) test_check(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
// Prints "<name>: N passed, N failed" and returns the exit code (0 when nothing failed).
int test_summary(void);
// Prints "SKIP: reason" and exits 77 (CTest reports the test as skipped).
void test_skip(const char *reason) __attribute__((noreturn));

// Path helpers: fixture file / data file (static buffer, valid until the next call).
const char *fixture_path(const char *name);
const char *data_path(const char *rel);

// The test's temporary folder /tmp/pc_<name>_XXXXXX (one per process; the test fails, exit 1, when
// it cannot be made), a path in it (static buffer, valid until the next call) and its removal with
// everything in it.
const char *test_tmp_dir(const char *name);
const char *test_tmp_path(const char *file);
void test_tmp_remove(void);

// HDF5 readers: whole dataset converted to the requested type; *n gets the element count and
// dims (up to 8) the shape. Return malloc'd arrays, or NULL when the dataset does not exist.
float *h5_read_f32(const char *file, const char *dset, size_t *n, int64_t dims[8], int *ndim);
double *h5_read_f64(const char *file, const char *dset, size_t *n);
int64_t *h5_read_i64(const char *file, const char *dset, size_t *n);
unsigned char *h5_read_u8(const char *file, const char *dset, size_t *n, int64_t dims[8], int *ndim);
// Variable-length string dataset -> array of malloc'd strings.
char **h5_read_strings(const char *file, const char *dset, size_t *n);
// Variable-length opaque/bytes element i of a 1-D object dataset (e.g. synthetic.h5 jpeg bytes).
unsigned char *h5_read_vlen_bytes(const char *file, const char *dset, size_t i, size_t *size);
// Numeric attribute of an object (group or dataset) as double; returns 0 on success.
int h5_attr_f64(const char *file, const char *obj, const char *attr, double *out);
// Attribute that is an array of strings.
char **h5_attr_strings(const char *file, const char *obj, const char *attr, size_t *n);
int h5_exists(const char *file, const char *path);
// The network without weights (pc_net_create of pc_fixture_arch_spec, hashweights.h).
int fixture_net_create(const char *model, PcNet *net, PcError *err);
// Loads sd into net (made by pc_net_create) when got (how filling sd went) is 0, and frees sd;
// frees the net on failure. 0, or -1 with err set.
int test_net_load_sd(PcNet *net, int got, PcStateDict *sd, PcError *err);
// tiny_* / synth_* with their weights from data/models/<model>.safetensors; vgg16 / resnet50 with
// the hash weights of reference_golden.h5 hashnets/<model>/rules (tests/fixtures/README.md).
int fixture_net_load(const char *model, PcNet *net, PcError *err);
// The preprocessed images inputs/<name> of reference_golden.h5 stacked as (n, 3, 224, 224); a
// missing or mis-sized one fails a CHECK and reads as zeros. malloc'd.
float *golden_inputs(const char *const *names, int n);
// The CPU backend with default options; when it cannot be created, one failed CHECK and NULL
// (success is not counted as a check).
PcBackend *test_cpu_backend(void);
// The CPU backend on pinned float32 kernels, for the comparisons with PyTorch autograd's gradients
// (tests/fixtures/gradients.h5, baselines.h5): OpenBLAS's Haswell (AVX2 + FMA) kernels when the CPU
// has AVX2 and FMA, and no AVX-512 direct convolution. The oracle took its max-pool choices on a
// float32 forward; where two values of a window are within float32 rounding of each other, the
// summation order of the forward decides which one gets the gradient, so the share of gradient
// elements past 1e-4 depends on the kernels (tiny_vgg input gradient: 0 of 301,056 on the SSE
// kernels, 98 on Haswell's, 748 on SkylakeX's; hash VGG16: 1,370 on Haswell's, 8,184 on SSE's,
// 11,695 on SkylakeX's). The tests' allowance for these near-ties was measured on Haswell's.
PcBackend *test_cpu_backend_pinned(void);

// The CUDA backend in the four float precisions (PcPrecision 0..3: fp32, tf32, fp16, bf16) into
// gpu[]: skips the test (exit 77) when even fp32 has none (no CUDA device, or a build without the
// CUDA backend); another precision the device lacks is printed and left NULL.
void test_cuda_backends(PcBackend *gpu[4]);

// max |a-b| over n values
// A backend buffer holding a copy of bytes of host memory (alloc + upload), and a malloc'd host
// copy of a backend buffer (download): the CPU-vs-GPU tests' plumbing.
void *test_upload(PcBackend *be, const void *host, size_t bytes);
float *test_download(PcBackend *be, const void *dev, size_t bytes);

// The tests' one random generator for arbitrary inputs (an LCG: tiny, reproducible, one state per
// test file; the product's random numbers are Philox, philox.h). uniform in [0, 1) with 24 bits.
typedef struct {
    uint32_t state;
} TestRng;
static inline uint32_t test_rand_u32(TestRng *r) { return r->state = r->state * 1664525u + 1013904223u; }
static inline float test_rand01(TestRng *r) { return (float)(test_rand_u32(r) >> 8) * (1.0f / 16777216.0f); }
// uniform in [-1, 1)
static inline float test_rand_sym(TestRng *r) { return test_rand01(r) * 2.0f - 1.0f; }
// roughly N(0, 1): the sum of 12 uniforms, minus 6
static inline float test_rand_normal(TestRng *r) {
    float s = 0;
    for (int i = 0; i < 12; i++) s += test_rand01(r);
    return s - 6.0f;
}

double max_abs_diff_f32(const float *a, const float *b, size_t n);
double max_abs_diff_f32_f64(const float *a, const double *b, size_t n);
// max |a-b| / max |ref|
double max_rel_diff_f32_f64(const float *a, const double *ref, size_t n);
double max_rel_diff_f32(const float *a, const float *ref, size_t n);

// PCAM+, PCAM-, PCAM+- of x (3, 224, 224) with the default options (no levels, CAMs or no-LNorm
// maps) and the insertion / deletion AUC of each, 224 x 224 steps: what the CPU-vs-GPU tests
// compare between backends and precisions. 0, or -1 with err set.
typedef struct {
    PcExplanation e;
    double ins[PC_N_VARIANTS], del[PC_N_VARIANTS];
} TestSynthResult;
int test_synth_explain(PcBackend *be, PcBackendNet *bn, const PcNet *net, const PcTargets *tg, const float *x,
                       TestSynthResult *r, PcError *err);

#endif
