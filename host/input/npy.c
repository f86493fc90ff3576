// npy.c: the .npy format of npy.h. Layout (numpy/lib/format.py): 6 bytes "\x93NUMPY", major and
// minor version bytes, the header length (little-endian u16 in 1.0, u32 in 2.0 and 3.0), then the
// header: the repr of a dict {'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 14, 14), }
// padded with spaces and ended by '\n' (latin-1 in 1.0 / 2.0, UTF-8 in 3.0; only ASCII matters
// here). The array's bytes follow, C (row-major) or Fortran (column-major) order.
#include "npy.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state_dict.h"

static const unsigned char MAGIC[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

// ---- the header's dict literal ----------------------------------------------------------------

typedef struct {
    const char *p, *end;
    PcError *err;
} Cur;

static void skip_blanks(Cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int eat(Cur *c, char ch) {
    skip_blanks(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

// What the cursor points at, for messages: "'x'", or "the end of the header".
static const char *here(const Cur *c, char *buf, size_t cap) {
    if (c->p >= c->end) return "the end of the header";
    unsigned char ch = (unsigned char)*c->p;
    if (ch >= 0x20 && ch < 0x7f) snprintf(buf, cap, "'%c'", ch);
    else snprintf(buf, cap, "byte 0x%02X", ch);
    return buf;
}

static int expected(Cur *c, const char *what) {
    char b[32];
    return pc_fail(c->err, "not a .npy array: header: expected %s, found %s", what, here(c, b, sizeof b));
}

// A 'string' or "string" without escapes (numpy writes none in the three values it reads).
static int string(Cur *c, char *out, size_t cap) {
    skip_blanks(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return expected(c, "a quoted string");
    const char q = *c->p++;
    const char *s = c->p;
    while (c->p < c->end && *c->p != q && *c->p != '\\' && *c->p != '\n') c->p++;
    if (c->p >= c->end || *c->p != q) return expected(c, "the end of a string (no escapes)");
    size_t len = (size_t)(c->p - s);
    c->p++;
    if (len >= cap) return pc_fail(c->err, "not a .npy array: header: a string of %zu characters where %zu at most fit", len, cap - 1);
    memcpy(out, s, len);
    out[len] = 0;
    return 0;
}

// A non-negative integer, with Python 2's long suffix 'L' that old numpy files carry.
static int integer(Cur *c, int64_t *v) {
    skip_blanks(c);
    if (c->p >= c->end || *c->p < '0' || *c->p > '9') return expected(c, "a non-negative integer");
    int64_t x = 0;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, *c->p - '0', &x))
            return pc_fail(c->err, "not a .npy array: header: a dimension beyond 2^63");
        c->p++;
    }
    if (c->p < c->end && (*c->p == 'L' || *c->p == 'l')) c->p++;
    *v = x;
    return 0;
}

// (a, b, ...), "()", or "(a,)": a one-element tuple needs its comma, as in Python.
static int shape_tuple(Cur *c, PcNpyHeader *h) {
    if (!eat(c, '(')) return expected(c, "a tuple for 'shape'");
    h->rank = 0;
    if (eat(c, ')')) return 0;
    for (;;) {
        if (h->rank == PC_NPY_MAX_DIMS)
            return pc_fail(c->err, "not a .npy array: more than %d dimensions", PC_NPY_MAX_DIMS);
        if (integer(c, &h->shape[h->rank++])) return -1;
        int comma = eat(c, ',');
        if (eat(c, ')')) {
            if (h->rank == 1 && !comma) return pc_fail(c->err, "not a .npy array: header: 'shape' is '(n)', not a tuple");
            return 0;
        }
        if (!comma) return expected(c, "',' or ')' in 'shape'");
    }
}

static int boolean(Cur *c, int *out) {
    skip_blanks(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && !memcmp(c->p, "True", 4)) return c->p += 4, *out = 1, 0;
    if (left >= 5 && !memcmp(c->p, "False", 5)) return c->p += 5, *out = 0, 0;
    return expected(c, "True or False for 'fortran_order'");
}

// One "'key': value" of the dict; seen: bit 1 descr, 2 fortran_order, 4 shape.
static int item(Cur *c, PcNpyHeader *h, int *seen) {
    char key[32];
    if (string(c, key, sizeof key)) return -1;
    if (!eat(c, ':')) return expected(c, "':'");
    int bit = !strcmp(key, "descr") ? 1 : !strcmp(key, "fortran_order") ? 2 : !strcmp(key, "shape") ? 4 : 0;
    if (!bit) return pc_fail(c->err, "not a .npy array: header key '%s' (numpy writes 'descr', 'fortran_order', 'shape')", key);
    if (*seen & bit) return pc_fail(c->err, "not a .npy array: header key '%s' twice", key);
    *seen |= bit;
    if (bit == 1) {
        skip_blanks(c);
        if (c->p < c->end && (*c->p == '[' || *c->p == '{'))
            return pc_fail(c->err, "a structured dtype (a record array), not a map of numbers");
        return string(c, h->descr, sizeof h->descr);
    }
    return bit == 2 ? boolean(c, &h->fortran_order) : shape_tuple(c, h);
}

static int parse_dict(const char *text, size_t len, PcNpyHeader *h, PcError *err) {
    Cur c = {text, text + len, err};
    if (!eat(&c, '{')) return expected(&c, "a dict '{...}'");
    int seen = 0;
    if (!eat(&c, '}')) {
        for (;;) {
            if (item(&c, h, &seen)) return -1;
            int comma = eat(&c, ',');
            if (eat(&c, '}')) break;
            if (!comma) return expected(&c, "',' or '}'");
        }
    }
    skip_blanks(&c);
    if (c.p != c.end) return expected(&c, "nothing after the dict but blanks");
    static const char *const names[3] = {"descr", "fortran_order", "shape"};
    for (int b = 0; b < 3; b++)
        if (!(seen & (1 << b))) return pc_fail(err, "not a .npy array: the header has no '%s'", names[b]);
    return 0;
}

int pc_npy_header(const unsigned char *buf, size_t n, PcNpyHeader *h, PcError *err) {
    memset(h, 0, sizeof *h);
    if (n < 10 || memcmp(buf, MAGIC, sizeof MAGIC))
        return pc_fail(err, "not a .npy array (%s)", n < 10 ? "shorter than the smallest header" : "no \\x93NUMPY magic");
    h->major = buf[6], h->minor = buf[7];
    if (h->major < 1 || h->major > 3 || h->minor != 0)
        return pc_fail(err, "not a .npy array: format version %d.%d (known: 1.0, 2.0, 3.0)", h->major, h->minor);
    size_t len, start;
    if (h->major == 1) {
        len = (size_t)buf[8] | (size_t)buf[9] << 8;
        start = 10;
    } else {
        if (n < 12) return pc_fail(err, "not a .npy array: truncated header length");
        len = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        start = 12;
    }
    if (len > PC_NPY_MAX_HEADER)
        return pc_fail(err, "not a .npy array: a header of %zu bytes (a map's has about 100; at most %d read)", len,
                       PC_NPY_MAX_HEADER);
    if (len > n - start)
        return pc_fail(err, "truncated .npy array: the header claims %zu bytes, %zu follow", len, n - start);
    h->data_offset = start + len;
    return parse_dict((const char *)buf + start, len, h, err);
}

void pc_npy_shape_text(const PcNpyHeader *h, char *out, size_t cap) {
    size_t used = (size_t)snprintf(out, cap, "(");
    for (int d = 0; d < h->rank && used < cap; d++)
        used += (size_t)snprintf(out + used, cap - used, "%s%lld", d ? ", " : "", (long long)h->shape[d]);
    if (used < cap) snprintf(out + used, cap - used, "%s)", h->rank == 1 ? "," : "");
}

// ---- the map ----------------------------------------------------------------------------------

static int itemsize_of(const char *descr) {
    if (!strcmp(descr, "<f2")) return 2;
    if (!strcmp(descr, "<f4")) return 4;
    if (!strcmp(descr, "<f8")) return 8;
    return 0;
}

// Element k of the data (item size es) as float32; -1 for a '<f8' value beyond float32's range.
static int element(const unsigned char *data, size_t k, int es, float *out) {
    if (es == 2 || es == 4) {   // IEEE half widened exactly, or the float itself (unaligned: memcpy)
        const PcTensor t = {.dtype = es == 2 ? PC_DT_F16 : PC_DT_F32, .data = data};
        *out = pc_tensor_get_f32(&t, (int64_t)k);
    } else {
        double v;
        memcpy(&v, data + k * 8, 8);
        if (isfinite(v) && fabs(v) > FLT_MAX) return -1;
        *out = (float)v;
    }
    return 0;
}

// The map's shape rules: rank >= 2, leading dimensions 1, both sides >= 1 and in int range, the
// data exactly h * w items.
static int map_shape(const PcNpyHeader *hd, size_t n, int es, int *h, int *w, PcError *err) {
    char shape[PC_NPY_MAX_DIMS * 22 + 4];
    pc_npy_shape_text(hd, shape, sizeof shape);
    if (hd->rank < 2)
        return pc_fail(err, "shape %s: rank %d, not a 2-D map (expected (h, w), or leading dimensions of 1 as "
                       "(1, 1, h, w))", shape, hd->rank);
    for (int d = 0; d < hd->rank - 2; d++)
        if (hd->shape[d] != 1)
            return pc_fail(err, "shape %s: more than one map (expected (h, w), or leading dimensions of 1 as "
                           "(1, 1, h, w))", shape);
    const int64_t H = hd->shape[hd->rank - 2], W = hd->shape[hd->rank - 1];
    if (H == 0 || W == 0) return pc_fail(err, "shape %s: an empty map (size zero)", shape);
    uint64_t items, bytes;
    const size_t avail = n - hd->data_offset;
    if (H > INT_MAX || W > INT_MAX || __builtin_mul_overflow((uint64_t)H, (uint64_t)W, &items) ||
        __builtin_mul_overflow(items, (uint64_t)es, &bytes))
        return pc_fail(err, "shape %s of %s: far more data than the array holds (%zu bytes)", shape, hd->descr, avail);
    if (bytes != avail)
        return pc_fail(err, "shape %s of %s needs %llu bytes of data, the array holds %zu", shape, hd->descr,
                       (unsigned long long)bytes, avail);
    *h = (int)H, *w = (int)W;
    return 0;
}

int pc_npy_map(const unsigned char *buf, size_t n, float **map, int *h, int *w, PcError *err) {
    PcNpyHeader hd;
    *map = NULL;
    if (pc_npy_header(buf, n, &hd, err)) return -1;
    const int es = itemsize_of(hd.descr);
    if (!es)
        return pc_fail(err, "dtype '%s': a map must be float16, float32 or float64 ('<f2', '<f4' or '<f8')", hd.descr);
    int H = 0, W = 0;
    if (map_shape(&hd, n, es, &H, &W, err)) return -1;
    const unsigned char *data = buf + hd.data_offset;
    float *m = xmalloc((size_t)H * (size_t)W * sizeof(float));
    for (size_t r = 0; r < (size_t)H; r++)
        for (size_t c = 0; c < (size_t)W; c++) {
            // Fortran order: column-major, element (r, c) at c * H + r (leading 1s add nothing)
            const size_t k = hd.fortran_order ? c * (size_t)H + r : r * (size_t)W + c;
            if (element(data, k, es, &m[r * (size_t)W + c])) {
                free(m);
                return pc_fail(err, "a float64 value at (row %zu, column %zu) beyond float32's range", r, c);
            }
        }
    *map = m, *h = H, *w = W;
    return 0;
}
