// hashweights.c: the fixtures' deterministic pseudo-random weights (tests/fixtures/README.md):
// T[i] = base + bound * u(name, i), u from two integer hashes, so full-size VGG16 / ResNet50 can be
// rebuilt in memory and compared with PyTorch's outputs without shipping weight files.
#include "hashweights.h"

#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline uint32_t lowbias32(uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

static uint32_t fnv1a32(const char *s) {
    uint32_t h = 0x811c9dc5u;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x01000193u;
    return h;
}

static inline float hash_u(uint32_t seed, uint32_t i) {
    uint32_t x = lowbias32(i + seed);
    return (float)(x >> 8) * (1.0f / 8388608.0f) - 1.0f;   // 2^-23
}

float pc_hash_uniform(const char *name, uint32_t i) { return hash_u(lowbias32(fnv1a32(name)), i); }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

// Default rule of the README for a tensor with no explicit rule. A tensor belongs to a batch norm
// when its module has running statistics in the expected list.
static void default_rule(const PcStateDict *exp, const PcTensor *t, float *base, float *bound) {
    *base = 0.0f;
    *bound = 0.05f;
    const char *dot = strrchr(t->name, '.');
    size_t plen = dot ? (size_t)(dot - t->name) : strlen(t->name);
    char prefix[128];
    snprintf(prefix, sizeof prefix, "%.*s", (int)plen, t->name);
    char rm[160];
    snprintf(rm, sizeof rm, "%s.running_mean", prefix);
    int is_bn = pc_state_dict_get(exp, rm) != NULL;
    if (is_bn) {
        int bn3 = ends_with(prefix, "bn3");
        if (ends_with(t->name, ".weight")) *base = bn3 ? 0.2f : 1.0f, *bound = bn3 ? 0.02f : 0.1f;
        else if (ends_with(t->name, ".bias")) *bound = 0.1f;
        else if (ends_with(t->name, ".running_mean")) *bound = 0.1f;
        else if (ends_with(t->name, ".running_var")) *base = 1.0f, *bound = 0.2f;
        return;
    }
    if (ends_with(t->name, ".weight") && t->ndim >= 2 && t->shape[0] > 0) {
        double fan_in = (double)t->numel / (double)t->shape[0];
        *bound = (float)sqrt(6.0 / fan_in);
    }
}

typedef struct {
    float *dst;
    int64_t n;
    uint32_t seed;
    float base, bound;
} FillJob;

typedef struct {
    const FillJob *jobs;
    int n_jobs;
    int64_t total;
    int part, parts;
} FillWork;

// Fills this worker's share of the concatenated element range of all jobs.
static void *fill_worker(void *arg) {
    const FillWork *w = arg;
    int64_t lo = w->total * w->part / w->parts, hi = w->total * (w->part + 1) / w->parts;
    int64_t pos = 0;
    for (int j = 0; j < w->n_jobs && pos < hi; j++) {
        const FillJob *jb = &w->jobs[j];
        int64_t a = lo > pos ? lo - pos : 0, b = hi - pos < jb->n ? hi - pos : jb->n;
        for (int64_t i = a; i < b; i++) {
            float p = jb->bound * hash_u(jb->seed, (uint32_t)i);
            jb->dst[i] = jb->base + p;
        }
        pos += jb->n;
    }
    return NULL;
}

int pc_hash_state_dict(const PcNet *net, int n_rules, const char *const *names, const float *base,
                       const float *bound, PcStateDict *out, PcError *err) {
    if (pc_net_expected_state(net, out, err)) return -1;
    free(out->path);
    out->path = strdup("<hash>");
    // One arena: floats of every tensor, then the I64 scalars (8-byte aligned).
    size_t n_float = 0, n_i64 = 0;
    for (int i = 0; i < out->n; i++) {
        if (out->tensors[i].dtype == PC_DT_I64) n_i64 += (size_t)out->tensors[i].numel;
        else n_float += (size_t)out->tensors[i].numel;
    }
    size_t i64_at = (n_float + 1) & ~(size_t)1;
    out->owned = xcalloc(i64_at + 2 * n_i64 + 1, sizeof(float));
    FillJob *jobs = xcalloc((size_t)out->n + 1, sizeof(FillJob));
    int n_jobs = 0;
    size_t fpos = 0, ipos = i64_at;
    int64_t total = 0;
    for (int i = 0; i < out->n; i++) {
        PcTensor *t = &out->tensors[i];
        if (t->dtype == PC_DT_I64) {
            t->data = out->owned + ipos;   // zeros: num_batches_tracked is never read
            ipos += 2 * (size_t)t->numel;
            continue;
        }
        float *dst = out->owned + fpos;
        t->data = dst;
        fpos += (size_t)t->numel;
        FillJob *jb = &jobs[n_jobs++];
        jb->dst = dst;
        jb->n = t->numel;
        jb->seed = lowbias32(fnv1a32(t->name));
        int found = 0;
        for (int r = 0; r < n_rules; r++) {
            if (strcmp(names[r], t->name) == 0) {
                jb->base = base[r];
                jb->bound = bound[r];
                found = 1;
                break;
            }
        }
        if (!found) default_rule(out, t, &jb->base, &jb->bound);
        total += t->numel;
    }
    // Two workers halve the ~1 s it takes to hash VGG16's 138 M values.
    enum { PARTS = 2 };
    FillWork work[PARTS];
    pthread_t tid[PARTS];
    int started[PARTS] = {0};
    for (int p = 0; p < PARTS; p++) work[p] = (FillWork){jobs, n_jobs, total, p, PARTS};
    for (int p = 1; p < PARTS; p++) started[p] = pthread_create(&tid[p], NULL, fill_worker, &work[p]) == 0;
    fill_worker(&work[0]);
    for (int p = 1; p < PARTS; p++) {
        if (started[p]) pthread_join(tid[p], NULL);
        else fill_worker(&work[p]);
    }
    free(jobs);
    return 0;
}

int pc_fixture_arch_spec(const char *model, PcArchSpec *s, PcError *err) {
    const int tiny_vgg = !strcmp(model, "tiny_vgg"), tiny_resnet = !strcmp(model, "tiny_resnet");
    const int synth_vgg = !strcmp(model, "synth_vgg"), synth_resnet = !strcmp(model, "synth_resnet");
    if (!tiny_vgg && !tiny_resnet && !synth_vgg && !synth_resnet) return pc_arch_from_name(model, s, err);
    const int resnet = tiny_resnet || synth_resnet, synth = synth_vgg || synth_resnet;
    if (pc_arch_from_name(resnet ? "resnet" : "vgg", s, err)) return -1;
    s->n_classes = synth ? 4 : 10;
    if (!resnet) {
        // features cfg, classifier (hidden, hidden, classes), adaptive pool 7, no batch norm
        static const int tiny[15] = {8, 8, 0, 16, 16, 0, 32, 32, 0, 32, 32, 0, 32, 32, 0};
        static const int syn[15] = {16, 16, 0, 32, 32, 0, 64, 64, 0, 64, 64, 0, 64, 64, 0};
        s->n_vgg_cfg = 15;
        memcpy(s->vgg_cfg, synth ? syn : tiny, sizeof tiny);
        s->n_vgg_hidden = 2;
        s->vgg_hidden[0] = s->vgg_hidden[1] = synth ? 128 : 64;
    } else {
        // Bottleneck stages (planes, blocks, stride)
        static const int tiny_planes[4] = {4, 8, 16, 32}, synth_planes[4] = {8, 16, 32, 32};
        static const int blocks[4] = {1, 2, 1, 1}, strides[4] = {1, 2, 2, 2};
        s->resnet_bottleneck = 1;
        s->resnet_stem = synth ? 16 : 8;
        s->n_stages = 4;
        memcpy(s->stage_planes, synth ? synth_planes : tiny_planes, sizeof tiny_planes);
        memcpy(s->stage_blocks, blocks, sizeof blocks);
        memcpy(s->stage_stride, strides, sizeof strides);
    }
    return 0;
}
