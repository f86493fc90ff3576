// test_pth.c: the torch.save (.pth) reader (host/nets/pth.c, pth_pickle.c) through pc_weights_open.
// Good files: tests/fixtures/pth/*.pth and data/models/synth_resnet.pth, written by torch 1.13
// (tools/make_pth_fixtures.py) from the safetensors models: every tensor must equal the
// safetensors original (float16: within half rounding), views.pth must give the values of the
// rule base[i, j] = 6 i + j + 0.5 the script used. Bad files: truncations and byte flips of a good
// file, and archives built here with libzip around hand-written pickles (os.system through
// REDUCE, 100000-deep nesting, a string claiming 2^31 bytes, unknown opcodes, lying sizes and
// strides, ...). Each must give one error line naming the file, never a crash or a large
// allocation (run it under PC_SANITIZE too).
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include "model.h"
#include "pth.h"
#include "pth_pickle.h"
#include "testutil.h"
#include "weights.h"
#include "safetensors.h"


// Opening must fail with one line naming the file and containing `needle` (NULL: any reason).
static void expect_fails(const char *path, const char *needle, const char *what) {
    PcStateDict sd;
    PcError err = {{0}};
    int rc = pc_weights_open(path, &sd, &err);
    CHECK(rc != 0, "%s: open succeeded", what);
    CHECK(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", what, err.msg);
    CHECK(strchr(err.msg, '\n') == NULL, "%s: message is more than one line: %s", what, err.msg);
    CHECK(!needle || strstr(err.msg, needle) != NULL, "%s: message lacks '%s': %s", what, needle, err.msg);
    if (rc == 0) pc_state_dict_free(&sd);
    printf("  %-34s -> %.200s\n", what, err.msg);
}

// ---- good files -------------------------------------------------------------------------------

// The .pth tensors against the safetensors file they were made from: same names in the same
// order, same shapes, F32 / I64; values equal, or within float16 rounding when `half`.
static void compare_with_safetensors(const char *pth_path, const char *st_path, int half) {
    char pth[4096], st[4096];   // fixture_path / data_path return static buffers: copy them
    snprintf(pth, sizeof pth, "%s", pth_path);
    snprintf(st, sizeof st, "%s", st_path);
    PcStateDict a, b;
    PcError err = {{0}};
    int rc = pc_weights_open(pth, &a, &err);
    CHECK(rc == 0, "%s: %s", pth, err.msg);
    if (rc) return;
    rc = pc_safetensors_open(st, &b, &err);
    CHECK(rc == 0, "%s: %s", st, err.msg);
    if (rc) {
        pc_state_dict_free(&a);
        return;
    }
    CHECK(a.n == b.n, "%s: %d tensors, the safetensors file has %d", pth, a.n, b.n);
    int bad_meta = 0, n_float = 0, n_long = 0;
    double max_rel = 0, max_abs = 0;
    for (int i = 0; i < a.n && i < b.n; i++) {
        const PcTensor *x = &a.tensors[i], *y = &b.tensors[i];
        int same = !strcmp(x->name, y->name) && x->ndim == y->ndim && x->numel == y->numel;
        for (int d = 0; same && d < x->ndim; d++) same = x->shape[d] == y->shape[d];
        same = same && (y->dtype == PC_DT_I64 ? x->dtype == PC_DT_I64 : x->dtype == PC_DT_F32);
        if (!same) {
            if (bad_meta++ < 3) printf("  tensor %d: %s vs %s differ in name, shape or dtype\n", i, x->name, y->name);
            continue;
        }
        if (x->dtype == PC_DT_I64) {
            n_long++;
            CHECK(!memcmp(x->data, y->data, (size_t)x->numel * 8), "%s: int64 tensor %s differs", pth, x->name);
            continue;
        }
        n_float++;
        for (int64_t k = 0; k < x->numel; k++) {
            double u = pc_tensor_get_f32(x, k), v = pc_tensor_get_f32(y, k), d = fabs(u - v);
            if (d > max_abs) max_abs = d;
            // float16 keeps 11 significant bits: relative error <= 2^-11, below 2^-14 absolute 2^-25.
            double rel = d / (fabs(v) + 0x1p-14);
            if (rel > max_rel) max_rel = rel;
        }
    }
    CHECK(bad_meta == 0, "%s: %d tensors differ in name, shape or dtype", pth, bad_meta);
    if (half) {
        CHECK(max_rel <= 0x1p-11 && max_abs > 0, "%s: float16 values off by up to %.3g relative (bound 2^-11)", pth,
              max_rel);
    } else {
        CHECK(max_abs == 0, "%s: values differ by up to %.3g", pth, max_abs);
    }
    printf("  %s: %d float + %d int64 tensors, max |diff| %.3g (rel %.3g)\n", pth, n_float, n_long, max_abs, max_rel);
    pc_state_dict_free(&a);
    pc_state_dict_free(&b);
}

static const PcTensor *get(const PcStateDict *sd, const char *name, PcDtype dt, int ndim, const int64_t *shape) {
    const PcTensor *t = pc_state_dict_get(sd, name);
    CHECK(t != NULL, "views.pth: no tensor %s", name);
    if (!t) return NULL;
    int ok = t->dtype == dt && t->ndim == ndim;
    for (int d = 0; ok && d < ndim; d++) ok = t->shape[d] == shape[d];
    CHECK(ok, "views.pth: %s has the wrong dtype or shape", name);
    return ok ? t : NULL;
}

// views.pth, legacy_views.pth: views of shared storages (tools/make_pth_fixtures.py, views_dict).
static void test_views(const char *file) {
    PcStateDict sd;
    PcError err = {{0}};
    int rc = pc_weights_open(fixture_path(file), &sd, &err);
    CHECK(rc == 0, "%s: %s", file, err.msg);
    if (rc) return;
#define BASE(i, j) ((float)((i) * 6 + (j)) + 0.5f)
    const PcTensor *t;
    int bad = 0;
    if ((t = get(&sd, "base", PC_DT_F32, 2, (int64_t[]){4, 6})))
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 6; j++) bad += pc_tensor_get_f32(t, i * 6 + j) != BASE(i, j);
    if ((t = get(&sd, "rows", PC_DT_F32, 2, (int64_t[]){2, 6})))   // base[1:3]: storage offset 6
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 6; j++) bad += pc_tensor_get_f32(t, i * 6 + j) != BASE(1 + i, j);
    if ((t = get(&sd, "t", PC_DT_F32, 2, (int64_t[]){6, 4})))      // base.t(): strides (1, 6)
        for (int j = 0; j < 6; j++)
            for (int i = 0; i < 4; i++) bad += pc_tensor_get_f32(t, j * 4 + i) != BASE(i, j);
    if ((t = get(&sd, "step", PC_DT_F32, 2, (int64_t[]){3, 3})))   // base[1:, ::2]: strides (6, 2)
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 3; b++) bad += pc_tensor_get_f32(t, a * 3 + b) != BASE(1 + a, 2 * b);
    if ((t = get(&sd, "elem", PC_DT_F32, 0, NULL))) bad += t->numel != 1 || pc_tensor_get_f32(t, 0) != BASE(2, 3);
    if ((t = get(&sd, "half", PC_DT_F32, 1, (int64_t[]){4})))      // float16 storage, offset 3
        for (int k = 0; k < 4; k++) bad += pc_tensor_get_f32(t, k) != 0.25f * (float)(3 + k);
    if ((t = get(&sd, "long", PC_DT_I64, 0, NULL))) {
        int64_t v;
        memcpy(&v, t->data, 8);
        bad += v != 4 * 1000000007LL;
    }
#undef BASE
    CHECK(bad == 0, "%s: %d values differ from the rule base[i, j] = 6 i + j + 0.5", file, bad);
    printf("  %s: %d tensors, views as in tools/make_pth_fixtures.py\n", file, sd.n);
    pc_state_dict_free(&sd);
}

// synth_resnet.pth loads into the demo network exactly as the safetensors file does.
static void test_net_load(void) {
    PcNet a, b;
    PcError err = {{0}};
    if (fixture_net_create("synth_resnet", &a, &err) || fixture_net_create("synth_resnet", &b, &err)) {
        CHECK(0, "synth_resnet: %s", err.msg);
        return;
    }
    PcStateDict sd;
    int rc = pc_weights_open(data_path("models/synth_resnet.pth"), &sd, &err);
    CHECK(rc == 0, "synth_resnet.pth: %s", err.msg);
    if (!rc) {
        rc = pc_net_load(&a, &sd, &err);
        CHECK(rc == 0, "synth_resnet.pth into the net: %s", err.msg);
        pc_state_dict_free(&sd);
    }
    rc = pc_weights_open(data_path("models/synth_resnet.safetensors"), &sd, &err);
    CHECK(rc == 0, "synth_resnet.safetensors through pc_weights_open: %s", err.msg);
    if (!rc) {
        CHECK(pc_net_load(&b, &sd, &err) == 0, "synth_resnet.safetensors into the net: %s", err.msg);
        pc_state_dict_free(&sd);
    }
    pc_net_free(&a);
    pc_net_free(&b);
}

// ---- archives built here ----------------------------------------------------------------------

typedef struct {
    unsigned char *p;
    size_t n, cap;
} Buf;

static void put(Buf *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap) b->cap = b->cap ? 2 * b->cap : 1024;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static void op(Buf *b, unsigned char c) { put(b, &c, 1); }
static void ops(Buf *b, const char *s) { put(b, s, strlen(s)); }
static void le32(Buf *b, uint32_t v) {
    unsigned char x[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16), (unsigned char)(v >> 24)};
    put(b, x, 4);
}
static void str(Buf *b, const char *s) {   // BINUNICODE
    op(b, 'X');
    le32(b, (uint32_t)strlen(s));
    ops(b, s);
}
static void bint(Buf *b, int32_t v) {      // BININT
    op(b, 'J');
    le32(b, (uint32_t)v);
}
static void global(Buf *b, const char *mod, const char *name) {
    op(b, 'c');
    ops(b, mod);
    op(b, '\n');
    ops(b, name);
    op(b, '\n');
}

// _rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, shape, stride, False, OrderedDict())
static void tensor(Buf *b, const char *cls, const char *key, int32_t numel, int32_t offset, int ndim,
                   const int32_t *shape, const int32_t *stride) {
    global(b, "torch._utils", "_rebuild_tensor_v2");
    op(b, '(');
    op(b, '(');
    str(b, "storage");
    global(b, "torch", cls);
    str(b, key);
    str(b, "cpu");
    bint(b, numel);
    op(b, 't');
    op(b, 'Q');
    bint(b, offset);
    op(b, '(');
    for (int d = 0; d < ndim; d++) bint(b, shape[d]);
    op(b, 't');
    op(b, '(');
    for (int d = 0; d < ndim; d++) bint(b, stride[d]);
    op(b, 't');
    op(b, 0x89);
    global(b, "collections", "OrderedDict");
    op(b, ')');
    op(b, 'R');
    op(b, 't');
    op(b, 'R');
}

// A state dict {"w": one tensor of storage "0"}: the pickle's start and end around the tensor.
static void dict_open(Buf *b) {
    ops(b, "\x80\x02");
    global(b, "collections", "OrderedDict");
    op(b, ')');
    op(b, 'R');
    str(b, "w");
}
static void dict_close(Buf *b) { ops(b, "s."); }

typedef struct {
    const char *name;
    const void *data;
    size_t n;
} Entry;

// Writes a zip archive of stored entries.
static void write_zip(const char *path, const Entry *e, int n) {
    int zerr;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &zerr);
    CHECK(z != NULL, "cannot create %s", path);
    if (!z) return;
    for (int i = 0; i < n; i++) {
        zip_source_t *s = zip_source_buffer(z, e[i].data, e[i].n, 0);
        zip_int64_t idx = zip_file_add(z, e[i].name, s, ZIP_FL_OVERWRITE);
        CHECK(idx >= 0, "zip_file_add %s", e[i].name);
        zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0);
    }
    CHECK(zip_close(z) == 0, "zip_close %s", path);
}

static const float FOUR[4] = {1, 2, 3, 4};

// An archive "archive/data.pkl" + "archive/data/0" (the four floats above).
static void write_pth(const char *path, const Buf *pkl) {
    Entry e[2] = {{"archive/data.pkl", pkl->p, pkl->n}, {"archive/data/0", FOUR, sizeof FOUR}};
    write_zip(path, e, 2);
}

// A pickle around one tensor of the 4-float storage.
static void one_tensor(Buf *b, const char *cls, int32_t numel, int32_t offset, int ndim, const int32_t *shape,
                       const int32_t *stride) {
    b->n = 0;
    dict_open(b);
    tensor(b, cls, "0", numel, offset, ndim, shape, stride);
    dict_close(b);
}

static void le64(Buf *b, uint64_t v) {
    le32(b, (uint32_t)v);
    le32(b, (uint32_t)(v >> 32));
}

// A legacy file as PyTorch 0.2 / 0.3 wrote them (torchvision's vgg16-397923af.pth): magic number,
// protocol 1001, system info, {"w": _rebuild_tensor(storage, offset, size, stride)} with 6-item
// persistent ids, the key list, then the storage (count, bytes). `numel_written` may lie. With py2:
// as Python 2 pickled it: str as SHORT_BINSTRING, OrderedDict([[key, value]]), a torch.cuda storage.
static int py2;
static void pystr(Buf *b, const char *s) {
    if (!py2) {
        str(b, s);
        return;
    }
    op(b, 'U');
    op(b, (unsigned char)strlen(s));
    ops(b, s);
}
static void write_legacy_v1(const char *path, int32_t offset, int32_t n, int32_t stride, uint64_t numel_written,
                            int cut) {
    Buf b = {0};
    put(&b, "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
    ops(&b, "\x80\x02M\xe9\x03.");   // 1001
    ops(&b, "\x80\x02}");
    pystr(&b, "little_endian");
    op(&b, 0x88);
    ops(&b, "s.");
    if (py2) {   // OrderedDict([["w", tensor]])
        ops(&b, "\x80\x02");
        global(&b, "collections", "OrderedDict");
        ops(&b, "](](");
        pystr(&b, "w");
    } else {
        dict_open(&b);
    }
    global(&b, "torch._utils", "_rebuild_tensor");
    op(&b, '(');
    op(&b, '(');
    pystr(&b, "storage");
    global(&b, py2 ? "torch.cuda" : "torch", "FloatStorage");
    pystr(&b, "93824");
    pystr(&b, "cuda:0");
    bint(&b, 4);
    op(&b, 'N');
    op(&b, 't');
    op(&b, 'Q');
    bint(&b, offset);
    bint(&b, n);
    op(&b, 0x85);
    bint(&b, stride);
    op(&b, 0x85);
    op(&b, 't');
    op(&b, 'R');
    if (py2) ops(&b, "ee\x85R.");   // APPENDS of the pair, APPENDS of the item list, 1-tuple, REDUCE
    else dict_close(&b);
    ops(&b, "\x80\x02]");
    pystr(&b, "93824");
    ops(&b, "a.");
    le64(&b, numel_written);
    put(&b, FOUR, sizeof FOUR);
    FILE *f = fopen(path, "wb");
    fwrite(b.p, 1, b.n - (size_t)cut, f);
    fclose(f);
    free(b.p);
}

static void test_legacy_v1(void) {
    char p[512];
    snprintf(p, sizeof p, "%s", test_tmp_path("legacy_v1.pth"));
    write_legacy_v1(p, 1, 2, 2, 4, 0);   // w = storage[1::2] = (2, 4)
    PcStateDict sd;
    PcError err = {{0}};
    int rc = pc_weights_open(p, &sd, &err);
    CHECK(rc == 0, "legacy file of PyTorch < 0.4 (_rebuild_tensor): %s", err.msg);
    if (!rc) {
        CHECK(sd.n == 1 && sd.tensors[0].numel == 2 && pc_tensor_get_f32(&sd.tensors[0], 0) == 2.0f &&
                  pc_tensor_get_f32(&sd.tensors[0], 1) == 4.0f,
              "legacy v1 view w = storage[1::2] should be (2, 4)");
        pc_state_dict_free(&sd);
    }
    write_legacy_v1(p, 1, 2, 2, 3, 0);
    expect_fails(p, "holds 3 elements, its tensors declare 4", "legacy: storage count lies");
    write_legacy_v1(p, 1, 2, 2, 5, 0);
    expect_fails(p, "runs past the end", "legacy: storage count too large");
    write_legacy_v1(p, 1, 2, 2, 1ull << 62, 0);
    expect_fails(p, "runs past the end", "legacy: storage count 2^62");
    write_legacy_v1(p, 1, 2, 2, 4, 1);
    expect_fails(p, "runs past the end", "legacy: last byte cut");
    write_legacy_v1(p, 3, 2, 2, 4, 0);
    expect_fails(p, "reach element 5", "legacy: view past the storage");
    py2 = 1;
    write_legacy_v1(p, 1, 2, 2, 4, 0);
    rc = pc_weights_open(p, &sd, &err);
    CHECK(rc == 0, "legacy file pickled by Python 2: %s", err.msg);
    if (!rc) {
        CHECK(sd.n == 1 && !strcmp(sd.tensors[0].name, "w") && sd.tensors[0].numel == 2 &&
                  pc_tensor_get_f32(&sd.tensors[0], 1) == 4.0f,
              "Python 2 legacy file: w = storage[1::2] should be (2, 4)");
        pc_state_dict_free(&sd);
    }
    py2 = 0;
}

// Dispatch: a safetensors file whose header length starts with the byte 0x80 (a pickle's first
// byte) or spells "PK" is still read as safetensors.
static void test_sniff(void) {
    PcStateDict sd;
    PcError err = {{0}};
    int rc = pc_safetensors_open(data_path("models/tiny_vgg.safetensors"), &sd, &err);
    CHECK(rc == 0, "tiny_vgg.safetensors: %s", err.msg);
    if (rc) return;
    const char *lens[2] = {"\x80\x02", "PK"};
    for (int k = 0; k < 2; k++) {
        char p[512];
        snprintf(p, sizeof p, "%s", test_tmp_path(k ? "pk.safetensors" : "x80.pth"));
        // {"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}} padded with spaces to the length.
        size_t len = (size_t)(unsigned char)lens[k][0] | (size_t)(unsigned char)lens[k][1] << 8;
        Buf b = {0};
        put(&b, lens[k], 2);
        put(&b, "\0\0\0\0\0\0", 6);
        ops(&b, "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        while (b.n < 8 + len) op(&b, ' ');
        put(&b, FOUR, 4);
        FILE *f = fopen(p, "wb");
        fwrite(b.p, 1, b.n, f);
        fclose(f);
        free(b.p);
        PcStateDict x;
        rc = pc_weights_open(p, &x, &err);
        CHECK(rc == 0, "safetensors with header length 0x%02x%02x read as safetensors: %s",
              (unsigned char)lens[k][1], (unsigned char)lens[k][0], err.msg);
        if (!rc) {
            CHECK(x.n == 1 && pc_tensor_get_f32(&x.tensors[0], 0) == 1.0f, "the tensor of %s", p);
            pc_state_dict_free(&x);
        }
    }
    pc_state_dict_free(&sd);
}

static void test_crafted_good(void) {
    Buf b = {0};
    const char *p = test_tmp_path("good.pth");
    one_tensor(&b, "FloatStorage", 4, 1, 1, (int32_t[]){2}, (int32_t[]){2});   // elements 1 and 3
    write_pth(p, &b);
    PcStateDict sd;
    PcError err = {{0}};
    int rc = pc_weights_open(p, &sd, &err);
    CHECK(rc == 0, "crafted good archive: %s", err.msg);
    if (!rc) {
        CHECK(sd.n == 1 && sd.tensors[0].numel == 2 && pc_tensor_get_f32(&sd.tensors[0], 0) == 2.0f &&
                  pc_tensor_get_f32(&sd.tensors[0], 1) == 4.0f,
              "crafted view w = storage[1::2] should be (2, 4)");
        pc_state_dict_free(&sd);
    }
    free(b.p);
}

// os.system through REDUCE: refused at the GLOBAL, before anything could call it.
static void hostile_reduce(Buf *b, const char *p, const char *pwned) {
    b->n = 0;
    ops(b, "\x80\x02}");
    str(b, "w");
    global(b, "os", "system");
    str(b, "touch ");
    ops(b, pwned);
    op(b, 0x85);
    ops(b, "Rs.");
    write_pth(p, b);
    expect_fails(p, "os.system", "GLOBAL os system + REDUCE");
    CHECK(access(pwned, F_OK) != 0, "os.system was executed");
    expect_fails(fixture_path("pth/reduce_os_system.pth"), "posix.system", "torch.save of a __reduce__");
}

// GLOBALs outside the allow-list, and a float64 storage.
static void hostile_globals(Buf *b, const char *p) {
    const char *forbidden[][2] = {{"builtins", "eval"}, {"__builtin__", "getattr"}, {"torch._utils", "_rebuild_tensor"},
                                  {"torch", "load"}, {"collections", "defaultdict"}};
    for (size_t i = 0; i < sizeof forbidden / sizeof forbidden[0]; i++) {
        b->n = 0;
        ops(b, "\x80\x02");
        global(b, forbidden[i][0], forbidden[i][1]);
        ops(b, ")R.");
        write_pth(p, b);
        expect_fails(p, forbidden[i][1], forbidden[i][1]);
    }
    one_tensor(b, "DoubleStorage", 4, 0, 1, (int32_t[]){4}, (int32_t[]){1});
    write_pth(p, b);
    expect_fails(p, "torch.DoubleStorage", "float64 storage");
}

// Sizes meant to exhaust the reader: deep nesting, huge lengths and memo indices.
static void hostile_sizes(Buf *b, const char *p) {
    // 100000 MARKs then 100000 TUPLEs.
    b->n = 0;
    ops(b, "\x80\x02");
    for (int i = 0; i < 100000; i++) op(b, '(');
    for (int i = 0; i < 100000; i++) op(b, 't');
    op(b, '.');
    write_pth(p, b);
    expect_fails(p, "nested too deep", "MARK x 100000");
    // A tuple nested 20000 deep without MARKs (TUPLE1): built without recursion, then refused;
    // 10^6 deep: 40 bytes of objects per byte of pickle, past the reader's memory limit.
    for (int deep = 20000; deep <= 1000000; deep *= 50) {
        b->n = 0;
        ops(b, "\x80\x02)");
        for (int i = 0; i < deep; i++) op(b, 0x85);
        op(b, '.');
        write_pth(p, b);
        expect_fails(p, deep < 100000 ? "not a state dict" : "bytes of memory, the limit (16 times",
                     deep < 100000 ? "TUPLE1 x 20000" : "TUPLE1 x 1000000");
    }
    // BINUNICODE claiming 2^31 bytes.
    b->n = 0;
    ops(b, "\x80\x02}X");
    le32(b, 0x80000000u);
    ops(b, "abc");
    write_pth(p, b);
    expect_fails(p, "longer than the rest", "BINUNICODE of 2^31 bytes");
    // LONG_BINPUT at index 2^32 - 16.
    b->n = 0;
    ops(b, "\x80\x02}r");
    le32(b, 0xFFFFFFF0u);
    op(b, '.');
    write_pth(p, b);
    expect_fails(p, "memo index beyond", "LONG_BINPUT 2^32-16");
}

// Short malformed pickles: {the pickle, what the message must say, the case}.
static void hostile_opcodes(Buf *b, const char *p) {
    static const char *const cases[][3] = {
        {"\x80\x02}h\x05.", "memo entry", "BINGET before BINPUT"},
        // Opcodes torch.save does not write: FRAME (protocol 4), INST, REDUCE-less BUILD tricks.
        {"\x80\x02\x95", "opcode 0x95", "unknown opcode FRAME"},
        {"\x80\x02}iposix\nsystem\n.", "opcode 0x69", "INST"},
        {"\x80\x04}.", "protocol", "protocol 4"},
        {"\x80\x02s.", "underflow", "SETITEM on an empty stack"},
        {"\x80\x02}(s.", "underflow", "pop below a MARK"},
        {"\x80\x02}", "before its STOP", "no STOP"},
        {"\x80\x02]K\x01" "a.", "not a state dict", "a list"},
        // Empty MARK groups (legal pickles; once memcpy(NULL, .., 0) under UBSan).
        {"\x80\x02(t.", "holds a tuple, not a state dict", "() as MARK + TUPLE"},
        {"\x80\x02](e.", "holds a list, not a state dict", "APPENDS of nothing"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        b->n = 0;
        ops(b, cases[i][0]);
        write_pth(p, b);
        expect_fails(p, cases[i][1], cases[i][2]);
    }
    b->n = 0;
    ops(b, "\x80\x02}");
    str(b, "w");
    ops(b, "K\x01s.");
    write_pth(p, b);
    expect_fails(p, "not a tensor", "an int in the dict");
}

// Lying tensors and storages.
static void hostile_tensors(Buf *b, const char *p) {
    one_tensor(b, "FloatStorage", 8, 0, 1, (int32_t[]){8}, (int32_t[]){1});
    write_pth(p, b);
    expect_fails(p, "holds 16 bytes", "storage shorter than declared");
    one_tensor(b, "FloatStorage", 4, 2, 1, (int32_t[]){3}, (int32_t[]){1});
    write_pth(p, b);
    expect_fails(p, "reach element 4", "view past the storage end");
    one_tensor(b, "FloatStorage", 4, 0, 2, (int32_t[]){2, 2}, (int32_t[]){3, 1});
    write_pth(p, b);
    expect_fails(p, "reach element", "strides past the storage end");
    // Zero strides over one element: 2^40 elements (4 TiB) or 2^60 from a file of 1 kB.
    one_tensor(b, "FloatStorage", 4, 0, 2, (int32_t[]){1 << 20, 1 << 20}, (int32_t[]){0, 0});
    write_pth(p, b);
    expect_fails(p, "times the file's size", "zero-stride view of 2^40 elements");
    one_tensor(b, "FloatStorage", 4, 0, 2, (int32_t[]){1 << 30, 1 << 30}, (int32_t[]){0, 0});
    write_pth(p, b);
    expect_fails(p, "too large", "zero-stride view of 2^60 elements");
    b->n = 0;
    dict_open(b);
    tensor(b, "FloatStorage", "1", 4, 0, 1, (int32_t[]){4}, (int32_t[]){1});
    dict_close(b);
    write_pth(p, b);
    expect_fails(p, "archive/data/1 is missing", "storage record missing");
    b->n = 0;
    dict_open(b);
    tensor(b, "FloatStorage", "../0", 4, 0, 1, (int32_t[]){4}, (int32_t[]){1});
    dict_close(b);
    write_pth(p, b);
    expect_fails(p, "not a plain name", "storage key ../0");
    // Newlines in names would split the one-line messages that quote them (fuzz_pickle:
    // tests/fuzz/crashes/pickle/storage_key_newline).
    b->n = 0;
    dict_open(b);
    tensor(b, "FloatStorage", "0\n1", 4, 0, 1, (int32_t[]){4}, (int32_t[]){1});
    dict_close(b);
    write_pth(p, b);
    expect_fails(p, "not a plain name", "storage key with a newline");
    b->n = 0;
    ops(b, "\x80\x02");
    global(b, "collections", "OrderedDict");
    ops(b, ")R");
    str(b, "w\nx");
    tensor(b, "FloatStorage", "0", 4, 0, 1, (int32_t[]){4}, (int32_t[]){1});
    dict_close(b);
    write_pth(p, b);
    expect_fails(p, "holds a newline", "state-dict key with a newline");
    b->n = 0;   // {"w": t, "w": t}
    dict_open(b);
    tensor(b, "FloatStorage", "0", 4, 0, 1, (int32_t[]){4}, (int32_t[]){1});
    op(b, 's');
    str(b, "w");
    tensor(b, "FloatStorage", "0", 4, 0, 1, (int32_t[]){4}, (int32_t[]){1});
    dict_close(b);
    write_pth(p, b);
    expect_fails(p, "appears twice", "a name twice");
}

static void test_hostile_pickles(void) {
    Buf b = {0};
    char p[512], pwned[512];
    snprintf(p, sizeof p, "%s", test_tmp_path("bad.pth"));
    snprintf(pwned, sizeof pwned, "%s", test_tmp_path("pwned"));
    hostile_reduce(&b, p, pwned);
    hostile_globals(&b, p);
    hostile_sizes(&b, p);
    hostile_opcodes(&b, p);
    hostile_tensors(&b, p);
    free(b.p);
}

static void test_bad_archives(void) {
    char p[512];
    snprintf(p, sizeof p, "%s", test_tmp_path("arch.pth"));
    FILE *f = fopen(p, "wb");
    fwrite("\x80\x02}q\x00.", 1, 6, f);
    fclose(f);
    expect_fails(p, "bare pickle", "a bare pickle");
    f = fopen(p, "wb");
    fwrite("not a zip at all", 1, 16, f);
    fclose(f);
    expect_fails(p, "neither", "text with a .pth name");
    Entry ts[2] = {{"m/constants.pkl", "\x80\x02).", 4}, {"m/code/__torch__/m.py", "pass", 4}};
    write_zip(p, ts, 2);
    expect_fails(p, "TorchScript", "a TorchScript archive");
    Entry other[1] = {{"readme.txt", "hello", 5}};
    write_zip(p, other, 1);
    expect_fails(p, "without <name>/data.pkl", "a zip without data.pkl");
}

// Every truncation of a good file must fail cleanly; so must byte flips in the pickle, the
// storages and the zip directory (a flip may also land in a byte nobody checks, e.g. a time stamp:
// then the file must still load).
// Legacy files have no checksum: a flip in a storage's bytes changes a value unnoticed, so for
// them only clean failures are required.
static void test_damaged(const char *file, int checksummed) {
    size_t size;
    PcError err = {{0}};
    unsigned char *good = pc_read_file(fixture_path(file), &size, &err);
    CHECK(good != NULL, "%s: %s", file, err.msg);
    if (!good) return;
    char p[512];
    snprintf(p, sizeof p, "%s", test_tmp_path("cut.pth"));
    PcStateDict ref;
    int rc0 = pc_weights_open(fixture_path(file), &ref, &err);
    CHECK(rc0 == 0, "%s: %s", file, err.msg);
    if (rc0) {
        free(good);
        return;
    }
    int n_changed = 0;
    int n_cut = 0, n_flip = 0, n_flip_failed = 0;
    for (size_t len = 0; len < size; len += (len < 64 || len > size - 64) ? 1 : 7) {
        FILE *f = fopen(p, "wb");
        fwrite(good, 1, len, f);
        fclose(f);
        PcStateDict sd;
        int rc = pc_weights_open(p, &sd, &err);
        CHECK(rc != 0, "%s cut to %zu of %zu bytes opened", file, len, size);
        CHECK(rc != 0 || strstr(err.msg, p), "cut to %zu: message does not name the file: %s", len, err.msg);
        if (rc == 0) pc_state_dict_free(&sd);
        n_cut++;
    }
    printf("  %s: %d truncations refused, e.g. -> %.160s\n", file, n_cut, err.msg);
    unsigned char *bad = xmalloc(size);
    for (size_t at = 0; at < size; at++) {
        memcpy(bad, good, size);
        bad[at] ^= 0x5a;
        FILE *f = fopen(p, "wb");
        fwrite(bad, 1, size, f);
        fclose(f);
        PcStateDict sd;
        err.msg[0] = 0;
        int rc = pc_weights_open(p, &sd, &err);
        n_flip++;
        if (rc) {
            n_flip_failed++;
            CHECK(strstr(err.msg, p) && !strchr(err.msg, '\n'), "flip at %zu: bad message: %s", at, err.msg);
        } else {   // a harmless flip: the tensors are those of the good file
            int same = sd.n == ref.n;
            for (int i = 0; same && i < sd.n; i++)
                same = !strcmp(sd.tensors[i].name, ref.tensors[i].name) && sd.tensors[i].numel == ref.tensors[i].numel &&
                       !memcmp(sd.tensors[i].data, ref.tensors[i].data, (size_t)sd.tensors[i].numel * (sd.tensors[i].dtype == PC_DT_I64 ? 8 : 4));
            n_changed += !same;
            pc_state_dict_free(&sd);
        }
    }
    CHECK(!checksummed || n_changed == 0, "%d byte flips changed the tensors without an error", n_changed);
    pc_state_dict_free(&ref);
    printf("  %s: %d single-byte flips: %d refused, %d loaded (%d of them with other values)\n", file, n_flip,
           n_flip_failed, n_flip - n_flip_failed, n_changed);
    // The data bytes are CRC-protected: a flip inside any stored record is always caught.
    CHECK(!checksummed || n_flip_failed > (int)size / 2, "only %d of %d flips were noticed", n_flip_failed, n_flip);
    free(bad);
    free(good);
}

// ---- memory and time of hostile pickles ---------------------------------------------------------

#if defined(__SANITIZE_ADDRESS__)
#define PC_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PC_UNDER_ASAN 1
#endif
#endif

// This process's resident memory now (VmRSS of /proc/self/status), bytes; 0 when unknown.
static double rss_now(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lf kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb * 1024.0;
}

// Opens path in a child process (its own peak RSS, from wait4): it must be refused in one line
// naming the file and `needle`, with a peak RSS of at most 8 times the file's size + 64 MiB on top
// of the pages the child starts with. Those are this process's resident pages at the fork (a
// fork's high-water mark starts there): a few MiB here, about 100 MiB on a machine whose malloc
// kept the earlier tests' buffers (CI, 2026-12-07), so they are measured, not assumed. Under ASan
// (shadow memory, quarantine) the RSS bound is not checked.
static void expect_fails_small(const char *path, size_t file_size, const char *needle, const char *what) {
    int fd[2];
    if (pipe(fd) != 0) {
        CHECK(0, "pipe");
        return;
    }
    fflush(stdout);
    const double start = rss_now();
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        PcStateDict sd;
        PcError err = {{0}};
        int rc = pc_weights_open(path, &sd, &err);
        if (write(fd[1], err.msg, strlen(err.msg)) < 0) _exit(3);
        _exit(rc ? 1 : 0);
    }
    close(fd[1]);
    char msg[sizeof(((PcError *)0)->msg) + 1];
    size_t got = 0;
    ssize_t k;
    while (got < sizeof msg - 1 && (k = read(fd[0], msg + got, sizeof msg - 1 - got)) > 0) got += (size_t)k;
    msg[got] = 0;
    close(fd[0]);
    int status = 0;
    struct rusage ru;
    CHECK(wait4(pid, &status, 0, &ru) == pid, "%s: wait4", what);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 1, "%s: the child did not fail cleanly (status %d)", what, status);
    CHECK(strstr(msg, path) && !strchr(msg, '\n'), "%s: not one line naming the file: %s", what, msg);
    CHECK(strstr(msg, needle) != NULL, "%s: message lacks '%s': %s", what, needle, msg);
    double peak = (double)ru.ru_maxrss * 1024.0, bound = start + 8.0 * (double)file_size + 64.0 * 1048576.0;
#ifndef PC_UNDER_ASAN
    CHECK(peak <= bound, "%s: peak RSS %.0f MiB > %.0f MiB at the fork + 8 x %.1f MiB + 64 MiB", what, peak / 1048576,
          start / 1048576, file_size / 1048576.0);
#endif
    printf("  %-34s peak RSS %.1f MiB (bound %.0f MiB = %.0f at the fork + 8 x size + 64) -> %.200s\n", what,
           peak / 1048576, bound / 1048576, start / 1048576, msg);
}

// Pickles of 20 MB meant to exhaust memory: 20 million None (the stack), a list of 7 million
// ints (objects), 10^6 one-item tuples nested (objects); in a zip archive and as the legacy
// format's state-dict pickle. Each is refused by a named limit within 8 x its size + 64 MiB.
static void test_hostile_memory(void) {
    static const struct {
        const char *what, *needle, *first, *unit;   // the pickle: PROTO 2, first, unit x count, STOP
        size_t unit_len, count;
    } cases[] = {
        {"20 million None", "stack deeper than 65536 items", "N", "N", 1, 20000000},
        {"a list of 7 million ints", "bytes of memory, the limit (16 times", "]", "K\x00" "a", 3, 7000000},
        {"3 million nested 1-tuples", "bytes of memory, the limit (16 times", ")", "\x85", 1, 3000000},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (int legacy = 0; legacy < 2; legacy++) {
            Buf b = {0};
            if (legacy) {   // magic number, protocol 1001, system info, then the hostile "state dict"
                put(&b, "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.", 15);
                ops(&b, "\x80\x02M\xe9\x03.\x80\x02}.");
            }
            ops(&b, "\x80\x02");
            ops(&b, cases[c].first);
            for (size_t i = 0; i < cases[c].count; i++) put(&b, cases[c].unit, cases[c].unit_len);
            op(&b, '.');
            const char *p = test_tmp_path(legacy ? "legacy_huge.pth" : "huge.pth");
            if (legacy) {
                FILE *f = fopen(p, "wb");
                CHECK(f && fwrite(b.p, 1, b.n, f) == b.n, "cannot write %s", p);
                if (f) fclose(f);
            } else {
                write_pth(p, &b);
            }
            free(b.p);
            struct stat st;
            size_t size = stat(p, &st) == 0 ? (size_t)st.st_size : 0;
            char what[120];
            snprintf(what, sizeof what, "%s%s", legacy ? "legacy: " : "", cases[c].what);
            expect_fails_small(p, size, cases[c].needle, what);
            unlink(p);
        }
    }
}

// A legacy file hands the reader the rest of the file: one pickle longer than PTH_MAX_PICKLE is
// refused at the cap (here a dict followed by BINPUT 0 over and over: no memory, only bytes).
static void test_pickle_size_cap(void) {
    size_t n = PTH_MAX_PICKLE + 4096;
    unsigned char *p = xmalloc(n);
    memcpy(p, "\x80\x02}", 3);
    for (size_t i = 3; i + 1 < n; i += 2) p[i] = 'q', p[i + 1] = 0;
    PthPickle pk;
    PcError err = {{0}};
    int rc = pth_unpickle_next(p, n, "x.pth: legacy format, state dict pickle at byte 0", PTH_WANT_STATE_DICT, 0, &pk,
                               NULL, &err);
    CHECK(rc != 0, "a pickle of 256 MiB + 4 kB was read");
    CHECK(strstr(err.msg, "x.pth: ") && strstr(err.msg, "longer than 256 MiB, the limit"), "cap message: %s", err.msg);
    if (rc == 0) pth_pickle_free(&pk);
    printf("  %-34s -> %.200s\n", "pickle of 256 MiB + 4 kB", err.msg);
    free(p);
}

int main(void) {
    test_tmp_dir("test_pth");
    printf("good files:\n");
    compare_with_safetensors(fixture_path("pth/tiny_resnet.pth"), data_path("models/tiny_resnet.safetensors"), 0);
    char synth_pth[4096];   // data_path returns one static buffer
    snprintf(synth_pth, sizeof synth_pth, "%s", data_path("models/synth_resnet.pth"));
    compare_with_safetensors(synth_pth, data_path("models/synth_resnet.safetensors"), 0);
    compare_with_safetensors(fixture_path("pth/tiny_vgg_f16.pth"), data_path("models/tiny_vgg.safetensors"), 1);
    test_views("pth/views.pth");
    test_views("pth/legacy_views.pth");
    compare_with_safetensors(fixture_path("pth/legacy_tiny_resnet.pth"), data_path("models/tiny_resnet.safetensors"), 0);
    test_legacy_v1();
    test_net_load();
    test_crafted_good();
    test_sniff();
    printf("hostile pickles:\n");
    test_hostile_pickles();
    printf("memory of hostile pickles:\n");
    test_hostile_memory();
    test_pickle_size_cap();
    printf("bad archives:\n");
    test_bad_archives();
    printf("damaged files:\n");
    test_damaged("pth/views.pth", 1);
    test_damaged("pth/legacy_views.pth", 0);
    test_tmp_remove();
    return test_summary();
}
