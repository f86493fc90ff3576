// test_safetensors.c: the safetensors reader/writer, state-dict loading into networks and the
// hash-weight generator. Good files: data/models/tiny_*.safetensors (written by the safetensors
// library) and values from fixtures/README.md. Bad files: crafted in a temporary folder; each must
// give one error naming the file and the tensor, and never crash (run it under PC_SANITIZE too).
#define _GNU_SOURCE
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hashweights.h"
#include "model.h"
#include "safetensors.h"
#include "testutil.h"
#include "weights.h"


// Writes an 8-byte header length, the header text and n_data bytes of data.
static void write_raw(const char *path, uint64_t hdr_len, const char *hdr, size_t n_data) {
    FILE *f = fopen(path, "wb");
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(hdr_len >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(hdr, 1, strlen(hdr), f);
    for (size_t i = 0; i < n_data; i++) fputc(0x3c, f);
    fclose(f);
}

static void write_json(const char *path, const char *hdr, size_t n_data) {
    write_raw(path, strlen(hdr), hdr, n_data);
}

// Opening must fail with a message naming the file and containing `needle`.
static void expect_open_fails(const char *path, const char *needle, const char *what) {
    PcStateDict sd;
    PcError err = {{0}};
    int rc = pc_safetensors_open(path, &sd, &err);
    CHECK(rc != 0, "%s: open succeeded", what);
    CHECK(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", what, err.msg);
    CHECK(!needle || strstr(err.msg, needle) != NULL, "%s: message lacks '%s': %s", what, needle, err.msg);
    CHECK(!strchr(err.msg, '\n'), "%s: message is more than one line: %s", what, err.msg);
    if (rc == 0) pc_state_dict_free(&sd);
    printf("  %-28s -> %s\n", what, err.msg);
}

static void test_hash_examples(void) {
    const float want[5] = {0.291706443f, -0.262198329f, 0.666204691f, 0.368858337f, -0.9227525f};
    for (uint32_t i = 0; i < 5; i++) {
        float u = pc_hash_uniform("features.0.weight", i);
        CHECK(fabsf(u - want[i]) < 1e-7f, "u(features.0.weight, %u) = %.9f, README says %.9f", i, u, want[i]);
    }
}

// The tiny files hold hash weights with the README's default rules (final layer gain from the
// fixture's final_gain attribute): our generator must reproduce them bit for bit.
static void test_tiny_file(const char *file, int resnet, const char *final_name, double gain) {
    PcError err = {{0}};
    PcStateDict sd;
    int rc = pc_safetensors_open(data_path(file), &sd, &err);
    CHECK(rc == 0, "%s: %s", file, err.msg);
    if (rc) return;
    PcNet net;
    rc = fixture_net_create(resnet ? "tiny_resnet" : "tiny_vgg", &net, &err);
    CHECK(rc == 0, "build: %s", err.msg);
    PcStateDict exp;
    pc_net_expected_state(&net, &exp, &err);
    CHECK(exp.n == sd.n, "%s: %d tensors in the file, %d expected", file, sd.n, exp.n);
    int same_names = 1, same_shapes = 1;
    for (int i = 0; i < exp.n; i++) {
        const PcTensor *t = pc_state_dict_get(&sd, exp.tensors[i].name);
        if (!t) {
            same_names = 0;
            continue;
        }
        if (t->ndim != exp.tensors[i].ndim || t->numel != exp.tensors[i].numel || t->dtype != exp.tensors[i].dtype)
            same_shapes = 0;
    }
    CHECK(same_names, "%s: expected state names differ from the file's", file);
    CHECK(same_shapes, "%s: expected shapes / dtypes differ from the file's", file);
    rc = pc_net_load(&net, &sd, &err);
    CHECK(rc == 0, "%s load: %s", file, err.msg);

    // final layer: fan-in bound times gain
    const PcTensor *fw = pc_state_dict_get(&sd, final_name);
    const char *names[1] = {final_name};
    float base[1] = {0.0f};
    float bound[1] = {(float)(gain * sqrt(6.0 / (double)fw->shape[1]))};
    PcStateDict hs;
    rc = pc_hash_state_dict(&net, 1, names, base, bound, &hs, &err);
    CHECK(rc == 0, "hash: %s", err.msg);
    double worst = 0;
    const char *worst_name = "";
    long compared = 0;
    for (int i = 0; i < hs.n; i++) {
        const PcTensor *h = &hs.tensors[i], *f = pc_state_dict_get(&sd, h->name);
        if (!f || h->dtype == PC_DT_I64) continue;
        compared += (long)h->numel;
        for (int64_t j = 0; j < h->numel; j++) {
            double d = fabs((double)pc_tensor_get_f32(h, j) - (double)pc_tensor_get_f32(f, j));
            double rel = d / (fabs((double)pc_tensor_get_f32(f, j)) + 1e-30);
            if (rel > worst) worst = rel, worst_name = h->name;
        }
    }
    long file_floats = 0;
    for (int i = 0; i < sd.n; i++)
        if (sd.tensors[i].dtype != PC_DT_I64) file_floats += (long)sd.tensors[i].numel;
    CHECK(compared == file_floats && compared > 0, "%s: compared %ld of %ld values", file, compared, file_floats);
    printf("  %s: hash weights vs file (%ld values): max rel diff %.3g %s\n", file, compared, worst, worst_name);
    CHECK(worst <= 1.2e-7, "%s: hash weights differ from the file (%g at %s)", file, worst, worst_name);

    // writer round trip
    const char *rt = test_tmp_path("roundtrip.safetensors");
    rc = pc_safetensors_write(rt, &sd, &err);
    CHECK(rc == 0, "write: %s", err.msg);
    PcStateDict back;
    rc = pc_safetensors_open(rt, &back, &err);
    CHECK(rc == 0, "reopen: %s", err.msg);
    if (rc == 0) {
        int same = back.n == sd.n;
        for (int i = 0; same && i < sd.n; i++) {
            const PcTensor *a = &sd.tensors[i], *b = pc_state_dict_get(&back, a->name);
            same = b && b->dtype == a->dtype && b->ndim == a->ndim && b->numel == a->numel &&
                   memcmp(a->shape, b->shape, sizeof a->shape) == 0 &&
                   memcmp(a->data, b->data, (size_t)a->numel * (a->dtype == PC_DT_I64 ? 8 : 4)) == 0;
        }
        CHECK(same, "%s: write / reopen changed the state dict", file);
        pc_state_dict_free(&back);
    }
    pc_state_dict_free(&hs);
    pc_state_dict_free(&exp);
    pc_state_dict_free(&sd);
    pc_net_free(&net);
}

static void test_half_types(void) {
    // F16: 1.0, -2.0, 0.5, smallest subnormal, +inf; BF16: 1.0, -3.0
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"a \\\"quoted\\\" \\u00e9\"},"
                      "\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[0,10]},"
                      "\"b\":{\"data_offsets\":[10,14],\"shape\":[2],\"dtype\":\"BF16\"}}";
    const char *path = test_tmp_path("half.safetensors");
    FILE *f = fopen(path, "wb");
    uint64_t n = strlen(hdr);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(n >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(hdr, 1, n, f);
    const uint16_t vals[7] = {0x3C00, 0xC000, 0x3800, 0x0001, 0x7C00, 0x3F80, 0xC040};
    fwrite(vals, 2, 7, f);   // little-endian host
    fclose(f);
    PcStateDict sd;
    PcError err = {{0}};
    int rc = pc_safetensors_open(path, &sd, &err);
    CHECK(rc == 0, "half file: %s", err.msg);
    if (rc) return;
    const PcTensor *h = pc_state_dict_get(&sd, "h"), *b = pc_state_dict_get(&sd, "b");
    CHECK(h && h->dtype == PC_DT_F16 && h->numel == 5, "F16 tensor");
    CHECK(b && b->dtype == PC_DT_BF16 && b->numel == 2, "BF16 tensor");
    if (h && b) {
        CHECK(pc_tensor_get_f32(h, 0) == 1.0f && pc_tensor_get_f32(h, 1) == -2.0f &&
                  pc_tensor_get_f32(h, 2) == 0.5f,
              "F16 normal values");
        CHECK(pc_tensor_get_f32(h, 3) == ldexpf(1.0f, -24), "F16 subnormal = %g", pc_tensor_get_f32(h, 3));
        CHECK(isinf(pc_tensor_get_f32(h, 4)), "F16 inf");
        CHECK(pc_tensor_get_f32(b, 0) == 1.0f && pc_tensor_get_f32(b, 1) == -3.0f, "BF16 values");
    }
    pc_state_dict_free(&sd);
}

static void test_bad_files(void) {
    // not there, empty, too short
    expect_open_fails(test_tmp_path("does_not_exist.safetensors"), "cannot open", "missing file");
    write_raw(test_tmp_path("empty.safetensors"), 0, "", 0);
    CHECK(truncate(test_tmp_path("empty.safetensors"), 0) == 0, "truncate");
    expect_open_fails(test_tmp_path("empty.safetensors"), NULL, "empty file");
    write_raw(test_tmp_path("seven.safetensors"), 0, "", 0);
    CHECK(truncate(test_tmp_path("seven.safetensors"), 7) == 0, "truncate");
    expect_open_fails(test_tmp_path("seven.safetensors"), NULL, "7-byte file");
    // header length beyond the file
    write_raw(test_tmp_path("hdrlen.safetensors"), 1u << 30, "{}", 0);
    expect_open_fails(test_tmp_path("hdrlen.safetensors"), "header length", "header length > file");
    write_raw(test_tmp_path("hdrlen2.safetensors"), UINT64_MAX, "{}", 0);
    expect_open_fails(test_tmp_path("hdrlen2.safetensors"), "header length", "header length 2^64-1");
    // corrupt JSON
    const char *good = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
    write_json(test_tmp_path("good.safetensors"), good, 16);
    PcStateDict sd;
    PcError err = {{0}};
    CHECK(pc_safetensors_open(test_tmp_path("good.safetensors"), &sd, &err) == 0, "good crafted file: %s", err.msg);
    pc_state_dict_free(&sd);
    const char *corrupt[][2] = {
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}", "corrupt"},   // no '}'
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}}", "trailing"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16],}}", "corrupt"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-2],\"data_offsets\":[0,16]}}", "corrupt"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2.0],\"data_offsets\":[0,16]}}", "corrupt"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},\"w\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", "twice"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2]}}", "data_offsets"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16],\"extra\":1}}", "extra"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},\"__metadata__\":[1]}", "__metadata__"},
        {"{\"w\":{\"dtype\":\"F32\",\"sha", "corrupt"},
        {"[1,2]", "corrupt"},
        {"{\"w\\q\":{}}", "corrupt"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,16]}}", "corrupt"},
        // escaped control characters in a name, a key or a dtype: quoted in the message, they
        // would split its line (fuzz_safetensors: tests/fuzz/crashes/safetensors)
        {"{\"w\\nx\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", "control character in a tensor name"},
        {"{\"w\":{\"dtype\":\"F32\",\"sh\\u0007\":[2,2],\"data_offsets\":[0,16]}}", "control character in a key"},
        {"{\"w\":{\"dtype\":\"F3\\r2\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", "control character in a dtype"},
    };
    for (size_t i = 0; i < sizeof corrupt / sizeof corrupt[0]; i++) {
        char name[64], what[64];
        snprintf(name, sizeof name, "corrupt%zu.safetensors", i);
        snprintf(what, sizeof what, "corrupt JSON #%zu", i);
        write_json(test_tmp_path(name), corrupt[i][0], 16);
        expect_open_fails(test_tmp_path(name), corrupt[i][1], what);
    }
    // offsets out of range / inconsistent with the shape, unsupported dtypes:
    // {header, expected part of the error, what}
    const char *invalid[][3] = {
        {"{\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[100],\"data_offsets\":[0,400]}}", "'conv.weight'",
         "offsets beyond the data"},
        {"{\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", "'conv.weight'",
         "span != numel*4"},
        {"{\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", "'conv.weight'",
         "reversed offsets"},
        {"{\"conv.weight\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,16]}}",
         "'conv.weight'", "overflowing shape"},
        {"{\"fc.weight\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", "'fc.weight'", "dtype F64"},
        {"{\"fc.bias\":{\"dtype\":\"U8\",\"shape\":[16],\"data_offsets\":[0,16]}}", "U8", "dtype U8"},
    };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "invalid%zu.safetensors", i);
        write_json(test_tmp_path(name), invalid[i][0], 16);
        expect_open_fails(test_tmp_path(name), invalid[i][1], invalid[i][2]);
    }

    // truncated copy of a real file
    size_t size;
    unsigned char *bytes = pc_read_file(data_path("models/tiny_vgg.safetensors"), &size, &err);
    CHECK(bytes != NULL, "read tiny_vgg: %s", err.msg);
    if (bytes) {
        FILE *f = fopen(test_tmp_path("truncated.safetensors"), "wb");
        fwrite(bytes, 1, size - 1000, f);
        fclose(f);
        expect_open_fails(test_tmp_path("truncated.safetensors"), "tensor '", "truncated data");
        f = fopen(test_tmp_path("cut_header.safetensors"), "wb");
        fwrite(bytes, 1, 100, f);
        fclose(f);
        expect_open_fails(test_tmp_path("cut_header.safetensors"), "header length", "cut inside the header");
        free(bytes);
    }
}

// State dicts that open fine but do not fit the network.
static void expect_load_fails(PcStateDict *sd, const char *needle, const char *needle2, const char *what) {
    PcNet net;
    PcError err = {{0}};
    fixture_net_create("tiny_vgg", &net, &err);
    int rc = pc_net_load(&net, sd, &err);
    CHECK(rc != 0, "%s: load succeeded", what);
    CHECK(strstr(err.msg, needle) != NULL, "%s: message lacks '%s': %s", what, needle, err.msg);
    CHECK(!needle2 || strstr(err.msg, needle2) != NULL, "%s: message lacks '%s': %s", what, needle2, err.msg);
    printf("  %-28s -> %s\n", what, err.msg);
    pc_net_free(&net);
}

static void test_mismatched_dicts(void) {
    PcStateDict sd;
    PcError err = {{0}};
    if (pc_safetensors_open(data_path("models/tiny_vgg.safetensors"), &sd, &err)) {
        CHECK(0, "open tiny_vgg: %s", err.msg);
        return;
    }
    // write modified copies with pc_safetensors_write, reopen, load
    PcStateDict mod = sd;
    mod.tensors = xmalloc((size_t)(sd.n + 1) * sizeof(PcTensor));
    const char *out = test_tmp_path("modified.safetensors");
    PcStateDict re;

    // missing tensor: drop classifier.3.bias
    int m = 0;
    for (int i = 0; i < sd.n; i++)
        if (strcmp(sd.tensors[i].name, "classifier.3.bias") != 0) mod.tensors[m++] = sd.tensors[i];
    mod.n = m;
    CHECK(pc_safetensors_write(out, &mod, &err) == 0, "write: %s", err.msg);
    if (pc_safetensors_open(out, &re, &err) == 0) {
        expect_load_fails(&re, "classifier.3.bias", "missing", "missing tensor");
        pc_state_dict_free(&re);
    }
    // wrong shape: features.5.weight (16, 8, 3, 3) presented as (8, 16, 3, 3)
    memcpy(mod.tensors, sd.tensors, (size_t)sd.n * sizeof(PcTensor));
    mod.n = sd.n;
    for (int i = 0; i < sd.n; i++)
        if (strcmp(sd.tensors[i].name, "features.5.weight") == 0) mod.tensors[i].shape[0] = 8, mod.tensors[i].shape[1] = 16;
    CHECK(pc_safetensors_write(out, &mod, &err) == 0, "write: %s", err.msg);
    if (pc_safetensors_open(out, &re, &err) == 0) {
        expect_load_fails(&re, "features.5.weight", "[16,8,3,3] expected, file has [8,16,3,3]", "wrong shape");
        pc_state_dict_free(&re);
    }
    // unexpected extra tensor
    memcpy(mod.tensors, sd.tensors, (size_t)sd.n * sizeof(PcTensor));
    mod.tensors[sd.n] = sd.tensors[0];
    mod.tensors[sd.n].name = "features.99.weight";
    mod.n = sd.n + 1;
    CHECK(pc_safetensors_write(out, &mod, &err) == 0, "write: %s", err.msg);
    if (pc_safetensors_open(out, &re, &err) == 0) {
        expect_load_fails(&re, "features.99.weight", "unexpected", "unexpected extra tensor");
        pc_state_dict_free(&re);
    }
    // integer tensor where floats are expected
    memcpy(mod.tensors, sd.tensors, (size_t)sd.n * sizeof(PcTensor));
    mod.n = sd.n;
    int64_t ints[64] = {0};
    for (int i = 0; i < sd.n; i++)
        if (strcmp(sd.tensors[i].name, "classifier.6.bias") == 0) mod.tensors[i].dtype = PC_DT_I64, mod.tensors[i].data = ints;
    CHECK(pc_safetensors_write(out, &mod, &err) == 0, "write: %s", err.msg);
    if (pc_safetensors_open(out, &re, &err) == 0) {
        expect_load_fails(&re, "classifier.6.bias", "I64", "I64 instead of float");
        pc_state_dict_free(&re);
    }
    // a ResNet's weights into a VGG
    PcStateDict rs;
    if (pc_safetensors_open(data_path("models/tiny_resnet.safetensors"), &rs, &err) == 0) {
        expect_load_fails(&rs, "tiny_resnet.safetensors", "features.0.weight", "other architecture");
        pc_state_dict_free(&rs);
    }
    free(mod.tensors);
    pc_state_dict_free(&sd);
}

static void test_arch_names(void) {
    PcArchSpec s;
    PcError err = {{0}};
    const char *good[] = {"vgg11", "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "resnet18", "resnet34",
                          "resnet50", "resnet101", "resnet152"};
    // torchvision parameter counts (weights + biases, BN affine and running stats excluded)
    const double params[] = {132863336, 133053736, 138357544, 138365992, 143667240,
                             11689512, 21797672, 25557032, 44549160, 60192808};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        CHECK(pc_arch_from_name(good[i], &s, &err) == 0, "%s: %s", good[i], err.msg);
        PcNet net;
        if (pc_net_create(&s, &net, &err)) {
            CHECK(0, "%s create: %s", good[i], err.msg);
            continue;
        }
        PcStateDict exp;
        pc_net_expected_state(&net, &exp, &err);
        double learnable = 0;
        for (int t = 0; t < exp.n; t++) {
            const char *nm = exp.tensors[t].name;
            if (strstr(nm, "running_") || strstr(nm, "num_batches")) continue;
            learnable += (double)exp.tensors[t].numel;
        }
        CHECK(learnable == params[i], "%s: %.0f parameters, torchvision has %.0f", good[i], learnable, params[i]);
        char names[8][64];
        int nt = pc_net_default_targets(&net, names, 8);
        CHECK(nt == 5, "%s: %d default targets", good[i], nt);
        for (int t = 0; t < nt; t++) CHECK(pc_net_find(&net, names[t]) >= 0, "%s: target %s not found", good[i], names[t]);
        CHECK(pc_net_find(&net, "logits") == net.n_nodes - 1, "%s: logits alias", good[i]);
        pc_state_dict_free(&exp);
        pc_net_free(&net);
    }
    CHECK(pc_arch_from_name("vgg17", &s, &err) != 0 && strstr(err.msg, "vgg17"), "unknown arch rejected");
    CHECK(pc_arch_from_name("resnet50_bn", &s, &err) != 0, "resnet50_bn rejected");
    // VGG16: targets are the ReLUs before the pools; ResNet50 block names
    PcNet net;
    pc_arch_from_name("vgg16", &s, &err);
    pc_net_create(&s, &net, &err);
    char names[8][64];
    pc_net_default_targets(&net, names, 8);
    CHECK(strcmp(names[0], "features.3") == 0 && strcmp(names[4], "features.29") == 0, "vgg16 targets %s..%s",
          names[0], names[4]);
    CHECK(fabs(pc_net_flops(&net) - 2 * 15.47e9) < 0.02 * 2 * 15.47e9, "vgg16 flops %.3g", pc_net_flops(&net));
    pc_net_free(&net);
    pc_arch_from_name("resnet50", &s, &err);
    pc_net_create(&s, &net, &err);
    int i20 = pc_net_find(&net, "layer2.0"), i4 = pc_net_find(&net, "layer4");
    CHECK(i20 >= 0 && net.nodes[i20].c == 512 && net.nodes[i20].h == 28, "resnet50 layer2.0 shape");
    CHECK(i4 >= 0 && net.nodes[i4].c == 2048 && net.nodes[i4].h == 7 && pc_net_find(&net, "layer4.2") == i4,
          "resnet50 layer4 alias");
    CHECK(fabs(pc_net_flops(&net) - 2 * 4.09e9) < 0.02 * 2 * 4.09e9, "resnet50 flops %.3g", pc_net_flops(&net));
    pc_net_free(&net);
    // a spec whose input is too small for its pools fails cleanly
    pc_arch_from_name("vgg16", &s, &err);
    s.in_size = 16;
    CHECK(pc_net_create(&s, &net, &err) != 0, "vgg16 at 16x16 rejected: %s", err.msg);
}

static void test_hash_speed(void) {
    PcArchSpec s;
    PcError err = {{0}};
    PcNet net;
    pc_arch_from_name("vgg16", &s, &err);
    pc_net_create(&s, &net, &err);
    PcStateDict hs;
    double t0 = pc_now();
    int rc = pc_hash_state_dict(&net, 0, NULL, NULL, NULL, &hs, &err);
    double dt = pc_now() - t0;
    CHECK(rc == 0, "hash vgg16: %s", err.msg);
    printf("  hash weights for vgg16 (138 M values): %.2f s\n", dt);
    const PcTensor *t = pc_state_dict_get(&hs, "features.0.weight");
    CHECK(t && fabsf(pc_tensor_get_f32(t, 2) - 0.666204691f * sqrtf(6.0f / 27.0f)) < 1e-6f, "hash vgg16 value");
    pc_state_dict_free(&hs);
    pc_net_free(&net);
}

int main(void) {
    test_tmp_dir("test_safetensors");
    test_hash_examples();
    test_tiny_file("models/tiny_vgg.safetensors", 0, "classifier.6.weight", 0.5);
    test_tiny_file("models/tiny_resnet.safetensors", 1, "fc.weight", 1.0);
    test_half_types();
    test_bad_files();
    test_mismatched_dicts();
    test_arch_names();
    test_hash_speed();
    test_tmp_remove();
    return test_summary();
}
