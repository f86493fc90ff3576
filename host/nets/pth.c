// pth.c: torch.save checkpoints as a PcStateDict: the zip format of PyTorch >= 1.6 and the legacy
// format before it (mapped; pickles then raw storages, see legacy_open). The zip archive is
// read with libzip: <name>/data.pkl (the pickled state dict, read by pth_pickle.c) and
// <name>/data/<key>, the raw little-endian bytes of each storage. Tensors are views of storages
// (offset + strides in elements); each is copied out contiguous into one arena, half and bfloat16
// widened to float32. Every size the pickle or the zip directory claims is checked against the
// file before memory is allocated for it.
#define _GNU_SOURCE
#include "pth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "pth_pickle.h"

// The arena of copied-out tensors may exceed the storages only through views that overlap (the
// same storage seen by several tensors); beyond this multiple of the file size a file is refused.
#define PTH_MAX_ARENA_FACTOR 4

// The pickle that opens a legacy (pre-1.6) torch.save file: PROTO 2, LONG1 of 10 bytes holding
// the magic number 0x1950a86a20f9469cfc6c.
static const unsigned char LEGACY_HEAD[] = {0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46,
                                            0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19};

int pc_pth_sniff(const unsigned char *head, size_t n) {
    // A safetensors file starts with its header length (8 bytes, little-endian), whose low byte may
    // well be 0x80, then '{': that pattern is safetensors whatever the first byte.
    if (n >= 9 && head[8] == '{' && !head[5] && !head[6] && !head[7]) return -1;
    return (n >= 4 && head[0] == 'P' && head[1] == 'K') || (n >= 1 && head[0] == 0x80);
}

static size_t storage_elem_size(PcDtype dt) { return dt == PC_DT_I64 ? 8 : dt == PC_DT_F32 ? 4 : 2; }

static int is_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

// The archive's record folder: the one holding data.pkl ("<name>/data.pkl", name without '/').
static int find_records(zip_t *z, const char *path, char *prefix, size_t cap, zip_uint64_t *pkl, PcError *err) {
    zip_int64_t n = zip_get_num_entries(z, 0);
    int found = 0, torchscript = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(z, (zip_uint64_t)i, 0);
        if (!name) continue;
        if (is_suffix(name, "/constants.pkl") || strstr(name, "/code/")) torchscript = 1;
        const char *slash = strchr(name, '/');
        if (!slash || strcmp(slash, "/data.pkl") != 0) continue;
        if (found++) return pc_fail(err, "%s: the archive holds two data.pkl records", path);
        if ((size_t)(slash - name) + 1 >= cap) return pc_fail(err, "%s: record folder name too long", path);
        memcpy(prefix, name, (size_t)(slash - name));
        prefix[slash - name] = 0;
        *pkl = (zip_uint64_t)i;
    }
    if (torchscript && !found)
        return pc_fail(err, "%s: a TorchScript archive (torch.jit.save), not a state dict: save model.state_dict() "
                            "with torch.save, or use tools/export_torchvision.py", path);
    if (!found) return pc_fail(err, "%s: a zip archive without <name>/data.pkl: not a torch.save checkpoint", path);
    return 0;
}

// Reads a whole entry (at most max_bytes) into a malloc'd buffer, CRC checked by libzip.
static unsigned char *read_entry(zip_t *z, zip_uint64_t idx, size_t max_bytes, const char *path, size_t *size,
                                 PcError *err) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(z, idx, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_NAME)) {
        pc_fail(err, "%s: cannot read the zip directory entry %llu (%s)", path, (unsigned long long)idx,
                zip_strerror(z));
        return NULL;
    }
    if (st.size > max_bytes) {
        pc_fail(err, "%s: record %s claims %llu bytes, more than the file could hold (corrupt archive)", path,
                st.name, (unsigned long long)st.size);
        return NULL;
    }
    zip_file_t *f = zip_fopen_index(z, idx, 0);
    if (!f) {
        pc_fail(err, "%s: cannot open record %s (%s)", path, st.name, zip_strerror(z));
        return NULL;
    }
    unsigned char *buf = xmalloc((size_t)st.size + 1);
    zip_int64_t got = zip_fread(f, buf, st.size);
    unsigned char extra;
    // One more read reaches the end of the entry, where libzip compares the CRC.
    zip_int64_t tail = got == (zip_int64_t)st.size ? zip_fread(f, &extra, 1) : 0;
    if (got != (zip_int64_t)st.size || tail != 0) {
        pc_fail(err, "%s: record %s is damaged (%s)", path, st.name,
                got < 0 || tail < 0 ? zip_file_strerror(f) : "short read");
        zip_fclose(f);
        free(buf);
        return NULL;
    }
    zip_fclose(f);
    *size = (size_t)st.size;
    return buf;
}

// ---- storages and tensors ---------------------------------------------------------------------

typedef struct {
    const unsigned char *mem;   // legacy files: the bytes, inside the file's mapping
    zip_uint64_t entry;         // zip files: the record
    PcDtype dtype;
    int64_t numel;
    const char *key;
    int first_tensor;           // list of the tensors viewing this storage, linked by next[]
} Storage;

// Checks a tensor's view against its storage; *numel and *bytes (in the arena) are filled.
static int check_view(const char *path, const PthTensorRef *t, const Storage *s, int64_t *numel, size_t *bytes,
                      PcError *err) {
    int64_t n = 1, last = t->offset;
    for (int d = 0; d < t->ndim; d++) {
        int64_t reach;
        if (__builtin_mul_overflow(n, t->shape[d], &n))
            return pc_fail(err, "%s: tensor '%s': shape too large", path, t->name);
        if (t->shape[d] > 0 && (__builtin_mul_overflow(t->shape[d] - 1, t->stride[d], &reach) ||
                                __builtin_add_overflow(last, reach, &last)))
            return pc_fail(err, "%s: tensor '%s': strides too large", path, t->name);
    }
    if (n > 0 && last >= s->numel)
        return pc_fail(err, "%s: tensor '%s': offset %lld and strides reach element %lld of a storage of %lld", path,
                       t->name, (long long)t->offset, (long long)last, (long long)s->numel);
    if (n == 0 && t->offset > s->numel)
        return pc_fail(err, "%s: tensor '%s': offset %lld beyond its storage of %lld", path, t->name,
                       (long long)t->offset, (long long)s->numel);
    size_t esz = s->dtype == PC_DT_I64 ? 8 : 4;
    if ((uint64_t)n > SIZE_MAX / 16) return pc_fail(err, "%s: tensor '%s': shape too large", path, t->name);
    *numel = n;
    *bytes = ((size_t)n * esz + 7) & ~(size_t)7;   // 8-byte aligned slots for the I64 tensors
    return 0;
}

// Copies the view t of the storage bytes src into dst: float32 out of F32/F16/BF16, int64 out of
// I64. The walk visits elements in row-major order of the view, following its strides.
static void gather(const unsigned char *src, PcDtype dt, const PthTensorRef *t, int64_t numel, void *dst) {
    int contiguous = 1;
    int64_t want = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != want) contiguous = 0;
        want *= t->shape[d];
    }
    size_t esz = storage_elem_size(dt);
    if (contiguous && (dt == PC_DT_F32 || dt == PC_DT_I64)) {
        memcpy(dst, src + (size_t)t->offset * esz, (size_t)numel * esz);
        return;
    }
    PcTensor elem = {.dtype = dt, .data = src};   // pc_tensor_get_f32 widens F16 / BF16 exactly
    int64_t idx[PC_MAX_DIMS] = {0}, off = t->offset;
    for (int64_t e = 0; e < numel; e++) {
        if (dt == PC_DT_I64) memcpy((int64_t *)dst + e, src + (size_t)off * 8, 8);
        else ((float *)dst)[e] = pc_tensor_get_f32(&elem, off);
        for (int d = t->ndim - 1; d >= 0; d--) {   // next index, last dimension fastest
            off += t->stride[d];
            if (++idx[d] < t->shape[d]) break;
            off -= t->stride[d] * t->shape[d];
            idx[d] = 0;
        }
    }
}

static int cmp_str_ptr(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

static int check_unique_names(const char *path, const PcStateDict *sd, PcError *err) {
    if (sd->n < 2) return 0;
    const char **names = xmalloc((size_t)sd->n * sizeof *names);
    for (int i = 0; i < sd->n; i++) names[i] = sd->tensors[i].name;
    qsort(names, (size_t)sd->n, sizeof *names, cmp_str_ptr);
    int rc = 0;
    for (int i = 1; i < sd->n && !rc; i++)
        if (!strcmp(names[i - 1], names[i])) rc = pc_fail(err, "%s: tensor '%s' appears twice in the state dict", path, names[i]);
    free(names);
    return rc;
}

// Resolves each tensor's storage to its zip entry (one Storage per entry, shared by its views).
static int resolve_storages(zip_t *z, const char *path, const char *prefix, const PthPickle *pk, Storage **out,
                            int *n_out, int *storage_of, PcError *err) {
    zip_int64_t n_entries = zip_get_num_entries(z, 0);
    int *slot_of_entry = xmalloc((size_t)(n_entries > 0 ? n_entries : 1) * sizeof(int));
    for (zip_int64_t i = 0; i < n_entries; i++) slot_of_entry[i] = -1;
    Storage *st = xcalloc((size_t)(pk->n ? pk->n : 1), sizeof *st);
    int n = 0, rc = 0;
    char name[320];   // prefix (< 200) + "/data/" + key (<= 64): never truncated
    for (int i = 0; i < pk->n && !rc; i++) {
        const PthStorageRef *r = pk->tensors[i].storage;
        snprintf(name, sizeof name, "%s/data/%s", prefix, r->key);
        zip_int64_t e = zip_name_locate(z, name, 0);
        if (e < 0) {
            rc = pc_fail(err, "%s: tensor '%s': storage record %s is missing from the archive", path,
                         pk->tensors[i].name, name);
            break;
        }
        int s = slot_of_entry[e];
        if (s < 0) {
            zip_stat_t zs;
            zip_stat_init(&zs);
            if (zip_stat_index(z, (zip_uint64_t)e, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE)) {
                rc = pc_fail(err, "%s: cannot read the zip entry of %s (%s)", path, name, zip_strerror(z));
                break;
            }
            uint64_t want = (uint64_t)r->numel * storage_elem_size(r->dtype);
            if ((uint64_t)r->numel > UINT64_MAX / 8 || zs.size != want) {
                rc = pc_fail(err, "%s: storage %s holds %llu bytes, its tensors declare %lld elements of %s", path,
                             name, (unsigned long long)zs.size, (long long)r->numel, pc_dtype_name(r->dtype));
                break;
            }
            s = slot_of_entry[e] = n++;
            st[s] = (Storage){.entry = (zip_uint64_t)e, .dtype = r->dtype, .numel = r->numel, .key = r->key,
                              .first_tensor = -1};
        } else if (st[s].dtype != r->dtype || st[s].numel != r->numel) {
            rc = pc_fail(err, "%s: storage %s is declared with two different types or sizes", path, name);
        }
        storage_of[i] = s;
    }
    free(slot_of_entry);
    if (rc) {
        free(st);
        return -1;
    }
    *out = st;
    *n_out = n;
    return 0;
}

// Builds sd from the pickle: checks every view, sizes the arena, then reads one storage at a time
// and copies its tensors out (peak memory: the arena plus the largest storage).
static int build_state_dict(zip_t *z, const char *path, size_t file_size, const PthPickle *pk, Storage *st, int n_st,
                            const int *storage_of, PcStateDict *sd, PcError *err) {
    int *next = xmalloc((size_t)(pk->n ? pk->n : 1) * sizeof(int));
    size_t *at = xmalloc((size_t)(pk->n ? pk->n : 1) * sizeof(size_t));
    int rc = 0;
    sd->tensors = xcalloc((size_t)(pk->n ? pk->n : 1), sizeof(PcTensor));
    size_t total = 0, limit = PTH_MAX_ARENA_FACTOR * file_size + 4096;
    for (int i = 0; i < pk->n && !rc; i++) {
        const PthTensorRef *t = &pk->tensors[i];
        PcTensor *o = &sd->tensors[sd->n++];
        o->name = strdup(t->name);
        o->dtype = st[storage_of[i]].dtype == PC_DT_I64 ? PC_DT_I64 : PC_DT_F32;
        o->ndim = t->ndim;
        memcpy(o->shape, t->shape, sizeof o->shape);
        size_t bytes = 0;
        rc = check_view(path, t, &st[storage_of[i]], &o->numel, &bytes, err);
        if (!rc && bytes > limit - total)
            rc = pc_fail(err, "%s: the tensors need more than %d times the file's size (views overlapping many times)",
                         path, PTH_MAX_ARENA_FACTOR);
        at[i] = total;
        total += bytes;
        next[i] = st[storage_of[i]].first_tensor;
        st[storage_of[i]].first_tensor = i;
    }
    if (!rc) rc = check_unique_names(path, sd, err);
    if (!rc) sd->owned = xmalloc(total ? total : 8);
    for (int s = 0; s < n_st && !rc; s++) {
        size_t size;
        unsigned char *bytes = st[s].mem ? (unsigned char *)st[s].mem : read_entry(z, st[s].entry, file_size, path, &size, err);
        if (!bytes) {
            rc = -1;
            break;
        }
        for (int i = st[s].first_tensor; i >= 0; i = next[i]) {
            sd->tensors[i].data = (unsigned char *)sd->owned + at[i];
            gather(bytes, st[s].dtype, &pk->tensors[i], sd->tensors[i].numel, (unsigned char *)sd->owned + at[i]);
        }
        if (!st[s].mem) free(bytes);
    }
    free(next);
    free(at);
    return rc;
}

// ---- entry point ------------------------------------------------------------------------------

// ---- legacy format (torch.save before 1.6, e.g. torchvision's vgg16-397923af.pth) -------------
// Five pickles in a row: the magic number, the protocol version (1001), system information, the
// state dict and the sorted list of storage keys; then each storage in that order: its element
// count (int64, little-endian) and its raw bytes. The file is mapped, storages are not copied.

typedef struct {
    const char *key;
    int tensor;
} KeyRef;

static int cmp_keyref(const void *a, const void *b) {
    const KeyRef *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->tensor - y->tensor;
}

static int resolve_legacy(const unsigned char *map, size_t size, size_t pos, const char *path, const PthPickle *pk,
                          const PthPickle *keys, Storage **out, int *n_out, int *storage_of, PcError *err) {
    int n = pk->n, n_st = 0, rc = 0;
    KeyRef *kr = xmalloc((size_t)(n ? n : 1) * sizeof *kr);
    for (int i = 0; i < n; i++) kr[i] = (KeyRef){pk->tensors[i].storage->key, i}, storage_of[i] = -1;
    qsort(kr, (size_t)n, sizeof *kr, cmp_keyref);
    Storage *st = xcalloc((size_t)(keys->n_keys ? keys->n_keys : 1), sizeof *st);
    for (int k = 0; k < keys->n_keys && !rc; k++) {
        const char *key = keys->keys[k];
        int lo = 0, hi = n;   // first tensor whose storage key is >= key
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (strcmp(kr[mid].key, key) < 0) lo = mid + 1;
            else hi = mid;
        }
        if (lo == n || strcmp(kr[lo].key, key)) {
            rc = pc_fail(err, "%s: storage '%s' of the key list belongs to no tensor", path, key);
            break;
        }
        const PthStorageRef *r = pk->tensors[kr[lo].tensor].storage;
        size_t esz = storage_elem_size(r->dtype);
        uint64_t numel = 0;
        for (int b = 0; b < 8 && pos + 8 <= size; b++) numel |= (uint64_t)map[pos + b] << (8 * b);
        if (storage_of[kr[lo].tensor] >= 0) {
            rc = pc_fail(err, "%s: storage '%s' appears twice in the key list", path, key);
        } else if (pos + 8 > size || numel > (size - pos - 8) / esz) {
            rc = pc_fail(err, "%s: storage '%s' runs past the end of the file (truncated)", path, key);
        } else if ((int64_t)numel != r->numel) {
            rc = pc_fail(err, "%s: storage '%s' holds %llu elements, its tensors declare %lld", path, key,
                         (unsigned long long)numel, (long long)r->numel);
        }
        for (int j = lo; !rc && j < n && !strcmp(kr[j].key, key); j++) {
            const PthStorageRef *o = pk->tensors[kr[j].tensor].storage;
            if (o->dtype != r->dtype || o->numel != r->numel)
                rc = pc_fail(err, "%s: storage '%s' is declared with two different types or sizes", path, key);
            storage_of[kr[j].tensor] = n_st;
        }
        st[n_st++] = (Storage){.mem = map + pos + 8, .dtype = r->dtype, .numel = r->numel, .key = key, .first_tensor = -1};
        pos += 8 + (size_t)numel * esz;
    }
    for (int i = 0; i < n && !rc; i++)
        if (storage_of[i] < 0)
            rc = pc_fail(err, "%s: tensor '%s': storage '%s' is not in the file's key list", path, pk->tensors[i].name,
                         pk->tensors[i].storage->key);
    free(kr);
    if (rc) {
        free(st);
        return -1;
    }
    *out = st;
    *n_out = n_st;
    return 0;
}

static int legacy_open(const char *path, PcStateDict *sd, PcError *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pc_fail(err, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    void *map = fstat(fd, &sb) == 0 && sb.st_size > 0 ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
                                                     : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) return pc_fail(err, "%s: cannot map the file", path);
    const unsigned char *p = map;
    // The magic number pickle (checked by check_head: LEGACY_HEAD, then STOP) is an 80-bit int.
    size_t size = (size_t)sb.st_size, pos = sizeof LEGACY_HEAD + 1, used = 0;
    static const char *const what[5] = {"magic number", "protocol version", "system information", "state dict",
                                        "storage key list"};
    static const PthWant want[5] = {PTH_WANT_ANY, PTH_WANT_ANY, PTH_WANT_ANY, PTH_WANT_STATE_DICT, PTH_WANT_STR_LIST};
    PthPickle pk[5];
    memset(pk, 0, sizeof pk);
    char where[1200];
    int rc = size < pos || p[pos - 1] != '.' ? pc_fail(err, "%s: legacy format: damaged magic number", path) : 0;
    size_t budget = pth_mem_limit(size);   // shared by the pickles: the file's, not each pickle's
    for (int i = 1; i < 5 && !rc; i++) {
        snprintf(where, sizeof where, "%s: legacy format, %s pickle at byte %zu", path, what[i], pos);
        rc = pth_unpickle_next(p + pos, size - pos, where, want[i], budget, &pk[i], &used, err);
        pos += used;
        if (!rc && i == 1 && pk[1].value_int != 1001)
            rc = pc_fail(err, "%s: legacy format version %lld (1001 is read)", path, (long long)pk[1].value_int);
        if (i < 3) pth_pickle_free(&pk[i]);   // only the version was needed
        else budget = pk[i].mem < budget ? budget - pk[i].mem : 1;   // 1: nothing more (0 would mean the default)
    }
    Storage *st = NULL;
    int n_st = 0;
    int *storage_of = xmalloc((size_t)(pk[3].n ? pk[3].n : 1) * sizeof(int));
    sd->path = strdup(path);
    if (!rc) rc = resolve_legacy(p, size, pos, path, &pk[3], &pk[4], &st, &n_st, storage_of, err);
    if (!rc) rc = build_state_dict(NULL, path, size, &pk[3], st, n_st, storage_of, sd, err);
    for (int i = 0; i < 5; i++) pth_pickle_free(&pk[i]);
    free(st);
    free(storage_of);
    munmap(map, size);
    return rc;
}

// ---- entry point ------------------------------------------------------------------------------

// Reads the first bytes and size of the file: 0 for a zip archive, 1 for the legacy format, -1
// (and err) for anything else.
static int check_head(const char *path, size_t *file_size, PcError *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return pc_fail(err, "%s: cannot open (%s)", path, strerror(errno));
    struct stat sb;
    unsigned char head[sizeof LEGACY_HEAD] = {0};
    ssize_t got = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) ? read(fd, head, sizeof head) : -1;
    close(fd);
    if (got < 0) return pc_fail(err, "%s: not a readable regular file", path);
    *file_size = (size_t)sb.st_size;
    if ((size_t)got == sizeof head && !memcmp(head, LEGACY_HEAD, sizeof head)) return 1;
    if (got >= 1 && head[0] == 0x80)
        return pc_fail(err, "%s: a bare pickle, not a torch.save (>= 1.6) zip archive; re-save it with torch.save "
                            "or convert it with tools/export_torchvision.py", path);
    if (got < 4 || head[0] != 'P' || head[1] != 'K')
        return pc_fail(err, "%s: neither a torch.save zip archive nor a safetensors file", path);
    return 0;
}

int pc_pth_open(const char *path, PcStateDict *sd, PcError *err) {
    memset(sd, 0, sizeof *sd);
    size_t file_size = 0;
    int kind = check_head(path, &file_size, err);
    if (kind < 0) return -1;
    if (kind == 1) {
        if (legacy_open(path, sd, err) == 0) return 0;
        pc_state_dict_free(sd);
        return -1;
    }
    int zerr = 0;
    zip_t *z = zip_open(path, ZIP_RDONLY | ZIP_CHECKCONS, &zerr);
    if (!z) {
        zip_error_t ze;
        zip_error_init_with_code(&ze, zerr);
        pc_fail(err, "%s: not a readable zip archive (%s)", path, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return -1;
    }
    char prefix[200], where[1200], rec[256];
    zip_uint64_t pkl_idx = 0;
    size_t pkl_size = 0;
    unsigned char *pkl = NULL;
    PthPickle pk = {0};
    int rc = find_records(z, path, prefix, sizeof prefix, &pkl_idx, err);
    if (!rc) {   // records written on a big-endian machine say so; data.pkl's tensors would be byte-swapped
        snprintf(rec, sizeof rec, "%s/byteorder", prefix);
        zip_int64_t bo = zip_name_locate(z, rec, 0);
        size_t n;
        unsigned char *b = bo >= 0 ? read_entry(z, (zip_uint64_t)bo, 16, path, &n, err) : NULL;
        if (bo >= 0 && !b) rc = -1;
        else if (b && !(n == 6 && !memcmp(b, "little", 6)))
            rc = pc_fail(err, "%s: storages written big-endian (byteorder record); re-save on a little-endian machine", path);
        free(b);
    }
    if (!rc) {   // data.pkl: at most the file's size (no inflated pickles) and PTH_MAX_PICKLE
        zip_stat_t ps;
        zip_stat_init(&ps);
        if (zip_stat_index(z, pkl_idx, 0, &ps) == 0 && (ps.valid & ZIP_STAT_SIZE) && ps.size > PTH_MAX_PICKLE &&
            ps.size <= file_size)
            rc = pc_fail(err, "%s: %s/data.pkl holds %llu bytes, more than the %d MiB limit on a pickle", path, prefix,
                         (unsigned long long)ps.size, PTH_MAX_PICKLE_MIB);
        size_t cap = file_size < PTH_MAX_PICKLE ? file_size : PTH_MAX_PICKLE;
        pkl = rc ? NULL : read_entry(z, pkl_idx, cap, path, &pkl_size, err);
        if (!pkl) rc = -1;
    }
    if (!rc) {
        snprintf(where, sizeof where, "%s: %s/data.pkl", path, prefix);
        rc = pth_unpickle(pkl, pkl_size, where, &pk, err);
    }
    sd->path = strdup(path);
    Storage *st = NULL;
    int n_st = 0;
    int *storage_of = xmalloc((size_t)(pk.n ? pk.n : 1) * sizeof(int));
    if (!rc) rc = resolve_storages(z, path, prefix, &pk, &st, &n_st, storage_of, err);
    if (!rc) rc = build_state_dict(z, path, file_size, &pk, st, n_st, storage_of, sd, err);
    free(st);
    free(storage_of);
    pth_pickle_free(&pk);
    free(pkl);
    zip_discard(z);   // read-only: nothing to write back
    if (rc) {
        pc_state_dict_free(sd);
        return -1;
    }
    return 0;
}
