// localisation.c: the localisation measures of SPEC §10 on one map and its object mask.
#include "localisation.h"

#include <math.h>

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
