// main.c: the polycam-eval command line: a run from an INI config (with --set overrides,
// --resume / --force, --limit), the summary table of a result file (--table), --help listing
// every configuration key with its default, and --version.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "merge.h"
#include "report.h"
#include "run.h"

#include "pc_git_commit.h"   // generated at build time: PC_GIT_COMMIT
#ifndef PC_GIT_COMMIT
#define PC_GIT_COMMIT "unknown"
#endif
#ifndef PC_INIH_VERSION
#define PC_INIH_VERSION "unknown"
#endif

static void usage(FILE *out) {
    fprintf(out,
            "usage: polycam-eval --config FILE.ini [--set section.key=value ...] [--resume | --force] [--limit N]\n"
            "       polycam-eval --table FILE.h5\n"
            "       polycam-eval --merge OUT.h5 SHARD.h5 ... [--force]\n"
            "       polycam-eval --report OUT_DIR FILE.h5 ...\n"
            "       polycam-eval --help | --version\n"
            "\n"
            "Computes Poly-CAM saliency maps (PCAM+, PCAM-, PCAM+-) and insertion/deletion metrics for the\n"
            "images of a list, writes them to an HDF5 file image by image and prints the paper's Table 1.\n"
            "\n"
            "options:\n"
            "  --config FILE     the run's INI file (relative paths in it are relative to its folder)\n"
            "  --set S.K=V       override key K of section [S] (repeatable; paths relative to the current folder)\n"
            "  --limit N         only the first N images of the list (same as --set data.limit=N)\n"
            "  --resume          continue an interrupted run (also the default when the output exists with the\n"
            "                    same configuration); an output made with another configuration is refused\n"
            "  --force           delete any previous output (and its journal) and start over\n"
            "  --table FILE.h5   print the table of a result file and write FILE.h5.csv\n"
            "  --merge OUT.h5 SHARD.h5 ...  join the finished files of a sharded run ([run] shard = i/n)\n"
            "                    into the file the unsharded run would have written, then print its table\n"
            "  --report OUT_DIR FILE.h5 ...  OUT_DIR/report.md with the paper's tables and figures (PNG + SVG)\n"
            "  --version         program, commit and library versions\n"
            "\n"
            "configuration keys (section, key = default, meaning):\n");
    pc_config_print_help(out);
    fprintf(out, "\nSee README.md for the output layout.\n");
}

static int need_arg(int i, int argc, const char *opt) {
    if (i + 1 >= argc) {
        fprintf(stderr, "polycam-eval: %s needs an argument (see --help)\n", opt);
        return 0;
    }
    return 1;
}

int main(int argc, char **argv) {
    const char *config_path = NULL, *table_path = NULL, *merge_path = NULL, *report_dir = NULL;
    char **merge_inputs = calloc((size_t)argc + 1, sizeof(char *));
    int n_merge_inputs = 0;
    char **sets = calloc((size_t)argc + 2, sizeof(char *));
    char limit_set[64] = "";
    int n_sets = 0, resume = 0, force = 0, rc = 1;
    if (!sets || !merge_inputs) return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--version")) {
            char libs[1024];
            pc_library_versions(PC_INIH_VERSION, libs, sizeof libs);
            printf("polycam-eval %s (commit %s)\n%s\nCUDA backend: %s\n", PC_VERSION, PC_GIT_COMMIT, libs,
                   pc_backend_cuda_compiled() ? "compiled in" : "not compiled in");
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--config")) {
            if (!need_arg(i, argc, a)) goto usage_error;
            config_path = argv[++i];
        } else if (!strcmp(a, "--set")) {
            if (!need_arg(i, argc, a)) goto usage_error;
            sets[n_sets++] = argv[++i];
        } else if (!strcmp(a, "--limit")) {
            if (!need_arg(i, argc, a)) goto usage_error;
            snprintf(limit_set, sizeof limit_set, "data.limit=%s", argv[++i]);
        } else if (!strcmp(a, "--table")) {
            if (!need_arg(i, argc, a)) goto usage_error;
            table_path = argv[++i];
        } else if (!strcmp(a, "--merge")) {
            if (!need_arg(i, argc, a)) goto usage_error;
            merge_path = argv[++i];
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) merge_inputs[n_merge_inputs++] = argv[++i];
        } else if (!strcmp(a, "--report")) {
            if (!need_arg(i, argc, a)) goto usage_error;
            report_dir = argv[++i];
            while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) merge_inputs[n_merge_inputs++] = argv[++i];
        } else if (!strcmp(a, "--resume")) {
            resume = 1;
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else {
            fprintf(stderr, "polycam-eval: unknown argument '%s' (see --help)\n", a);
            goto usage_error;
        }
    }
    if (resume && force) {
        fprintf(stderr, "polycam-eval: --resume and --force exclude each other\n");
        goto usage_error;
    }
    if (!!table_path + !!config_path + !!merge_path + !!report_dir > 1) {
        fprintf(stderr, "polycam-eval: give one of --config, --table, --merge and --report\n");
        goto usage_error;
    }
    if (merge_path) {
        PcError err;
        if (n_merge_inputs < 1) {
            fprintf(stderr, "polycam-eval: --merge OUT.h5 needs the shard files after it\n");
            goto usage_error;
        }
        if (pc_merge(merge_path, n_merge_inputs, merge_inputs, force ? PC_STORE_FORCE : PC_STORE_CONTINUE,
                     PC_GIT_COMMIT, &err) || pc_print_table(merge_path, &err)) {
            fprintf(stderr, "polycam-eval: %s\n", err.msg);
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (report_dir) {
        PcError err;
        PcReportOptions ropt;
        pc_report_default_options(&ropt);
        if (n_merge_inputs < 1) {
            fprintf(stderr, "polycam-eval: --report OUT_DIR needs result files after it\n");
            goto usage_error;
        }
        if (pc_report(report_dir, n_merge_inputs, merge_inputs, &ropt, &err)) {
            fprintf(stderr, "polycam-eval: %s\n", err.msg);
            goto out;
        }
        printf("report: %s/report.md\n", report_dir);
        rc = 0;
        goto out;
    }
    if (table_path) {
        PcError err;
        if (pc_print_table(table_path, &err)) {
            fprintf(stderr, "polycam-eval: %s\n", err.msg);
            goto out;
        }
        rc = 0;
        goto out;
    }
    if (!config_path) {
        fprintf(stderr, "polycam-eval: --config FILE.ini is required (see --help)\n");
        goto usage_error;
    }
    if (limit_set[0]) sets[n_sets++] = limit_set;   // after the --set overrides: --limit wins

    PcConfig cfg;
    PcError err;
    if (pc_config_load(config_path, n_sets, sets, &cfg, &err)) {
        fprintf(stderr, "polycam-eval: %s\n", err.msg);
        goto out;
    }
    PcRunOptions opt = {.mode = force ? PC_STORE_FORCE : resume ? PC_STORE_RESUME : PC_STORE_CONTINUE,
                        .git_commit = PC_GIT_COMMIT, .inih_version = PC_INIH_VERSION};
    if (pc_run(&cfg, &opt, &err)) fprintf(stderr, "polycam-eval: %s\n", err.msg);
    else rc = 0;
    pc_config_free(&cfg);
    goto out;
usage_error:
    rc = 2;
out:
    free(sets);
    free(merge_inputs);
    return rc;
}
