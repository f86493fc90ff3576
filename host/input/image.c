// image.c: JPEG decoding to 8-bit RGB with libjpeg-turbo, bit-identical to Pillow's
// Image.open(p).convert("RGB") (same library and decoder settings), and the preprocessing of
// SPEC §1: rgb/255 as float (3, S, S), PyTorch-exact resampling (bilinear without antialias, or
// torchvision's antialiased bilinear), optional shorter-side-256 + centre crop, ImageNet
// normalisation.
#include "image.h"

#include <ctype.h>
#include <stdio.h>   // before jpeglib.h, which uses FILE
#include <jpeglib.h>
#include <jerror.h>
#include <math.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// ---- decoding -----------------------------------------------------------------------------------

// libjpeg's default error manager prints to stderr and calls exit(); this one formats the message
// and jumps back to pc_decode_jpeg instead. Warnings (corrupt data, premature end of file) jump
// too (except extraneous bytes between markers): a damaged file must not silently become a
// grey-padded image.
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf escape;
    char message[JMSG_LENGTH_MAX];
} JpegErrorTrap;

static void trap_error_exit(j_common_ptr cinfo) {
    JpegErrorTrap *trap = (JpegErrorTrap *)cinfo->err;
    cinfo->err->format_message(cinfo, trap->message);
    longjmp(trap->escape, 1);
}

static void trap_emit_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level >= 0) return;   // trace messages: ignored
    // "N extraneous bytes before marker" leaves the image intact; Pillow accepts such files (a few
    // ILSVRC2012 validation images have them), so they must decode here too.
    if (cinfo->err->msg_code == JWRN_EXTRANEOUS_DATA) return;
    trap_error_exit(cinfo);
}

static void trap_output_message(j_common_ptr cinfo) { (void)cinfo; }

// Names the format of a file that does not start with the JPEG SOI marker, for the error message.
static void describe_non_jpeg(const unsigned char *data, size_t size, char *out, size_t cap) {
    if (size == 0) {
        snprintf(out, cap, "empty file (0 bytes)");
        return;
    }
    size_t shown = size < 8 ? size : 8;
    int len = snprintf(out, cap, "starts with");
    for (size_t i = 0; i < shown && len > 0 && (size_t)len < cap; i++)
        len += snprintf(out + len, cap - (size_t)len, " %02X", data[i]);
    const char *kind = NULL;
    if (size >= 8 && memcmp(data, "\x89PNG\r\n\x1a\n", 8) == 0) kind = "a PNG file";
    else if (size >= 6 && (memcmp(data, "GIF87a", 6) == 0 || memcmp(data, "GIF89a", 6) == 0)) kind = "a GIF file";
    else if (size >= 12 && memcmp(data, "RIFF", 4) == 0 && memcmp(data + 8, "WEBP", 4) == 0) kind = "a WebP file";
    else if (size >= 4 && (memcmp(data, "II*\0", 4) == 0 || memcmp(data, "MM\0*", 4) == 0)) kind = "a TIFF file";
    else if (size >= 2 && memcmp(data, "BM", 2) == 0) kind = "a BMP file";
    if (kind) {
        if (len > 0 && (size_t)len < cap) snprintf(out + len, cap - (size_t)len, " (%s)", kind);
        return;
    }
    size_t text_len = size < 24 ? size : 24, printable = 0;
    for (size_t i = 0; i < text_len; i++)
        printable += isprint(data[i]) || data[i] == '\n' || data[i] == '\r' || data[i] == '\t';
    if (printable == text_len && len > 0 && (size_t)len < cap) {
        char text[32];
        size_t n = 0;
        for (size_t i = 0; i < text_len && data[i] != '\n' && data[i] != '\r'; i++) text[n++] = (char)data[i];
        text[n] = 0;
        snprintf(out + len, cap - (size_t)len, " (text \"%s%s\")", text, text_len < size ? "..." : "");
    }
}

// Pillow reads every CMYK/YCCK JPEG with rawmode "CMYK;I" (Adobe's inverted convention: the file
// holds 255 - ink) and converts CMYK -> RGB as r = nk - nk*c/255 with nk = 255 - k, using its
// MULDIV255 rounding. With the inversion folded in, c = 255 - craw and nk = kraw.
static inline unsigned char pillow_muldiv255(int a, int b) {
    int tmp = a * b + 128;
    return (unsigned char)(((tmp >> 8) + tmp) >> 8);
}

static void cmyk_inverted_row_to_rgb(const unsigned char *cmyk, int width, unsigned char *rgb) {
    for (int x = 0; x < width; x++) {
        int nk = cmyk[4 * x + 3];   // 255 - k after Pillow's inversion
        for (int ch = 0; ch < 3; ch++) {
            int ink = 255 - cmyk[4 * x + ch];
            int v = nk - pillow_muldiv255(ink, nk);
            rgb[3 * x + ch] = (unsigned char)(v < 0 ? 0 : v);
        }
    }
}

// Runs libjpeg on a buffer that starts with SOI. Returns 0 with *out filled, or -1 with the reason
// in trap->message. Kept apart from pc_decode_jpeg so that no caller variable lives across setjmp.
static int decode_trapped(const unsigned char *data, size_t size, PcImageU8 *out, JpegErrorTrap *trap) {
    struct jpeg_decompress_struct cinfo;
    // Assigned after setjmp and read after longjmp: volatile so the jump sees their values.
    unsigned char *volatile rgb = NULL;
    unsigned char *volatile row = NULL;

    cinfo.err = jpeg_std_error(&trap->pub);
    trap->pub.error_exit = trap_error_exit;
    trap->pub.emit_message = trap_emit_message;
    trap->pub.output_message = trap_output_message;
    trap->message[0] = 0;
    if (setjmp(trap->escape)) {
        jpeg_destroy_decompress(&cinfo);
        free(rgb);
        free(row);
        return -1;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    // The header's size decides every allocation below (our RGB buffer, libjpeg's coefficient
    // arrays for progressive files): refuse a decompression bomb before any of them.
    uint64_t pixels = (uint64_t)cinfo.image_width * cinfo.image_height;
    if (pixels > PC_MAX_IMAGE_PIXELS) {
        snprintf(trap->message, sizeof trap->message,
                 "image of %ux%u pixels is above the limit of %llu pixels (Pillow's decompression-bomb "
                 "limit); not decoded", (unsigned)cinfo.image_width, (unsigned)cinfo.image_height,
                 (unsigned long long)PC_MAX_IMAGE_PIXELS);
        longjmp(trap->escape, 1);
    }

    // Decoder settings stay at libjpeg's defaults (JDCT_ISLOW, fancy upsampling), as in Pillow.
    int components;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; components = 1; break;
    case JCS_CMYK:
    case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; components = 4; break;   // libjpeg: YCCK -> CMYK
    default: cinfo.out_color_space = JCS_RGB; components = 3; break;
    }
    jpeg_start_decompress(&cinfo);
    if ((int)cinfo.output_components != components) {
        snprintf(trap->message, sizeof trap->message, "unexpected %d output components (wanted %d)",
                 cinfo.output_components, components);
        longjmp(trap->escape, 1);
    }
    size_t width = cinfo.output_width, height = cinfo.output_height;
    rgb = malloc(width * height * 3);
    if (components != 3) row = malloc(width * (size_t)components);
    if (!rgb || (components != 3 && !row)) {
        snprintf(trap->message, sizeof trap->message, "cannot allocate %zux%zu RGB image", width, height);
        longjmp(trap->escape, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        unsigned char *dst = rgb + (size_t)cinfo.output_scanline * width * 3;
        JSAMPROW target = components == 3 ? dst : row;
        if (jpeg_read_scanlines(&cinfo, &target, 1) != 1) {
            snprintf(trap->message, sizeof trap->message, "decoder returned no scanline at row %u",
                     cinfo.output_scanline);
            longjmp(trap->escape, 1);
        }
        if (components == 1) {
            for (size_t x = 0; x < width; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
        } else if (components == 4) {
            cmyk_inverted_row_to_rgb(row, (int)width, dst);
        }
    }
    // Reads up to EOI, so a file cut after the last scanline still reports its missing end.
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    out->width = (int)width;
    out->height = (int)height;
    out->rgb = rgb;
    return 0;
}

int pc_decode_jpeg(const unsigned char *data, size_t size, const char *name, PcImageU8 *out,
                   PcError *err) {
    out->width = out->height = 0;
    out->rgb = NULL;
    const char *label = name ? name : "<memory>";
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
        char why[160];
        describe_non_jpeg(data, size, why, sizeof why);
        return pc_fail(err, "%s: not a JPEG file: %s", label, why);
    }
    JpegErrorTrap trap;
    if (decode_trapped(data, size, out, &trap) != 0) return pc_fail(err, "%s: %s", label, trap.message);
    return 0;
}

int pc_load_jpeg(const char *path, PcImageU8 *out, PcError *err) {
    out->width = out->height = 0;
    out->rgb = NULL;
    size_t size = 0;
    unsigned char *data = pc_read_file(path, &size, err);
    if (!data) return -1;
    int rc = pc_decode_jpeg(data, size, path, out, err);
    free(data);
    return rc;
}

void pc_image_free(PcImageU8 *img) {
    if (!img) return;
    free(img->rgb);
    img->rgb = NULL;
    img->width = img->height = 0;
}

// ---- resampling ---------------------------------------------------------------------------------

// One axis of a separable resampling: output i = sum_t weight[i][t] * input[index[i][t]],
// t < taps[i], accumulated in that order (PyTorch's CPU order), or for the 2-tap bilinear axis
// fused as fma(w0, v0, w1 * v1), which is what PyTorch's CUDA kernel computes.
typedef struct {
    int out_len, max_taps;
    int fused_pair;   // 1: exactly two taps, combined as fma(w0, v0, w1 * v1)
    int *taps;        // (out_len)
    int *index;       // (out_len, max_taps)
    float *weight;    // (out_len, max_taps)
} ResampleAxis;

static void axis_alloc(ResampleAxis *axis, int out_len, int max_taps) {
    axis->out_len = out_len;
    axis->max_taps = max_taps;
    axis->fused_pair = 0;
    axis->taps = xcalloc((size_t)out_len, sizeof(int));
    axis->index = xcalloc((size_t)out_len * (size_t)max_taps, sizeof(int));
    axis->weight = xcalloc((size_t)out_len * (size_t)max_taps, sizeof(float));
}

static void axis_free(ResampleAxis *axis) {
    free(axis->taps);
    free(axis->index);
    free(axis->weight);
}

// PyTorch upsample_bilinear2d (align_corners=False, no scale given) in float, as its CUDA kernel
// computes it with nvcc's default FMA contraction (the reference's goldens were made on a GPU and
// this reproduces them bit for bit): src = fma(scale, i + 0.5, -0.5) clamped at 0,
// i0 = floor(src), lambda = src - i0. Fusing matters beyond the last bit: src's rounding error
// grows with the image width and goes straight into lambda.
static void axis_bilinear(ResampleAxis *axis, int in_len, int out_len) {
    axis_alloc(axis, out_len, 2);
    axis->fused_pair = 1;
    float scale = (float)in_len / (float)out_len;
    for (int i = 0; i < out_len; i++) {
        int i0;
        float lambda1;
        if (in_len == out_len) {
            i0 = i;
            lambda1 = 0.0f;
        } else {
            float src = fmaf(scale, (float)i + 0.5f, -0.5f);
            if (src < 0.0f) src = 0.0f;
            i0 = (int)floorf(src);
            if (i0 > in_len - 1) i0 = in_len - 1;
            lambda1 = src - (float)i0;
            lambda1 = lambda1 < 0.0f ? 0.0f : (lambda1 > 1.0f ? 1.0f : lambda1);
        }
        axis->taps[i] = 2;
        axis->index[2 * i] = i0;
        axis->index[2 * i + 1] = i0 < in_len - 1 ? i0 + 1 : i0;
        axis->weight[2 * i] = 1.0f - lambda1;
        axis->weight[2 * i + 1] = lambda1;
    }
}

// PyTorch _upsample_bilinear2d_aa for float tensors (HelperInterpBase::
// _compute_indices_min_size_weights_aa with the triangle filter), reproducing its float/double
// promotions. Computes outputs first .. first+out_len-1 of a resize to full_len, so a centre crop
// costs only what it keeps.
static float triangle(float x) {
    if (x < 0.0f) x = -x;
    return x < 1.0f ? (float)(1.0 - x) : 0.0f;
}

static void axis_antialias(ResampleAxis *axis, int in_len, int full_len, int first, int out_len) {
    float scale = (float)in_len / (float)full_len;
    float support = scale >= 1.0 ? (float)((2 * 0.5) * scale) : (float)(2 * 0.5);
    int max_taps = (int)ceil(support) * 2 + 1;
    axis_alloc(axis, out_len, max_taps);
    float invscale = scale >= 1.0 ? (float)(1.0 / scale) : 1.0f;
    for (int o = 0; o < out_len; o++) {
        int64_t i = first + o;
        float center = (float)(scale * ((double)i + 0.5));
        int64_t xmin = (int64_t)((double)(center - support) + 0.5);
        if (xmin < 0) xmin = 0;
        int64_t xmax = (int64_t)((double)(center + support) + 0.5);
        if (xmax > in_len) xmax = in_len;
        int64_t xsize = xmax - xmin;
        if (xsize < 0) xsize = 0;
        if (xsize > max_taps) xsize = max_taps;
        float *w = axis->weight + (size_t)o * (size_t)max_taps;
        float total = 0.0f;
        for (int64_t j = 0; j < xsize; j++) {
            w[j] = triangle((float)(((double)((float)(j + xmin) - center) + 0.5) * (double)invscale));
            total += w[j];
        }
        if (total != 0.0f)
            for (int64_t j = 0; j < xsize; j++) w[j] /= total;
        axis->taps[o] = (int)xsize;
        for (int64_t j = 0; j < xsize; j++) axis->index[(size_t)o * (size_t)max_taps + (size_t)j] = (int)(xmin + j);
    }
}

// Separable resampling of the interleaved u8 image, scaled by 1/255, into (3, out_h, out_w):
// width first, then height. For bilinear this is bitwise PyTorch CUDA's
// fma(h0, fma(w0, a, w1 * b), h1 * fma(w0, c, w1 * d)). Only the input rows the height axis reads
// are resampled.
static void resample_u8_to_chw(const PcImageU8 *img, const ResampleAxis *ax_x, const ResampleAxis *ax_y,
                               float *out) {
    int in_w = img->width, in_h = img->height, out_w = ax_x->out_len, out_h = ax_y->out_len;
    float unit[256];   // ToTensor: float(v) / 255
    for (int v = 0; v < 256; v++) unit[v] = (float)v / 255.0f;

    unsigned char *row_needed = xcalloc((size_t)in_h, 1);
    for (int o = 0; o < out_h; o++)
        for (int t = 0; t < ax_y->taps[o]; t++) row_needed[ax_y->index[(size_t)o * ax_y->max_taps + t]] = 1;

    float *rows = xmalloc((size_t)3 * in_h * out_w * sizeof(float));   // (3, in_h, out_w)
    for (int y = 0; y < in_h; y++) {
        if (!row_needed[y]) continue;
        const unsigned char *src = img->rgb + (size_t)y * in_w * 3;
        for (int ch = 0; ch < 3; ch++) {
            float *dst = rows + ((size_t)ch * in_h + y) * out_w;
            for (int x = 0; x < out_w; x++) {
                const int *idx = ax_x->index + (size_t)x * ax_x->max_taps;
                const float *w = ax_x->weight + (size_t)x * ax_x->max_taps;
                int taps = ax_x->taps[x];
                if (ax_x->fused_pair) {
                    dst[x] = fmaf(w[0], unit[src[3 * idx[0] + ch]], w[1] * unit[src[3 * idx[1] + ch]]);
                    continue;
                }
                float acc = taps > 0 ? unit[src[3 * idx[0] + ch]] * w[0] : 0.0f;
                for (int t = 1; t < taps; t++) acc += unit[src[3 * idx[t] + ch]] * w[t];
                dst[x] = acc;
            }
        }
    }
    for (int ch = 0; ch < 3; ch++) {
        const float *plane = rows + (size_t)ch * in_h * out_w;
        for (int o = 0; o < out_h; o++) {
            const int *idx = ax_y->index + (size_t)o * ax_y->max_taps;
            const float *w = ax_y->weight + (size_t)o * ax_y->max_taps;
            int taps = ax_y->taps[o];
            float *dst = out + ((size_t)ch * out_h + o) * out_w;
            if (taps == 0) {
                memset(dst, 0, (size_t)out_w * sizeof(float));
                continue;
            }
            const float *r0 = plane + (size_t)idx[0] * out_w;
            if (ax_y->fused_pair) {
                const float *r1 = plane + (size_t)idx[1] * out_w;
                for (int x = 0; x < out_w; x++) dst[x] = fmaf(w[0], r0[x], w[1] * r1[x]);
                continue;
            }
            for (int x = 0; x < out_w; x++) dst[x] = r0[x] * w[0];
            for (int t = 1; t < taps; t++) {
                const float *rt = plane + (size_t)idx[t] * out_w;
                for (int x = 0; x < out_w; x++) dst[x] += rt[x] * w[t];
            }
        }
    }
    free(rows);
    free(row_needed);
}

// torchvision Resize(short) output size: the shorter side becomes short_side, the longer
// int(short_side * long / short) (Python float arithmetic, truncated).
static void shorter_side_size(int w, int h, int short_side, int *new_w, int *new_h) {
    int s = w <= h ? w : h, l = w <= h ? h : w;
    int new_long = (int)((double)short_side * (double)l / (double)s);
    *new_w = w <= h ? short_side : new_long;
    *new_h = w <= h ? new_long : short_side;
}

void pc_image_to_tensor(const PcImageU8 *img, PcResizeMode mode, int size, float *out) {
    ResampleAxis ax_x, ax_y;
    if (mode == PC_RESIZE_ANTIALIAS) {
        axis_antialias(&ax_x, img->width, size, 0, size);
        axis_antialias(&ax_y, img->height, size, 0, size);
    } else if (mode == PC_RESIZE_CROP256) {
        // torchvision's eval transform Resize(256) + CenterCrop(224), scaled with size; the crop
        // offset is round((resized - size) / 2) with Python's half-to-even rounding (rint).
        int short_side = (int)lround(size * 256.0 / 224.0);
        int rw, rh;
        shorter_side_size(img->width, img->height, short_side, &rw, &rh);
        int left = (int)rint((rw - size) / 2.0), top = (int)rint((rh - size) / 2.0);
        axis_antialias(&ax_x, img->width, rw, left, size);
        axis_antialias(&ax_y, img->height, rh, top, size);
    } else {
        axis_bilinear(&ax_x, img->width, size);
        axis_bilinear(&ax_y, img->height, size);
    }
    resample_u8_to_chw(img, &ax_x, &ax_y, out);
    axis_free(&ax_x);
    axis_free(&ax_y);
}

void pc_normalize_imagenet(float *x, int size) {
    // torchvision Normalize: float32 mean/std, x.sub_(mean).div_(std)
    static const float mean[3] = {0.485f, 0.456f, 0.406f};
    static const float std[3] = {0.229f, 0.224f, 0.225f};
    size_t plane = (size_t)size * (size_t)size;
    for (int ch = 0; ch < 3; ch++) {
        float *p = x + ch * plane;
        for (size_t i = 0; i < plane; i++) p[i] = (p[i] - mean[ch]) / std[ch];
    }
}

void pc_preprocess(const PcImageU8 *img, PcResizeMode mode, int size, float *out) {
    pc_image_to_tensor(img, mode, size, out);
    pc_normalize_imagenet(out, size);
}
