// methods_perturb.c: the forward-only perturbation baselines of BASELINES.md B5, as the pinned
// libraries compute them: RISE (eclique/RISE d91ea00, explanations.py: generate_masks + forward)
// and Occlusion (captum 0.6.0, window 3 x w x w, stride 3 x st x st, baseline 0, logits, the
// colour channels summed). Masked inputs are made by backend ops straight into the batch buffer;
// only the grids and offsets of the masks (RISE) or the class logits (Occlusion) cross to the host.
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "methods.h"
#include "run_data.h"
#include "index_math.h"
#include "philox.h"
#include "methods_perturb.h"

// ---- RISE masks -------------------------------------------------------------------------------

void pc_rise_geometry(int cells, int size, int *cell, int *up) {
    // cell_size = ceil(input_size / s), up_size = (s + 1) * cell_size (RISE generate_masks)
    *cell = (size + cells - 1) / cells;
    *up = (cells + 1) * *cell;
}

// Mask i of the run: Philox (seed, image PC_RISE_IMAGE, sample (PC_STREAM_RISE << 16) | i);
// elements 0 .. cells^2 - 1 are the cells (row-major; cell = 1 when u < p, u the element's uniform,
// compared in double as numpy's `rand < p1`), element cells^2 the row offset and cells^2 + 1 the
// column offset, each floor(u * cell) in [0, cell).
void pc_rise_draw(const PcMethodSettings *s, int size, int first, int n, unsigned char *grid, int *offsets) {
    const int cells = s->rise_cells, cc = cells * cells;
    int cell, up;
    pc_rise_geometry(cells, size, &cell, &up);
    float *u = xmalloc((size_t)(cc + 2) * sizeof(float));
    for (int k = 0; k < n; k++) {
        const uint32_t sample = ((uint32_t)PC_STREAM_RISE << 16) | (uint32_t)(first + k);
        pc_philox_fill_uniform(s->seed, PC_RISE_IMAGE, sample, 0, (size_t)cc + 2, u);
        for (int j = 0; j < cc; j++) grid[(size_t)k * cc + j] = (double)u[j] < s->rise_p;
        offsets[2 * k] = (int)floor((double)u[cc] * cell);
        offsets[2 * k + 1] = (int)floor((double)u[cc + 1] * cell);
    }
    free(u);
}

// ---- RISE -------------------------------------------------------------------------------------

// Map = sum_i softmax(f(X * M_i))_c M_i / N / p1, the masks made batch by batch on the backend
// (grid -> rise_masks -> masked_batch -> forward -> softmax_gather -> weighted_map_sum).
int pc_method_rise(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    PcBackend *be = ctx->be;
    const PcMethodSettings *st = ctx->set;
    const int S = ctx->size, N = st->rise_masks, cells = st->rise_cells, K = ctx->net->n_classes;
    const int B = ctx->batch > 0 ? ctx->batch : 1;
    if (N < 1 || cells < 1 || !(st->rise_p > 0 && st->rise_p <= 1))
        return pc_fail(err, "rise: settings out of range (masks %d, cells %d, p %g)", N, cells, st->rise_p);
    const size_t ss = (size_t)S * S, cc = (size_t)cells * cells;
    int cell, up;
    pc_rise_geometry(cells, S, &cell, &up);
    unsigned char *grid = xmalloc((size_t)N * cc);
    int *offsets = xmalloc((size_t)N * 2 * sizeof(int));
    pc_rise_draw(st, S, 0, N, grid, offsets);
    unsigned char *d_grid = be->alloc(be, (size_t)N * cc);
    int *d_off = be->alloc(be, (size_t)N * 2 * sizeof(int));
    float *d_x = be->alloc(be, 3 * ss * sizeof(float)), *d_masks = be->alloc(be, (size_t)B * ss * sizeof(float));
    float *d_in = be->alloc(be, (size_t)B * 3 * ss * sizeof(float));
    float *d_logits = be->alloc(be, (size_t)B * K * sizeof(float)), *d_p = be->alloc(be, (size_t)B * sizeof(float));
    float *d_acc = be->alloc(be, ss * sizeof(float));   // zeroed
    int rc = 0;
    if (!d_grid || !d_off || !d_x || !d_masks || !d_in || !d_logits || !d_p || !d_acc) {
        rc = PC_ERR_OOM;
        pc_fail(err, "rise: out of backend memory for a batch of %d masks", B);
    }
    if (rc == 0) {
        be->upload(be, d_grid, grid, (size_t)N * cc);
        be->upload(be, d_off, offsets, (size_t)N * 2 * sizeof(int));
        be->upload(be, d_x, ctx->x, 3 * ss * sizeof(float));
    }
    for (int i0 = 0; i0 < N && rc == 0; i0 += B) {
        const int m = N - i0 < B ? N - i0 : B;
        be->rise_masks(be, d_grid + (size_t)i0 * cc, d_off + 2 * (size_t)i0, m, cells, up, S, d_masks);
        be->masked_batch(be, d_x, d_masks, m, S, d_in);
        rc = be->forward(be, ctx->bn, d_in, m, d_logits, 0, NULL, NULL, err);
        if (rc) break;
        be->softmax_gather(be, d_logits, m, K, ctx->cls, d_p);
        be->weighted_map_sum(be, d_masks, d_p, m, (int)ss, d_acc);
        rc = be->take_error(be, err);
    }
    if (rc == 0) {
        be->download(be, out, d_acc, ss * sizeof(float));
        // sal / N / p1 in float32, as the torch tensor expression
        for (size_t i = 0; i < ss; i++) out[i] = out[i] / (float)N / (float)st->rise_p;
        *h = *w = S;
    }
    void *bufs[] = {d_grid, d_off, d_x, d_masks, d_in, d_logits, d_p, d_acc};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        if (bufs[i]) be->release(be, bufs[i]);
    free(grid);
    free(offsets);
    return rc;
}

// ---- Occlusion --------------------------------------------------------------------------------

// eval_diff of every window position t (captum's order): logit_c(X) - logit_c(X with window t = 0).
static int occlusion_diffs(const PcMethodCtx *ctx, int npos, float *diff, PcError *err) {
    PcBackend *be = ctx->be;
    const PcMethodSettings *st = ctx->set;
    const int S = ctx->size, K = ctx->net->n_classes, P = npos * npos, B = ctx->batch > 0 ? ctx->batch : 1;
    const size_t xs = (size_t)3 * S * S;
    float *d_x = be->alloc(be, xs * sizeof(float)), *d_in = be->alloc(be, (size_t)B * xs * sizeof(float));
    float *d_logits = be->alloc(be, (size_t)B * K * sizeof(float));
    float *logits = xmalloc((size_t)B * K * sizeof(float));
    int rc = 0;
    if (!d_x || !d_in || !d_logits) rc = PC_ERR_OOM, pc_fail(err, "occlusion: out of backend memory for %d inputs", B);
    float y0 = 0;
    if (rc == 0) {
        be->upload(be, d_x, ctx->x, xs * sizeof(float));
        rc = be->forward(be, ctx->bn, d_x, 1, d_logits, 0, NULL, NULL, err);
    }
    if (rc == 0) {
        be->download(be, logits, d_logits, (size_t)K * sizeof(float));
        y0 = logits[ctx->cls];
    }
    for (int t0 = 0; t0 < P && rc == 0; t0 += B) {
        const int m = P - t0 < B ? P - t0 : B;
        be->occlusion_inputs(be, d_x, S, st->occ_window, st->occ_stride, t0, m, d_in);
        rc = be->forward(be, ctx->bn, d_in, m, d_logits, 0, NULL, NULL, err);
        if (rc) break;
        be->download(be, logits, d_logits, (size_t)m * K * sizeof(float));
        for (int i = 0; i < m; i++) diff[t0 + i] = y0 - logits[(size_t)i * K + ctx->cls];
    }
    if (d_x) be->release(be, d_x);
    if (d_in) be->release(be, d_in);
    if (d_logits) be->release(be, d_logits);
    free(logits);
    return rc;
}

// captum: total_attrib += eval_diff * window_mask per position (float32, in position order),
// weights += window_mask; attribution = total / weights (the same in all three channels); then
// the channel sum (v + v) + v.
int pc_method_occlusion(const PcMethodCtx *ctx, float *out, int *h, int *w, PcError *err) {
    const PcMethodSettings *st = ctx->set;
    const int S = ctx->size, win = st->occ_window, stride = st->occ_stride;
    if (win < 1 || win > S || stride < 1 || (stride > win && win < S))
        return pc_fail(err, "occlusion: window %d / stride %d out of range for %d x %d inputs", win, stride, S, S);
    const int npos = pc_occlusion_positions(S, win, stride), P = npos * npos;
    float *diff = xmalloc((size_t)P * sizeof(float)), *count = xcalloc((size_t)S * S, sizeof(float));
    int rc = occlusion_diffs(ctx, npos, diff, err);
    if (rc == 0) {
        memset(out, 0, (size_t)S * S * sizeof(float));
        for (int t = 0; t < P; t++) {
            const int y0 = (t % npos) * stride, x0 = (t / npos) * stride;
            const int y1 = y0 + win < S ? y0 + win : S, x1 = x0 + win < S ? x0 + win : S;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++) out[(size_t)y * S + x] += diff[t], count[(size_t)y * S + x] += 1;
        }
        for (size_t i = 0; i < (size_t)S * S; i++) {
            const float v = out[i] / count[i];
            out[i] = (v + v) + v;
        }
        *h = *w = S;
    }
    free(diff);
    free(count);
    return rc;
}

// ---- RISE masks in the result file ------------------------------------------------------------

int pc_rise_run_data(const PcMethodSettings *s, int size, PcRunData *out) {
    const int N = s->rise_masks, cells = s->rise_cells;
    int cell, up;
    pc_rise_geometry(cells, size, &cell, &up);
    memset(out, 0, 2 * sizeof *out);
    unsigned char *grid = xmalloc((size_t)N * cells * cells);
    int *offsets = xmalloc((size_t)N * 2 * sizeof(int));
    pc_rise_draw(s, size, 0, N, grid, offsets);
    const char *what[2] = {"grid", "offsets"};
    for (int k = 0; k < 2; k++) {
        PcRunData *d = &out[k];
        snprintf(d->method, sizeof d->method, "rise");
        snprintf(d->name, sizeof d->name, "masks/%s", what[k]);
        d->type = k == 0 ? PC_RUN_U8 : PC_RUN_I32;
        d->rank = k == 0 ? 3 : 2;
        d->dims[0] = N, d->dims[1] = k == 0 ? cells : 2, d->dims[2] = cells;
        d->data = k == 0 ? (void *)grid : (void *)offsets;
        const char *names[5] = {"cells", "p", "cell", "up_size", "size"};
        const double vals[5] = {cells, s->rise_p, cell, up, size};
        for (int a = 0; a < 5; a++) {
            snprintf(d->attr_names[a], sizeof d->attr_names[a], "%s", names[a]);
            d->attr_values[a] = vals[a];
        }
        d->n_attrs = 5;
    }
    snprintf(out[0].description, sizeof out[0].description,
             "RISE mask grids, 1 = cell kept (Philox: seed [run] seed, image 0xFFFFFFFF, sample (4 << 16) | i, "
             "cell = u < p). Mask i = skimage.transform.resize(grid[i], (up_size, up_size), order=1, mode='reflect', "
             "anti_aliasing=False)[r:r+size, c:c+size] with (r, c) = offsets[i] (docs/measures.md: RISE masks)");
    snprintf(out[1].description, sizeof out[1].description,
             "RISE crop offsets (row, column) into the up_size x up_size resized grid, floor(u * cell)");
    return 2;
}
