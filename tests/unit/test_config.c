// test_config.c: the INI configuration: defaults, typed values, custom architectures, relative
// paths (file: relative to the config's folder; --set: to the current folder), --set overrides,
// the canonical text, --help, and every error message with its file:line.
#define _GNU_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_model.h"
#include "method_config.h"
#include "testutil.h"

static char g_dir[PATH_MAX];

// Writes text to <tmpdir>/name and returns the path (static buffer).
static const char *write_ini(const char *name, const char *text) {
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    return path;
}

// Loads text as <tmpdir>/x.ini and expects failure want_rc with a message containing want: -1 for
// a mistake in the file, -2 for one in a --set argument (a command-line mistake, exit status 2).
static void expect_error(const char *text, int n_sets, char *const *sets, const char *want, int want_rc, int line) {
    const char *path = write_ini("x.ini", text);
    PcConfig cfg;
    PcError err = {{0}};
    int rc = pc_config_load(path, n_sets, sets, &cfg, &err);
    test_check(rc != 0, __FILE__, line, "expected an error containing \"%s\", got success", want);
    test_check(rc != 0 && strstr(err.msg, want) != NULL, __FILE__, line, "error \"%s\" lacks \"%s\"", err.msg, want);
    test_check(rc == 0 || rc == want_rc, __FILE__, line, "\"%s\": returned %d, expected %d", err.msg, rc, want_rc);
    if (rc == 0) pc_config_free(&cfg);
}
#define EXPECT_ERROR(text, n_sets, sets, want) expect_error(text, n_sets, sets, want, -1, __LINE__)
#define EXPECT_SET_ERROR(text, n_sets, sets, want) expect_error(text, n_sets, sets, want, -2, __LINE__)

static const char *k_minimal = "[model]\nweights = w.safetensors\n[data]\nlist = l.txt\n";

static void test_defaults_and_paths(void) {
    const char *path = write_ini("min.ini", k_minimal);
    PcConfig cfg;
    PcError err = {{0}};
    int rc = pc_config_load(path, 0, NULL, &cfg, &err);
    CHECK(rc == 0, "minimal config: %s", err.msg);
    if (rc) return;
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/w.safetensors", g_dir);
    CHECK(!strcmp(cfg.weights, want), "weights resolved to %s, want %s", cfg.weights, want);
    snprintf(want, sizeof want, "%s/l.txt", g_dir);
    CHECK(!strcmp(cfg.list, want), "list resolved to %s", cfg.list);
    CHECK(!strcmp(cfg.root, g_dir), "root defaults to the list's folder: %s", cfg.root);
    CHECK(cfg.labels == NULL && cfg.classes_file == NULL, "optional paths unset");
    CHECK(!strcmp(cfg.spec.arch, "vgg16") && !cfg.spec.is_resnet && !cfg.custom, "default arch vgg16");
    CHECK(cfg.n_layers == 0, "default layers = arch default");
    CHECK(cfg.resize == PC_RESIZE_BILINEAR && cfg.size == 224, "preprocess defaults");
    CHECK(cfg.variants[0] && cfg.variants[1] && cfg.variants[2], "all three variants by default");
    CHECK(cfg.lnorm == PC_LNORM_CODE && cfg.norm == PC_NORM_CODE, "code formulas by default");
    CHECK(!cfg.ablate_levels && !cfg.ablate_cams && !cfg.ablate_no_lnorm, "no ablations by default");
    CHECK(cfg.class_source == PC_CLASS_PREDICTED, "predicted class by default");
    CHECK(cfg.insertion && cfg.deletion && cfg.insdel.steps == 224, "metrics defaults");
    CHECK(cfg.insdel.baseline == PC_BASE_BLUR && cfg.insdel.blur_kernel == 11 && cfg.insdel.blur_sigma == 5.0f,
          "blur defaults");
    CHECK(cfg.maps == PC_MAPS_F16 && cfg.overlays == 0, "output defaults");
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    snprintf(want, sizeof want, "%s/min.h5", cwd);
    CHECK(!strcmp(cfg.output, want), "default output %s, want %s", cfg.output, want);
    CHECK(!strcmp(cfg.device, "auto") && cfg.precision == PC_PREC_FP32 && cfg.threads == 0, "run defaults");
    CHECK(cfg.shard_index == 0 && cfg.shard_count == 1, "shard default 0/1");
    CHECK(!strcmp(pc_config_get(&cfg, "metrics", "steps"), "224"), "pc_config_get default");
    CHECK(pc_config_get(&cfg, "metrics", "nope") == NULL, "pc_config_get unknown key");
    pc_config_free(&cfg);
}

// The values of test_values_and_sets' full config: paths resolved against the config's folder
// (--set ones against the current folder), lists split and trimmed, the --set overrides applied.
static void check_full_values(const PcConfig *cfg) {
    CHECK(!strcmp(cfg->spec.arch, "resnet50") && cfg->spec.is_resnet && !cfg->custom, "arch resnet50");
    CHECK(!strcmp(cfg->weights, "/abs/resnet50.safetensors"), "absolute path kept: %s", cfg->weights);
    CHECK(cfg->n_layers == 5 && !strcmp(cfg->layers[1], "layer2.0") && !strcmp(cfg->layers[2], "layer3.0"),
          "layers trimmed and split (%d)", cfg->n_layers);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s/sub/classes.txt", g_dir);
    CHECK(cfg->classes_file && !strcmp(cfg->classes_file, want), "classes file resolved");
    snprintf(want, sizeof want, "%s/../images", g_dir);
    CHECK(!strcmp(cfg->root, want), "root resolved: %s", cfg->root);
    CHECK(cfg->offset == 10 && cfg->limit == 5, "offset 10, --set limit 5 (got %ld, %ld)", cfg->offset, cfg->limit);
    CHECK(cfg->resize == PC_RESIZE_CROP256 && cfg->size == 160 && cfg->spec.in_size == 160, "preprocess");
    CHECK(cfg->variants[0] && !cfg->variants[1] && cfg->variants[2], "methods subset");
    CHECK(cfg->lnorm == PC_LNORM_PAPER && cfg->norm == PC_NORM_PAPER, "paper formulas");
    CHECK(cfg->ablate_levels && !cfg->ablate_cams && cfg->ablate_no_lnorm, "ablations");
    CHECK(cfg->class_source == PC_CLASS_LABEL && cfg->saliency_batch == 8, "class source, batch");
    CHECK(!cfg->insertion && cfg->deletion && cfg->insdel.steps == 50, "metrics with --set steps");
    CHECK(cfg->insdel.baseline == PC_BASE_GREY && cfg->insdel.blur_kernel == 7 && cfg->insdel.blur_sigma == 2.5f &&
          cfg->insdel.batch == 4, "metrics values");
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    snprintf(want, sizeof want, "%s/rel/o.h5", cwd);
    CHECK(!strcmp(cfg->output, want), "--set path relative to cwd: %s, want %s", cfg->output, want);
    CHECK(cfg->maps == PC_MAPS_F32 && cfg->overlays == 3, "output values");
    CHECK(!strcmp(cfg->device, "cuda") && cfg->precision == PC_PREC_BF16 && cfg->threads == 3 && cfg->decoders == 4,
          "run values");
    CHECK(cfg->shard_index == 2 && cfg->shard_count == 5, "shard 2/5");
    CHECK(strstr(cfg->source, "; --set data.limit=5") != NULL, "source text records the overrides");
    CHECK(strstr(cfg->source, "arch = resnet50") != NULL, "source text keeps the file");
}

// The canonical text (everything) and the result fingerprint (without device, threads, overlays).
static void check_canonical(const PcConfig *cfg) {
    char want[PATH_MAX + 64];
    char *all = pc_config_canonical(cfg, 0);
    char *res = pc_config_canonical(cfg, 1);
    CHECK(strstr(all, "[run]\ndevice = cuda\n") != NULL, "canonical text has device");
    CHECK(strstr(all, "limit = 5\n") != NULL && strstr(all, "steps = 50\n") != NULL, "canonical has overrides");
    CHECK(strstr(res, "device =") == NULL && strstr(res, "threads =") == NULL && strstr(res, "overlays =") == NULL,
          "result fingerprint leaves out device, threads, overlays");
    CHECK(strstr(res, "precision = bf16") != NULL && strstr(res, "layers = relu, layer2.0,layer3.0 ,layer4.0,layer4") != NULL,
          "result fingerprint keeps precision and layers");
    snprintf(want, sizeof want, "list = %s/lists/val.txt\n", g_dir);
    CHECK(strstr(res, want) != NULL, "canonical text holds resolved paths");
    free(all);
    free(res);
}

static void test_values_and_sets(void) {
    const char *text =
        "; a comment\n"
        "# another comment\n"
        "[model]\n"
        "  arch = resnet50   ; inline comment\n"
        "weights = /abs/resnet50.safetensors\n"
        "layers = relu, layer2.0,layer3.0 ,layer4.0,layer4\n"
        "classes = sub/classes.txt\n"
        "[data]\n"
        "list = lists/val.txt\n"
        "root = ../images\n"
        "labels = lists/labels.txt\n"
        "offset = 10\n"
        "limit = 20\n"
        "[preprocess]\nresize = crop256\nsize = 160\n"
        "[saliency]\nmethods = pcampm,pcamp\nlnorm = paper\nnormalize = paper\nablations = levels, no_lnorm\n"
        "class = label\nbatch = 8\n"
        "[metrics]\ninsertion = no\ndeletion = yes\nsteps = 100\nbaseline = grey\nblur_kernel = 7\n"
        "blur_sigma = 2.5\nbatch = 4\n"
        "[output]\nfile = out/r.h5\nmaps = float32\noverlays = 3\n"
        "[run]\ndevice = cuda\nprecision = bf16\nthreads = 3\ndecoders = 4\nshard = 2/5\n";
    const char *path = write_ini("full.ini", text);
    char *sets[] = {"data.limit=5", "output.file = rel/o.h5", "metrics.steps=50"};
    PcConfig cfg;
    PcError err = {{0}};
    int rc = pc_config_load(path, 3, sets, &cfg, &err);
    CHECK(rc == 0, "full config: %s", err.msg);
    if (rc) return;
    check_full_values(&cfg);
    check_canonical(&cfg);
    pc_config_free(&cfg);

    // Same config with different threads: same fingerprint; different steps: different.
    char *sets2[] = {"run.threads=1", "data.limit=5", "output.file = rel/o.h5", "metrics.steps=50"};
    PcConfig a, b;
    CHECK(pc_config_load(path, 3, sets, &a, &err) == 0, "reload a");
    CHECK(pc_config_load(path, 4, sets2, &b, &err) == 0, "reload b");
    char *fa = pc_config_canonical(&a, 1), *fb = pc_config_canonical(&b, 1);
    CHECK(!strcmp(fa, fb), "threads do not change the fingerprint");
    free(fa);
    free(fb);
    pc_config_free(&a);
    pc_config_free(&b);
}

static void test_custom_archs(void) {
    const char *text = "[model]\narch = vgg\nweights = synth_vgg.safetensors\nclasses = 4\n"
                       "vgg_cfg = 16,16,M,32,32,M,64,64,M,64,64,M,64,64,M\nvgg_classifier = 128,128\n"
                       "[data]\nlist = l.txt\n";
    PcConfig cfg;
    PcError err = {{0}};
    int rc = pc_config_load(write_ini("vgg.ini", text), 0, NULL, &cfg, &err);
    CHECK(rc == 0, "custom vgg: %s", err.msg);
    if (rc == 0) {
        CHECK(cfg.custom && !cfg.spec.is_resnet && cfg.spec.n_vgg_cfg == 15, "vgg cfg count %d", cfg.spec.n_vgg_cfg);
        CHECK(cfg.spec.vgg_cfg[0] == 16 && cfg.spec.vgg_cfg[2] == 0 && cfg.spec.vgg_cfg[14] == 0, "M -> 0");
        CHECK(cfg.spec.n_vgg_hidden == 2 && cfg.spec.vgg_hidden[1] == 128, "classifier widths");
        CHECK(cfg.n_classes == 4 && cfg.spec.n_classes == 4 && cfg.classes_file == NULL, "classes as a count");
        CHECK(cfg.spec.vgg_pool == 7 && !cfg.spec.vgg_bn, "pool 7, no bn");
        pc_config_free(&cfg);
    }
    text = "[model]\narch = resnet\nweights = w\nnum_classes = 10\nresnet_block = basic\nresnet_stem = 16\n"
           "resnet_stages = 8x1/1,16x2/2,32x1/2,32x1/2\n[data]\nlist = l.txt\n";
    rc = pc_config_load(write_ini("rn.ini", text), 0, NULL, &cfg, &err);
    CHECK(rc == 0, "custom resnet: %s", err.msg);
    if (rc == 0) {
        CHECK(cfg.custom && cfg.spec.is_resnet && !cfg.spec.resnet_bottleneck && cfg.spec.resnet_stem == 16,
              "resnet block and stem");
        CHECK(cfg.spec.n_stages == 4 && cfg.spec.stage_planes[1] == 16 && cfg.spec.stage_blocks[1] == 2 &&
              cfg.spec.stage_stride[1] == 2 && cfg.spec.stage_stride[0] == 1, "stages parsed");
        CHECK(cfg.n_classes == 10, "num_classes");
        pc_config_free(&cfg);
    }
    // A custom member with no class count gets 1000, as torchvision.
    text = "[model]\narch = resnet\nweights = w\nresnet_stages = 8x1/1\n[data]\nlist = l.txt\n";
    rc = pc_config_load(write_ini("rn2.ini", text), 0, NULL, &cfg, &err);
    CHECK(rc == 0 && cfg.n_classes == 0 && cfg.spec.n_classes == 1000 && cfg.spec.resnet_bottleneck == 1 &&
              cfg.spec.resnet_stem == 64, "custom resnet defaults: %s", rc ? err.msg : "");
    if (rc == 0) {
        // the class count, decided in one place: explicit count > class-name file > the arch's 1000
        PcArchSpec spec;
        CHECK(pc_config_arch_spec(&cfg, 0, &spec, &err) == 0 && spec.n_classes == 1000, "no names: 1000");
        CHECK(pc_config_arch_spec(&cfg, 4, &spec, &err) == 0 && spec.n_classes == 4, "4 names: 4 classes");
        CHECK(spec.in_size == 224 && spec.n_stages == 1 && spec.stage_planes[0] == 8, "the shape is the config's");
        pc_config_free(&cfg);
    }
    char *ten[] = {"model.num_classes=10"};
    rc = pc_config_load(write_ini("rn3.ini", text), 1, ten, &cfg, &err);
    if (rc == 0) {
        PcArchSpec spec;
        CHECK(pc_config_arch_spec(&cfg, 0, &spec, &err) == 0 && spec.n_classes == 10, "num_classes = 10");
        CHECK(pc_config_arch_spec(&cfg, 4, &spec, &err) == -1 && strstr(err.msg, "4 names for a model of 10 classes"),
              "names disagreeing with num_classes: %s", err.msg);
        pc_config_free(&cfg);
    }
    // a named member: its torchvision shape comes from the config, in_size from [preprocess] size
    text = "[model]\narch = vgg16_bn\nweights = w\n[data]\nlist = l.txt\n[preprocess]\nsize = 160\n";
    rc = pc_config_load(write_ini("v16.ini", text), 0, NULL, &cfg, &err);
    CHECK(rc == 0 && cfg.spec.n_vgg_cfg == 18 && cfg.spec.vgg_bn == 1 && cfg.spec.in_size == 160 &&
              cfg.spec.n_classes == 1000, "vgg16_bn spec from the config: %s", rc ? err.msg : "");
    if (rc == 0) pc_config_free(&cfg);
}

// file:line for every parse-level error.
static void errors_syntax(void) {
    EXPECT_ERROR("[model]\nweights = w\nfoo = 1\n", 0, NULL, "x.ini:3: unknown key 'foo' in [model]");
    EXPECT_ERROR("[model]\nweights = w\n\n[modle]\narch = vgg16\n", 0, NULL, "x.ini:4: unknown section [modle]");
    EXPECT_ERROR("[data]\nlist = a\n[model]\nweights = w\nweights = v\n", 0, NULL,
                 "x.ini:5: duplicate key 'weights' in [model] (first set on line 4)");
    EXPECT_ERROR("arch = vgg16\n[model]\n", 0, NULL, "x.ini:1: key 'arch' outside of any [section]");
    EXPECT_ERROR("[model]\nweights = w\nthis line has no equals sign\n", 0, NULL, "x.ini:3: syntax error");
    EXPECT_ERROR("[model\nweights = w\n", 0, NULL, "x.ini:1: syntax error");
    char longline[600];
    memset(longline, 'a', sizeof longline);
    memcpy(longline, "weights = ", 10);
    longline[sizeof longline - 1] = 0;
    char text[800];
    snprintf(text, sizeof text, "[model]\n%s\n", longline);
    EXPECT_ERROR(text, 0, NULL, "x.ini:2: line too long");
}

// Bad values carry the line of the key: {a section and its key (line 6 after the base text), the
// message}.
static const char *const k_bad_values[][2] = {
    {"[preprocess]\nsize = abc",
     "x.ini:6: bad value 'abc' for [preprocess] size (expected an integer in 16..4096)"},
    {"[preprocess]\nresize = nearest",
     "x.ini:6: bad value 'nearest' for [preprocess] resize (expected bilinear, antialias or crop256)"},
    {"[saliency]\nmethods = pcamp,gradcm",
     "x.ini:6: bad value 'pcamp,gradcm' for [saliency] methods (expected a comma-separated list of pcamp, pcamm, pcampm, gradcam,"},
    {"[ig]\nsteps = 0",
     "x.ini:6: bad value '0' for [ig] steps (expected an integer in 1..4096)"},
    {"[smoothgradcampp]\nsigma = 0",
     "x.ini:6: bad value '0' for [smoothgradcampp] sigma (expected a number > 0)"},
    {"[rise]\nmasks = 0",
     "x.ini:6: bad value '0' for [rise] masks (expected an integer in 1..65535)"},
    {"[rise]\np = 0",
     "x.ini:6: bad value '0' for [rise] p (expected a number in (0, 1])"},
    {"[rise]\np = 1.5",
     "x.ini:6: bad value '1.5' for [rise] p (expected a number in (0, 1])"},
    {"[rise]\ncells = 300",
     "x.ini:6: bad value '300' for [rise] cells (expected an integer in 1..224 ([preprocess] size))"},
    {"[occlusion]\nwindow = 225",
     "x.ini:6: bad value '225' for [occlusion] window (expected an integer in 1..224 ([preprocess] size))"},
    {"[occlusion]\nstride = 65",
     "x.ini:6: bad value '65' for [occlusion] stride (expected an integer in 1..64: at most [occlusion] window, as captum)"},
    {"[saliency]\nmethods = pcamp,,pcamm",
     "x.ini:6: bad value 'pcamp,,pcamm' for [saliency] methods"},
    {"[saliency]\nablations = levels,foo",
     "x.ini:6: bad value 'levels,foo' for [saliency] ablations"},
    {"[saliency]\nlnorm = both",
     "x.ini:6: bad value 'both' for [saliency] lnorm (expected code or paper)"},
    {"[saliency]\nbatch = 0",
     "x.ini:6: bad value '0' for [saliency] batch (expected auto or an integer in 1..65536)"},
    {"[metrics]\nbatch = -3",
     "x.ini:6: bad value '-3' for [metrics] batch (expected auto or an integer in 1..65536)"},
    {"[metrics]\ninsertion = maybe",
     "x.ini:6: bad value 'maybe' for [metrics] insertion (expected yes or no)"},
    {"[metrics]\nsteps = 0",
     "x.ini:6: bad value '0' for [metrics] steps"},
    {"[metrics]\nblur_kernel = 4",
     "x.ini:6: bad value '4' for [metrics] blur_kernel (expected an odd integer in 1..255)"},
    {"[metrics]\nblur_sigma = -1",
     "x.ini:6: bad value '-1' for [metrics] blur_sigma (expected a number > 0)"},
    {"[metrics]\nbaseline = black",
     "x.ini:6: bad value 'black' for [metrics] baseline (expected blur, grey or zero)"},
    {"[output]\nmaps = float64",
     "x.ini:6: bad value 'float64' for [output] maps (expected none, float16 or float32)"},
    {"[output]\noverlays = -2",
     "x.ini:6: bad value '-2' for [output] overlays"},
    {"[run]\ndevice = tpu",
     "x.ini:6: bad value 'tpu' for [run] device (expected auto, cpu, cuda or cuda:K"},
    {"[run]\ndevice = cuda:",
     "x.ini:6: bad value 'cuda:' for [run] device"},
    {"[run]\ndevice = cuda:+1",
     "x.ini:6: bad value 'cuda:+1' for [run] device"},
    {"[run]\ndevice = cuda:1x",
     "x.ini:6: bad value 'cuda:1x' for [run] device"},
    {"[run]\nprecision = fp4",
     "x.ini:6: bad value 'fp4' for [run] precision (expected fp32, tf32, fp16, bf16, fp8 or int8)"},
    {"[precision]\ncalibration_images = 0",
     "x.ini:6: bad value '0' for [precision] calibration_images (expected an integer in 1..100000)"},
    {"[precision]\nclip = 0",
     "x.ini:6: bad value '0' for [precision] clip (expected a number in (0, 1])"},
    {"[precision]\nclip = 1.5",
     "x.ini:6: bad value '1.5' for [precision] clip (expected a number in (0, 1])"},
    {"[precision]\nkeep = a,,b",
     "x.ini:6: bad value 'a,,b' for [precision] keep (expected a comma-separated list of conv layer names)"},
    {"[precision]\nguard_images = -1",
     "x.ini:6: bad value '-1' for [precision] guard_images (expected an integer in 0..100000)"},
    {"[precision]\nguard_max_dauc = x",
     "x.ini:6: bad value 'x' for [precision] guard_max_dauc (expected a number in [0, 1])"},
    {"[precision]\nguard_min_agreement = 2",
     "x.ini:6: bad value '2' for [precision] guard_min_agreement (expected a number in [0, 1])"},
    {"[precision]\napply = curves",
     "x.ini:6: bad value 'curves' for [precision] apply (expected all or maps)"},
    {"[run]\nshard = 3/3",
     "x.ini:6: bad value '3/3' for [run] shard (expected i/n with 0 <= i < n, e.g. 0/4, or auto)"},
    {"[data]\noffset = -1",
     "x.ini:6: bad value '-1' for [data] offset (expected an integer >= 0)"},
};

static void errors_values(void) {
    const char *base = "[model]\nweights = w\n[data]\nlist = l\n";
    char text[2048];
    for (size_t i = 0; i < sizeof k_bad_values / sizeof k_bad_values[0]; i++) {
        snprintf(text, sizeof text, "%s%s\n", base, k_bad_values[i][0]);
        EXPECT_ERROR(text, 0, NULL, k_bad_values[i][1]);
    }
}

// [model] values, the custom architectures' keys and the required keys.
static void errors_model(void) {
    EXPECT_ERROR("[model]\narch = vgg17\nweights = w\n[data]\nlist = l\n", 0, NULL, "x.ini:2: bad value 'vgg17' for [model] arch");
    EXPECT_ERROR("[model]\narch = vgg16\nweights = w\nvgg_cfg = 8,M\n[data]\nlist = l\n", 0, NULL,
                 "x.ini:4: [model] vgg_cfg only applies to arch = vgg (arch is vgg16)");
    EXPECT_ERROR("[model]\narch = vgg\nweights = w\nresnet_stem = 8\n[data]\nlist = l\n", 0, NULL,
                 "x.ini:4: [model] resnet_stem only applies to arch = resnet");
    EXPECT_ERROR("[model]\narch = vgg\nweights = w\n[data]\nlist = l\n", 0, NULL, "x.ini: arch = vgg needs [model] vgg_cfg");
    EXPECT_ERROR("[model]\narch = vgg\nweights = w\nvgg_cfg = 8,X\n[data]\nlist = l\n", 0, NULL,
                 "x.ini:4: bad value '8,X' for [model] vgg_cfg");
    EXPECT_ERROR("[model]\narch = resnet\nweights = w\nresnet_stages = 8x1\n[data]\nlist = l\n", 0, NULL,
                 "x.ini:4: bad value '8x1' for [model] resnet_stages");
    EXPECT_ERROR("[model]\narch = resnet\nweights = w\nresnet_block = huge\nresnet_stages = 8x1/1\n[data]\nlist = l\n", 0,
                 NULL, "x.ini:4: bad value 'huge' for [model] resnet_block (expected basic or bottleneck)");
    EXPECT_ERROR("[model]\nweights = w\nclasses = 4\nnum_classes = 5\n[data]\nlist = l\n", 0, NULL,
                 "x.ini:4: [model] num_classes = 5 disagrees with classes = 4");
    EXPECT_ERROR("[model]\nweights = w\nlayers = a,b,c,d,e,f,g,h,i\n[data]\nlist = l\n", 0, NULL,
                 "x.ini:3: bad value 'a,b,c,d,e,f,g,h,i' for [model] layers");
    // required keys
    // [model] weights unset: the run refuses it after --check's cost (run.c), not the loader
    {
        PcConfig cfg;
        PcError err = {{0}};
        int rc = pc_config_load(write_ini("x.ini", "[data]\nlist = l\n"), 0, NULL, &cfg, &err);
        CHECK(rc == 0 && cfg.weights == NULL, "weights unset loads with weights NULL: %s", err.msg);
        if (rc == 0) pc_config_free(&cfg);
    }
    EXPECT_ERROR("[model]\nweights = w\n", 0, NULL, "x.ini: [data] list is not set");
}

// --set errors, a reduced precision on the CPU, a missing file.
static void errors_set_and_files(void) {
    // --set errors
    char *s1[] = {"model.foo=1"};
    EXPECT_SET_ERROR(k_minimal, 1, s1, "--set model.foo=1: unknown key 'foo' in [model]");
    char *s2[] = {"nosection=1"};
    EXPECT_SET_ERROR(k_minimal, 1, s2, "--set nosection=1: expected section.key=value");
    char *s3[] = {"bogus.key=1"};
    EXPECT_SET_ERROR(k_minimal, 1, s3, "--set bogus.key=1: unknown section [bogus]");
    char *s4[] = {"metrics.steps=many"};
    EXPECT_SET_ERROR(k_minimal, 1, s4, "--set metrics.steps=many: bad value 'many' for [metrics] steps");
    char *s5[] = {"data.limit=abc"};
    EXPECT_SET_ERROR(k_minimal, 1, s5, "--set data.limit=abc: bad value 'abc' for [data] limit");
    // a newline would forge a line of the stored configuration (fuzz_config found the multi-line
    // message: tests/fuzz/crashes/config)
    char *s_nl[] = {"output.file=a.h5\n[run]\nseed = 5"};
    EXPECT_SET_ERROR(k_minimal, 1, s_nl, "--set output.file=a.h5\\x0a[run]\\x0aseed = 5: holds a control character "
                                       "(\\x0a); a value is one line of text");
    // a reduced precision with device = cpu: refused (the CPU computes in fp32 only)
    EXPECT_ERROR("[model]\nweights = w\n[data]\nlist = l\n[run]\ndevice = cpu\nprecision = fp16\n", 0, NULL,
                 "x.ini:7: [run] precision = fp16 needs device = cuda; the CPU computes in fp32 only");
    char *s6[] = {"run.device=cpu", "run.precision=bf16"};
    EXPECT_SET_ERROR(k_minimal, 2, s6, "--set run.precision=bf16: [run] precision = bf16 needs device = cuda");
    char *s7[] = {"run.precision=tf32"};   // device = auto: accepted (run.c warns when it falls back to the CPU)
    {
        PcConfig c;
        PcError e = {{0}};
        int rc = pc_config_load(write_ini("tf32.ini", k_minimal), 1, s7, &c, &e);
        CHECK(rc == 0, "precision = tf32 with device = auto: %s", e.msg);
        if (rc == 0) pc_config_free(&c);
    }
    // a missing file
    PcConfig cfg;
    PcError err = {{0}};
    char missing[PATH_MAX + 32];
    snprintf(missing, sizeof missing, "%s/does_not_exist.ini", g_dir);
    CHECK(pc_config_load(missing, 0, NULL, &cfg, &err) != 0, "missing file fails");
    CHECK(strstr(err.msg, "does_not_exist.ini: cannot open (No such file or directory)") != NULL, "missing file: %s", err.msg);
}

static void test_errors(void) {
    errors_syntax();
    errors_values();
    errors_model();
    errors_set_and_files();
}

static void test_steps_upper_bound(void) {
    // S*S steps is the largest valid value (one pixel a step); one more is an error.
    PcConfig cfg;
    PcError err = {{0}};
    char *ok[] = {"metrics.steps=50176"};
    int rc = pc_config_load(write_ini("s.ini", k_minimal), 1, ok, &cfg, &err);
    CHECK(rc == 0 && cfg.insdel.steps == 50176, "steps = 224*224 accepted: %s", rc ? err.msg : "");
    if (rc == 0) pc_config_free(&cfg);
    char *bad[] = {"metrics.steps=50177"};
    EXPECT_SET_ERROR(k_minimal, 1, bad, "bad value '50177' for [metrics] steps (expected an integer in 1..50176)");
}

// A UTF-8 byte order mark (as Windows editors write) is not part of the first line; a folder given
// as the config is refused in one line naming it.
static void test_bom_and_folder(void) {
    PcConfig cfg;
    PcError err = {{0}};
    int rc = pc_config_load(write_ini("bom.ini", "\xEF\xBB\xBF[model]\nweights = w\n[data]\nlist = l\n"), 0, NULL,
                            &cfg, &err);
    CHECK(rc == 0, "config with a BOM: %s", err.msg);
    if (rc == 0) {
        CHECK(strstr(cfg.weights, "/w") != NULL, "weights after a BOM: %s", cfg.weights);
        pc_config_free(&cfg);
    }
    rc = pc_config_load(g_dir, 0, NULL, &cfg, &err);
    CHECK(rc == -1 && strstr(err.msg, "not a regular file (a directory)") && strstr(err.msg, g_dir) &&
              !strchr(err.msg, '\n'), "folder as config: rc %d, '%s'", rc, err.msg);
}

static void test_help(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    pc_config_print_help(f);
    fclose(f);
    for (int i = 0; i < pc_config_n_keys(); i++) {
        const PcConfigKeyDef *k = pc_config_key(i);
        char want[128];
        snprintf(want, sizeof want, "%s = %s", k->key, k->def[0] ? k->def : "(empty)");
        CHECK(strstr(buf, want) != NULL, "--help lists %s.%s with its default", k->section, k->key);
    }
    free(buf);
}

// The shipped configs parse (weights given where they are placeholders) and say what they claim:
// one file per paper table (README "Configurations").
typedef struct {
    const char *name;
    int n_others;           // registry methods besides the Poly-CAM variants
    const char *layer1;     // [model] layers[1], or NULL for the arch default
    int levels, cams, no_lnorm;
    int curves, sensitivity, sanity;    // insertion + deletion, [robustness], [sanity]
    const char *cam_layer1;             // [saliency] cam_layers[1], or NULL for none (= [model] layers)
    const char *reference;              // [data] reference_classes' file name, or NULL
} ShippedConfig;

static void check_paper_config(const ShippedConfig *sc, const PcConfig *cfg) {
    CHECK(cfg->n_classes == 0 && cfg->classes_file && strstr(cfg->classes_file, "imagenet_classes.txt"),
          "%s: ImageNet class names", sc->name);
    const char *list = sc->sanity ? "data/sanity_list.txt" : "data/ilsvrc2012_val_2000.txt";
    CHECK(strstr(cfg->list, list) && strstr(cfg->labels, "ilsvrc2012_val_labels.txt"),
          "%s: the paper's images (%s) with labels", sc->name, list);
    CHECK(cfg->insdel.steps == 224 && cfg->insdel.baseline == PC_BASE_BLUR && cfg->resize == PC_RESIZE_BILINEAR &&
          cfg->lnorm == PC_LNORM_CODE && cfg->norm == PC_NORM_CODE, "%s: the reference's settings", sc->name);
    CHECK(cfg->variants[0] && cfg->variants[1] && cfg->variants[2], "%s: the three Poly-CAM rows", sc->name);
    const PcMethodDesc *others[64];
    PcError err = {{0}};
    int n = pc_method_config_ids(cfg, others, 64, &err);
    CHECK(n == sc->n_others, "%s: %d other methods (want %d) %s", sc->name, n, sc->n_others, err.msg);
    if (sc->layer1) CHECK(cfg->n_layers == 5 && !strcmp(cfg->layers[1], sc->layer1), "%s: layers[1] = %s", sc->name,
                          sc->layer1);
    else CHECK(cfg->n_layers == 0, "%s: the arch's default layers", sc->name);
    CHECK(cfg->ablate_levels == sc->levels && cfg->ablate_cams == sc->cams && cfg->ablate_no_lnorm == sc->no_lnorm,
          "%s: ablations", sc->name);
    PcRobustness rob;
    PcSanitySettings san;
    CHECK(pc_robustness_from_config(cfg, &rob, &err) == 0 && pc_sanity_settings_from_config(cfg, &san, &err) == 0,
          "%s: %s", sc->name, err.msg);
    CHECK(cfg->insertion == sc->curves && cfg->deletion == sc->curves, "%s: curves %d", sc->name, sc->curves);
    CHECK(rob.sensitivity == sc->sensitivity, "%s: sensitivity %d", sc->name, sc->sensitivity);
    CHECK(san.enabled == sc->sanity, "%s: sanity %d", sc->name, sc->sanity);
    if (sc->cam_layer1) CHECK(cfg->n_cam_layers == 5 && !strcmp(cfg->cam_layers[0], "relu") &&
                                  !strcmp(cfg->cam_layers[1], sc->cam_layer1) && !strcmp(cfg->cam_layers[4], "layer4"),
                              "%s: cam_layers relu, %s, ..., layer4", sc->name, sc->cam_layer1);
    else CHECK(cfg->n_cam_layers == 0, "%s: no cam_layers", sc->name);
    if (sc->reference) CHECK(cfg->reference_classes && strstr(cfg->reference_classes, sc->reference) &&
                                 !access(cfg->reference_classes, R_OK),
                             "%s: reference classes %s", sc->name, cfg->reference_classes ? cfg->reference_classes : "none");
    else CHECK(!cfg->reference_classes, "%s: no reference classes", sc->name);
}

static void test_shipped_configs(void) {
    const ShippedConfig paper[] = {
        // the two commands of the paper: Tables 1, 4 and 2 (3) in one run each
        {"vgg16_2000.ini", 13, NULL, 1, 1, 1, 1, 0, 0, NULL, "data/authors_top1_vgg16.csv"},
        {"resnet50_2000.ini", 13, "layer2.0", 1, 1, 1, 1, 0, 0, "layer1", "data/authors_top1_resnet50.csv"},
        {"table1_vgg16.ini", 8, NULL, 0, 0, 0, 1, 0, 0, NULL, NULL},
        {"table1_resnet50.ini", 8, "layer2.0", 0, 0, 0, 1, 0, 0, NULL, NULL},
        {"table2_vgg16.ini", 0, NULL, 1, 1, 1, 1, 0, 0, NULL, NULL},
        {"table3_resnet50.ini", 0, "layer2.0", 1, 1, 1, 1, 0, 0, "layer1", NULL},
        {"table4_vgg16.ini", 13, NULL, 0, 0, 0, 1, 0, 0, NULL, NULL},
        {"table4_resnet50.ini", 13, "layer2.0", 0, 0, 0, 1, 0, 0, NULL, NULL},
        {"table5_vgg16.ini", 13, NULL, 0, 0, 0, 0, 1, 0, NULL, NULL},
        {"table5_resnet50.ini", 13, "layer2.0", 0, 0, 0, 0, 1, 0, NULL, NULL},
        {"sanity_vgg16.ini", 0, NULL, 0, 0, 0, 0, 0, 1, NULL, NULL},
    };
    char *sets[] = {"model.weights=w.safetensors"};
    char path[PATH_MAX];
    PcConfig cfg;
    PcError err = {{0}};
    snprintf(path, sizeof path, "%s/configs/demo.ini", PC_SOURCE_DIR);
    CHECK(pc_config_load(path, 0, sets, &cfg, &err) == 0, "demo.ini: %s", err.msg);
    size_t n = strlen(cfg.output);
    CHECK(cfg.custom && cfg.spec.is_resnet && cfg.spec.resnet_stem == 16 && cfg.spec.n_stages == 4, "demo: synth_resnet shape");
    CHECK(strstr(cfg.weights, "data/models/synth_resnet.safetensors") != NULL, "demo weights %s", cfg.weights);
    CHECK(cfg.classes_file && cfg.labels && cfg.overlays > 0, "demo: classes, labels, overlays");
    CHECK(n > 16 && !strcmp(cfg.output + n - 16, "/results/demo.h5"), "demo output %s", cfg.output);
    pc_config_free(&cfg);
    for (size_t i = 0; i < sizeof paper / sizeof paper[0]; i++) {
        snprintf(path, sizeof path, "%s/configs/%s", PC_SOURCE_DIR, paper[i].name);
        int rc = pc_config_load(path, 1, sets, &cfg, &err);
        CHECK(rc == 0, "%s: %s", paper[i].name, err.msg);
        if (rc) continue;
        check_paper_config(&paper[i], &cfg);
        pc_config_free(&cfg);
    }
}

// [run] device = cuda:K; [run] shard = auto from the Slurm array task's environment, stored as i/n
static void test_device_and_shard_auto(void) {
    char text[256];
    snprintf(text, sizeof text, "%s[run]\ndevice = cuda:3\nshard = auto\n", k_minimal);
    const char *path = write_ini("auto.ini", text);
    setenv("SLURM_ARRAY_TASK_ID", "2", 1);
    setenv("SLURM_ARRAY_TASK_MIN", "0", 1);
    setenv("SLURM_ARRAY_TASK_MAX", "3", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
    PcConfig cfg;
    PcError err = {{0}};
    int rc = pc_config_load(path, 0, NULL, &cfg, &err);
    CHECK(rc == 0, "device = cuda:3, shard = auto in task 2 of 0-3: %s", err.msg);
    if (rc == 0) {
        CHECK(!strcmp(cfg.device, "cuda:3"), "device text kept for the backend (%s)", cfg.device);
        CHECK(cfg.shard_index == 2 && cfg.shard_count == 4, "shard auto = 2/4 (%d/%d)", cfg.shard_index, cfg.shard_count);
        char *key = pc_config_canonical(&cfg, 1);
        CHECK(strstr(key, "\nshard = 2/4\n") != NULL, "the fingerprint stores shard = 2/4, not auto");
        free(key);
        pc_config_free(&cfg);
    }
    setenv("SLURM_ARRAY_TASK_MIN", "1", 1);   // a resubmitted subset 1..3: its ids cannot give i/n
    setenv("SLURM_ARRAY_TASK_COUNT", "3", 1);
    EXPECT_ERROR(text, 0, NULL, "x.ini:7: [run] shard = auto needs a job array --array=0-(n-1) without gaps");
    setenv("SLURM_ARRAY_TASK_MIN", "0", 1);   // a step: 0-6:2 has 4 tasks
    setenv("SLURM_ARRAY_TASK_MAX", "6", 1);
    setenv("SLURM_ARRAY_TASK_COUNT", "4", 1);
    EXPECT_ERROR(text, 0, NULL, "without gaps");
    unsetenv("SLURM_ARRAY_TASK_ID");
    EXPECT_ERROR(text, 0, NULL, "x.ini:7: [run] shard = auto outside a Slurm job array (SLURM_ARRAY_TASK_ID is not set)");
    unsetenv("SLURM_ARRAY_TASK_MIN");
    unsetenv("SLURM_ARRAY_TASK_MAX");
    unsetenv("SLURM_ARRAY_TASK_COUNT");
}

// [precision] enters the configuration texts (and so the key) only in the 8-bit precisions: the
// key of an fp32 / fp16 run is what it was before the section existed. fp8 / int8 run on the CPU.
static void test_precision_section(void) {
    const char *text = "[model]\nweights = w\n[data]\nlist = l\n[run]\ndevice = cpu\nprecision = int8\n[precision]\n"
                       "clip = 0.9\nkeep = layer4.2.conv3, layer4.2.conv2\n";
    PcConfig cfg;
    PcError err = {{0}};
    int rc = pc_config_load(write_ini("int8.ini", text), 0, NULL, &cfg, &err);
    CHECK(rc == 0 && cfg.precision == PC_PREC_INT8, "int8 on the CPU: %s", err.msg);
    if (rc) return;
    char *key = pc_config_canonical(&cfg, 1), *all = pc_config_canonical(&cfg, 0);
    // keep as the key stores it: sorted (conv2 before conv3), ", "-joined
    CHECK(strstr(key, "[precision]\ncalibration_images = 16\nclip = 0.9\nkeep = layer4.2.conv2, layer4.2.conv3\n") &&
              !strstr(key, "guard_images"), "int8 key: %s", key);
    CHECK(strstr(all, "guard_max_dauc = 0.005\nguard_min_agreement = 0.75\n") != NULL, "int8 full text: %s", all);
    // apply = all (the default) is in neither text: the keys of earlier 8-bit runs stay
    CHECK(!strstr(key, "apply") && !strstr(all, "apply"), "int8 texts with apply = all: %s", all);
    free(key), free(all);
    pc_config_free(&cfg);
    // apply = maps enters both, after the other result keys of [precision]
    char maps_text[512];
    snprintf(maps_text, sizeof maps_text, "%sapply = maps\n", text);
    rc = pc_config_load(write_ini("int8m.ini", maps_text), 0, NULL, &cfg, &err);
    CHECK(rc == 0, "int8, apply = maps: %s", err.msg);
    if (rc) return;
    key = pc_config_canonical(&cfg, 1), all = pc_config_canonical(&cfg, 0);
    CHECK(strstr(key, "keep = layer4.2.conv2, layer4.2.conv3\napply = maps\n") != NULL, "int8 maps key: %s", key);
    CHECK(strstr(all, "guard_min_agreement = 0.75\napply = maps\n") != NULL, "int8 maps full text: %s", all);
    free(key), free(all);
    pc_config_free(&cfg);
    rc = pc_config_load(write_ini("fp32.ini", "[model]\nweights = w\n[data]\nlist = l\n[precision]\nclip = 0.5\napply = maps\n"), 0,
                        NULL, &cfg, &err);
    CHECK(rc == 0, "fp32 with [precision]: %s", err.msg);
    if (rc) return;
    key = pc_config_canonical(&cfg, 1), all = pc_config_canonical(&cfg, 0);
    CHECK(!strstr(key, "[precision]") && !strstr(all, "[precision]"), "fp32 texts hold [precision]");
    free(key), free(all);
    pc_config_free(&cfg);
}

// [precision] keep enters the key canonically: one key for every order, spacing and repetition of
// the same names (a resume with "b, a" after "a,b" was refused as another configuration), sorted
// in natural order (features.2 before features.10: the network's order), the settings likewise.
static void test_keep_canonical(void) {
    const char *spellings[4] = {"features.10,features.2,layer1.0.downsample.0,layer1.0.conv3",
                                "  layer1.0.conv3 ,features.2,features.10 , layer1.0.downsample.0",
                                "features.2, features.10, features.2, layer1.0.downsample.0,layer1.0.conv3,features.10",
                                "layer1.0.downsample.0,layer1.0.conv3,features.10,features.2"};
    const char *want = "keep = features.2, features.10, layer1.0.conv3, layer1.0.downsample.0\n";
    char *first = NULL;
    for (int i = 0; i < 4; i++) {
        char text[512];
        snprintf(text, sizeof text, "[model]\nweights = w\n[data]\nlist = l\n[run]\nprecision = fp8\n"
                 "[precision]\nkeep = %s\n", spellings[i]);
        PcConfig cfg;
        PcError err = {{0}};
        if (pc_config_load(write_ini("keep.ini", text), 0, NULL, &cfg, &err)) {
            CHECK(0, "keep '%s': %s", spellings[i], err.msg);
            continue;
        }
        char *key = pc_config_canonical(&cfg, 1), *all = pc_config_canonical(&cfg, 0);
        CHECK(strstr(key, want) && strstr(all, want), "keep '%s' in the key: %s", spellings[i], key);
        CHECK(!first || !strcmp(first, key), "keep '%s' makes another key than '%s'", spellings[i], spellings[0]);
        PcPrecisionSettings ps;
        CHECK(pc_precision_settings_from_config(&cfg, &ps, &err) == 0 && ps.n_keep == 4 &&
                  !strcmp(ps.keep[0], "features.2") && !strcmp(ps.keep[1], "features.10") &&
                  !strcmp(ps.keep[2], "layer1.0.conv3") && !strcmp(ps.keep[3], "layer1.0.downsample.0"),
              "keep '%s': %d names, first %s", spellings[i], ps.n_keep, ps.keep[0]);
        if (!first) first = key;
        else free(key);
        free(all);
        pc_config_free(&cfg);
    }
    free(first);
}

// [saliency] cam_layers: the isolated CAMs' own layer list (trimmed, earliest first as given, at
// most 8, only with ablations = cams), in the configuration texts only when set.
static void test_cam_layers(void) {
    const char *base = "[model]\nweights = w\nlayers = relu,layer2.0,layer3.0,layer4.0,layer4\n[data]\nlist = l\n";
    char text[1024];
    snprintf(text, sizeof text, "%s[saliency]\nablations = levels, cams\ncam_layers =  relu , layer1,layer2,"
             "layer3 ,layer4\n", base);
    PcConfig cfg;
    PcError err = {{0}};
    int rc = pc_config_load(write_ini("cams.ini", text), 0, NULL, &cfg, &err);
    CHECK(rc == 0, "cam_layers: %s", err.msg);
    if (rc == 0) {
        CHECK(cfg.n_cam_layers == 5 && !strcmp(cfg.cam_layers[0], "relu") && !strcmp(cfg.cam_layers[1], "layer1") &&
                  !strcmp(cfg.cam_layers[3], "layer3") && !strcmp(cfg.cam_layers[4], "layer4"),
              "cam_layers parsed: %d, '%s' '%s'", cfg.n_cam_layers, cfg.cam_layers[0], cfg.cam_layers[3]);
        CHECK(cfg.n_layers == 5 && !strcmp(cfg.layers[1], "layer2.0"), "[model] layers stay the recursion's");
        CHECK(cfg.ablate_levels && cfg.ablate_cams && !cfg.ablate_no_lnorm, "ablations levels, cams");
        char *key = pc_config_canonical(&cfg, 1), *all = pc_config_canonical(&cfg, 0);
        CHECK(strstr(key, "\ncam_layers = relu , layer1,layer2,layer3 ,layer4\n") != NULL,
              "cam_layers is a result key (the ids depend on it): %s", key);
        CHECK(strstr(all, "cam_layers = ") != NULL, "cam_layers in the config text");
        free(key);
        free(all);
        pc_config_free(&cfg);
    }
    // unset: the key is in neither text (the texts and keys of earlier runs stay as they were)
    snprintf(text, sizeof text, "%s[saliency]\nablations = cams\n", base);
    rc = pc_config_load(write_ini("cams.ini", text), 0, NULL, &cfg, &err);
    CHECK(rc == 0 && cfg.n_cam_layers == 0, "no cam_layers: %s", err.msg);
    if (rc == 0) {
        char *all = pc_config_canonical(&cfg, 0);
        CHECK(!strstr(all, "cam_layers") && !strstr(all, "reference_classes"), "unset new keys not in the text");
        free(all);
        pc_config_free(&cfg);
    }
    // --set gives it too; an empty --set value clears it
    char *on[] = {"saliency.ablations=cams", "saliency.cam_layers=layer1,layer3"};
    rc = pc_config_load(write_ini("cams.ini", base), 2, on, &cfg, &err);
    CHECK(rc == 0 && cfg.n_cam_layers == 2 && !strcmp(cfg.cam_layers[1], "layer3"), "--set cam_layers: %s", err.msg);
    if (rc == 0) pc_config_free(&cfg);
    // errors: without cams, an empty item, more than 8 layers (file and --set)
    snprintf(text, sizeof text, "%s[saliency]\nablations = levels\ncam_layers = layer1\n", base);
    EXPECT_ERROR(text, 0, NULL, "x.ini:8: [saliency] cam_layers is set but [saliency] ablations has no cams");
    snprintf(text, sizeof text, "%s[saliency]\ncam_layers = layer1\n", base);
    EXPECT_ERROR(text, 0, NULL, "x.ini:7: [saliency] cam_layers is set but [saliency] ablations has no cams");
    snprintf(text, sizeof text, "%s[saliency]\nablations = cams\ncam_layers = layer1,,layer2\n", base);
    EXPECT_ERROR(text, 0, NULL, "x.ini:8: bad value 'layer1,,layer2' for [saliency] cam_layers");
    snprintf(text, sizeof text, "%s[saliency]\nablations = cams\ncam_layers = a,b,c,d,e,f,g,h,i\n", base);
    EXPECT_ERROR(text, 0, NULL, "x.ini:8: bad value 'a,b,c,d,e,f,g,h,i' for [saliency] cam_layers (expected 1 to 8");
    char *bad[] = {"saliency.cam_layers=layer1"};
    EXPECT_SET_ERROR(base, 1, bad, "--set saliency.cam_layers=layer1: [saliency] cam_layers is set but");
}

// [data] reference_classes: a path resolved like the other data files, not a result key.
static void test_reference_classes_key(void) {
    PcConfig cfg;
    PcError err = {{0}};
    int rc = pc_config_load(write_ini("ref.ini", "[model]\nweights = w\n[data]\nlist = l\nreference_classes = "
                                                 "sub/top1.csv\n"), 0, NULL, &cfg, &err);
    CHECK(rc == 0, "reference_classes: %s", err.msg);
    if (rc) return;
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/sub/top1.csv", g_dir);
    CHECK(cfg.reference_classes && !strcmp(cfg.reference_classes, want), "resolved against the file's folder: %s",
          cfg.reference_classes ? cfg.reference_classes : "(null)");
    char *key = pc_config_canonical(&cfg, 1), *all = pc_config_canonical(&cfg, 0);
    CHECK(!strstr(key, "reference_classes") && strstr(all, "reference_classes = ") != NULL,
          "in the config text, not in the key");
    free(key);
    free(all);
    pc_config_free(&cfg);
}

static void test_empty_means_default(void) {
    PcConfig cfg;
    PcError err = {{0}};
    const char *text = "[model]\nweights = w\nlayers =\n[data]\nlist = l\n[metrics]\nsteps =\n[saliency]\nablations =\n";
    int rc = pc_config_load(write_ini("empty.ini", text), 0, NULL, &cfg, &err);
    CHECK(rc == 0, "empty values: %s", err.msg);
    if (rc) return;
    CHECK(cfg.insdel.steps == 224 && cfg.n_layers == 0 && !cfg.ablate_levels, "empty value = default");
    pc_config_free(&cfg);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s", test_tmp_dir("test_config"));
    test_defaults_and_paths();
    test_values_and_sets();
    test_custom_archs();
    test_errors();
    test_steps_upper_bound();
    test_bom_and_folder();
    test_help();
    test_shipped_configs();
    test_empty_means_default();
    test_precision_section();
    test_keep_canonical();
    test_device_and_shard_auto();
    test_cam_layers();
    test_reference_classes_key();
    test_tmp_remove();
    return test_summary();
}
