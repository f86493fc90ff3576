// test_dataset: the image list and labels of a run (dataset.h): a UTF-8 byte order mark does not
// become part of the first name; duplicate label lines keep the first line and warn (naming both
// lines, and both classes when they differ); a labels file that matches no image warns; offset /
// limit / shard select the expected entries; class-name files with a BOM.
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "testutil.h"

static char g_dir[PATH_MAX];

static const char *write_file(const char *name, const char *text) {
    static char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL, "cannot write %s", path);
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return path;
}

// Loads list (and labels when not NULL) with the given slice; warnings land in *warnings.
static int load(const char *list, const char *labels, long offset, long limit, int shard_i, int shard_n,
                PcDataset *ds, char *warnings, size_t cap, PcError *err) {
    char list_path[PATH_MAX + 64], labels_path[PATH_MAX + 64];
    snprintf(list_path, sizeof list_path, "%s", write_file("list.txt", list));
    if (labels) snprintf(labels_path, sizeof labels_path, "%s", write_file("labels.txt", labels));
    PcDatasetSpec spec = {.list = list_path, .root = g_dir, .labels = labels ? labels_path : NULL,
                          .offset = offset, .limit = limit, .shard_index = shard_i, .shard_count = shard_n};
    FILE *warn = tmpfile();
    int rc = pc_dataset_load(&spec, warn, ds, err);
    rewind(warn);
    size_t got = fread(warnings, 1, cap - 1, warn);
    warnings[got] = 0;
    fclose(warn);
    return rc;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void test_bom(void) {
    PcDataset ds;
    PcError err = {{0}};
    char warnings[2048];
    int rc = load("\xEF\xBB\xBF" "a.jpg\nb.jpg\n", "\xEF\xBB\xBF" "a.jpg 3\nb.jpg 4\n", 0, 0, 0, 1, &ds, warnings,
                  sizeof warnings, &err);
    CHECK(rc == 0, "list with a BOM: %s", err.msg);
    if (rc) return;
    CHECK(ds.n == 2 && !strcmp(ds.names[0], "a.jpg"), "first name after a BOM: '%s'", ds.names[0]);
    CHECK(ds.labels[0] == 3 && ds.labels[1] == 4, "labels after a BOM: %d %d", ds.labels[0], ds.labels[1]);
    CHECK(warnings[0] == 0, "no warnings: %s", warnings);
    pc_dataset_free(&ds);

    char **names = NULL;
    int n = pc_read_class_names(write_file("classes.txt", "\xEF\xBB\xBF" "disk\ncross\n"), &names, &err);
    CHECK(n == 2 && !strcmp(names[0], "disk"), "class names after a BOM: %d '%s'", n, n > 0 ? names[0] : "");
    for (int i = 0; i < n; i++) free(names[i]);
    free(names);
}

static void test_duplicate_labels(void) {
    PcDataset ds;
    PcError err = {{0}};
    char warnings[2048];
    // a.jpg on lines 1 and 3 with different classes, b.jpg twice with the same class
    int rc = load("a.jpg\nb.jpg\nc.jpg\n", "a.jpg 3\nb.jpg 4\na.jpg 7\nb.jpg 4\n", 0, 0, 0, 1, &ds, warnings,
                  sizeof warnings, &err);
    CHECK(rc == 0, "duplicate labels load: %s", err.msg);
    if (rc) return;
    printf("%s", warnings);
    CHECK(ds.labels[0] == 3, "the first line of a duplicated name is used: %d", ds.labels[0]);
    CHECK(ds.labels[1] == 4 && ds.labels[2] == -1, "labels %d %d", ds.labels[1], ds.labels[2]);
    CHECK(strstr(warnings, "labels.txt:3: 'a.jpg' has class 7 here but 3 on line 1; line 1 is used") != NULL,
          "conflicting duplicate warned: %s", warnings);
    CHECK(strstr(warnings, "labels.txt:4: 'b.jpg' repeats line 2") != NULL, "repeated line warned: %s", warnings);
    CHECK(count_lines(warnings) == 2, "one line per duplicate: %s", warnings);
    pc_dataset_free(&ds);

    // many duplicates: five lines, then a count
    char labels[4096] = "", line[64];
    for (int i = 0; i < 9; i++) {
        snprintf(line, sizeof line, "a.jpg %d\n", i);
        strcat(labels, line);
    }
    rc = load("a.jpg\n", labels, 0, 0, 0, 1, &ds, warnings, sizeof warnings, &err);
    CHECK(rc == 0 && ds.labels[0] == 0, "nine lines of a.jpg: the first (class 0) is used");
    CHECK(count_lines(warnings) == 6 && strstr(warnings, "3 more duplicate lines"), "capped warnings: %s", warnings);
    if (rc == 0) pc_dataset_free(&ds);
}

static void test_unmatched_labels(void) {
    PcDataset ds;
    PcError err = {{0}};
    char warnings[2048];
    int rc = load("a.jpg\nb.jpg\n", "x.jpg 1\ny.jpg 2\n", 0, 0, 0, 1, &ds, warnings, sizeof warnings, &err);
    CHECK(rc == 0, "unmatched labels load: %s", err.msg);
    if (rc) return;
    printf("%s", warnings);
    CHECK(strstr(warnings, "labels.txt: no line names an image of this run (2 lines") != NULL,
          "labels matching nothing warned: %s", warnings);
    CHECK(count_lines(warnings) == 1, "one line: %s", warnings);
    CHECK(ds.labels[0] == -1 && ds.labels[1] == -1, "no labels");
    pc_dataset_free(&ds);
    // base-name match: no warning
    rc = load("sub/a.jpg\n", "a.jpg 1\n", 0, 0, 0, 1, &ds, warnings, sizeof warnings, &err);
    CHECK(rc == 0 && ds.labels[0] == 1 && warnings[0] == 0, "base-name match: %d '%s'", rc ? -9 : ds.labels[0],
          warnings);
    if (rc == 0) pc_dataset_free(&ds);
}

static void test_selection(void) {
    PcDataset ds;
    PcError err = {{0}};
    char warnings[256];
    int rc = load("# comment\na\nb\n\nc\nd\ne\n", NULL, 1, 3, 1, 2, &ds, warnings, sizeof warnings, &err);
    // entries b, c, d (offset 1, limit 3); shard 1/2 keeps list positions 1 and 3: b and d
    CHECK(rc == 0 && ds.n == 2 && !strcmp(ds.names[0], "b") && !strcmp(ds.names[1], "d") && ds.list_index[1] == 3 &&
              ds.n_listed == 5, "offset/limit/shard selection");
    if (rc == 0) pc_dataset_free(&ds);
    rc = load("a\n", NULL, 5, 0, 0, 1, &ds, warnings, sizeof warnings, &err);
    CHECK(rc == -1 && strstr(err.msg, "[data] offset 5 is past the end"), "offset past the end: %s", err.msg);
    rc = load("# only a comment\n", NULL, 0, 0, 0, 1, &ds, warnings, sizeof warnings, &err);
    CHECK(rc == -1 && strstr(err.msg, "no image names in it"), "empty list: %s", err.msg);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "%s", test_tmp_dir("test_dataset"));
    test_bom();
    test_duplicate_labels();
    test_unmatched_labels();
    test_selection();
    test_tmp_remove();
    return test_summary();
}
