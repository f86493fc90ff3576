// mask.c: object masks of [data] masks (see mask.h). libpng decodes (its error callback longjmps
// back with the message); the resampling is the image's (image.c), so mask and input stay aligned
// under every [preprocess] resize mode.
#include "mask.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifdef PC_HAVE_PNG
#include "png_trap.h"
#endif

static int is_file(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode);
}

// dir/<rel without the extension of its last component>.png, malloc'd.
static char *png_name(const char *dir, const char *rel) {
    char *p = pc_join_path(dir, rel);
    char *base = strrchr(p, '/');
    base = base ? base + 1 : p;
    char *dot = strrchr(base, '.');
    if (dot && dot != base) *dot = 0;
    size_t n = strlen(p) + 5;
    char *out = xmalloc(n);
    snprintf(out, n, "%s.png", p);
    free(p);
    return out;
}

char *pc_mask_find(const char *dir, const char *name) {
    char *p = png_name(dir, name);
    if (is_file(p)) return p;
    free(p);
    const char *base = strrchr(name, '/');
    if (!base) return NULL;
    p = png_name(dir, base + 1);
    if (is_file(p)) return p;
    free(p);
    return NULL;
}

#ifdef PC_HAVE_PNG

// The PNG's object pixels (H, W): 1 where its grey value is not 0, malloc'd in *grey; -1 with err
// naming the file. 16-bit samples are kept (stripping them to 8 bits would turn values 1..255,
// e.g. a 0/1 mask saved as uint16, into 0). The size in the header must be want_w x want_h, the
// image's, before anything is allocated: a PNG of 75 bytes can claim 10^12 pixels.
static int read_grey(const char *path, FILE *f, int want_w, int want_h, unsigned char **grey, int *w, int *h,
                     PcError *err) {
    PngTrap trap = {.message = ""};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &trap, pc_png_trap_error, pc_png_trap_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    unsigned char *volatile buf = NULL;
    png_bytep *volatile rows = NULL;
    int rc = 0;
    if (!png || !info) {
        rc = pc_fail(err, "mask %s: libpng could not start", path);
    } else if (setjmp(trap.escape)) {
        rc = pc_fail(err, "mask %s: not a readable PNG (libpng: %s)", path, trap.message);
    } else {
        png_init_io(png, f);
        png_read_info(png, info);
        *w = (int)png_get_image_width(png, info);   // at most 2^31 - 1 (libpng checks)
        *h = (int)png_get_image_height(png, info);
        if (*w != want_w || *h != want_h) {
            rc = pc_fail(err, "mask %s: %d x %d pixels, but its image has %d x %d", path, *w, *h, want_w, want_h);
            goto done;
        }
        png_set_expand(png);            // palette, grey < 8 bits and tRNS to 8-bit channels
        png_set_strip_alpha(png);
        png_byte ct = png_get_color_type(png, info);
        if (ct == PNG_COLOR_TYPE_RGB || ct == PNG_COLOR_TYPE_RGB_ALPHA || ct == PNG_COLOR_TYPE_PALETTE)
            png_set_rgb_to_gray_fixed(png, 1, -1, -1);
        png_read_update_info(png, info);
        *w = (int)png_get_image_width(png, info);
        *h = (int)png_get_image_height(png, info);
        const size_t bpp = png_get_bit_depth(png, info) == 16 ? 2 : 1, n = (size_t)*w * (size_t)*h;
        buf = xmalloc(n * bpp);
        rows = xmalloc((size_t)*h * sizeof(png_bytep));
        for (int y = 0; y < *h; y++) rows[y] = buf + (size_t)y * *w * bpp;
        png_read_image(png, rows);
        for (size_t i = 0; i < n; i++) buf[i] = (buf[i * bpp] | buf[i * bpp + bpp - 1]) != 0;
    }
done:
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    if (rc) free(buf);
    else *grey = buf;
    return rc;
}
#endif

int pc_mask_load(const char *path, int image_w, int image_h, PcResizeMode mode, int size, unsigned char *out,
                 PcError *err) {
#ifndef PC_HAVE_PNG
    (void)image_w, (void)image_h, (void)mode, (void)size, (void)out;
    return pc_fail(err, "mask %s: this polycam-eval was built without libpng", path);
#else
    FILE *f = fopen(path, "rb");
    if (!f) return pc_fail(err, "mask %s: cannot open (%s)", path, strerror(errno));
    unsigned char sig[8] = {0};
    size_t got = fread(sig, 1, 8, f);
    rewind(f);
    if (got != 8 || png_sig_cmp(sig, 0, 8)) {
        fclose(f);
        return pc_fail(err, "mask %s: not a PNG file", path);
    }
    unsigned char *grey = NULL;
    int w = 0, h = 0;
    int rc = read_grey(path, f, image_w, image_h, &grey, &w, &h, err);
    fclose(f);
    if (rc) return -1;
    if (w != image_w || h != image_h) {
        free(grey);
        return pc_fail(err, "mask %s: %d x %d pixels, but its image has %d x %d", path, w, h, image_w, image_h);
    }
    // 0/1 as the red channel of an image (the other two are not read), resampled as the input is
    PcImageU8 img = {.width = w, .height = h, .rgb = xmalloc((size_t)w * h * 3)};
    for (size_t i = 0; i < (size_t)w * h; i++) img.rgb[3 * i] = img.rgb[3 * i + 1] = img.rgb[3 * i + 2] = grey[i] ? 255 : 0;
    free(grey);
    const size_t ss = (size_t)size * size;
    float *t = xmalloc(3 * ss * sizeof(float));
    pc_image_to_tensor(&img, mode, size, t);
    for (size_t i = 0; i < ss; i++) out[i] = t[i] >= 0.5f;
    free(t);
    pc_image_free(&img);
    return 0;
#endif
}
