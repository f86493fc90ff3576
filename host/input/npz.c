// npz.c: the .npz reader of npz.h. The archive's directory is read once into a sorted key table
// (checked: no encryption, stored or deflate only, no key twice); a map is read by opening its
// member, reading exactly the size the directory gives after bounding it (the one further read
// that must return 0 is where libzip compares the CRC), and parsing the bytes with npy.c.
#define _GNU_SOURCE
#include "npz.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zip.h>

#include "npy.h"

// deflate's largest expansion: 258 bytes out of a 2-bit code at best, about 1032:1
#define DEFLATE_MAX_RATIO 1032

typedef struct {
    char *key;
    zip_uint64_t index;
} Entry;

struct PcNpz {
    zip_t *z;
    char *label;            // the file, for messages
    size_t file_size;
    int n, n_other;
    Entry *e;               // (n) sorted by key
};

static int entry_cmp(const void *a, const void *b) { return strcmp(((const Entry *)a)->key, ((const Entry *)b)->key); }

void pc_npz_close(PcNpz *z) {
    if (!z) return;
    if (z->z) zip_discard(z->z);
    for (int i = 0; i < z->n; i++) free(z->e[i].key);
    free(z->e);
    free(z->label);
    free(z);
}

// Member i's checks: encryption, compression method. Entry key set for "<key>.npy" names.
static int index_member(PcNpz *z, zip_uint64_t i, PcError *err) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z->z, i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME))
        return pc_fail(err, "%s: cannot read the zip directory entry %llu (%s)", z->label, (unsigned long long)i,
                       zip_strerror(z->z));
    const size_t len = strlen(st.name);
    if (len < 4 || strcmp(st.name + len - 4, ".npy")) {
        z->n_other++;
        return 0;
    }
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        return pc_fail(err, "%s: member %s is encrypted", z->label, st.name);
    if (!(st.valid & ZIP_STAT_COMP_METHOD) || (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE))
        return pc_fail(err, "%s: member %s: compression method %d (np.savez stores, np.savez_compressed deflates; "
                       "nothing else is read)", z->label, st.name, (int)st.comp_method);
    z->e[z->n].key = strndup(st.name, len - 4);
    z->e[z->n++].index = i;
    return 0;
}

// The directory into the sorted key table.
static int build_index(PcNpz *z, PcError *err) {
    zip_int64_t n = zip_get_num_entries(z->z, 0);
    if (n < 0) return pc_fail(err, "%s: cannot read the zip directory (%s)", z->label, zip_strerror(z->z));
    // every directory entry takes at least 46 bytes of the file
    if ((uint64_t)n > z->file_size / 46 + 1)
        return pc_fail(err, "%s: the zip directory claims %lld members, more than the file could hold", z->label,
                       (long long)n);
    z->e = xcalloc((size_t)n + 1, sizeof *z->e);
    for (zip_int64_t i = 0; i < n; i++)
        if (index_member(z, (zip_uint64_t)i, err)) return -1;
    qsort(z->e, (size_t)z->n, sizeof *z->e, entry_cmp);
    for (int i = 1; i < z->n; i++)
        if (!strcmp(z->e[i - 1].key, z->e[i].key))
            return pc_fail(err, "%s: key '%s' appears twice in the archive", z->label, z->e[i].key);
    return 0;
}

static PcNpz *open_source(zip_source_t *src, const char *label, size_t size, PcError *err) {
    PcNpz *z = xcalloc(1, sizeof *z);
    z->label = strdup(label);
    z->file_size = size;
    zip_error_t ze;
    zip_error_init(&ze);
    z->z = size ? zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze) : NULL;
    if (!z->z) {
        if (!size) pc_fail(err, "%s: an empty file, not a zip archive as np.savez writes", label);
        else if (zip_error_code_zip(&ze) == ZIP_ER_EXISTS)
            pc_fail(err, "%s: a member name twice in the zip directory: an archive np.savez cannot write", label);
        else pc_fail(err, "%s: not a readable zip archive, as np.savez writes (%s)", label, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        zip_source_free(src);
        pc_npz_close(z);
        return NULL;
    }
    zip_error_fini(&ze);
    if (build_index(z, err)) {
        pc_npz_close(z);
        return NULL;
    }
    return z;
}

PcNpz *pc_npz_open(const char *path, PcError *err) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        pc_fail(err, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(sb.st_mode)) {
        pc_fail(err, "%s: not a regular file", path);
        return NULL;
    }
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_file_create(path, 0, -1, &ze);
    if (!src) {
        pc_fail(err, "%s: cannot open (%s)", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return NULL;
    }
    zip_error_fini(&ze);
    return open_source(src, path, (size_t)sb.st_size, err);
}

PcNpz *pc_npz_open_buffer(const void *buf, size_t n, const char *label, PcError *err) {
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(n ? buf : "", n, 0, &ze);
    zip_error_fini(&ze);
    if (!src) {
        pc_fail(err, "%s: cannot read the buffer", label);
        return NULL;
    }
    return open_source(src, label, n, err);
}

int pc_npz_count(const PcNpz *z) { return z->n; }
const char *pc_npz_key(const PcNpz *z, int i) { return i >= 0 && i < z->n ? z->e[i].key : NULL; }
int pc_npz_n_other(const PcNpz *z) { return z->n_other; }

int pc_npz_find(const PcNpz *z, const char *key) {
    Entry k = {.key = (char *)key};
    const Entry *e = bsearch(&k, z->e, (size_t)z->n, sizeof *z->e, entry_cmp);
    return e ? (int)(e - z->e) : -1;
}

// The member's uncompressed size, bounded (npz.h) before anything is allocated for it.
static int member_size(PcNpz *z, const Entry *e, size_t *size, PcError *err) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z->z, e->index, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE))
        return pc_fail(err, "%s: key '%s': cannot read its directory entry (%s)", z->label, e->key, zip_strerror(z->z));
    const uint64_t cap = st.comp_method == ZIP_CM_STORE ? z->file_size
                                                        : st.comp_size * DEFLATE_MAX_RATIO + 64;
    if (st.comp_size > z->file_size || st.size > cap || st.size > PC_NPZ_MAX_MEMBER)
        return pc_fail(err, "%s: key '%s': the member claims %llu bytes (%llu compressed) in a file of %zu: corrupt "
                       "archive%s", z->label, e->key, (unsigned long long)st.size, (unsigned long long)st.comp_size,
                       z->file_size, st.size > PC_NPZ_MAX_MEMBER ? ", or a map beyond 1 GiB" : "");
    *size = (size_t)st.size;
    return 0;
}

// The whole member, CRC checked by libzip; malloc'd.
static unsigned char *read_member(PcNpz *z, const Entry *e, size_t *size, PcError *err) {
    if (member_size(z, e, size, err)) return NULL;
    zip_file_t *f = zip_fopen_index(z->z, e->index, 0);
    if (!f) {
        pc_fail(err, "%s: key '%s': cannot open the member (%s)", z->label, e->key, zip_strerror(z->z));
        return NULL;
    }
    unsigned char *buf = xmalloc(*size + 1), extra;
    zip_int64_t got = zip_fread(f, buf, *size);
    // one more read reaches the end of the member, where libzip compares the CRC
    zip_int64_t tail = got == (zip_int64_t)*size ? zip_fread(f, &extra, 1) : 0;
    if (got != (zip_int64_t)*size || tail != 0) {
        pc_fail(err, "%s: key '%s': the member is damaged (%s)", z->label, e->key,
                got < 0 || tail < 0 ? zip_file_strerror(f) : tail > 0 ? "longer than its directory entry says"
                                                                    : "shorter than its directory entry says");
        zip_fclose(f);
        free(buf);
        return NULL;
    }
    zip_fclose(f);
    return buf;
}

int pc_npz_read_all(const void *buf, size_t n, const char *label, PcError *err) {
    PcNpz *z = pc_npz_open_buffer(buf, n, label, err);
    int rc = z ? 0 : -1;
    for (int i = 0; z && rc == 0 && i < z->n; i++) {
        float *m;
        int h, w;
        if ((rc = pc_npz_read_map(z, i, &m, &h, &w, err)) == 0) free(m);
    }
    rc = rc ? -1 : z->n;
    pc_npz_close(z);
    return rc;
}

int pc_npz_read_map(PcNpz *z, int i, float **map, int *h, int *w, PcError *err) {
    *map = NULL;
    if (i < 0 || i >= z->n) return pc_fail(err, "%s: no array %d", z->label, i);
    size_t size = 0;
    unsigned char *buf = read_member(z, &z->e[i], &size, err);
    if (!buf) return -1;
    PcError e;
    int rc = pc_npy_map(buf, size, map, h, w, &e);
    free(buf);
    if (rc) return pc_fail(err, "%s: key '%s': %s", z->label, z->e[i].key, e.msg);
    return 0;
}
