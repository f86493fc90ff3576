// paper_data.c: the paper's tables (paper_data.h).
#define _GNU_SOURCE
#include "paper_data.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PC_SHARE_FROM_BIN
#define PC_SHARE_FROM_BIN "../share/polycam-eval"
#endif

// The paper's Table 4 rows in its order, with the method ids.
static const struct {
    const char *id, *name;
} g_methods[] = {
    {"ig", "IntegratedGradient"}, {"ixg", "InputXGrad"}, {"smoothgrad", "SmoothGrad"}, {"rise", "RISE"},
    {"occlusion", "Occlusion"}, {"gradcam", "GradCAM"}, {"gradcampp", "GradCAM++"},
    {"smoothgradcampp", "SmoothGradCAM++"}, {"scorecam", "ScoreCAM"}, {"sscam", "SSCAM"}, {"iscam", "ISCAM"},
    {"zoomcam", "ZoomCAM"}, {"layercam", "LayerCAM"}, {"pcamp", "PCAM+"}, {"pcamm", "PCAM-"}, {"pcampm", "PCAM±"},
};
#define N_METHODS (int)(sizeof g_methods / sizeof g_methods[0])

int pc_paper_method_rank(const char *id) {
    for (int i = 0; i < N_METHODS; i++)
        if (!strcmp(g_methods[i].id, id)) return i;
    return -1;
}

const char *pc_paper_method_name(const char *id) {
    int i = pc_paper_method_rank(id);
    return i < 0 ? NULL : g_methods[i].name;
}

const char *pc_paper_variant_sign(const char *variant) {
    return !strcmp(variant, "pcamp") ? "+" : !strcmp(variant, "pcamm") ? "-" : !strcmp(variant, "pcampm") ? "±" : NULL;
}

const char *const *pc_paper_layers(const char *model) {
    static const char *const vgg[5] = {"block5_conv3", "block4_conv3", "block3_conv3", "block2_conv2", "block1_conv2"};
    static const char *const resnet[5] = {"conv5_3", "conv4_6", "conv3_4", "conv2_3", "conv1_1"};
    return !strcmp(model, "vgg16") ? vgg : !strcmp(model, "resnet50") ? resnet : NULL;
}

double pc_paper_precision(const PcPaperCell *c) {
    double unit = pow(10, -c->decimals);
    return !strcmp(c->metric, "ins_del") ? unit : unit / 2;
}

// Splits one CSV line of plain fields (no quotes in this file) into at most max fields.
static int split(char *line, char **f, int max) {
    int n = 0;
    for (char *p = line; n < max;) {
        f[n++] = p;
        char *c = strchr(p, ',');
        if (!c) break;
        *c = 0;
        p = c + 1;
    }
    return n;
}

static int copy_field(char *dst, size_t cap, const char *src) {
    if (strlen(src) >= cap) return -1;
    memcpy(dst, src, strlen(src) + 1);
    return 0;
}

// One data line into c; NULL, or what is wrong with it.
static const char *parse_line(char *line, PcPaperCell *c) {
    char *f[8];
    if (split(line, f, 8) != 6) return "expected 6 fields: table,model,method,layer,metric,value";
    char *end;
    long t = strtol(f[0], &end, 10);
    if (*end || t < 1 || t > 5) return "table is not 1 .. 5";
    c->table = (int)t;
    if (copy_field(c->model, sizeof c->model, f[1]) || copy_field(c->method, sizeof c->method, f[2]) ||
        copy_field(c->layer, sizeof c->layer, f[3]) || copy_field(c->metric, sizeof c->metric, f[4]))
        return "a field is too long";
    errno = 0;
    c->value = strtod(f[5], &end);
    if (end == f[5] || *end || errno || !isfinite(c->value)) return "value is not a number";
    const char *dot = strchr(f[5], '.');
    c->decimals = dot ? (int)strlen(dot + 1) : 0;
    return NULL;
}

int pc_paper_load(const char *path, PcPaperData *pd, PcError *err) {
    memset(pd, 0, sizeof *pd);
    FILE *f = fopen(path, "r");
    if (!f) return pc_fail(err, "%s: cannot open (%s)", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int cap_cells = 0, lineno = 0, rc = 0;
    ssize_t len;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (lineno == 1) {
            if (strcmp(line, "table,model,method,layer,metric,value"))
                rc = pc_fail(err, "%s:1: expected the header table,model,method,layer,metric,value", path);
            continue;
        }
        if (len == 0) continue;
        if (pd->n == cap_cells) {
            cap_cells = cap_cells ? 2 * cap_cells : 512;
            PcPaperCell *grown = realloc(pd->cells, (size_t)cap_cells * sizeof(PcPaperCell));
            if (!grown) {
                rc = pc_fail(err, "%s: out of memory", path);
                break;
            }
            pd->cells = grown;
        }
        const char *why = parse_line(line, &pd->cells[pd->n]);
        if (why) rc = pc_fail(err, "%s:%d: %s", path, lineno, why);
        else pd->n++;
    }
    if (rc == 0 && ferror(f)) rc = pc_fail(err, "%s: read error", path);
    if (rc == 0 && lineno == 0) rc = pc_fail(err, "%s: empty file", path);
    free(line);
    fclose(f);
    if (rc) pc_paper_free(pd);
    return rc;
}

void pc_paper_free(PcPaperData *pd) {
    free(pd->cells);
    memset(pd, 0, sizeof *pd);
}

const PcPaperCell *pc_paper_find(const PcPaperData *pd, int table, const char *model, const char *method,
                                 const char *layer, const char *metric) {
    for (int i = 0; pd && i < pd->n; i++) {
        const PcPaperCell *c = &pd->cells[i];
        if (c->table == table && !strcmp(c->model, model) && !strcmp(c->method, method) &&
            !strcmp(c->layer, layer ? layer : "") && !strcmp(c->metric, metric))
            return c;
    }
    return NULL;
}

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

char *pc_data_find(const char *name, char *looked, size_t cap) {
    char dirs[2][PATH_MAX + 64];
    int n = 0;
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            snprintf(dirs[n++], sizeof dirs[0], "%s/%s/data", exe, PC_SHARE_FROM_BIN);
#if defined(PC_SOURCE_DIR) && defined(PC_BUILD_TREE_DIR)
            char build[PATH_MAX];
            size_t bl = realpath(PC_BUILD_TREE_DIR, build) ? strlen(build) : 0;
            if (bl && !strncmp(exe, build, bl) && (exe[bl] == '/' || exe[bl] == 0))
                snprintf(dirs[n++], sizeof dirs[0], "%s/data", PC_SOURCE_DIR);
#endif
        }
    }
    if (looked && cap) looked[0] = 0;
    for (int d = 0; d < n; d++) {
        char *path = NULL;
        if (asprintf(&path, "%s/%s", dirs[d], name) < 0) return NULL;
        if (is_file(path)) return path;
        free(path);
        if (looked && cap) {
            size_t used = strlen(looked);
            snprintf(looked + used, cap - used, "%s%s", d ? ", " : "", dirs[d]);
        }
    }
    return NULL;
}
