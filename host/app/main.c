// main.c: the polycam-eval command line: a run from an INI config (with --set overrides,
// --resume / --force, --limit), the summary table of a result file (--table), --help listing
// every configuration key with its default, and --version.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_find.h"
#include "config_model.h"
#include "cuda_backend.h"
#include "merge.h"
#include "report.h"
#include "run.h"
#include "stop.h"
#include "versions.h"

#include "pc_git_commit.h"   // generated at build time: PC_GIT_COMMIT
#ifndef PC_GIT_COMMIT
#define PC_GIT_COMMIT "unknown"
#endif
#ifndef PC_INIH_VERSION
#define PC_INIH_VERSION "unknown"
#endif

static void usage(FILE *out) {
    fprintf(out,
            "usage: polycam-eval --config FILE.ini [--set section.key=value ...] [--resume | --force] [--limit N] [--check]\n"
            "                    [--sanity]\n"
            "       polycam-eval --table FILE.h5\n"
            "       polycam-eval --merge OUT.h5 SHARD.h5 ... [--force]\n"
            "       polycam-eval --report OUT_DIR FILE.h5 ...\n"
            "       polycam-eval --help | --version\n"
            "\n"
            "Computes Poly-CAM saliency maps (PCAM+, PCAM-, PCAM+-) and insertion/deletion metrics for the\n"
            "images of a list, writes them to an HDF5 file image by image and prints the paper's Table 1.\n"
            "\n"
            "options:\n"
            "  --config FILE     the run's INI file (relative paths in it are relative to its folder); a bare\n"
            "                    name not in the current folder is taken from the shipped configurations\n"
            "  --check           only check the configuration, image list and its files, labels, weights and layers\n"
            "  --set S.K=V       override key K of section [S] (repeatable; paths relative to the current folder)\n"
            "  --limit N         only the first N images of the list (same as --set data.limit=N)\n"
            "  --resume          continue an interrupted run (also the default when the output exists with the\n"
            "                    same configuration); an output made with another configuration is refused\n"
            "  --force           delete any previous output (and its journal) and start over\n"
            "  --sanity          after the run, the cascading-randomisation sanity check into /sanity of its\n"
            "                    output (same as --set sanity.enabled=yes; a finished output just gains /sanity)\n"
            "  --table FILE.h5   print the table of a result file and write FILE.h5.csv\n"
            "  --merge OUT.h5 SHARD.h5 ...  join the finished files of a sharded run ([run] shard = i/n)\n"
            "                    into the file the unsharded run would have written, then print its table\n"
            "  --report OUT_DIR FILE.h5 ...  OUT_DIR/report.md with the paper's tables and figures (PNG + SVG)\n"
            "                    and OUT_DIR/report.csv; --set report.paper=auto|yes|no, report.reference=ID\n"
            "  --version         program, commit and library versions\n"
            "\n"
            "configuration keys (section, key = default, meaning):\n");
    pc_config_print_help(out);
    fprintf(out, "\nSee docs/output.md (installed under share/polycam-eval/docs) for the output layout.\n");
}

static int need_arg(int i, int argc, const char *opt) {
    if (i + 1 >= argc) {
        fprintf(stderr, "polycam-eval: %s needs an argument (see --help)\n", opt);
        return 0;
    }
    return 1;
}

// An option that names the run's one file may not be given twice (the first would be ignored).
static int once(const char *opt, const char *before, const char *now) {
    if (!before) return 1;
    fprintf(stderr, "polycam-eval: %s given twice ('%s', then '%s')\n", opt, before, now);
    return 0;
}

// --limit N: an integer >= 0, checked here so the message names the option as typed.
static int limit_ok(const char *v) {
    const char *p = v;
    while (*p >= '0' && *p <= '9') p++;
    if (*v && !*p && p - v <= 18) return 1;
    fprintf(stderr, "polycam-eval: --limit %s: expected an integer >= 0 (0 = all images)\n", v);
    return 0;
}

// Exit statuses (docs/usage.md "Using polycam-eval"); PC_EXIT_INTERRUPTED (3) is in stop.h.
enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2 };

typedef struct {
    const char *config, *table, *merge, *report;
    char **merge_inputs;    // (argc) the shard files after --merge OUT.h5 (or the files after --report DIR)
    int n_merge_inputs;
    char **sets;            // (argc + 1) --set overrides, then --limit's
    int n_sets;
    char limit_set[64];     // "data.limit=N" from --limit N
    int resume, force, check, sanity;
} Args;

static void print_version(void) {
    char libs[1024];
    pc_library_versions(PC_INIH_VERSION, libs, sizeof libs);
    printf("polycam-eval %s (commit %s)\n%s\nCUDA backend: %s\n", PC_VERSION, PC_GIT_COMMIT, libs,
           pc_backend_cuda_compiled() ? "compiled in" : "not compiled in");
}

// One option at argv[*i] (advancing *i over its arguments). Returns 0, EXIT_USAGE on a mistake
// (message printed), or -1 after --help / --version (printed).
static int parse_option(int argc, char **argv, int *i, Args *a) {
    const char *o = argv[*i];
    if (!strcmp(o, "--help") || !strcmp(o, "-h")) return usage(stdout), -1;
    if (!strcmp(o, "--version")) return print_version(), -1;
    if (!strcmp(o, "--resume")) return a->resume = 1, 0;
    if (!strcmp(o, "--force")) return a->force = 1, 0;
    if (!strcmp(o, "--check")) return a->check = 1, 0;
    if (!strcmp(o, "--sanity")) return a->sanity = 1, 0;
    int takes_arg = !strcmp(o, "--config") || !strcmp(o, "--set") || !strcmp(o, "--limit") ||
                    !strcmp(o, "--table") || !strcmp(o, "--merge") || !strcmp(o, "--report");
    if (!takes_arg) {
        fprintf(stderr, "polycam-eval: unknown argument '%s' (see --help)\n", o);
        return EXIT_USAGE;
    }
    if (!need_arg(*i, argc, o)) return EXIT_USAGE;
    const char *v = argv[++*i];
    if (!strcmp(o, "--set")) {
        a->sets[a->n_sets++] = (char *)v;
    } else if (!strcmp(o, "--limit")) {
        if (!limit_ok(v)) return EXIT_USAGE;
        snprintf(a->limit_set, sizeof a->limit_set, "data.limit=%s", v);
    } else {
        const char **slot = !strcmp(o, "--config") ? &a->config : !strcmp(o, "--table") ? &a->table
                            : !strcmp(o, "--report")                             ? &a->report
                                                                                 : &a->merge;
        if (!once(o, *slot, v)) return EXIT_USAGE;
        *slot = v;
        while ((slot == &a->merge || slot == &a->report) && *i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0)
            a->merge_inputs[a->n_merge_inputs++] = argv[++*i];
    }
    return 0;
}

// Combinations of options that exclude each other or are missing.
static int check_args(const Args *a) {
    const char *why = NULL;
    if (a->resume && a->force) why = "--resume and --force exclude each other";
    else if (a->check && (a->table || a->merge || a->report)) why = "--check goes with --config only";
    else if (a->sanity && (a->table || a->merge || a->report)) why = "--sanity goes with --config only";
    else if (!!a->table + !!a->config + !!a->merge + !!a->report > 1)
        why = "give one of --config, --table, --merge and --report";
    else if (a->report && a->n_merge_inputs < 1) why = "--report OUT_DIR needs result files after it";
    else if (a->merge && a->n_merge_inputs < 1) why = "--merge OUT.h5 needs the shard files after it";
    else if (!a->merge && !a->table && !a->config && !a->report)
        why = a->check ? "--config FILE.ini is required with --check (see --help)" : "--config FILE.ini is required (see --help)";
    if (!why) return 0;
    fprintf(stderr, "polycam-eval: %s\n", why);
    return EXIT_USAGE;
}

static int cmd_merge(const Args *a) {
    PcError err;
    if (pc_merge(a->merge, a->n_merge_inputs, a->merge_inputs, a->force ? PC_STORE_FORCE : PC_STORE_CONTINUE,
                 PC_GIT_COMMIT, &err) || pc_print_table(a->merge, &err)) {
        fprintf(stderr, "polycam-eval: %s\n", err.msg);
        return EXIT_ERROR;
    }
    return EXIT_OK;
}

static int cmd_table(const Args *a) {
    PcError err;
    if (pc_print_table(a->table, &err)) {
        fprintf(stderr, "polycam-eval: %s\n", err.msg);
        return EXIT_ERROR;
    }
    return EXIT_OK;
}

static int cmd_report(const Args *a) {
    PcError err;
    PcReportOptions opt;
    pc_report_default_options(&opt);
    for (int i = 0; i < a->n_sets; i++)   // --set report.paper=yes ... (docs/report.md)
        if (pc_report_set_option(&opt, a->sets[i], &err)) {
            fprintf(stderr, "polycam-eval: %s\n", err.msg);
            return EXIT_USAGE;
        }
    if (pc_report(a->report, a->n_merge_inputs, a->merge_inputs, &opt, &err)) {
        fprintf(stderr, "polycam-eval: %s\n", err.msg);
        return EXIT_ERROR;
    }
    printf("report written to %s/report.md\n", a->report);
    return EXIT_OK;
}

// --config: load (a mistake in a --set or --limit value is a command-line mistake), then run with
// the graceful stop of stop.h armed.
static int cmd_run(Args *a) {
    if (a->limit_set[0]) a->sets[a->n_sets++] = a->limit_set;   // after the --set overrides: --limit wins
    if (a->sanity) a->sets[a->n_sets++] = (char *)"sanity.enabled=yes";
    PcConfig cfg;
    PcError err;
    char *found = pc_config_find(a->config, stderr, &err);   // a bare name: also the shipped configs
    int loaded = found ? pc_config_load(found, a->n_sets, a->sets, &cfg, &err) : -1;
    free(found);
    if (loaded) {
        fprintf(stderr, "polycam-eval: %s\n", err.msg);
        return loaded == -2 ? EXIT_USAGE : EXIT_ERROR;
    }
    PcRunOptions opt = {.mode = a->force ? PC_STORE_FORCE : a->resume ? PC_STORE_RESUME : PC_STORE_CONTINUE,
                        .git_commit = PC_GIT_COMMIT, .inih_version = PC_INIH_VERSION, .check_only = a->check};
    pc_stop_install();
    int ran = pc_run(&cfg, &opt, &err);
    if (ran) fprintf(stderr, "polycam-eval: %s\n", err.msg);
    pc_config_free(&cfg);
    return ran == 0 ? EXIT_OK : ran == 1 ? PC_EXIT_INTERRUPTED : EXIT_ERROR;
}

int main(int argc, char **argv) {
    Args a = {.merge_inputs = calloc((size_t)argc + 1, sizeof(char *)), .sets = calloc((size_t)argc + 2, sizeof(char *))};
    if (!a.sets || !a.merge_inputs) return EXIT_ERROR;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) rc = parse_option(argc, argv, &i, &a);
    if (rc == 0) rc = check_args(&a);
    if (rc == 0) rc = a.merge ? cmd_merge(&a) : a.table ? cmd_table(&a) : a.report ? cmd_report(&a) : cmd_run(&a);
    free(a.sets);
    free(a.merge_inputs);
    rc = rc < 0 ? EXIT_OK : rc;
    // the table goes to standard output, often a file: a write that failed there fails the command
    errno = 0;
    int out_bad = fflush(stdout) != 0, e = errno;
    if ((out_bad || ferror(stdout)) && rc == EXIT_OK) {
        fprintf(stderr, "polycam-eval: standard output: cannot write (%s)\n", strerror(e ? e : EIO));
        rc = EXIT_ERROR;
    }
    return rc;
}
