// test_backend_options.c: the backend options that are not configuration keys, on the CPU.
//  - pc_backend_options_from_env: which environment variables switch what ("0" or unset = off),
//    and pc_backend_options_key names exactly the switches that are on (run.c appends that text
//    to the configuration key, so a resume or merge with other switches is refused).
//  - Out of memory (the CPU's max_alloc hook, standing in for a full GPU): pc_explain and the
//    insertion/deletion context halve their batch until the passes fit, with the same bits as a
//    run asked for at that batch; with no batch that fits, one clear error and no crash.
//  - The thread count (run.threads, PC_THREADS) is, like run.device, not in the configuration
//    key: it changes only the last bits (the GEMMs are split differently). Measured and bounded
//    here; README quotes the figures.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "insdel.h"
#include "saliency.h"
#include "testutil.h"
#include "cpu_backend.h"

#define S 224
#define STEPS 16   // curve steps: 2 passes at batch 8 keep the test short
static const size_t kImageBytes = (size_t)3 * S * S * sizeof(float);

static void test_env_switches(void) {
    const char *vars[] = {"PC_NO_DIRECT_CONV", "PC_CUDA_NOFUSE", "PC_CUDNN_FIND", "PC_CUDNN_TUNE"};
    for (int i = 0; i < 4; i++) unsetenv(vars[i]);
    PcBackendOptions o;
    memset(&o, 0, sizeof o);
    char key[256];
    pc_backend_options_from_env(&o);
    pc_backend_options_key(&o, key, sizeof key);
    CHECK(!o.no_direct_conv && !o.cuda_no_fusion && !o.cudnn_find && !o.cudnn_tune && key[0] == 0,
          "unset environment: switches on or key text '%s'", key);
    setenv("PC_NO_DIRECT_CONV", "1", 1);
    setenv("PC_CUDNN_TUNE", "yes", 1);
    setenv("PC_CUDNN_FIND", "0", 1);
    pc_backend_options_from_env(&o);
    pc_backend_options_key(&o, key, sizeof key);
    CHECK(o.no_direct_conv && o.cudnn_tune && !o.cudnn_find && !o.cuda_no_fusion,
          "PC_NO_DIRECT_CONV=1 PC_CUDNN_TUNE=yes PC_CUDNN_FIND=0: switches %d %d %d %d", o.no_direct_conv,
          o.cuda_no_fusion, o.cudnn_find, o.cudnn_tune);
    CHECK(!strcmp(key, "PC_NO_DIRECT_CONV = 1\nPC_CUDNN_TUNE = 1\n"), "key text '%s'", key);
    setenv("PC_CUDA_NOFUSE", "1", 1);
    unsetenv("PC_NO_DIRECT_CONV");
    pc_backend_options_from_env(&o);
    pc_backend_options_key(&o, key, sizeof key);
    CHECK(!strcmp(key, "PC_CUDA_NOFUSE = 1\nPC_CUDNN_TUNE = 1\n"), "key text '%s'", key);
    for (int i = 0; i < 4; i++) unsetenv(vars[i]);
}

typedef struct {
    PcBackend *be;
    PcBackendNet *bn;
} Cpu;

static int cpu_open(Cpu *c, const PcNet *net, int threads, size_t max_alloc, int max_batch) {
    PcError err = {{0}};
    PcBackendOptions o = {.precision = PC_PREC_FP32, .threads = threads, .max_alloc = max_alloc};
    c->be = pc_backend_cpu_create(&o, &err);
    c->bn = c->be ? c->be->net_prepare(c->be, net, max_batch, &err) : NULL;
    CHECK(c->bn != NULL, "cpu backend (%d threads): %s", threads, err.msg);
    return c->bn ? 0 : -1;
}

static void cpu_close(Cpu *c) {
    if (c->bn) c->be->net_release(c->be, c->bn);
    if (c->be) c->be->destroy(c->be);
}

// Every map of a and b bitwise equal (weights, final maps, levels, isolated CAMs, no-LNorm).
static int same_explanation(const PcExplanation *a, const PcExplanation *b, const PcTargets *tg) {
    const size_t ss = (size_t)S * S;
    int same = a->cls == b->cls && a->score == b->score && a->forward_passes == b->forward_passes;
    for (int v = 0; v < PC_N_VARIANTS && same; v++) {
        same &= !memcmp(a->map[v], b->map[v], ss * sizeof(float));
        same &= !memcmp(a->levels[v], b->levels[v], tg->n_targets * ss * sizeof(float));
        same &= !memcmp(a->map_no_lnorm[v], b->map_no_lnorm[v], ss * sizeof(float));
        for (int l = 0; l < tg->n_targets; l++) {
            same &= !memcmp(a->weights[v][l], b->weights[v][l], (size_t)tg->c[l] * sizeof(float));
            same &= !memcmp(a->cams[v][l], b->cams[v][l], ss * sizeof(float));
        }
    }
    return same;
}

// Insertion and deletion curves of map at the given batch on c.
static int curves(Cpu *c, const PcNet *net, const float *x, const float *map, int cls, int batch, float *ins,
                  float *del, int *batch_used, PcError *err) {
    PcInsDelOptions o;
    pc_insdel_default_options(&o);
    o.steps = STEPS;
    o.batch = batch;
    PcInsDelContext ctx;
    if (pc_insdel_context_init(c->be, net, x, &o, &ctx, err)) return -1;
    int rc = pc_insdel_context_eval(&ctx, c->bn, map, S, S, cls, ins, NULL, del, NULL, NULL, err);
    *batch_used = ctx.opt.batch;
    pc_insdel_context_free(&ctx);
    return rc;
}

// the gradient methods' passes: no buffer for the batch is an error, not a copy into NULL
static void check_backward_oom(const Cpu *none, const PcNet *net, const float *x) {
    PcMethodCtx mc = {.be = none->be, .bn = none->bn, .net = net, .x = x, .size = S, .cls = 0, .batch = 4};
    float *gx = xmalloc(kImageBytes);
    PcError err = {{0}};
    int rg = pc_method_backward(&mc, x, 1, 0, NULL, NULL, NULL, gx, &err);
    CHECK(rg == PC_ERR_OOM && strstr(err.msg, "out of backend memory"), "gradients with no memory: rc %d, '%s'", rg,
          err.msg);
    free(gx);
}

static void test_out_of_memory(const PcNet *net, const PcTargets *tg, const float *x) {
    // memory for 8 images' inputs: batch 32 does not fit, 16 does not, 8 does
    Cpu big, small, none;
    if (cpu_open(&big, net, 2, 0, 32) || cpu_open(&small, net, 2, 8 * kImageBytes, 32) ||
        cpu_open(&none, net, 2, 1000, 32))
        return;
    PcError err = {{0}};
    CHECK(small.be->alloc(small.be, 9 * kImageBytes) == NULL, "max_alloc: 9 images' worth allocated");
    float *logits = xmalloc(16 * (size_t)net->n_classes * sizeof(float));
    float *x16 = big.be->alloc(big.be, 16 * kImageBytes);
    CHECK(small.be->forward(small.be, small.bn, x16, 16, logits, 0, NULL, NULL, &err) == PC_ERR_OOM,
          "max_alloc: a forward of 16 images is not PC_ERR_OOM");
    big.be->release(big.be, x16);
    free(logits);

    PcSaliencyOptions so;
    pc_saliency_default_options(&so);
    PcExplanation want, got;
    so.batch = 8;
    int rc = pc_explain(big.be, big.bn, net, tg, x, -1, &so, &want, &err);
    CHECK(rc == 0, "explain at batch 8: %s", err.msg);
    so.batch = 32;
    int rg = pc_explain(small.be, small.bn, net, tg, x, -1, &so, &got, &err);
    CHECK(rg == 0, "explain at batch 32 with memory for 8: %s", err.msg);
    if (!rc && !rg) {
        CHECK(got.batch == 8, "explain: batch %d after running out of memory at 32, expected 8", got.batch);
        CHECK(same_explanation(&want, &got, tg), "explain: halved batch differs from a run at batch 8");
    }
    pc_explanation_free(&got);
    so.batch = 4;
    rg = pc_explain(none.be, none.bn, net, tg, x, -1, &so, &got, &err);
    CHECK(rg == -1 && strstr(err.msg, "out of memory") && strstr(err.msg, "one image per pass"),
          "explain with no memory: rc %d, '%s'", rg, err.msg);
    check_backward_oom(&none, net, x);

    if (!rc) {   // curves: context init halves at allocation, later curves keep the batch
        float ins_w[STEPS], del_w[STEPS], ins_g[STEPS], del_g[STEPS];
        int bw = 0, bg = 0;
        const float *map = want.map[PC_VARIANT_PM];
        rc = curves(&big, net, x, map, want.cls, 8, ins_w, del_w, &bw, &err);
        CHECK(rc == 0, "curves at batch 8: %s", err.msg);
        rg = curves(&small, net, x, map, want.cls, 32, ins_g, del_g, &bg, &err);
        CHECK(rg == 0, "curves at batch 32 with memory for 8: %s", err.msg);
        CHECK(!rc && !rg && bg == 8 && !memcmp(ins_w, ins_g, sizeof ins_w) && !memcmp(del_w, del_g, sizeof del_w),
              "curves: halved batch (%d) differs from a run at batch 8", bg);
        rg = curves(&none, net, x, map, want.cls, 4, ins_g, del_g, &bg, &err);
        CHECK(rg == -1 && strstr(err.msg, "out of memory"), "curves with no memory: rc %d, '%s'", rg, err.msg);

        // a forward that runs out of memory mid-curve (the context's buffers were had): the
        // curve starts again at half the batch
        PcInsDelOptions o;
        pc_insdel_default_options(&o);
        o.steps = STEPS;
        o.batch = 32;
        PcInsDelContext ctx;
        rg = pc_insdel_context_init(big.be, net, x, &o, &ctx, &err);
        CHECK(rg == 0, "context: %s", err.msg);
        if (!rg) {
            ctx.be = small.be;   // same host memory: the buffers stay valid
            rg = pc_insdel_context_eval(&ctx, small.bn, map, S, S, want.cls, ins_g, NULL, del_g, NULL, NULL, &err);
            CHECK(rg == 0 && ctx.opt.batch == 8, "mid-curve out of memory: rc %d, batch %d: %s", rg, ctx.opt.batch,
                  err.msg);
            CHECK(!rg && !memcmp(ins_w, ins_g, sizeof ins_w) && !memcmp(del_w, del_g, sizeof del_w),
                  "mid-curve out of memory: curves differ from a run at batch 8");
            ctx.be = big.be;
            pc_insdel_context_free(&ctx);
        }
    }
    if (!rc) pc_explanation_free(&want);
    pc_explanation_free(&got);
    cpu_close(&big);
    cpu_close(&small);
    cpu_close(&none);
}

// max |a - b| over every map of the two explanations
static double explanation_diff(const PcExplanation *a, const PcExplanation *b, const PcTargets *tg) {
    const size_t ss = (size_t)S * S;
    double d = 0;
    for (int v = 0; v < PC_N_VARIANTS; v++) {
        d = fmax(d, max_abs_diff_f32(a->map[v], b->map[v], ss));
        d = fmax(d, max_abs_diff_f32(a->levels[v], b->levels[v], tg->n_targets * ss));
        d = fmax(d, max_abs_diff_f32(a->map_no_lnorm[v], b->map_no_lnorm[v], ss));
        for (int l = 0; l < tg->n_targets; l++) d = fmax(d, max_abs_diff_f32(a->cams[v][l], b->cams[v][l], ss));
    }
    return d;
}

static void test_threads(const PcNet *net, const PcTargets *tg, const float *x) {
    Cpu one, three;
    if (cpu_open(&one, net, 1, 0, 32) || cpu_open(&three, net, 3, 0, 32)) return;
    PcSaliencyOptions so;
    pc_saliency_default_options(&so);
    PcExplanation a, b;
    PcError err = {{0}};
    int ra = pc_explain(one.be, one.bn, net, tg, x, -1, &so, &a, &err);
    int rb = pc_explain(three.be, three.bn, net, tg, x, -1, &so, &b, &err);
    CHECK(!ra && !rb, "explain: %s", err.msg);
    if (!ra && !rb) {
        const double dm = explanation_diff(&a, &b, tg);
        float ia[STEPS], da[STEPS], ib[STEPS], db[STEPS];
        int ba, bb;
        ra = curves(&one, net, x, a.map[PC_VARIANT_PM], a.cls, 32, ia, da, &ba, &err);
        rb = curves(&three, net, x, a.map[PC_VARIANT_PM], a.cls, 32, ib, db, &bb, &err);
        CHECK(!ra && !rb, "curves: %s", err.msg);
        const double dc = fmax(max_abs_diff_f32(ia, ib, STEPS), max_abs_diff_f32(da, db, STEPS));
        printf("  1 vs 3 threads: maps max |d| %.2e, curve scores max |d| %.2e\n", dm, dc);
        CHECK(a.cls == b.cls && fabs(a.score - b.score) <= 1e-6, "1 vs 3 threads: class or s0 differ");
        CHECK(dm <= 1e-4 && dc <= 1e-5, "1 vs 3 threads: maps differ by %.3g, curves by %.3g", dm, dc);
        ra = rb = 0;
    }
    if (!ra) pc_explanation_free(&a);
    if (!rb) pc_explanation_free(&b);
    cpu_close(&one);
    cpu_close(&three);
}

int main(void) {
    test_env_switches();
    const char *image = "ILSVRC2012_val_00010495.JPEG";
    float *x = golden_inputs(&image, 1);
    for (int m = 0; m < 1; m++) {
        const char *model = "tiny_vgg";
        PcNet net;
        PcError err = {{0}};
        if (fixture_net_load(model, &net, &err)) {
            CHECK(0, "%s: %s", model, err.msg);
            continue;
        }
        PcTargets tg;
        CHECK(pc_targets_resolve(&net, 0, NULL, &tg, &err) == 0, "%s targets: %s", model, err.msg);
        printf("%s: out of memory, threads\n", model);
        test_out_of_memory(&net, &tg, x);
        test_threads(&net, &tg, x);
        pc_net_free(&net);
    }
    free(x);
    return test_summary();
}
