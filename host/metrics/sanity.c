// sanity.c: the cascading-randomisation sanity check (see sanity.h): layer order, the
// re-initialisation draws, the step loop and its journal; results/sanity_file.c writes /sanity.
#define _GNU_SOURCE
#include "sanity.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify.h"
#include "journal.h"
#include "sanity_file.h"
#include "philox.h"
#include "similarity.h"
#include "stop.h"

// ---- layers -----------------------------------------------------------------------------------

static int is_param(const PcNode *nd) { return nd->op == PC_NODE_CONV || nd->op == PC_NODE_LINEAR; }

// The node list is built in torchvision's module order (a block's conv1, conv2, conv3, then its
// downsample; the classifier last), so its reverse is the cascading order.
int pc_sanity_order(const PcNet *net, int *nodes, int max) {
    int n = 0;
    for (int i = net->n_nodes - 1; i >= 0 && n < max; i--)
        if (is_param(&net->nodes[i])) nodes[n++] = i;
    return n;
}

const char *pc_sanity_layer_name(const PcNet *net, int node) {
    const PcNode *nd = &net->nodes[node];
    return nd->op == PC_NODE_CONV ? nd->p.conv.weight_name : nd->op == PC_NODE_LINEAR ? nd->p.linear.weight_name : "";
}

int pc_sanity_layer_index(const PcNet *net, int node) {
    if (node < 0 || node >= net->n_nodes || !is_param(&net->nodes[node])) return -1;
    int L = 0;
    for (int i = 0; i < node; i++) L += is_param(&net->nodes[i]);
    return L;
}

int pc_sanity_fan_in(const PcNet *net, int node) {
    const PcNode *nd = &net->nodes[node];
    if (nd->op == PC_NODE_CONV) return nd->p.conv.cin * nd->p.conv.k * nd->p.conv.k;
    return nd->op == PC_NODE_LINEAR ? nd->p.linear.in : 0;
}

void pc_sanity_reinit_layer(PcNet *net, int node, uint64_t seed) {
    PcNode *nd = &net->nodes[node];
    float *w, *b;
    size_t nw;
    int nb, has_bias = 1, has_bn = 0;
    if (nd->op == PC_NODE_CONV) {
        PcConvParams *c = &nd->p.conv;
        w = c->weight, b = c->bias, nb = c->cout, nw = (size_t)c->cout * c->cin * c->k * c->k;
        has_bias = !net->spec.is_resnet;    // torchvision: VGG convs have a bias, ResNet convs none
        has_bn = c->has_bn;
    } else {
        PcLinearParams *l = &nd->p.linear;
        w = l->weight, b = l->bias, nb = l->out, nw = (size_t)l->out * l->in;
    }
    const double bound = 1.0 / sqrt((double)pc_sanity_fan_in(net, node));
    // reset BN (gamma 1, beta 0, mean 0, var 1) folded as pc_net_load folds: w * s, (b - 0) * s + 0
    const double s = has_bn ? 1.0 / sqrt(1.0 + 1e-5) : 1.0;
    const uint32_t sample = ((uint32_t)PC_STREAM_SANITY << 16) | (uint32_t)pc_sanity_layer_index(net, node);
    enum { CHUNK = 4096 };
    float u[CHUNK];
    for (size_t i0 = 0; i0 < nw; i0 += CHUNK) {
        size_t n = nw - i0 < CHUNK ? nw - i0 : CHUNK;
        pc_philox_fill_uniform(seed, 0, sample, i0, n, u);
        for (size_t j = 0; j < n; j++) {
            float v = (float)((2.0 * u[j] - 1.0) * bound);     // torch: uniform_(-bound, bound)
            w[i0 + j] = has_bn ? (float)((double)v * s) : v;
        }
    }
    for (int o = 0; o < nb; o++) {
        float v = 0.f;
        if (has_bias) {
            pc_philox_fill_uniform(seed, 0, sample, nw + (size_t)o, 1, u);
            v = (float)((2.0 * u[0] - 1.0) * bound);
        }
        b[o] = has_bn ? (float)((double)v * s) : v;
    }
}

void pc_sanity_independent_layer(PcNet *net, const float *orig, int node, uint64_t seed) {
    memcpy(net->params, orig, net->n_params * sizeof(float));
    pc_sanity_reinit_layer(net, node, seed);
}

// ---- one step ---------------------------------------------------------------------------------

typedef struct {
    int n_img, n_meth, n_steps, S;
    int want;                   // [sanity] images (n_img is fewer when fewer images are readable)
    int *img;                   // (n_img) dataset index
    float *x;                   // (n_img, 3, S, S) inputs
    int *node;                  // (n_steps) node re-initialised at the step (cumulative), -1 = original
    int *cls;                   // (n_img, n_steps) argmax of the model at the step
    float *score;               // (n_img, n_steps) its softmax probability
    int variant[PC_SANITY_MAX_METHODS];                  // Poly-CAM variant, or -1
    const PcMethodDesc *desc[PC_SANITY_MAX_METHODS];     // registry method, or NULL
    float *maps;                // (n_meth, n_img, n_steps, S, S)
    double *sim;                // (PC_SIM_COUNT, n_meth, n_img, n_steps)
    int independent;            // [sanity] order = independent
    float *orig;                // independent: the original parameter arena
} Sanity;

static float *map_at(const Sanity *s, int m, int i, int t) {
    return s->maps + (((size_t)m * s->n_img + i) * s->n_steps + t) * s->S * s->S;
}

static const char *method_id(const Sanity *s, int m) {
    return s->variant[m] >= 0 ? pc_variant_ids[s->variant[m]] : s->desc[m]->id;
}

// Every method's map of image i at step t (the Poly-CAM variants from one pc_explain).
static int compute_maps(PcSanityEnv *env, Sanity *s, int i, int t, PcError *err) {
    const size_t ss = (size_t)s->S * s->S;
    const float *x = s->x + (size_t)i * 3 * ss;
    int cls = s->cls[(size_t)i * s->n_steps + t], any_pc = 0, rc = 0;
    for (int m = 0; m < s->n_meth; m++) any_pc |= s->variant[m] >= 0;
    PcExplanation e;
    memset(&e, 0, sizeof e);
    if (any_pc) {
        PcSaliencyOptions o = *env->sopt;
        o.want_levels = o.want_cams = o.want_no_lnorm = 0;
        if (pc_explain(env->be, *env->bn, env->net, env->tg, x, cls, &o, &e, err)) return -1;
    }
    PcMethodCtx mctx = {.be = env->be, .bn = *env->bn, .net = env->net, .set = env->mset, .x = x, .size = s->S,
                        .cls = cls, .image = (uint32_t)env->ds->list_index[s->img[i]], .batch = env->sopt->batch};
    for (int m = 0; m < s->n_meth && rc == 0; m++) {
        float *dst = map_at(s, m, i, t);
        if (s->variant[m] >= 0) memcpy(dst, e.map[s->variant[m]], ss * sizeof(float));
        else rc = pc_method_compute(s->desc[m], &mctx, dst, err);
    }
    if (any_pc) pc_explanation_free(&e);
    return rc;
}

// One randomisation step for every image: class, maps, similarity to step 0.
static int run_step(PcSanityEnv *env, Sanity *s, int t, PcError *err) {
    for (int i = 0; i < s->n_img; i++) {
        const size_t it = (size_t)i * s->n_steps + t;
        // independent: the original network's class at every step (Quantus's fixed y_batch)
        const int fixed = s->independent && t > 0 ? s->cls[(size_t)i * s->n_steps] : -1;
        if (pc_classify(env->be, *env->bn, env->net, s->x + (size_t)i * 3 * s->S * s->S, s->S, fixed, &s->cls[it],
                        &s->score[it], err))
            return -1;
        if (compute_maps(env, s, i, t, err)) return -1;
        for (int m = 0; m < s->n_meth; m++) {
            double sim[PC_SIM_COUNT];
            pc_sanity_similarity(map_at(s, m, i, 0), map_at(s, m, i, t), s->S, sim);
            for (int k = 0; k < PC_SIM_COUNT; k++)
                s->sim[(((size_t)k * s->n_meth + m) * s->n_img + i) * s->n_steps + t] = sim[k];
        }
    }
    return 0;
}

// Re-initialises the step's layer (independent: on the original weights) and refreshes the
// backend's copy of the weights.
static int randomise(PcSanityEnv *env, const Sanity *s, int node, PcError *err) {
    if (s->independent) pc_sanity_independent_layer(env->net, s->orig, node, env->mset->seed);
    else pc_sanity_reinit_layer(env->net, node, env->mset->seed);
    env->be->net_release(env->be, *env->bn);
    *env->bn = env->be->net_prepare(env->be, env->net, env->max_batch, err);
    return *env->bn ? 0 : -1;
}

// ---- set-up -----------------------------------------------------------------------------------

// The first n decodable images of the run (decoded as the run decodes them). An image before
// them that cannot be read is named on stderr (it is skipped as the run skipped it), so the user
// sees which images the check took instead.
static int load_images(PcSanityEnv *env, Sanity *s, int want, PcError *err) {
    int n = want < env->ds->n ? want : env->ds->n;
    int *order = xmalloc((size_t)(env->ds->n + 1) * sizeof(int));
    for (int i = 0; i < env->ds->n; i++) order[i] = i;
    const size_t xs = (size_t)3 * s->S * s->S;
    s->img = xcalloc((size_t)n + 1, sizeof(int));
    s->x = xcalloc((size_t)n * xs + 1, sizeof(float));
    PcPrefetcher *pf = pc_prefetch_start(env->ds, order, env->ds->n, env->resize, s->S, 1, 2);
    PcPrefetchItem *item;
    while (s->n_img < n && (item = pc_prefetch_next(pf)) != NULL) {
        if (item->ok) {
            memcpy(s->x + (size_t)s->n_img * xs, item->x, xs * sizeof(float));
            s->img[s->n_img++] = item->index;
        } else {
            fprintf(stderr, "sanity check: skipped, as in the run: %s (the check takes the first readable images, "
                            "[sanity] images = %d)\n", item->error, want);
        }
        pc_prefetch_release(pf, item);
    }
    pc_prefetch_stop(pf);
    free(order);
    if (s->n_img == 0) return pc_fail(err, "sanity: no image of the run could be read");
    fprintf(stderr, "sanity check: image%s", s->n_img > 1 ? "s" : "");
    for (int i = 0; i < s->n_img && i < 8; i++)
        fprintf(stderr, "%s %s", i ? "," : "", env->ds->names[s->img[i]]);
    fprintf(stderr, "%s%s\n", s->n_img > 8 ? ", ..." : "",
            s->n_img < want ? " (fewer than [sanity] images: the run has no more readable images)" : "");
    return 0;
}

static int set_methods(Sanity *s, const PcSanitySettings *ss, PcError *err) {
    s->n_meth = ss->n_methods;
    for (int m = 0; m < s->n_meth; m++) {
        s->variant[m] = -1;
        s->desc[m] = NULL;
        for (int v = 0; v < PC_N_VARIANTS; v++)
            if (!strcmp(ss->ids[m], pc_variant_ids[v])) s->variant[m] = v;
        if (s->variant[m] >= 0) continue;
        s->desc[m] = pc_method_find(ss->ids[m]);
        if (!s->desc[m] || !s->desc[m]->native) return pc_fail(err, "[sanity] methods: '%s' cannot be checked", ss->ids[m]);
    }
    return 0;
}

static void sanity_free(Sanity *s) {
    free(s->img), free(s->x), free(s->node), free(s->cls), free(s->score), free(s->maps), free(s->sim);
    free(s->orig);
}

// ---- /sanity ----------------------------------------------------------------------------------

static int write_sanity(const char *path, PcSanityEnv *env, const Sanity *s, PcError *err) {
    const char **steps = xcalloc((size_t)s->n_steps, sizeof(char *)), *ids[PC_SANITY_MAX_METHODS];
    int64_t *li = xcalloc((size_t)s->n_steps, sizeof(int64_t)), *img = xcalloc((size_t)s->n_img + 1, sizeof(int64_t));
    for (int t = 0; t < s->n_steps; t++) {
        steps[t] = t ? pc_sanity_layer_name(env->net, s->node[t]) : "original";
        li[t] = t ? pc_sanity_layer_index(env->net, s->node[t]) : -1;
    }
    for (int m = 0; m < s->n_meth; m++) ids[m] = method_id(s, m);
    for (int i = 0; i < s->n_img; i++) img[i] = s->img[i];
    PcSanityRecord r = {.n_img = s->n_img, .n_meth = s->n_meth, .n_steps = s->n_steps, .S = s->S, .want = s->want,
                        .seed = env->mset->seed, .steps = steps, .layer_index = li, .methods = ids, .images = img,
                        .cls = s->cls, .score = s->score, .maps = s->maps, .sim = s->sim, .maps_format = env->maps,
                        .independent = s->independent};
    int rc = pc_sanity_file_write(path, &r, err);
    free(steps), free(li), free(img);
    return rc;
}

// ---- durable steps ----------------------------------------------------------------------------
// <output>.sanity.journal (journal.h's format): one record per finished step t (record index t):
//   int32 cls[n_img], float score[n_img], float maps[n_meth][n_img][S*S], double sim[K][n_meth][n_img]
// the float32 values /sanity is written from, so a check resumed at its first unfinished step
// writes what an uninterrupted one writes. The header's key names everything a step depends on:
// the output (its start_time and config_key: a recomputed output starts the check over), the
// seed, the images, the methods, S and the layer order.

static size_t step_bytes(const Sanity *s) {
    return (size_t)s->n_img * (sizeof(int32_t) + sizeof(float)) +
           (size_t)s->n_meth * s->n_img * s->S * s->S * sizeof(float) +
           (size_t)PC_SIM_COUNT * s->n_meth * s->n_img * sizeof(double);
}

// Step t of s to buf (out = 1) or from buf into s (out = 0).
static void step_pack(Sanity *s, int t, unsigned char *buf, int out) {
    const size_t ss = (size_t)s->S * s->S;
#define PACK(ptr, bytes) (out ? memcpy(buf, (ptr), (bytes)) : memcpy((ptr), buf, (bytes)), buf += (bytes))
    for (int i = 0; i < s->n_img; i++) {
        int32_t c = s->cls[(size_t)i * s->n_steps + t];
        PACK(&c, sizeof c);
        s->cls[(size_t)i * s->n_steps + t] = c;
    }
    for (int i = 0; i < s->n_img; i++) PACK(&s->score[(size_t)i * s->n_steps + t], sizeof(float));
    for (int m = 0; m < s->n_meth; m++)
        for (int i = 0; i < s->n_img; i++) PACK(map_at(s, m, i, t), ss * sizeof(float));
    for (int k = 0; k < PC_SIM_COUNT; k++)
        for (int m = 0; m < s->n_meth; m++)
            for (int i = 0; i < s->n_img; i++)
                PACK(&s->sim[(((size_t)k * s->n_meth + m) * s->n_img + i) * s->n_steps + t], sizeof(double));
#undef PACK
}

// The journal's key (malloc'd); NULL when the output cannot be read.
static char *steps_key(const char *output, PcSanityEnv *env, const Sanity *s) {
    char *out = pc_sanity_file_output_key(output);
    if (!out) return NULL;
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    fprintf(m, "polycam-eval sanity steps 1\n%sseed = %llu\nS = %d\nimages =", out,
            (unsigned long long)env->mset->seed, s->S);
    for (int i = 0; i < s->n_img; i++) fprintf(m, " %d", s->img[i]);
    fprintf(m, "\nmethods =");
    for (int k = 0; k < s->n_meth; k++) fprintf(m, " %s", method_id(s, k));
    fprintf(m, "\nsteps = %d:", s->n_steps);
    for (int t = 1; t < s->n_steps; t++) fprintf(m, " %s", pc_sanity_layer_name(env->net, s->node[t]));
    fprintf(m, "\n%s", s->independent ? "randomisation = independent\n" : "");
    fclose(m);
    free(out);
    return text;
}

static char *steps_path(const char *output) {
    size_t n = strlen(output) + 32;
    char *p = xmalloc(n);
    snprintf(p, n, "%s.sanity.journal", output);
    return p;
}

// Opens the journal of the check: the steps of an interrupted check with this key are read back
// into s (*done = their count, each re-initialised layer applied to the net again); otherwise a
// new journal. 0, or -1 with err.
static int steps_open(PcJournal *j, const char *output, PcSanityEnv *env, Sanity *s, int *done, PcError *err) {
    char *path = steps_path(output), *key = steps_key(output, env, s);
    PcJournalHeader h;
    memset(&h, 0, sizeof h);
    int rc = key ? 0 : pc_fail(err, "%s: cannot read to check it", output), valid = 0;
    *done = 0;
    if (rc == 0 && access(path, F_OK) == 0 && (valid = pc_journal_open(j, path, &h, err)) < 0) rc = -1;
    if (rc == 0 && valid && strcmp(h.key, key)) {
        fprintf(stderr, "sanity check: %s holds steps of another check (other settings or output); starting over\n", path);
        pc_journal_close(j);
        valid = 0;
    }
    if (rc == 0 && valid) {
        const size_t bytes = step_bytes(s);
        unsigned char *buf = xmalloc(bytes);
        int t;
        while (*done < s->n_steps && pc_journal_next(j, s->n_steps, &t, buf, bytes) && t == *done) {
            step_pack(s, t, buf, 0);
            // cascading: the layers so far re-initialised again (prepared at step done); independent
            // steps start from the original weights each
            if (t > 0 && !s->independent) pc_sanity_reinit_layer(env->net, s->node[t], env->mset->seed);
            (*done)++;
        }
        free(buf);
        long dropped;
        rc = pc_journal_cut(j, &dropped, err);
        if (rc == 0 && *done == s->n_steps)
            fprintf(stderr, "sanity check: every step read back from %s (stopped before /sanity was written)\n", path);
        else if (rc == 0 && *done)
            fprintf(stderr, "sanity check: resuming at step %d of %d (steps 0..%d read back from %s)\n", *done,
                    s->n_steps - 1, *done - 1, path);
    }
    if (rc == 0 && !valid) {
        PcJournalHeader nh = {.key = key};
        rc = pc_journal_create(j, path, &nh, err);
    }
    pc_journal_header_free(&h);
    free(key);
    free(path);
    return rc;
}

// ---- the check --------------------------------------------------------------------------------

static int sanity_alloc(PcSanityEnv *env, Sanity *s, const PcSanitySettings *ss, PcError *err) {
    s->S = env->size;
    if (load_images(env, s, ss->images, err)) return -1;   // methods: set_methods before
    s->node = xcalloc((size_t)env->net->n_nodes + 1, sizeof(int));
    s->node[0] = -1;
    s->n_steps = 1 + pc_sanity_order(env->net, s->node + 1, env->net->n_nodes);
    const size_t per = (size_t)s->n_img * s->n_steps;
    s->cls = xcalloc(per, sizeof(int));
    s->score = xcalloc(per, sizeof(float));
    s->maps = xcalloc((size_t)s->n_meth * per * s->S * s->S, sizeof(float));
    s->sim = xcalloc((size_t)PC_SIM_COUNT * s->n_meth * per, sizeof(double));
    return 0;
}

int pc_sanity_run(PcSanityEnv *env, const PcSanitySettings *ss, const char *output, PcError *err) {
    Sanity s;
    memset(&s, 0, sizeof s);
    s.want = ss->images;
    s.independent = ss->independent;
    int rc = set_methods(&s, ss, err);
    const char *ids[PC_SANITY_MAX_METHODS];
    for (int m = 0; rc == 0 && m < s.n_meth; m++) ids[m] = method_id(&s, m);
    if (rc == 0 && pc_sanity_file_is_current(output, ids, s.n_meth, s.want, env->mset->seed, env->maps,
                                                 s.independent)) {
        fprintf(stderr, "sanity check: %s:/sanity has these settings already: nothing to compute\n", output);
        char *jp = steps_path(output);   // left by a kill between the rename and its removal
        if (pc_journal_has_signature(jp)) unlink(jp);
        free(jp);
        return 0;
    }
    if (rc == 0) rc = sanity_alloc(env, &s, ss, err);
    if (rc == 0 && s.independent) {
        s.orig = xmalloc(env->net->n_params * sizeof(float));
        memcpy(s.orig, env->net->params, env->net->n_params * sizeof(float));
    }
    if (rc == 0)
        fprintf(stderr, "sanity check: %d images x %d methods x %d steps (original + %d layers re-initialised%s)\n",
                s.n_img, s.n_meth, s.n_steps, s.n_steps - 1, s.independent ? " one at a time" : "");
    PcJournal j;
    memset(&j, 0, sizeof j);
    int done = 0;
    if (rc == 0) rc = steps_open(&j, output, env, &s, &done, err);
    unsigned char *rec = rc == 0 ? xmalloc(step_bytes(&s)) : NULL;
    for (int t = done; rc == 0 && t < s.n_steps; t++) {
        int sig = pc_stop_requested();     // a stop signal between two steps: the steps so far are kept
        if (sig) {
            rc = 1;
            char kept[64] = "no step finished yet, nothing kept";   // stopped before step 0 ended
            if (t > 0) snprintf(kept, sizeof kept, "steps 0..%d kept", t - 1);
            pc_fail(err, "interrupted by %s during the sanity check (step %d of %d); /sanity not written yet, %s in "
                         "%s; rerun the same command to continue", pc_stop_signal_name(sig), t, s.n_steps - 1, kept,
                    j.path);
            break;
        }
        if (t > 0) rc = randomise(env, &s, s.node[t], err);
        if (rc == 0) rc = run_step(env, &s, t, err);
        if (rc == 0) step_pack(&s, t, rec, 1);
        if (rc == 0) rc = pc_journal_append(&j, t, rec, step_bytes(&s), err);
        if (rc == 0)
            fprintf(stderr, "  sanity step %d/%d: %s (class of image 0: %d)\n", t, s.n_steps - 1,
                    t ? pc_sanity_layer_name(env->net, s.node[t]) : "original", s.cls[t]);
    }
    if (rc == 0) rc = write_sanity(output, env, &s, err);
    if (rc == 0) fprintf(stderr, "sanity check written to %s:/sanity\n", output);
    char *jpath = j.path ? strdup(j.path) : NULL;
    pc_journal_close(&j);
    if (rc == 0 && jpath) unlink(jpath);   // /sanity holds it all now
    free(jpath);
    free(rec);
    sanity_free(&s);
    return rc;
}
