// test_insdel_tiny.c: insertion / deletion (SPEC §8) on the CPU backend against the reference for
// tiny_vgg and tiny_resnet: on the fixture's own pcampm map, every per-step score and both AUCs;
// on the engine's own pcampm map, the AUCs; the forward-pass count; a reused per-image context and
// a map that is not S x S; and the localisation measures of SPEC §10 on hand cases.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "insdel.h"
#include "localisation.h"
#include "method_fixture.h"
#include "saliency.h"
#include "testutil.h"

#define STEP_TOL 1e-4      // per-step scores and AUCs on the fixture's map
#define OWN_AUC_TOL 2e-3   // AUCs on our own map (the map differs by up to 1e-3)

static const char *const kImages[2] = {"ILSVRC2012_val_00010495.JPEG", "ILSVRC2012_val_00015410.JPEG"};

static const char *golden(void) { return fixture_path("reference_golden.h5"); }

// What the fixture holds for one image: the input x (3, 224, 224), its pcampm map (224, 224), the
// per-step scores (224 each), the class and the AUCs.
typedef struct {
    float *x, *map;
    double *ref_ins, *ref_del;
    size_t n_ins, n_del;
    double cls, ins_auc, del_auc;
} Golden;

// Reads g (checked); 0 when every piece is there.
static int golden_read(const char *grp, const char *image, Golden *g) {
    char dset[512];
    const size_t ss = 224 * 224;
    size_t n = 0;
    memset(g, 0, sizeof *g);
    g->cls = -1, g->ins_auc = NAN, g->del_auc = NAN;
    snprintf(dset, sizeof dset, "inputs/%s", image);
    g->x = h5_read_f32(golden(), dset, &n, NULL, NULL);
    CHECK(g->x && n == 3 * ss, "%s missing", dset);
    snprintf(dset, sizeof dset, "%s/pcampm/map", grp);
    g->map = h5_read_f32(golden(), dset, &n, NULL, NULL);
    CHECK(g->map && n == ss, "%s missing", dset);
    snprintf(dset, sizeof dset, "%s/pcampm/ins_scores", grp);
    g->ref_ins = h5_read_f64(golden(), dset, &g->n_ins);
    snprintf(dset, sizeof dset, "%s/pcampm/del_scores", grp);
    g->ref_del = h5_read_f64(golden(), dset, &g->n_del);
    CHECK(g->ref_ins && g->ref_del && g->n_ins == 224 && g->n_del == 224, "%s: per-step scores missing", grp);
    char obj[512];
    snprintf(obj, sizeof obj, "%s/pcampm", grp);
    CHECK(h5_attr_f64(golden(), grp, "class", &g->cls) == 0, "%s: no class", grp);
    CHECK(h5_attr_f64(golden(), obj, "ins_auc", &g->ins_auc) == 0 &&
              h5_attr_f64(golden(), obj, "del_auc", &g->del_auc) == 0, "%s: no AUC attributes", obj);
    return !g->x || !g->map || !g->ref_ins || !g->ref_del || g->n_ins != 224 || g->n_del != 224 || g->cls < 0;
}

static void golden_free(Golden *g) {
    free(g->x);
    free(g->map);
    free(g->ref_ins);
    free(g->ref_del);
}

// A context reused for several maps gives the same bits as the one-shot call (ins, ins_auc,
// del_auc); a 112 x 112 map and class 10 of 10 are refused.
static void check_context(PcBackend *be, PcBackendNet *bn, const PcNet *net, const char *grp, const Golden *g,
                          const PcInsDelOptions *opt, const float *ins, double ins_auc, double del_auc) {
    const int cls = (int)g->cls;
    PcError err = {{0}};
    PcInsDelContext ctx;
    int rc = pc_insdel_context_init(be, net, g->x, opt, &ctx, &err);
    CHECK(rc == 0, "%s: context: %s", grp, err.msg);
    if (rc != 0) return;
    float ins2[224];
    double ins2_auc = 0, del2_auc = 0;
    CHECK(pc_insdel_context_eval(&ctx, bn, g->map, 224, 224, cls, NULL, NULL, NULL, &del2_auc, NULL, &err) == 0,
          "%s: context eval: %s", grp, err.msg);
    CHECK(pc_insdel_context_eval(&ctx, bn, g->map, 224, 224, cls, ins2, &ins2_auc, NULL, NULL, NULL, &err) == 0,
          "%s: context eval: %s", grp, err.msg);
    CHECK(!memcmp(ins2, ins, sizeof ins2) && ins2_auc == ins_auc && del2_auc == del_auc,
          "%s: reused context differs from the one-shot evaluation", grp);
    // maps come at the input size (the engine upsamples): anything else is refused
    float small[112 * 112];
    be->resample(be, g->map, 1, 224, 224, 112, 112, small);
    double small_ins = 0;
    CHECK(pc_insdel_context_eval(&ctx, bn, small, 112, 112, cls, NULL, &small_ins, NULL, NULL, NULL, &err) != 0,
          "%s: a 112x112 map was accepted", grp);
    CHECK(pc_insdel_context_eval(&ctx, bn, g->map, 224, 224, 10, NULL, &small_ins, NULL, NULL, NULL, &err) != 0,
          "%s: class 10 of 10 accepted", grp);
    pc_insdel_context_free(&ctx);
}

// The AUCs of our own pcampm map, within OWN_AUC_TOL of the fixture's.
static void check_own_map(PcBackend *be, PcBackendNet *bn, const PcNet *net, const PcTargets *tg, const char *grp,
                          const Golden *g, const PcInsDelOptions *opt) {
    PcError err = {{0}};
    PcSaliencyOptions sopt;
    pc_saliency_default_options(&sopt);
    sopt.want_levels = sopt.want_cams = sopt.want_no_lnorm = 0;
    PcExplanation e;
    int rc = pc_explain(be, bn, net, tg, g->x, (int)g->cls, &sopt, &e, &err);
    CHECK(rc == 0, "%s: pc_explain: %s", grp, err.msg);
    if (rc != 0) return;
    double own_ins = 0, own_del = 0;
    rc = pc_insertion_deletion(be, bn, net, g->x, e.map[PC_VARIANT_PM], 224, 224, (int)g->cls, opt, NULL,
                               &own_ins, NULL, &own_del, NULL, &err);
    CHECK(rc == 0, "%s: insertion/deletion of our map: %s", grp, err.msg);
    CHECK(fabs(own_ins - g->ins_auc) <= OWN_AUC_TOL, "%s: our map's ins AUC %.6f, reference %.6f",
          grp, own_ins, g->ins_auc);
    CHECK(fabs(own_del - g->del_auc) <= OWN_AUC_TOL, "%s: our map's del AUC %.6f, reference %.6f",
          grp, own_del, g->del_auc);
    printf("  own map: ins AUC %.6f (diff %.2e) del AUC %.6f (diff %.2e)\n", own_ins,
           fabs(own_ins - g->ins_auc), own_del, fabs(own_del - g->del_auc));
    pc_explanation_free(&e);
}

// On the fixture's own pcampm map: every per-step score, both AUCs and the pass count; then the
// reused context and our own map.
static void check_image(PcBackend *be, PcBackendNet *bn, const PcNet *net, const PcTargets *tg,
                        const char *model, const char *image) {
    char grp[256];
    snprintf(grp, sizeof grp, "tiny/%s/%s", model, image);
    Golden g;
    if (golden_read(grp, image, &g)) {
        golden_free(&g);
        return;
    }
    PcInsDelOptions opt;
    pc_insdel_default_options(&opt);
    float ins[224], del[224];
    double ins_auc = 0, del_auc = 0;
    long passes = 0;
    PcError err = {{0}};
    double t0 = pc_now();
    int rc = pc_insertion_deletion(be, bn, net, g.x, g.map, 224, 224, (int)g.cls, &opt, ins, &ins_auc, del,
                                   &del_auc, &passes, &err);
    double secs = pc_now() - t0;
    CHECK(rc == 0, "%s: insertion/deletion failed: %s", grp, err.msg);
    if (rc == 0) {
        double d_ins = max_abs_diff_f32_f64(ins, g.ref_ins, 224), d_del = max_abs_diff_f32_f64(del, g.ref_del, 224);
        CHECK(d_ins <= STEP_TOL, "%s: insertion scores max abs err %g", grp, d_ins);
        CHECK(d_del <= STEP_TOL, "%s: deletion scores max abs err %g", grp, d_del);
        CHECK(fabs(ins_auc - g.ins_auc) <= STEP_TOL, "%s: insertion AUC %.6f, reference %.6f", grp,
              ins_auc, g.ins_auc);
        CHECK(fabs(del_auc - g.del_auc) <= STEP_TOL, "%s: deletion AUC %.6f, reference %.6f", grp,
              del_auc, g.del_auc);
        CHECK(passes == 2 * 224, "%s: %ld forward passes, expected 448", grp, passes);
        printf("%s %s: fixture map: ins AUC %.6f (ref %.6f) del AUC %.6f (ref %.6f), step err ins %.2e "
               "del %.2e, %.2f s\n", model, image, ins_auc, g.ins_auc, del_auc, g.del_auc, d_ins,
               d_del, secs);
        check_context(be, bn, net, grp, &g, &opt, ins, ins_auc, del_auc);
        check_own_map(be, bn, net, tg, grp, &g, &opt);
    }
    golden_free(&g);
}

static void check_model(PcBackend *be, const char *model) {
    PcError err = {{0}};
    MfNet mn;
    if (mf_net_open(be, model, 32, &mn)) return;
    PcTargets tg;
    CHECK(pc_targets_resolve(&mn.net, 0, NULL, &tg, &err) == 0, "%s: targets: %s", model, err.msg);
    for (int i = 0; i < 2; i++) check_image(be, mn.bn, &mn.net, &tg, model, kImages[i]);
    mf_net_close(&mn);
}

static void check_localisation(void) {
    const float s[6] = {0.5f, 2.0f, 0.0f, 2.0f, 1.0f, 0.5f};
    const unsigned char g[6] = {0, 1, 0, 0, 1, 0}, g2[6] = {0, 0, 0, 1, 0, 0};
    // energy = (2 + 1) / 6; the first maximum is index 1
    CHECK(fabs(pc_energy_in_mask(s, g, 6) - 0.5) < 1e-12, "energy in mask %g, expected 0.5",
          pc_energy_in_mask(s, g, 6));
    CHECK(pc_pointing_hit(s, g, 6) == 1, "pointing: first maximum is inside the mask");
    CHECK(pc_pointing_hit(s, g2, 6) == 0, "pointing: only the second maximum is in g2");
    const float zero[6] = {0};
    CHECK(pc_energy_in_mask(zero, g, 6) == 0.0, "energy of an all-zero map is not 0");
}

int main(void) {
    PcBackend *be = test_cpu_backend();
    if (!be) return test_summary();
    check_localisation();
    check_model(be, "tiny_vgg");
    check_model(be, "tiny_resnet");
    be->destroy(be);
    return test_summary();
}
