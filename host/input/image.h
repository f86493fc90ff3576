// image.h: JPEG decoding (libjpeg-turbo) to 8-bit RGB the way Pillow's convert("RGB") does, and
// the preprocessing of SPEC §1 to a normalised (3, S, S) float tensor.
#ifndef PC_IMAGE_H
#define PC_IMAGE_H

#include "common.h"

typedef struct {
    int width, height;
    unsigned char *rgb;     // (H, W, 3) interleaved
} PcImageU8;

typedef enum {
    PC_RESIZE_BILINEAR = 0, // bilinear, align_corners=false, no antialias (reference default)
    PC_RESIZE_ANTIALIAS,    // antialiased bilinear (torchvision >= 0.17 / PIL)
    PC_RESIZE_CROP256,      // resize shorter side to 256 (antialiased), centre-crop 224
} PcResizeMode;

// Largest image decoded, in pixels (width x height from the JPEG header, checked before any
// allocation): Pillow's decompression-bomb limit, 2 x Image.MAX_IMAGE_PIXELS = 2 x 89478485, above
// which Image.open raises DecompressionBombError. So every image Pillow (the reference) opens is
// decoded, and no other. Peak memory of a decode, measured on 30 Mpx files: 3.3 bytes a pixel
// (baseline: the RGB buffer), 6.3 (progressive 4:2:0: plus libjpeg's whole-image coefficients),
// 9.4 (progressive 4:4:4): at most 1.7 GB at the limit, once per decode thread ([run] decoders);
// the queue behind the decoders holds only (3, S, S) tensors.
#define PC_MAX_IMAGE_PIXELS 178956970ull

// Decodes a JPEG held in memory. name is used in error messages (the file path). On failure
// returns -1 with err = "<name>: <libjpeg's reason>"; never prints to stderr, never aborts.
int pc_decode_jpeg(const unsigned char *data, size_t size, const char *name, PcImageU8 *out,
                   PcError *err);
// Reads and decodes a file.
int pc_load_jpeg(const char *path, PcImageU8 *out, PcError *err);
void pc_image_free(PcImageU8 *img);

// rgb/255 as (3, S, S) float, resized per mode, without mean/std normalisation.
void pc_image_to_tensor(const PcImageU8 *img, PcResizeMode mode, int size, float *out);
// In place (x - mean) / std per channel, ImageNet mean/std, on (3, S, S).
void pc_normalize_imagenet(float *x, int size);
// Both steps: the network input X of SPEC §1.
void pc_preprocess(const PcImageU8 *img, PcResizeMode mode, int size, float *out);

#endif
