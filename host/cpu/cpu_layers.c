// cpu_layers.c: the layer kernels of the CPU forward pass (cpu_nn.c runs them node by node), on
// channel-major activations (C, N, H, W) with a padded channel stride (cpu_ld_pad): the im2col +
// GEMM convolution, max and adaptive average pooling, the residual add and the linear layer. Each
// is one part of a job that cpu_run_parts splits over the threads.
#include <cblas.h>
#include <string.h>

#include "cpu_internal.h"

// Below this many output columns per thread a convolution splits its channels instead.
#define MIN_COLS_PER_THREAD 512

// ---- im2col + GEMM convolution ---------------------------------------------------------------

// Column matrix of output rows [r0, r1) (r = img * OH + oy): rows (ci, ky, kx) of dst, leading
// dimension ld, starting at column 0.
static void im2col_rows(const CpuConvJob *j, long r0, long r1, float *dst, long ld) {
    const PcConvParams *c = &j->nd->p.conv;
    const int h = j->in_h, w = j->in_w, oh = j->nd->h, ow = j->nd->w;
    const size_t plane = (size_t)h * w;
    const int k = c->k, s = c->stride, pad = c->pad;
    for (int ci = 0; ci < c->cin; ci++) {
        for (int ky = 0; ky < k; ky++) {
            for (int kx = 0; kx < k; kx++) {
                float *d = dst + ((size_t)(ci * k + ky) * k + kx) * ld;
                // valid output columns: 0 <= ox*s - pad + kx < w
                int lo = 0, hi = ow;
                while (lo < ow && lo * s - pad + kx < 0) lo++;
                while (hi > lo && (hi - 1) * s - pad + kx >= w) hi--;
                for (long r = r0; r < r1; r++) {
                    float *drow = d + (r - r0) * ow;
                    int img = (int)(r / oh), oy = (int)(r % oh);
                    int iy = oy * s - pad + ky;
                    if (iy < 0 || iy >= h) {
                        memset(drow, 0, (size_t)ow * sizeof(float));
                        continue;
                    }
                    const float *srow = j->in + ci * j->in_cs + img * plane + (size_t)iy * w;
                    if (lo) memset(drow, 0, (size_t)lo * sizeof(float));
                    if (s == 1) {
                        memcpy(drow + lo, srow + lo - pad + kx, (size_t)(hi - lo) * sizeof(float));
                    } else {
                        for (int ox = lo; ox < hi; ox++) drow[ox] = srow[ox * s - pad + kx];
                    }
                    if (hi < ow) memset(drow + hi, 0, (size_t)(ow - hi) * sizeof(float));
                }
            }
        }
    }
}

// rows [m0, m1) of out (M, ld), ncols columns: out = out + bias (+ ReLU). NaN stays NaN as in
// PyTorch's relu.
static void bias_act(float *out, int m0, int m1, long ncols, long ld, const float *bias, int relu) {
    for (int m = m0; m < m1; m++) {
        float *row = out + (size_t)m * ld;
        const float b = bias[m];
        if (relu) {
            for (long j = 0; j < ncols; j++) {
                float v = row[j] + b;
                row[j] = v < 0.0f ? 0.0f : v;
            }
        } else {
            for (long j = 0; j < ncols; j++) row[j] += b;
        }
    }
}

// Output rows per im2col chunk: the (kk, cpu_ld_pad(rows * ow)) column matrix must fit in budget
// floats (prepare sizes budget for at least one row: kk * cpu_ld_pad(ow)).
static long chunk_rows(size_t budget, size_t kk, int ow) {
    long rows = ((long)(budget / kk) - 31) / ow;   // cpu_ld_pad(x) <= x + 31
    return rows < 1 ? 1 : rows;
}

static int conv_is_pointwise(const PcConvParams *c) { return c->k == 1 && c->stride == 1 && c->pad == 0; }

// Column split: this part computes output rows [r0, r1) of every channel, chunk by chunk.
static void conv_cols_part(void *arg, int part, int parts) {
    const CpuConvJob *j = arg;
    const PcNode *nd = j->nd;
    const PcConvParams *c = &nd->p.conv;
    const int oh = nd->h, ow = nd->w, kk = c->cin * c->k * c->k;
    const long rows = (long)j->n * oh;
    const long r0 = cpu_part_begin(rows, part, parts), r1 = cpu_part_begin(rows, part + 1, parts);
    float *scratch = j->scratch + (size_t)part * j->scratch_per_part;
    const long rows_per_chunk = chunk_rows(j->scratch_per_part, kk, ow);
    for (long r = r0; r < r1; r += rows_per_chunk) {
        long re = r + rows_per_chunk < r1 ? r + rows_per_chunk : r1;
        long ncols = (re - r) * ow, j0 = r * ow;
        const float *b;
        long ldb;
        if (conv_is_pointwise(c)) {
            b = j->in + j0;
            ldb = j->in_cs;
        } else {
            ldb = cpu_ld_pad(ncols);
            im2col_rows(j, r, re, scratch, ldb);
            b = scratch;
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, c->cout, (int)ncols, kk, 1.0f, j->weight,
                    kk, b, (int)ldb, 0.0f, j->out + j0, (int)j->out_cs);
        bias_act(j->out + j0, 0, c->cout, ncols, j->out_cs, c->bias, nd->relu);
    }
}

// Channel split, phase 1: the parts share the im2col of the chunk's rows.
static void conv_im2col_part(void *arg, int part, int parts) {
    const CpuConvJob *j = arg;
    const long rows = j->chunk_r1 - j->chunk_r0;
    const long a = cpu_part_begin(rows, part, parts), b = cpu_part_begin(rows, part + 1, parts);
    if (a < b) im2col_rows(j, j->chunk_r0 + a, j->chunk_r0 + b, j->scratch + a * j->nd->w, j->chunk_ld);
}

// Channel split, phase 2: this part computes output channels [m0, m1) of the chunk's columns.
static void conv_chan_part(void *arg, int part, int parts) {
    const CpuConvJob *j = arg;
    const PcNode *nd = j->nd;
    const PcConvParams *c = &nd->p.conv;
    const int kk = c->cin * c->k * c->k;
    const int m0 = (int)cpu_part_begin(c->cout, part, parts), m1 = (int)cpu_part_begin(c->cout, part + 1, parts);
    if (m0 == m1) return;
    const long ncols = (j->chunk_r1 - j->chunk_r0) * nd->w, j0 = j->chunk_r0 * nd->w;
    const float *b = conv_is_pointwise(c) ? j->in + j0 : j->scratch;
    const long ldb = conv_is_pointwise(c) ? j->in_cs : j->chunk_ld;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m1 - m0, (int)ncols, kk, 1.0f,
                j->weight + (size_t)m0 * kk, kk, b, (int)ldb, 0.0f, j->out + (size_t)m0 * j->out_cs + j0,
                (int)j->out_cs);
    bias_act(j->out + j0, m0, m1, ncols, j->out_cs, c->bias, nd->relu);
}

// im2col + GEMM on cache-sized chunks of output rows. With parts > 1 the parts split the output
// rows (columns of the GEMM) when there are at least MIN_COLS_PER_THREAD per part, else they
// share one column matrix per chunk and split the output channels.
void cpu_conv_gemm(CpuConvJob *job, int parts) {
    const PcNode *nd = job->nd;
    const long rows = (long)job->n * nd->h, cols_total = rows * nd->w;
    if (parts <= 1 || cols_total >= (long)MIN_COLS_PER_THREAD * parts) {
        cpu_run_parts(parts, conv_cols_part, job);
        return;
    }
    // Few columns: share one column matrix, split the output channels.
    const size_t kk = (size_t)nd->p.conv.cin * nd->p.conv.k * nd->p.conv.k;
    const long rows_per_chunk = chunk_rows(job->scratch_per_part * (size_t)parts, kk, nd->w);
    for (long r = 0; r < rows; r += rows_per_chunk) {
        job->chunk_r0 = r;
        job->chunk_r1 = r + rows_per_chunk < rows ? r + rows_per_chunk : rows;
        job->chunk_ld = cpu_ld_pad((job->chunk_r1 - r) * nd->w);
        if (!conv_is_pointwise(&nd->p.conv)) cpu_run_parts(parts, conv_im2col_part, job);
        cpu_run_parts(parts, conv_chan_part, job);
    }
}

// ---- pooling, residual add, linear -----------------------------------------------------------

static inline float max_nan(float a, float b) { return (a > b || a != a) ? a : b; }

// Max pooling with implicit -inf padding (padded positions never win), floor output size, NaN
// propagating as in PyTorch. 2x2 / stride 2 (every VGG pool) has its own loop.
void cpu_maxpool_part(void *arg, int part, int parts) {
    const CpuPlaneJob *j = arg;
    const PcNode *nd = j->nd;
    const int k = nd->p.pool.k, s = nd->p.pool.stride, pad = nd->p.pool.pad;
    const int h = j->in_h, w = j->in_w, oh = nd->h, ow = nd->w;
    const long planes = (long)nd->c * j->n;
    for (long p = cpu_part_begin(planes, part, parts); p < cpu_part_begin(planes, part + 1, parts); p++) {
        const long ch = p / j->n, img = p % j->n;
        const float *src = j->in + ch * j->in_cs + img * (size_t)h * w;
        float *dst = j->out + ch * j->out_cs + img * (size_t)oh * ow;
        if (k == 2 && s == 2 && pad == 0) {
            for (int oy = 0; oy < oh; oy++) {
                const float *r0 = src + (size_t)2 * oy * w, *r1 = r0 + w;
                float *o = dst + (size_t)oy * ow;
                for (int ox = 0; ox < ow; ox++)
                    o[ox] = max_nan(max_nan(r0[2 * ox], r0[2 * ox + 1]), max_nan(r1[2 * ox], r1[2 * ox + 1]));
            }
            continue;
        }
        // general case, a window row at a time: columns ox with 0 <= ox*s - pad + kx < w
        for (int oy = 0; oy < oh; oy++) {
            float *o = dst + (size_t)oy * ow;
            for (int ox = 0; ox < ow; ox++) o[ox] = -__builtin_inff();
            for (int ky = 0; ky < k; ky++) {
                const int y = oy * s - pad + ky;
                if (y < 0 || y >= h) continue;
                const float *r = src + (size_t)y * w;
                for (int kx = 0; kx < k; kx++) {
                    int lo = 0, hi = ow;
                    while (lo < ow && lo * s - pad + kx < 0) lo++;
                    while (hi > lo && (hi - 1) * s - pad + kx >= w) hi--;
                    for (int ox = lo; ox < hi; ox++) o[ox] = max_nan(r[ox * s - pad + kx], o[ox]);
                }
            }
        }
    }
}

// Adaptive average pooling, PyTorch bins: [floor(i*in/out), ceil((i+1)*in/out)).
void cpu_avgpool_part(void *arg, int part, int parts) {
    const CpuPlaneJob *j = arg;
    const PcNode *nd = j->nd;
    const int h = j->in_h, w = j->in_w, oh = nd->h, ow = nd->w;
    const long planes = (long)nd->c * j->n;
    for (long p = cpu_part_begin(planes, part, parts); p < cpu_part_begin(planes, part + 1, parts); p++) {
        const long ch = p / j->n, img = p % j->n;
        const float *src = j->in + ch * j->in_cs + img * (size_t)h * w;
        float *dst = j->out + ch * j->out_cs + img * (size_t)oh * ow;
        for (int oy = 0; oy < oh; oy++) {
            int y0 = oy * h / oh, y1 = ((oy + 1) * h + oh - 1) / oh;
            for (int ox = 0; ox < ow; ox++) {
                int x0 = ox * w / ow, x1 = ((ox + 1) * w + ow - 1) / ow;
                float sum = 0.0f;
                for (int y = y0; y < y1; y++)
                    for (int x = x0; x < x1; x++) sum += src[y * w + x];
                dst[oy * ow + ox] = sum / (float)((y1 - y0) * (x1 - x0));
            }
        }
    }
}

// out = relu(in + in2); the three tensors share one shape and channel stride.
void cpu_add_part(void *arg, int part, int parts) {
    const CpuPlaneJob *j = arg;
    const PcNode *nd = j->nd;
    const long per_chan = (long)j->n * nd->h * nd->w;
    for (long ch = cpu_part_begin(nd->c, part, parts); ch < cpu_part_begin(nd->c, part + 1, parts); ch++) {
        const float *a = j->in + ch * j->in_cs, *b = j->in2 + ch * j->in_cs;
        float *o = j->out + ch * j->out_cs;
        if (nd->relu) {
            for (long i = 0; i < per_chan; i++) {
                float v = a[i] + b[i];
                o[i] = v < 0.0f ? 0.0f : v;
            }
        } else {
            for (long i = 0; i < per_chan; i++) o[i] = a[i] + b[i];
        }
    }
}

// This part computes output features [o0, o1) of every image.
void cpu_linear_part(void *arg, int part, int parts) {
    const CpuLinearJob *j = arg;
    const PcLinearParams *lp = &j->nd->p.linear;
    const int o0 = (int)cpu_part_begin(lp->out, part, parts), o1 = (int)cpu_part_begin(lp->out, part + 1, parts);
    if (o0 == o1) return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->n, o1 - o0, lp->in, 1.0f, j->x, lp->in,
                lp->weight + (size_t)o0 * lp->in, lp->in, 0.0f, j->y + o0, lp->out);
    for (int i = 0; i < j->n; i++) {
        float *row = j->y + (size_t)i * lp->out;
        for (int o = o0; o < o1; o++) {
            float v = row[o] + lp->bias[o];
            row[o] = (j->nd->relu && v < 0.0f) ? 0.0f : v;
        }
    }
}
