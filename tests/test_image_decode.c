// test_image_decode: JPEG decoding against Pillow's decodes (fixtures/decode_golden.h5 and the
// decoded ILSVRC image of reference_golden.h5, all pixel-exact), the valid odd files of
// data/bad_inputs (grayscale, CMYK, progressive, 4000x3000, 1x1), and the broken ones: each must
// fail with a one-line error naming the file, printing nothing to stderr.
#include <fcntl.h>
#include <string.h>
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

    return test_summary();
}
