// saliency.c: the Poly-CAM engine (SPEC §4, §6, §7), written only through the PcBackend vtable so
// the CPU and CUDA backends run the same code. Per image: one forward pass with taps on every
// target layer (and every isolated-CAM layer that is not one: PcSaliencyOptions.cam_targets), then
// per layer the masked passes of its live channels (plus and minus images of a
// channel in the same forward batch), the channel weights of PCAM+, PCAM- and PCAM+- from the same
// scores, and finally the CAMs, the LNorm recursion, the level maps, the isolated CAMs and the
// no-LNorm ablation for the three variants at once (every map op runs on 3 maps). Every map
// handed back is S x S. When the backend runs out of memory the image starts again with half the
// batch (down to one image per pass).
#include "saliency.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const pc_variant_ids[PC_N_VARIANTS] = {"pcamp", "pcamm", "pcampm"};

void pc_saliency_default_options(PcSaliencyOptions *opt) {
    memset(opt, 0, sizeof *opt);
    opt->batch = 32;
    opt->lnorm = PC_LNORM_CODE;
    opt->norm = PC_NORM_CODE;
    opt->want_levels = 1;
    opt->want_cams = 1;
    opt->want_no_lnorm = 1;
}

int pc_targets_resolve(const PcNet *net, int n_names, char names[][64], PcTargets *t, PcError *err) {
    memset(t, 0, sizeof *t);
    char defaults[PC_MAX_TARGETS][64];
    if (n_names == 0) {
        n_names = pc_net_default_targets(net, defaults, PC_MAX_TARGETS);
        names = defaults;
        if (n_names <= 0) return pc_fail(err, "%s: the network has no default target layers", net->spec.arch);
    }
    if (n_names > PC_MAX_TARGETS)
        return pc_fail(err, "%d target layers given, at most %d supported", n_names, PC_MAX_TARGETS);
    for (int i = 0; i < n_names; i++) {
        int node = pc_net_find(net, names[i]);
        if (node < 0)
            return pc_fail(err, "target layer '%s' is not a named output of %s", names[i],
                           net->spec.arch);
        const PcNode *nd = &net->nodes[node];
        if (nd->op == PC_NODE_LINEAR)
            return pc_fail(err, "target layer '%s' is a linear layer, not a feature map", names[i]);
        // the recursion runs from the latest layer back to the earliest
        if (i > 0 && node <= t->nodes[i - 1])
            return pc_fail(err, "target layer '%s' does not come after '%s' in the network; give "
                           "target layers earliest first", names[i], names[i - 1]);
        memcpy(t->names[i], names[i], sizeof t->names[i]);   // both rows are 64 chars
        t->names[i][sizeof t->names[i] - 1] = '\0';
        t->nodes[i] = node;
        t->c[i] = nd->c, t->h[i] = nd->h, t->w[i] = nd->w;
    }
    t->n_targets = n_names;
    return 0;
}

void pc_explanation_free(PcExplanation *e) {
    if (!e) return;
    free(e->logits);
    for (int l = 0; l < PC_MAX_TARGETS; l++) {
        free(e->s_plus[l]);
        free(e->s_minus[l]);
        for (int v = 0; v < PC_N_VARIANTS; v++) {
            free(e->weights[v][l]);
            free(e->cams[v][l]);
        }
    }
    for (int v = 0; v < PC_N_VARIANTS; v++) {
        free(e->map[v]);
        free(e->levels[v]);
        free(e->map_no_lnorm[v]);
    }
    memset(e, 0, sizeof *e);
}

// The layers the engine taps and runs masked passes on: the targets and the isolated-CAM layers
// merged in network order, a node in both lists once. Workspace buffers are indexed by it.
#define MAX_LAYERS (2 * PC_MAX_TARGETS)
typedef struct {
    int n;
    int nodes[MAX_LAYERS], c[MAX_LAYERS], h[MAX_LAYERS], w[MAX_LAYERS];
    int target[MAX_LAYERS];         // its index among the targets; -1 for a CAM layer only
    int of_target[PC_MAX_TARGETS];  // the engine layer of target l
    int n_cams;
    int of_cam[PC_MAX_TARGETS];     // the engine layer of isolated-CAM layer i
} Layers;

// Both lists are strictly increasing in node index (pc_targets_resolve), so one merge pass.
static void engine_layers(const PcTargets *tg, const PcTargets *cams, Layers *u) {
    memset(u, 0, sizeof *u);
    const PcTargets *cl = cams ? cams : tg;
    int i = 0, j = 0;
    while (i < tg->n_targets || j < cl->n_targets) {
        const int ni = i < tg->n_targets ? tg->nodes[i] : -1, nj = j < cl->n_targets ? cl->nodes[j] : -1;
        const int take_t = ni >= 0 && (nj < 0 || ni <= nj), take_c = nj >= 0 && (ni < 0 || nj <= ni);
        const PcTargets *src = take_t ? tg : cl;
        const int idx = take_t ? i : j, k = u->n++;
        u->nodes[k] = src->nodes[idx], u->c[k] = src->c[idx], u->h[k] = src->h[idx], u->w[k] = src->w[idx];
        u->target[k] = take_t ? i : -1;
        if (take_t) u->of_target[i++] = k;
        if (take_c) u->of_cam[j++] = k;
    }
    u->n_cams = cl->n_targets;
}

long pc_engine_channels(const PcTargets *tg, const PcTargets *cams) {
    Layers u;
    engine_layers(tg, cams, &u);
    long channels = 0;
    for (int k = 0; k < u.n; k++) channels += u.c[k];
    return channels;
}

// Backend buffers of one explanation (sizes from the engine's layers), and the host scratch.
typedef struct {
    PcBackend *be;
    float *x;                       // (3, S, S)
    float *logits;                  // (pairs*2, n_classes)
    float *taps[MAX_LAYERS];        // (C_k, h_k, w_k) per engine layer
    float *masked;                  // (2*pairs, 3, S, S): plus images then minus images
    float *scores;                  // (2*C_max): per batch, m plus scores then m minus scores
    float *weights;                 // (3, C_max)
    float *cams[MAX_LAYERS];        // (3, h_k, w_k)  C_k per variant, per engine layer
    float *poly[PC_MAX_TARGETS];    // (3, h_l, w_l)  P_l of target l
    float *plain[PC_MAX_TARGETS];   // (3, h_l, w_l)  no-LNorm P_l
    float *up;                      // (3, hw_max)    up(P_{l+1}) at layer l
    float *lnormed;                 // (3, hw_max)
    float *unorm;                   // (3, hw_max)    u(P_l)
    float *level;                   // (3, S, S)
    // host
    float *act_host;                // (C_max, hw_max over layers)
    float *scores_host;             // (2*C_max)
    float *weights_host;            // (3, C_max)
    int *chans;                     // (C_max) live channels of the current layer
} Workspace;

static void workspace_free(Workspace *ws) {
    PcBackend *be = ws->be;
    if (!be) return;
    void *dev[] = {ws->x, ws->logits, ws->masked, ws->scores, ws->weights, ws->up, ws->lnormed,
                   ws->unorm, ws->level};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (dev[i]) be->release(be, dev[i]);
    for (int k = 0; k < MAX_LAYERS; k++) {
        if (ws->taps[k]) be->release(be, ws->taps[k]);
        if (ws->cams[k]) be->release(be, ws->cams[k]);
    }
    for (int l = 0; l < PC_MAX_TARGETS; l++) {
        if (ws->poly[l]) be->release(be, ws->poly[l]);
        if (ws->plain[l]) be->release(be, ws->plain[l]);
    }
    free(ws->act_host);
    free(ws->scores_host);
    free(ws->weights_host);
    free(ws->chans);
    memset(ws, 0, sizeof *ws);
}

// Backend buffers for masked passes of `pairs` plus/minus pairs; -1 when the backend is out of
// memory (whatever was had is released by workspace_free).
static int workspace_init(Workspace *ws, PcBackend *be, const PcNet *net, const PcTargets *tg, const Layers *u,
                          int pairs, int want_no_lnorm) {
    memset(ws, 0, sizeof *ws);
    ws->be = be;
    const size_t S = (size_t)net->in_h, ss = S * S, f = sizeof(float);
    size_t c_max = 0, act_max = 0, hw_max = 0;
    int short_of = 0;
    for (int k = 0; k < u->n; k++) {
        size_t hw = (size_t)u->h[k] * u->w[k];
        if ((size_t)u->c[k] > c_max) c_max = (size_t)u->c[k];
        if (hw * u->c[k] > act_max) act_max = hw * u->c[k];
        if (hw > hw_max) hw_max = hw;
        short_of |= !(ws->taps[k] = be->alloc(be, hw * u->c[k] * f));
        short_of |= !(ws->cams[k] = be->alloc(be, 3 * hw * f));
    }
    for (int l = 0; l < tg->n_targets - 1; l++) {   // P_L and its no-LNorm twin are C_L itself
        const size_t hw = (size_t)tg->h[l] * tg->w[l];
        short_of |= !(ws->poly[l] = be->alloc(be, 3 * hw * f));
        if (want_no_lnorm) short_of |= !(ws->plain[l] = be->alloc(be, 3 * hw * f));
    }
    ws->x = be->alloc(be, 3 * ss * f);
    ws->logits = be->alloc(be, 2 * (size_t)pairs * net->n_classes * f);
    ws->masked = be->alloc(be, 2 * (size_t)pairs * 3 * ss * f);
    ws->scores = be->alloc(be, 2 * c_max * f);
    ws->weights = be->alloc(be, 3 * c_max * f);
    ws->up = be->alloc(be, 3 * hw_max * f);
    ws->lnormed = be->alloc(be, 3 * hw_max * f);
    ws->unorm = be->alloc(be, 3 * hw_max * f);
    ws->level = be->alloc(be, 3 * ss * f);
    ws->act_host = xmalloc(act_max * f);
    ws->scores_host = xmalloc(2 * c_max * f);
    ws->weights_host = xmalloc(3 * c_max * f);
    ws->chans = xmalloc(c_max * sizeof *ws->chans);
    void *dev[] = {ws->x, ws->logits, ws->masked, ws->scores, ws->weights, ws->up, ws->lnormed,
                   ws->unorm, ws->level};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
        if (!dev[i]) return -1;
    return short_of ? -1 : 0;
}

// Channels of act (C, hw) that are not identically zero (a NaN counts as non-zero).
static int find_live_channels(const float *act, int c, size_t hw, int *chans) {
    int n = 0;
    for (int k = 0; k < c; k++) {
        const float *a = act + (size_t)k * hw;
        int live = 0;
        for (size_t i = 0; i < hw && !live; i++) live = a[i] != 0.0f;
        if (live) chans[n++] = k;
    }
    return n;
}

// Masked passes of one layer: s_plus / s_minus of every live channel into ws->scores_host laid
// out per batch as [m plus scores][m minus scores]. Returns forward's error (-1, or PC_ERR_OOM
// when the backend ran out of memory for the batch).
static int layer_scores(PcBackend *be, PcBackendNet *bn, const PcNet *net, Workspace *ws,
                        const float *act, int h, int w, int n_live, int cls, int batch,
                        PcNormFormula norm, PcError *err) {
    const int S = net->in_h, ncls = net->n_classes;
    const size_t img = (size_t)3 * S * S;
    const int pairs = batch >= 2 ? batch / 2 : 1;
    for (int b = 0; b < n_live; b += pairs) {
        const int m = n_live - b < pairs ? n_live - b : pairs;
        float *plus = ws->masked, *minus = ws->masked + (size_t)m * img;
        be->masked_inputs(be, act, h, w, ws->chans + b, m, ws->x, S, norm, plus, minus);
        int rc = be->take_error(be, err);
        if (rc) return rc;
        if (batch >= 2) {
            if ((rc = be->forward(be, bn, plus, 2 * m, ws->logits, 0, NULL, NULL, err)) != 0) return rc;
            be->softmax_gather(be, ws->logits, 2 * m, ncls, cls, ws->scores + 2 * b);
        } else {   // one image per pass: the plus and the minus image separately
            if ((rc = be->forward(be, bn, plus, 1, ws->logits, 0, NULL, NULL, err)) != 0) return rc;
            be->softmax_gather(be, ws->logits, 1, ncls, cls, ws->scores + 2 * b);
            if ((rc = be->forward(be, bn, minus, 1, ws->logits, 0, NULL, NULL, err)) != 0) return rc;
            be->softmax_gather(be, ws->logits, 1, ncls, cls, ws->scores + 2 * b + 1);
        }
    }
    be->download(be, ws->scores_host, ws->scores, 2 * (size_t)n_live * sizeof(float));
    return 0;
}

// Weights of the three variants (SPEC §6) from the scores of one layer, into ws->weights_host
// (3, C), and its scores into s_plus / s_minus when given (the targets': e). Dead channels: weight
// 0, s_plus 0, s_minus s0. Float32 arithmetic like the reference.
static void layer_weights(Workspace *ws, float s0, int c, int n_live, int pairs, float *s_plus, float *s_minus) {
    float *wp = ws->weights_host, *wm = wp + c, *wpm = wm + c;
    for (int k = 0; k < c; k++) {
        if (s_plus) s_plus[k] = 0.0f;
        if (s_minus) s_minus[k] = s0;
        wp[k] = wm[k] = wpm[k] = 0.0f;
    }
    for (int b = 0; b < n_live; b += pairs) {
        const int m = n_live - b < pairs ? n_live - b : pairs;
        for (int j = 0; j < m; j++) {
            const int k = ws->chans[b + j];
            const float sp = ws->scores_host[2 * b + j], sm = ws->scores_host[2 * b + m + j];
            if (s_plus) s_plus[k] = sp;
            if (s_minus) s_minus[k] = sm;
            const float dm = s0 - sm, dpm = (sp + s0) - sm;
            wp[k] = sp;
            wm[k] = dm > 0.0f ? dm : 0.0f;
            wpm[k] = dpm > 0.0f ? dpm : 0.0f;
        }
    }
}

// S = up(u(P), S, S) for the 3 variant maps P (3, h, w); variant v's map goes to dst[v].
static void level_maps(PcBackend *be, Workspace *ws, const float *p, int h, int w, int S,
                       PcNormFormula norm, float *const dst[PC_N_VARIANTS]) {
    be->normalize_maps(be, p, 3, h, w, norm, ws->unorm);
    be->resample(be, ws->unorm, 3, h, w, S, S, ws->level);
    const size_t ss = (size_t)S * S;
    for (int v = 0; v < PC_N_VARIANTS; v++)
        be->download(be, dst[v], ws->level + v * ss, ss * sizeof(float));
}

// The image's forward pass with taps on every engine layer: logits, the explained class (cls < 0:
// the first maximum, like torch.max) and s0 = softmax(logits)[cls].
static int first_forward(PcBackend *be, PcBackendNet *bn, const PcNet *net, const Layers *u,
                         Workspace *ws, const float *x_host, int cls, PcExplanation *e, PcError *err) {
    const int S = net->in_h, ncls = net->n_classes;
    be->upload(be, ws->x, x_host, 3 * (size_t)S * S * sizeof(float));
    int rc = be->forward(be, bn, ws->x, 1, ws->logits, u->n, u->nodes, ws->taps, err);
    if (rc) return rc;
    be->download(be, e->logits, ws->logits, (size_t)ncls * sizeof(float));
    if (cls < 0) {
        cls = 0;
        for (int i = 1; i < ncls; i++)
            if (e->logits[i] > e->logits[cls]) cls = i;
    } else if (cls >= ncls) {
        return pc_fail(err, "class %d out of range: %s has %d classes", cls, net->spec.arch, ncls);
    }
    e->cls = cls;
    be->softmax_gather(be, ws->logits, 1, ncls, cls, ws->scores);
    be->download(be, &e->score, ws->scores, sizeof(float));
    e->forward_passes = 1;
    return 0;
}

// Per engine layer: the masked passes of its live channels, the weights of the three variants
// and their CAMs C = relu(sum_k w_k A_k) into ws->cams[k] (3, h_k, w_k); a target's scores and
// weights also into e.
static int masked_layers(PcBackend *be, PcBackendNet *bn, const PcNet *net, const Layers *u,
                         Workspace *ws, int batch, PcNormFormula norm, PcExplanation *e, PcError *err) {
    const int pairs = batch >= 2 ? batch / 2 : 1;
    for (int k = 0; k < u->n; k++) {
        const int c = u->c[k], h = u->h[k], w = u->w[k], l = u->target[k];
        const size_t hw = (size_t)h * w;
        if (l >= 0) {
            e->s_plus[l] = xmalloc((size_t)c * sizeof(float));
            e->s_minus[l] = xmalloc((size_t)c * sizeof(float));
            for (int v = 0; v < PC_N_VARIANTS; v++) e->weights[v][l] = xmalloc((size_t)c * sizeof(float));
        }
        be->download(be, ws->act_host, ws->taps[k], (size_t)c * hw * sizeof(float));
        const int n_live = find_live_channels(ws->act_host, c, hw, ws->chans);
        int rc = layer_scores(be, bn, net, ws, ws->taps[k], h, w, n_live, e->cls, batch, norm, err);
        if (rc) return rc;
        e->live_channels += n_live;
        e->forward_passes += 2L * n_live;
        layer_weights(ws, e->score, c, n_live, pairs, l >= 0 ? e->s_plus[l] : NULL, l >= 0 ? e->s_minus[l] : NULL);
        for (int v = 0; l >= 0 && v < PC_N_VARIANTS; v++)
            memcpy(e->weights[v][l], ws->weights_host + (size_t)v * c, (size_t)c * sizeof(float));
        be->upload(be, ws->weights, ws->weights_host, 3 * (size_t)c * sizeof(float));
        be->weighted_channel_sum(be, ws->taps[k], c, h, w, ws->weights, 3, ws->cams[k]);
    }
    return 0;
}

// P_l of layer l < L (SPEC §7): relu(LNorm(C_l) * up(P_{l+1})) into ws->poly[l], and its
// no-LNorm twin relu(C_l * up(P'_{l+1})) into ws->plain[l] when plain_next is given.
static void poly_step(PcBackend *be, Workspace *ws, const PcTargets *tg, int l, const float *cam, PcLnormMode lnorm,
                      const float *poly_next, const float *plain_next) {
    const int h = tg->h[l], w = tg->w[l], ph = tg->h[l + 1], pw = tg->w[l + 1];
    const size_t n = 3 * (size_t)h * w;
    be->resample(be, poly_next, 3, ph, pw, h, w, ws->up);
    be->lnorm(be, cam, 3, h, w, ph, pw, lnorm, ws->lnormed);
    be->mul_relu(be, ws->lnormed, ws->up, n, ws->poly[l]);
    if (plain_next) {
        be->resample(be, plain_next, 3, ph, pw, h, w, ws->up);
        be->mul_relu(be, cam, ws->up, n, ws->plain[l]);
    }
}

// The isolated CAMs of every CAM layer brought to S x S with up() (as every stored map): e->cams[v][i].
static void isolated_cams(PcBackend *be, Workspace *ws, const Layers *u, int S, PcExplanation *e) {
    const size_t ss = (size_t)S * S;
    for (int i = 0; i < u->n_cams; i++) {
        const int k = u->of_cam[i];
        be->resample(be, ws->cams[k], 3, u->h[k], u->w[k], S, S, ws->level);
        for (int v = 0; v < PC_N_VARIANTS; v++) {
            e->cams[v][i] = xmalloc(ss * sizeof(float));
            be->download(be, e->cams[v][i], ws->level + v * ss, ss * sizeof(float));
        }
    }
    e->n_cams = u->n_cams;
}

// The recursion (SPEC §7) from the latest target to the earliest, for the three variants at once:
// the final maps S_1, the levels S_l and the no-LNorm map, as asked; then the isolated CAMs.
static void recursion(PcBackend *be, Workspace *ws, const PcTargets *tg, const Layers *u, int S,
                      const PcSaliencyOptions *opt, PcExplanation *e) {
    const int L = tg->n_targets;
    const size_t ss = (size_t)S * S;
    for (int v = 0; v < PC_N_VARIANTS; v++) {
        e->map[v] = xmalloc(ss * sizeof(float));
        if (opt->want_levels) e->levels[v] = xmalloc((size_t)L * ss * sizeof(float));
        if (opt->want_no_lnorm) e->map_no_lnorm[v] = xmalloc(ss * sizeof(float));
    }
    const float *poly_next = NULL, *plain_next = NULL;   // P_{l+1} and its no-LNorm twin
    for (int l = L - 1; l >= 0; l--) {
        const float *cam = ws->cams[u->of_target[l]];
        const float *poly = cam, *plain = cam;   // P_L = C_L (already ReLU'd)
        if (l < L - 1) {
            poly_step(be, ws, tg, l, cam, opt->lnorm, poly_next, opt->want_no_lnorm ? plain_next : NULL);
            poly = ws->poly[l];
            if (opt->want_no_lnorm) plain = ws->plain[l];
        }
        poly_next = poly;
        plain_next = plain;
        if (opt->want_levels || l == 0) {
            float *dst[PC_N_VARIANTS];
            for (int v = 0; v < PC_N_VARIANTS; v++)
                dst[v] = opt->want_levels ? e->levels[v] + (size_t)l * ss : e->map[v];
            level_maps(be, ws, poly, tg->h[l], tg->w[l], S, opt->norm, dst);
        }
    }
    for (int v = 0; v < PC_N_VARIANTS; v++)
        if (opt->want_levels) memcpy(e->map[v], e->levels[v], ss * sizeof(float));   // S_1
    if (opt->want_no_lnorm)
        level_maps(be, ws, plain_next, tg->h[0], tg->w[0], S, opt->norm, e->map_no_lnorm);
    if (opt->want_cams) isolated_cams(be, ws, u, S, e);
}

// One explanation with masked passes of at most `batch` images. PC_ERR_OOM when the backend ran
// out of memory (e is then freed and the caller may retry with a smaller batch).
static int explain_at_batch(PcBackend *be, PcBackendNet *bn, const PcNet *net, const PcTargets *tg,
                            const float *x_host, int cls, const PcSaliencyOptions *opt, int batch,
                            PcExplanation *e, PcError *err) {
    memset(e, 0, sizeof *e);
    e->size = net->in_h;
    e->n_classes = net->n_classes;
    e->n_targets = tg->n_targets;
    e->batch = batch;
    e->logits = xmalloc((size_t)net->n_classes * sizeof(float));
    Layers u;   // the targets, and the isolated CAMs' own layers when asked for
    engine_layers(tg, opt->want_cams ? opt->cam_targets : NULL, &u);
    Workspace ws;
    int rc = workspace_init(&ws, be, net, tg, &u, batch >= 2 ? batch / 2 : 1, opt->want_no_lnorm);
    if (rc) {
        pc_fail(err, "cannot allocate the engine's buffers for batch %d on the %s backend", batch, be->name);
        rc = PC_ERR_OOM;
    }
    const double t_start = pc_now();
    if (!rc) rc = first_forward(be, bn, net, &u, &ws, x_host, cls, e, err);
    const double t_fwd = pc_now();
    if (!rc) rc = masked_layers(be, bn, net, &u, &ws, batch, opt->norm, e, err);
    be->synchronize(be);
    const double t_masked = pc_now();
    if (!rc) recursion(be, &ws, tg, &u, e->size, opt, e);
    be->synchronize(be);
    if (!rc) rc = be->take_error(be, err);   // an op of the recursion without memory
    e->seconds_forward = t_fwd - t_start;
    e->seconds_masked = t_masked - t_fwd;
    e->seconds_maps = pc_now() - t_masked;
    workspace_free(&ws);
    if (rc) pc_explanation_free(e);
    return rc;
}

int pc_explain(PcBackend *be, PcBackendNet *bn, const PcNet *net, const PcTargets *tg,
               const float *x_host, int cls, const PcSaliencyOptions *opt, PcExplanation *e,
               PcError *err) {
    memset(e, 0, sizeof *e);
    const int S = net->in_h, L = tg->n_targets;
    if (net->in_w != S) return pc_fail(err, "%s: input %dx%d is not square", net->spec.arch, S, net->in_w);
    if (L < 1 || L > PC_MAX_TARGETS) return pc_fail(err, "%d target layers (need 1..%d)", L, PC_MAX_TARGETS);
    // out of memory: halve the masked passes' batch and start the image again, down to 1
    for (int batch = opt->batch > 0 ? opt->batch : 1;; batch /= 2) {
        int rc = explain_at_batch(be, bn, net, tg, x_host, cls, opt, batch, e, err);
        if (rc != PC_ERR_OOM) return rc;
        if (batch == 1) {
            char why[sizeof err->msg];
            snprintf(why, sizeof why, "%s", err->msg);
            return pc_fail(err, "out of memory on the %s backend even at one image per pass (%.900s)", be->name, why);
        }
    }
}
