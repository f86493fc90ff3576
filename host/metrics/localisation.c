// localisation.c: the localisation measures of SPEC §10 on one map and its object mask, and the
// pointing game with a tolerance and relevance rank accuracy beside them (localisation.h).
#include "localisation.h"

#include <math.h>
#include <stdlib.h>

#include "common.h"

double pc_energy_in_mask(const float *s, const unsigned char *g, int n) {
    double inside = 0.0, total = 0.0;
    for (int i = 0; i < n; i++) {
        total += s[i];
        if (g[i]) inside += s[i];
    }
    return total == 0.0 ? 0.0 : inside / total;
}

int pc_pointing_hit(const float *s, const unsigned char *g, int n) {
    if (n <= 0) return 0;
    int best = 0;
    for (int i = 1; i < n; i++)
        if (s[i] > s[best]) best = i;   // strict: the first maximum wins
    return g[best] != 0;
}

void pc_localise(const float *map, const unsigned char *mask, int n, double *energy, int *hit) {
    for (int i = 0; i < n; i++) {
        if (isnan(map[i])) {
            *energy = NAN;
            *hit = -1;
            return;
        }
    }
    *energy = pc_energy_in_mask(map, mask, n);
    *hit = pc_pointing_hit(map, mask, n);
}

// ---- pointing with a tolerance, rank accuracy --------------------------------------------------

int pc_pointing_hit_tol(const float *s, const unsigned char *g, int S, int tol) {
    const int n = S * S;
    int best = 0;
    for (int i = 1; i < n; i++)
        if (s[i] > s[best]) best = i;   // the first maximum, as torch.argmax
    if (tol <= 0) return g[best] != 0;
    const int r0 = best / S, c0 = best % S;
    const long t2 = (long)tol * tol;
    // only the rows and columns within tol of the point can be in the disk
    const int rlo = r0 - tol < 0 ? 0 : r0 - tol, rhi = r0 + tol >= S ? S - 1 : r0 + tol;
    const int clo = c0 - tol < 0 ? 0 : c0 - tol, chi = c0 + tol >= S ? S - 1 : c0 + tol;
    for (int r = rlo; r <= rhi; r++)
        for (int c = clo; c <= chi; c++) {
            const long dr = r - r0, dc = c - c0;
            if (dr * dr + dc * dc < t2 && g[(size_t)r * S + c]) return 1;
        }
    return 0;
}

typedef struct {
    float v;
    int i;
} Ranked;

// Descending value, ties by ascending index.
static int by_rank(const void *a, const void *b) {
    const Ranked *x = a, *y = b;
    if (x->v != y->v) return x->v > y->v ? -1 : 1;
    return (x->i > y->i) - (x->i < y->i);
}

double pc_rank_accuracy(const float *s, const unsigned char *g, int n) {
    int k = 0;
    for (int i = 0; i < n; i++) k += g[i] != 0;
    if (k == 0) return NAN;
    Ranked *r = xmalloc((size_t)n * sizeof *r);
    for (int i = 0; i < n; i++) r[i] = (Ranked){s[i], i};
    qsort(r, (size_t)n, sizeof *r, by_rank);
    int in = 0;
    for (int j = 0; j < k; j++) in += g[r[j].i] != 0;
    free(r);
    return (double)in / k;
}

void pc_localise_more(const float *map, const unsigned char *mask, int S, int tol, int *hit_tol, double *rank) {
    const int n = S * S;
    for (int i = 0; i < n; i++) {
        if (isnan(map[i])) {
            *hit_tol = -1;
            *rank = NAN;
            return;
        }
    }
    *hit_tol = pc_pointing_hit_tol(map, mask, S, tol);
    *rank = pc_rank_accuracy(map, mask, n);
}
