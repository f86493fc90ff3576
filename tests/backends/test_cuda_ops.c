// test_cuda_ops.c: the op table (in the manner of ggml's test-backend-ops). Every saliency, metric
// and perturbation op of backend.h on random inputs, run on the CUDA backend and on the CPU
// backend, its reference, and compared. One row of OPS per (op, case, variant): the case's
// parameters, its input generator (from the one TestRng), the call of the op on a backend
// (inputs uploaded, outputs downloaded) and each output's comparison:
//   REL        max abs and relative (max |d| / max |ref|) errors over the finite values, rel <= tol;
//              non-finite values must match in kind (NaN, +inf, -inf) and place;
//   BITS       every float bit identical (RISE's resize, masked batches, occlusion inputs);
//   INT        every int identical (argsort);
//   UNTOUCHED  left as allocated (an output the op was told not to write).
// The cases: softmax_gather, normalize_maps (both formulas, ties, NaN), resample (up and down, odd
// sizes), masked_inputs (plus / minus / plus only), scaled_masked_inputs (coefficient, Philox
// noise on the device, a NaN channel), weighted channel sums (incl. NaN and inf weights), LNorm
// (code and paper, ratios 1, 2, 4, non-integer), mul_relu, blur (incl. kernels wider than the
// image), argsort (ties, -0, NaN: identical order), insertion / deletion samples (identical),
// rise_masks, masked_batch, occlusion_inputs (bit identical: the RISE resize is computed in double
// with explicitly rounded operations on both), weighted_map_sum (1e-5 relative: summation order)
// and the perturbation metrics' road_impute (5e-6 relative), region_samples and uniform_baseline
// (bit identical).
// Skips (exit 77, "SKIP: no CUDA device") when the CUDA backend is not compiled in or no device is
// present. `test_cuda_ops --cpu` (CTest test_cuda_ops_cpu) runs the same table with the CPU backend
// on both sides, where every output must match bit for bit: the table itself runs without a GPU.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cpu_backend.h"
#include "cuda_backend.h"
#include "metric_math.h"
#include "testutil.h"

#define OP_MAX_BUF 4

typedef enum { CMP_REL = 0, CMP_BITS, CMP_INT, CMP_UNTOUCHED } CmpKind;

typedef struct {
    CmpKind kind;
    double tol;   // CMP_REL
} OpCmp;

// One case's host data: inputs, output sizes (and their content before the op; NULL: zeros).
typedef struct {
    char label[128];
    int n_in, n_out;
    void *in[OP_MAX_BUF];
    size_t in_bytes[OP_MAX_BUF];
    size_t out_bytes[OP_MAX_BUF];
    void *out_init[OP_MAX_BUF];
    const char *out_name[OP_MAX_BUF];
} OpCase;

typedef struct OpRow OpRow;
// Draws the inputs of row's case from r (ref: the reference backend, for derived inputs).
typedef void (*OpMake)(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref);
// The op on be: in / out are be's buffers (the CPU backend's are host memory).
typedef void (*OpCall)(const OpRow *row, PcBackend *be, void *const *in, void *const *out);

struct OpRow {
    const char *op;
    OpMake make;         // NULL: the case of the row before (same inputs, another variant)
    OpCall call;
    int p[12];           // the case's parameters (sizes, channels, ...)
    float f[2];
    int v;               // variant (formula, mode, insertion / deletion, plus only)
    const char *vname;
    OpCmp cmp[OP_MAX_BUF];   // per output
    uint32_t seed;       // when set, the generator is reset to it first
};

static int exact;   // CPU vs CPU: every output bit identical

// ---- comparisons -------------------------------------------------------------------------------

static void compare_rel(const char *what, const float *got, const float *ref, size_t n, double tol) {
    double max_abs = 0, max_ref = 0;
    size_t bad_nonfinite = 0, nonfinite = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(ref[i]) || !isfinite(got[i])) {
            nonfinite++;
            int same = (isnan(ref[i]) && isnan(got[i])) || (ref[i] == got[i]);
            bad_nonfinite += !same;
            continue;
        }
        double d = fabs((double)got[i] - (double)ref[i]);
        if (d > max_abs) max_abs = d;
        if (fabs(ref[i]) > max_ref) max_ref = fabs(ref[i]);
    }
    double rel = max_ref > 0 ? max_abs / max_ref : max_abs;
    printf("  %-64s n=%-8zu max abs %.2e  rel %.2e%s\n", what, n, max_abs, rel,
           nonfinite ? "  (non-finite values compared)" : "");
    CHECK(rel <= tol, "%s: relative error %.3g > %.1g", what, rel, tol);
    CHECK(bad_nonfinite == 0, "%s: %zu of %zu non-finite values differ", what, bad_nonfinite, nonfinite);
}

static void compare_bits(const char *what, const float *got, const float *ref, size_t n) {
    size_t bad = 0;
    double dmax = 0;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&got[i], &ref[i], sizeof(float))) bad++, dmax = fmax(dmax, fabs((double)got[i] - ref[i]));
    printf("  %-64s n=%-8zu differing %zu (max abs %.2e)\n", what, n, bad, dmax);
    CHECK(bad == 0, "%s: %zu of %zu values differ from the reference (max abs %.3g)", what, bad, n, dmax);
}

static void compare_int(const char *what, const int *got, const int *ref, size_t n) {
    size_t diff = 0, first = n;
    for (size_t i = 0; i < n; i++)
        if (got[i] != ref[i]) {
            if (!diff) first = i;
            diff++;
        }
    printf("  %-64s n=%-8zu %zu differences\n", what, n, diff);
    CHECK(diff == 0, "%s: %zu differences, first at %zu (%d vs %d)", what, diff, first, first < n ? got[first] : 0,
          first < n ? ref[first] : 0);
}

static void compare(const char *what, OpCmp cmp, const void *got, const void *ref, const void *init, size_t bytes) {
    switch (cmp.kind) {
    case CMP_UNTOUCHED: {
        int same = init ? !memcmp(got, init, bytes) && !memcmp(ref, init, bytes) : 1;
        for (size_t i = 0; !init && i < bytes; i++) same &= !((const char *)got)[i] && !((const char *)ref)[i];
        printf("  %-64s untouched: %s\n", what, same ? "yes" : "NO");
        CHECK(same, "%s: written although the op was told not to", what);
        break;
    }
    case CMP_INT: compare_int(what, got, ref, bytes / sizeof(int)); break;
    case CMP_BITS: compare_bits(what, got, ref, bytes / sizeof(float)); break;
    case CMP_REL:
        if (exact) compare_bits(what, got, ref, bytes / sizeof(float));
        else compare_rel(what, got, ref, bytes / sizeof(float), cmp.tol);
        break;
    }
}

// ---- running a row -----------------------------------------------------------------------------

// The op of row on be with c's inputs: malloc'd host copies of the outputs into out[].
static void run_on(const OpRow *row, const OpCase *c, PcBackend *be, void **out) {
    void *din[OP_MAX_BUF] = {0}, *dout[OP_MAX_BUF] = {0};
    for (int i = 0; i < c->n_in; i++) din[i] = test_upload(be, c->in[i], c->in_bytes[i]);
    for (int i = 0; i < c->n_out; i++) {
        dout[i] = be->alloc(be, c->out_bytes[i]);   // zeroed
        if (c->out_init[i]) be->upload(be, dout[i], c->out_init[i], c->out_bytes[i]);
    }
    row->call(row, be, din, dout);
    for (int i = 0; i < c->n_out; i++) out[i] = test_download(be, dout[i], c->out_bytes[i]);
    for (int i = 0; i < c->n_in; i++) be->release(be, din[i]);
    for (int i = 0; i < c->n_out; i++) be->release(be, dout[i]);
}

static void case_free(OpCase *c) {
    for (int i = 0; i < OP_MAX_BUF; i++) free(c->in[i]), free(c->out_init[i]);
    memset(c, 0, sizeof *c);
}

static void run_table(const OpRow *rows, int n, PcBackend *ref, PcBackend *dev) {
    TestRng rng = {0};
    OpCase c = {0};
    for (int r = 0; r < n; r++) {
        const OpRow *row = &rows[r];
        if (row->seed) rng.state = row->seed;
        if (row->make) {
            case_free(&c);
            row->make(row, &c, &rng, ref);
        }
        void *want[OP_MAX_BUF] = {0}, *got[OP_MAX_BUF] = {0};
        run_on(row, &c, ref, want);
        run_on(row, &c, dev, got);
        for (int i = 0; i < c.n_out; i++) {
            char what[256];
            snprintf(what, sizeof what, "%s %s%s%s%s%s", row->op, c.label, row->vname ? " " : "",
                     row->vname ? row->vname : "", c.n_out > 1 ? " " : "", c.n_out > 1 ? c.out_name[i] : "");
            compare(what, row->cmp[i], got[i], want[i], c.out_init[i], c.out_bytes[i]);
            free(want[i]), free(got[i]);
        }
    }
    case_free(&c);
}

// ---- case builders -----------------------------------------------------------------------------

static float *add_in(OpCase *c, size_t bytes) {
    c->in_bytes[c->n_in] = bytes;
    return c->in[c->n_in++] = xmalloc(bytes ? bytes : 1);
}

static void add_out(OpCase *c, const char *name, size_t bytes) {
    c->out_name[c->n_out] = name;
    c->out_bytes[c->n_out++] = bytes;
}

#define F(n) ((size_t)(n) * sizeof(float))
#define IN(i) ((const float *)in[i])
#define OUT(i) ((float *)out[i])

// softmax_gather: p = {n, k, cls}
static void make_softmax(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const int n = row->p[0], k = row->p[1];
    float *logits = add_in(c, F(n * k));
    for (int i = 0; i < n * k; i++) logits[i] = 8.0f * test_rand_normal(r);
    add_out(c, "", F(n));
    snprintf(c->label, sizeof c->label, "%d x %d", n, k);
}
static void call_softmax(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    be->softmax_gather(be, IN(0), row->p[0], row->p[1], row->p[2], OUT(0));
}

// normalize_maps: p = {m, h, w, kind}; v: the formula
static void make_normalize(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    static const char *const kinds[] = {"ties", "relu", "signed, -0, NaN, inf", "uniform"};
    const int m = row->p[0], h = row->p[1], w = row->p[2], kind = row->p[3], n = m * h * w;
    float *a = add_in(c, F(n));
    for (int i = 0; i < n; i++)
        a[i] = kind == 0   ? floorf(test_rand01(r) * 5.0f)   // many ties
               : kind == 1 ? fmaxf(0.0f, test_rand_normal(r))
               : kind == 2 ? test_rand_normal(r) * 3.0f
                           : test_rand01(r);
    if (kind == 2) a[10] = -0.0f, a[11] = 0.0f, a[60] = NAN, a[200] = INFINITY;
    add_out(c, "", F(n));
    snprintf(c->label, sizeof c->label, "%dx%dx%d %s", m, h, w, kinds[kind]);
}
static void call_normalize(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    be->normalize_maps(be, IN(0), row->p[0], row->p[1], row->p[2], row->v ? PC_NORM_PAPER : PC_NORM_CODE, OUT(0));
}

// resample: p = {h, w, oh, ow}, 3 maps
static void make_resample(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const int h = row->p[0], w = row->p[1], oh = row->p[2], ow = row->p[3];
    float *in = add_in(c, F(3 * h * w));
    for (int i = 0; i < 3 * h * w; i++) in[i] = test_rand_normal(r);
    add_out(c, "", F(3 * oh * ow));
    snprintf(c->label, sizeof c->label, "3x%dx%d -> %dx%d", h, w, oh, ow);
}
static void call_resample(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    be->resample(be, IN(0), 3, row->p[0], row->p[1], row->p[2], row->p[3], OUT(0));
}

// masked_inputs / scaled_masked_inputs: p = {k, h, w, s, m, channels...}; f = {coef, sigma}
static void make_masked(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const int k = row->p[0], h = row->p[1], w = row->p[2], s = row->p[3], m = row->p[4];
    const size_t n_act = (size_t)k * h * w, n_x = (size_t)3 * s * s;
    float *act = add_in(c, F(n_act)), *x = add_in(c, F(n_x));
    for (size_t i = 0; i < n_act; i++) act[i] = fmaxf(0.0f, test_rand_normal(r));
    for (size_t i = 0; i < n_x; i++) x[i] = 2.0f * test_rand_normal(r);
    add_out(c, "plus", F((size_t)m * n_x));
    add_out(c, "minus", F((size_t)m * n_x));
    snprintf(c->label, sizeof c->label, "%dx%dx%d -> %d x 3x%dx%d", k, h, w, m, s, s);
}
// v: 0 code, 1 paper, 2 plus only (code; minus untouched)
static void call_masked(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    const int *p = row->p;
    be->masked_inputs(be, IN(0), p[1], p[2], p + 5, p[4], IN(1), p[3], row->v == 1 ? PC_NORM_PAPER : PC_NORM_CODE,
                      OUT(0), row->v == 2 ? NULL : OUT(1));
}

// min-max-like maps in [0, 1] with a dead channel 0 (NaN after min-max)
static void make_scaled_masked(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const int k = row->p[0], h = row->p[1], w = row->p[2], s = row->p[3], m = row->p[4];
    const size_t n_act = (size_t)k * h * w, n_x = (size_t)3 * s * s;
    float *amap = add_in(c, F(n_act)), *x = add_in(c, F(n_x));
    for (size_t i = 0; i < n_act; i++) amap[i] = test_rand01(r);
    for (int i = 0; i < h * w; i++) amap[i] = NAN;
    for (size_t i = 0; i < n_x; i++) x[i] = 2.0f * test_rand_normal(r);
    add_out(c, "", F((size_t)m * n_x));
    snprintf(c->label, sizeof c->label, "%dx%dx%d -> %d x 3x%dx%d c %.2g s %.1g", k, h, w, m, s, s, row->f[0],
             row->f[1]);
}
// the Philox noise (seed 42, image 7, stream word (3 << 16) | 5) drawn on each backend
static void call_scaled_masked(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    const int *p = row->p;
    be->scaled_masked_inputs(be, IN(0), p[1], p[2], p + 5, p[4], IN(1), p[3], row->f[0], row->f[1], 42, 7,
                             (3u << 16) | 5u, OUT(0));
}

// weighted_channel_sum: p = {k, h, w, v, special (NaN / inf weights)}
static void make_wcs(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const int k = row->p[0], h = row->p[1], w = row->p[2], v = row->p[3];
    const size_t n_act = (size_t)k * h * w;
    float *act = add_in(c, F(n_act)), *wt = add_in(c, F(v * k));
    for (size_t i = 0; i < n_act; i++) act[i] = fmaxf(0.0f, test_rand_normal(r));
    for (int i = 0; i < v * k; i++) wt[i] = test_rand_normal(r) * 0.1f;
    if (row->p[4]) {
        wt[1] = NAN;              // a NaN weight counts as 0
        wt[k + 2] = INFINITY;     // inf * 0 = NaN -> 0; inf * positive = inf
        wt[2 * k + 3] = -INFINITY;
    }
    add_out(c, "", F((size_t)v * h * w));
    snprintf(c->label, sizeof c->label, "K=%d %dx%d V=%d%s", k, h, w, v, row->p[4] ? " NaN / inf weights" : "");
}
static void call_wcs(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    be->weighted_channel_sum(be, IN(0), row->p[0], row->p[1], row->p[2], IN(1), row->p[3], OUT(0));
}

// lnorm: p = {m, h, w, th, tw, sparse}; v: the mode
static void make_lnorm(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const int m = row->p[0], h = row->p[1], w = row->p[2], sparse = row->p[5];
    const size_t n = (size_t)m * h * w;
    float *a = add_in(c, F(n));
    for (size_t i = 0; i < n; i++)
        a[i] = sparse ? fmaxf(0.0f, test_rand_normal(r) - 1.0f) : fmaxf(0.0f, test_rand_normal(r)) + 0.1f;
    add_out(c, "", F(n));
    snprintf(c->label, sizeof c->label, "%dx%d by %dx%d %s", h, w, row->p[3], row->p[4], sparse ? "sparse" : "dense");
}
static void call_lnorm(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    const int *p = row->p;
    be->lnorm(be, IN(0), p[0], p[1], p[2], p[3], p[4], row->v ? PC_LNORM_PAPER : PC_LNORM_CODE, OUT(0));
}

// mul_relu: p = {n}
static void make_mul_relu(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const size_t n = (size_t)row->p[0];
    float *a = add_in(c, F(n)), *b = add_in(c, F(n));
    for (size_t i = 0; i < n; i++) a[i] = test_rand_normal(r), b[i] = test_rand_normal(r);
    add_out(c, "", F(n));
    snprintf(c->label, sizeof c->label, "n=%zu", n);
}
static void call_mul_relu(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    be->mul_relu(be, IN(0), IN(1), (size_t)row->p[0], OUT(0));
}

// blur: p = {s, kernel}, sigma 5
static void make_blur(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const int s = row->p[0];
    const size_t n = (size_t)3 * s * s;
    float *x = add_in(c, F(n));
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * test_rand_normal(r);
    add_out(c, "", F(n));
    snprintf(c->label, sizeof c->label, "3x%dx%d kernel %d sigma 5", s, s, row->p[1]);
}
static void call_blur(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    be->blur(be, IN(0), row->p[0], row->p[1], 5.0f, OUT(0));
}

// argsort_desc: p = {n, kind}: 0 ties, 1 signed with -0, NaN, inf, 2 all equal
static void make_argsort(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    static const char *const kinds[] = {"with ties", "signed, -0, NaN, inf", "all equal"};
    const int n = row->p[0], kind = row->p[1];
    float *map = add_in(c, F(n));
    for (int i = 0; i < n; i++)
        map[i] = kind == 0 ? floorf(test_rand01(r) * 100.0f) / 100.0f : kind == 1 ? test_rand_normal(r) : 0.0f;
    if (kind == 1)
        map[5] = -0.0f, map[6] = 0.0f, map[7] = -0.0f, map[100] = NAN, map[101] = INFINITY, map[102] = -INFINITY,
        map[103] = -NAN;
    add_out(c, "", (size_t)n * sizeof(int));
    snprintf(c->label, sizeof c->label, "%d %s", n, kinds[kind]);
}
static void call_argsort(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    be->argsort_desc(be, IN(0), row->p[0], (int *)out[0]);
}

// insdel_samples: p = {s, t0, m, pixels per step}; the order: the reference's argsort of a map
// with ties; v: 0 insertion, 1 deletion
static void make_insdel(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    const int s = row->p[0], m = row->p[2];
    const size_t ss = (size_t)s * s;
    float *x = add_in(c, F(3 * ss)), *base = add_in(c, F(3 * ss)), *map = xmalloc(F(ss));
    for (size_t i = 0; i < 3 * ss; i++) x[i] = test_rand_normal(r), base[i] = test_rand_normal(r);
    for (size_t i = 0; i < ss; i++) map[i] = floorf(test_rand01(r) * 50.0f);
    ref->argsort_desc(ref, map, (int)ss, (int *)add_in(c, ss * sizeof(int)));   // CPU: host memory
    free(map);
    add_out(c, "", F((size_t)m * 3 * ss));
    snprintf(c->label, sizeof c->label, "s=%d t0=%d m=%d p=%d", s, row->p[1], m, row->p[3]);
}
static void call_insdel(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    const int *p = row->p;
    be->insdel_samples(be, IN(0), IN(1), (const int *)in[2], p[0], p[1], p[2], p[3], row->v, OUT(0));
}

// rise_masks: p = {m, cells, s}; grids with p(1) = 0.3, offsets in [0, cell)
static void make_rise(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const int m = row->p[0], cells = row->p[1], s = row->p[2], cell = (s + cells - 1) / cells;
    unsigned char *grid = (unsigned char *)add_in(c, (size_t)m * cells * cells);
    int *off = (int *)add_in(c, (size_t)m * 2 * sizeof(int));
    for (size_t i = 0; i < (size_t)m * cells * cells; i++) grid[i] = test_rand01(r) < 0.3f;
    for (int i = 0; i < 2 * m; i++) off[i] = (int)(test_rand01(r) * cell);
    add_out(c, "", F((size_t)m * s * s));
    snprintf(c->label, sizeof c->label, "m=%d cells=%d s=%d", m, cells, s);
}
static void call_rise(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    const int cells = row->p[1], s = row->p[2], up = (cells + 1) * ((s + cells - 1) / cells);
    be->rise_masks(be, in[0], in[1], row->p[0], cells, up, s, OUT(0));
}

// masked_batch: p = {m, s}
static void make_masked_batch(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const int m = row->p[0];
    const size_t ss = (size_t)row->p[1] * row->p[1];
    float *x = add_in(c, F(3 * ss)), *mk = add_in(c, F(m * ss));
    for (size_t i = 0; i < 3 * ss; i++) x[i] = 4 * test_rand01(r) - 2;
    for (size_t i = 0; i < m * ss; i++) mk[i] = test_rand01(r);
    add_out(c, "", F((size_t)m * 3 * ss));
    snprintf(c->label, sizeof c->label, "m=%d s=%d", m, row->p[1]);
}
static void call_masked_batch(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    be->masked_batch(be, IN(0), IN(1), row->p[0], row->p[1], OUT(0));
}

// occlusion_inputs: p = {s, window, stride, t0, m}
static void make_occlusion(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const size_t xs = (size_t)3 * row->p[0] * row->p[0];
    float *x = add_in(c, F(xs));
    for (size_t i = 0; i < xs; i++) x[i] = test_rand01(r) + 0.5f;
    add_out(c, "", F((size_t)row->p[4] * xs));
    snprintf(c->label, sizeof c->label, "s=%d w=%d st=%d t0=%d", row->p[0], row->p[1], row->p[2], row->p[3]);
}
static void call_occlusion(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    const int *p = row->p;
    be->occlusion_inputs(be, IN(0), p[0], p[1], p[2], p[3], p[4], OUT(0));
}

// weighted_map_sum: p = {m, n}; accumulates into an output that starts non-zero
static void make_gemv(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const int m = row->p[0], n = row->p[1];
    float *maps = add_in(c, F((size_t)m * n)), *w = add_in(c, F(m)), *acc = xmalloc(F(n));
    for (size_t i = 0; i < (size_t)m * n; i++) maps[i] = test_rand01(r);
    for (int i = 0; i < m; i++) w[i] = test_rand01(r);
    for (int i = 0; i < n; i++) acc[i] = test_rand01(r);
    add_out(c, "", F(n));
    c->out_init[0] = acc;
    snprintf(c->label, sizeof c->label, "m=%d n=%d", m, n);
}
static void call_gemv(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    be->weighted_map_sum(be, IN(0), IN(1), row->p[0], row->p[1], OUT(0));
}

// road_impute: p = {s, m, from_end}; a smooth random map's descending order (the reference's
// argsort), so removed regions are blobs; sample j removes 10 (j + 1) % of the pixels
static void make_road(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    const int s = row->p[0];
    const size_t ss = (size_t)s * s;
    float *x = add_in(c, F(3 * ss)), *map = xmalloc(F(ss));
    for (size_t i = 0; i < 3 * ss; i++) x[i] = 4 * test_rand01(r) - 2;
    const float a = 6.0f * test_rand01(r) + 1.0f, b = 6.0f * test_rand01(r) + 1.0f;
    for (size_t p = 0; p < ss; p++)
        map[p] = sinf(a * (float)(p / s) / s) * cosf(b * (float)(p % s) / s) + 0.01f * test_rand01(r);
    ref->argsort_desc(ref, map, (int)ss, (int *)add_in(c, ss * sizeof(int)));   // CPU: host memory
    free(map);
    add_out(c, "", F((size_t)row->p[1] * 3 * ss));
    snprintf(c->label, sizeof c->label, "s=%d m=%d %s", s, row->p[1], row->p[2] ? "LeRF" : "MoRF");
}
static void call_road(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    const int s = row->p[0], m = row->p[1], from_end = row->p[2];
    int counts[16];
    uint32_t samples[16];
    for (int j = 0; j < m && j < 16; j++) {
        counts[j] = (int)((double)s * s * (10.0 * (j + 1)) / 100.0);
        samples[j] = ((uint32_t)PC_STREAM_ROAD << 16) | ((uint32_t)from_end << 8) | (uint32_t)j;
    }
    be->road_impute(be, IN(0), (const int *)in[1], s, counts, m, from_end, 0.01f, 7, 3, samples, OUT(0));
}

// region_samples: p = {s, patch, t0, m}; the patches' ranks a random permutation
static void make_region(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)ref;
    const int s = row->p[0], side = pc_region_per_side(s, row->p[1]), np = side * side;
    const size_t xs = (size_t)3 * s * s;
    float *x = add_in(c, F(xs)), *base = add_in(c, F(xs));
    for (size_t i = 0; i < xs; i++) x[i] = test_rand01(r), base[i] = -test_rand01(r);
    int *rank = (int *)add_in(c, (size_t)np * sizeof(int));
    for (int i = 0; i < np; i++) rank[i] = i;
    for (int i = np - 1; i > 0; i--) {
        int j = (int)(test_rand01(r) * (i + 1)), t = rank[i];
        rank[i] = rank[j], rank[j] = t;
    }
    add_out(c, "", F((size_t)row->p[3] * xs));
    snprintf(c->label, sizeof c->label, "s=%d patch=%d t0=%d m=%d", s, row->p[1], row->p[2], row->p[3]);
}
static void call_region(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    const int *p = row->p;
    be->region_samples(be, IN(0), IN(1), (const int *)in[2], p[0], p[1], p[2], p[3], OUT(0));
}

// uniform_baseline: p = {s}; no input (Philox uniforms of stream PC_STREAM_PERTURB_BASE)
static void make_uniform(const OpRow *row, OpCase *c, TestRng *r, PcBackend *ref) {
    (void)r, (void)ref;
    add_out(c, "", F((size_t)3 * row->p[0] * row->p[0]));
    snprintf(c->label, sizeof c->label, "s=%d", row->p[0]);
}
static void call_uniform(const OpRow *row, PcBackend *be, void *const *in, void *const *out) {
    (void)in;
    be->uniform_baseline(be, row->p[0], 0.0f, 1.0f, 11, 5, (uint32_t)PC_STREAM_PERTURB_BASE << 16, OUT(0));
}

// ---- the table ---------------------------------------------------------------------------------

// A row: op name, case (make_<fn>, call_<fn>), comparison kind and tolerance of its outputs, the
// case's parameters. VAR: a variant v of the case; AGAIN: the next variant on the same inputs.
#define ROW(op_, fn, kind, tol_, ...) VAR(op_, fn, 0, NULL, kind, tol_, __VA_ARGS__)
#define VAR(op_, fn, v_, vname_, kind, tol_, ...)                                                          \
    {.op = op_, .make = make_##fn, .call = call_##fn, .v = v_, .vname = vname_,                            \
     .cmp = {{kind, tol_}, {kind, tol_}}, .p = {__VA_ARGS__}}
#define AGAIN(op_, fn, v_, vname_, kind, tol_, ...)                                                        \
    {.op = op_, .make = NULL, .call = call_##fn, .v = v_, .vname = vname_, .cmp = {{kind, tol_}, {kind, tol_}}, \
     .p = {__VA_ARGS__}}
#define SCALED(coef, sigma, ...)                                                                           \
    {.op = "scaled_masked_inputs", .make = make_scaled_masked, .call = call_scaled_masked, .f = {coef, sigma}, \
     .cmp = {{CMP_REL, 1e-5}}, .p = {__VA_ARGS__}}
#define MASKED_PLUS_ONLY(...)                                                                              \
    {.op = "masked_inputs", .call = call_masked, .v = 2, .vname = "(plus only)",                           \
     .cmp = {{CMP_REL, 1e-5}, {CMP_UNTOUCHED, 0}}, .p = {__VA_ARGS__}}

static const OpRow OPS[] = {
    {.op = "softmax_gather", .make = make_softmax, .call = call_softmax, .cmp = {{CMP_REL, 1e-5}}, .p = {37, 1000, 17},
     .seed = 12345u},
    // normalize_maps: p = {m, h, w, kind}
    VAR("normalize_maps", normalize, 0, "(code)", CMP_REL, 1e-5, 3, 20, 20, 0),
    AGAIN("normalize_maps", normalize, 1, "(paper)", CMP_REL, 1e-5, 3, 20, 20, 0),
    VAR("normalize_maps", normalize, 0, "(code)", CMP_REL, 1e-5, 4, 56, 56, 1),
    AGAIN("normalize_maps", normalize, 1, "(paper)", CMP_REL, 1e-5, 4, 56, 56, 1),
    VAR("normalize_maps", normalize, 0, "(code)", CMP_REL, 1e-5, 5, 7, 7, 2),
    AGAIN("normalize_maps", normalize, 1, "(paper)", CMP_REL, 1e-5, 5, 7, 7, 2),
    VAR("normalize_maps", normalize, 0, "(code)", CMP_REL, 1e-5, 2, 224, 224, 3),
    AGAIN("normalize_maps", normalize, 1, "(paper)", CMP_REL, 1e-5, 2, 224, 224, 3),
    // resample: p = {h, w, oh, ow}
    ROW("resample", resample, CMP_REL, 1e-5, 7, 7, 224, 224),
    ROW("resample", resample, CMP_REL, 1e-5, 14, 14, 7, 7),
    ROW("resample", resample, CMP_REL, 1e-5, 28, 28, 14, 14),
    ROW("resample", resample, CMP_REL, 1e-5, 13, 17, 29, 11),
    ROW("resample", resample, CMP_REL, 1e-5, 224, 224, 56, 56),
    ROW("resample", resample, CMP_REL, 1e-5, 1, 1, 5, 5),
    // masked_inputs: p = {k, h, w, s, m, the m channels}
    VAR("masked_inputs", masked, 0, "(code)", CMP_REL, 1e-5, 16, 14, 14, 32, 5, 3, 0, 15, 7, 7),
    AGAIN("masked_inputs", masked, 1, "(paper)", CMP_REL, 1e-5, 16, 14, 14, 32, 5, 3, 0, 15, 7, 7),
    MASKED_PLUS_ONLY(16, 14, 14, 32, 5, 3, 0, 15, 7, 7),
    VAR("masked_inputs", masked, 0, "(code)", CMP_REL, 1e-5, 512, 7, 7, 224, 3, 511, 2, 100),
    AGAIN("masked_inputs", masked, 1, "(paper)", CMP_REL, 1e-5, 512, 7, 7, 224, 3, 511, 2, 100),
    MASKED_PLUS_ONLY(512, 7, 7, 224, 3, 511, 2, 100),
    VAR("masked_inputs", masked, 0, "(code)", CMP_REL, 1e-5, 2, 112, 112, 224, 2, 1, 0),
    AGAIN("masked_inputs", masked, 1, "(paper)", CMP_REL, 1e-5, 2, 112, 112, 224, 2, 1, 0),
    MASKED_PLUS_ONLY(2, 112, 112, 224, 2, 1, 0),
    // scaled_masked_inputs: coefficient, sigma; p as masked_inputs
    SCALED(1.0f, 0.0f, 16, 14, 14, 32, 4, 3, 0, 15, 7),
    SCALED(1.0f, 2.0f, 16, 14, 14, 32, 4, 3, 0, 15, 7),
    SCALED(5.5f, 0.0f, 512, 7, 7, 224, 3, 511, 2, 100),
    SCALED(1.0f, 2.0f, 512, 7, 7, 224, 3, 511, 2, 100),
    // weighted_channel_sum: p = {k, h, w, v, NaN / inf weights}
    ROW("weighted_channel_sum", wcs, CMP_REL, 1e-4, 64, 28, 28, 3, 0),
    ROW("weighted_channel_sum", wcs, CMP_REL, 1e-4, 2048, 7, 7, 5, 0),
    ROW("weighted_channel_sum", wcs, CMP_REL, 1e-4, 64, 224, 224, 1, 0),
    ROW("weighted_channel_sum", wcs, CMP_REL, 1e-4, 32, 14, 14, 3, 1),
    // lnorm: p = {m, h, w, th, tw, sparse}
    VAR("lnorm", lnorm, 0, "(code)", CMP_REL, 1e-4, 4, 28, 28, 14, 14, 0),
    AGAIN("lnorm", lnorm, 1, "(paper)", CMP_REL, 1e-4, 4, 28, 28, 14, 14, 0),
    VAR("lnorm", lnorm, 0, "(code)", CMP_REL, 1e-4, 4, 28, 28, 7, 7, 0),
    AGAIN("lnorm", lnorm, 1, "(paper)", CMP_REL, 1e-4, 4, 28, 28, 7, 7, 0),
    VAR("lnorm", lnorm, 0, "(code)", CMP_REL, 1e-4, 4, 28, 28, 28, 28, 0),
    AGAIN("lnorm", lnorm, 1, "(paper)", CMP_REL, 1e-4, 4, 28, 28, 28, 28, 0),
    VAR("lnorm", lnorm, 0, "(code)", CMP_REL, 1e-4, 2, 56, 56, 14, 14, 1),
    AGAIN("lnorm", lnorm, 1, "(paper)", CMP_REL, 1e-4, 2, 56, 56, 14, 14, 1),
    VAR("lnorm", lnorm, 0, "(code)", CMP_REL, 1e-4, 2, 13, 13, 7, 7, 1),
    AGAIN("lnorm", lnorm, 1, "(paper)", CMP_REL, 1e-4, 2, 13, 13, 7, 7, 1),
    VAR("lnorm", lnorm, 0, "(code)", CMP_REL, 1e-4, 1, 112, 112, 56, 56, 1),
    AGAIN("lnorm", lnorm, 1, "(paper)", CMP_REL, 1e-4, 1, 112, 112, 56, 56, 1),
    ROW("mul_relu", mul_relu, CMP_REL, 0.0, 100003),
    // blur: p = {s, kernel}
    ROW("blur", blur, CMP_REL, 1e-5, 224, 11),
    ROW("blur", blur, CMP_REL, 1e-5, 16, 11),
    ROW("blur", blur, CMP_REL, 1e-5, 4, 11),
    ROW("blur", blur, CMP_REL, 1e-5, 33, 5),
    // argsort_desc: p = {n, kind}
    ROW("argsort_desc", argsort, CMP_INT, 0, 224 * 224, 0),
    ROW("argsort_desc", argsort, CMP_INT, 0, 224 * 224, 1),
    ROW("argsort_desc", argsort, CMP_INT, 0, 224 * 224, 2),
    // insdel_samples: p = {s, t0, m, pixels per step}
    VAR("insdel_samples", insdel, 0, "insertion", CMP_REL, 0.0, 32, 5, 7, 4),
    AGAIN("insdel_samples", insdel, 1, "deletion", CMP_REL, 0.0, 32, 5, 7, 4),
    VAR("insdel_samples", insdel, 0, "insertion", CMP_REL, 0.0, 224, 0, 8, 224),
    AGAIN("insdel_samples", insdel, 1, "deletion", CMP_REL, 0.0, 224, 0, 8, 224),
    VAR("insdel_samples", insdel, 0, "insertion", CMP_REL, 0.0, 224, 220, 4, 224),   // the last steps: every
    AGAIN("insdel_samples", insdel, 1, "deletion", CMP_REL, 0.0, 224, 220, 4, 224),  // pixel taken
    // the perturbation ops (their own generator stream): bit identical, the GEMV within 1e-5
    // relative. rise_masks: p = {m, cells, s}
    {.op = "rise_masks", .make = make_rise, .call = call_rise, .cmp = {{CMP_BITS, 0}}, .p = {40, 8, 224},
     .seed = 777u},
    ROW("rise_masks", rise, CMP_BITS, 0, 9, 7, 50),
    ROW("rise_masks", rise, CMP_BITS, 0, 3, 1, 16),
    ROW("rise_masks", rise, CMP_BITS, 0, 5, 3, 224),
    ROW("masked_batch", masked_batch, CMP_BITS, 0, 7, 224),
    // occlusion_inputs: p = {s, window, stride, t0, m}
    ROW("occlusion_inputs", occlusion, CMP_BITS, 0, 224, 64, 8, 0, 33),
    ROW("occlusion_inputs", occlusion, CMP_BITS, 0, 224, 64, 8, 430, 11),
    ROW("occlusion_inputs", occlusion, CMP_BITS, 0, 50, 16, 12, 2, 14),   // last window clipped at the border
    // weighted_map_sum: p = {m, n}
    ROW("weighted_map_sum", gemv, CMP_REL, 1e-5, 64, 224 * 224),
    ROW("weighted_map_sum", gemv, CMP_REL, 1e-5, 3, 100),
    // the perturbation metrics' ops (docs/metrics.md): road_impute within 5e-6 relative, 1e-5
    // absolute on these inputs (CPU: banded Cholesky, exact in double; CUDA: conjugate gradients
    // to a relative residual of 1e-10), the noise term included; region_samples and
    // uniform_baseline bit identical (the same index arithmetic, exact Philox uniforms).
    // road_impute: p = {s, m, from_end}; region_samples: p = {s, patch, t0, m}; uniform: p = {s}
    {.op = "road_impute", .make = make_road, .call = call_road, .cmp = {{CMP_REL, 5e-6}}, .p = {64, 9, 0},
     .seed = 4242u},
    ROW("road_impute", road, CMP_REL, 5e-6, 64, 9, 1),
    ROW("road_impute", road, CMP_REL, 5e-6, 224, 3, 0),
    ROW("region_samples", region, CMP_BITS, 0, 224, 16, 0, 7),
    ROW("region_samples", region, CMP_BITS, 0, 224, 9, 40, 5),   // padded grid (224 % 9 != 0)
    ROW("region_samples", region, CMP_BITS, 0, 50, 8, 3, 4),
    ROW("uniform_baseline", uniform, CMP_BITS, 0, 224),
};

// alloc gives zeroed memory; upload / download round trip
static void test_memory(PcBackend *be) {
    size_t n = 1000;
    float *d = be->alloc(be, n * sizeof(float));
    float *h = test_download(be, d, n * sizeof(float));
    int zero = 1;
    for (size_t i = 0; i < n; i++) zero &= h[i] == 0.0f;
    CHECK(zero, "%s alloc: memory is not zeroed", be->device_name);
    for (size_t i = 0; i < n; i++) h[i] = (float)i * 0.5f;
    be->upload(be, d, h, n * sizeof(float));
    float *back = test_download(be, d, n * sizeof(float));
    CHECK(memcmp(back, h, n * sizeof(float)) == 0, "%s: upload/download round trip differs", be->device_name);
    free(back);
    free(h);
    be->release(be, d);
}

int main(int argc, char **argv) {
    const int cpu_only = argc > 1 && !strcmp(argv[1], "--cpu");
    PcError err = {{0}};
    PcBackendOptions opt = {.precision = PC_PREC_FP32};
    PcBackend *dev = cpu_only ? pc_backend_cpu_create(&opt, &err) : pc_backend_cuda_create(&opt, &err);
    if (!dev && !cpu_only) {
        char reason[1200];
        snprintf(reason, sizeof reason, "%s%s (the table runs CPU vs CPU in test_cuda_ops_cpu)",
                 strncmp(err.msg, "no CUDA device", 14) ? "no CUDA device: " : "", err.msg);
        test_skip(reason);
    }
    CHECK(dev != NULL, "CPU backend: %s", err.msg);
    PcBackend *cpu = dev ? pc_backend_cpu_create(&opt, &err) : NULL;
    CHECK(!dev || cpu, "CPU backend: %s", err.msg);
    if (!dev || !cpu) return test_summary();
    exact = cpu_only;
    printf("test_cuda_ops on %s vs %s%s\n", dev->device_name, cpu->device_name,
           exact ? " (CPU vs CPU: every output bit identical)" : "");
    test_memory(dev);
    run_table(OPS, (int)(sizeof OPS / sizeof OPS[0]), cpu, dev);
    dev->destroy(dev);
    cpu->destroy(cpu);
    return test_summary();
}
