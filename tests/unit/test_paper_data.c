// test_paper_data.c: data/paper_tables.csv (the paper's Tables 1-5 as printed) parses, has the
// rows data/README.md describes, and its oddities are the ones the README states: 21 ins_del cells
// differ by exactly 0.01 from the printed insertion minus deletion, Table 5 has no SS-CAM row,
// Table 5's PCAM± ResNet50 value equals its VGG16 value; Table 1 is Table 4 restricted to the CAM
// methods. The authors' top-1 files cover the paper's 2000 images in the list's order. A malformed
// CSV gives one line naming the file and line.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paper_data.h"
#include "testutil.h"

static long hundredths(double v) { return lround(v * 100); }

static void check_counts(const PcPaperData *pd) {
    int per_table[6] = {0};
    for (int i = 0; i < pd->n; i++) per_table[pd->cells[i].table]++;
    CHECK(pd->n == 372, "372 rows (%d)", pd->n);
    CHECK(per_table[1] == 66 && per_table[2] == 90 && per_table[3] == 90 && per_table[4] == 96 && per_table[5] == 30,
          "rows per table 66, 90, 90, 96, 30 (%d %d %d %d %d)", per_table[1], per_table[2], per_table[3], per_table[4],
          per_table[5]);
    int unknown = 0, bad_dec = 0;
    for (int i = 0; i < pd->n; i++) {
        const PcPaperCell *c = &pd->cells[i];
        int ablation = c->table == 2 || c->table == 3;
        if (!ablation) {
            int known = 0;
            for (const char *const *id = (const char *const[]){"ig", "ixg", "smoothgrad", "rise", "occlusion", "gradcam",
                     "gradcampp", "smoothgradcampp", "scorecam", "sscam", "iscam", "zoomcam", "layercam", "pcamp",
                     "pcamm", "pcampm", NULL};
                 *id; id++)
                known |= !strcmp(pc_paper_method_name(*id), c->method);
            unknown += !known;
        }
        bad_dec += c->decimals != (c->table == 5 ? 4 : 2);
    }
    CHECK(unknown == 0, "every method of Tables 1, 4, 5 has a method id (%d without)", unknown);
    CHECK(bad_dec == 0, "2 decimals, 4 in Table 5 (%d others)", bad_dec);
}

static void check_oddities(const PcPaperData *pd) {
    int odd = 0, odd_distinct = 0, other = 0;
    for (int i = 0; i < pd->n; i++) {
        const PcPaperCell *c = &pd->cells[i];
        if (strcmp(c->metric, "ins_del")) continue;
        const PcPaperCell *ins = pc_paper_find(pd, c->table, c->model, c->method, c->layer, "insertion");
        const PcPaperCell *del = pc_paper_find(pd, c->table, c->model, c->method, c->layer, "deletion");
        if (!ins || !del) {
            other++;
            continue;
        }
        long diff = hundredths(c->value) - (hundredths(ins->value) - hundredths(del->value));
        if (diff == 0) continue;
        if (labs(diff) == 1) odd++, odd_distinct += c->table != 1;
        else other++;
    }
    CHECK(odd == 21 && odd_distinct == 17 && other == 0,
          "ins_del: 21 cells (17 outside Table 1) differ by 0.01 from ins - del, none by more (%d, %d, %d)", odd,
          odd_distinct, other);
    int t5 = 0, sscam = 0;
    for (int i = 0; i < pd->n; i++)
        if (pd->cells[i].table == 5) t5++, sscam += !strcmp(pd->cells[i].method, "SSCAM");
    CHECK(t5 == 30 && sscam == 0, "Table 5: 15 methods per model, no SSCAM");
    const PcPaperCell *v = pc_paper_find(pd, 5, "vgg16", "PCAM±", "", "sensitivity_max");
    const PcPaperCell *r = pc_paper_find(pd, 5, "resnet50", "PCAM±", "", "sensitivity_max");
    CHECK(v && r && v->value == 0.0659 && r->value == v->value, "Table 5: PCAM± ResNet50 = VGG16 = 0.0659");
    int t1 = 0, same = 0;
    for (int i = 0; i < pd->n; i++) {
        const PcPaperCell *c = &pd->cells[i];
        if (c->table != 1) continue;
        t1++;
        const PcPaperCell *c4 = pc_paper_find(pd, 4, c->model, c->method, "", c->metric);
        same += c4 && c4->value == c->value;
    }
    CHECK(t1 == 66 && same == 66, "Table 1 = Table 4 on its 11 methods (%d of %d)", same, t1);
    const PcPaperCell *g = pc_paper_find(pd, 4, "vgg16", "GradCAM", NULL, "insertion");
    CHECK(g && fabs(pc_paper_precision(g) - 0.005) < 1e-15, "precision of a 2-decimal cell: 0.005");
    const PcPaperCell *gd = pc_paper_find(pd, 4, "vgg16", "GradCAM", NULL, "ins_del");
    CHECK(gd && fabs(pc_paper_precision(gd) - 0.01) < 1e-15, "precision of an ins_del cell: 0.01");
    CHECK(v && fabs(pc_paper_precision(v) - 0.00005) < 1e-15, "precision of a Table 5 cell: 0.00005");
}

// The authors' top-1 files: "name,class" for the 2000 images of the paper's list, in its order.
static void check_authors(const char *model) {
    char name[64], *list_path = strdup(data_path("ilsvrc2012_val_2000.txt"));
    snprintf(name, sizeof name, "authors_top1_%s.csv", model);
    FILE *a = fopen(data_path(name), "r"), *l = fopen(list_path, "r");
    CHECK(a && l, "%s and the paper's list open", name);
    int rows = 0, same_order = 0, classes_ok = 0;
    char la[256], ll[256];
    while (a && l && fgets(la, sizeof la, a) && fgets(ll, sizeof ll, l)) {
        rows++;
        ll[strcspn(ll, "\r\n")] = 0;
        char *comma = strchr(la, ',');
        if (!comma) continue;
        *comma = 0;
        same_order += !strcmp(la, ll);
        int cls = atoi(comma + 1);
        classes_ok += cls >= 0 && cls < 1000;
    }
    CHECK(rows == 2000 && same_order == 2000 && classes_ok == 2000, "%s: 2000 rows in the list's order (%d, %d, %d)",
          name, rows, same_order, classes_ok);
    if (a) fclose(a);
    if (l) fclose(l);
    free(list_path);
}

static void check_bad_csv(void) {
    const char *path = "test_paper_data_bad.csv";
    FILE *f = fopen(path, "w");
    fputs("table,model,method,layer,metric,value\n4,vgg16,GradCAM,,insertion,0.62\n4,vgg16,GradCAM,,deletion\n", f);
    fclose(f);
    PcPaperData pd;
    PcError err;
    CHECK(pc_paper_load(path, &pd, &err) == -1 && strstr(err.msg, "test_paper_data_bad.csv:3: expected 6 fields") &&
              !strchr(err.msg, '\n'),
          "a short line: one line naming file and line (%s)", err.msg);
    f = fopen(path, "w");
    fputs("table,model,method,layer,metric,value\n4,vgg16,GradCAM,,insertion,abc\n", f);
    fclose(f);
    CHECK(pc_paper_load(path, &pd, &err) == -1 && strstr(err.msg, ":2: value is not a number"), "a bad value (%s)",
          err.msg);
    remove(path);
}

int main(void) {
    PcPaperData pd;
    PcError err;
    int rc = pc_paper_load(data_path("paper_tables.csv"), &pd, &err);
    CHECK(rc == 0, "data/paper_tables.csv parses (%s)", rc ? err.msg : "ok");
    if (rc == 0) {
        check_counts(&pd);
        check_oddities(&pd);
        pc_paper_free(&pd);
    }
    char looked[4096];
    char *found = pc_data_find("paper_tables.csv", looked, sizeof looked);
    CHECK(found != NULL, "pc_data_find finds paper_tables.csv from the build tree (looked in %s)", looked);
    free(found);
    check_authors("vgg16");
    check_authors("resnet50");
    check_bad_csv();
    return test_summary();
}
