// report_options.c: `--set report.KEY=VALUE` for --report (report.h: pc_report_set_option).
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "stats.h"

int pc_report_set_option(PcReportOptions *opt, const char *set, PcError *err) {
    const char *eq = strchr(set, '=');
    if (strncmp(set, "report.", 7) || !eq)
        return pc_fail(err, "--set %s: with --report only report.paper, report.reference and report.resamples "
                            "(report.KEY=VALUE)", set);
    const char *key = set + 7, *v = eq + 1;
    size_t klen = (size_t)(eq - key);
    if (klen == 5 && !strncmp(key, "paper", 5)) {
        if (!strcmp(v, "auto")) opt->paper = PC_REPORT_PAPER_AUTO;
        else if (!strcmp(v, "yes") || !strcmp(v, "force")) opt->paper = PC_REPORT_PAPER_YES;
        else if (!strcmp(v, "no")) opt->paper = PC_REPORT_PAPER_NO;
        else return pc_fail(err, "--set %s: expected auto, yes or no", set);
        return 0;
    }
    if (klen == 9 && !strncmp(key, "reference", 9)) {
        if (!*v || strlen(v) >= sizeof opt->reference) return pc_fail(err, "--set %s: expected a method id", set);
        strcpy(opt->reference, v);
        return 0;
    }
    if (klen == 9 && !strncmp(key, "resamples", 9)) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 100 || n > PC_BOOTSTRAP_MAX_RESAMPLES)
            return pc_fail(err, "--set %s: expected an integer from 100 to %d", set, PC_BOOTSTRAP_MAX_RESAMPLES);
        opt->resamples = (int)n;
        return 0;
    }
    return pc_fail(err, "--set %s: unknown report key (report.paper, report.reference, report.resamples)", set);
}
