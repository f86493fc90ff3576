// test_insdel_tiny.c: insertion / deletion (SPEC §8) on the CPU backend against the reference for
// tiny_vgg and tiny_resnet: on the fixture's own pcampm map, every per-step score and both AUCs;
// on the engine's own pcampm map, the AUCs; the forward-pass count; a reused per-image context and
// a map that is not S x S; and the localisation measures of SPEC §10 on hand cases.
#include <math.h>
#include <string.h>

#include "metrics.h"
#include "saliency.h"
#include "testutil.h"

#define STEP_TOL 1e-4      // per-step scores and AUCs on the fixture's map
#define OWN_AUC_TOL 2e-3   // AUCs on our own map (the map differs by up to 1e-3)

static const char *const kImages[2] = {"ILSVRC2012_val_00010495.JPEG", "ILSVRC2012_val_00015410.JPEG"};

static const char *golden(void) { return fixture_path("reference_golden.h5"); }

static void check_image(PcBackend *be, PcBackendNet *bn, const PcNet *net, const PcTargets *tg,
                        const char *model, const char *image) {
    char grp[256], dset[512];
    snprintf(grp, sizeof grp, "tiny/%s/%s", model, image);
    snprintf(dset, sizeof dset, "inputs/%s", image);
    size_t n = 0;
    const size_t ss = 224 * 224;
    float *x = h5_read_f32(golden(), dset, &n, NULL, NULL);
    CHECK(x && n == 3 * ss, "%s missing", dset);
    snprintf(dset, sizeof dset, "%s/pcampm/map", grp);
    float *map = h5_read_f32(golden(), dset, &n, NULL, NULL);
    CHECK(map && n == ss, "%s missing", dset);
    snprintf(dset, sizeof dset, "%s/pcampm/ins_scores", grp);
    size_t n_ins = 0, n_del = 0;
    double *ref_ins = h5_read_f64(golden(), dset, &n_ins);
    snprintf(dset, sizeof dset, "%s/pcampm/del_scores", grp);
    double *ref_del = h5_read_f64(golden(), dset, &n_del);
    CHECK(ref_ins && ref_del && n_ins == 224 && n_del == 224, "%s: per-step scores missing", grp);
    char obj[512];
    snprintf(obj, sizeof obj, "%s/pcampm", grp);
    double cls_d = -1, ref_ins_auc = NAN, ref_del_auc = NAN;
    CHECK(h5_attr_f64(golden(), grp, "class", &cls_d) == 0, "%s: no class", grp);
    CHECK(h5_attr_f64(golden(), obj, "ins_auc", &ref_ins_auc) == 0 &&
              h5_attr_f64(golden(), obj, "del_auc", &ref_del_auc) == 0, "%s: no AUC attributes", obj);
    if (!x || !map || !ref_ins || !ref_del || n_ins != 224 || n_del != 224 || cls_d < 0) goto done;
    const int cls = (int)cls_d;

    PcInsDelOptions opt;
    pc_insdel_default_options(&opt);
    float ins[224], del[224];
    double ins_auc = 0, del_auc = 0;
    long passes = 0;
    PcError err = {{0}};
    double t0 = pc_now();
    int rc = pc_insertion_deletion(be, bn, net, x, map, 224, 224, cls, &opt, ins, &ins_auc, del,
                                   &del_auc, &passes, &err);
    double secs = pc_now() - t0;
    CHECK(rc == 0, "%s: insertion/deletion failed: %s", grp, err.msg);
    if (rc != 0) goto done;
    double d_ins = max_abs_diff_f32_f64(ins, ref_ins, 224), d_del = max_abs_diff_f32_f64(del, ref_del, 224);
    CHECK(d_ins <= STEP_TOL, "%s: insertion scores max abs err %g", grp, d_ins);
    CHECK(d_del <= STEP_TOL, "%s: deletion scores max abs err %g", grp, d_del);
    CHECK(fabs(ins_auc - ref_ins_auc) <= STEP_TOL, "%s: insertion AUC %.6f, reference %.6f", grp,
          ins_auc, ref_ins_auc);
    CHECK(fabs(del_auc - ref_del_auc) <= STEP_TOL, "%s: deletion AUC %.6f, reference %.6f", grp,
          del_auc, ref_del_auc);
    CHECK(passes == 2 * 224, "%s: %ld forward passes, expected 448", grp, passes);
    printf("%s %s: fixture map: ins AUC %.6f (ref %.6f) del AUC %.6f (ref %.6f), step err ins %.2e "
           "del %.2e, %.2f s\n", model, image, ins_auc, ref_ins_auc, del_auc, ref_del_auc, d_ins,
           d_del, secs);

    // a context reused for several maps gives the same bits as the one-shot call; a 112 x 112
    // map is refused
    PcInsDelContext ctx;
    rc = pc_insdel_context_init(be, net, x, &opt, &ctx, &err);
    CHECK(rc == 0, "%s: context: %s", grp, err.msg);
    if (rc == 0) {
        float ins2[224];
        double ins2_auc = 0, del2_auc = 0;
        CHECK(pc_insdel_context_eval(&ctx, bn, map, 224, 224, cls, NULL, NULL, NULL, &del2_auc, NULL, &err) == 0,
              "%s: context eval: %s", grp, err.msg);
        CHECK(pc_insdel_context_eval(&ctx, bn, map, 224, 224, cls, ins2, &ins2_auc, NULL, NULL, NULL, &err) == 0,
              "%s: context eval: %s", grp, err.msg);
        CHECK(!memcmp(ins2, ins, sizeof ins) && ins2_auc == ins_auc && del2_auc == del_auc,
              "%s: reused context differs from the one-shot evaluation", grp);
        // maps come at the input size (the engine upsamples): anything else is refused
        float small[112 * 112];
        be->resample(be, map, 1, 224, 224, 112, 112, small);
        double small_ins = 0;
        CHECK(pc_insdel_context_eval(&ctx, bn, small, 112, 112, cls, NULL, &small_ins, NULL, NULL, NULL, &err) != 0,
              "%s: a 112x112 map was accepted", grp);
        CHECK(pc_insdel_context_eval(&ctx, bn, map, 224, 224, 10, NULL, &small_ins, NULL, NULL, NULL, &err) != 0,
              "%s: class 10 of 10 accepted", grp);
        pc_insdel_context_free(&ctx);
    }

    // our own pcampm map
    PcSaliencyOptions sopt;
    pc_saliency_default_options(&sopt);
    sopt.want_levels = sopt.want_cams = sopt.want_no_lnorm = 0;
    PcExplanation e;
    rc = pc_explain(be, bn, net, tg, x, cls, &sopt, &e, &err);
    CHECK(rc == 0, "%s: pc_explain: %s", grp, err.msg);
    if (rc == 0) {
        double own_ins = 0, own_del = 0;
        rc = pc_insertion_deletion(be, bn, net, x, e.map[PC_VARIANT_PM], 224, 224, cls, &opt, NULL,
                                   &own_ins, NULL, &own_del, NULL, &err);
        CHECK(rc == 0, "%s: insertion/deletion of our map: %s", grp, err.msg);
        CHECK(fabs(own_ins - ref_ins_auc) <= OWN_AUC_TOL, "%s: our map's ins AUC %.6f, reference %.6f",
              grp, own_ins, ref_ins_auc);
        CHECK(fabs(own_del - ref_del_auc) <= OWN_AUC_TOL, "%s: our map's del AUC %.6f, reference %.6f",
              grp, own_del, ref_del_auc);
        printf("  own map: ins AUC %.6f (diff %.2e) del AUC %.6f (diff %.2e)\n", own_ins,
               fabs(own_ins - ref_ins_auc), own_del, fabs(own_del - ref_del_auc));
        pc_explanation_free(&e);
    }
done:
    free(x);
    free(map);
    free(ref_ins);
    free(ref_del);
}

static void check_model(PcBackend *be, const char *model) {
    PcError err = {{0}};
    PcNet net;
    if (fixture_net_load(model, &net, &err) != 0) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    PcTargets tg;
    CHECK(pc_targets_resolve(&net, 0, NULL, &tg, &err) == 0, "%s: targets: %s", model, err.msg);
    PcBackendNet *bn = be->net_prepare(be, &net, 32, &err);
    CHECK(bn != NULL, "%s: net_prepare: %s", model, err.msg);
    if (bn) {
        for (int i = 0; i < 2; i++) check_image(be, bn, &net, &tg, model, kImages[i]);
        be->net_release(be, bn);
    }
    pc_net_free(&net);
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
