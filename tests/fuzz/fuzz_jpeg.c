// fuzz_jpeg.c: the JPEG decoder (host/input/image.c over libjpeg-turbo: its error trap, CMYK / YCCK and
// greyscale conversions, the pixel limit) and, for images up to 1 Mpx, the preprocessing of SPEC
// §1 in its three resize modes at 16 x 16. Seeds: small JPEGs of data/ (corpus/jpeg).
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    PcImageU8 img;
    PcError err = {{0}};
    if (pc_decode_jpeg(data, size, "fuzz.jpg", &img, &err) != 0) {
        if (!err.msg[0] || strchr(err.msg, '\n')) __builtin_trap();   // a refusal is one line
        return 0;
    }
    fuzz_touch(img.rgb, (size_t)img.width * img.height * 3);
    if ((size_t)img.width * img.height <= ((size_t)1 << 20)) {
        float *x = malloc(3 * 16 * 16 * sizeof(float));
        for (int mode = PC_RESIZE_BILINEAR; mode <= PC_RESIZE_CROP256; mode++) pc_preprocess(&img, mode, 16, x);
        free(x);
    }
    pc_image_free(&img);
    return 0;
}
