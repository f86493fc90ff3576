// testutil.c: test harness and HDF5 fixture readers (see testutil.h).
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "hashweights.h"
#include "insdel.h"
#include "weights.h"
#include "cpu_backend.h"
#include "cuda_backend.h"
#include "safetensors.h"

int test_passed, test_failed;
static const char *g_prog = "test";

void test_check(int ok, const char *file, int line, const char *fmt, ...) {
    if (ok) {
        test_passed++;
        return;
    }
    test_failed++;
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

// stdout line-buffered in every test: under CTest it is a pipe (block-buffered), and a test killed
// at its time limit (bench/gpu_check.sh gives each GPU test one) would lose every figure it printed;
// FAIL lines (stderr) and the figures also stay in order in the log.
__attribute__((constructor)) static void test_stdout_lines(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

int test_summary(void) {
    printf("%s: %d passed, %d failed\n", g_prog, test_passed, test_failed);
    fflush(stdout);
    if (test_passed + test_failed == 0) {
        fprintf(stderr, "no checks ran\n");
        return 1;
    }
    return test_failed ? 1 : 0;
}

void test_skip(const char *reason) {
    printf("SKIP: %s\n", reason);
    fflush(stdout);
    exit(77);
}

const char *fixture_path(const char *name) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", PC_FIXTURES_DIR, name);
    return buf;
}

static char g_tmp_dir[256];

const char *test_tmp_dir(const char *name) {
    snprintf(g_tmp_dir, sizeof g_tmp_dir, "/tmp/pc_%s_XXXXXX", name);
    if (!mkdtemp(g_tmp_dir)) {
        fprintf(stderr, "%s: cannot create a temporary folder %s: %s\n", name, g_tmp_dir, strerror(errno));
        exit(1);
    }
    return g_tmp_dir;
}

const char *test_tmp_path(const char *file) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", g_tmp_dir, file);
    return buf;
}

void test_tmp_remove(void) {
    if (!g_tmp_dir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmp_dir);
    g_tmp_dir[0] = 0;
}

const char *data_path(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", PC_DATA_DIR, rel);
    return buf;
}

static hid_t open_file(const char *file) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);   // missing objects are reported by return value
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) fprintf(stderr, "cannot open HDF5 file %s\n", file);
    return f;
}

// Dataset dset of file, open (its file in *f), or -1 (nothing left open) when either is missing.
static hid_t open_dataset(const char *file, const char *dset, hid_t *f) {
    *f = open_file(file);
    if (*f < 0) return -1;
    hid_t d = H5Oexists_by_name(*f, dset, H5P_DEFAULT) > 0 ? H5Dopen2(*f, dset, H5P_DEFAULT) : -1;
    if (d < 0) H5Fclose(*f);
    return d;
}

int h5_exists(const char *file, const char *path) {
    hid_t f = open_file(file);
    if (f < 0) return 0;
    htri_t ok = H5Oexists_by_name(f, path, H5P_DEFAULT);
    // H5Oexists_by_name fails (not 0) when an intermediate group is missing
    H5Fclose(f);
    return ok > 0;
}

static void *read_dataset(const char *file, const char *dset, hid_t memtype, size_t elem,
                          size_t *n, int64_t dims[8], int *ndim) {
    hid_t f, d = open_dataset(file, dset, &f);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    hsize_t hd[8] = {0};
    int nd = H5Sget_simple_extent_ndims(sp);
    H5Sget_simple_extent_dims(sp, hd, NULL);
    size_t count = 1;
    for (int i = 0; i < nd; i++) {
        count *= hd[i];
        if (dims) dims[i] = (int64_t)hd[i];
    }
    if (ndim) *ndim = nd;
    void *buf = xmalloc(count * elem);
    hdf5Check(H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf));
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    if (n) *n = count;
    return buf;
}

float *h5_read_f32(const char *file, const char *dset, size_t *n, int64_t dims[8], int *ndim) {
    return read_dataset(file, dset, H5T_NATIVE_FLOAT, sizeof(float), n, dims, ndim);
}
double *h5_read_f64(const char *file, const char *dset, size_t *n) {
    return read_dataset(file, dset, H5T_NATIVE_DOUBLE, sizeof(double), n, NULL, NULL);
}
int64_t *h5_read_i64(const char *file, const char *dset, size_t *n) {
    return read_dataset(file, dset, H5T_NATIVE_INT64, sizeof(int64_t), n, NULL, NULL);
}
unsigned char *h5_read_u8(const char *file, const char *dset, size_t *n, int64_t dims[8], int *ndim) {
    return read_dataset(file, dset, H5T_NATIVE_UCHAR, 1, n, dims, ndim);
}

char **h5_read_strings(const char *file, const char *dset, size_t *n) {
    hid_t f, d = open_dataset(file, dset, &f);
    if (d < 0) return NULL;
    char **out = pc_h5_read_strings(d, 0, n);
    H5Dclose(d);
    H5Fclose(f);
    return out;
}

unsigned char *h5_read_vlen_bytes(const char *file, const char *dset, size_t i, size_t *size) {
    hid_t f, d = open_dataset(file, dset, &f);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    hsize_t start = i, count = 1;
    hdf5Check(H5Sselect_hyperslab(sp, H5S_SELECT_SET, &start, NULL, &count, NULL));
    hid_t msp = H5Screate_simple(1, &count, NULL);
    hid_t t = H5Tvlen_create(H5T_NATIVE_UCHAR);
    hvl_t v;
    hdf5Check(H5Dread(d, t, msp, sp, H5P_DEFAULT, &v));
    unsigned char *out = xmalloc(v.len ? v.len : 1);
    memcpy(out, v.p, v.len);
    *size = v.len;
    H5Dvlen_reclaim(t, msp, H5P_DEFAULT, &v);
    H5Tclose(t);
    H5Sclose(msp);
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return out;
}

int h5_attr_f64(const char *file, const char *obj, const char *attr, double *out) {
    hid_t f = open_file(file);
    if (f < 0) return -1;
    if (H5Aexists_by_name(f, obj, attr, H5P_DEFAULT) <= 0) {
        H5Fclose(f);
        return -1;
    }
    hid_t a = H5Aopen_by_name(f, obj, attr, H5P_DEFAULT, H5P_DEFAULT);
    herr_t st = H5Aread(a, H5T_NATIVE_DOUBLE, out);
    H5Aclose(a);
    H5Fclose(f);
    return st < 0 ? -1 : 0;
}

char **h5_attr_strings(const char *file, const char *obj, const char *attr, size_t *n) {
    hid_t f = open_file(file);
    if (f < 0) return NULL;
    if (H5Aexists_by_name(f, obj, attr, H5P_DEFAULT) <= 0) {
        H5Fclose(f);
        return NULL;
    }
    hid_t a = H5Aopen_by_name(f, obj, attr, H5P_DEFAULT, H5P_DEFAULT);
    char **out = pc_h5_read_strings(a, 1, n);
    H5Aclose(a);
    H5Fclose(f);
    return out;
}

int fixture_net_create(const char *model, PcNet *net, PcError *err) {
    PcArchSpec s;
    if (pc_fixture_arch_spec(model, &s, err)) return -1;
    return pc_net_create(&s, net, err);
}

// The state dict of a full-size net from reference_golden.h5's hashnets/<model>/rules.
static int hash_state_dict(const char *model, const PcNet *net, PcStateDict *sd, PcError *err) {
    char path[128];
    size_t nr = 0, nb = 0, nd = 0;
    snprintf(path, sizeof path, "hashnets/%s/rules/names", model);
    char **names = h5_read_strings(fixture_path("reference_golden.h5"), path, &nr);
    snprintf(path, sizeof path, "hashnets/%s/rules/base", model);
    float *base = h5_read_f32(fixture_path("reference_golden.h5"), path, &nb, NULL, NULL);
    snprintf(path, sizeof path, "hashnets/%s/rules/bound", model);
    float *bound = h5_read_f32(fixture_path("reference_golden.h5"), path, &nd, NULL, NULL);
    int rc = names && base && bound && nr == nb && nr == nd ? 0 : pc_fail(err, "%s: weight rules", model);
    if (!rc) rc = pc_hash_state_dict(net, (int)nr, (const char *const *)names, base, bound, sd, err);
    for (size_t i = 0; names && i < nr; i++) free(names[i]);
    free(names), free(base), free(bound);
    return rc;
}

int test_net_load_sd(PcNet *net, int got, PcStateDict *sd, PcError *err) {
    int rc = got;
    if (rc == 0) {
        rc = pc_net_load(net, sd, err);
        pc_state_dict_free(sd);
    }
    if (rc) pc_net_free(net);
    return rc;
}

int fixture_net_load(const char *model, PcNet *net, PcError *err) {
    if (fixture_net_create(model, net, err)) return -1;
    PcStateDict sd;
    if (!strcmp(model, "vgg16") || !strcmp(model, "resnet50"))
        return test_net_load_sd(net, hash_state_dict(model, net, &sd, err), &sd, err);
    char rel[128];
    snprintf(rel, sizeof rel, "models/%s.safetensors", model);
    return test_net_load_sd(net, pc_safetensors_open(data_path(rel), &sd, err), &sd, err);
}

float *golden_inputs(const char *const *names, int n) {
    const size_t img = (size_t)3 * 224 * 224;
    float *x = xcalloc((size_t)(n > 0 ? n : 1) * img, sizeof(float));
    for (int i = 0; i < n; i++) {
        char path[256];
        snprintf(path, sizeof path, "inputs/%s", names[i]);
        size_t count = 0;
        float *xi = h5_read_f32(fixture_path("reference_golden.h5"), path, &count, NULL, NULL);
        CHECK(xi && count == img, "%s: %zu values in the fixture, want %zu", path, xi ? count : 0, img);
        if (xi && count == img) memcpy(x + (size_t)i * img, xi, img * sizeof(float));
        free(xi);
    }
    return x;
}

PcBackend *test_cpu_backend(void) {
    PcError err = {{0}};
    PcBackendOptions opt = {0};
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    if (!be) CHECK(0, "cpu backend: %s", err.msg);   // a working backend is not itself a check
    return be;
}

// OpenBLAS's DYNAMIC_ARCH core selection, re-run (weak: absent from other builds of OpenBLAS).
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));
char *openblas_get_corename(void) __attribute__((weak));

PcBackend *test_cpu_backend_pinned(void) {
    __builtin_cpu_init();
    if (gotoblas_dynamic_init && gotoblas_dynamic_quit && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
        setenv("OPENBLAS_CORETYPE", "Haswell", 1);   // read by the core selection; kept: later
        gotoblas_dynamic_quit();                     // backends of this process must not re-select
        gotoblas_dynamic_init();
    }
    printf("  (float32 kernels pinned for the autograd comparison: OpenBLAS %s, no direct convolution)\n",
           openblas_get_corename ? openblas_get_corename() : "?");
    PcError err = {{0}};
    PcBackendOptions opt = {0};
    opt.no_direct_conv = 1;
    PcBackend *be = pc_backend_cpu_create(&opt, &err);
    if (!be) CHECK(0, "cpu backend: %s", err.msg);
    return be;
}

double max_abs_diff_f32(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (isnan(d)) return INFINITY;
        if (d > m) m = d;
    }
    return m;
}

double max_abs_diff_f32_f64(const float *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (isnan(d)) return INFINITY;
        if (d > m) m = d;
    }
    return m;
}

double max_rel_diff_f32_f64(const float *a, const double *ref, size_t n) {
    double m = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (isnan(d)) return INFINITY;
        if (d > m) m = d;
        if (fabs(ref[i]) > r) r = fabs(ref[i]);
    }
    return r > 0 ? m / r : m;
}

double max_rel_diff_f32(const float *a, const float *ref, size_t n) {
    double m = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)ref[i]);
        if (isnan(d)) return INFINITY;
        if (d > m) m = d;
        if (fabs((double)ref[i]) > r) r = fabs((double)ref[i]);
    }
    return r > 0 ? m / r : m;
}

__attribute__((constructor)) static void set_prog_name(void) {
    g_prog = program_invocation_short_name;   // full name; /proc/self/comm cuts at 15 chars
}

void test_cuda_backends(PcBackend *gpu[4]) {
    static const char *const names[4] = {"fp32", "tf32", "fp16", "bf16"};
    PcError err = {{0}};
    for (int p = 0; p < 4; p++) {
        PcBackendOptions opt = {.precision = (PcPrecision)p};
        gpu[p] = pc_backend_cuda_create(&opt, &err);
        if (!gpu[p] && p == 0) test_skip(err.msg);
        if (!gpu[p]) printf("  %s unavailable: %s\n", names[p], err.msg);
    }
}

void *test_upload(PcBackend *be, const void *host, size_t bytes) {
    void *d = be->alloc(be, bytes);
    be->upload(be, d, host, bytes);
    return d;
}

float *test_download(PcBackend *be, const void *dev, size_t bytes) {
    float *h = xmalloc(bytes ? bytes : 1);
    be->download(be, h, dev, bytes);
    return h;
}

int test_synth_explain(PcBackend *be, PcBackendNet *bn, const PcNet *net, const PcTargets *tg, const float *x,
                       TestSynthResult *r, PcError *err) {
    PcSaliencyOptions sopt;
    pc_saliency_default_options(&sopt);
    sopt.want_levels = sopt.want_cams = sopt.want_no_lnorm = 0;
    PcInsDelOptions iopt;
    pc_insdel_default_options(&iopt);
    memset(r, 0, sizeof *r);
    if (pc_explain(be, bn, net, tg, x, -1, &sopt, &r->e, err)) return -1;
    PcInsDelContext ctx;
    if (pc_insdel_context_init(be, net, x, &iopt, &ctx, err)) return -1;
    int rc = 0;
    for (int v = 0; v < PC_N_VARIANTS && !rc; v++)
        rc = pc_insdel_context_eval(&ctx, bn, r->e.map[v], 224, 224, r->e.cls, NULL, &r->ins[v], NULL, &r->del[v],
                                    NULL, err);
    pc_insdel_context_free(&ctx);
    return rc;
}
