// report_tables.c: the paper's tables in the paper's layout (rows: methods; columns: model x Ins /
// Del / Ins-Del), one table whichever file each row came from, every mean with its 95 % bootstrap
// interval (stats.h) and, where shown, the paper's value and the difference; then the paired
// comparisons against the reference method; every number also into report.csv (docs/report.md).
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "safe_text.h"
#include "stats.h"

#define LEVEL 0.95

static const char *const g_metrics[3] = {"insertion", "deletion", "ins_del"};

typedef struct {
    FILE *md, *csv;
    const ReportFile *fs;
    const PcPaperData *pd;
    const PcReportOptions *opt;
    PcBootstrap *bs;        // the resamples (the model's seed set before each use)
    const ReportModel *models;
} Ctx;

// One cell: our mean over the finite values of v with its interval, the paper's value.
typedef struct {
    PcMeanCi ci;
    const PcPaperCell *paper;
    double diff;
    int beyond;
} Cell;

static void cell_compute(Ctx *c, int model, const double *v, int n, const PcPaperCell *paper, Cell *out) {
    double *x = xmalloc(((size_t)n + 1) * sizeof(double));
    int k = 0;
    for (int i = 0; v && i < n; i++)
        if (isfinite(v[i])) x[k++] = v[i];
    memset(out, 0, sizeof *out);
    c->bs->seed = c->models[model].seed;
    if (pc_bootstrap_bca(c->bs, x, k, LEVEL, &out->ci)) out->ci.lo = out->ci.hi = NAN;
    if (!v) out->ci.mean = NAN;
    free(x);
    out->paper = out->ci.n > 0 ? paper : NULL;
    if (out->paper) {
        double half = isfinite(out->ci.lo) ? (out->ci.hi - out->ci.lo) / 2 : 0;
        out->diff = out->ci.mean - paper->value;
        out->beyond = fabs(out->diff) > pc_paper_precision(paper) + half;
    }
}

// v with `decimals` decimals (sign: always signed), in exponent form from 1e9 on: a huge mean (a
// sensitivity-max has no upper bound) stays one short cell. Returns buf.
static const char *num(char *buf, size_t cap, double v, int decimals, int sign) {
    if (fabs(v) < 1e9) snprintf(buf, cap, sign ? "%+.*f" : "%.*f", decimals, v);
    else snprintf(buf, cap, sign ? "%+.*e" : "%.*e", decimals, v);
    return buf;
}

static void md_cell(FILE *md, const Cell *c, int decimals) {
    if (c->ci.n == 0 || !isfinite(c->ci.mean)) {
        fprintf(md, " - |");
        return;
    }
    char a[48], b[48];
    fprintf(md, " %s", num(a, sizeof a, c->ci.mean, decimals, 0));
    if (isfinite(c->ci.lo))
        fprintf(md, " [%s, %s]", num(a, sizeof a, c->ci.lo, decimals, 0), num(b, sizeof b, c->ci.hi, decimals, 0));
    if (c->paper) {
        fprintf(md, "; paper %.*f, ", c->paper->decimals, c->paper->value);
        fprintf(md, c->beyond ? "**Δ %s (!)**" : "Δ %s", num(a, sizeof a, c->diff, decimals, 1));
    }
    fprintf(md, " |");
}

static void csv_num(FILE *csv, double v) {
    if (isfinite(v)) fprintf(csv, ",%.10g", v);
    else fputs(",", csv);
}

void pc_report_csv_header(FILE *csv) {
    fputs("section,model,method,reference,layer,metric,n,mean,ci_low,ci_high,paper_table,paper,diff,beyond,"
          "wilcoxon_p\n", csv);
}

static void csv_row(FILE *csv, const char *section, const char *model, const char *method, const char *reference,
                    const char *layer, const char *metric, const Cell *c, double p) {
    // RFC 4180 with the formula guard (safe_text.h): the model label, the ids and the layer came
    // from the files
    pc_csv_field(csv, section);
    fputc(',', csv);
    pc_csv_field(csv, model);
    fputc(',', csv);
    pc_csv_field(csv, method);
    fputc(',', csv);
    pc_csv_field(csv, reference);
    fputc(',', csv);
    pc_csv_field(csv, layer);
    fprintf(csv, ",%s,%d", metric, c->ci.n);
    csv_num(csv, c->ci.mean);
    csv_num(csv, c->ci.lo);
    csv_num(csv, c->ci.hi);
    if (c->paper) fprintf(csv, ",%d,%.*f,%.10g,%d", c->paper->table, c->paper->decimals, c->paper->value, c->diff, c->beyond);
    else fputs(",,,,", csv);
    csv_num(csv, p);
    fputc('\n', csv);
}

// ---- Tables 1 and 4 -----------------------------------------------------------------------------

static int cmp_rank(const void *a, const void *b) {
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;
    int rx = pc_paper_method_rank(x), ry = pc_paper_method_rank(y);
    rx = rx < 0 ? 1000 : rx;
    ry = ry < 0 ? 1000 : ry;
    return rx - ry;
}

// Union of the non-ablation ids of the files: the paper's Table 4 order first, then first seen.
static int main_ids(const ReportFile *fs, int nf, const char **out, int max) {
    int n = 0;
    char v[64];
    int kind;
    const char *layer;
    for (int k = 0; k < nf; k++)
        for (int m = 0; m < fs[k].r.layout.n_methods; m++) {
            const char *id = fs[k].r.ids[m];
            if (pc_report_ablation_parts(id, v, sizeof v, &kind, &layer)) continue;
            int seen = 0;
            for (int j = 0; j < n && !seen; j++) seen = !strcmp(out[j], id);
            if (!seen && n < max) out[n++] = id;
        }
    // stable: insertion sort on the rank (qsort is not stable)
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && cmp_rank(&out[j - 1], &out[j]) > 0; j--) {
            const char *t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

// "| id (paper name) |", the id as Markdown text.
static void row_label(FILE *md, const char *id) {
    const char *name = pc_paper_method_name(id);
    fprintf(md, "| ");
    pc_md_write(md, id);
    if (name) fprintf(md, " (%s)", name);
    fprintf(md, " |");
}

static void table_main(Ctx *c, const ReportModel *models, int nm, const char **ids, int n_ids) {
    FILE *md = c->md;
    fprintf(md, "\n## Tables 1 and 4: insertion / deletion AUCs\n\n| Method |");
    for (int k = 0; k < nm; k++) {
        pc_report_label_cell(md, models[k].label, " Ins");
        pc_report_label_cell(md, models[k].label, " Del");
        pc_report_label_cell(md, models[k].label, " Ins-Del");
        pc_report_label_cell(md, models[k].label, " N");
    }
    fprintf(md, "\n|---|");
    for (int k = 0; k < nm; k++) fprintf(md, "---:|---:|---:|---:|");
    fprintf(md, "\n");
    for (int r = 0; r < n_ids; r++) {
        row_label(md, ids[r]);
        const char *name = pc_paper_method_name(ids[r]);
        for (int k = 0; k < nm; k++) {
            const ReportModel *m = &models[k];
            int n = 0;
            for (int t = 0; t < 3; t++) {
                int file;
                double *v = pc_report_values(c->fs, m, ids[r], g_metrics[t], &file);
                const PcPaperCell *p = m->show_paper && name ? pc_paper_find(c->pd, 4, m->paper, name, NULL, g_metrics[t]) : NULL;
                Cell cell;
                cell_compute(c, k, v, m->n_images, p, &cell);
                free(v);
                md_cell(md, &cell, 4);
                if (cell.ci.n > n) n = cell.ci.n;
                if (cell.ci.n > 0) csv_row(c->csv, "means", m->label, ids[r], "", "", g_metrics[t], &cell, NAN);
            }
            fprintf(md, " %d |", n);
        }
        fprintf(md, "\n");
    }
}

// ---- Tables 2 and 3 ------------------------------------------------------------------------------

typedef struct {
    char name[64];
    int n[3];               // levels, CAMs, no-LNorm (0 / 1)
    char layers[2][16][64]; // levels' and CAMs' layers, earliest first
} Variant;

static int find_variants(const ReportFile *fs, const ReportModel *m, Variant *vs, int max) {
    int nv = 0;
    for (int f = 0; f < m->n_files; f++) {
        const ReportFile *rf = &fs[m->files[f]];
        for (int i = 0; i < rf->r.layout.n_methods; i++) {
            char var[64];
            int kind;
            const char *layer;
            if (!pc_report_ablation_parts(rf->r.ids[i], var, sizeof var, &kind, &layer)) continue;
            int v = 0;
            while (v < nv && strcmp(vs[v].name, var)) v++;
            if (v == nv) {
                if (nv == max) continue;
                memset(&vs[nv], 0, sizeof vs[nv]);
                snprintf(vs[nv++].name, sizeof vs[0].name, "%s", var);
            }
            if (kind == 2) {
                vs[v].n[2] = 1;
                continue;
            }
            int seen = 0;
            for (int l = 0; l < vs[v].n[kind] && !seen; l++) seen = !strcmp(vs[v].layers[kind][l], layer);
            if (!seen && vs[v].n[kind] < 16) snprintf(vs[v].layers[kind][vs[v].n[kind]++], 64, "%s", layer);
        }
    }
    return nv;
}

// One row of an ablation table: id's three metrics, the paper's cells (table, method, layer) when given.
static void ablation_row(Ctx *c, const ReportModel *m, int model, const char *label, const char *id, int table,
                         const char *pmethod, const char *player) {
    fprintf(c->md, "| ");
    pc_md_write(c->md, label);   // variant and layer come from the ids
    fprintf(c->md, " |");
    int n = 0;
    for (int t = 0; t < 3; t++) {
        int file;
        double *v = pc_report_values(c->fs, m, id, g_metrics[t], &file);
        const PcPaperCell *p = table && pmethod && player ? pc_paper_find(c->pd, table, m->paper, pmethod, player, g_metrics[t]) : NULL;
        Cell cell;
        cell_compute(c, model, v, m->n_images, p, &cell);
        free(v);
        md_cell(c->md, &cell, 4);
        if (cell.ci.n > n) n = cell.ci.n;
        if (cell.ci.n > 0) csv_row(c->csv, "means", m->label, id, "", player ? player : "", g_metrics[t], &cell, NAN);
    }
    fprintf(c->md, " %d |\n", n);
}

static void table_ablation(Ctx *c, const ReportModel *m, int model) {
    Variant vs[8];
    int nv = find_variants(c->fs, m, vs, 8);
    if (!nv) return;
    int table = m->show_paper ? (!strcmp(m->paper, "vgg16") ? 2 : !strcmp(m->paper, "resnet50") ? 3 : 0) : 0;
    if (table) fprintf(c->md, "\n## Table %d: per-level ablation, ", table);
    else fprintf(c->md, "\n## Tables 2 and 3: per-level ablation, ");
    pc_md_write(c->md, m->label);
    fprintf(c->md, "\n\n");
    fprintf(c->md, "Rows: Poly-CAM at each level (deepest first), the CAM of each layer alone, the map without "
                   "LNorm.\n\n| Method | Ins | Del | Ins-Del | N |\n|---|---:|---:|---:|---:|\n");
    const char *const *players = m->show_paper ? pc_paper_layers(m->paper) : NULL;
    for (int v = 0; v < nv; v++) {
        const char *sign = pc_paper_variant_sign(vs[v].name);
        char pname[2][32], label[512], id[256];
        snprintf(pname[0], sizeof pname[0], "PCAM%s", sign ? sign : "?");
        snprintf(pname[1], sizeof pname[1], "CAM%s", sign ? sign : "?");
        for (int kind = 0; kind < 2; kind++)
            for (int l = vs[v].n[kind] - 1; l >= 0; l--) {
                const char *layer = vs[v].layers[kind][l];
                int pos = vs[v].n[kind] - 1 - l;   // 0 = deepest
                const char *player = players && sign && vs[v].n[kind] == 5 ? players[pos] : NULL;
                snprintf(id, sizeof id, "%.63s.%s.%.63s", vs[v].name, kind ? "cam" : "level", layer);
                snprintf(label, sizeof label, "%.256s at %.63s%s%s%s", sign ? pname[kind] : id, layer, player ? " (" : "",
                         player ? player : "", player ? ")" : "");
                ablation_row(c, m, model, label, id, table, sign ? pname[kind] : NULL, player);
            }
        if (vs[v].n[2]) {
            snprintf(id, sizeof id, "%.63s.no_lnorm", vs[v].name);
            snprintf(label, sizeof label, "%.63s without LNorm", sign ? pname[0] : vs[v].name);
            ablation_row(c, m, model, label, id, 0, NULL, NULL);
        }
    }
}

// ---- Table 5 -------------------------------------------------------------------------------------

// Does any method of model k store `what`?
static int model_has(Ctx *c, const ReportModel *m, const char **ids, int n_ids, const char *what) {
    int any = 0;
    for (int r = 0; r < n_ids && !any; r++) {
        int file;
        double *v = pc_report_values(c->fs, m, ids[r], what, &file);
        any = v != NULL;
        free(v);
    }
    return any;
}

// Sensitivity-max per method and model, and beside it the avg-sensitivity of the models whose files
// store it (metrics/sensitivity.h).
static void table_sensitivity(Ctx *c, const ReportModel *models, int nm, const char **ids, int n_ids) {
    int any = 0, avg[64] = {0};
    for (int k = 0; k < nm; k++) {
        any |= model_has(c, &models[k], ids, n_ids, "sensitivity");
        avg[k] = k < 64 && model_has(c, &models[k], ids, n_ids, "sensitivity_avg");
    }
    if (!any) return;
    fprintf(c->md, "\n## Table 5: sensitivity-max (lower is more robust)\n\n| Method |");
    for (int k = 0; k < nm; k++) {
        pc_report_label_cell(c->md, models[k].label, " Sens-max");
        pc_report_label_cell(c->md, models[k].label, " N");
        if (k < 64 && avg[k]) pc_report_label_cell(c->md, models[k].label, " Sens-avg");
    }
    fprintf(c->md, "\n|---|");
    for (int k = 0; k < nm; k++) fprintf(c->md, "---:|---:|%s", k < 64 && avg[k] ? "---:|" : "");
    fprintf(c->md, "\n");
    for (int r = 0; r < n_ids; r++) {
        row_label(c->md, ids[r]);
        const char *name = pc_paper_method_name(ids[r]);
        for (int k = 0; k < nm; k++) {
            const ReportModel *m = &models[k];
            int file;
            double *v = pc_report_values(c->fs, m, ids[r], "sensitivity", &file);
            const PcPaperCell *p = m->show_paper && name ? pc_paper_find(c->pd, 5, m->paper, name, NULL, "sensitivity_max") : NULL;
            Cell cell;
            cell_compute(c, k, v, m->n_images, p, &cell);
            free(v);
            md_cell(c->md, &cell, 4);
            fprintf(c->md, " %d |", cell.ci.n);
            if (cell.ci.n > 0) csv_row(c->csv, "means", m->label, ids[r], "", "", "sensitivity_max", &cell, NAN);
            if (k >= 64 || !avg[k]) continue;
            v = pc_report_values(c->fs, m, ids[r], "sensitivity_avg", &file);
            cell_compute(c, k, v, m->n_images, NULL, &cell);
            free(v);
            md_cell(c->md, &cell, 4);
            if (cell.ci.n > 0) csv_row(c->csv, "means", m->label, ids[r], "", "", "sensitivity_avg", &cell, NAN);
        }
        fprintf(c->md, "\n");
    }
}

// ---- perturbation metrics (docs/metrics.md) -------------------------------------------------------

// Per model whose files have them: one row per method, one cell (mean [interval]) per scalar
// extra set with a table column (results/extra_sets.h), the sets of the model's first file.
static void table_perturbation(Ctx *c, const ReportModel *models, int nm, const char **ids, int n_ids) {
    for (int k = 0; k < nm; k++) {
        const ReportModel *m = &models[k];
        const PcStoreLayout *l = &c->fs[m->files[0]].r.layout;
        int cols[PC_MAX_EXTRA], nc = 0;
        for (int x = 0; x < l->n_extra; x++)
            if (l->extra[x].width == 1 && l->extra[x].column) cols[nc++] = x;
        if (!nc) continue;
        fprintf(c->md, "\n## Perturbation metrics: ");
        pc_md_write(c->md, m->label);
        fprintf(c->md, " (docs/metrics.md)\n\n| Method |");
        for (int j = 0; j < nc; j++) fprintf(c->md, " %s |", l->extra[cols[j]].column);
        fprintf(c->md, " N |\n|---|");
        for (int j = 0; j <= nc; j++) fprintf(c->md, "---:|");
        fprintf(c->md, "\n");
        for (int r = 0; r < n_ids; r++) {
            row_label(c->md, ids[r]);
            int nmin = -1;
            for (int j = 0; j < nc; j++) {
                int file;
                double *v = pc_report_values(c->fs, m, ids[r], l->extra[cols[j]].name, &file);
                Cell cell;
                cell_compute(c, k, v, m->n_images, NULL, &cell);
                free(v);
                md_cell(c->md, &cell, 4);
                if (cell.ci.n > 0) csv_row(c->csv, "means", m->label, ids[r], "", "", l->extra[cols[j]].name, &cell, NAN);
                nmin = nmin < 0 || cell.ci.n < nmin ? cell.ci.n : nmin;
            }
            fprintf(c->md, " %d |\n", nmin);
        }
    }
}

// ---- paired comparisons --------------------------------------------------------------------------

// Mean paired difference (id - reference) of one metric with its interval and the Wilcoxon p.
static double paired_cell(Ctx *c, const ReportModel *m, int model, const char *id, const char *what, Cell *cell) {
    int f1, f2;
    double *x = pc_report_values(c->fs, m, id, what, &f1), *r = pc_report_values(c->fs, m, c->opt->reference, what, &f2);
    double *d = xmalloc(((size_t)m->n_images + 1) * sizeof(double));
    int n = 0;
    for (int i = 0; x && r && i < m->n_images; i++)
        if (isfinite(x[i]) && isfinite(r[i])) d[n++] = x[i] - r[i];
    memset(cell, 0, sizeof *cell);
    c->bs->seed = m->seed;
    (void)model;
    if (pc_bootstrap_bca(c->bs, d, n, LEVEL, &cell->ci)) cell->ci.lo = cell->ci.hi = NAN;
    double p = n > 0 ? pc_wilcoxon_p(d, n) : NAN;
    free(x);
    free(r);
    free(d);
    return p;
}

static void paired_model(Ctx *c, const ReportModel *m, int model, const char **ids, int n_ids) {
    const char *ref = c->opt->reference;
    fprintf(c->md, "\n### ");
    pc_md_write(c->md, m->label);
    fprintf(c->md, "\n\n");
    int has_ref = 0;
    for (int f = 0; f < m->n_files && !has_ref; f++) has_ref = pc_report_method_index(&c->fs[m->files[f]], ref) >= 0;
    if (!has_ref) {
        pc_md_code(c->md, ref);
        fprintf(c->md, " is not among ");
        pc_md_write(c->md, m->label);
        fprintf(c->md, "'s methods: no paired comparison (`--set report.reference=ID`).\n");
        return;
    }
    // sensitivity-max too, where the reference has it (Table 5's metric)
    int file, nt = 3;
    double *sens = pc_report_values(c->fs, m, ref, "sensitivity", &file);
    nt += sens != NULL;
    free(sens);
    fprintf(c->md, "| Method | Ins Δ | p | Del Δ | p | Ins-Del Δ | p |%s N |\n|---|---:|---:|---:|---:|---:|---:|%s---:|\n",
            nt > 3 ? " Sens-max Δ | p |" : "", nt > 3 ? "---:|---:|" : "");
    for (int r = 0; r < n_ids; r++) {
        if (!strcmp(ids[r], ref)) continue;
        int present = 0;
        for (int f = 0; f < m->n_files && !present; f++) present = pc_report_method_index(&c->fs[m->files[f]], ids[r]) >= 0;
        if (!present) continue;
        row_label(c->md, ids[r]);
        int n = 0;
        for (int t = 0; t < nt; t++) {
            Cell cell;
            const char *what = t < 3 ? g_metrics[t] : "sensitivity";
            double p = paired_cell(c, m, model, ids[r], what, &cell);
            if (cell.ci.n == 0) {
                fprintf(c->md, " - | - |");
                continue;
            }
            char a[48], b[48];
            fprintf(c->md, " %s", num(a, sizeof a, cell.ci.mean, 4, 1));
            if (isfinite(cell.ci.lo))
                fprintf(c->md, " [%s, %s]", num(a, sizeof a, cell.ci.lo, 4, 1), num(b, sizeof b, cell.ci.hi, 4, 1));
            fprintf(c->md, isfinite(p) ? " | %.3g |" : " | - |", p);
            if (cell.ci.n > n) n = cell.ci.n;
            csv_row(c->csv, "paired", m->label, ids[r], ref, "", t < 3 ? g_metrics[t] : "sensitivity_max", &cell, p);
        }
        fprintf(c->md, " %d |\n", n);
    }
}

// ---- all tables ------------------------------------------------------------------------------------

static void paper_lines(FILE *md, const ReportModel *models, int nm) {
    for (int k = 0; k < nm; k++) {
        const ReportModel *m = &models[k];
        if (m->show_paper && !m->note[0]) continue;
        fprintf(md, "\nPaper values %s ", m->show_paper ? "for" : "left out for");
        pc_md_write(md, m->label);
        // why_not and note are Markdown already (report_paper.c escapes what they quote of a file)
        if (!m->show_paper) fprintf(md, ": %s (`--set report.paper=yes` shows them).\n", m->why_not);
        else fprintf(md, ": %s.\n", m->note);
    }
}

int pc_report_tables(FILE *md, FILE *csv, const ReportFile *fs, int nf, const ReportModel *models, int nm,
                     const PcPaperData *pd, const PcReportOptions *opt, PcError *err) {
    (void)err;
    PcBootstrap bs;
    pc_bootstrap_init(&bs, 0, opt->resamples);
    Ctx c = {md, csv, fs, pd, opt, &bs, models};
    const char **ids = xcalloc((size_t)nf * 512 + 1, sizeof(char *));
    int n_ids = main_ids(fs, nf, ids, nf * 512);
    int curves = 0;
    for (int k = 0; k < nf; k++) curves |= fs[k].r.layout.insertion || fs[k].r.layout.deletion;
    paper_lines(md, models, nm);
    fprintf(md, "\nCells: our mean over the N images [95 %% BCa bootstrap interval, %d resamples over the images]",
            opt->resamples);
    fprintf(md, "; where shown, the paper's printed value and Δ = ours − paper, marked **(!)** where |Δ| exceeds the "
                "printed precision (0.005; 0.01 for Ins-Del; 0.00005 in Table 5) plus half our interval's width.\n");
    if (curves) table_main(&c, models, nm, ids, n_ids);
    else fprintf(md, "\n## Tables 1 and 4\n\n(No file has insertion or deletion curves: `[metrics] insertion = no, deletion = no`.)\n");
    for (int k = 0; k < nm && curves; k++) table_ablation(&c, &models[k], k);
    table_sensitivity(&c, models, nm, ids, n_ids);
    table_perturbation(&c, models, nm, ids, n_ids);
    if (curves) {
        const char *rn = pc_paper_method_name(opt->reference);
        fprintf(md, "\n## Paired comparisons against ");
        pc_md_code(md, opt->reference);
        fprintf(md, "%s%s%s\n\nΔ = the method's AUC − ", rn ? " (" : "", rn ? rn : "", rn ? ")" : "");
        pc_md_code(md, opt->reference);
        fprintf(md, "'s on the same image, mean over the images both have [95 %% BCa "
                    "bootstrap interval]; p: two-sided Wilcoxon signed-rank test of the differences (scipy's "
                    "defaults: zero differences dropped, exact distribution up to 50 images without zeros, else the "
                    "normal approximation with the tie correction).\n");
        for (int k = 0; k < nm; k++) paired_model(&c, &models[k], k, ids, n_ids);
    }
    pc_bootstrap_free(&bs);
    free(ids);
    return 0;
}
