// report_internal.h: what the parts of --report share (report.c reads the files; report_models.c
// groups them into model columns; report_paper.c decides whether the paper's numbers are shown and
// checks the classes against the authors'; report_tables.c writes the paper-layout tables, the
// paired comparisons and report.csv; report_figures.c the merged map grid and the curve figures).
#ifndef PC_REPORT_INTERNAL_H
#define PC_REPORT_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "layout.h"
#include "paper_data.h"
#include "report.h"

typedef struct {
    PcResultFile r;         // the file as layout.c reads it (ids, names, status, layout)
    char *label;            // file name without folder and ".h5"
    unsigned char *ok;      // (n) done with status "ok"
    unsigned char *use;     // (n) ok and held (ok) by every file of the report
    int opened;
    int from_journal;       // done images read from the journal of a .partial (results_journal.h)
} ReportFile;

// Index of method id in the file, or -1.
int pc_report_method_index(const ReportFile *rf, const char *id);
// Mean curve of id's insertion (deletion = 0) or deletion scores into y (T = rf->r.layout.steps) over
// the images behind the method's means (pc_table_values) whose scores are all usable (softmax
// probabilities: table.h, pc_unit_value_usable); 0 when absent.
int pc_report_mean_curve(const ReportFile *rf, const char *id, int deletion, double *y, PcError *err);
// A table header cell " <label><suffix> |", the label (a file's or a model's name: text the
// program did not make) as Markdown text (safe_text.h).
void pc_report_label_cell(FILE *md, const char *label, const char *suffix);
// Box-filter (or nearest) resize of an (s, s, 3) tile to (t, t, 3).
void pc_report_shrink_tile(const unsigned char *in, int s, unsigned char *out, int t);

// One model column of the tables: the files run with the same network and weights (the [model]
// arch and the weights checksum), whichever tables each file fills.
typedef struct {
    char label[96];         // column name: the arch ("vgg16"), or a custom arch's weights file
                            // name ("synth_resnet"); "(file)" added where two models share a name
    char arch[32];          // [model] arch
    char paper[16];         // the paper's model of the same family: "vgg16" | "resnet50" | ""
    int standard;           // arch is exactly the paper's (vgg16 / resnet50, 1000 classes)
    int n_files, *files;    // indices into the report's files, command-line order
    uint64_t seed;          // [run] seed of its first file: the bootstrap's
    int n_images;           // the images of its means: the first file's used images
    char **names;           // (n_images) their list entry names (the first file's strings)
    int **rows;             // (n_files)(n_images) row of each image in each file, -1 = absent
    int *cls;               // (n_images) predicted class (first file holding it), -1 = unknown
    int show_paper;         // print the paper's numbers beside ours
    char why_not[768];      // when not: one line saying why
    char note[256];         // a remark printed with the tables ("forced", "over 20 of 2000 images")
} ReportModel;

// Groups the files into models (file order decides the column order). *n_models set; the array
// is malloc'd (free with pc_report_models_free).
ReportModel *pc_report_models(ReportFile *fs, int nf, int *n_models);
void pc_report_models_free(ReportModel *m, int n);
// The value of a config key in a file's canonical config text ("model", "arch"); "" when absent.
void pc_report_config_value(const ReportFile *rf, const char *section, const char *key, char *out, size_t cap);
// Per-image values of method id over the model's images: what = insertion | deletion | ins_del |
// sensitivity | sensitivity_avg; NaN where the image has none or --table's rule leaves it out
// (table.h: pc_table_values, so every mean, interval and paired test counts as --table). The first of the model's files that holds id (and
// that value) supplies them; *file gets its index (-1, and NULL returned, when none does).
double *pc_report_values(const ReportFile *fs, const ReportModel *m, const char *id, const char *what, int *file);

// Paper setting (report_paper.c): decides show_paper / why_not / note of every model (opt->paper:
// auto, yes, no), loads the paper's tables into pd (pd->n = 0 when not found: every model then says
// so), and writes the class agreement with the authors' top-1 classes into md (and the disagreeing
// images into csv), for the models whose images are on the paper's list.
void pc_report_paper_setting(FILE *md, FILE *csv, const ReportFile *fs, ReportModel *models, int nm,
                             const PcReportOptions *opt, PcPaperData *pd);

// Tables (report_tables.c): Tables 1/4, 2/3 and 5 in the paper's layout, with 95 % bootstrap
// intervals and the paper's values where shown, then the paired comparisons against the
// reference method; the same numbers into csv.
int pc_report_tables(FILE *md, FILE *csv, const ReportFile *fs, int nf, const ReportModel *models, int nm,
                     const PcPaperData *pd, const PcReportOptions *opt, PcError *err);
// The header line of report.csv.
void pc_report_csv_header(FILE *csv);

// Figures (report_figures.c): the map grid over the shared images (a column for every method of
// every file) and, per model, the curve figures of the paper's Figs 18-25. Markdown links into md.
int pc_report_figures(FILE *md, const char *dir, const ReportFile *fs, int nf, const ReportModel *models, int nm,
                      const PcReportOptions *opt, PcError *err);

// An ablation id's parts: "pcampm.level.features.3" -> variant "pcampm", kind 0 (level), layer
// "features.3"; kind 1 = ".cam.", 2 = ".no_lnorm" (layer ""). 0 when id is not an ablation id.
int pc_report_ablation_parts(const char *id, char *variant, size_t vcap, int *kind, const char **layer);

#endif
