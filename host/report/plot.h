// plot.h: the report's figures, drawn with cairo (anti-aliased lines and text): line charts with
// axes, ticks, labels and a legend (mean insertion / deletion curves, per-level ablation plots,
// sanity similarity curves) and labelled image grids (overlays: images x methods). Every figure is
// written twice, as PNG and as SVG, from the same drawing code.
//
// Colours: series use the Okabe–Ito palette (distinguishable with the common colour-vision
// deficiencies) and, from the ninth series on, dash patterns too, so charts also read in grey.
// Heat maps use viridis, whose lightness rises monotonically (reads in grey).
#ifndef PC_PLOT_H
#define PC_PLOT_H

#include "common.h"

typedef struct {
    const char *label;      // legend text
    const double *x, *y;    // (n) points; non-finite y values break the line
    int n;
    int colour;             // palette index + 1; 0 = by the series' position
    int dashed;             // 1 = dashed line (e.g. deletion beside insertion in the same colour)
} PcSeries;

typedef struct {
    const char *title;
    const char *xlabel, *ylabel;
    double xmin, xmax, ymin, ymax;  // axis ranges; xmin == xmax (or ymin == ymax) = from the data
    int width, height;              // pixels (PNG) / points (SVG); 0 = 720 x 480
} PcChart;

// Writes <base>.png and <base>.svg. Fails (err set) when cairo cannot create either file.
int pc_plot_lines(const char *base, const PcChart *chart, const PcSeries *series, int n_series,
                  PcError *err);

// An image grid: rows x cols RGB tiles (8-bit, tile_h x tile_w x 3 each, row-major tiles[r][c]
// at tiles + (r * cols + c) * tile_h * tile_w * 3; NULL tiles are left blank) with a label left
// of each row and above each column. Writes <base>.png and <base>.svg.
int pc_plot_grid(const char *base, const char *title, int rows, int cols, int tile_h, int tile_w,
                 const unsigned char *tiles, const unsigned char *present, char *const *row_labels,
                 char *const *col_labels, PcError *err);

// viridis(t), t in [0, 1] (clamped; NaN -> 0), as 8-bit RGB.
void pc_viridis(float t, unsigned char rgb[3]);

// Heat-map tile: map (s, s) scaled to its finite min..max, viridis, blended 50/50 over the
// ImageNet-normalised input x (3, s, s) when x is not NULL. out (s, s, 3).
void pc_heat_tile(const float *x, const float *map, int s, unsigned char *out);

// 1 when the binary was built with cairo (figures available).
int pc_plot_available(void);

#endif
