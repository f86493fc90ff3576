// methods.c: the method registry (methods.h) and the helpers every compute function shares:
// up() on the backend, torchcam's min-max, batched data gradients.
#include "methods.h"
#include "methods_attrib.h"
#include "methods_cost.h"
#include "methods_external.h"
#include "methods_gradcam.h"
#include "methods_perturb.h"
#include "methods_scorecam.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const PcMethodDesc g_methods[] = {
    {"pcamp", "PCAM+", PC_FAMILY_POLYCAM, "[model] layers, [saliency] lnorm, normalize, ablations", "S x S",
     "the reference code aenglebert/polycam 8003dc6", NULL, NULL, NULL, NULL, NULL},
    {"pcamm", "PCAM-", PC_FAMILY_POLYCAM, "[model] layers, [saliency] lnorm, normalize, ablations", "S x S",
     "the reference code aenglebert/polycam 8003dc6", NULL, NULL, NULL, NULL, NULL},
    {"pcampm", "PCAM+-", PC_FAMILY_POLYCAM, "[model] layers, [saliency] lnorm, normalize, ablations", "S x S",
     "the reference code aenglebert/polycam 8003dc6", NULL, NULL, NULL, NULL, NULL},
    {"gradcam", "Grad-CAM", PC_FAMILY_GRADIENT, "[cam] layer", "the [cam] layer's", "torchcam c85232b GradCAM",
     pc_method_gradcam, NULL, pc_cost_one_backward, NULL, NULL},
    {"gradcampp", "Grad-CAM++", PC_FAMILY_GRADIENT, "[cam] layer", "the [cam] layer's",
     "torchcam c85232b GradCAMpp", pc_method_gradcampp, NULL, pc_cost_one_backward, NULL, NULL},
    {"smoothgradcampp", "Smooth Grad-CAM++", PC_FAMILY_GRADIENT,
     "[cam] layer, [smoothgradcampp] samples, sigma, [run] seed", "the [cam] layer's",
     "torchcam c85232b SmoothGradCAMpp", pc_method_smoothgradcampp, NULL, pc_cost_smoothgradcampp, NULL, NULL},
    {"layercam", "Layer-CAM (fused)", PC_FAMILY_GRADIENT, "[layercam] layers", "the earliest layer's",
     "torchcam c85232b LayerCAM, reference layercamfusion4", pc_method_layercam, NULL, pc_cost_one_backward, NULL, NULL},
    {"zoomcam", "Zoom-CAM", PC_FAMILY_GRADIENT, "[zoomcam] layers", "the earliest layer's", "X-Shi/Zoom-CAM c01edb1",
     pc_method_zoomcam, NULL, pc_cost_one_backward, NULL, NULL},
    {"ixg", "Input x Gradient", PC_FAMILY_GRADIENT, "", "S x S", "captum 0.6.0 InputXGradient", pc_method_ixg, NULL,
     pc_cost_one_backward, NULL, NULL},
    {"ig", "Integrated Gradients", PC_FAMILY_GRADIENT, "[ig] steps", "S x S", "captum 0.6.0 IntegratedGradients",
     pc_method_ig, NULL, pc_cost_ig, NULL, NULL},
    {"smoothgrad", "SmoothGrad", PC_FAMILY_GRADIENT, "[smoothgrad] samples, sigma, [run] seed", "S x S",
     "captum 0.6.0 NoiseTunnel(Saliency)", pc_method_smoothgrad, NULL, pc_cost_smoothgrad, NULL, NULL},
    {"scorecam", "Score-CAM", PC_FAMILY_FORWARD, "[cam] layer", "the [cam] layer's", "torchcam c85232b ScoreCAM",
     pc_method_scorecam, NULL, pc_cost_scorecam, NULL, NULL},
    {"sscam", "SS-CAM", PC_FAMILY_FORWARD, "[cam] layer, [sscam] samples, sigma, [run] seed", "the [cam] layer's",
     "torchcam c85232b SSCAM", pc_method_sscam, NULL, pc_cost_sscam, NULL, NULL},
    {"iscam", "IS-CAM", PC_FAMILY_FORWARD, "[cam] layer, [iscam] samples", "the [cam] layer's",
     "torchcam c85232b ISCAM", pc_method_iscam, NULL, pc_cost_iscam, NULL, NULL},
    {"rise", "RISE", PC_FAMILY_FORWARD, "[rise] masks, cells, p, [run] seed", "S x S", "eclique/RISE d91ea00",
     pc_method_rise, pc_rise_run_data, pc_cost_rise, NULL, NULL},
    {"occlusion", "Occlusion", PC_FAMILY_FORWARD, "[occlusion] window, stride", "S x S", "captum 0.6.0 Occlusion",
     pc_method_occlusion, NULL, pc_cost_occlusion, NULL, NULL},
    {PC_EXT_PREFIX, "maps made elsewhere", PC_FAMILY_EXTERNAL, "[external NAME] file, method", "the file's",
     "an .npz keyed by image name, or a polycam-eval result file", pc_method_external, NULL, NULL,
     pc_method_external_open, pc_method_external_close},
};
#define N_METHODS ((int)(sizeof g_methods / sizeof g_methods[0]))

int pc_method_count(void) { return N_METHODS; }
const PcMethodDesc *pc_method_at(int i) { return i >= 0 && i < N_METHODS ? &g_methods[i] : NULL; }

int pc_method_ext_name_ok(const char *name) {
    size_t n = strlen(name);
    if (n == 0 || n > 48) return 0;   // "ext:NAME" fits the 64-byte id fields of the config
    for (size_t i = 0; i < n; i++) {
        const char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

const PcMethodDesc *pc_method_find(const char *id) {
    for (int i = 0; i < N_METHODS; i++) {
        const char *own = g_methods[i].id;
        const size_t k = strlen(own);
        if (!strcmp(own, id)) return k && own[k - 1] == ':' ? NULL : &g_methods[i];   // "ext:" alone names nothing
        if (k && own[k - 1] == ':' && !strncmp(own, id, k) && pc_method_ext_name_ok(id + k)) return &g_methods[i];
    }
    return NULL;
}

void pc_method_list_ids(char *buf, size_t n) {
    size_t used = 0;
    buf[0] = 0;
    for (int i = 0; i < N_METHODS && used < n; i++) {
        const char *id = g_methods[i].id;
        const int prefix = id[0] && id[strlen(id) - 1] == ':';
        used += (size_t)snprintf(buf + used, n - used, "%s%s%s", i ? ", " : "", id, prefix ? "NAME" : "");
    }
}

int pc_method_compute(const PcMethodDesc *d, const PcMethodCtx *ctx, float *map, PcError *err) {
    if (!d->native) return pc_fail(err, "%s: computed by the Poly-CAM engine, not on its own", d->id);
    const int S = ctx->size;
    float *native = xmalloc((size_t)S * S * sizeof(float));
    int h = 0, w = 0;
    PcMethodCtx summed = *ctx;   // the S x S map: channels summed whatever the caller asked
    summed.unsummed = 0;
    int rc = d->native(&summed, native, &h, &w, err);
    if (rc == 0) {
        if (h == S && w == S) memcpy(map, native, (size_t)S * S * sizeof(float));
        else pc_method_up(ctx, native, h, w, S, S, map);
    }
    for (size_t i = 0; rc == PC_METHOD_NO_MAP && i < (size_t)S * S; i++) map[i] = NAN;
    free(native);
    return rc;
}

// ---- helpers ----------------------------------------------------------------------------------

void pc_method_up(const PcMethodCtx *ctx, const float *in, int h, int w, int oh, int ow, float *out) {
    PcBackend *be = ctx->be;
    const size_t ni = (size_t)h * w * sizeof(float), no = (size_t)oh * ow * sizeof(float);
    float *d_in = be->alloc(be, ni), *d_out = be->alloc(be, no);
    be->upload(be, d_in, in, ni);
    be->resample(be, d_in, 1, h, w, oh, ow, d_out);
    be->download(be, out, d_out, no);
    be->release(be, d_in);
    be->release(be, d_out);
}

// torchcam _normalize: m -= min(m); m /= max(m). A constant map gives 0 / 0 = NaN everywhere, as
// in the library. NaN entries make min / max NaN in torch; they propagate here too.
void pc_method_minmax(float *m, size_t n) {
    float lo = INFINITY, hi = -INFINITY;
    int nan = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(m[i])) nan = 1;
        if (m[i] < lo) lo = m[i];
    }
    if (nan) lo = NAN;
    for (size_t i = 0; i < n; i++) {
        m[i] -= lo;
        if (m[i] > hi) hi = m[i];
    }
    if (nan) hi = NAN;
    for (size_t i = 0; i < n; i++) m[i] /= hi;
}

static size_t node_size(const PcNet *net, int node) {
    const PcNode *nd = &net->nodes[node];
    return (size_t)nd->c * nd->h * nd->w;
}

int pc_method_backward(const PcMethodCtx *ctx, const float *x, int n, int n_taps, const int *tap_nodes,
                       float **taps, float **grad_taps, float *grad_x, PcError *err) {
    PcBackend *be = ctx->be;
    if (!be->backward) return pc_fail(err, "the %s backend computes no gradients", be->name);
    const int S = ctx->size, B = ctx->batch > 0 ? ctx->batch : 1;
    const size_t xs = (size_t)3 * S * S;
    int rc = 0;
    float *d_x = be->alloc(be, (size_t)B * xs * sizeof(float));
    float *d_gx = grad_x ? be->alloc(be, (size_t)B * xs * sizeof(float)) : NULL;
    float **d_t = xcalloc((size_t)n_taps + 1, sizeof(float *)), **d_g = xcalloc((size_t)n_taps + 1, sizeof(float *));
    int *cls = xmalloc((size_t)B * sizeof(int));
    for (int i = 0; i < B; i++) cls[i] = ctx->cls;
    int short_of = !d_x || (grad_x && !d_gx);
    for (int t = 0; t < n_taps; t++) {
        const size_t bytes = (size_t)B * node_size(ctx->net, tap_nodes[t]) * sizeof(float);
        if (taps && taps[t]) short_of |= !(d_t[t] = be->alloc(be, bytes));
        if (grad_taps && grad_taps[t]) short_of |= !(d_g[t] = be->alloc(be, bytes));
    }
    // (the passes would copy into a NULL buffer: a crash on the CPU, a fatal CUDA error on the GPU)
    if (short_of)
        rc = PC_ERR_OOM, pc_fail(err, "gradients: out of backend memory for the buffers of %d images per pass", B);
    for (int i0 = 0; i0 < n && rc == 0; i0 += B) {
        const int m = n - i0 < B ? n - i0 : B;
        be->upload(be, d_x, x + (size_t)i0 * xs, (size_t)m * xs * sizeof(float));
        rc = be->backward(be, ctx->bn, d_x, m, cls, NULL, n_taps, tap_nodes, d_t, d_g, d_gx, err);
        if (rc) break;
        for (int t = 0; t < n_taps; t++) {
            const size_t per = node_size(ctx->net, tap_nodes[t]);
            if (d_t[t]) be->download(be, taps[t] + (size_t)i0 * per, d_t[t], (size_t)m * per * sizeof(float));
            if (d_g[t]) be->download(be, grad_taps[t] + (size_t)i0 * per, d_g[t], (size_t)m * per * sizeof(float));
        }
        if (d_gx) be->download(be, grad_x + (size_t)i0 * xs, d_gx, (size_t)m * xs * sizeof(float));
    }
    for (int t = 0; t < n_taps; t++) {
        if (d_t[t]) be->release(be, d_t[t]);
        if (d_g[t]) be->release(be, d_g[t]);
    }
    free(d_t);
    free(d_g);
    free(cls);
    if (d_x) be->release(be, d_x);
    if (d_gx) be->release(be, d_gx);
    return rc;
}

int pc_method_states_open(const PcMethodSettings *s, const PcMethodDesc *const *others,
                          char (*ids)[PC_METHOD_ID_LEN], int n, const PcDataset *ds, void **states, PcError *err) {
    for (int i = 0; i < n; i++) {
        states[i] = NULL;
        if (others[i]->open && others[i]->open(s, ids[i], ds->names, ds->n, stderr, &states[i], err)) return -1;
    }
    return 0;
}

void pc_method_states_close(const PcMethodDesc *const *others, int n, void **states) {
    for (int i = 0; i < n; i++)
        if (states[i] && others[i]->close) others[i]->close(states[i]);
}

// ---- [sanity] ---------------------------------------------------------------------------------
