// plot.c: report figures with cairo (see plot.h). One drawing function per figure kind renders
// onto any cairo surface; the PNG and the SVG come from the same calls.
#include "plot.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static float clamp01(float v) { return v < 0 ? 0 : v > 1 ? 1 : v; }

void pc_viridis(float t, unsigned char rgb[3]) {
    // Polynomial fit of matplotlib's viridis (max error below 1/255 over [0, 1]).
    static const double c[7][3] = {
        {0.2777273272234177, 0.005407344544966578, 0.3340998053353061},
        {0.1050930431085774, 1.404613529898575, 1.384590162594685},
        {-0.3308618287255563, 0.214847559468213, 0.09509516302823659},
        {-4.634230498983486, -5.799100973351585, -19.33244095627987},
        {6.228269936347081, 14.17993336680509, 56.69055260068105},
        {4.776384997670288, -13.74514537774601, -65.35303263337234},
        {-5.435455855934631, 4.645852612178535, 26.3124352495832},
    };
    double x = isfinite(t) ? clamp01(t) : 0.0;
    for (int k = 0; k < 3; k++) {
        double v = c[6][k];
        for (int i = 5; i >= 0; i--) v = c[i][k] + x * v;
        rgb[k] = (unsigned char)lrint(255.0 * clamp01((float)v));
    }
}

void pc_heat_tile(const float *x, const float *map, int s, unsigned char *out) {
    static const float mean[3] = {0.485f, 0.456f, 0.406f}, stdv[3] = {0.229f, 0.224f, 0.225f};
    size_t hw = (size_t)s * s;
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < hw; i++) {
        if (!isfinite(map[i])) continue;
        lo = map[i] < lo ? map[i] : lo;
        hi = map[i] > hi ? map[i] : hi;
    }
    float scale = hi > lo ? 1.0f / (hi - lo) : 0.0f;
    for (size_t i = 0; i < hw; i++) {
        unsigned char c[3];
        pc_viridis(isfinite(map[i]) && isfinite(lo) ? (map[i] - lo) * scale : 0.0f, c);
        for (int ch = 0; ch < 3; ch++) {
            float v = c[ch] / 255.0f;
            if (x) v = 0.5f * clamp01(x[ch * hw + i] * stdv[ch] + mean[ch]) + 0.5f * v;
            out[i * 3 + ch] = (unsigned char)lrintf(255.0f * v);
        }
    }
}

#ifdef PC_HAVE_CAIRO
#include <cairo-svg.h>
#include <cairo.h>

int pc_plot_available(void) { return 1; }

// Okabe & Ito (2008) colour-blind-safe palette, black last.
static const double palette[8][3] = {
    {0.902, 0.624, 0.000}, {0.337, 0.706, 0.914}, {0.000, 0.620, 0.451}, {0.941, 0.894, 0.259},
    {0.000, 0.447, 0.698}, {0.835, 0.369, 0.000}, {0.800, 0.475, 0.655}, {0.000, 0.000, 0.000},
};

static void series_style(cairo_t *cr, const PcSeries *s, int i) {
    int k = s->colour > 0 ? s->colour - 1 : i;
    const double *c = palette[k % 8];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
    static const double dashes[4][2] = {{1, 0}, {6, 3}, {2, 2}, {8, 2}};
    int d = s->dashed ? 1 : (k / 8) % 4;
    if (d == 0) cairo_set_dash(cr, NULL, 0, 0);
    else cairo_set_dash(cr, dashes[d], 2, 0);
}

// A "nice" tick step (1, 2 or 5 times a power of ten) giving about n ticks over span.
static double tick_step(double span, int n) {
    double raw = span / n, p = pow(10, floor(log10(raw))), f = raw / p;
    return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
}

static void data_range(const PcSeries *s, int ns, int use_x, double *lo, double *hi) {
    *lo = INFINITY;
    *hi = -INFINITY;
    for (int i = 0; i < ns; i++)
        for (int j = 0; j < s[i].n; j++) {
            double v = use_x ? s[i].x[j] : s[i].y[j];
            if (!isfinite(v)) continue;
            *lo = v < *lo ? v : *lo;
            *hi = v > *hi ? v : *hi;
        }
    if (!isfinite(*lo)) *lo = 0, *hi = 1;
    if (*hi <= *lo) *hi = *lo + 1;
}

typedef struct {
    double x0, y0, x1, y1;          // plot area in surface units (y0 top)
    double xmin, xmax, ymin, ymax;  // data ranges
} Frame;

static double fx(const Frame *f, double x) { return f->x0 + (x - f->xmin) / (f->xmax - f->xmin) * (f->x1 - f->x0); }
static double fy(const Frame *f, double y) { return f->y1 - (y - f->ymin) / (f->ymax - f->ymin) * (f->y1 - f->y0); }

static void text_at(cairo_t *cr, double x, double y, const char *s, double ax, double ay) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

static void draw_axes(cairo_t *cr, const Frame *f, const PcChart *c) {
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 1);
    cairo_set_dash(cr, NULL, 0, 0);
    cairo_rectangle(cr, f->x0, f->y0, f->x1 - f->x0, f->y1 - f->y0);
    cairo_stroke(cr);
    cairo_set_font_size(cr, 11);
    char buf[32];
    double sx = tick_step(f->xmax - f->xmin, 6), sy = tick_step(f->ymax - f->ymin, 6);
    for (double v = ceil(f->xmin / sx - 1e-9) * sx; v <= f->xmax + 1e-9 * sx; v += sx) {
        double px = fx(f, v);
        cairo_move_to(cr, px, f->y1);
        cairo_line_to(cr, px, f->y1 + 4);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%g", fabs(v) < 1e-12 ? 0.0 : v);
        text_at(cr, px, f->y1 + 8, buf, 0.5, 0);
    }
    for (double v = ceil(f->ymin / sy - 1e-9) * sy; v <= f->ymax + 1e-9 * sy; v += sy) {
        double py = fy(f, v);
        cairo_move_to(cr, f->x0 - 4, py);
        cairo_line_to(cr, f->x0, py);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%g", fabs(v) < 1e-12 ? 0.0 : v);
        text_at(cr, f->x0 - 7, py, buf, 1, 0.5);
    }
    cairo_set_font_size(cr, 13);
    if (c->xlabel) text_at(cr, (f->x0 + f->x1) / 2, f->y1 + 28, c->xlabel, 0.5, 0);
    if (c->ylabel) {
        cairo_save(cr);
        cairo_translate(cr, f->x0 - 48, (f->y0 + f->y1) / 2);
        cairo_rotate(cr, -M_PI / 2);
        text_at(cr, 0, 0, c->ylabel, 0.5, 0.5);
        cairo_restore(cr);
    }
    if (c->title) {
        cairo_set_font_size(cr, 15);
        text_at(cr, (f->x0 + f->x1) / 2, f->y0 - 12, c->title, 0.5, 1);
    }
}

static void draw_legend(cairo_t *cr, const Frame *f, const PcSeries *s, int ns) {
    cairo_set_font_size(cr, 11);
    double x = f->x1 + 12, y = f->y0 + 6;
    for (int i = 0; i < ns; i++, y += 17) {
        series_style(cr, &s[i], i);
        cairo_set_line_width(cr, 2);
        cairo_move_to(cr, x, y + 6);
        cairo_line_to(cr, x + 22, y + 6);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, x + 28, y + 6, s[i].label ? s[i].label : "", 0, 0.5);
    }
}

static void draw_chart(cairo_t *cr, int w, int h, const PcChart *c, const PcSeries *s, int ns) {
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    Frame f = {70, 40, w - 190, h - 56, c->xmin, c->xmax, c->ymin, c->ymax};
    if (!(f.xmax > f.xmin)) data_range(s, ns, 1, &f.xmin, &f.xmax);
    if (!(f.ymax > f.ymin)) data_range(s, ns, 0, &f.ymin, &f.ymax);
    draw_axes(cr, &f, c);
    cairo_save(cr);
    cairo_rectangle(cr, f.x0, f.y0, f.x1 - f.x0, f.y1 - f.y0);
    cairo_clip(cr);
    cairo_set_line_width(cr, 1.8);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (int i = 0; i < ns; i++) {
        series_style(cr, &s[i], i);
        int pen = 0;
        for (int j = 0; j < s[i].n; j++) {
            if (!isfinite(s[i].x[j]) || !isfinite(s[i].y[j])) {
                pen = 0;
                continue;
            }
            if (pen) cairo_line_to(cr, fx(&f, s[i].x[j]), fy(&f, s[i].y[j]));
            else cairo_move_to(cr, fx(&f, s[i].x[j]), fy(&f, s[i].y[j]));
            pen = 1;
        }
        cairo_stroke(cr);
    }
    cairo_restore(cr);
    draw_legend(cr, &f, s, ns);
}

typedef struct {
    const char *title;
    int rows, cols, th, tw;
    const unsigned char *tiles, *present;
    char *const *row_labels, *const *col_labels;
} Grid;

enum { GRID_LEFT = 150, GRID_TOP = 64, GRID_GAP = 4 };

static void draw_grid(cairo_t *cr, int w, int h, const Grid *g) {
    (void)h;
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_source_rgb(cr, 0, 0, 0);
    if (g->title) {
        cairo_set_font_size(cr, 15);
        text_at(cr, w / 2.0, 8, g->title, 0.5, 0);
    }
    cairo_set_font_size(cr, 11);
    size_t tile_bytes = (size_t)g->th * g->tw * 3;
    for (int c = 0; c < g->cols; c++)
        if (g->col_labels && g->col_labels[c])
            text_at(cr, GRID_LEFT + c * (g->tw + GRID_GAP) + g->tw / 2.0, GRID_TOP - 6, g->col_labels[c], 0.5, 1);
    for (int r = 0; r < g->rows; r++) {
        double y = GRID_TOP + r * (g->th + GRID_GAP);
        cairo_set_source_rgb(cr, 0, 0, 0);
        if (g->row_labels && g->row_labels[r]) text_at(cr, GRID_LEFT - 8, y + g->th / 2.0, g->row_labels[r], 1, 0.5);
        for (int c = 0; c < g->cols; c++) {
            size_t t = (size_t)r * g->cols + c;
            if (g->present && !g->present[t]) continue;
            cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, g->tw, g->th);
            unsigned char *px = cairo_image_surface_get_data(img);
            int stride = cairo_image_surface_get_stride(img);
            const unsigned char *src = g->tiles + t * tile_bytes;
            cairo_surface_flush(img);
            for (int i = 0; i < g->th; i++)
                for (int j = 0; j < g->tw; j++) {
                    const unsigned char *p = src + ((size_t)i * g->tw + j) * 3;
                    ((uint32_t *)(px + (size_t)i * stride))[j] = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
                }
            cairo_surface_mark_dirty(img);
            cairo_set_source_surface(cr, img, GRID_LEFT + c * (g->tw + GRID_GAP), y);
            cairo_paint(cr);
            cairo_surface_destroy(img);
        }
    }
}

typedef void (*DrawFn)(cairo_t *cr, int w, int h, const void *ctx);

static void draw_chart_cb(cairo_t *cr, int w, int h, const void *ctx) {
    const void *const *a = ctx;
    draw_chart(cr, w, h, a[0], a[1], *(const int *)a[2]);
}
static void draw_grid_cb(cairo_t *cr, int w, int h, const void *ctx) { draw_grid(cr, w, h, ctx); }

// tmp renamed to path (rc 0), or removed (rc != 0): a figure that failed to write (disk full)
// leaves the previous one as it was.
static int put_in_place(const char *tmp, const char *path, int rc, PcError *err) {
    if (rc == 0 && rename(tmp, path) != 0) rc = pc_fail(err, "%s: cannot create (%s)", path, strerror(errno));
    if (rc) unlink(tmp);
    return rc;
}

// Renders draw() to <base>.png and <base>.svg, each through "<name>.tmp".
static int render_both(const char *base, int w, int h, DrawFn draw, const void *ctx, PcError *err) {
    size_t n = strlen(base) + 5;
    char *path = xmalloc(n), *tmp = xmalloc(n + 4);
    snprintf(path, n, "%s.svg", base);
    snprintf(tmp, n + 4, "%s.tmp", path);
    cairo_surface_t *svg = cairo_svg_surface_create(tmp, w, h);
    int rc = 0;
    if (cairo_surface_status(svg) != CAIRO_STATUS_SUCCESS) {
        rc = pc_fail(err, "%s: cannot create (%s)", path, cairo_status_to_string(cairo_surface_status(svg)));
    } else {
        cairo_t *cr = cairo_create(svg);
        draw(cr, w, h, ctx);
        cairo_destroy(cr);
        cairo_surface_finish(svg);   // writes the rest of the file and closes it
        if (cairo_surface_status(svg) != CAIRO_STATUS_SUCCESS)
            rc = pc_fail(err, "%s: cannot write (%s)", path, cairo_status_to_string(cairo_surface_status(svg)));
    }
    cairo_surface_destroy(svg);
    rc = put_in_place(tmp, path, rc, err);
    if (rc == 0) {
        snprintf(path, n, "%s.png", base);
        snprintf(tmp, n + 4, "%s.tmp", path);
        cairo_surface_t *png = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
        cairo_t *cr = cairo_create(png);
        draw(cr, w, h, ctx);
        cairo_destroy(cr);
        cairo_status_t st = cairo_surface_write_to_png(png, tmp);   // checks its writes and its fclose
        if (st != CAIRO_STATUS_SUCCESS) rc = pc_fail(err, "%s: cannot write (%s)", path, cairo_status_to_string(st));
        cairo_surface_destroy(png);
        rc = put_in_place(tmp, path, rc, err);
    }
    free(path);
    free(tmp);
    return rc;
}

int pc_plot_lines(const char *base, const PcChart *chart, const PcSeries *series, int n_series, PcError *err) {
    int w = chart->width > 0 ? chart->width : 720, h = chart->height > 0 ? chart->height : 480;
    const void *ctx[3] = {chart, series, &n_series};
    return render_both(base, w, h, draw_chart_cb, ctx, err);
}

int pc_plot_grid(const char *base, const char *title, int rows, int cols, int tile_h, int tile_w,
                 const unsigned char *tiles, const unsigned char *present, char *const *row_labels,
                 char *const *col_labels, PcError *err) {
    Grid g = {title, rows, cols, tile_h, tile_w, tiles, present, row_labels, col_labels};
    int w = GRID_LEFT + cols * (tile_w + GRID_GAP) + 8, h = GRID_TOP + rows * (tile_h + GRID_GAP) + 8;
    return render_both(base, w, h, draw_grid_cb, &g, err);
}

#else

int pc_plot_available(void) { return 0; }

int pc_plot_lines(const char *base, const PcChart *chart, const PcSeries *series, int n_series, PcError *err) {
    (void)chart, (void)series, (void)n_series;
    return pc_fail(err, "%s: figures need cairo (this build has none; install libcairo2-dev and rebuild)", base);
}

int pc_plot_grid(const char *base, const char *title, int rows, int cols, int tile_h, int tile_w,
                 const unsigned char *tiles, const unsigned char *present, char *const *row_labels,
                 char *const *col_labels, PcError *err) {
    (void)title, (void)rows, (void)cols, (void)tile_h, (void)tile_w, (void)tiles, (void)present;
    (void)row_labels, (void)col_labels;
    return pc_fail(err, "%s: figures need cairo (this build has none; install libcairo2-dev and rebuild)", base);
}

#endif
