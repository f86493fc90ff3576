// bench_gpu.c: GPU throughput of the paper's Table-1 workload and of the bare forward pass.
//
// table1: per image, PCAM+, PCAM- and PCAM+- from one set of masked passes (pc_explain; levels,
// CAMs and the no-LNorm map off), then insertion + deletion of each of the three maps
// (pc_insdel_context_*), on full-size VGG16 (paper layer list), resnet50 (the reference code's
// list relu, layer2.0, layer3.0, layer4.0, layer4: 5,696 channels, the list of the reference
// figures) and resnet50_paper (the paper's relu, layer1..4: 3,904 channels, the list of the tuned
// PyTorch figure and the goal), with the fixtures' deterministic hash weights (no weight file
// needed). Reported per model and precision: seconds per image (explain, ins+del per map, total),
// images/s, forward passes/s, achieved TFLOP/s (pc_net_flops per pass), the speed-up over the
// reference implementation's figures, and the total against the tuned PyTorch figure and the goal.
// forward: images/s and TFLOP/s of plain forward passes (logits only) per precision and batch,
// against torch's fp16 forward ceilings on the same card.
// backward (not part of all): seconds per backward call and per image (backend.h backward: the
// forward that keeps the activations, then the data gradients) per precision and batch, two
// requests: the gradient of the last default target layer (Grad-CAM's head) and the gradient of
// the input with it (Input x Gradient, Integrated Gradients, SmoothGrad).
//
// Usage: bench_gpu [--mode all|table1|forward|backward] [--models vgg16,resnet50,resnet50_paper]
//        [--precisions fp32,tf32,fp16,bf16,fp8,int8] [--images N] [--batch B] [--batches 32,64,128,256]
//        [--seconds S] [--device cuda|cpu] [--csv FILE]
// --device cpu and the models tiny_vgg, tiny_resnet, synth_vgg, synth_resnet (data/models) serve
// to smoke-test this program on a machine without a GPU.
// Exit status: 0 done, 1 error, 2 no CUDA device.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_quant.h"
#include "image.h"
#include "insdel.h"
#include "saliency.h"
#include "util.h"
#include "cpu_backend.h"
#include "cuda_backend.h"

// Recorded figures, H100 (issue #5 and the project brief; NAN: none for that layer list).
typedef struct {
    const char *model;                        // bench model name
    double pcam_pm, pcam_p, insdel_per_map;   // reference implementation, seconds
    double ref_total;                         // reference implementation, Table-1 workload s/img
    double torch_tuned;                       // tuned PyTorch (fp16 NHWC, batch 512), s/img
    double goal;                              // project goal, Table-1 workload s/img
    double torch_fp16_ips;                    // torch fp16 NHWC forward ceiling, images/s
} RefFigures;
static const RefFigures kRefs[] = {
    {"vgg16", 0.90, 0.51, 0.20, 2.5, 0.56, 0.25, 7957.0},
    {"resnet50", 2.07, 1.07, 0.17, 4.7, NAN, NAN, 12822.0},
    {"resnet50_paper", NAN, NAN, NAN, NAN, 0.71, 0.35, 12822.0},
};

static const char *const kPrecNames[6] = {"fp32", "tf32", "fp16", "bf16", "fp8", "int8"};
#define N_PREC 6

// Dense tensor peaks of an H100 / H200 SXM (TFLOP/s; int8: TOPS), the denominator of "of peak":
// fp32 without tensor cores 67, tf32 495, fp16 / bf16 989, fp8 / int8 1979 (NVIDIA's datasheet
// figures without sparsity). Other cards: no ratio printed.
static const double kPeakH100[N_PREC] = {67.0, 495.0, 989.0, 989.0, 1979.0, 1979.0};

// The goals for the 8-bit precisions (issue #13): forward img/s and Table-1 s/img.
static const double kGoal8Forward[2] = {22000.0, 50000.0};   // vgg16, resnet50
static const double kGoal8Table1 = 0.20;

// Insertion / deletion AUCs of every image (warm-up included) and map of one model in fp32: the
// baseline the other precisions' drift is measured against.
#define MAX_DRIFT_IMAGES 64
typedef struct {
    char model[64];
    int n;                                           // images recorded
    double ins[MAX_DRIFT_IMAGES][PC_N_VARIANTS], del[MAX_DRIFT_IMAGES][PC_N_VARIANTS];
    double fp16_s_map;                               // fp16's ins+del s/map of this model (0: none yet),
                                                     //   for the 8-bit points' apply = maps line
} AucRecord;

typedef struct {
    const char *mode;
    char models[256];
    char precisions[64];
    int images;
    int batch;
    char batches[128];
    double seconds;
    const char *device;
    const char *csv;
} Args;

static const RefFigures *ref_for(const char *model) {
    for (size_t i = 0; i < sizeof kRefs / sizeof kRefs[0]; i++)
        if (!strcmp(kRefs[i].model, model)) return &kRefs[i];
    return NULL;
}

// ---- networks ---------------------------------------------------------------------------------

// A torchvision model with hash weights, or a small fixture network with its weight file
// (bench_net, util.h); resnet50_paper is resnet50 (only the target layers differ).
static int load_model(const char *model, PcNet *net, PcError *err) {
    char arch[64];
    snprintf(arch, sizeof arch, "%s", model);
    char *suffix = strstr(arch, "_paper");
    if (suffix) *suffix = 0;
    return bench_net(arch, net, err);
}

// The ILSVRC sample images of data/, preprocessed; n of them, cycling.
static float *load_images(int n, PcError *err) {
    static const char *const files[4] = {"ILSVRC2012_val_00010495.JPEG", "ILSVRC2012_val_00015410.JPEG",
                                         "ILSVRC2012_val_00021206.JPEG", "ILSVRC2012_val_00032239.JPEG"};
    const size_t img = (size_t)3 * 224 * 224;
    float *x = xmalloc((size_t)(n > 4 ? 4 : n) * img * sizeof(float));
    for (int i = 0; i < n && i < 4; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/ilsvrc_samples/%s", PC_DATA_DIR, files[i]);
        PcImageU8 im;
        if (pc_load_jpeg(path, &im, err)) {
            free(x);
            return NULL;
        }
        pc_preprocess(&im, PC_RESIZE_BILINEAR, 224, x + i * img);
        pc_image_free(&im);
    }
    return x;
}

static PcBackend *make_backend(const Args *a, PcPrecision p, PcError *err) {
    PcBackendOptions opt = {.precision = p};
    pc_backend_options_from_env(&opt);   // PC_CUDNN_TUNE etc., as the program reads them
    if (!strcmp(a->device, "cpu")) return p == PC_PREC_FP32 ? pc_backend_cpu_create(&opt, err) : NULL;
    return pc_backend_cuda_create(&opt, err);
}

// The backend of one precision and the model: 1 when both are ready, 0 when the precision is
// unavailable (reported, the point is skipped), -1 when the model does not load (reported).
static int open_point(const Args *a, const char *model, PcPrecision prec, PcBackend **be, PcNet *net) {
    PcError err = {{0}};
    *be = make_backend(a, prec, &err);
    if (!*be) {
        printf("  %-9s %-5s unavailable: %s\n", model, kPrecNames[prec], err.msg[0] ? err.msg : "-");
        return 0;
    }
    if (load_model(model, net, &err)) {
        fprintf(stderr, "bench_gpu: %s: %s\n", model, err.msg);
        (*be)->destroy(*be);
        return -1;
    }
    return 1;
}

// fp8 / int8: calibration on the first n of the host images x (3, 224, 224 each, at most 4 held)
// and net_set_quant (gpu_quant.h); other precisions: nothing.
static int calibrate_images(PcBackend *be, PcBackendNet *bn, const PcNet *net, const float *x, int n, PcPrecision prec,
                            int *n8, PcError *err) {
    *n8 = 0;
    if (prec != PC_PREC_FP8 && prec != PC_PREC_INT8) return 0;
    const size_t img = (size_t)3 * net->in_h * net->in_w;
    if (n > 4) n = 4;
    float *d = be->alloc(be, (size_t)n * img * sizeof(float));
    if (!d) return pc_fail(err, "calibration: out of device memory");
    be->upload(be, d, x, (size_t)n * img * sizeof(float));
    int rc = bench_quant_setup(be, bn, net, d, n, prec, n8, err);
    be->release(be, d);
    return rc;
}

// ---- table1 -----------------------------------------------------------------------------------

// One model and precision of the Table-1 workload: the backend, the network, its targets (the
// reference code's list for resnet50), the options, the prepared net and the host images x
// (min(images + 1, 4), 3, 224, 224).
typedef struct {
    PcBackend *be;
    PcNet net;
    PcTargets tg;
    PcSaliencyOptions sopt;
    PcInsDelOptions iopt;
    PcBackendNet *bn;
    float *x;
    int n8;   // fp8 / int8: the convs that run in 8 bits
} Table1Point;

// Sums over the timed images (all but the warm-up image 0).
typedef struct {
    double t_explain, t_insdel, t_fwd, t_masked, t_maps, t_warm;
    long passes_explain, passes_insdel, live;
    double auc_sum;   // insertion - deletion AUC, every map
} Table1Sums;

// Targets, options, prepared net, images and the 8-bit calibration of a point open_point opened;
// on failure reports it and releases everything.
static int table1_prepare(const Args *a, const char *model, PcPrecision prec, Table1Point *pt) {
    PcBackend *be = pt->be;
    PcError err = {{0}};
    char code_list[5][64] = {"relu", "layer2.0", "layer3.0", "layer4.0", "layer4"};
    int use_code = !strcmp(model, "resnet50");
    int rc = pc_targets_resolve(&pt->net, use_code ? 5 : 0, use_code ? code_list : NULL, &pt->tg, &err);
    pc_saliency_default_options(&pt->sopt);
    pt->sopt.batch = a->batch;
    pt->sopt.want_levels = pt->sopt.want_cams = pt->sopt.want_no_lnorm = 0;
    pc_insdel_default_options(&pt->iopt);
    pt->iopt.batch = a->batch;
    pt->bn = rc ? NULL : be->net_prepare(be, &pt->net, a->batch, &err);
    pt->x = pt->bn ? load_images(a->images + 1, &err) : NULL;
    pt->n8 = 0;
    if (pt->x && calibrate_images(be, pt->bn, &pt->net, pt->x, a->images + 1 < a->batch ? a->images + 1 : a->batch,
                                  prec, &pt->n8, &err)) {
        free(pt->x);
        pt->x = NULL;
    }
    if (pt->x) return 0;
    fprintf(stderr, "bench_gpu: %s %s: %s\n", model, kPrecNames[prec], err.msg);
    if (pt->bn) be->net_release(be, pt->bn);
    pc_net_free(&pt->net);
    be->destroy(be);
    return -1;
}

// Image i (i % 4 of the loaded ones): the three maps, then insertion + deletion of each; the AUCs
// go into rec, the times and passes into sums (image 0, the warm-up, only into t_warm).
static int table1_image(Table1Point *pt, int i, Table1Sums *sums, AucRecord *rec, PcError *err) {
    PcBackend *be = pt->be;
    const float *xi = pt->x + (size_t)(i % 4) * 3 * 224 * 224;
    PcExplanation e;
    be->synchronize(be);
    double t0 = pc_now();
    int rc = pc_explain(be, pt->bn, &pt->net, &pt->tg, xi, -1, &pt->sopt, &e, err);
    be->synchronize(be);
    double t1 = pc_now();
    if (rc) return rc;
    PcInsDelContext ctx;
    long p_insdel = 0;
    rc = pc_insdel_context_init(be, &pt->net, xi, &pt->iopt, &ctx, err);
    int ctx_ready = rc == 0;
    for (int v = 0; v < PC_N_VARIANTS && !rc; v++) {
        double ins = 0, del = 0;
        rc = pc_insdel_context_eval(&ctx, pt->bn, e.map[v], 224, 224, e.cls, NULL, &ins, NULL, &del, &p_insdel, err);
        sums->auc_sum += i ? ins - del : 0;
        if (!rc && i < MAX_DRIFT_IMAGES) rec->ins[i][v] = ins, rec->del[i][v] = del;
    }
    if (!rc && i < MAX_DRIFT_IMAGES) rec->n = i + 1;
    if (ctx_ready) pc_insdel_context_free(&ctx);
    be->synchronize(be);
    double t2 = pc_now();
    if (i == 0) sums->t_warm = t2 - t0;
    if (i > 0) {
        sums->t_explain += t1 - t0;
        sums->t_insdel += t2 - t1;
        sums->passes_explain += e.forward_passes;
        sums->passes_insdel += p_insdel;
        sums->live += e.live_channels;
        sums->t_fwd += e.seconds_forward, sums->t_masked += e.seconds_masked, sums->t_maps += e.seconds_maps;
    }
    pc_explanation_free(&e);
    return rc;
}

// AUC drift of rec against the fp32 record of the same model (fp32 itself: becomes that record).
static void table1_drift(const char *model, PcPrecision prec, const AucRecord *rec, AucRecord *fp32_aucs,
                         FILE *csv) {
    if (prec == PC_PREC_FP32) {
        *fp32_aucs = *rec;
        return;
    }
    if (strcmp(fp32_aucs->model, model) || fp32_aucs->n <= 0) return;
    int m = rec->n < fp32_aucs->n ? rec->n : fp32_aucs->n;
    double mean_i = 0, mean_d = 0, max_i = 0, max_d = 0;
    for (int i = 0; i < m; i++)
        for (int v = 0; v < PC_N_VARIANTS; v++) {
            double di = fabs(rec->ins[i][v] - fp32_aucs->ins[i][v]);
            double dd = fabs(rec->del[i][v] - fp32_aucs->del[i][v]);
            mean_i += di, mean_d += dd;
            max_i = fmax(max_i, di), max_d = fmax(max_d, dd);
        }
    mean_i /= m * PC_N_VARIANTS, mean_d /= m * PC_N_VARIANTS;
    printf("  %-9s %-5s AUC drift vs fp32 (%d images x 3 maps): insertion mean %.4f max %.4f, "
           "deletion mean %.4f max %.4f\n",
           model, kPrecNames[prec], m, mean_i, max_i, mean_d, max_d);
    if (csv)
        fprintf(csv, "drift,%s,%s,%d,%.5f,%.5f,%.5f,%.5f\n", model, kPrecNames[prec], m, mean_i, max_i, mean_d,
                max_d);
}

// The point's lines (and its table1 / drift CSV rows) from the sums over a->images timed images.
static void table1_report(const Args *a, const char *model, PcPrecision prec, const Table1Point *pt,
                          const Table1Sums *t, const AucRecord *rec, AucRecord *fp32_aucs, FILE *csv) {
    const int n = a->images;
    long channels = 0;
    for (int l = 0; l < pt->tg.n_targets; l++) channels += pt->tg.c[l];
    double flops = pc_net_flops(&pt->net), total = t->t_explain + t->t_insdel;
    double s_explain = t->t_explain / n, s_map = t->t_insdel / n / PC_N_VARIANTS, s_img = total / n;
    double fps = (t->passes_explain + t->passes_insdel) / total;
    const RefFigures *r = ref_for(model);
    printf("  %-9s %-5s batch %-4d | PCAM (3 maps) %7.3f s/img  ins+del %6.3f s/map  total %7.3f s/img "
           "(%.2f img/s) | %8.0f passes/s %6.1f TFLOP/s | live channels %ld/%ld, mean ins-del %.3f\n",
           model, kPrecNames[prec], a->batch, s_explain, s_map, s_img, 1.0 / s_img, fps, fps * flops * 1e-12,
           t->live / n, channels, t->auc_sum / n / PC_N_VARIANTS);
    printf("  %-9s %-5s PCAM time split: tapped forward %.4f s, masked passes %.3f s (%.0f passes/s), recursion + "
           "maps %.4f s; warm-up image (algorithm choice, 8-bit graph builds) %.1f s\n",
           model, kPrecNames[prec], t->t_fwd / n, t->t_masked / n, t->passes_explain / fmax(t->t_masked, 1e-9),
           t->t_maps / n, t->t_warm);
    if (r && !isnan(r->ref_total))
        printf("  %-9s %-5s vs reference implementation: 3 maps x%.1f (its PCAM+- alone %.2f s, PCAM+ %.2f s), "
               "ins+del x%.1f (%.2f s/map), Table-1 workload x%.1f (%.1f s/img)\n",
               model, kPrecNames[prec], r->pcam_pm / s_explain, r->pcam_pm, r->pcam_p,
               r->insdel_per_map / s_map, r->insdel_per_map, r->ref_total / s_img, r->ref_total);
    if (r && !isnan(r->goal))
        printf("  %-9s %-5s Table-1 workload %.3f s/img: x%.2f vs tuned PyTorch (%.2f s/img); goal %.2f s/img %s "
               "(x%.2f)\n",
               model, kPrecNames[prec], s_img, r->torch_tuned / s_img, r->torch_tuned, r->goal,
               s_img <= r->goal ? "met" : "not met", r->goal / s_img);
    if (prec == PC_PREC_FP8 || prec == PC_PREC_INT8)
        printf("  %-9s %-5s %d 8-bit convs, %d fell back to fp16; Table-1 workload %.3f s/img: 8-bit goal %.2f "
               "s/img %s\n", model, kPrecNames[prec], pt->n8, bench_quant_fallbacks(pt->bn), s_img, kGoal8Table1,
               s_img <= kGoal8Table1 ? "met" : "not met");
    // [precision] apply = maps: this point's 8-bit maps with the fp16 point's curves (both measured in
    // this run; composed, not one run: the run's extra unquantised class pass is not counted)
    if (prec == PC_PREC_FP16 && !strcmp(fp32_aucs->model, model)) fp32_aucs->fp16_s_map = s_map;
    if ((prec == PC_PREC_FP8 || prec == PC_PREC_INT8) && !strcmp(fp32_aucs->model, model) && fp32_aucs->fp16_s_map > 0) {
        double s_maps = s_explain + PC_N_VARIANTS * fp32_aucs->fp16_s_map;
        printf("  %-9s %-5s apply = maps (composed: 3 maps %s %.3f s + 3 x ins+del fp16 %.3f s/map): %.3f s/img: "
               "8-bit goal %.2f s/img %s\n", model, kPrecNames[prec], kPrecNames[prec], s_explain,
               fp32_aucs->fp16_s_map, s_maps, kGoal8Table1, s_maps <= kGoal8Table1 ? "met" : "not met");
    }
    // AUC drift against fp32 on the same images (warm-up image included)
    table1_drift(model, prec, rec, fp32_aucs, csv);
    if (csv)
        fprintf(csv, "table1,%s,%s,%d,%.5f,%.5f,%.5f,%.1f,%.3f,%ld,%.4f,%.4f\n", model, kPrecNames[prec],
                a->batch, s_explain, s_map, s_img, fps, fps * flops * 1e-12, t->live / n,
                r ? r->ref_total / s_img : NAN, r ? r->goal / s_img : NAN);
    fflush(stdout);
}

static int bench_table1(const Args *a, const char *model, PcPrecision prec, AucRecord *fp32_aucs, FILE *csv) {
    Table1Point pt;
    memset(&pt, 0, sizeof pt);
    int ready = open_point(a, model, prec, &pt.be, &pt.net);
    if (ready <= 0) return ready;
    if (table1_prepare(a, model, prec, &pt)) return -1;
    PcError err = {{0}};
    Table1Sums sums;
    memset(&sums, 0, sizeof sums);
    AucRecord rec;
    memset(&rec, 0, sizeof rec);
    snprintf(rec.model, sizeof rec.model, "%s", model);
    int rc = 0;
    // image 0 is a warm-up (cuDNN algorithm choice for each batch size it meets), not timed
    for (int i = 0; i <= a->images && !rc; i++) rc = table1_image(&pt, i, &sums, &rec, &err);
    if (rc)
        fprintf(stderr, "bench_gpu: %s %s: %s\n", model, kPrecNames[prec], err.msg);
    else
        table1_report(a, model, prec, &pt, &sums, &rec, fp32_aucs, csv);
    free(pt.x);
    pt.be->net_release(pt.be, pt.bn);
    pc_net_free(&pt.net);
    pt.be->destroy(pt.be);
    return rc;
}

// ---- forward throughput -----------------------------------------------------------------------

// Forward rates of one run (the largest batch measured per model and precision): the whole-paper
// projection's denominators.
typedef struct {
    char model[64];
    double ips[N_PREC];
    int batch[N_PREC];
} Rate;
typedef struct {
    Rate r[8];
    int n;
} Rates;

static Rate *rate_for(Rates *rs, const char *model) {
    for (int i = 0; i < rs->n; i++)
        if (!strcmp(rs->r[i].model, model)) return &rs->r[i];
    if (rs->n == 8) return NULL;
    Rate *r = &rs->r[rs->n++];
    memset(r, 0, sizeof *r);
    snprintf(r->model, sizeof r->model, "%s", model);
    return r;
}

// "  (63 % of the H100/H200 dense fp16 peak)" or nothing on other cards.
static void print_peak(const PcBackend *be, PcPrecision prec, double tflops) {
    if (strstr(be->device_name, "H100") || strstr(be->device_name, "H200"))
        printf("  %4.1f %% of dense %s peak (%.0f)", 100.0 * tflops / kPeakH100[prec], kPrecNames[prec],
               kPeakH100[prec]);
}

// n pseudo-random inputs in [-1, 1) (an LCG; the top 24 bits of its state / 2^23 - 1), the
// same every run.
static void fill_inputs(float *hx, size_t n) {
    unsigned s = 7;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        hx[i] = (float)(s >> 8) * (2.0f / 16777216.0f) - 1.0f;
    }
}

// The net prepared for batch b and *dx, b inputs (fill_inputs) on the device; NULL, printed,
// when the prepare fails.
static PcBackendNet *prepare_batch(PcBackend *be, const PcNet *net, const char *model, PcPrecision prec, int b,
                                   float **dx) {
    PcError err = {{0}};
    PcBackendNet *bn = be->net_prepare(be, net, b, &err);
    if (!bn) {
        printf("  %-9s %-5s batch %-4d prepare failed: %s\n", model, kPrecNames[prec], b, err.msg);
        return NULL;
    }
    const size_t n = (size_t)b * 3 * net->in_h * net->in_w;
    float *hx = xmalloc(n * sizeof(float));
    fill_inputs(hx, n);
    *dx = be->alloc(be, n * sizeof(float));
    be->upload(be, *dx, hx, n * sizeof(float));
    free(hx);
    return bn;
}

static int bench_forward(const Args *a, const char *model, PcPrecision prec, FILE *csv, Rates *rates) {
    PcBackend *be;
    PcNet net;
    int ready = open_point(a, model, prec, &be, &net);
    if (ready <= 0) return ready;
    PcError err = {{0}};
    const RefFigures *r = ref_for(model);
    double flops = pc_net_flops(&net);
    char list[128];
    snprintf(list, sizeof list, "%s", a->batches);
    int rc = 0;
    for (char *tok = strtok(list, ","); tok && !rc; tok = strtok(NULL, ",")) {
        int b = atoi(tok);
        if (b <= 0) continue;
        float *dx;
        PcBackendNet *bn = prepare_batch(be, &net, model, prec, b, &dx);
        if (!bn) continue;
        float *dl = be->alloc(be, (size_t)b * net.n_classes * sizeof(float));
        int n8 = 0;
        double t_setup = pc_now();
        rc = bench_quant_setup(be, bn, &net, dx, b < 8 ? b : 8, prec, &n8, &err);   // fp8 / int8: calibration
        for (int w = 0; w < 3 && !rc; w++) rc = be->forward(be, bn, dx, b, dl, 0, NULL, NULL, &err);
        be->synchronize(be);
        t_setup = pc_now() - t_setup;   // calibration, algorithm choice, the 8-bit graphs' builds
        be->synchronize(be);
        long iters = 0;
        double t0 = pc_now(), t = 0;
        while (!rc && (t < a->seconds || iters < 3)) {
            rc = be->forward(be, bn, dx, b, dl, 0, NULL, NULL, &err);
            iters++;
            if (iters % 4 == 0 || t + 0.5 > a->seconds) be->synchronize(be);
            t = pc_now() - t0;
        }
        be->synchronize(be);
        t = pc_now() - t0;
        if (rc) {
            fprintf(stderr, "bench_gpu: %s %s batch %d: %s\n", model, kPrecNames[prec], b, err.msg);
        } else {
            double ips = iters * (double)b / t;
            printf("  %-9s %-5s batch %-4d %9.0f img/s  %7.1f TFLOP/s", model, kPrecNames[prec], b, ips,
                   ips * flops * 1e-12);
            print_peak(be, prec, ips * flops * 1e-12);
            if (r) printf("  (%.2f x torch fp16 ceiling %.0f img/s)", ips / r->torch_fp16_ips, r->torch_fp16_ips);
            int g = !strcmp(model, "vgg16") ? 0 : !strcmp(model, "resnet50") ? 1 : -1;
            printf("  [set-up %.1f s]", t_setup);
            if (n8 > 0)
                printf("  [%d 8-bit convs, %d fell back%s%s%s]", n8, bench_quant_fallbacks(bn),
                       g >= 0 ? "; goal " : "", g >= 0 ? (ips >= kGoal8Forward[g] ? "met" : "not met") : "",
                       g >= 0 ? (g ? " (50k img/s)" : " (22k img/s)") : "");
            printf("\n");
            Rate *rt = rate_for(rates, model);
            if (rt && b >= rt->batch[prec]) rt->ips[prec] = ips, rt->batch[prec] = b;
            if (csv)
                fprintf(csv, "forward,%s,%s,%d,%.1f,%.3f,%.4f\n", model, kPrecNames[prec], b, ips,
                        ips * flops * 1e-12, r ? ips / r->torch_fp16_ips : NAN);
            fflush(stdout);
        }
        be->release(be, dx);
        be->release(be, dl);
        be->net_release(be, bn);
    }
    pc_net_free(&net);
    be->destroy(be);
    return rc;
}

// ---- whole-paper projection ---------------------------------------------------------------------

// The shipped configurations of the paper's tables per model (configs/*.ini). <model>_2000 holds
// Tables 1, 4 and 2 (or 3) in one run, so the whole paper counts it and Table 5.
static const char *const kPaperConfigs[2][5] = {
    {"vgg16_2000", "table5_vgg16", "table1_vgg16", "table2_vgg16", "table4_vgg16"},
    {"resnet50_2000", "table5_resnet50", "table1_resnet50", "table3_resnet50", "table4_resnet50"},
};

// One model's configurations: passes per image, then per precision s/img and GPU-hours for 2000
// images; adds the whole-paper hours (all but table1) into total[precision].
static void project_model(int mi, const Rate *rt, FILE *csv, double *total) {
    const char *model = mi ? "resnet50" : "vgg16";
    PcError err = {{0}};
    PcArchSpec spec;
    PcNet net;
    if (pc_arch_from_name(model, &spec, &err) || pc_net_create(&spec, &net, &err)) {
        printf("  %s: %s\n", model, err.msg);
        return;
    }
    for (int c = 0; c < 5 && kPaperConfigs[mi][c]; c++) {
        const char *cfg = kPaperConfigs[mi][c];
        double passes = 0;
        if (bench_paper_passes(cfg, &net, &passes, &err)) {
            printf("  %-22s %s\n", cfg, err.msg);
            continue;
        }
        printf("  %-22s %8.0f passes/img |", cfg, passes);
        for (int p = 0; p < N_PREC; p++) {
            if (!(rt->ips[p] > 0)) continue;
            double s_img = passes / rt->ips[p], hours = s_img * 2000.0 / 3600.0;
            printf(" %s %.2f s/img %.2f h |", kPrecNames[p], s_img, hours);
            if (c < 2) total[p] += hours;   // <model>_2000 and table5: the whole paper
            if (csv) fprintf(csv, "paper,%s,%s,%.0f,%s,%d,%.5f,%.4f\n", model, cfg, passes, kPrecNames[p],
                             rt->batch[p], s_img, hours);
        }
        printf("\n");
    }
    pc_net_free(&net);
}

static void print_projection(const Rates *rs, FILE *csv) {
    double total[N_PREC] = {0};
    int have[N_PREC] = {0}, models = 0;
    printf("whole-paper projection, 2000 images (forward-pass equivalents of configs/*.ini / the forward rate "
           "measured above at its largest batch; PROJECTED, not measured)\n");
    for (int mi = 0; mi < 2; mi++) {
        Rate *rt = NULL;
        for (int i = 0; i < rs->n; i++)
            if (!strcmp(rs->r[i].model, mi ? "resnet50" : "vgg16")) rt = (Rate *)&rs->r[i];
        if (!rt) continue;
        models++;
        for (int p = 0; p < N_PREC; p++) have[p] += rt->ips[p] > 0;
        project_model(mi, rt, csv, total);
    }
    printf("  whole paper (Tables 1-5, %s: <model>_2000 + table5):", models == 2 ? "both models"
                                                                                          : "measured models only");
    for (int p = 0; p < N_PREC; p++)
        if (have[p] == models && models) printf(" %s %.1f GPU-h |", kPrecNames[p], total[p]);
    printf("\n  caveats: the backward-based methods (ixg, ig, smoothgrad, Grad-CAM family) count as forward "
           "equivalents at the precision's forward rate, though an 8-bit net's backward runs in fp16; decoding, "
           "sorting and the map ops are not counted; the paper's real weights may calibrate differently\n");
}

// ---- backward ---------------------------------------------------------------------------------

// Seconds per call of backward (at least 3 calls and `seconds` seconds, after 2 warm-up calls).
static int time_backward(PcBackend *be, PcBackendNet *bn, const float *dx, int b, const int *cls, int node,
                         float *grad, float *gx, double seconds, double *per_call, PcError *err) {
    float *grads[1] = {grad};
    int rc = 0;
    for (int w = 0; w < 2 && !rc; w++) rc = be->backward(be, bn, dx, b, cls, NULL, 1, &node, NULL, grads, gx, err);
    be->synchronize(be);
    long iters = 0;
    double t0 = pc_now(), t = 0;
    while (!rc && (t < seconds || iters < 3)) {
        rc = be->backward(be, bn, dx, b, cls, NULL, 1, &node, NULL, grads, gx, err);
        iters++;
        be->synchronize(be);
        t = pc_now() - t0;
    }
    *per_call = iters ? t / iters : NAN;
    return rc;
}

static int bench_backward(const Args *a, const char *model, PcPrecision prec, FILE *csv) {
    PcBackend *be;
    PcNet net;
    int ready = open_point(a, model, prec, &be, &net);
    if (ready <= 0) return ready;
    PcError err = {{0}};
    char names[8][64];
    int nt = pc_net_default_targets(&net, names, 8);
    int node = nt > 0 ? pc_net_find(&net, names[nt - 1]) : -1;
    const PcNode *nd = node >= 0 ? &net.nodes[node] : NULL;
    const size_t img = (size_t)3 * net.in_h * net.in_w, per = nd ? (size_t)nd->c * nd->h * nd->w : 0;
    char list[128];
    snprintf(list, sizeof list, "%s", a->batches);
    int rc = be->backward && nd ? 0 : -1;
    if (rc) fprintf(stderr, "bench_gpu: %s: no backward on this backend, or no target layer\n", model);
    for (char *tok = strtok(list, ","); tok && !rc; tok = strtok(NULL, ",")) {
        int b = atoi(tok);
        if (b <= 0) continue;
        float *dx;
        PcBackendNet *bn = prepare_batch(be, &net, model, prec, b, &dx);
        if (!bn) continue;
        int *cls = xmalloc((size_t)b * sizeof(int));
        for (int i = 0; i < b; i++) cls[i] = (17 * i + 3) % net.n_classes;
        float *gx = be->alloc(be, (size_t)b * img * sizeof(float));
        float *grad = be->alloc(be, (size_t)b * per * sizeof(float));
        double t_head = NAN, t_input = NAN;
        rc = time_backward(be, bn, dx, b, cls, node, grad, NULL, a->seconds / 2, &t_head, &err);
        if (!rc) rc = time_backward(be, bn, dx, b, cls, node, grad, gx, a->seconds / 2, &t_input, &err);
        if (rc) {
            fprintf(stderr, "bench_gpu: %s %s batch %d backward: %s\n", model, kPrecNames[prec], b, err.msg);
        } else {
            printf("  %-9s %-5s batch %-4d backward to %s: %.4f s/call %.5f s/img; to the input: %.4f s/call "
                   "%.5f s/img\n", model, kPrecNames[prec], b, names[nt - 1], t_head, t_head / b, t_input,
                   t_input / b);
            if (csv)
                fprintf(csv, "backward,%s,%s,%d,%s,%.5f,%.6f,%.5f,%.6f\n", model, kPrecNames[prec], b, names[nt - 1],
                        t_head, t_head / b, t_input, t_input / b);
            fflush(stdout);
        }
        free(cls);
        be->release(be, dx), be->release(be, gx), be->release(be, grad);
        be->net_release(be, bn);
    }
    pc_net_free(&net);
    be->destroy(be);
    return rc;
}

// ---- main -------------------------------------------------------------------------------------

static int parse_precision(const char *s) {
    for (int p = 0; p < N_PREC; p++)
        if (!strcmp(s, kPrecNames[p])) return p;
    return -1;
}

static void usage(void) {
    fprintf(stderr,
            "usage: bench_gpu [--mode all|table1|forward|backward] [--models vgg16,resnet50,resnet50_paper]\n"
            "                 [--precisions fp32,tf32,fp16,bf16,fp8,int8] [--images N] [--batch B] [--batches 32,64,128,256]\n"
            "                 [--seconds S] [--device cuda|cpu] [--csv FILE]\n");
}

// The command line into a; 0 when it is valid.
static int parse_args(int argc, char **argv, Args *a) {
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return -1;
        if (!strcmp(argv[i], "--mode")) a->mode = v;
        else if (!strcmp(argv[i], "--models")) snprintf(a->models, sizeof a->models, "%s", v);
        else if (!strcmp(argv[i], "--precisions")) snprintf(a->precisions, sizeof a->precisions, "%s", v);
        else if (!strcmp(argv[i], "--images")) a->images = atoi(v);
        else if (!strcmp(argv[i], "--batch")) a->batch = atoi(v);
        else if (!strcmp(argv[i], "--batches")) snprintf(a->batches, sizeof a->batches, "%s", v);
        else if (!strcmp(argv[i], "--seconds")) a->seconds = atof(v);
        else if (!strcmp(argv[i], "--device")) a->device = v;
        else if (!strcmp(argv[i], "--csv")) a->csv = v;
        else return -1;
        i++;
    }
    if (a->images < 1 || a->batch < 2 || strcmp(a->device, "cuda") * strcmp(a->device, "cpu") != 0 ||
        (strcmp(a->mode, "all") && strcmp(a->mode, "table1") && strcmp(a->mode, "forward") &&
         strcmp(a->mode, "backward")))
        return -1;
    return 0;
}

// The CSV file with its header lines (a comment line per row kind); NULL when it cannot be written.
static FILE *open_csv(const char *path) {
    FILE *csv = fopen(path, "w");
    if (!csv) {
        fprintf(stderr, "bench_gpu: cannot write %s\n", path);
        return NULL;
    }
    fprintf(csv, "# forward,model,precision,batch,images_per_s,tflops,x_torch_fp16_ceiling\n"
                 "# table1,model,precision,batch,s_pcam_per_img,s_insdel_per_map,s_per_img,passes_per_s,"
                 "tflops,live_channels,speedup_vs_ref_total,goal_ratio_total\n"
                 "# drift,model,precision,images,ins_auc_mean_abs,ins_auc_max_abs,del_auc_mean_abs,del_auc_max_abs\n"
                 "# paper,model,config,passes_per_img,precision,forward_batch,s_per_img,gpu_hours_2000_images\n"
                 "# backward,model,precision,batch,target,s_per_call_target,s_per_img_target,s_per_call_input,"
                 "s_per_img_input\n");
    return csv;
}

// What the passes share: the fp32 AUCs table1 measures drift against, the forward rates the
// projection divides by, and the failed points.
typedef struct {
    AucRecord fp32_aucs;
    Rates rates;
    int failures;
} BenchState;

// One pass (0 forward, 1 table1, 2 backward) over every model and precision; -1 on an unknown
// precision (reported), else 0 (a failing point is reported, counted, and the others still run).
static int run_pass(const Args *a, int pass, FILE *csv, BenchState *st) {
    if (pass == 0)
        printf("forward throughput (logits only, %.1f s per point; FLOPs = pc_net_flops)\n", a->seconds);
    else if (pass == 2)
        printf("backward (data gradients; batches %s, %.1f s per point)\n", a->batches, a->seconds);
    else
        printf("Table-1 workload (%d image%s after one warm-up; batch %d for masked and ins/del passes)\n",
               a->images, a->images == 1 ? "" : "s", a->batch);
    char models[256];
    snprintf(models, sizeof models, "%s", a->models);
    char *msave = NULL;
    for (char *m = strtok_r(models, ",", &msave); m; m = strtok_r(NULL, ",", &msave)) {
        char precs[64];
        snprintf(precs, sizeof precs, "%s", a->precisions);
        char *psave = NULL;
        for (char *p = strtok_r(precs, ",", &psave); p; p = strtok_r(NULL, ",", &psave)) {
            if (pass != 1 && strstr(m, "_paper")) break;   // same network as without the suffix
            int prec = parse_precision(p);
            if (prec < 0) {
                fprintf(stderr, "bench_gpu: unknown precision %s\n", p);
                return -1;
            }
            int rc = pass == 0   ? bench_forward(a, m, (PcPrecision)prec, csv, &st->rates)
                     : pass == 1 ? bench_table1(a, m, (PcPrecision)prec, &st->fp32_aucs, csv)
                                 : bench_backward(a, m, (PcPrecision)prec, csv);
            st->failures += rc != 0;
            if (csv) fflush(csv);
        }
    }
    if (pass == 0 && st->rates.n) print_projection(&st->rates, csv);
    return 0;
}

int main(int argc, char **argv) {
    Args a = {"all", "vgg16,resnet50,resnet50_paper", "fp32,tf32,fp16,bf16,fp8,int8", 2, 128, "32,64,128,256", 2.0, "cuda",
              NULL};
    if (parse_args(argc, argv, &a)) {
        usage();
        return 1;
    }
    PcError err = {{0}};
    PcBackend *probe = make_backend(&a, PC_PREC_FP32, &err);
    if (!probe) {
        printf("bench_gpu: %s backend unavailable: %s\n", a.device, err.msg);
        return 2;
    }
    printf("bench_gpu on %s\n", probe->device_name);
    probe->destroy(probe);
    FILE *csv = NULL;
    if (a.csv && !(csv = open_csv(a.csv))) return 1;
    BenchState st;
    memset(&st, 0, sizeof st);
    for (int pass = 0; pass < 3; pass++) {
        const char *mode = pass == 0 ? "forward" : pass == 1 ? "table1" : "backward";
        if (pass == 2 ? strcmp(a.mode, mode) != 0 : strcmp(a.mode, "all") && strcmp(a.mode, mode)) continue;
        if (run_pass(&a, pass, csv, &st)) {
            if (csv) fclose(csv);
            return 1;
        }
    }
    if (csv) fclose(csv);
    int failures = st.failures;
    if (failures) printf("bench_gpu: %d point%s failed (see above)\n", failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
