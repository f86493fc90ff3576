// test_image_decode: JPEG decoding against Pillow's decodes (fixtures/decode_golden.h5 and the
// decoded ILSVRC image of reference_golden.h5, all pixel-exact), the valid odd files of
// data/bad_inputs (grayscale, CMYK, progressive, 4000x3000, 1x1), and the broken ones: each must
// fail with a one-line error naming the file, printing nothing to stderr.
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>   // before jpeglib.h, which uses FILE and size_t
#include <jpeglib.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"
#include "testutil.h"

// Decodes data/<rel> and compares it pixel by pixel with dataset <dset> of <fixture>.
static void check_exact(const char *fixture, const char *dset, const char *rel) {
    size_t n = 0;
    int64_t dims[8] = {0};
    int ndim = 0;
    unsigned char *want = h5_read_u8(fixture_path(fixture), dset, &n, dims, &ndim);
    CHECK(want != NULL, "%s: dataset %s missing", fixture, dset);
    if (!want) return;
    PcImageU8 img;
    PcError err = {{0}};
    double t0 = pc_now();
    int rc = pc_load_jpeg(data_path(rel), &img, &err);
    double ms = 1e3 * (pc_now() - t0);
    CHECK(rc == 0, "%s: decode failed: %s", rel, err.msg);
    if (rc == 0) {
        CHECK(ndim == 3 && dims[0] == img.height && dims[1] == img.width && dims[2] == 3,
              "%s: shape %dx%d, golden %lldx%lld", rel, img.height, img.width, (long long)dims[0],
              (long long)dims[1]);
        if (ndim == 3 && dims[0] == img.height && dims[1] == img.width) {
            size_t differing = 0;
            int max_diff = 0;
            for (size_t i = 0; i < n; i++) {
                int d = abs((int)img.rgb[i] - (int)want[i]);
                differing += d != 0;
                if (d > max_diff) max_diff = d;
            }
            printf("  %-45s %4dx%-4d %7.2f ms  differing values %zu (max diff %d)\n", rel, img.width,
                   img.height, ms, differing, max_diff);
            CHECK(differing == 0, "%s: %zu values differ from Pillow (max %d)", rel, differing, max_diff);
        }
    }
    pc_image_free(&img);
    free(want);
}

// Redirects stderr to a temporary file while the broken inputs are decoded.
typedef struct {
    int saved_fd;
    FILE *capture;
} StderrCapture;

static void capture_begin(StderrCapture *cap) {
    fflush(stderr);
    cap->capture = tmpfile();
    cap->saved_fd = dup(fileno(stderr));
    if (cap->capture) dup2(fileno(cap->capture), fileno(stderr));
}

// Restores stderr, replays what was captured (library output or CHECK failures) and returns its
// byte count.
static long capture_end(StderrCapture *cap) {
    fflush(stderr);
    dup2(cap->saved_fd, fileno(stderr));
    close(cap->saved_fd);
    if (!cap->capture) return -1;
    long bytes = 0;
    char chunk[512];
    size_t got;
    rewind(cap->capture);
    while ((got = fread(chunk, 1, sizeof chunk, cap->capture)) > 0) {
        fwrite(chunk, 1, got, stderr);
        bytes += (long)got;
    }
    fclose(cap->capture);
    return bytes;
}

static void check_broken(const char *rel, const char *must_contain, char *messages, size_t cap) {
    const char *path = data_path(rel);
    PcImageU8 img;
    PcError err = {{0}};
    int rc = pc_load_jpeg(path, &img, &err);
    CHECK(rc == -1, "%s: broken file decoded as %dx%d", rel, img.width, img.height);
    CHECK(img.rgb == NULL, "%s: failed decode left an image", rel);
    const char *base = strrchr(rel, '/') ? strrchr(rel, '/') + 1 : rel;
    CHECK(strstr(err.msg, base) != NULL, "%s: message does not name the file: '%s'", rel, err.msg);
    CHECK(strlen(err.msg) > strlen(path) + 4, "%s: message has no reason: '%s'", rel, err.msg);
    CHECK(strchr(err.msg, '\n') == NULL, "%s: message is not one line", rel);
    if (must_contain)
        CHECK(strstr(err.msg, must_contain) != NULL, "%s: message lacks '%s': '%s'", rel, must_contain, err.msg);
    size_t used = strlen(messages);
    snprintf(messages + used, cap - used, "  %s\n", err.msg);
    pc_image_free(&img);
}

// Every prefix of a valid JPEG must fail cleanly (sanitizer builds catch overreads).
static void check_prefixes(const char *rel, size_t step) {
    size_t size = 0;
    PcError err = {{0}};
    unsigned char *data = pc_read_file(data_path(rel), &size, &err);
    CHECK(data != NULL, "%s: %s", rel, err.msg);
    if (!data) return;
    int accepted = 0;
    for (size_t len = 0; len < size; len += step) {
        unsigned char *copy = xmalloc(len ? len : 1);   // exact size, so overreads are caught
        memcpy(copy, data, len);
        PcImageU8 img;
        if (pc_decode_jpeg(copy, len, rel, &img, &err) == 0) {
            accepted++;
            pc_image_free(&img);
        }
        free(copy);
    }
    CHECK(accepted == 0, "%s: %d truncated prefixes decoded without error", rel, accepted);
    free(data);
}

// A valid 16x16 baseline JPEG written by libjpeg into memory (malloc'd, *size bytes).
static unsigned char *small_jpeg(unsigned long *size) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    *size = 0;
    jpeg_mem_dest(&c, &buf, size);
    c.image_width = c.image_height = 16;
    c.input_components = 3;
    c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_start_compress(&c, TRUE);
    unsigned char row[16 * 3];
    for (int y = 0; y < 16; y++) {
        for (int x = 0; x < 16 * 3; x++) row[x] = (unsigned char)(x * 5 + y * 9);
        JSAMPROW r = row;
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    return buf;
}

// Sets the frame size of the SOF0 segment (FF C0 len P Hhi Hlo Whi Wlo ...): a small file that
// declares a huge image, as a decompression bomb does.
static int patch_sof(unsigned char *jpg, size_t size, unsigned w, unsigned h) {
    size_t p = 2;   // after SOI
    while (p + 9 < size && jpg[p] == 0xFF) {
        unsigned len = (unsigned)jpg[p + 2] << 8 | jpg[p + 3];
        if (jpg[p + 1] == 0xC0) {
            jpg[p + 5] = (unsigned char)(h >> 8), jpg[p + 6] = (unsigned char)h;
            jpg[p + 7] = (unsigned char)(w >> 8), jpg[p + 8] = (unsigned char)w;
            return 0;
        }
        p += 2 + len;
    }
    return -1;
}

// Images above PC_MAX_IMAGE_PIXELS (Pillow's 2 x 89478485) are refused from the header alone; at
// the limit the header passes (the patched file then fails on its missing data instead).
static void check_pixel_limit(void) {
    unsigned long size;
    unsigned char *jpg = small_jpeg(&size);
    CHECK(jpg && size > 100, "libjpeg wrote no test JPEG");
    if (!jpg) return;
    PcImageU8 img;
    PcError err = {{0}};
    CHECK(pc_decode_jpeg(jpg, size, "small.jpg", &img, &err) == 0, "unpatched test JPEG: %s", err.msg);
    pc_image_free(&img);
    static const struct { unsigned w, h; int refused; } cases[] = {
        {60000, 60000, 1},      // the 10.8 GB bomb of issue 14
        {20000, 20000, 1},      // 400 Mpx: 1.2 GB
        {13378, 13377, 1},      // 178957506 pixels: just above
        {13377, 13377, 0},      // 178944129 pixels: just below
        {65535, 1, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned char *copy = xmalloc(size);
        memcpy(copy, jpg, size);
        CHECK(patch_sof(copy, size, cases[i].w, cases[i].h) == 0, "no SOF0 in the test JPEG");
        err.msg[0] = 0;
        double t0 = pc_now();
        int rc = pc_decode_jpeg(copy, size, "bomb.jpg", &img, &err);
        double ms = 1e3 * (pc_now() - t0);
        int says_limit = strstr(err.msg, "above the limit of 178956970 pixels") != NULL;
        printf("  %5ux%-5u  %7.2f ms  %s\n", cases[i].w, cases[i].h, ms, rc ? err.msg : "decoded");
        if (cases[i].refused) {
            CHECK(rc == -1 && says_limit && strstr(err.msg, "bomb.jpg: "),
                  "%ux%u: not refused by the pixel limit: '%s'", cases[i].w, cases[i].h, err.msg);
        } else {
            CHECK(!says_limit, "%ux%u: refused below the limit: '%s'", cases[i].w, cases[i].h, err.msg);
        }
        pc_image_free(&img);
        free(copy);
    }
    free(jpg);
}

// A directory or a FIFO in an image list is not a file to decode: refused by name, and the FIFO
// (no writer) must not block the reader.
static void check_not_regular(void) {
    char dir[] = "/tmp/pc_decode_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char sub[64], fifo[64];
    snprintf(sub, sizeof sub, "%s/dir.jpg", dir);
    snprintf(fifo, sizeof fifo, "%s/fifo.jpg", dir);
    CHECK(mkdir(sub, 0700) == 0 && mkfifo(fifo, 0600) == 0, "cannot make the test directory and FIFO");
    alarm(20);   // a blocking open or read of the FIFO ends the test (SIGALRM) instead of hanging
    PcImageU8 img;
    PcError err = {{0}};
    int rc = pc_load_jpeg(sub, &img, &err);
    CHECK(rc == -1 && strstr(err.msg, "dir.jpg: not a regular file (a directory)"), "directory: '%s'", err.msg);
    rc = pc_load_jpeg(fifo, &img, &err);
    CHECK(rc == -1 && strstr(err.msg, "fifo.jpg: not a regular file (a FIFO)"), "FIFO: '%s'", err.msg);
    size_t n;
    CHECK(pc_read_file(sub, &n, &err) == NULL && strstr(err.msg, "(a directory)"), "pc_read_file of a directory");
    alarm(0);
    printf("  %s\n", err.msg);
    rmdir(sub);
    unlink(fifo);
    rmdir(dir);
}

int main(void) {
    printf("golden decodes:\n");
    static const char *golden[] = {"bad_inputs/grayscale.jpg", "bad_inputs/cmyk.jpg",
                                   "bad_inputs/progressive.jpg", "natural/chelsea_cat.jpg",
                                   "ilsvrc_samples/ILSVRC2012_val_00021206.JPEG"};
    for (size_t i = 0; i < sizeof golden / sizeof golden[0]; i++)
        check_exact("decode_golden.h5", golden[i], golden[i]);
    check_exact("reference_golden.h5", "inputs/decoded_rgb_ILSVRC2012_val_00010495.JPEG",
                "ilsvrc_samples/ILSVRC2012_val_00010495.JPEG");

    // The valid odd files without a golden: size and a sanity check of the content.
    PcImageU8 img;
    PcError err = {{0}};
    double t0 = pc_now();
    int rc = pc_load_jpeg(data_path("bad_inputs/large_4000x3000.jpg"), &img, &err);
    double ms = 1e3 * (pc_now() - t0);
    CHECK(rc == 0, "large: %s", err.msg);
    if (rc == 0) {
        CHECK(img.width == 4000 && img.height == 3000, "large: %dx%d", img.width, img.height);
        printf("  %-45s %4dx%-4d %7.2f ms\n", "bad_inputs/large_4000x3000.jpg", img.width, img.height, ms);
    }
    pc_image_free(&img);
    rc = pc_load_jpeg(data_path("bad_inputs/one_pixel.jpg"), &img, &err);
    CHECK(rc == 0, "one_pixel: %s", err.msg);
    if (rc == 0) CHECK(img.width == 1 && img.height == 1, "one_pixel: %dx%d", img.width, img.height);
    pc_image_free(&img);

    // Broken files: errors naming the file, nothing on stderr.
    char messages[4096] = {0};
    StderrCapture cap;
    capture_begin(&cap);
    check_broken("bad_inputs/truncated.jpg", NULL, messages, sizeof messages);
    check_broken("bad_inputs/cut_in_half.jpg", NULL, messages, sizeof messages);
    check_broken("bad_inputs/empty.JPEG", "not a JPEG file", messages, sizeof messages);
    check_broken("bad_inputs/text_named_as.JPEG", "not a JPEG file", messages, sizeof messages);
    check_broken("bad_inputs/png_named_as.JPEG", "PNG", messages, sizeof messages);
    check_broken("bad_inputs/no_such_file.jpg", NULL, messages, sizeof messages);
    check_prefixes("bad_inputs/one_pixel.jpg", 1);
    check_prefixes("natural/chelsea_cat.jpg", 997);
    long stderr_bytes = capture_end(&cap);
    CHECK(stderr_bytes == 0, "decoding broken files wrote %ld bytes to stderr (replayed above)", stderr_bytes);
    printf("error messages:\n%s", messages);

    printf("pixel limit (headers patched to a huge size):\n");
    check_pixel_limit();
    printf("not regular files:\n");
    check_not_regular();

    return test_summary();
}
