// h5util.c: the HDF5 helpers of h5util.h. HDF5's own error printing is switched off by the
// modules that use them; failures come back as return values, and pc_h5_why() recovers the system
// error the HDF5 error stack recorded (HDF5 keeps it as text inside the failing driver's message).
#define _GNU_SOURCE
#include "h5util.h"
#include "safe_text.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "h5shape.h"

// ---- float16 ----------------------------------------------------------------------------------

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

float pc_f16_to_f32(uint16_t h) {
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

// HDF5 registers an atexit handler that closes the files still open at exit; after a failed write
// (disk full) that close fails again and HDF5 1.10 crashes in it (SIGSEGV). Every file is closed
// explicitly, so the handler is switched off before the library starts.
__attribute__((constructor)) static void no_atexit_close(void) { H5dont_atexit(); }

// ---- why a call failed ------------------------------------------------------------------------

static _Thread_local char g_why[256];

static herr_t find_system_error(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    char *why = data;
    const char *d = e->desc ? e->desc : "";
    const char *m = strstr(d, "error message = '");
    if (m) {
        m += strlen("error message = '");
        const char *end = strchr(m, '\'');
        snprintf(why, 256, " (%.*s)", (int)(end ? end - m : (long)strlen(m)), m);
        return 1;
    }
    const char *en = strstr(d, "errno = ");
    if (en && atoi(en + 8) > 0) {
        snprintf(why, 256, " (%s)", strerror(atoi(en + 8)));
        return 1;
    }
    return 0;
}

// Saves the system reason of the failure on the error stack now (before a later call clears it).
static void capture(void) {
    char why[256] = "";
    int saved = errno;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, find_system_error, why);
    if (!why[0] && (saved == ENOSPC || saved == EFBIG || saved == EDQUOT || saved == EIO || saved == EROFS))
        snprintf(why, sizeof why, " (%s)", strerror(saved));
    if (why[0]) snprintf(g_why, sizeof g_why, "%s", why);
}

const char *pc_h5_why(void) {
    static _Thread_local char out[256];
    capture();
    snprintf(out, sizeof out, "%s", g_why);
    g_why[0] = 0;   // said once: a later failure without a system reason does not inherit it
    return out;
}

// ---- attributes -------------------------------------------------------------------------------

hid_t pc_h5_str_type(H5T_cset_t cset) {
    hid_t t = H5Tcopy(H5T_C_S1);
    hdf5Check(t);
    hdf5Check(H5Tset_size(t, H5T_VARIABLE));
    hdf5Check(H5Tset_cset(t, cset));
    return t;
}

// The attribute `name` of loc, created with type t and space sp when absent.
static hid_t open_or_create_attr(hid_t loc, const char *name, hid_t t, hid_t sp) {
    htri_t exists = H5Aexists(loc, name);
    if (exists > 0) return H5Aopen(loc, name, H5P_DEFAULT);
    return exists < 0 ? -1 : H5Acreate2(loc, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
}

int pc_h5_set_str_attr(hid_t loc, const char *name, const char *value) {
    hid_t t = pc_h5_str_type(H5T_CSET_UTF8);
    hid_t sp = H5Screate(H5S_SCALAR);
    char *clean = pc_utf8_clean(value ? value : "");
    hid_t a = open_or_create_attr(loc, name, t, sp);
    int ok = a >= 0 && H5Awrite(a, t, &clean) >= 0;
    if (!ok) capture();
    ok = !pc_h5_close_written(a) && ok;
    free(clean);
    H5Sclose(sp);
    H5Tclose(t);
    return ok ? 0 : -1;
}

int pc_h5_set_i64s_attr(hid_t loc, const char *name, const int64_t *v, int n) {
    hsize_t k = (hsize_t)n;
    hid_t sp = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &k, NULL);
    hid_t a = open_or_create_attr(loc, name, H5T_STD_I64LE, sp);
    int ok = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, v) >= 0;
    if (!ok) capture();
    ok = !pc_h5_close_written(a) && ok;
    H5Sclose(sp);
    return ok ? 0 : -1;
}

int pc_h5_set_i64_attr(hid_t loc, const char *name, int64_t value) {
    return pc_h5_set_i64s_attr(loc, name, &value, 1);
}

char *pc_h5_read_root_attr(hid_t loc, const char *name) {
    if (H5Aexists(loc, name) <= 0) return NULL;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    hid_t ft = H5Aget_type(a), sp = H5Aget_space(a);
    char *out = NULL;
    // one string: an array of them would be read over the one pointer (or buffer) below
    const int one = H5Sget_simple_extent_npoints(sp) == 1;
    H5Sclose(sp);
    if (one && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0) {
        hid_t t = pc_h5_str_type(H5Tget_cset(ft));   // HDF5 does not convert ASCII <-> UTF-8
        char *v = NULL;
        if (H5Aread(a, t, &v) >= 0 && v) {
            out = strdup(v);
            H5free_memory(v);
        }
        H5Tclose(t);
    } else if (one && H5Tget_class(ft) == H5T_STRING) {
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

int pc_h5_read_i64s_attr(hid_t loc, const char *name, int64_t *v, int n) {
    if (H5Aexists(loc, name) <= 0) return -1;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t sp = H5Aget_space(a);
    int ok = H5Sget_simple_extent_npoints(sp) == n && H5Aread(a, H5T_NATIVE_INT64, v) >= 0;
    H5Sclose(sp);
    H5Aclose(a);
    return ok ? 0 : -1;
}

int64_t pc_h5_read_i64_attr(hid_t loc, const char *name, int64_t fallback) {
    int64_t v;
    return pc_h5_read_i64s_attr(loc, name, &v, 1) == 0 ? v : fallback;
}

// ---- datasets ---------------------------------------------------------------------------------

hid_t pc_h5_half_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    hdf5Check(t);
    hdf5Check(H5Tset_fields(t, 15, 10, 5, 0, 10));
    hdf5Check(H5Tset_size(t, 2));
    hdf5Check(H5Tset_ebias(t, 15));
    return t;
}

hid_t pc_h5_create_dataset(hid_t loc, const char *name, hid_t type, int rank, const hsize_t *dims,
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
    if (d < 0) capture();
    H5Pclose(dcpl);
    H5Sclose(sp);
    return d;
}

int pc_h5_close_written(hid_t id) {
    if (id < 0) return 0;
    herr_t rc;
    switch (H5Iget_type(id)) {
    case H5I_DATASET: rc = H5Dclose(id); break;
    case H5I_GROUP: rc = H5Gclose(id); break;
    case H5I_ATTR: rc = H5Aclose(id); break;
    case H5I_FILE: rc = H5Fclose(id); break;
    default: rc = -1; break;   // not an object this helper is for
    }
    if (rc < 0) capture();
    return rc < 0 ? -1 : 0;
}

hid_t pc_h5_open_if(hid_t loc, const char *name) {
    return H5Lexists(loc, name, H5P_DEFAULT) > 0 ? H5Dopen2(loc, name, H5P_DEFAULT) : -1;
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

int pc_h5_write_row(hid_t d, hsize_t index, hid_t memtype, const void *buf) {
    hid_t fs, ms;
    if (select_row(d, index, &fs, &ms)) return -1;
    int ok = H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf) >= 0;
    if (!ok) capture();
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

static void *read_all(hid_t loc, const char *name, size_t n, hid_t memtype, size_t elem) {
    hid_t d = pc_h5_open_if(loc, name);
    if (d < 0) return NULL;
    hid_t sp = H5Dget_space(d);
    void *out = xmalloc((n ? n : 1) * elem);
    int ok = sp >= 0 && H5Sget_simple_extent_npoints(sp) == (hssize_t)n &&
             H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

int *pc_h5_read_ints(hid_t loc, const char *name, size_t n) {
    return read_all(loc, name, n, H5T_NATIVE_INT, sizeof(int));
}

double *pc_h5_read_f64(hid_t loc, const char *name, size_t n) {
    return read_all(loc, name, n, H5T_NATIVE_DOUBLE, sizeof(double));
}

int pc_h5_dims(hid_t loc, const char *name, hsize_t *first, hsize_t *last) {
    hid_t d = pc_h5_open_if(loc, name);
    if (d < 0) return -1;
    hid_t sp = H5Dget_space(d);
    hsize_t dims[8] = {0};
    int rank = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(d);
    if (rank < 1 || rank > 8) return -1;
    *first = dims[0];
    *last = dims[rank - 1];
    return 0;
}

char **pc_h5_read_strings(hid_t obj, int is_attr, size_t *n) {
    hid_t sp = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    if (sp < 0) return NULL;
    hssize_t cnt = H5Sget_simple_extent_npoints(sp);
    // a count the file cannot hold (a chunked dataset of fill values) is not read (h5shape.h)
    if (cnt > 0 && pc_h5_budget(obj, "", "", (double)cnt * PC_H5_STRING_COST, NULL)) {
        H5Sclose(sp);
        return NULL;
    }
    hid_t ft = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    hid_t t = pc_h5_str_type(H5T_CSET_ASCII);
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

// ---- files ------------------------------------------------------------------------------------

hid_t pc_h5_open_read(const char *path) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    H5Pset_file_locking(fapl, 0, 1);
#endif
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    H5Pclose(fapl);
    return f;
}

int pc_h5_has_signature(const char *path) {
    struct stat s;
    if (lstat(path, &s) != 0 || !S_ISREG(s.st_mode)) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    unsigned char sig[8];
    int ok = fread(sig, 1, 8, f) == 8 && !memcmp(sig, "\x89HDF\r\n\x1a\n", 8);
    fclose(f);
    return ok;
}

// ---- changing a finished file -----------------------------------------------------------------

// in -> out, all of it; 0 or -1 (errno set).
static int copy_fd(int in, int out) {
    enum { CHUNK = 1 << 20 };
    char *buf = xmalloc(CHUNK);
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = read(in, buf, CHUNK)) != 0) {
        if (got < 0) {
            rc = -1;
            break;
        }
        for (ssize_t off = 0; rc == 0 && off < got;) {
            ssize_t w = write(out, buf + off, (size_t)(got - off));
            if (w <= 0) rc = -1;
            else off += w;
        }
    }
    free(buf);
    return rc;
}

// A regular file that is empty or starts as an HDF5 file does (the copy of a result file, cut
// anywhere by a kill).
static int is_copy_of_ours(const char *p, const struct stat *st) {
    if (!S_ISREG(st->st_mode)) return 0;
    FILE *f = fopen(p, "rb");
    if (!f) return 0;
    unsigned char sig[8];
    size_t got = fread(sig, 1, 8, f);
    fclose(f);
    return !memcmp(sig, "\x89HDF\r\n\x1a\n", got);
}

// 0: nothing at tmp; 1: a stale copy, removed; -1: why (static text) it was left.
static int remove_stale(const char *tmp, const char **why) {
    struct stat st;
    if (lstat(tmp, &st) != 0) return 0;
    if (!is_copy_of_ours(tmp, &st)) {
        *why = S_ISREG(st.st_mode) ? "a file there that polycam-eval did not make (not HDF5); remove it yourself"
                                   : "something there that is not a regular file; remove it yourself";
        return -1;
    }
    if (unlink(tmp) == 0) return 1;
    *why = strerror(errno);
    return -1;
}

int pc_h5_update_remove_stale(const char *path, PcError *err) {
    size_t n = strlen(path) + 16;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.update", path);
    const char *why = "";
    int rc = remove_stale(tmp, &why);
    if (rc < 0) pc_fail(err, "%s: stale copy not removed (%s)", tmp, why);
    free(tmp);
    return rc;
}

char *pc_h5_update_begin(const char *path, PcError *err) {
    size_t n = strlen(path) + 16;
    char *tmp = xmalloc(n);
    snprintf(tmp, n, "%s.update", path);
    const char *why = "";
    if (remove_stale(tmp, &why) < 0) {   // a copy a kill left is never the only copy of anything
        pc_fail(err, "%s: cannot copy it to %s to change it (%s)", path, tmp, why);
        free(tmp);
        return NULL;
    }
    struct stat sb;
    int in = open(path, O_RDONLY | O_CLOEXEC), out = -1, rc = -1;
    // O_EXCL | O_NOFOLLOW: never through a link or into a file that appeared since
    if (in >= 0 && fstat(in, &sb) == 0)
        out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, sb.st_mode & 0777);
    if (out >= 0) rc = copy_fd(in, out);
    int e = errno, created = out >= 0;
    if (out >= 0 && close(out) != 0 && rc == 0) rc = -1, e = errno;
    if (in >= 0) close(in);
    if (rc == 0) return tmp;
    pc_fail(err, "%s: cannot copy it to %s to change it (%s)", path, tmp, strerror(e ? e : EIO));
    if (created) unlink(tmp);   // only our own copy
    free(tmp);
    return NULL;
}

int pc_h5_update_end(const char *path, char *tmp, int ok, PcError *err) {
    int rc = 0, renamed = 0;
    if (ok) {
        if (pc_fsync_path(tmp) != 0) rc = pc_fail(err, "%s: cannot flush (%s)", tmp, strerror(errno));
        if (rc == 0 && rename(tmp, path) != 0)
            rc = pc_fail(err, "%s: cannot rename to %s (%s)", tmp, path, strerror(errno));
        renamed = rc == 0;
        // path holds the change now; its folder entry must reach the disk before a caller removes
        // what the change made redundant (sanity.c: the steps journal)
        if (rc == 0 && pc_fsync_parent(path) != 0)
            rc = pc_fail(err, "%s: changed, but its folder cannot be flushed (%s)", path, strerror(errno));
    }
    if (!renamed) unlink(tmp);
    free(tmp);
    return rc;
}
