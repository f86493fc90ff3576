// test_npz.c: the .npy / .npz reader (host/input/npy.c, npz.c) of maps made elsewhere.
// Good files: tests/fixtures/ext_maps/*.npz, written by numpy 1.24 (tools/make_ext_fixtures.py):
// np.savez (stored, zip64 local headers) and np.savez_compressed (deflated) maps of torchcam, and
// npy_variants.npz with every accepted form (<f2 / <f4 / <f8, C and Fortran order, versions 1.0 /
// 2.0 / 3.0, leading 1s), whose values must equal what numpy read back (npy_variants.h5), and
// forms numpy writes that a map reader must refuse (int64, big-endian, rank 1, three maps, size
// zero, bool, structured). Bad files built here: .npy headers cut, lying, oversized, of the wrong
// dtype or grammar; zip archives with lying sizes, a key twice, encryption, other compression
// methods; every truncation and single-byte flip of a real archive. Each must give one error line
// naming the file (and the key, for a member), never a crash or a large allocation (run it under
// PC_SANITIZE too).
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "npy.h"
#include "npz.h"
#include "testutil.h"

static char tmpdir[256];

static const char *tmp_file(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", tmpdir, name);
    return buf;
}

// ---- .npy images built here ------------------------------------------------------------------

typedef struct {
    unsigned char *p;
    size_t n, cap;
} Buf;

static void put(Buf *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

// A .npy of format major.0 with header text dict (padded to 64 as numpy does, '\n' last) and n
// data bytes.
static Buf npy(int major, const char *dict, const void *data, size_t n) {
    Buf b = {0};
    const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
    put(&b, magic, 8);
    const size_t pre = major == 1 ? 10 : 12;
    size_t len = strlen(dict) + 1;
    len += (64 - (pre + len) % 64) % 64;
    unsigned char l[4] = {(unsigned char)len, (unsigned char)(len >> 8), (unsigned char)(len >> 16),
                          (unsigned char)(len >> 24)};
    put(&b, l, major == 1 ? 2 : 4);
    put(&b, dict, strlen(dict));
    for (size_t i = strlen(dict); i + 1 < len; i++) put(&b, " ", 1);
    put(&b, "\n", 1);
    if (n) put(&b, data, n);
    return b;
}

static const float V6[6] = {1, 2, 3, 4, 5, 6};

// pc_npy_map of buf must fail with a message holding needle (one line).
static void map_fails(Buf b, const char *needle, const char *what) {
    float *m = NULL;
    int h = 0, w = 0;
    PcError err = {{0}};
    int rc = pc_npy_map(b.p, b.n, &m, &h, &w, &err);
    CHECK(rc != 0, "%s: accepted", what);
    CHECK(strstr(err.msg, needle) != NULL, "%s: message lacks '%s': %s", what, needle, err.msg);
    CHECK(!strchr(err.msg, '\n'), "%s: more than one line: %s", what, err.msg);
    CHECK(rc == 0 || m == NULL, "%s: a map left allocated", what);
    printf("  %-40s -> %.160s\n", what, err.msg);
    free(m);
    free(b.p);
}

// pc_npy_map of buf must give an h x w map equal to want.
static void map_ok(Buf b, int h, int w, const float *want, const char *what) {
    float *m = NULL;
    int gh = 0, gw = 0;
    PcError err = {{0}};
    int rc = pc_npy_map(b.p, b.n, &m, &gh, &gw, &err);
    CHECK(rc == 0, "%s: %s", what, err.msg);
    CHECK(rc || (gh == h && gw == w), "%s: %dx%d, want %dx%d", what, gh, gw, h, w);
    CHECK(rc || gh != h || gw != w || !memcmp(m, want, (size_t)h * w * sizeof(float)), "%s: values", what);
    free(m);
    free(b.p);
}

static void test_npy_good(void) {
    map_ok(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", V6, 24), 2, 3, V6, "v1 (2, 3)");
    map_ok(npy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", V6, 24), 2, 3, V6, "v2 header");
    map_ok(npy(3, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", V6, 24), 2, 3, V6, "v3 header");
    map_ok(npy(1, "{'shape': (1, 1, 2, 3), 'fortran_order': False, 'descr': '<f4'}", V6, 24), 2, 3, V6,
           "keys in another order, (1, 1, h, w)");
    map_ok(npy(1, "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (1L, 2L, 3L)}", V6, 24), 2, 3, V6,
           "double quotes, Python 2 longs");
    // Fortran order: (2, 3) column-major holds 1 4 2 5 3 6
    const float cm[6] = {1, 4, 2, 5, 3, 6};
    map_ok(npy(1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", cm, 24), 2, 3, V6, "Fortran order");
    const double d[6] = {1, 2, 3, 4, 5, 6};
    map_ok(npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", d, 48), 2, 3, V6, "<f8");
    const uint16_t half[6] = {0x3c00, 0x4000, 0x4200, 0x4400, 0x4500, 0x4600};   // 1 .. 6 in float16
    map_ok(npy(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", half, 12), 2, 3, V6, "<f2");
    const float one = 6;
    map_ok(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }", &one, 4), 1, 1, V6 + 5, "1 x 1");
}

static void test_npy_hostile(void) {
    const char *f4 = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    Buf b = npy(1, f4, V6, 24);
    b.p[0] = 'X';
    map_fails(b, "no \\x93NUMPY magic", "bad magic");
    b = npy(1, f4, V6, 24);
    b.n = 9;
    map_fails(b, "shorter than the smallest header", "9 bytes");
    b = npy(1, f4, V6, 24);
    b.p[6] = 4;
    map_fails(b, "format version 4.0", "version 4.0");
    b = npy(1, f4, V6, 24);
    b.n = 40;   // inside the header
    map_fails(b, "truncated .npy array: the header claims 118 bytes, 30 follow", "header cut");
    b = npy(2, f4, V6, 24);
    b.n = 11;
    map_fails(b, "truncated header length", "v2 length cut");
    b = npy(2, f4, V6, 24);
    b.p[10] = 0x10;   // header length + 2^20
    map_fails(b, "a header of 1048692 bytes", "oversized header length");
    b = npy(1, "{'descr': '<f4', 'fortran_order': False, 'sha", NULL, 0);
    map_fails(b, "expected", "dict cut");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False}", V6, 24), "the header has no 'shape'", "no shape");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}", V6, 24), "header key 'x'",
              "a fourth key");
    map_fails(npy(1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", V6, 24),
              "'descr' twice", "a key twice");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3)}", V6, 24), "True or False",
              "fortran_order 0");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6)}", V6, 24), "not a tuple", "shape (6)");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}", V6, 24), "a tuple for 'shape'",
              "shape as a list");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3)}", V6, 24), "non-negative integer",
              "negative dimension");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999, 1)}", V6, 24),
              "beyond 2^63", "dimension past 2^63");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}", V6, 24),
              "far more data than the array holds", "huge shape");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3037000500, 3037000500)}", V6, 24),
              "far more data", "shape whose bytes overflow");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4)}", V6, 24),
              "shape (2, 4) of <f4 needs 32 bytes of data, the array holds 24", "data short");
    map_fails(npy(1, f4, V6, 23), "needs 24 bytes of data, the array holds 23", "data one byte short");
    Buf longer = npy(1, f4, V6, 24);
    put(&longer, "x", 1);
    map_fails(longer, "the array holds 25", "data one byte long");
    map_fails(npy(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3)}", V6, 24), "dtype '<i4'", "int32");
    map_fails(npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3)}", V6, 24), "dtype '>f4'", "big-endian");
    const double d6[6] = {1, 2, 3, 4, 5, 6};   // 48 bytes: (2, 3) complex64
    map_fails(npy(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3)}", d6, 48), "dtype '<c8'", "complex");
    map_fails(npy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2, 3)}", V6, 24),
              "structured dtype", "record array");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (6,)}", V6, 24), "rank 1, not a 2-D map",
              "rank 1");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': ()}", V6, 4), "rank 0", "rank 0");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 3)}", V6, 24), "more than one map",
              "leading 2");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3)}", NULL, 0), "size zero", "0 rows");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 3, 0)}", NULL, 0), "size zero",
              "0 columns");
    char deep[512] = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
    for (int i = 0; i < 33; i++) strcat(deep, "1, ");
    strcat(deep, ")}");
    map_fails(npy(1, deep, V6, 4), "more than 32 dimensions", "33 dimensions");
    const double big[2] = {1e300, 1};
    map_fails(npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2)}", big, 16), "beyond float32's range",
              "float64 beyond float32");
    map_fails(npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x", V6, 24), "nothing after the dict",
              "text after the dict");
    map_fails(npy(1, "{'descr': '<f4\\x', 'fortran_order': False, 'shape': (2, 3)}", V6, 24), "no escapes",
              "an escape");
}

// ---- numpy's own archives --------------------------------------------------------------------

// Every key of a synthetic Grad-CAM archive: the 16 list names, each an h x w finite map.
static void test_synth_archive(const char *file, int h, int w) {
    PcError err = {{0}};
    PcNpz *z = pc_npz_open(fixture_path(file), &err);
    CHECK(z != NULL, "%s: %s", file, err.msg);
    if (!z) return;
    CHECK(pc_npz_count(z) == 16 && pc_npz_n_other(z) == 0, "%s: %d arrays, %d others", file, pc_npz_count(z),
          pc_npz_n_other(z));
    CHECK(pc_npz_find(z, "synth_000.jpg") == 0 && pc_npz_find(z, "synth_015.jpg") == 15, "%s: keys with extension",
          file);
    CHECK(pc_npz_find(z, "synth_000") < 0, "%s: no key without extension", file);
    int good = 0;
    for (int i = 0; i < pc_npz_count(z); i++) {
        float *m;
        int gh, gw;
        if (pc_npz_read_map(z, i, &m, &gh, &gw, &err)) {
            CHECK(0, "%s: %s", file, err.msg);
            continue;
        }
        int finite = 1;
        for (int k = 0; k < gh * gw; k++) finite &= isfinite(m[k]) != 0;
        good += gh == h && gw == w && finite;
        free(m);
    }
    CHECK(good == 16, "%s: %d of 16 maps %dx%d and finite", file, good, h, w);
    printf("  %s: 16 maps %dx%d\n", file, h, w);
    pc_npz_close(z);
}

// npy_variants.npz against what numpy read (npy_variants.h5 decoded/<key>), and its refusals.
static void test_variants(void) {
    char h5[4096], npzp[4096];
    snprintf(h5, sizeof h5, "%s", fixture_path("ext_maps/npy_variants.h5"));
    snprintf(npzp, sizeof npzp, "%s", fixture_path("ext_maps/npy_variants.npz"));
    PcError err = {{0}};
    PcNpz *z = pc_npz_open(npzp, &err);
    CHECK(z != NULL, "npy_variants.npz: %s", err.msg);
    if (!z) return;
    CHECK(pc_npz_n_other(z) == 1, "README.txt is not an array (%d others)", pc_npz_n_other(z));
    static const char *const ok[] = {"f4_c", "f8_rank3", "f2_rank4", "f4_fortran", "f8_fortran_rank4",
                                     "f4_v2", "f4_v3", "f4_big", "f4_one"};
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        char dset[128];
        snprintf(dset, sizeof dset, "decoded/%s", ok[k]);
        size_t n;
        int64_t dims[8];
        int nd;
        float *want = h5_read_f32(h5, dset, &n, dims, &nd);
        float *m = NULL;
        int h = 0, w = 0;
        int rc = pc_npz_read_map(z, pc_npz_find(z, ok[k]), &m, &h, &w, &err);
        CHECK(rc == 0, "%s: %s", ok[k], err.msg);
        CHECK(want && rc == 0 && h == dims[0] && w == dims[1] && !memcmp(m, want, n * sizeof(float)),
              "%s: the values numpy reads", ok[k]);
        printf("  %-18s %3dx%-3d as numpy reads it\n", ok[k], h, w);
        free(m);
        free(want);
    }
    // numpy writes them; a map reader refuses them (NaN and Inf pass here: external.c refuses them)
    static const char *const bad[][2] = {{"i8", "dtype '<i8'"}, {"f4_big_endian", "dtype '>f4'"},
                                         {"rank1", "rank 1"}, {"three_maps", "more than one map"},
                                         {"empty", "size zero"}, {"bool", "dtype '|b1'"},
                                         {"structured", "structured dtype"}};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        float *m = NULL;
        int h, w;
        int rc = pc_npz_read_map(z, pc_npz_find(z, bad[k][0]), &m, &h, &w, &err);
        char want[4200];
        snprintf(want, sizeof want, "%s: key '%s': ", npzp, bad[k][0]);
        CHECK(rc != 0 && strstr(err.msg, want) && strstr(err.msg, bad[k][1]), "%s: %s", bad[k][0], err.msg);
        printf("  %-18s -> %.150s\n", bad[k][0], err.msg + strlen(npzp));
        free(m);
    }
    pc_npz_close(z);
}

// ---- archives built here ---------------------------------------------------------------------

static uint32_t crc32_of(const unsigned char *p, size_t n) {
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0xedb88320u : c >> 1;
    }
    return ~c;
}

static void le16(Buf *b, uint32_t v) {
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    put(b, x, 2);
}
static void le32(Buf *b, uint32_t v) {
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    put(b, x, 4);
}

// One member of a hand-written zip: stored bytes; the directory may lie (size, method, flags).
typedef struct {
    const char *name;
    const unsigned char *data;
    size_t n;
    uint32_t claim_size;    // 0 = n
    int method, flags;
} Member;

// A zip archive written field by field (APPNOTE 4.3): local headers, central directory, end record.
static Buf handmade_zip(const Member *m, int n) {
    Buf b = {0}, cd = {0};
    for (int i = 0; i < n; i++) {
        const uint32_t off = (uint32_t)b.n, crc = crc32_of(m[i].data, m[i].n);
        const uint32_t size = m[i].claim_size ? m[i].claim_size : (uint32_t)m[i].n;
        const size_t nl = strlen(m[i].name);
        le32(&b, 0x04034b50), le16(&b, 20), le16(&b, (uint32_t)m[i].flags), le16(&b, (uint32_t)m[i].method);
        le32(&b, 0), le32(&b, crc), le32(&b, (uint32_t)m[i].n), le32(&b, size), le16(&b, (uint32_t)nl), le16(&b, 0);
        put(&b, m[i].name, nl);
        put(&b, m[i].data, m[i].n);
        le32(&cd, 0x02014b50), le16(&cd, 20), le16(&cd, 20), le16(&cd, (uint32_t)m[i].flags);
        le16(&cd, (uint32_t)m[i].method), le32(&cd, 0), le32(&cd, crc), le32(&cd, (uint32_t)m[i].n), le32(&cd, size);
        le16(&cd, (uint32_t)nl), le16(&cd, 0), le16(&cd, 0), le16(&cd, 0), le16(&cd, 0), le32(&cd, 0), le32(&cd, off);
        put(&cd, m[i].name, nl);
    }
    const uint32_t cd_off = (uint32_t)b.n;
    put(&b, cd.p, cd.n);
    le32(&b, 0x06054b50), le16(&b, 0), le16(&b, 0), le16(&b, (uint32_t)n), le16(&b, (uint32_t)n);
    le32(&b, (uint32_t)cd.n), le32(&b, cd_off), le16(&b, 0);
    free(cd.p);
    return b;
}

// Opening (and reading every array of) the archive must fail with needle in one line naming label.
static void npz_fails(Buf b, const char *needle, const char *what) {
    PcError err = {{0}};
    int rc = pc_npz_read_all(b.p, b.n, "hostile.npz", &err);
    CHECK(rc < 0, "%s: accepted", what);
    CHECK(!strncmp(err.msg, "hostile.npz: ", 13) && strstr(err.msg, needle) && !strchr(err.msg, '\n'),
          "%s: message lacks '%s': %s", what, needle, err.msg);
    printf("  %-40s -> %.160s\n", what, err.msg);
    free(b.p);
}

static void test_handmade(void) {
    Buf a = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", V6, 24);
    Member good = {"a.jpg.npy", a.p, a.n, 0, 0, 0};
    Buf z = handmade_zip(&good, 1);
    PcError err = {{0}};
    PcNpz *r = pc_npz_open_buffer(z.p, z.n, "handmade.npz", &err);
    float *m = NULL;
    int h = 0, w = 0;
    CHECK(r && pc_npz_count(r) == 1 && pc_npz_read_map(r, 0, &m, &h, &w, &err) == 0 && h == 2 && w == 3 &&
          !memcmp(m, V6, 24), "the hand-written archive reads: %s", err.msg);
    free(m);
    pc_npz_close(r);
    free(z.p);

    Member lie = good;
    lie.claim_size = 0x7fffffffu;   // 2 GiB claimed for a stored member of 152 bytes
    npz_fails(handmade_zip(&lie, 1), "key 'a.jpg': the member claims 2147483647 bytes", "stored size lie");
    Member two[2] = {good, good};
    npz_fails(handmade_zip(two, 2), "a member name twice", "a key twice");
    Member enc = good;
    enc.flags = 1;
    npz_fails(handmade_zip(&enc, 1), "encrypt", "an encrypted member");
    Member bz = good;
    bz.method = 12;
    npz_fails(handmade_zip(&bz, 1), "compression method 12", "bzip2 member");
    Buf cut = npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", V6, 20);
    Member short_data = {"b.npy", cut.p, cut.n, 0, 0, 0};
    npz_fails(handmade_zip(&short_data, 1), "key 'b': shape (2, 3) of <f4 needs 24 bytes", "member data short");
    free(cut.p);
    Buf empty = {0};
    npz_fails(empty, "an empty file, not a zip archive", "an empty file");
    Buf text = {0};
    put(&text, "just some text, not an archive", 30);
    npz_fails(text, "not a readable zip archive", "text");
    free(a.p);
}

// A deflated member claiming more than deflate can give: refused before reading.
static void test_deflate_bound(void) {
    const char *p = tmp_file("big.npz");
    zip_t *z = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, NULL);
    size_t n = 1 << 20;
    char *zeros = calloc(1, n);
    zip_source_t *s = zip_source_buffer(z, zeros, n, 0);
    zip_int64_t i = zip_file_add(z, "zeros.npy", s, 0);
    zip_set_file_compression(z, (zip_uint64_t)i, ZIP_CM_DEFLATE, 9);
    CHECK(zip_close(z) == 0, "write %s", p);
    free(zeros);
    size_t size;
    PcError err = {{0}};
    unsigned char *f = pc_read_file(p, &size, &err);
    // the uncompressed size raised to 1 GiB - 1 in the local header (offset 22) and the central
    // directory (offset 24 of its entry), which libzip compares
    unsigned char *cd = memmem(f, size, "PK\x01\x02", 4);
    CHECK(cd != NULL && !memcmp(f, "PK\x03\x04", 4), "headers found");
    if (cd) memcpy(cd + 24, "\xff\xff\xff\x3f", 4), memcpy(f + 22, "\xff\xff\xff\x3f", 4);
    Buf b = {0};
    put(&b, f, size);
    npz_fails(b, "the member claims 1073741823 bytes", "deflated size beyond deflate's ratio");
    free(f);
}

// Every truncation of a real archive fails cleanly; every single-byte flip fails cleanly or reads
// the same maps (a flip in a byte nobody checks, e.g. a time stamp); the data are CRC-protected.
static void test_damaged(const char *file) {
    size_t size;
    PcError err = {{0}};
    unsigned char *good = pc_read_file(fixture_path(file), &size, &err);
    CHECK(good != NULL, "%s: %s", file, err.msg);
    if (!good) return;
    CHECK(pc_npz_read_all(good, size, "good.npz", &err) == 16, "%s: 16 maps read from memory (%s)", file, err.msg);
    float *ref[16] = {0};
    int n_ref = 0, n_cut = 0, n_flip_failed = 0, n_changed = 0;
    PcNpz *z = pc_npz_open_buffer(good, size, "good.npz", &err);
    for (int i = 0; z && i < pc_npz_count(z) && i < 16; i++, n_ref++) {
        int h, w;
        if (pc_npz_read_map(z, i, &ref[i], &h, &w, &err)) break;
    }
    pc_npz_close(z);
    unsigned char *bad = xmalloc(size);
    for (size_t len = 0; len < size; len += (len < 64 || len > size - 64) ? 1 : 5) {
        memcpy(bad, good, len);
        int rc = pc_npz_read_all(bad, len, "cut.npz", &err);
        CHECK(rc < 0 && !strncmp(err.msg, "cut.npz: ", 9), "%s cut to %zu of %zu: %s", file, len, size,
              rc < 0 ? err.msg : "read");
        n_cut++;
    }
    for (size_t at = 0; at < size; at++) {
        memcpy(bad, good, size);
        bad[at] ^= 0x5a;
        PcNpz *c = pc_npz_open_buffer(bad, size, "flip.npz", &err);
        int rc = c ? 0 : -1, same = c && pc_npz_count(c) == n_ref;
        for (int i = 0; c && rc == 0 && i < pc_npz_count(c); i++) {
            float *m;
            int h, w;
            if ((rc = pc_npz_read_map(c, i, &m, &h, &w, &err)) == 0) {
                same &= i < n_ref && !memcmp(m, ref[i], (size_t)h * w * sizeof(float));
                free(m);
            }
        }
        if (rc) {
            n_flip_failed++;
            CHECK(!strncmp(err.msg, "flip.npz: ", 10) && !strchr(err.msg, '\n'), "flip at %zu: %s", at, err.msg);
        } else {
            n_changed += !same;
        }
        pc_npz_close(c);
    }
    CHECK(n_changed == 0, "%s: %d byte flips changed the maps without an error", file, n_changed);
    printf("  %s: %d truncations refused; %zu single-byte flips: %d refused, %zu read the same maps\n", file, n_cut,
           size, n_flip_failed, size - (size_t)n_flip_failed);
    for (int i = 0; i < n_ref; i++) free(ref[i]);
    free(bad);
    free(good);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/pc_test_npz_XXXXXX");
    if (!mkdtemp(tmpdir)) test_skip("cannot create a temporary folder");
    printf(".npy images:\n");
    test_npy_good();
    test_npy_hostile();
    printf("numpy's archives:\n");
    test_synth_archive("ext_maps/synth_vgg_gradcam.npz", 14, 14);
    test_synth_archive("ext_maps/synth_resnet_gradcam.npz", 7, 7);
    test_variants();
    printf("hand-written archives:\n");
    test_handmade();
    test_deflate_bound();
    printf("damaged archives:\n");
    test_damaged("ext_maps/synth_resnet_gradcam.npz");
    unlink(tmp_file("big.npz"));
    rmdir(tmpdir);
    return test_summary();
}
