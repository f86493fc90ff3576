// overlay.c: heat-map overlay PNGs (see overlay.h). libpng reports errors through a longjmp from
// its error callback; the message is kept for the PcError and nothing is printed.
#include "overlay.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef PC_HAVE_PNG
#include "png_trap.h"

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

// Jet-like colour of t in [0, 1]: blue -> cyan -> yellow -> red.
static void jet(float t, float rgb[3]) {
    rgb[0] = clamp01(1.5f - fabsf(4 * t - 3));
    rgb[1] = clamp01(1.5f - fabsf(4 * t - 2));
    rgb[2] = clamp01(1.5f - fabsf(4 * t - 1));
}

int pc_overlay_write_png(const char *path, const float *x, const float *map, int size, PcError *err) {
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
    size_t hw = (size_t)size * size;
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < hw; i++) {
        if (!isfinite(map[i])) continue;
        if (map[i] < lo) lo = map[i];
        if (map[i] > hi) hi = map[i];
    }
    float scale = hi > lo ? 1.0f / (hi - lo) : 0.0f;
    unsigned char *rgb = xmalloc(hw * 3);
    for (size_t i = 0; i < hw; i++) {
        float t = isfinite(map[i]) && isfinite(lo) ? (map[i] - lo) * scale : 0.0f, c[3];
        jet(t, c);
        for (int ch = 0; ch < 3; ch++) {
            float img = clamp01(x[ch * hw + i] * stdv[ch] + mean[ch]);
            rgb[i * 3 + ch] = (unsigned char)lrintf(255.0f * (0.5f * img + 0.5f * c[ch]));
        }
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(rgb);
        return pc_fail(err, "%s: cannot create (%s)", path, strerror(errno));
    }
    PngTrap trap = {.message = ""};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &trap, pc_png_trap_error, pc_png_trap_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *rows = xmalloc((size_t)size * sizeof(png_bytep));
    int rc = 0;
    if (!png || !info) {
        rc = pc_fail(err, "%s: libpng could not start", path);
    } else if (setjmp(trap.escape)) {
        rc = pc_fail(err, "%s: libpng: %s", path, trap.message);
    } else {
        png_init_io(png, f);
        png_set_IHDR(png, info, (png_uint_32)size, (png_uint_32)size, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
        for (int y = 0; y < size; y++) rows[y] = rgb + (size_t)y * size * 3;
        png_set_rows(png, info, rows);
        png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    }
    png_destroy_write_struct(&png, &info);
    free(rows);
    free(rgb);
    if (fclose(f) != 0 && rc == 0) rc = pc_fail(err, "%s: cannot write (%s)", path, strerror(errno));
    if (rc) unlink(path);   // no truncated PNG left beside the results (the run warns and goes on)
    return rc;
}

#else

int pc_overlay_write_png(const char *path, const float *x, const float *map, int size, PcError *err) {
    (void)x;
    (void)map;
    (void)size;
    return pc_fail(err, "%s: this polycam-eval was built without libpng; set [output] overlays = 0", path);
}

#endif
