// test_localisation.c: localisation in a run ([data] masks, SPEC §10). Object masks: the PNGs of
// data/synthetic/masks equal fixtures/synthetic.h5's masks; a 2x upsampled PNG comes back to the
// same 224 x 224 mask through the input's bilinear geometry; wrong size, not a PNG, lookup by full
// and base name. Values: pc_localise on hand-computed maps and on NaN / zero maps. Store: the
// /methods/<id>/localisation datasets written through the journal (a run interrupted after two
// images and resumed) equal what localisation.c gives for known maps and masks, the table's means and
// hits equal those numbers, and a file without masks has no localisation.
#define _GNU_SOURCE
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef PC_HAVE_PNG
#include "testutil.h"
int main(void) { test_skip("built without libpng: [data] masks cannot be read"); }
#else
#include <png.h>

#include "dataset.h"
#include "layout.h"
#include "mask.h"
#include "insdel.h"
#include "localisation.h"
#include "store.h"
#include "table.h"
#include "testutil.h"

static char g_dir[PATH_MAX];

static const char *tmp_path(const char *name) {
    static char buf[PATH_MAX + 64];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

// Grey PNG of (h, w) pixels, 8-bit (px) or 16-bit (px16, host order), written with libpng,
// independent of mask.c.
static int write_png_depth(const char *path, const unsigned char *px, const uint16_t *px16, int w, int h) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, px16 ? 16 : 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    unsigned char *row = xmalloc((size_t)w * 2);
    for (int y = 0; y < h; y++) {
        for (int x = 0; px16 && x < w; x++) {   // PNG stores 16-bit samples big-endian
            row[2 * x] = (unsigned char)(px16[(size_t)y * w + x] >> 8);
            row[2 * x + 1] = (unsigned char)(px16[(size_t)y * w + x] & 0xff);
        }
        png_write_row(png, px16 ? row : (png_bytep)(px + (size_t)y * w));
    }
    free(row);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return fclose(f);
}

static int write_grey_png(const char *path, const unsigned char *px, int w, int h) {
    return write_png_depth(path, px, NULL, w, h);
}

static void test_masks(void) {
    size_t n = 0;
    int64_t dims[8];
    int nd = 0;
    unsigned char *ref = h5_read_u8(fixture_path("synthetic.h5"), "synth_resnet/test/mask", &n, dims, &nd);
    CHECK(ref && n == (size_t)16 * 224 * 224, "synthetic.h5 masks");
    if (!ref) return;
    const size_t ss = 224 * 224;
    unsigned char *m = xmalloc(ss);
    PcError err;
    char name[64];
    int same = 1;
    for (int i = 0; i < 16; i++) {
        snprintf(name, sizeof name, "synthetic/masks/synth_%03d.png", i);
        int rc = pc_mask_load(data_path(name), 224, 224, PC_RESIZE_BILINEAR, 224, m, &err);
        CHECK(rc == 0, "load %s: %s", name, rc ? err.msg : "");
        same &= rc == 0 && !memcmp(m, ref + i * ss, ss);
    }
    CHECK(same, "data/synthetic/masks/*.png equal synthetic.h5's synth_resnet/test/mask");

    // each pixel doubled: the bilinear resize 448 -> 224 samples between two equal pixels
    unsigned char *big = xmalloc(4 * ss);
    for (int y = 0; y < 448; y++)
        for (int x = 0; x < 448; x++) big[y * 448 + x] = ref[(y / 2) * 224 + x / 2] ? 200 : 0;
    CHECK(write_grey_png(tmp_path("big.png"), big, 448, 448) == 0, "write big.png");
    CHECK(pc_mask_load(tmp_path("big.png"), 448, 448, PC_RESIZE_BILINEAR, 224, m, &err) == 0 && !memcmp(m, ref, ss),
          "448 x 448 mask resampled to the 224 input grid equals the original");
    // 16-bit grey: object = any value but 0, also 1 (a 0/1 mask saved as uint16) and 256 (low byte 0)
    uint16_t *m16 = xmalloc(ss * sizeof *m16);
    for (size_t i = 0; i < ss; i++) m16[i] = ref[i] ? (i % 2 ? 1 : 256) : 0;
    CHECK(write_png_depth(tmp_path("m16.png"), NULL, m16, 224, 224) == 0, "write m16.png");
    CHECK(pc_mask_load(tmp_path("m16.png"), 224, 224, PC_RESIZE_BILINEAR, 224, m, &err) == 0 && !memcmp(m, ref, ss),
          "16-bit 0/1/256 mask equals the original");
    free(m16);
    int rc = pc_mask_load(tmp_path("big.png"), 224, 224, PC_RESIZE_BILINEAR, 224, m, &err);
    CHECK(rc != 0 && strstr(err.msg, "big.png: 448 x 448 pixels, but its image has 224 x 224"), "size mismatch: %s",
          rc ? err.msg : "accepted");
    FILE *f = fopen(tmp_path("fake.png"), "w");
    fputs("not a png at all", f);
    fclose(f);
    rc = pc_mask_load(tmp_path("fake.png"), 224, 224, PC_RESIZE_BILINEAR, 224, m, &err);
    CHECK(rc != 0 && strstr(err.msg, "fake.png: not a PNG file"), "not a PNG: %s", rc ? err.msg : "accepted");
    // truncated PNG: libpng's error comes back as a message
    f = fopen(tmp_path("big.png"), "rb");
    unsigned char head[200];
    size_t got = fread(head, 1, sizeof head, f);
    fclose(f);
    f = fopen(tmp_path("cut.png"), "wb");
    fwrite(head, 1, got, f);
    fclose(f);
    rc = pc_mask_load(tmp_path("cut.png"), 448, 448, PC_RESIZE_BILINEAR, 224, m, &err);
    CHECK(rc != 0 && strstr(err.msg, "cut.png: not a readable PNG"), "truncated PNG: %s", rc ? err.msg : "accepted");
    // 69 bytes claiming 10^6 x 10^6 pixels (fuzz_png: tests/fuzz/crashes/png): refused by its size
    // before the 10^12-byte buffer (which once ended the run with an allocation failure)
    static const unsigned char huge[69] = {
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x0f,
        0x42, 0x40, 0x00, 0x0f, 0x42, 0x40, 0x08, 0x00, 0x00, 0x00, 0x00, 0x79, 0x06, 0x67, 0xa1, 0x00, 0x00, 0x00,
        0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x60, 0xa0, 0x0c, 0x00, 0x00, 0x00, 0x40, 0x00, 0x01, 0xb7,
        0x34, 0x7c, 0xef, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82};
    f = fopen(tmp_path("huge.png"), "wb");
    fwrite(huge, 1, sizeof huge, f);
    fclose(f);
    rc = pc_mask_load(tmp_path("huge.png"), 224, 224, PC_RESIZE_BILINEAR, 224, m, &err);
    CHECK(rc != 0 && strstr(err.msg, "huge.png: 1000000 x 1000000 pixels, but its image has 224 x 224"),
          "PNG header of 10^12 pixels: %s", rc ? err.msg : "accepted");

    // lookup: full list name first, then the base name; the extension replaced by .png
    char *p = pc_mask_find(data_path("synthetic/masks"), "synth_003.jpg");
    CHECK(p && strstr(p, "masks/synth_003.png"), "find synth_003.jpg: %s", p ? p : "none");
    free(p);
    p = pc_mask_find(data_path("synthetic/masks"), "synthetic/synth_004.jpg");
    CHECK(p && strstr(p, "masks/synth_004.png"), "find by base name: %s", p ? p : "none");
    free(p);
    p = pc_mask_find(data_path("synthetic/masks"), "natural/chelsea_cat.jpg");
    CHECK(p == NULL, "no mask for chelsea_cat.jpg");
    free(p);
    free(big);
    free(m);
    free(ref);
}

// SPEC §10 by hand: energy = sum(S*G)/sum(S); hit = G at the first row-major max.
static void test_values(void) {
    const float s[8] = {0.5f, 2, 1, 2, 0, 0.25f, 0.25f, 2};
    const unsigned char g[8] = {0, 0, 1, 1, 0, 1, 0, 1};
    double e;
    int hit;
    pc_localise(s, g, 8, &e, &hit);
    // in mask: 1 + 2 + 0.25 + 2 = 5.25 of 8; first maximum (2) at index 1, outside the mask
    CHECK(fabs(e - 5.25 / 8) < 1e-12 && hit == 0, "energy %g (want %g), hit %d (want 0)", e, 5.25 / 8, hit);
    const unsigned char g2[8] = {0, 1, 0, 0, 0, 0, 0, 0};
    pc_localise(s, g2, 8, &e, &hit);
    CHECK(fabs(e - 2.0 / 8) < 1e-12 && hit == 1, "energy %g, hit %d", e, hit);
    const float zero[8] = {0};
    pc_localise(zero, g, 8, &e, &hit);
    CHECK(e == 0 && hit == 0, "all-zero map: energy 0 (SPEC §10), hit = mask at index 0 (%g, %d)", e, hit);
    float with_nan[8];
    memcpy(with_nan, s, sizeof s);
    with_nan[5] = NAN;
    pc_localise(with_nan, g, 8, &e, &hit);
    CHECK(isnan(e) && hit == -1, "NaN map: not computed (%g, %d)", e, hit);
}

#define N_IMG 4
#define SIDE 16
#define N_M 2

static char g_ids[N_M][PC_METHOD_ID_LEN] = {"pcampm", "gradcam"};
static char *g_names[N_IMG] = {"a.jpg", "b.jpg", "c.jpg", "d.jpg"};
static const int g_labels[N_IMG] = {0, 1, 2, 3}, g_index[N_IMG] = {0, 1, 2, 3};

static void known_map(int i, int m, float *map, unsigned char *mask) {
    for (int k = 0; k < SIDE * SIDE; k++) {
        int y = k / SIDE, x = k % SIDE;
        // method 1 a signed map (as Input x Gradient's): its energies fall outside [0, 1], and the
        // table must still count them (SPEC §10; a range check once left them out)
        map[k] = (float)((x * (i + 2) + y * (m + 3) + 7 * i) % 11) / 10.0f - (m == 1 ? 0.5f : 0.0f);
        mask[k] = x >= 2 + i && x < 9 && y >= 3 && y < 10 + m;   // the mask per image (m only varies the map)
    }
    if (m == 0) mask[0] = 1;
    map[(i + m) % 2 ? 15 : 5 * SIDE + 8] = 2.0f;     // the peak: outside the mask, or inside
}

// What the run does for image i: maps, then pc_localise per method (image 2 skipped, image 3 has
// no mask, method 1 of image 1 a NaN map).
static void fill(PcImageResult *r, const PcStoreLayout *l, int i) {
    pc_result_reset(r, l, i);
    if (i == 2) {
        snprintf(r->status, sizeof r->status, "c.jpg: not a JPEG file");
        return;
    }
    r->cls = 1;
    r->score = 0.5f;
    unsigned char mask[SIDE * SIDE];
    for (int m = 0; m < N_M; m++) {
        float *map = r->maps + (size_t)m * SIDE * SIDE;
        known_map(i, m, map, mask);
        if (i == 1 && m == 1) map[7] = NAN;
        if (i != 3) pc_localise(map, mask, SIDE * SIDE, &r->energy[m], &r->pointing[m]);
    }
}

// What the localisation datasets add up to per method, to compare with the table.
typedef struct {
    double sum_e[N_M];
    int hits[N_M], n_loc[N_M];
} LocSums;

// The journal record round trip keeps energy and pointing.
static void check_record(const PcStoreLayout *l) {
    PcImageResult r, back;
    pc_result_init(&r, l);
    pc_result_init(&back, l);
    fill(&r, l, 0);
    unsigned char *rec = xmalloc(pc_result_bytes(l));
    pc_result_pack(l, &r, rec);
    pc_result_reset(&back, l, 0);
    pc_result_unpack(l, rec, &back);
    CHECK(back.energy[0] == r.energy[0] && back.energy[1] == r.energy[1] && back.pointing[0] == r.pointing[0] &&
          back.pointing[1] == r.pointing[1], "journal record keeps energy and pointing");
    free(rec);
    pc_result_free(&r);
    pc_result_free(&back);
}

// Two images, closed unfinished (as a killed run), then resumed from the journal and finished.
static void write_resumed(const char *path, const PcStoreLayout *l, const PcStoreImages *im, const PcStoreMeta *meta) {
    PcError err;
    PcImageResult r;
    pc_result_init(&r, l);
    PcStore *st;
    int rc = pc_store_open(&st, path, l, im, meta, PC_STORE_FORCE, &err);
    for (int i = 0; i < 2 && rc == 0; i++) fill(&r, l, i), rc = pc_store_write(st, &r, &err);
    CHECK(rc == 0, "first two images: %s", rc ? err.msg : "");
    pc_store_close(st);
    rc = pc_store_open(&st, path, l, im, meta, PC_STORE_CONTINUE, &err);
    CHECK(rc == 0 && pc_store_n_replayed(st) == 2, "resumed with 2 images from the journal: %s", rc ? err.msg : "");
    for (int i = 2; i < N_IMG && rc == 0; i++) fill(&r, l, i), rc = pc_store_write(st, &r, &err);
    if (rc == 0) rc = pc_store_finish(st, &err);
    CHECK(rc == 0, "finish: %s", rc ? err.msg : "");
    pc_store_close(st);
    pc_result_free(&r);
}

// Read back: every value equals localisation.c on the known maps and masks; sums into s.
static void check_read_back(const char *path, const PcStoreLayout *l, LocSums *s) {
    PcError err;
    PcImageResult back;
    pc_result_init(&back, l);
    PcResultFile rf;
    int rc = pc_results_open(&rf, path, &err);
    CHECK(rc == 0 && rf.layout.localisation, "file has localisation: %s", rc ? err.msg : "");
    for (int m = 0; rc == 0 && m < N_M; m++) {
        double *e = pc_results_extra(&rf, m, "localisation/energy");
        int *p = pc_results_pointing(&rf, m);
        CHECK(e && p, "%s: localisation datasets", g_ids[m]);
        for (int i = 0; e && p && i < N_IMG; i++) {
            float map[SIDE * SIDE];
            unsigned char mask[SIDE * SIDE];
            known_map(i, m, map, mask);
            int computed = i != 2 && i != 3 && !(i == 1 && m == 1);
            double want_e = computed ? pc_energy_in_mask(map, mask, SIDE * SIDE) : NAN;
            int want_p = computed ? pc_pointing_hit(map, mask, SIDE * SIDE) : -1;
            CHECK(computed ? e[i] == want_e : isnan(e[i]), "%s image %d: energy %.17g, localisation.c %.17g", g_ids[m], i,
                  e[i], want_e);
            CHECK(p[i] == want_p, "%s image %d: pointing %d, localisation.c %d", g_ids[m], i, p[i], want_p);
            if (computed) s->sum_e[m] += want_e, s->hits[m] += want_p, s->n_loc[m]++;
            pc_result_reset(&back, l, i);
            if (pc_results_read(&rf, i, &back, &err) == 0)
                CHECK(back.pointing[m] == p[i] && (back.energy[m] == e[i] || (isnan(e[i]) && isnan(back.energy[m]))),
                      "pc_results_read agrees, image %d", i);
        }
        free(e);
        free(p);
    }
    // the signed map's energies leave [0, 1] (what the table must keep)
    int outside = 0;
    for (int i = 0; i < N_IMG; i++) {
        float map[SIDE * SIDE];
        unsigned char mask[SIDE * SIDE];
        known_map(i, 1, map, mask);
        const double e1 = pc_energy_in_mask(map, mask, SIDE * SIDE);
        outside += i != 2 && i != 3 && i != 1 && (e1 < 0 || e1 > 1);
    }
    CHECK(outside > 0, "the signed map has energies outside [0, 1] (%d)", outside);
    // the hand-made maps are not degenerate: some hits, some misses
    CHECK(s->hits[0] + s->hits[1] > 0 && s->hits[0] + s->hits[1] < s->n_loc[0] + s->n_loc[1], "hits %d + %d of %d",
          s->hits[0], s->hits[1], s->n_loc[0] + s->n_loc[1]);
    pc_results_close(&rf);
    pc_result_free(&back);
}

// The table's hits and mean energy per method are those of the datasets.
static void check_table(const char *path, const LocSums *s) {
    PcError err;
    PcTable t;
    int rc = pc_table_from_file(path, &t, &err);
    CHECK(rc == 0 && t.n_rows == N_M, "table: %s", rc ? err.msg : "");
    for (int m = 0; rc == 0 && m < N_M; m++) {
        CHECK(t.rows[m].has_loc && t.rows[m].n_loc == s->n_loc[m] && t.rows[m].hits == s->hits[m],
              "%s: table hits %d/%d, want %d/%d", g_ids[m], t.rows[m].hits, t.rows[m].n_loc, s->hits[m],
              s->n_loc[m]);
        CHECK(fabs(t.rows[m].energy - s->sum_e[m] / s->n_loc[m]) < 1e-12, "%s: table energy %.9f, want %.9f",
              g_ids[m], t.rows[m].energy, s->sum_e[m] / s->n_loc[m]);
    }
    if (rc == 0) pc_table_free(&t);
}

// No masks: no localisation group, and the table has none.
static void check_no_masks(PcStoreLayout l, const PcStoreImages *im, const PcStoreMeta *meta) {
    PcError err;
    PcImageResult r;
    l.localisation = 0;
    pc_result_init(&r, &l);
    const char *path2 = tmp_path("noloc.h5");
    PcStore *st;
    int rc = pc_store_open(&st, path2, &l, im, meta, PC_STORE_FORCE, &err);
    for (int i = 0; i < N_IMG && rc == 0; i++) fill(&r, &l, i), rc = pc_store_write(st, &r, &err);
    if (rc == 0) rc = pc_store_finish(st, &err);
    pc_store_close(st);
    CHECK(rc == 0 && !h5_exists(path2, "/methods/pcampm/localisation"), "no localisation without masks");
    PcTable t;
    rc = pc_table_from_file(path2, &t, &err);
    CHECK(rc == 0 && !t.rows[0].has_loc, "table without localisation");
    if (rc == 0) pc_table_free(&t);
    pc_result_free(&r);
}

static void test_store(void) {
    PcStoreLayout l = {.n_images = N_IMG, .size = SIDE, .steps = 3, .n_methods = N_M, .method_ids = g_ids,
                       .maps = PC_MAPS_F32, .insertion = 1, .deletion = 0, .localisation = 1};
    PcStoreImages im = {.names = g_names, .labels = g_labels, .list_index = g_index};
    PcStoreMeta meta = {.config = "[data]\nmasks = m\n", .config_key = "[data]\nmasks = m\n", .config_source = "s",
                        .version = "test", .git_commit = "x", .libraries = "l", .device = "cpu"};
    const char *path = tmp_path("loc.h5");
    check_record(&l);
    write_resumed(path, &l, &im, &meta);
    LocSums s;
    memset(&s, 0, sizeof s);
    check_read_back(path, &l, &s);
    check_table(path, &s);
    check_no_masks(l, &im, &meta);
}

// [data] masks in the dataset: a folder with masks for some images warns, one with none fails.
static void test_dataset(void) {
    char list[PATH_MAX + 64];
    snprintf(list, sizeof list, "%s", tmp_path("list.txt"));
    FILE *f = fopen(list, "w");
    fputs("synthetic/synth_000.jpg\nsynthetic/synth_001.jpg\nnatural/chelsea_cat.jpg\n", f);
    fclose(f);
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s", data_path(""));
    char masks[PATH_MAX];
    snprintf(masks, sizeof masks, "%s", data_path("synthetic/masks"));
    PcDatasetSpec spec = {.list = list, .root = root, .masks = masks, .shard_count = 1};
    PcDataset ds;
    PcError err;
    FILE *warn = tmpfile();
    int rc = pc_dataset_load(&spec, warn, &ds, &err);
    char text[512] = "";
    rewind(warn);
    size_t got = fread(text, 1, sizeof text - 1, warn);
    text[got] = 0;
    fclose(warn);
    CHECK(rc == 0 && ds.n_masked == 2 && ds.mask_paths[0] && !ds.mask_paths[2], "2 of 3 images masked");
    CHECK(strstr(text, "1 of 3 images have no mask (first: 'natural/chelsea_cat.jpg')") != NULL, "warning: %s", text);
    if (rc == 0) pc_dataset_free(&ds);
    spec.masks = tmp_path("");    // a folder holding no mask of these images
    rc = pc_dataset_load(&spec, NULL, &ds, &err);
    CHECK(rc != 0 && strstr(err.msg, "no mask for any of the 3 images"), "no mask at all: %s", rc ? err.msg : "ok");
    spec.masks = tmp_path("missing");
    rc = pc_dataset_load(&spec, NULL, &ds, &err);
    CHECK(rc != 0 && strstr(err.msg, "missing: no such folder"), "missing folder: %s", rc ? err.msg : "ok");
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s", test_tmp_dir("test_loc"));
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    test_masks();
    test_values();
    test_store();
    test_dataset();
    test_tmp_remove();
    return test_summary();
}
#endif
