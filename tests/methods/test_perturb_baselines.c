// test_perturb_baselines.c: the perturbation baselines (BASELINES.md B5) against the libraries in
// fixtures/perturb_baselines.h5 (tools/make_perturb_fixtures.py: captum 0.6.0 Occlusion, RISE
// d91ea00 re-expressed with skimage 0.19.3's resize, torch 1.13):
//   - our Philox mask draws (grids, offsets) equal the fixture's (tools/philox.py twin), and the
//     rise_masks op reproduces RISE's own skimage resize of them bit for bit;
//   - per model (tiny_vgg, tiny_resnet, synth_vgg, synth_resnet) and image: occlusion maps within
//     1e-3 of the max |value|, RISE maps (the same masks fed to RISE) within 1e-4 of the max, their
//     insertion / deletion AUCs within 2e-3 (synthetic nets, first image);
//   - RISE with our own draws vs RISE with its own np.random draws: within the library's measured
//     run-to-run spread (max over pairs of its runs).
// This test (about 40 s on 2 cores): tiny_vgg, tiny_resnet and synth_resnet on their first image
// (synth_resnet's has the AUCs and the spread); test_slow_perturb_all: every model and image.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "method_fixture.h"
#include "methods.h"
#include "testutil.h"
#include "methods_perturb.h"

#ifndef PC_PERTURB_ALL
#define PC_PERTURB_ALL 0
#endif

#define OCC_TOL 1e-3
#define RISE_TOL 1e-4
#define AUC_TOL 2e-3

static const char *fix(void) { return fixture_path("perturb_baselines.h5"); }

static double attr(const char *obj, const char *name) {
    double v = NAN;
    h5_attr_f64(fix(), obj, name, &v);
    return v;
}

// The fixture's RISE masks: our draws equal its grids and offsets, our resize equals skimage's.
static void test_masks(PcBackend *be, const PcMethodSettings *set) {
    size_t n = 0;
    int64_t dims[8];
    int nd = 0;
    unsigned char *fgrid = h5_read_u8(fix(), "rise_masks/grid", &n, dims, &nd);
    const int N = set->rise_masks, c = set->rise_cells, S = 224;
    CHECK(fgrid && n == (size_t)N * c * c, "rise_masks/grid: %zu values, want %d", n, N * c * c);
    int64_t *foff = h5_read_i64(fix(), "rise_masks/offsets", &n);
    CHECK(foff && n == (size_t)2 * N, "rise_masks/offsets missing");
    if (!fgrid || !foff) return;
    unsigned char *grid = xmalloc((size_t)N * c * c);
    int *off = xmalloc((size_t)2 * N * sizeof(int));
    pc_rise_draw(set, S, 0, N, grid, off);
    size_t gbad = 0, obad = 0;
    for (size_t i = 0; i < (size_t)N * c * c; i++) gbad += grid[i] != fgrid[i];
    for (int i = 0; i < 2 * N; i++) obad += off[i] != foff[i];
    CHECK(gbad == 0 && obad == 0, "our RISE draws: %zu grid cells and %zu offsets differ from tools/philox.py's", gbad,
          obad);
    // the fixture keeps the first M masks (file size)
    float *fm = h5_read_f32(fix(), "rise_masks/masks", &n, dims, &nd);
    const int M = fm && nd == 3 ? (int)dims[0] : 0;
    CHECK(M > 0 && M <= N && n == (size_t)M * S * S, "rise_masks/masks missing");
    if (M > 0 && M <= N && n == (size_t)M * S * S) {
        int cell, up;
        pc_rise_geometry(c, S, &cell, &up);
        float *m = xmalloc(n * sizeof(float));
        be->rise_masks(be, fgrid, off, M, c, up, S, m);
        size_t bad = 0;
        double dmax = 0;
        for (size_t i = 0; i < n; i++)
            if (m[i] != fm[i]) bad++, dmax = fmax(dmax, fabs((double)m[i] - fm[i]));
        printf("rise_masks vs skimage resize: %zu of %zu values differ (max abs %.3g)\n", bad, n, dmax);
        CHECK(bad == 0, "rise_masks: %zu of %zu values differ from skimage's resize (max abs %.3g)", bad, n, dmax);
        free(m);
    }
    free(fm), free(grid), free(off), free(fgrid), free(foff);
}

// ---- the maps vs the libraries (method_fixture.h) ----------------------------------------------

// max |diff| / max |ref| of the S x S maps (the fixture has no native ones); RISE's own draws:
// within its run-to-run spread (<image>/rise/library_own_draws)
static const MfMethod METHODS[] = {{"occlusion", OCC_TOL, 0, 1}, {"rise", RISE_TOL, 0, 1}};
static const char *const TINY_IMGS[] = {"ILSVRC2012_val_00010495.JPEG", "ILSVRC2012_val_00015410.JPEG"};
static const char *const SYNTH_IMGS[] = {"synth_000.jpg", "synth_001.jpg", "synth_002.jpg", "synth_003.jpg"};
// PC_PERTURB_ALL (test_slow_perturb_all): every image of the fixture; else the first. X is
// baselines.h5's (same images and code).
#define ROW(m, imgs, n)                                                                                     \
    {.fixture = "perturb_baselines.h5", .input_fixture = "baselines.h5", .model = m, .images = imgs,        \
     .n_images = PC_PERTURB_ALL ? n : 1, .methods = METHODS, .n_methods = 2, .auc_tol = AUC_TOL, .batch = 32, \
     .family = -1, .native = 0}

int main(void) {
    if (!h5_exists(fix(), "/")) {
        CHECK(0, "%s missing (tools/make_perturb_fixtures.py)", fix());
        return test_summary();
    }
    PcMethodSettings set = {.seed = 0, .rise_masks = (int)attr("/", "rise_masks"),
                            .rise_cells = (int)attr("/", "rise_cells"), .rise_p = attr("/", "rise_p"),
                            .occ_window = (int)attr("/", "occ_window"), .occ_stride = (int)attr("/", "occ_stride")};
    CHECK(set.rise_masks > 0 && set.rise_cells > 0 && set.occ_window == 64 && set.occ_stride == 8,
          "fixture settings: masks %d cells %d window %d stride %d", set.rise_masks, set.rise_cells, set.occ_window,
          set.occ_stride);
    PcBackend *be = test_cpu_backend();
    if (!be) return test_summary();
    test_masks(be, &set);
    MfRow rows[] = {ROW("tiny_vgg", TINY_IMGS, 2), ROW("tiny_resnet", TINY_IMGS, 2), ROW("synth_resnet", SYNTH_IMGS, 4),
                    ROW("synth_vgg", SYNTH_IMGS, 4)};
    for (int i = 0; i < 4; i++) rows[i].settings = set;
    mf_run(be, rows, PC_PERTURB_ALL ? 4 : 3);
    be->destroy(be);
    return test_summary();
}
