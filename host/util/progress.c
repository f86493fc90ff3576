// progress.c: progress bar / periodic progress line (see progress.h).
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

void pc_progress_init(PcProgress *p, FILE *out, int total, int already_done) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = isatty(fileno(out));
    p->total = total;
    p->start_done = p->done = already_done;
    p->t0 = p->last_print = pc_now();
    p->interval = 5.0;
}

static void format_eta(double s, char *buf, size_t n) {
    if (s < 0 || s != s || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

static void draw(PcProgress *p, const char *name, int final) {
    double now = pc_now(), dt = now - p->t0;
    int new_done = p->done - p->start_done;
    double rate = dt > 0 ? new_done / dt : 0;
    char eta[32];
    format_eta(rate > 0 ? (p->total - p->done) / rate : -1, eta, sizeof eta);
    if (p->tty) {
        const int width = 30;
        int fill = p->total ? (int)((double)width * p->done / p->total) : width;
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        fprintf(p->out, "\r[%s] %d/%d  %.2f img/s  ETA %s  %-28.28s\033[K", bar, p->done, p->total, rate, eta,
                name ? name : "");
        if (final) fputc('\n', p->out);
        p->drawn = !final;
    } else {
        fprintf(p->out, "progress: %d/%d images, %.2f img/s, ETA %s%s%s\n", p->done, p->total, rate, eta,
                name ? ", last " : "", name ? name : "");
    }
    fflush(p->out);
    p->last_print = now;
}

void pc_progress_step(PcProgress *p, int ok, const char *name) {
    p->done++;
    if (!ok) p->skipped++;
    double now = pc_now();
    if (p->tty || now - p->last_print >= p->interval || p->done == p->total) draw(p, name, 0);
}

void pc_progress_note(PcProgress *p, const char *msg) {
    if (p->drawn) fprintf(p->out, "\r\033[K");
    fprintf(p->out, "%s\n", msg);
    if (p->drawn) draw(p, NULL, 0);
    fflush(p->out);
}

void pc_progress_finish(PcProgress *p) {
    if (p->tty && p->drawn) draw(p, NULL, 1);
    double dt = pc_now() - p->t0;
    int n = p->done - p->start_done;
    fprintf(p->out, "done: %d images in %.1f s (%.2f img/s)\n", n, dt, dt > 0 ? n / dt : 0.0);
    fflush(p->out);
}

void pc_progress_stop(PcProgress *p) {
    if (p->tty && p->drawn) fprintf(p->out, "\r\033[K");
    p->drawn = 0;
    fflush(p->out);
}
