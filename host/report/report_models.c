// report_models.c: the report's model columns (report_internal.h). Files run with the same network
// and weights form one column group whichever tables they fill (Table 1's run and Table 4's run of
// VGG16 are one "vgg16" column); each model's images are its first file's used images, and every
// other file of the model is matched to them by list entry name.
#define _GNU_SOURCE
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_internal.h"
#include "table.h"

void pc_report_config_value(const ReportFile *rf, const char *section, const char *key, char *out, size_t cap) {
    out[0] = 0;
    const char *t = rf->r.config;
    if (!t) return;
    size_t klen = strlen(key), slen = strlen(section);
    int in_section = 0;
    for (const char *line = t; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len >= 2 && line[0] == '[')
            in_section = len == slen + 2 && !strncmp(line + 1, section, slen) && line[slen + 1] == ']';
        else if (in_section && len >= klen + 3 && !strncmp(line, key, klen) && !strncmp(line + klen, " = ", 3)) {
            size_t vlen = len - klen - 3;
            if (vlen >= cap) vlen = cap - 1;
            memcpy(out, line + klen + 3, vlen);
            out[vlen] = 0;
            return;
        }
        line += len + (end != NULL);
    }
}

// The model's name: the arch, or for a custom arch ("vgg", "resnet") its weights file's name.
static void model_label(const ReportFile *rf, const char *arch, char *out, size_t cap) {
    if (strcmp(arch, "vgg") && strcmp(arch, "resnet") && arch[0]) {
        snprintf(out, cap, "%s", arch);
        return;
    }
    char w[4096];
    pc_report_config_value(rf, "model", "weights", w, sizeof w);
    const char *b = strrchr(w, '/');
    b = b ? b + 1 : w;
    if (!b[0]) {   // no weights file named: the result file's name
        snprintf(out, cap, "%s", rf->label);
        return;
    }
    const char *dot = strrchr(b, '.');
    int n = dot && dot != b ? (int)(dot - b) : (int)strlen(b);
    snprintf(out, cap, "%.*s", n, b);
}

static int same_model(const ReportFile *a, const ReportFile *b) {
    char aa[64], ab[64];
    pc_report_config_value(a, "model", "arch", aa, sizeof aa);
    pc_report_config_value(b, "model", "arch", ab, sizeof ab);
    const char *wa = a->r.weights_checksum ? a->r.weights_checksum : "";
    const char *wb = b->r.weights_checksum ? b->r.weights_checksum : "";
    return !strcmp(aa, ab) && !strcmp(wa, wb);
}

static int cmp_name(const void *a, const void *b) {
    return strcmp(**(char *const *const *)a, **(char *const *const *)b);
}

// rows[f][i] = the row of image names[i] in file f (-1 = absent or not used there).
static void match_rows(const ReportFile *fs, ReportModel *m) {
    m->rows = xcalloc((size_t)m->n_files, sizeof(int *));
    for (int f = 0; f < m->n_files; f++) {
        const ReportFile *rf = &fs[m->files[f]];
        m->rows[f] = xmalloc(((size_t)m->n_images + 1) * sizeof(int));
        // sorted pointers to the file's used names; the row is the pointer's offset
        char ***ptrs = xmalloc(((size_t)rf->r.n + 1) * sizeof(char **));
        int k = 0;
        for (int i = 0; i < rf->r.n; i++)
            if (rf->use[i]) ptrs[k++] = &rf->r.names[i];
        qsort(ptrs, (size_t)k, sizeof(char **), cmp_name);
        for (int i = 0; i < m->n_images; i++) {
            char *key = m->names[i], **kp = &key;
            char ***hit = bsearch(&kp, ptrs, (size_t)k, sizeof(char **), cmp_name);
            m->rows[f][i] = hit ? (int)(*hit - rf->r.names) : -1;
        }
        free(ptrs);
    }
}

// Predicted classes of the model's images: /images/class of the first file holding each.
static void read_classes(const ReportFile *fs, ReportModel *m) {
    m->cls = xmalloc(((size_t)m->n_images + 1) * sizeof(int));
    for (int i = 0; i < m->n_images; i++) m->cls[i] = -1;
    for (int f = 0; f < m->n_files; f++) {
        const ReportFile *rf = &fs[m->files[f]];
        int *c = xmalloc(((size_t)rf->r.n + 1) * sizeof(int));
        if (rf->r.n > 0 && H5Dread(rf->r.d_class, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) >= 0)
            for (int i = 0; i < m->n_images; i++)
                if (m->cls[i] < 0 && m->rows[f][i] >= 0) m->cls[i] = c[m->rows[f][i]];
        free(c);
    }
}

static void model_fill(const ReportFile *fs, ReportModel *m) {
    const ReportFile *first = &fs[m->files[0]];
    char v[64];
    pc_report_config_value(first, "run", "seed", v, sizeof v);
    m->seed = strtoull(v, NULL, 0);
    const char *a = m->arch;
    snprintf(m->paper, sizeof m->paper, "%s", !strncmp(a, "vgg", 3) ? "vgg16" : !strncmp(a, "resnet", 6) ? "resnet50" : "");
    char nc[32];
    pc_report_config_value(first, "model", "num_classes", nc, sizeof nc);
    m->standard = (!strcmp(a, "vgg16") || !strcmp(a, "resnet50")) && (!nc[0] || !strcmp(nc, "1000"));
    m->names = xcalloc((size_t)first->r.n + 1, sizeof(char *));
    for (int i = 0; i < first->r.n; i++)
        if (first->use[i]) m->names[m->n_images++] = first->r.names[i];
    match_rows(fs, m);
    read_classes(fs, m);
}

ReportModel *pc_report_models(ReportFile *fs, int nf, int *n_models) {
    ReportModel *m = xcalloc((size_t)nf + 1, sizeof(ReportModel));
    int *model_of = xmalloc(((size_t)nf + 1) * sizeof(int)), nm = 0;
    for (int k = 0; k < nf; k++) {
        int j = 0;
        while (j < k && !same_model(&fs[j], &fs[k])) j++;
        if (j < k) {
            model_of[k] = model_of[j];
            ReportModel *mm = &m[model_of[k]];
            mm->files[mm->n_files++] = k;
            continue;
        }
        model_of[k] = nm;
        ReportModel *mm = &m[nm++];
        mm->files = xcalloc((size_t)nf, sizeof(int));
        mm->files[mm->n_files++] = k;
        pc_report_config_value(&fs[k], "model", "arch", mm->arch, sizeof mm->arch);
        model_label(&fs[k], mm->arch, mm->label, sizeof mm->label);
    }
    for (int a = 0; a < nm; a++) {   // two models of one name (other weights): the first file's name added
        int dup = 0;
        for (int b = 0; b < nm; b++) dup |= a != b && !strcmp(m[a].label, m[b].label);
        if (dup) {
            size_t len = strlen(m[a].label);
            snprintf(m[a].label + len, sizeof m[a].label - len, " (%s)", fs[m[a].files[0]].label);
        }
    }
    for (int a = 0; a < nm; a++) model_fill(fs, &m[a]);
    free(model_of);
    *n_models = nm;
    return m;
}

void pc_report_models_free(ReportModel *m, int n) {
    for (int a = 0; m && a < n; a++) {
        for (int f = 0; m[a].rows && f < m[a].n_files; f++) free(m[a].rows[f]);
        free(m[a].rows);
        free(m[a].files);
        free(m[a].names);
        free(m[a].cls);
    }
    free(m);
}

double *pc_report_values(const ReportFile *fs, const ReportModel *m, const char *id, const char *what, int *file) {
    *file = -1;
    for (int f = 0; f < m->n_files; f++) {
        const ReportFile *rf = &fs[m->files[f]];
        int mi = pc_report_method_index(rf, id);
        // the rule of --table: a value it leaves out is NaN here (table.h)
        double *v = mi >= 0 ? pc_table_values(&rf->r, mi, what, rf->use) : NULL;
        if (!v) continue;
        double *out = xmalloc(((size_t)m->n_images + 1) * sizeof(double));
        for (int i = 0; i < m->n_images; i++) {
            int row = m->rows[f][i];
            out[i] = row >= 0 ? v[row] : NAN;
        }
        free(v);
        *file = m->files[f];
        return out;
    }
    return NULL;
}

int pc_report_ablation_parts(const char *id, char *variant, size_t vcap, int *kind, const char **layer) {
    static const char *kinds[3] = {".level.", ".cam.", ".no_lnorm"};
    for (int k = 0; k < 3; k++) {
        const char *p = strstr(id, kinds[k]);
        if (!p || (size_t)(p - id) >= vcap) continue;
        if (k == 2 && p[strlen(kinds[2])]) continue;   // ".no_lnorm" ends the id
        snprintf(variant, vcap, "%.*s", (int)(p - id), id);
        *kind = k;
        *layer = k == 2 ? "" : p + strlen(kinds[k]);
        return 1;
    }
    return 0;
}
