// store.c: the run's HDF5 output with its crash journal (layout and recovery rules in store.h).
// Every HDF5 call is checked: creation and writes report a PcError naming the file and dataset,
// and HDF5's own error printing is switched off so nothing stray reaches stderr.
#define _GNU_SOURCE
#include "store.h"

#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define JOURNAL_MAGIC "PCJRNL01"
#define RECORD_MAGIC 0x5243524Au    // "JRCR"
#define STATUS_BYTES 512

// Journal record header; the payload (fixed size per layout) follows.
typedef struct {
    uint32_t magic;
    uint32_t index;
    uint64_t payload_bytes;
    uint64_t payload_hash;
} RecordHeader;

static uint64_t fnv1a64(const void *data, size_t n) {
    const unsigned char *p = data;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

uint16_t pc_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t mant = x & 0x7fffffu;
    if (exp == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
    int e = (int)exp - 127 + 15;
    if (e >= 31) return (uint16_t)(sign | 0x7c00u);
    if (e <= 0) {
        // half subnormal: m * 2^-24 with m = mant24 >> (14 - e), rounded to nearest even
        if (e < -10) return (uint16_t)sign;
        uint32_t m24 = mant | 0x800000u;
        int shift = 14 - e;
        uint32_t m = m24 >> shift, rem = m24 & ((1u << shift) - 1), halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (m & 1))) m++;
        return (uint16_t)(sign | m);
    }
    uint32_t h = sign | ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;     // a carry into the exponent is right
    return (uint16_t)h;
}

static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu, x;
    if (exp == 0) {
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    if (exp == 31) x = sign | 0x7f800000u | (mant << 13);
    else x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
    float f;
    memcpy(&f, &x, 4);
    return f;
}

// ---- results ----------------------------------------------------------------------------------

void pc_result_init(PcImageResult *r, const PcStoreLayout *l) {
    memset(r, 0, sizeof *r);
    size_t m = (size_t)l->n_methods;
    r->maps = xcalloc(m * (size_t)l->size * (size_t)l->size, sizeof(float));
    r->ins_auc = xcalloc(m, sizeof(double));
    r->del_auc = xcalloc(m, sizeof(double));
    r->ins_scores = xcalloc(m * (size_t)l->steps, sizeof(float));
    r->del_scores = xcalloc(m * (size_t)l->steps, sizeof(float));
}

void pc_result_reset(PcImageResult *r, const PcStoreLayout *l, int index) {
    size_t m = (size_t)l->n_methods, t = m * (size_t)l->steps;
    r->index = index;
    snprintf(r->status, sizeof r->status, "ok");
    r->cls = -1;
    r->score = NAN;
    memset(r->maps, 0, m * (size_t)l->size * (size_t)l->size * sizeof(float));
    for (size_t i = 0; i < m; i++) r->ins_auc[i] = r->del_auc[i] = NAN;
    for (size_t i = 0; i < t; i++) r->ins_scores[i] = r->del_scores[i] = NAN;
}

void pc_result_free(PcImageResult *r) {
    free(r->maps);
    free(r->ins_auc);
    free(r->del_auc);
    free(r->ins_scores);
    free(r->del_scores);
    memset(r, 0, sizeof *r);
}

// ---- small HDF5 helpers -----------------------------------------------------------------------

static void iso_time_now(char *buf, size_t n) {
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static hid_t vlen_str_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    hdf5Check(t);
    hdf5Check(H5Tset_size(t, H5T_VARIABLE));
    hdf5Check(H5Tset_cset(t, H5T_CSET_UTF8));
    return t;
}

static int set_str_attr(hid_t loc, const char *name, const char *value) {
    hid_t t = vlen_str_type();
    hid_t sp = H5Screate(H5S_SCALAR);
    int ok = 0;
    htri_t exists = H5Aexists(loc, name);
    hid_t a = exists > 0 ? H5Aopen(loc, name, H5P_DEFAULT) : H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        ok = H5Awrite(a, t, &value) >= 0;
        H5Aclose(a);
    }
    H5Sclose(sp);
    H5Tclose(t);
    return ok ? 0 : -1;
}

static int set_i64_attr(hid_t loc, const char *name, int64_t value) {
    hid_t sp = H5Screate(H5S_SCALAR);
    int ok = 0;
    htri_t exists = H5Aexists(loc, name);
    hid_t a = exists > 0 ? H5Aopen(loc, name, H5P_DEFAULT)
                         : H5Acreate2(loc, name, H5T_STD_I64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        ok = H5Awrite(a, H5T_NATIVE_INT64, &value) >= 0;
        H5Aclose(a);
    }
    H5Sclose(sp);
    return ok ? 0 : -1;
}

char *pc_h5_read_root_attr(hid_t file, const char *name) {
    if (H5Aexists(file, name) <= 0) return NULL;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a);
    char *out = NULL;
    if (H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0) {
        hid_t t = vlen_str_type();
        H5Tset_cset(t, H5Tget_cset(ft));    // HDF5 does not convert ASCII <-> UTF-8
        char *v = NULL;
        if (H5Aread(a, t, &v) >= 0 && v) {
            out = strdup(v);
            H5free_memory(v);
        }
        H5Tclose(t);
    } else if (H5Tget_class(ft) == H5T_STRING) {
        size_t n = H5Tget_size(ft);
        out = xcalloc(n + 1, 1);
        if (H5Aread(a, ft, out) < 0) {
            free(out);
            out = NULL;
        }
    }
    H5Tclose(ft);
    H5Aclose(a);
    return out;
}

static int64_t read_i64_attr(hid_t file, const char *name, int64_t fallback) {
    if (H5Aexists(file, name) <= 0) return fallback;
    hid_t a = H5Aopen(file, name, H5P_DEFAULT);
    int64_t v = fallback;
    if (a >= 0) {
        if (H5Aread(a, H5T_NATIVE_INT64, &v) < 0) v = fallback;
        H5Aclose(a);
    }
    return v;
}

// IEEE binary16, the type h5py and numpy read as float16.
static hid_t half_type_create(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    hdf5Check(t);
    hdf5Check(H5Tset_fields(t, 15, 10, 5, 0, 10));
    hdf5Check(H5Tset_size(t, 2));
    hdf5Check(H5Tset_ebias(t, 15));
    return t;
}

// Dataset of shape dims (rank 1..3) with a fill value; chunk != NULL makes it chunked + deflated.
static hid_t create_dataset(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
                            const hsize_t *chunk, const void *fill) {
    hid_t sp = H5Screate_simple(rank, dims, NULL);
    if (sp < 0) return -1;
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    if (dcpl < 0) {
        H5Sclose(sp);
        return -1;
    }
    if (chunk) {
        H5Pset_chunk(dcpl, rank, chunk);
        H5Pset_shuffle(dcpl);
        H5Pset_deflate(dcpl, 4);
    }
    if (fill) H5Pset_fill_value(dcpl, type, fill);
    hid_t d = H5Dcreate2(loc, name, type, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(sp);
    return d;
}

// Selects row `index` of dataset d (rank 1..3) in its file space *fs and makes the matching
// memory space *ms; both are closed by the caller. Returns -1 (nothing left open) when the row is
// out of range.
static int select_row(hid_t d, hsize_t index, hid_t *fs, hid_t *ms) {
    *fs = H5Dget_space(d);
    *ms = -1;
    if (*fs < 0) return -1;
    hsize_t dims[3] = {0, 1, 1}, start[3] = {index, 0, 0}, count[3];
    int rank = H5Sget_simple_extent_dims(*fs, dims, NULL);
    if (rank < 1 || rank > 3 || index >= dims[0]) {
        H5Sclose(*fs);
        *fs = -1;
        return -1;
    }
    count[0] = 1;
    for (int i = 1; i < rank; i++) count[i] = dims[i];
    if (H5Sselect_hyperslab(*fs, H5S_SELECT_SET, start, NULL, count, NULL) >= 0)
        *ms = H5Screate_simple(rank, count, NULL);
    if (*ms < 0) {
        H5Sclose(*fs);
        *fs = -1;
        return -1;
    }
    return 0;
}

// Writes row `index` of dataset d (rank 1..3) from buf of memory type memtype.
static int write_row(hid_t d, hsize_t index, hid_t memtype, const void *buf) {
    hid_t fs, ms;
    if (select_row(d, index, &fs, &ms)) return -1;
    int ok = H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf) >= 0;
    H5Sclose(ms);
    H5Sclose(fs);
    return ok ? 0 : -1;
}

int pc_h5_read_row(hid_t d, hsize_t index, hid_t memtype, void *buf) {
    hid_t fs, ms;
    if (select_row(d, index, &fs, &ms)) return -1;
    int ok = H5Dread(d, memtype, ms, fs, H5P_DEFAULT, buf) >= 0;
    H5Sclose(ms);
    H5Sclose(fs);
    return ok ? 0 : -1;
}

char **pc_h5_read_strings(hid_t obj, int is_attr, size_t *n) {
    hid_t sp = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    if (sp < 0) return NULL;
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    hid_t ft = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    hid_t t = vlen_str_type();
    if (ft >= 0) {
        H5Tset_cset(t, H5Tget_cset(ft));
        H5Tclose(ft);
    }
    char **tmp = xcalloc((size_t)(cnt > 0 ? cnt : 1), sizeof(char *));
    herr_t rc = cnt < 0 ? -1 : is_attr ? H5Aread(obj, t, tmp) : H5Dread(obj, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp);
    char **out = NULL;
    if (rc >= 0) {
        out = xmalloc((size_t)(cnt > 0 ? cnt : 1) * sizeof(char *));
        for (hssize_t i = 0; i < cnt; i++) out[i] = strdup(tmp[i] ? tmp[i] : "");
        H5Dvlen_reclaim(t, sp, H5P_DEFAULT, tmp);
        *n = (size_t)cnt;
    }
    free(tmp);
    H5Tclose(t);
    H5Sclose(sp);
    return out;
}

void pc_h5_free_strings(char **s, size_t n) {
    for (size_t i = 0; s && i < n; i++) free(s[i]);
    free(s);
}

static void close_handle(hid_t *h, herr_t (*fn)(hid_t)) {
    if (*h >= 0) fn(*h);
    *h = -1;
}

static void close_hdf5(PcStore *st) {
    int m = st->layout.n_methods;
    close_handle(&st->d_class, H5Dclose);
    close_handle(&st->d_score, H5Dclose);
    close_handle(&st->d_status, H5Dclose);
    close_handle(&st->d_done, H5Dclose);
    for (int i = 0; i < m && st->d_map; i++) {
        close_handle(&st->d_map[i], H5Dclose);
        close_handle(&st->d_ins_auc[i], H5Dclose);
        close_handle(&st->d_ins_scores[i], H5Dclose);
        close_handle(&st->d_del_auc[i], H5Dclose);
        close_handle(&st->d_del_scores[i], H5Dclose);
    }
    close_handle(&st->half_type, H5Tclose);
    close_handle(&st->file, H5Fclose);
}

// ---- fingerprint ------------------------------------------------------------------------------

// config_key plus what the store itself depends on (image count and names, map and curve shape).
static char *build_key(const char *config_key, const PcStoreLayout *l, const PcStoreImages *im) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (int i = 0; i < l->n_images; i++) {
        h ^= fnv1a64(im->names[i], strlen(im->names[i]) + 1);
        h *= 0x100000001b3ull;
    }
    size_t cap = strlen(config_key) + 512 + (size_t)l->n_methods * (PC_METHOD_ID_LEN + 1);
    char *k = xmalloc(cap);
    size_t n = (size_t)snprintf(k, cap, "%s\n[store]\nimages = %d\nnames_hash = %016llx\nmap_side = %d\nsteps = %d\nmethods = ",
                                config_key, l->n_images, (unsigned long long)h, l->size, l->steps);
    for (int i = 0; i < l->n_methods; i++) n += (size_t)snprintf(k + n, cap - n, "%s%s", i ? "," : "", l->method_ids[i]);
    snprintf(k + n, cap - n, "\n");
    return k;
}

// "a different configuration ([metrics] steps = 224 there, 16 now)"
static int refuse(PcError *err, const char *what, const char *old_key, const char *new_key) {
    char detail[700] = "";
    if (old_key) {
        char sec_old[64] = "", sec_new[64] = "";
        const char *a = old_key, *b = new_key;
        while (*a || *b) {
            const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
            size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
            if (la && a[0] == '[') snprintf(sec_old, sizeof sec_old, "%.*s", (int)la, a);
            if (lb && b[0] == '[') snprintf(sec_new, sizeof sec_new, "%.*s", (int)lb, b);
            if (la != lb || memcmp(a, b, la) || strcmp(sec_old, sec_new)) {
                snprintf(detail, sizeof detail, ": %s '%.*s' there, %s '%.*s' now", sec_old, (int)(la > 200 ? 200 : la), a,
                         sec_new, (int)(lb > 200 ? 200 : lb), b);
                break;
            }
            a = ea ? ea + 1 : a + la;
            b = eb ? eb + 1 : b + lb;
        }
    }
    return pc_fail(err, "%s was made with a different configuration%s; use --force to start over or set another [output] file",
                   what, detail);
}

// ---- files ------------------------------------------------------------------------------------

static int file_exists(const char *p) {
    struct stat s;
    return stat(p, &s) == 0;
}

static int remove_file(const char *p, PcError *err) {
    if (unlink(p) != 0 && errno != ENOENT) return pc_fail(err, "%s: cannot remove (%s)", p, strerror(errno));
    return 0;
}

static int make_parent_dirs(const char *path, PcError *err) {
    char *dir = strdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir) {
        free(dir);
        return 0;
    }
    *slash = 0;
    for (char *p = dir + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
                int e = errno;
                int rc = pc_fail(err, "%s: cannot create folder %s (%s)", path, dir, strerror(e));
                free(dir);
                return rc;
            }
            *p = c;
            if (!c) break;
        }
    }
    free(dir);
    return 0;
}

// ---- the HDF5 file ----------------------------------------------------------------------------

static int create_partial(PcStore *st, const PcStoreImages *im, const PcStoreMeta *meta, const char *start_time,
                          PcError *err) {
    const PcStoreLayout *l = &st->layout;
    const char *p = st->partial_path;
    if (remove_file(p, err)) return -1;
    st->file = H5Fcreate(p, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (st->file < 0) return pc_fail(err, "%s: cannot create the HDF5 file", p);
    st->half_type = half_type_create();
    hsize_t n = (hsize_t)l->n_images;
    hid_t str_t = vlen_str_type();
    hid_t gi = H5Gcreate2(st->file, "images", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t gm = H5Gcreate2(st->file, "methods", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = -1;
    if (gi < 0 || gm < 0) {
        pc_fail(err, "%s: cannot create groups", p);
        goto done;
    }
    int minus_one = -1;
    float nanf_ = NAN;
    double nand = NAN;
    unsigned char zero_u8 = 0;
    hid_t d_name = create_dataset(gi, "name", str_t, 1, &n, NULL, NULL);
    hid_t d_index = create_dataset(gi, "index", H5T_STD_I32LE, 1, &n, NULL, &minus_one);
    hid_t d_label = create_dataset(gi, "label", H5T_STD_I32LE, 1, &n, NULL, &minus_one);
    int ok = d_name >= 0 && d_index >= 0 && d_label >= 0;
    ok = ok && H5Dwrite(d_name, str_t, H5S_ALL, H5S_ALL, H5P_DEFAULT, im->names) >= 0;
    ok = ok && H5Dwrite(d_index, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, im->list_index) >= 0;
    ok = ok && H5Dwrite(d_label, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, im->labels) >= 0;
    if (d_name >= 0) H5Dclose(d_name);
    if (d_index >= 0) H5Dclose(d_index);
    if (d_label >= 0) H5Dclose(d_label);
    st->d_class = create_dataset(gi, "class", H5T_STD_I32LE, 1, &n, NULL, &minus_one);
    st->d_score = create_dataset(gi, "score", H5T_IEEE_F32LE, 1, &n, NULL, &nanf_);
    st->d_status = create_dataset(gi, "status", str_t, 1, &n, NULL, NULL);
    st->d_done = create_dataset(gi, "done", H5T_STD_U8LE, 1, &n, NULL, &zero_u8);
    ok = ok && st->d_class >= 0 && st->d_score >= 0 && st->d_status >= 0 && st->d_done >= 0;
    if (ok && im->n_class_names > 0) {
        hsize_t k = (hsize_t)im->n_class_names;
        hid_t d = create_dataset(st->file, "classes", str_t, 1, &k, NULL, NULL);
        ok = d >= 0 && H5Dwrite(d, str_t, H5S_ALL, H5S_ALL, H5P_DEFAULT, im->class_names) >= 0;
        if (d >= 0) H5Dclose(d);
    }
    if (!ok) {
        pc_fail(err, "%s: cannot create or write the /images datasets", p);
        goto done;
    }
    hsize_t map_dims[3] = {n, (hsize_t)l->size, (hsize_t)l->size}, map_chunk[3] = {1, (hsize_t)l->size, (hsize_t)l->size};
    hsize_t sc_dims[2] = {n, (hsize_t)l->steps};
    float zero_f = 0;
    for (int m = 0; m < l->n_methods; m++) {
        const char *id = l->method_ids[m];
        hid_t g = H5Gcreate2(gm, id, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) {
            pc_fail(err, "%s: cannot create group /methods/%s", p, id);
            goto done;
        }
        ok = 1;
        if (l->maps != PC_MAPS_NONE) {
            hid_t ft = l->maps == PC_MAPS_F16 ? st->half_type : H5T_IEEE_F32LE;
            uint16_t zero_h = 0;
            st->d_map[m] = create_dataset(g, "map", ft, 3, map_dims, map_chunk,
                                          l->maps == PC_MAPS_F16 ? (const void *)&zero_h : (const void *)&zero_f);
            ok = st->d_map[m] >= 0;
        }
        for (int c = 0; c < 2 && ok; c++) {
            if (c == 0 ? !l->insertion : !l->deletion) continue;
            hid_t gc = H5Gcreate2(g, c == 0 ? "insertion" : "deletion", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            hid_t da = gc >= 0 ? create_dataset(gc, "auc", H5T_IEEE_F64LE, 1, &n, NULL, &nand) : -1;
            hid_t ds = gc >= 0 ? create_dataset(gc, "scores", H5T_IEEE_F32LE, 2, sc_dims, NULL, &nanf_) : -1;
            if (gc >= 0) H5Gclose(gc);
            ok = da >= 0 && ds >= 0;
            if (c == 0) st->d_ins_auc[m] = da, st->d_ins_scores[m] = ds;
            else st->d_del_auc[m] = da, st->d_del_scores[m] = ds;
        }
        H5Gclose(g);
        if (!ok) {
            pc_fail(err, "%s: cannot create the datasets of /methods/%s", p, id);
            goto done;
        }
    }
    // method ids in their order, for tables
    {
        hsize_t k = (hsize_t)l->n_methods;
        const char **ids = xmalloc((size_t)k * sizeof(char *));
        for (int m = 0; m < l->n_methods; m++) ids[m] = l->method_ids[m];
        hid_t sp = H5Screate_simple(1, &k, NULL);
        hid_t a = H5Acreate2(st->file, "method_ids", str_t, sp, H5P_DEFAULT, H5P_DEFAULT);
        ok = a >= 0 && H5Awrite(a, str_t, ids) >= 0;
        if (a >= 0) H5Aclose(a);
        H5Sclose(sp);
        free(ids);
    }
    ok = ok && !set_str_attr(st->file, "config", meta->config ? meta->config : "");
    ok = ok && !set_str_attr(st->file, "config_source", meta->config_source ? meta->config_source : "");
    ok = ok && !set_str_attr(st->file, "config_key", st->key);
    ok = ok && !set_str_attr(st->file, "version", meta->version ? meta->version : PC_VERSION);
    ok = ok && !set_str_attr(st->file, "git_commit", meta->git_commit ? meta->git_commit : "unknown");
    ok = ok && !set_str_attr(st->file, "libraries", meta->libraries ? meta->libraries : "");
    ok = ok && !set_str_attr(st->file, "device", meta->device ? meta->device : "");
    ok = ok && !set_str_attr(st->file, "start_time", start_time);
    ok = ok && !set_str_attr(st->file, "end_time", "");
    ok = ok && !set_i64_attr(st->file, "n_images", l->n_images);
    ok = ok && !set_i64_attr(st->file, "n_done", 0);
    ok = ok && !set_i64_attr(st->file, "complete", 0);
    if (!ok) {
        pc_fail(err, "%s: cannot write the root attributes", p);
        goto done;
    }
    if (H5Fflush(st->file, H5F_SCOPE_LOCAL) < 0) {
        pc_fail(err, "%s: cannot flush", p);
        goto done;
    }
    rc = 0;
done:
    if (gi >= 0) H5Gclose(gi);
    if (gm >= 0) H5Gclose(gm);
    H5Tclose(str_t);
    return rc;
}

// Writes one image's results into the open HDF5 file; the done flag and counter go last.
static int write_hdf5(PcStore *st, const PcImageResult *r, int flush, PcError *err) {
    const PcStoreLayout *l = &st->layout;
    hsize_t i = (hsize_t)r->index;
    const char *p = st->partial_path;
    hid_t str_t = vlen_str_type();
    const char *status = r->status;
    int ok = write_row(st->d_class, i, H5T_NATIVE_INT, &r->cls) == 0 &&
             write_row(st->d_score, i, H5T_NATIVE_FLOAT, &r->score) == 0 &&
             write_row(st->d_status, i, str_t, &status) == 0;
    H5Tclose(str_t);
    if (!ok) return pc_fail(err, "%s: cannot write /images of image %d", p, r->index);
    size_t ss = (size_t)l->size * (size_t)l->size;
    for (int m = 0; m < l->n_methods; m++) {
        const float *map = r->maps + (size_t)m * ss;
        if (l->maps == PC_MAPS_F16) {
            for (size_t k = 0; k < ss; k++) st->half_buf[k] = pc_f32_to_f16(map[k]);
            ok = write_row(st->d_map[m], i, st->half_type, st->half_buf) == 0;
        } else if (l->maps == PC_MAPS_F32) {
            ok = write_row(st->d_map[m], i, H5T_NATIVE_FLOAT, map) == 0;
        }
        if (ok && l->insertion)
            ok = write_row(st->d_ins_auc[m], i, H5T_NATIVE_DOUBLE, &r->ins_auc[m]) == 0 &&
                 write_row(st->d_ins_scores[m], i, H5T_NATIVE_FLOAT, r->ins_scores + (size_t)m * l->steps) == 0;
        if (ok && l->deletion)
            ok = write_row(st->d_del_auc[m], i, H5T_NATIVE_DOUBLE, &r->del_auc[m]) == 0 &&
                 write_row(st->d_del_scores[m], i, H5T_NATIVE_FLOAT, r->del_scores + (size_t)m * l->steps) == 0;
        if (!ok) return pc_fail(err, "%s: cannot write /methods/%s of image %d", p, l->method_ids[m], r->index);
    }
    unsigned char one = 1;
    if (write_row(st->d_done, i, H5T_NATIVE_UCHAR, &one)) return pc_fail(err, "%s: cannot write /images/done", p);
    if (!st->done[r->index]) {
        st->done[r->index] = 1;
        st->n_done++;
    }
    if (set_i64_attr(st->file, "n_done", st->n_done)) return pc_fail(err, "%s: cannot update n_done", p);
    if (flush && H5Fflush(st->file, H5F_SCOPE_LOCAL) < 0) return pc_fail(err, "%s: cannot flush", p);
    return 0;
}

// ---- the journal ------------------------------------------------------------------------------

static size_t map_elem_bytes(const PcStoreLayout *l) {
    return l->maps == PC_MAPS_F16 ? 2 : l->maps == PC_MAPS_F32 ? 4 : 0;
}

static size_t payload_bytes(const PcStoreLayout *l) {
    size_t per_method = (size_t)l->size * (size_t)l->size * map_elem_bytes(l) + 2 * sizeof(double) +
                        (size_t)(l->insertion + l->deletion) * (size_t)l->steps * sizeof(float);
    return sizeof(int32_t) + sizeof(float) + STATUS_BYTES + (size_t)l->n_methods * per_method;
}

static void serialize(const PcStore *st, const PcImageResult *r, unsigned char *out) {
    const PcStoreLayout *l = &st->layout;
    size_t ss = (size_t)l->size * (size_t)l->size, t = (size_t)l->steps;
    int32_t cls = r->cls;
    memcpy(out, &cls, 4), out += 4;
    memcpy(out, &r->score, 4), out += 4;
    memset(out, 0, STATUS_BYTES);
    snprintf((char *)out, STATUS_BYTES, "%s", r->status);
    out += STATUS_BYTES;
    for (int m = 0; m < l->n_methods; m++) {
        const float *map = r->maps + (size_t)m * ss;
        if (l->maps == PC_MAPS_F16) {
            for (size_t k = 0; k < ss; k++) {
                uint16_t h = pc_f32_to_f16(map[k]);
                memcpy(out + 2 * k, &h, 2);
            }
        } else if (l->maps == PC_MAPS_F32) {
            memcpy(out, map, ss * 4);
        }
        out += ss * map_elem_bytes(l);
        memcpy(out, &r->ins_auc[m], 8), out += 8;
        memcpy(out, &r->del_auc[m], 8), out += 8;
        if (l->insertion) memcpy(out, r->ins_scores + (size_t)m * t, t * 4), out += t * 4;
        if (l->deletion) memcpy(out, r->del_scores + (size_t)m * t, t * 4), out += t * 4;
    }
}

static void deserialize(const PcStore *st, const unsigned char *in, PcImageResult *r) {
    const PcStoreLayout *l = &st->layout;
    size_t ss = (size_t)l->size * (size_t)l->size, t = (size_t)l->steps;
    int32_t cls;
    memcpy(&cls, in, 4), in += 4;
    r->cls = cls;
    memcpy(&r->score, in, 4), in += 4;
    memcpy(r->status, in, STATUS_BYTES);
    r->status[STATUS_BYTES - 1] = 0;
    in += STATUS_BYTES;
    for (int m = 0; m < l->n_methods; m++) {
        float *map = r->maps + (size_t)m * ss;
        if (l->maps == PC_MAPS_F16) {
            for (size_t k = 0; k < ss; k++) {
                uint16_t h;
                memcpy(&h, in + 2 * k, 2);
                map[k] = f16_to_f32(h);
            }
        } else if (l->maps == PC_MAPS_F32) {
            memcpy(map, in, ss * 4);
        }
        in += ss * map_elem_bytes(l);
        memcpy(&r->ins_auc[m], in, 8), in += 8;
        memcpy(&r->del_auc[m], in, 8), in += 8;
        if (l->insertion) memcpy(r->ins_scores + (size_t)m * t, in, t * 4), in += t * 4;
        if (l->deletion) memcpy(r->del_scores + (size_t)m * t, in, t * 4), in += t * 4;
    }
}

static int write_journal_header(PcStore *st, const char *start_time, PcError *err) {
    uint64_t kl = strlen(st->key), sl = strlen(start_time);
    uint64_t h = fnv1a64(st->key, kl) ^ fnv1a64(start_time, sl);
    int ok = fwrite(JOURNAL_MAGIC, 8, 1, st->journal) == 1 && fwrite(&kl, 8, 1, st->journal) == 1 &&
             fwrite(st->key, 1, kl, st->journal) == kl && fwrite(&sl, 8, 1, st->journal) == 1 &&
             fwrite(start_time, 1, sl, st->journal) == sl && fwrite(&h, 8, 1, st->journal) == 1 &&
             fflush(st->journal) == 0;
    return ok ? 0 : pc_fail(err, "%s: cannot write (%s)", st->journal_path, strerror(errno));
}

// Reads the journal header: 1 = valid (key and start time returned), 0 = torn or not a journal.
static int read_journal_header(FILE *f, char **key, char *start_time, size_t st_size) {
    char magic[8];
    uint64_t kl, sl, h;
    if (fread(magic, 8, 1, f) != 1 || memcmp(magic, JOURNAL_MAGIC, 8) || fread(&kl, 8, 1, f) != 1 || kl > (1u << 24))
        return 0;
    char *k = xmalloc(kl + 1);
    if (fread(k, 1, kl, f) != kl || fread(&sl, 8, 1, f) != 1 || sl >= st_size || fread(start_time, 1, sl, f) != sl ||
        fread(&h, 8, 1, f) != 1) {
        free(k);
        return 0;
    }
    k[kl] = 0;
    start_time[sl] = 0;
    if (h != (fnv1a64(k, kl) ^ fnv1a64(start_time, sl))) {
        free(k);
        return 0;
    }
    *key = k;
    return 1;
}

// Replays every intact record into the fresh .partial and cuts a torn tail off the journal.
static int replay_journal(PcStore *st, PcError *err) {
    size_t pb = payload_bytes(&st->layout);
    PcImageResult r;
    pc_result_init(&r, &st->layout);
    long good_end = ftell(st->journal);
    int rc = 0;
    while (1) {
        RecordHeader h;
        if (fread(&h, sizeof h, 1, st->journal) != 1) break;
        if (h.magic != RECORD_MAGIC || h.payload_bytes != pb || h.index >= (uint32_t)st->layout.n_images) break;
        if (fread(st->record, 1, pb, st->journal) != pb) break;
        if (fnv1a64(st->record, pb) != h.payload_hash) break;
        pc_result_reset(&r, &st->layout, (int)h.index);
        deserialize(st, st->record, &r);
        if (write_hdf5(st, &r, 0, err)) {
            rc = -1;
            break;
        }
        st->n_replayed++;
        good_end = ftell(st->journal);
    }
    pc_result_free(&r);
    if (rc) return rc;
    fseek(st->journal, 0, SEEK_END);
    long end = ftell(st->journal);
    if (end > good_end) {
        st->n_dropped_bytes = (int)(end - good_end);
        if (ftruncate(fileno(st->journal), good_end) != 0)
            return pc_fail(err, "%s: cannot cut the torn last record (%s)", st->journal_path, strerror(errno));
    }
    fseek(st->journal, good_end, SEEK_SET);
    if (H5Fflush(st->file, H5F_SCOPE_LOCAL) < 0) return pc_fail(err, "%s: cannot flush", st->partial_path);
    return 0;
}

// ---- public -----------------------------------------------------------------------------------

static char *suffixed(const char *path, const char *suffix) {
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *s = xmalloc(n);
    snprintf(s, n, "%s%s", path, suffix);
    return s;
}

int pc_store_open(PcStore *st, const char *path, const PcStoreLayout *layout, const PcStoreImages *images,
                  const PcStoreMeta *meta, PcStoreMode mode, PcError *err) {
    memset(st, 0, sizeof *st);
    st->file = st->half_type = st->d_class = st->d_score = st->d_status = st->d_done = -1;
    st->path = strdup(path);
    st->partial_path = suffixed(path, ".partial");
    st->journal_path = suffixed(path, ".journal");
    st->layout = *layout;
    int m = layout->n_methods;
    st->layout.method_ids = xmalloc((size_t)(m ? m : 1) * sizeof *st->layout.method_ids);
    memcpy(st->layout.method_ids, layout->method_ids, (size_t)m * sizeof *st->layout.method_ids);
    hid_t **sets[] = {&st->d_map, &st->d_ins_auc, &st->d_ins_scores, &st->d_del_auc, &st->d_del_scores};
    for (int s = 0; s < 5; s++) {
        *sets[s] = xmalloc((size_t)(m ? m : 1) * sizeof(hid_t));
        for (int i = 0; i < m; i++) (*sets[s])[i] = -1;
    }
    st->done = xcalloc((size_t)(layout->n_images ? layout->n_images : 1), 1);
    st->key = build_key(meta->config_key ? meta->config_key : "", layout, images);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);   // failures are reported through PcError

    if (layout->n_images < 1) return pc_fail(err, "%s: no images to store", path);
    if (mode == PC_STORE_FORCE) {
        if (remove_file(st->path, err) || remove_file(st->partial_path, err) || remove_file(st->journal_path, err))
            return -1;
    }

    // A finished output: same config = nothing to do, else refuse.
    if (file_exists(st->path)) {
        hid_t f = H5Fopen(st->path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (f < 0) return pc_fail(err, "%s exists and is not a readable HDF5 file; use --force to overwrite it", st->path);
        char *old_key = pc_h5_read_root_attr(f, "config_key");
        int64_t complete = read_i64_attr(f, "complete", 0);
        H5Fclose(f);
        if (!old_key) {
            return pc_fail(err, "%s exists and is not a polycam-eval output; use --force to overwrite it or set "
                           "another [output] file", st->path);
        }
        if (strcmp(old_key, st->key)) {
            int rc = refuse(err, st->path, old_key, st->key);
            free(old_key);
            return rc;
        }
        free(old_key);
        if (!complete) return pc_fail(err, "%s exists but is not complete; use --force to start over", st->path);
        st->complete = 1;
        st->n_done = layout->n_images;
        memset(st->done, 1, (size_t)layout->n_images);
        // a journal left by a crash between the final rename and its removal
        remove_file(st->journal_path, NULL);
        return 0;
    }
    if (make_parent_dirs(st->path, err)) return -1;

    size_t pb = payload_bytes(layout);
    st->record_bytes = sizeof(RecordHeader) + pb;
    st->record = xmalloc(st->record_bytes);
    st->half_buf = xmalloc((size_t)layout->size * (size_t)layout->size * sizeof(uint16_t));

    char start_time[64];
    iso_time_now(start_time, sizeof start_time);
    if (file_exists(st->journal_path)) {
        st->journal = fopen(st->journal_path, "r+b");
        if (!st->journal) return pc_fail(err, "%s: cannot open (%s)", st->journal_path, strerror(errno));
        char *old_key = NULL;
        char old_start[64];
        if (read_journal_header(st->journal, &old_key, old_start, sizeof old_start)) {
            if (strcmp(old_key, st->key)) {
                char what[1200];
                snprintf(what, sizeof what, "the unfinished run in %s", st->journal_path);
                int rc = refuse(err, what, old_key, st->key);
                free(old_key);
                return rc;
            }
            free(old_key);
            if (create_partial(st, images, meta, old_start, err)) return -1;
            return replay_journal(st, err);
        }
        // torn header: the previous run died before its first image; start afresh
        fclose(st->journal);
        st->journal = NULL;
    }
    st->journal = fopen(st->journal_path, "w+b");
    if (!st->journal) return pc_fail(err, "%s: cannot create (%s)", st->journal_path, strerror(errno));
    if (write_journal_header(st, start_time, err) || create_partial(st, images, meta, start_time, err)) {
        // a fresh journal holds no results yet: leave no half-made output behind
        fclose(st->journal);
        st->journal = NULL;
        close_hdf5(st);
        remove_file(st->journal_path, NULL);
        remove_file(st->partial_path, NULL);
        return -1;
    }
    return 0;
}

int pc_store_write(PcStore *st, const PcImageResult *r, PcError *err) {
    if (r->index < 0 || r->index >= st->layout.n_images)
        return pc_fail(err, "%s: image index %d out of range", st->path, r->index);
    RecordHeader h = {RECORD_MAGIC, (uint32_t)r->index, st->record_bytes - sizeof h, 0};
    unsigned char *payload = st->record + sizeof h;
    serialize(st, r, payload);
    h.payload_hash = fnv1a64(payload, h.payload_bytes);
    memcpy(st->record, &h, sizeof h);
    if (fwrite(st->record, 1, st->record_bytes, st->journal) != st->record_bytes || fflush(st->journal) != 0)
        return pc_fail(err, "%s: cannot write (%s)", st->journal_path, strerror(errno));
    return write_hdf5(st, r, 1, err);
}

int pc_store_finish(PcStore *st, PcError *err) {
    if (st->complete) return 0;
    if (st->n_done != st->layout.n_images)
        return pc_fail(err, "%s: %d of %d images done; cannot finish", st->path, st->n_done, st->layout.n_images);
    char end_time[64];
    iso_time_now(end_time, sizeof end_time);
    if (set_str_attr(st->file, "end_time", end_time) || set_i64_attr(st->file, "complete", 1))
        return pc_fail(err, "%s: cannot write the closing attributes", st->partial_path);
    // The journal is deleted below: the file must be complete on disk first. A failed flush or
    // close (disk full) keeps .partial and journal, so a rerun rebuilds the file from the journal.
    if (H5Fflush(st->file, H5F_SCOPE_LOCAL) < 0) return pc_fail(err, "%s: cannot flush", st->partial_path);
    hid_t file = st->file;
    st->file = -1;
    close_hdf5(st);
    if (H5Fclose(file) < 0) return pc_fail(err, "%s: cannot close", st->partial_path);
    if (rename(st->partial_path, st->path) != 0)
        return pc_fail(err, "%s: cannot rename to %s (%s)", st->partial_path, st->path, strerror(errno));
    if (st->journal) fclose(st->journal);
    st->journal = NULL;
    remove_file(st->journal_path, NULL);
    st->complete = 1;
    return 0;
}

void pc_store_close(PcStore *st) {
    if (!st->path) return;
    close_hdf5(st);
    if (st->journal) fclose(st->journal);
    free(st->d_map);
    free(st->d_ins_auc);
    free(st->d_ins_scores);
    free(st->d_del_auc);
    free(st->d_del_scores);
    free(st->layout.method_ids);
    free(st->done);
    free(st->key);
    free(st->record);
    free(st->half_buf);
    free(st->path);
    free(st->partial_path);
    free(st->journal_path);
    memset(st, 0, sizeof *st);
}
