// report_paper.c: whether the report puts the paper's numbers beside a model's (report_internal.h),
// and the check of the predicted classes against the authors' own (data/authors_top1_*.csv).
//
// The paper's setting (report.paper = auto): torchvision's vgg16 / resnet50 with 1000 classes; the
// paper's curves and preprocessing ([metrics] steps 224, blurred baseline 11 x 11 sigma 5,
// [preprocess] size 224, bilinear resize, the predicted class); every image on the paper's list
// (data/ilsvrc2012_val_2000.txt; a subset is allowed and said); and, as the check of the weights
// (a result file records only their checksum), at least 99 % of the predicted classes equal to the
// authors' top-1 classes (torchvision's V1 weights with the paper's preprocessing give 100 %).
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "safe_text.h"

typedef struct {
    char *name;
    int cls;
} NameClass;

static int cmp_nc(const void *a, const void *b) {
    return strcmp(((const NameClass *)a)->name, ((const NameClass *)b)->name);
}

// A shipped list "name" or "name,class" per line, sorted by name; *n set. NULL when not found.
static NameClass *load_names(const char *file, int *n) {
    *n = 0;
    char *path = pc_data_find(file, NULL, 0);
    FILE *f = path ? fopen(path, "r") : NULL;
    free(path);
    if (!f) return NULL;
    NameClass *v = NULL;
    int cap = 0;
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (!len) continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 2048;
            NameClass *g = realloc(v, (size_t)cap * sizeof(NameClass));
            if (!g) break;
            v = g;
        }
        char *comma = strchr(line, ',');
        if (comma) *comma = 0;
        v[*n].name = strdup(line);
        v[*n].cls = comma ? atoi(comma + 1) : -1;
        (*n)++;
    }
    free(line);
    fclose(f);
    if (v) qsort(v, (size_t)*n, sizeof(NameClass), cmp_nc);
    return v;
}

static void free_names(NameClass *v, int n) {
    for (int i = 0; v && i < n; i++) free(v[i].name);
    free(v);
}

// "`arch = <arch>`" into out for a why-not line (Markdown): the arch comes from a file's config, so
// escaped text instead of a code span when a code span cannot hold it (safe_text.h).
static const char *arch_md(const char *arch, char *out, size_t cap) {
    if (pc_md_code_ok(arch)) {
        snprintf(out, cap, "`arch = %s`", arch);
    } else {
        size_t n = (size_t)snprintf(out, cap, "arch = ");
        if (n < cap) pc_md_escape(out + n, cap - n, arch);
    }
    return out;
}

static const NameClass *lookup(const NameClass *v, int n, const char *name) {
    NameClass key = {(char *)name, 0};
    return v ? bsearch(&key, v, (size_t)n, sizeof(NameClass), cmp_nc) : NULL;
}

// The settings of the model's first file that differ from the paper's, as "steps = 8 (the paper:
// 224), ..." into out; "" when none.
static void settings_differ(const ReportFile *rf, char *out, size_t cap) {
    static const struct {
        const char *section, *key, *want;
        int numeric;
    } keys[] = {{"metrics", "steps", "224", 1},      {"metrics", "baseline", "blur", 0},
                {"metrics", "blur_kernel", "11", 1}, {"metrics", "blur_sigma", "5", 1},
                {"preprocess", "size", "224", 1},    {"preprocess", "resize", "bilinear", 0},
                {"saliency", "class", "predicted", 0}};
    out[0] = 0;
    for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++) {
        char v[256], shown[1024];
        pc_report_config_value(rf, keys[k].section, keys[k].key, v, sizeof v);
        int same = keys[k].numeric ? v[0] && strtod(v, NULL) == strtod(keys[k].want, NULL) : !strcmp(v, keys[k].want);
        if (same) continue;
        size_t used = strlen(out);
        pc_md_escape(shown, sizeof shown, v[0] ? v : "?");   // the file's value, as Markdown text
        if (snprintf(out + used, cap - used, "%s[%s] %s = %s (the paper: %s)", used ? ", " : "", keys[k].section,
                     keys[k].key, shown, keys[k].want) >= (int)(cap - used))
            break;   // out is full
    }
}

// Classes against the authors': agree / compared into *agree / *compared, the section into md.
static void class_check(FILE *md, const ReportModel *m, int *agree, int *compared) {
    char file[64];
    snprintf(file, sizeof file, "authors_top1_%s.csv", m->paper);
    int n_auth = 0;
    NameClass *auth = load_names(file, &n_auth);
    *agree = *compared = 0;
    if (!auth) {
        fprintf(md, "\n");
        pc_md_write(md, m->label);
        fprintf(md, ": data/%s was not found: the predicted classes are not compared with the authors'.\n", file);
        return;
    }
    for (int i = 0; i < m->n_images; i++) {
        const NameClass *a = lookup(auth, n_auth, m->names[i]);
        if (!a || m->cls[i] < 0) continue;
        (*compared)++;
        *agree += a->cls == m->cls[i];
    }
    fprintf(md, "\n**");
    pc_md_write(md, m->label);
    fprintf(md, ": %d of %d predicted classes agree with the authors'** (data/%s, the classes the authors' "
                "%s explained).\n", *agree, *compared, file, m->paper);
    if (*agree < *compared) {
        fprintf(md, "\nImages whose class differs:\n\n| Image | Ours | Authors' |\n|---|---:|---:|\n");
        for (int i = 0; i < m->n_images; i++) {
            const NameClass *a = lookup(auth, n_auth, m->names[i]);
            if (!a || m->cls[i] < 0 || a->cls == m->cls[i]) continue;
            fprintf(md, "| ");
            pc_md_write(md, m->names[i]);   // the image name as Markdown text
            fprintf(md, " | %d | %d |\n", m->cls[i], a->cls);
        }
    }
    free_names(auth, n_auth);
}

// Why the model is not in the paper's setting ("" when it is); class agreement written to md.
static void auto_reason(FILE *md, const ReportFile *fs, ReportModel *m, const NameClass *list, int n_list,
                        char *why, size_t cap) {
    why[0] = 0;
    int on = 0;
    for (int i = 0; i < m->n_images; i++) on += lookup(list, n_list, m->names[i]) != NULL;
    int on_list = list && m->n_images > 0 && on == m->n_images;
    int agree = 0, compared = 0;
    if (on_list) class_check(md, m, &agree, &compared);
    char diff[1024], arch[160];
    settings_differ(&fs[m->files[0]], diff, sizeof diff);
    if (!m->standard)
        snprintf(why, cap, "the model is %s%s, not torchvision's vgg16 or resnet50 with 1000 classes",
                 arch_md(m->arch, arch, sizeof arch),
                 !strcmp(m->arch, "vgg") || !strcmp(m->arch, "resnet") ? " (a custom network: synthetic or other)" : "");
    else if (diff[0])
        snprintf(why, cap, "its settings are not the paper's: %s", diff);
    else if (!list)
        snprintf(why, cap, "the paper's image list (data/ilsvrc2012_val_2000.txt) was not found");
    else if (!on_list)
        snprintf(why, cap, "%d of its %d images are not on the paper's list (data/ilsvrc2012_val_2000.txt)",
                 m->n_images - on, m->n_images);
    else if (compared > 0 && agree < 0.99 * compared)
        snprintf(why, cap, "its predicted classes agree with the authors' for only %d of %d images: other weights than "
                 "torchvision's V1, or another preprocessing", agree, compared);
    if (!why[0] && on_list && m->n_images < n_list)
        snprintf(m->note, sizeof m->note, "over %d of the paper's %d images", m->n_images, n_list);
}

void pc_report_paper_setting(FILE *md, FILE *csv, const ReportFile *fs, ReportModel *models, int nm,
                             const PcReportOptions *opt, PcPaperData *pd) {
    (void)csv;
    char looked[4096] = "", load_err[1024] = "";
    memset(pd, 0, sizeof *pd);
    char *path = opt->paper == PC_REPORT_PAPER_NO ? NULL : pc_data_find("paper_tables.csv", looked, sizeof looked);
    PcError e;
    if (path && pc_paper_load(path, pd, &e)) snprintf(load_err, sizeof load_err, "%s", e.msg);
    free(path);
    int n_list = 0;
    NameClass *list = load_names("ilsvrc2012_val_2000.txt", &n_list);
    int heading = 0;
    for (int k = 0; k < nm; k++) {
        ReportModel *m = &models[k];
        if (!heading && m->paper[0]) fprintf(md, "\n## The paper's setting\n"), heading = 1;
        char why[sizeof m->why_not] = "", arch[160];
        if (m->paper[0]) auto_reason(md, fs, m, list, n_list, why, sizeof why);
        m->show_paper = 0;
        if (opt->paper == PC_REPORT_PAPER_NO)
            snprintf(m->why_not, sizeof m->why_not, "`report.paper = no`");
        else if (load_err[0])
            snprintf(m->why_not, sizeof m->why_not, "the paper's tables could not be read: %s", load_err);
        else if (pd->n == 0)
            snprintf(m->why_not, sizeof m->why_not, "the paper's tables (paper_tables.csv) were not found (looked in %s)",
                     looked);
        else if (!m->paper[0])
            snprintf(m->why_not, sizeof m->why_not, "%s is of neither of the paper's families (VGG, ResNet)",
                     arch_md(m->arch, arch, sizeof arch));
        else if (opt->paper == PC_REPORT_PAPER_YES) {
            m->show_paper = 1;
            snprintf(m->note, sizeof m->note, "forced with `report.paper = yes`, compared with the paper's %s%s%.160s",
                     m->paper, why[0] ? " although " : "", why);
        } else if (why[0])
            snprintf(m->why_not, sizeof m->why_not, "%s", why);
        else
            m->show_paper = 1;
    }
    free_names(list, n_list);
}
