// refclass.c: reference top-1 classes and their agreement with a run's predictions (refclass.h).
#define _GNU_SOURCE
#include "refclass.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "h5util.h"
#include "layout.h"

typedef struct {
    char *name;
    int cls, line;
} Entry;

static int cmp_entry(const void *a, const void *b) {
    const Entry *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->line > y->line) - (x->line < y->line);
}

// One line '<name>,<class>' (blanks around both trimmed) into e; 0, 1 for a header 'name,class' on
// the first entry line, -1 when malformed.
static int parse_line(char *line, int first, Entry *e) {
    char *comma = strrchr(line, ',');
    if (!comma || comma == line) return -1;
    *comma = 0;
    char *name = line, *cls = comma + 1;
    size_t n = strlen(name);
    while (n && isspace((unsigned char)name[n - 1])) name[--n] = 0;
    while (isspace((unsigned char)*cls)) cls++;
    if (first && !strcmp(name, "name") && !strcmp(cls, "class")) return 1;
    char *end;
    errno = 0;
    long v = strtol(cls, &end, 10);
    if (end == cls || *end || errno || v < 0 || v > 1000000 || !n) return -1;
    e->name = name;
    e->cls = (int)v;
    return 0;
}

// Every entry of the text (names point into it), sorted by name; -1 with err on a bad line or a
// name given twice with two classes.
static int read_entries(char *text, const char *path, Entry **out, int *n_out, PcError *err) {
    int n = 0, cap = 1024, lineno = 0, rc = 0;
    Entry *e = xmalloc((size_t)cap * sizeof *e);
    char *p = text;
    if (!strncmp(p, "\xEF\xBB\xBF", 3)) p += 3;
    while (p && !rc) {
        char *nl = strchr(p, '\n'), *line = p;
        p = nl ? nl + 1 : NULL;
        if (nl) *nl = 0;
        lineno++;
        while (isspace((unsigned char)*line)) line++;
        size_t len = strlen(line);
        while (len && isspace((unsigned char)line[len - 1])) line[--len] = 0;
        if (!*line || *line == '#') continue;
        if (n == cap) e = realloc(e, (size_t)(cap *= 2) * sizeof *e);
        if (!e) pc_die("alloc", "realloc", __FILE__, __LINE__, "reference classes");
        e[n].line = lineno;
        int k = parse_line(line, n == 0, &e[n]);
        if (k < 0) rc = pc_fail(err, "reference classes %s:%d: expected '<name>,<class>' with a class >= 0", path, lineno);
        else if (k == 0) n++;
    }
    if (!rc) qsort(e, (size_t)n, sizeof *e, cmp_entry);
    for (int i = 1; i < n && !rc; i++)
        if (!strcmp(e[i].name, e[i - 1].name) && e[i].cls != e[i - 1].cls)
            rc = pc_fail(err, "reference classes %s:%d: '%s' has class %d here but %d on line %d", path, e[i].line,
                         e[i].name, e[i].cls, e[i - 1].cls, e[i - 1].line);
    *out = e;
    *n_out = n;
    return rc;
}

// The class of name in the sorted entries (the first of its lines), -1 when absent.
static int find(const Entry *e, int n, const char *name) {
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (strcmp(e[mid].name, name) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && !strcmp(e[lo].name, name) ? e[lo].cls : -1;
}

int pc_refclasses_load(const char *path, char *const *names, int n, PcRefClasses *out, PcError *err) {
    memset(out, 0, sizeof *out);
    size_t size;
    PcError e;
    char *text = (char *)pc_read_file(path, &size, &e);
    if (!text) return pc_fail(err, "reference classes %s", e.msg);
    if (memchr(text, 0, size)) {
        free(text);
        return pc_fail(err, "reference classes %s: not a text file (contains NUL bytes)", path);
    }
    Entry *entries = NULL;
    int n_entries = 0, rc = read_entries(text, path, &entries, &n_entries, err);
    if (!rc) {
        out->path = strdup(path);
        out->n = n;
        out->n_lines = n_entries;
        out->cls = xmalloc((size_t)(n > 0 ? n : 1) * sizeof(int));
        for (int i = 0; i < n; i++) {
            int c = find(entries, n_entries, names[i]);
            const char *base = strrchr(names[i], '/');
            if (c < 0 && base) c = find(entries, n_entries, base + 1);
            out->cls[i] = c;
            out->n_found += c >= 0;
        }
    }
    free(entries);
    free(text);
    return rc;
}

int pc_refclasses_load_run(const char *path, char *const *names, int n, FILE *warn, PcRefClasses *out, PcError *err) {
    if (pc_refclasses_load(path, names, n, out, err)) return -1;
    if (out->n_found == 0)
        fprintf(warn, "warning: reference classes %s: none of the %d images of the run is in it (%d entries); no "
                "class agreement\n", path, n, out->n_lines);
    else if (out->n_found < n)
        fprintf(warn, "warning: reference classes %s: %d of the %d images of the run are in it\n", path, out->n_found, n);
    return 0;
}

void pc_refclasses_free(PcRefClasses *r) {
    free(r->path);
    free(r->cls);
    memset(r, 0, sizeof *r);
}

// ---- in the result file -----------------------------------------------------------------------

#define GROUP "reference_classes"
#define DESCRIPTION "reference top-1 class of each image ([data] reference_classes); agree: 1 = /images/class " \
                    "is the same, 0 = it differs, -1 = not compared (no reference class, or the image was skipped)"

int pc_refclasses_create(hid_t file, const char *path, const int *cls, int n, const char *ref_file, PcError *err) {
    hsize_t dims = (hsize_t)n;
    int minus_one = -1;
    signed char none = -1;
    hid_t g = H5Gcreate2(file, GROUP, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t d = g >= 0 ? pc_h5_create_dataset(g, "class", H5T_STD_I32LE, 1, &dims, NULL, &minus_one) : -1;
    int ok = d >= 0 && (n == 0 || H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, cls) >= 0);
    ok = !pc_h5_close_written(d) && ok;
    hid_t a = ok ? pc_h5_create_dataset(g, "agree", H5T_STD_I8LE, 1, &dims, NULL, &none) : -1;
    ok = a >= 0 && ok;
    ok = !pc_h5_close_written(a) && ok;
    ok = ok && !pc_h5_set_str_attr(g, "file", ref_file) && !pc_h5_set_str_attr(g, "description", DESCRIPTION);
    const char *why = ok ? "" : pc_h5_why();
    if (g >= 0) H5Gclose(g);
    return ok ? 0 : pc_fail(err, "%s: cannot create /%s%s", path, GROUP, why);
}

// agree of every image and the counts, from the per-image datasets (done, status, class).
static void agreement(hid_t file, int n, const int *ref, signed char *agree, int *n_cmp, int *n_agree) {
    int *ours = pc_h5_read_ints(file, "/images/class", (size_t)n), *done = pc_h5_read_ints(file, "/images/done", (size_t)n);
    size_t n_status = 0;
    hid_t ds = pc_h5_open_if(file, "/images/status");
    char **status = ds >= 0 ? pc_h5_read_strings(ds, 0, &n_status) : NULL;
    if (ds >= 0) H5Dclose(ds);
    *n_cmp = *n_agree = 0;
    for (int i = 0; i < n; i++) {
        int usable = ours && done && status && (size_t)i < n_status && done[i] == 1 && pc_status_usable(status[i]);
        agree[i] = usable && ref[i] >= 0 && ours[i] >= 0 ? (signed char)(ours[i] == ref[i]) : -1;
        *n_cmp += agree[i] >= 0;
        *n_agree += agree[i] == 1;
    }
    free(ours);
    free(done);
    pc_h5_free_strings(status, status ? n_status : 0);
}

int pc_refclasses_finish(hid_t file, const char *path, PcError *err) {
    if (H5Lexists(file, GROUP, H5P_DEFAULT) <= 0) return 0;
    hsize_t first = 0, last = 0;
    if (pc_h5_dims(file, "/" GROUP "/class", &first, &last))
        return pc_fail(err, "%s: /%s/class missing", path, GROUP);
    const int n = (int)first;
    int *ref = pc_h5_read_ints(file, "/" GROUP "/class", (size_t)n);
    signed char *agree = xmalloc((size_t)(n > 0 ? n : 1));
    int n_cmp = 0, n_agree = 0, ok = ref != NULL;
    if (ok) agreement(file, n, ref, agree, &n_cmp, &n_agree);
    hid_t g = ok ? H5Gopen2(file, GROUP, H5P_DEFAULT) : -1;
    hid_t d = g >= 0 ? pc_h5_open_if(g, "agree") : -1;
    ok = d >= 0 && (n == 0 || H5Dwrite(d, H5T_NATIVE_SCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, agree) >= 0);
    ok = !pc_h5_close_written(d) && ok;
    ok = ok && !pc_h5_set_i64_attr(g, "n_compared", n_cmp) && !pc_h5_set_i64_attr(g, "n_agree", n_agree) &&
         !pc_h5_set_i64_attr(g, "n_disagree", n_cmp - n_agree);
    const char *why = ok ? "" : pc_h5_why();
    if (g >= 0) H5Gclose(g);
    free(ref);
    free(agree);
    return ok ? 0 : pc_fail(err, "%s: cannot write /%s/agree%s", path, GROUP, why);
}

int pc_refclasses_read(hid_t file, int n, PcRefAgreement *out) {
    memset(out, 0, sizeof *out);
    if (H5Lexists(file, GROUP, H5P_DEFAULT) <= 0) return 0;
    out->cls = pc_h5_read_ints(file, "/" GROUP "/class", (size_t)n);
    if (!out->cls) return -1;
    hid_t g = H5Gopen2(file, GROUP, H5P_DEFAULT);
    out->file = g >= 0 ? pc_h5_read_root_attr(g, "file") : NULL;
    if (g >= 0) H5Gclose(g);
    out->present = 1;
    out->n = n;
    out->agree = xmalloc((size_t)(n > 0 ? n : 1));
    agreement(file, n, out->cls, out->agree, &out->n_compared, &out->n_agree);
    return 0;
}

void pc_refagreement_free(PcRefAgreement *a) {
    free(a->file);
    free(a->cls);
    free(a->agree);
    memset(a, 0, sizeof *a);
}

void pc_refagreement_print(FILE *out, const PcRefAgreement *a, char *const *names, const int *ours, int max_list) {
    if (!a->present) return;
    const int n_dis = a->n_compared - a->n_agree;
    int n_ref = 0;
    for (int i = 0; i < a->n; i++) n_ref += a->cls[i] >= 0;
    fprintf(out, "class agreement with %s: %d of %d images predict the reference's class (%d disagree; %d of %d "
            "images have a reference class)\n", a->file ? a->file : "the reference classes", a->n_agree,
            a->n_compared, n_dis, n_ref, a->n);
    int k = 0;
    for (int i = 0; i < a->n && n_dis; i++) {
        if (a->agree[i] != 0) continue;
        if (k++ < max_list) fprintf(out, "  %s: class %d here, %d in the reference\n", names[i], ours ? ours[i] : -1, a->cls[i]);
    }
    if (k > max_list) fprintf(out, "  ... and %d more (/reference_classes/agree == 0)\n", k - max_list);
}

void pc_refagreement_print_file(FILE *out, const char *h5_path) {
    hid_t f = pc_h5_open_read(h5_path);
    if (f < 0) return;
    size_t n = 0;
    hid_t d = pc_h5_open_if(f, "/images/name");
    char **names = d >= 0 ? pc_h5_read_strings(d, 0, &n) : NULL;
    if (d >= 0) H5Dclose(d);
    PcRefAgreement a;
    int *ours = names ? pc_h5_read_ints(f, "/images/class", n) : NULL;
    if (ours && pc_refclasses_read(f, (int)n, &a) == 0 && a.present) {
        fprintf(out, "\n");
        pc_refagreement_print(out, &a, names, ours, 20);
    }
    if (ours) pc_refagreement_free(&a);
    free(ours);
    pc_h5_free_strings(names, names ? n : 0);
    H5Fclose(f);
}
