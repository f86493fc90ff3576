// safetensors.c: safetensors reader and writer. A safetensors file is an 8-byte little-endian header
// length, a JSON object {"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}} and
// the raw tensor bytes. The reader maps the file and checks every header field against the file
// before any tensor can be touched, so a damaged file gives one error line, never a crash.
#define _GNU_SOURCE
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

// Headers larger than this are not weight files (the safetensors library caps them at 100 MB).
#define ST_MAX_HEADER (100u << 20)
#define ST_MAX_DEPTH 64

static size_t dtype_size(PcDtype dt) {
    switch (dt) {
    case PC_DT_F32: return 4;
    case PC_DT_F16: return 2;
    case PC_DT_BF16: return 2;
    case PC_DT_I64: return 8;
    }
    return 0;
}

static int dtype_from_name(const char *s, PcDtype *dt) {
    static const PcDtype all[] = {PC_DT_F32, PC_DT_F16, PC_DT_BF16, PC_DT_I64};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (strcmp(s, pc_dtype_name(all[i])) == 0) {
            *dt = all[i];
            return 0;
        }
    }
    return -1;
}

// ---- strict JSON parsing of the header -------------------------------------------------------

typedef struct {
    const char *s;      // header text (not NUL-terminated)
    size_t n, pos;
    const char *path;
    PcError *err;
} JsonCursor;

static int json_fail(JsonCursor *c, const char *what) {
    return pc_fail(c->err, "%s: corrupt safetensors header: %s at byte %zu", c->path, what,
                   c->pos + 8);
}

static void json_ws(JsonCursor *c) {
    while (c->pos < c->n && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t' ||
                             c->s[c->pos] == '\n' || c->s[c->pos] == '\r'))
        c->pos++;
}

static int json_expect(JsonCursor *c, char ch) {
    json_ws(c);
    if (c->pos >= c->n || c->s[c->pos] != ch) {
        char what[32];
        snprintf(what, sizeof what, "expected '%c'", ch);
        return json_fail(c, what);
    }
    c->pos++;
    return 0;
}

// Peeks the next non-space character (0 at the end).
static char json_peek(JsonCursor *c) {
    json_ws(c);
    return c->pos < c->n ? c->s[c->pos] : 0;
}

static void utf8_put(char *out, size_t *len, unsigned cp) {
    if (cp < 0x80) {
        out[(*len)++] = (char)cp;
    } else if (cp < 0x800) {
        out[(*len)++] = (char)(0xC0 | (cp >> 6));
        out[(*len)++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out[(*len)++] = (char)(0xE0 | (cp >> 12));
        out[(*len)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*len)++] = (char)(0x80 | (cp & 0x3F));
    } else {
        out[(*len)++] = (char)(0xF0 | (cp >> 18));
        out[(*len)++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        out[(*len)++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[(*len)++] = (char)(0x80 | (cp & 0x3F));
    }
}

static int hex4(JsonCursor *c, unsigned *out) {
    if (c->pos + 4 > c->n) return json_fail(c, "short \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char h = c->s[c->pos++];
        v <<= 4;
        if (h >= '0' && h <= '9') v |= (unsigned)(h - '0');
        else if (h >= 'a' && h <= 'f') v |= (unsigned)(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F') v |= (unsigned)(h - 'A' + 10);
        else return json_fail(c, "bad \\u escape");
    }
    *out = v;
    return 0;
}

// Parses a string; *out is malloc'd (NULL when out is NULL: the string is only skipped).
static int json_string(JsonCursor *c, char **out) {
    if (json_expect(c, '"')) return -1;
    // Decoded text is never longer than the encoded text.
    size_t start = c->pos, len = 0;
    char *buf = NULL;
    size_t end = start;
    while (end < c->n && c->s[end] != '"') end += (c->s[end] == '\\') ? 2 : 1;
    if (end >= c->n) return json_fail(c, "unterminated string");
    buf = xmalloc(end - start + 1);
    while (c->pos < end && c->s[c->pos] != '"') {
        unsigned char ch = (unsigned char)c->s[c->pos++];
        if (ch < 0x20) {
            free(buf);
            return json_fail(c, "control character in string");
        }
        if (ch != '\\') {
            buf[len++] = (char)ch;
            continue;
        }
        char e = c->s[c->pos++];
        switch (e) {
        case '"': buf[len++] = '"'; break;
        case '\\': buf[len++] = '\\'; break;
        case '/': buf[len++] = '/'; break;
        case 'b': buf[len++] = '\b'; break;
        case 'f': buf[len++] = '\f'; break;
        case 'n': buf[len++] = '\n'; break;
        case 'r': buf[len++] = '\r'; break;
        case 't': buf[len++] = '\t'; break;
        case 'u': {
            unsigned cp;
            if (hex4(c, &cp)) {
                free(buf);
                return -1;
            }
            if (cp >= 0xD800 && cp < 0xDC00) {   // surrogate pair
                unsigned lo;
                if (c->pos + 2 > c->n || c->s[c->pos] != '\\' || c->s[c->pos + 1] != 'u') {
                    free(buf);
                    return json_fail(c, "unpaired surrogate");
                }
                c->pos += 2;
                if (hex4(c, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    free(buf);
                    return json_fail(c, "unpaired surrogate");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            // A \u escape (6 bytes) never decodes to more than 4 bytes, so buf stays big enough.
            utf8_put(buf, &len, cp);
            break;
        }
        default:
            free(buf);
            return json_fail(c, "bad escape in string");
        }
    }
    if (c->pos != end) {
        free(buf);
        return json_fail(c, "bad string");
    }
    c->pos++;   // closing quote
    buf[len] = 0;
    if (memchr(buf, 0, len)) {
        free(buf);
        return json_fail(c, "NUL in string");
    }
    if (out) *out = buf;
    else free(buf);
    return 0;
}

// Non-negative integer without sign, fraction or exponent (shapes and offsets).
static int json_uint(JsonCursor *c, int64_t *out) {
    json_ws(c);
    size_t p = c->pos;
    if (p >= c->n || c->s[p] < '0' || c->s[p] > '9') return json_fail(c, "expected an unsigned integer");
    uint64_t v = 0;
    while (p < c->n && c->s[p] >= '0' && c->s[p] <= '9') {
        if (v > (uint64_t)INT64_MAX / 10) return json_fail(c, "integer too large");
        v = v * 10 + (uint64_t)(c->s[p] - '0');
        if (v > (uint64_t)INT64_MAX) return json_fail(c, "integer too large");
        p++;
    }
    if (p < c->n && (c->s[p] == '.' || c->s[p] == 'e' || c->s[p] == 'E'))
        return json_fail(c, "expected an integer, got a fraction");
    if (p - c->pos > 1 && c->s[c->pos] == '0') return json_fail(c, "leading zero in integer");
    c->pos = p;
    *out = (int64_t)v;
    return 0;
}

// Skips any JSON value (used for __metadata__).
static int json_skip_value(JsonCursor *c, int depth) {
    if (depth > ST_MAX_DEPTH) return json_fail(c, "nesting too deep");
    char ch = json_peek(c);
    if (ch == '"') return json_string(c, NULL);
    if (ch == '{' || ch == '[') {
        char close = ch == '{' ? '}' : ']';
        c->pos++;
        if (json_peek(c) == close) {
            c->pos++;
            return 0;
        }
        for (;;) {
            if (ch == '{') {
                if (json_string(c, NULL) || json_expect(c, ':')) return -1;
            }
            if (json_skip_value(c, depth + 1)) return -1;
            char nx = json_peek(c);
            if (nx == ',') {
                c->pos++;
                continue;
            }
            if (nx == close) {
                c->pos++;
                return 0;
            }
            return json_fail(c, "expected ',' or a closing bracket");
        }
    }
    static const char *const words[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++) {
        size_t l = strlen(words[i]);
        if (c->pos + l <= c->n && memcmp(c->s + c->pos, words[i], l) == 0) {
            c->pos += l;
            return 0;
        }
    }
    // number: -?digits(.digits)?([eE][+-]?digits)?
    size_t p = c->pos;
    if (p < c->n && c->s[p] == '-') p++;
    size_t d0 = p;
    while (p < c->n && c->s[p] >= '0' && c->s[p] <= '9') p++;
    if (p == d0) return json_fail(c, "unexpected character");
    if (p < c->n && c->s[p] == '.') {
        p++;
        size_t f0 = p;
        while (p < c->n && c->s[p] >= '0' && c->s[p] <= '9') p++;
        if (p == f0) return json_fail(c, "bad number");
    }
    if (p < c->n && (c->s[p] == 'e' || c->s[p] == 'E')) {
        p++;
        if (p < c->n && (c->s[p] == '+' || c->s[p] == '-')) p++;
        size_t e0 = p;
        while (p < c->n && c->s[p] >= '0' && c->s[p] <= '9') p++;
        if (p == e0) return json_fail(c, "bad number");
    }
    c->pos = p;
    return 0;
}

// 1 when a decoded string holds a control character ("\n" and the like are legal JSON escapes):
// tensor names, keys and dtypes are quoted in one-line messages, so such a string is refused.
static int has_control(const char *s) {
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f) return 1;
    return 0;
}

// The value of a tensor entry's "dtype" key: F32, F16, BF16 or I64.
static int json_tensor_dtype(JsonCursor *c, PcTensor *t) {
    char *dt = NULL;
    if (json_string(c, &dt)) return -1;
    if (has_control(dt)) {
        free(dt);
        return json_fail(c, "control character in a dtype");
    }
    if (dtype_from_name(dt, &t->dtype)) {
        pc_fail(c->err, "%s: tensor '%s': unsupported dtype %s (F32, F16, BF16, I64 accepted)", c->path, t->name,
                dt);
        free(dt);
        return -1;
    }
    free(dt);
    return 0;
}

// The value of a tensor entry's "shape" key: [d0, d1, ...], at most PC_MAX_DIMS non-negative
// integers ([] is a scalar).
static int json_tensor_shape(JsonCursor *c, PcTensor *t) {
    if (json_expect(c, '[')) return -1;
    t->ndim = 0;
    if (json_peek(c) == ']') {
        c->pos++;
        return 0;
    }
    for (;;) {
        int64_t d;
        if (t->ndim == PC_MAX_DIMS)
            return pc_fail(c->err, "%s: tensor '%s': more than %d dimensions", c->path, t->name, PC_MAX_DIMS);
        if (json_uint(c, &d)) return -1;
        t->shape[t->ndim++] = d;
        char nx = json_peek(c);
        if (nx == ',') {
            c->pos++;
            continue;
        }
        if (nx == ']') {
            c->pos++;
            return 0;
        }
        return json_fail(c, "expected ',' or ']' in shape");
    }
}

// One "key": value pair of a tensor entry; have[0..2] mark dtype, shape and data_offsets seen (a
// key that is unknown or seen before is an error).
static int json_tensor_key(JsonCursor *c, PcTensor *t, int64_t offs[2], int have[3]) {
    char *key = NULL;
    if (json_string(c, &key)) return -1;
    int rc;
    if (has_control(key)) {
        rc = json_fail(c, "control character in a key");
    } else if (json_expect(c, ':')) {
        rc = -1;
    } else if (strcmp(key, "dtype") == 0 && !have[0]) {
        rc = json_tensor_dtype(c, t);
        have[0] = 1;
    } else if (strcmp(key, "shape") == 0 && !have[1]) {
        rc = json_tensor_shape(c, t);
        have[1] = 1;
    } else if (strcmp(key, "data_offsets") == 0 && !have[2]) {
        int bad = json_expect(c, '[') || json_uint(c, &offs[0]) || json_expect(c, ',') ||
                  json_uint(c, &offs[1]) || json_expect(c, ']');
        rc = bad ? -1 : 0;
        have[2] = 1;
    } else {
        rc = pc_fail(c->err, "%s: tensor '%s': unexpected or repeated key '%s' in header", c->path, t->name, key);
    }
    free(key);
    return rc;
}

// Parses one tensor entry {"dtype": "F32", "shape": [..], "data_offsets": [a, b]} into t and
// its offsets; the name is already set. Every key must appear exactly once.
static int json_tensor(JsonCursor *c, PcTensor *t, int64_t offs[2]) {
    if (json_expect(c, '{')) return -1;
    int have[3] = {0, 0, 0};   // dtype, shape, data_offsets
    if (json_peek(c) != '}') {
        for (;;) {
            if (json_tensor_key(c, t, offs, have)) return -1;
            char nx = json_peek(c);
            if (nx == ',') {
                c->pos++;
                continue;
            }
            if (nx == '}') break;
            return json_fail(c, "expected ',' or '}' in tensor entry");
        }
    }
    c->pos++;   // '}'
    if (!have[0] || !have[1] || !have[2])
        return pc_fail(c->err, "%s: tensor '%s': header entry lacks %s", c->path, t->name,
                       !have[0] ? "dtype" : !have[1] ? "shape" : "data_offsets");
    return 0;
}

// Checks an entry against the data section: offsets ordered and inside it, size = numel * dtype.
static int check_tensor_bounds(const char *path, PcTensor *t, const int64_t offs[2],
                               uint64_t data_size, PcError *err) {
    uint64_t numel = 1;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim = (uint64_t)t->shape[d];
        if (dim && numel > UINT64_MAX / 16 / dim)
            return pc_fail(err, "%s: tensor '%s': shape too large", path, t->name);
        numel *= dim;
    }
    t->numel = (int64_t)numel;
    if (offs[0] > offs[1])
        return pc_fail(err, "%s: tensor '%s': data_offsets [%lld, %lld] are reversed", path, t->name,
                       (long long)offs[0], (long long)offs[1]);
    if ((uint64_t)offs[1] > data_size)
        return pc_fail(err, "%s: tensor '%s': data_offsets [%lld, %lld] beyond the %llu data bytes of the file",
                       path, t->name, (long long)offs[0], (long long)offs[1],
                       (unsigned long long)data_size);
    uint64_t want = numel * dtype_size(t->dtype);
    if ((uint64_t)(offs[1] - offs[0]) != want)
        return pc_fail(err, "%s: tensor '%s': data_offsets span %lld bytes, shape and dtype %s need %llu",
                       path, t->name, (long long)(offs[1] - offs[0]), pc_dtype_name(t->dtype),
                       (unsigned long long)want);
    return 0;
}

static int cmp_name_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int parse_header(const char *path, const char *hdr, size_t hdr_len, const unsigned char *data,
                        uint64_t data_size, PcStateDict *sd, PcError *err) {
    JsonCursor c = {hdr, hdr_len, 0, path, err};
    if (json_expect(&c, '{')) return -1;
    int cap = 64;
    sd->tensors = xcalloc((size_t)cap, sizeof(PcTensor));
    sd->n = 0;
    if (json_peek(&c) == '}') {
        c.pos++;
    } else {
        for (;;) {
            char *name = NULL;
            if (json_string(&c, &name)) return -1;
            if (has_control(name) || json_expect(&c, ':')) {
                int bad = has_control(name);
                free(name);
                return bad ? json_fail(&c, "control character in a tensor name") : -1;
            }
            if (strcmp(name, "__metadata__") == 0) {
                free(name);
                if (json_peek(&c) != '{') return json_fail(&c, "__metadata__ is not an object");
                if (json_skip_value(&c, 0)) return -1;
            } else {
                if (sd->n == cap) {
                    cap *= 2;
                    sd->tensors = realloc(sd->tensors, (size_t)cap * sizeof(PcTensor));
                    if (!sd->tensors) pc_die("alloc", "realloc", __FILE__, __LINE__, "tensor table");
                }
                PcTensor *t = &sd->tensors[sd->n++];
                memset(t, 0, sizeof *t);
                t->name = name;
                int64_t offs[2];
                if (json_tensor(&c, t, offs)) return -1;
                if (check_tensor_bounds(path, t, offs, data_size, err)) return -1;
                t->data = data + offs[0];
            }
            char nx = json_peek(&c);
            if (nx == ',') {
                c.pos++;
                continue;
            }
            if (nx == '}') {
                c.pos++;
                break;
            }
            return json_fail(&c, "expected ',' or '}' after a tensor entry");
        }
    }
    json_ws(&c);
    if (c.pos != c.n) return json_fail(&c, "trailing bytes after the header object");
    // Repeated names, found on sorted names: a pairwise check is quadratic, and a header may
    // hold millions of entries.
    if (sd->n > 1) {
        const char **names = xmalloc((size_t)sd->n * sizeof *names);
        for (int i = 0; i < sd->n; i++) names[i] = sd->tensors[i].name;
        qsort(names, (size_t)sd->n, sizeof *names, cmp_name_ptr);
        const char *dup = NULL;
        for (int i = 1; i < sd->n && !dup; i++)
            if (strcmp(names[i - 1], names[i]) == 0) dup = names[i];
        int rc = dup ? pc_fail(err, "%s: tensor '%s' appears twice in the header", path, dup) : 0;
        free(names);
        if (rc) return rc;
    }
    return 0;
}

int pc_safetensors_open(const char *path, PcStateDict *sd, PcError *err) {
    memset(sd, 0, sizeof *sd);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pc_fail(err, "%s: cannot open (%s)", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return pc_fail(err, "%s: cannot stat (%s)", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return pc_fail(err, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    if (size < 8) {
        close(fd);
        return pc_fail(err, "%s: not a safetensors file (%zu bytes, shorter than the 8-byte header length)",
                       path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int map_errno = errno;
    close(fd);
    if (map == MAP_FAILED) return pc_fail(err, "%s: cannot map (%s)", path, strerror(map_errno));
    sd->map = map;
    sd->map_size = size;
    sd->path = strdup(path);

    const unsigned char *bytes = map;
    uint64_t hdr_len = 0;
    for (int i = 7; i >= 0; i--) hdr_len = (hdr_len << 8) | bytes[i];
    if (hdr_len > size - 8) {
        pc_fail(err, "%s: header length %llu runs past the end of the file (%zu bytes)", path,
                (unsigned long long)hdr_len, size);
        pc_state_dict_free(sd);
        return -1;
    }
    if (hdr_len > ST_MAX_HEADER || hdr_len < 2) {
        pc_fail(err, "%s: implausible header length %llu", path, (unsigned long long)hdr_len);
        pc_state_dict_free(sd);
        return -1;
    }
    if (parse_header(path, (const char *)bytes + 8, (size_t)hdr_len, bytes + 8 + hdr_len,
                     size - 8 - hdr_len, sd, err)) {
        pc_state_dict_free(sd);
        return -1;
    }
    return 0;
}

// ---- writer ----------------------------------------------------------------------------------

typedef struct {
    char *buf;
    size_t len, cap;
} StrBuf;

static void sb_put(StrBuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->buf = realloc(b->buf, b->cap);
        if (!b->buf) pc_die("alloc", "realloc", __FILE__, __LINE__, "header buffer");
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = 0;
}

static void sb_printf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(StrBuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_put(b, tmp, (size_t)n);
}

static void sb_json_string(StrBuf *b, const char *s) {
    sb_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            char e[2] = {'\\', (char)ch};
            sb_put(b, e, 2);
        } else if (ch < 0x20) {
            sb_printf(b, "\\u%04x", ch);
        } else {
            sb_put(b, (const char *)&ch, 1);
        }
    }
    sb_put(b, "\"", 1);
}

int pc_safetensors_write(const char *path, const PcStateDict *sd, PcError *err) {
    StrBuf hdr = {0};
    sb_put(&hdr, "{", 1);
    uint64_t off = 0;
    for (int i = 0; i < sd->n; i++) {
        const PcTensor *t = &sd->tensors[i];
        if (t->dtype != PC_DT_F32 && t->dtype != PC_DT_I64) {
            free(hdr.buf);
            return pc_fail(err, "%s: tensor '%s': cannot write dtype %s (F32 and I64 only)", path,
                           t->name, pc_dtype_name(t->dtype));
        }
        if (!t->data && t->numel) {
            free(hdr.buf);
            return pc_fail(err, "%s: tensor '%s' has no data", path, t->name);
        }
        uint64_t bytes = (uint64_t)t->numel * dtype_size(t->dtype);
        if (i) sb_put(&hdr, ",", 1);
        sb_json_string(&hdr, t->name);
        sb_printf(&hdr, ":{\"dtype\":\"%s\",\"shape\":[", pc_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) sb_printf(&hdr, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        sb_printf(&hdr, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                  (unsigned long long)(off + bytes));
        off += bytes;
    }
    sb_put(&hdr, "}", 1);
    // The safetensors library pads the header with spaces so the data starts 8-byte aligned.
    while (hdr.len % 8) sb_put(&hdr, " ", 1);

    FILE *f = fopen(path, "wb");
    if (!f) {
        free(hdr.buf);
        return pc_fail(err, "%s: cannot create (%s)", path, strerror(errno));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hdr.len >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr.buf, 1, hdr.len, f) == hdr.len;
    for (int i = 0; ok && i < sd->n; i++) {
        const PcTensor *t = &sd->tensors[i];
        size_t bytes = (size_t)t->numel * dtype_size(t->dtype);
        ok = fwrite(t->data, 1, bytes, f) == bytes;
    }
    free(hdr.buf);
    if (fclose(f) != 0) ok = 0;
    if (!ok) return pc_fail(err, "%s: write failed (%s)", path, strerror(errno));
    return 0;
}
