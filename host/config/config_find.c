// config_find.c: the lookup of `--config NAME` (config_find.h). The shipped configurations keep
// the source tree's layout wherever they are (configs/ beside data/), so the relative paths inside
// them resolve the same from the source tree and from an installation.
#define _GNU_SOURCE
#include "config_find.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// <prefix>/share/polycam-eval seen from <prefix>/bin (CMakeLists.txt passes the installed layout).
#ifndef PC_SHARE_FROM_BIN
#define PC_SHARE_FROM_BIN "../share/polycam-eval"
#endif

static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

// The folders of shipped configurations, in search order: the installed ones next to the
// program, then (for a program inside its build tree) the source tree's configs/.
#define DIR_CAP (PATH_MAX + 64)

static int shipped_dirs(char dirs[2][DIR_CAP]) {
    int n = 0;
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0) return 0;
    exe[k] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash) return 0;
    *slash = 0;   // exe is now the program's folder
    snprintf(dirs[n++], DIR_CAP, "%s/%s/configs", exe, PC_SHARE_FROM_BIN);
#if defined(PC_SOURCE_DIR) && defined(PC_BUILD_TREE_DIR)
    char build[PATH_MAX];
    if (realpath(PC_BUILD_TREE_DIR, build) && !strncmp(exe, build, strlen(build)) &&
        (exe[strlen(build)] == '/' || exe[strlen(build)] == 0))
        snprintf(dirs[n++], DIR_CAP, "%s/configs", PC_SOURCE_DIR);
#endif
    return n;
}

char *pc_config_find(const char *name, FILE *note, PcError *err) {
    if (strchr(name, '/')) return strdup(name);   // a path: used as given
    // The name as given, then with .ini added (`--config table1_vgg16`).
    char cands[2][NAME_MAX + 8];
    int n_cands = 0;
    snprintf(cands[n_cands++], sizeof cands[0], "%s", name);
    size_t len = strlen(name);
    if (len < 4 || strcmp(name + len - 4, ".ini")) snprintf(cands[n_cands++], sizeof cands[0], "%s.ini", name);
    for (int c = 0; c < n_cands; c++) {
        if (!is_file(cands[c])) continue;
        if (c > 0 && note) fprintf(note, "polycam-eval: using ./%s\n", cands[c]);
        return strdup(cands[c]);
    }
    char dirs[2][DIR_CAP];
    int n_dirs = shipped_dirs(dirs);
    for (int d = 0; d < n_dirs; d++) {
        for (int c = 0; c < n_cands; c++) {
            char path[sizeof dirs + sizeof cands + 2], real[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", dirs[d], cands[c]);
            if (!is_file(path)) continue;
            const char *shown = realpath(path, real) ? real : path;
            if (note)
                fprintf(note, "polycam-eval: using the shipped configuration %s (no %s in the current folder)\n",
                        shown, name);
            return strdup(shown);
        }
    }
    char where[2 * DIR_CAP + 16] = "";
    for (int d = 0; d < n_dirs; d++) {
        char real[PATH_MAX];
        const char *shown = realpath(dirs[d], real) ? real : dirs[d];
        size_t used = strlen(where);
        snprintf(where + used, sizeof where - used, "%s%s", d ? ", " : "", shown);
    }
    pc_fail(err, "%s: cannot open (No such file or directory)%s%s%s", name,
            n_dirs ? "; not among the shipped configurations either (" : "", where, n_dirs ? ")" : "");
    return NULL;
}
