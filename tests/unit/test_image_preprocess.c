// test_image_preprocess: SPEC §1 preprocessing. The bilinear resize against PyTorch's
// (ops/resize_src_u8 -> ops/resize_to_224) and the full decode + resize + normalise against the
// reference's input tensors (inputs/* of reference_golden.h5), both within 1e-5; SPEC §2's
// factor-2 property; and, for the options without a golden (antialiased resize, shorter side 256
// + centre crop), hand-computed weights, constant images, linear ramps and mirror symmetry.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "testutil.h"

#define REF "reference_golden.h5"

// A heap image of w x h whose value at (y, x, ch) is f(y, x, ch).
typedef int (*PixelFn)(int y, int x, int ch);
static PcImageU8 make_image(int w, int h, PixelFn f) {
    PcImageU8 img = {w, h, xmalloc((size_t)w * h * 3)};
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < 3; ch++) img.rgb[((size_t)y * w + x) * 3 + ch] = (unsigned char)f(y, x, ch);
    return img;
}

// Runs pc_image_to_tensor into a buffer with guard values on both sides; checks they survive.
static float *to_tensor_guarded(const PcImageU8 *img, PcResizeMode mode, int size) {
    size_t n = (size_t)3 * size * size;
    float *buf = xmalloc((n + 32) * sizeof(float));
    for (size_t i = 0; i < n + 32; i++) buf[i] = -777.0f;
    pc_image_to_tensor(img, mode, size, buf + 16);
    int intact = 1;
    for (size_t i = 0; i < 16; i++) intact &= buf[i] == -777.0f && buf[n + 16 + i] == -777.0f;
    CHECK(intact, "mode %d size %d: wrote outside the (3, S, S) output", (int)mode, size);
    float *out = xmalloc(n * sizeof(float));
    memcpy(out, buf + 16, n * sizeof(float));
    free(buf);
    return out;
}

static size_t count_differing(const float *a, const float *b, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += a[i] != b[i];
    return k;
}

static void test_resize_golden(void) {
    size_t n_src = 0, n_ref = 0;
    int64_t dims[8] = {0};
    int ndim = 0;
    unsigned char *src = h5_read_u8(fixture_path(REF), "ops/resize_src_u8", &n_src, dims, &ndim);
    float *ref = h5_read_f32(fixture_path(REF), "ops/resize_to_224", &n_ref, NULL, NULL);
    CHECK(src && ref && ndim == 3 && dims[2] == 3 && n_ref == 3 * 224 * 224, "ops/resize_* fixtures missing");
    if (src && ref) {
        PcImageU8 img = {(int)dims[1], (int)dims[0], src};   // (37, 53, 3): H=37, W=53
        float *out = to_tensor_guarded(&img, PC_RESIZE_BILINEAR, 224);
        double err = max_abs_diff_f32(out, ref, n_ref);
        printf("  resize %dx%d -> 224 vs PyTorch: max abs err %.3g, %zu values not bitwise equal\n",
               img.width, img.height, err, count_differing(out, ref, n_ref));
        CHECK(err <= 1e-5, "resize_to_224: max abs err %g > 1e-5", err);
        free(out);
    }
    free(src);
    free(ref);
}

static void test_inputs_golden(void) {
    static const char *names[] = {"ILSVRC2012_val_00010495.JPEG", "ILSVRC2012_val_00015410.JPEG"};
    for (int k = 0; k < 2; k++) {
        char dset[256], rel[256];
        snprintf(dset, sizeof dset, "inputs/%s", names[k]);
        snprintf(rel, sizeof rel, "ilsvrc_samples/%s", names[k]);
        size_t n = 0;
        float *ref = h5_read_f32(fixture_path(REF), dset, &n, NULL, NULL);
        CHECK(ref && n == 3 * 224 * 224, "%s missing", dset);
        PcImageU8 img;
        PcError err = {{0}};
        int rc = pc_load_jpeg(data_path(rel), &img, &err);
        CHECK(rc == 0, "%s", err.msg);
        if (ref && rc == 0) {
            float *x = xmalloc(n * sizeof(float));
            double t0 = pc_now();
            pc_preprocess(&img, PC_RESIZE_BILINEAR, 224, x);
            double ms = 1e3 * (pc_now() - t0);
            double e = max_abs_diff_f32(x, ref, n);
            printf("  %s (%dx%d): preprocess %.3f ms, max abs err %.3g, %zu values not bitwise equal\n",
                   names[k], img.width, img.height, ms, e, count_differing(x, ref, n));
            CHECK(e <= 1e-5, "%s: max abs err %g > 1e-5", dset, e);
            free(x);
        }
        pc_image_free(&img);
        free(ref);
    }
}

static void test_normalize(void) {
    float x[3 * 4];
    for (int i = 0; i < 12; i++) x[i] = (float)i / 11.0f;
    float want[12];
    const double mean[3] = {0.485, 0.456, 0.406}, std[3] = {0.229, 0.224, 0.225};
    for (int i = 0; i < 12; i++) want[i] = (float)(((double)x[i] - mean[i / 4]) / std[i / 4]);
    pc_normalize_imagenet(x, 2);
    double e = max_abs_diff_f32(x, want, 12);
    CHECK(e <= 1e-6, "normalize: max abs err %g", e);
}

static int pix_random(int y, int x, int ch) { return (int)((((uint32_t)(y * 7919 + x * 104729 + ch * 31)) * 2654435761u) >> 24); }
static int pix_constant(int y, int x, int ch) { (void)y, (void)x; return 40 + 70 * ch; }

// SPEC §2: an exact factor-2 shrink equals 2x2 average pooling.
static void test_bilinear_factor2(void) {
    PcImageU8 img = make_image(64, 64, pix_random);
    float *out = to_tensor_guarded(&img, PC_RESIZE_BILINEAR, 32);
    double worst = 0;
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                double s = 0;
                for (int dy = 0; dy < 2; dy++)
                    for (int dx = 0; dx < 2; dx++) s += pix_random(2 * y + dy, 2 * x + dx, ch);
                double d = fabs(out[(ch * 32 + y) * 32 + x] - s / 4.0 / 255.0);
                if (d > worst) worst = d;
            }
    CHECK(worst <= 1e-6, "bilinear factor-2 shrink vs 2x2 average: %g", worst);
    free(out);
    pc_image_free(&img);
}

// Every mode keeps a constant image constant, whatever the scale.
static void test_constant(void) {
    static const int shapes[][2] = {{500, 375}, {375, 500}, {7, 10}, {1, 1}, {224, 224}, {4000, 3000}, {1000, 3}};
    for (int m = 0; m < 3; m++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            PcImageU8 img = make_image(shapes[s][0], shapes[s][1], pix_constant);
            float *out = to_tensor_guarded(&img, (PcResizeMode)m, 224);
            double worst = 0;
            for (int ch = 0; ch < 3; ch++)
                for (int i = 0; i < 224 * 224; i++) {
                    double d = fabs(out[ch * 224 * 224 + i] - pix_constant(0, 0, ch) / 255.0);
                    if (d > worst) worst = d;
                }
            CHECK(worst <= 2e-6, "mode %d, %dx%d constant image: deviation %g", m, shapes[s][0],
                  shapes[s][1], worst);
            free(out);
            pc_image_free(&img);
        }
}

// Antialias, hand-computed: a 4-wide row shrunk to 2 uses triangle weights of support 2,
// (3, 3, 1)/7 around centre 1 and (1, 3, 3)/7 around centre 3; the 2 rows stay as they are.
static int pix_aa_small(int y, int x, int ch) { return 70 * x + 10 * y + ch; }
static void test_antialias_hand(void) {
    PcImageU8 img = make_image(4, 2, pix_aa_small);
    float *out = to_tensor_guarded(&img, PC_RESIZE_ANTIALIAS, 2);
    double worst = 0;
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < 2; y++) {
            int v[4];
            for (int x = 0; x < 4; x++) v[x] = pix_aa_small(y, x, ch);
            double want[2] = {(3.0 * v[0] + 3.0 * v[1] + v[2]) / 7.0, (v[1] + 3.0 * v[2] + 3.0 * v[3]) / 7.0};
            for (int x = 0; x < 2; x++) {
                double d = fabs(out[(ch * 2 + y) * 2 + x] - want[x] / 255.0);
                if (d > worst) worst = d;
            }
        }
    CHECK(worst <= 1e-6, "antialias 4x2 -> 2x2: max err %g vs hand-computed weights", worst);
    free(out);
    pc_image_free(&img);

    // 6x6 -> 2x2 in both axes: scale 3, support 3. Output 0 (centre 1.5) reads inputs 0..4 with
    // tri((j - 1.5 + 0.5) / 3) = 1 - |j - 1| / 3, i.e. (2, 3, 2, 1, 0) / 8; output 1 (centre 4.5)
    // reads inputs 2..5 with 1 - |j - 4| / 3, i.e. (1, 2, 3, 2) / 8.
    PcImageU8 sq = make_image(6, 6, pix_random);
    out = to_tensor_guarded(&sq, PC_RESIZE_ANTIALIAS, 2);
    const double w_lo[6] = {2 / 8.0, 3 / 8.0, 2 / 8.0, 1 / 8.0, 0, 0};
    const double w_hi[6] = {0, 0, 1 / 8.0, 2 / 8.0, 3 / 8.0, 2 / 8.0};
    worst = 0;
    for (int ch = 0; ch < 3; ch++)
        for (int oy = 0; oy < 2; oy++)
            for (int ox = 0; ox < 2; ox++) {
                const double *wy = oy ? w_hi : w_lo, *wx = ox ? w_hi : w_lo;
                double s = 0;
                for (int y = 0; y < 6; y++)
                    for (int x = 0; x < 6; x++) s += wy[y] * wx[x] * pix_random(y, x, ch);
                double d = fabs(out[(ch * 2 + oy) * 2 + ox] - s / 255.0);
                if (d > worst) worst = d;
            }
    CHECK(worst <= 1e-6, "antialias 6x6 -> 2x2: max err %g vs hand-computed weights", worst);
    free(out);
    pc_image_free(&sq);
}

// Upscaling: the antialiased filter is plain bilinear (support 1, same edge clamping); only the
// rounding of the source position differs (bilinear fuses it as PyTorch's CUDA kernel does).
static void test_antialias_upscale_is_bilinear(void) {
    PcImageU8 img = make_image(37, 53, pix_random);
    float *a = to_tensor_guarded(&img, PC_RESIZE_ANTIALIAS, 224);
    float *b = to_tensor_guarded(&img, PC_RESIZE_BILINEAR, 224);
    double e = max_abs_diff_f32(a, b, 3 * 224 * 224);
    CHECK(e <= 1e-5, "antialias upscale vs bilinear: %g", e);
    free(a);
    free(b);
    pc_image_free(&img);
}

// CROP256 of a square image = the 256x256 antialiased resize's centre 224x224 window, exactly.
static void test_crop_square(void) {
    PcImageU8 img = make_image(500, 500, pix_random);
    float *crop = to_tensor_guarded(&img, PC_RESIZE_CROP256, 224);
    float *full = to_tensor_guarded(&img, PC_RESIZE_ANTIALIAS, 256);
    int equal = 1;
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < 224; y++)
            equal &= memcmp(crop + (ch * 224 + y) * 224, full + (ch * 256 + y + 16) * 256 + 16, 224 * sizeof(float)) == 0;
    CHECK(equal, "crop256 of 500x500 differs from the centre of the 256x256 antialiased resize");
    free(crop);
    free(full);
    pc_image_free(&img);
}

// Offsets: a horizontal ramp v = x upscaled (antialias = bilinear there) stays a ramp, so output
// column o holds the source position ((left + o) + 0.5) * w / rw - 0.5. Widths 250, 251, 253
// with height 200 resize to 320, 321, 323 (int(256 * w / 200) truncates 321.28 and 323.84);
// margins 48, 48.5, 49.5 -> left 48, 48, 50 (Python's round is half-to-even); top = 16.
static int pix_ramp_x(int y, int x, int ch) { (void)y, (void)ch; return x; }
static int pix_ramp_y(int y, int x, int ch) { (void)x, (void)ch; return y; }
static void test_crop_offsets(void) {
    static const int widths[3] = {250, 251, 253}, resized[3] = {320, 321, 323}, lefts[3] = {48, 48, 50};
    for (int k = 0; k < 3; k++) {
        PcImageU8 img = make_image(widths[k], 200, pix_ramp_x);
        float *out = to_tensor_guarded(&img, PC_RESIZE_CROP256, 224);
        double worst = 0;
        for (int o = 0; o < 224; o++) {
            double src = (lefts[k] + o + 0.5) * widths[k] / (double)resized[k] - 0.5;
            for (int y = 0; y < 224; y += 37) {
                double d = fabs(out[y * 224 + o] - src / 255.0);
                if (d > worst) worst = d;
            }
        }
        CHECK(worst <= 1e-5, "crop256 %dx200: horizontal ramp off by %g (wrong left offset?)", widths[k], worst);
        free(out);
        pc_image_free(&img);
    }
    PcImageU8 img = make_image(250, 200, pix_ramp_y);
    float *out = to_tensor_guarded(&img, PC_RESIZE_CROP256, 224);
    double worst = 0;
    for (int o = 0; o < 224; o++) {
        double src = (16 + o + 0.5) * 200 / 256.0 - 0.5;
        double d = fabs(out[o * 224 + 100] - src / 255.0);
        if (d > worst) worst = d;
    }
    CHECK(worst <= 1e-5, "crop256 250x200: vertical ramp off by %g (wrong top offset?)", worst);
    free(out);
    pc_image_free(&img);
}

// A mirror-symmetric image whose resized width leaves an even margin (640x512 -> 320x256, margin
// 48) gives a mirror-symmetric crop. With an odd margin (640x480 -> 341x256, 58.5 -> 58) the crop
// is off-centre by half a pixel; only the value range is checked there.
static int pix_mirror_x(int y, int x, int ch) {
    int m = x < 320 ? x : 639 - x;
    return (pix_random(y, m, ch) + 3 * m) & 255;
}
static void test_crop_symmetry(void) {
    PcImageU8 img = make_image(640, 480, pix_mirror_x);
    PcImageU8 img2 = make_image(640, 512, pix_mirror_x);
    float *out = to_tensor_guarded(&img2, PC_RESIZE_CROP256, 224);
    double worst = 0;
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < 224; y++)
            for (int x = 0; x < 112; x++) {
                double d = fabs(out[(ch * 224 + y) * 224 + x] - out[(ch * 224 + y) * 224 + 223 - x]);
                if (d > worst) worst = d;
            }
    CHECK(worst <= 1e-5, "crop256 of a mirror-symmetric 640x512 image is not symmetric: %g", worst);
    free(out);
    out = to_tensor_guarded(&img, PC_RESIZE_CROP256, 224);
    int in_range = 1;
    for (int i = 0; i < 3 * 224 * 224; i++) in_range &= out[i] >= -1e-6f && out[i] <= 1.0f + 1e-6f;
    CHECK(in_range, "crop256 640x480: values outside [0, 1]");
    free(out);
    pc_image_free(&img);
    pc_image_free(&img2);
}

// Timing of the bilinear path on the 4000x3000 file (precomputed per-axis taps, only the rows used).
static void time_large(void) {
    PcImageU8 img;
    PcError err = {{0}};
    if (pc_load_jpeg(data_path("bad_inputs/large_4000x3000.jpg"), &img, &err) != 0) {
        CHECK(0, "%s", err.msg);
        return;
    }
    float *x = xmalloc(3 * 224 * 224 * sizeof(float));
    for (int m = 0; m < 3; m++) {
        double t0 = pc_now();
        pc_preprocess(&img, (PcResizeMode)m, 224, x);
        printf("  4000x3000 preprocess mode %d: %.2f ms\n", m, 1e3 * (pc_now() - t0));
    }
    free(x);
    pc_image_free(&img);
}

int main(void) {
    test_resize_golden();
    test_inputs_golden();
    test_normalize();
    test_bilinear_factor2();
    test_constant();
    test_antialias_hand();
    test_antialias_upscale_is_bilinear();
    test_crop_square();
    test_crop_offsets();
    test_crop_symmetry();
    time_large();
    return test_summary();
}
