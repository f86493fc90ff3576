// pth_pickle.c: strict reader of torch.save's data.pkl (see pth_pickle.h). A small stack machine
// over the pickle opcodes of protocol 2 that torch.save emits; every object it builds is plain
// data (None, bool, int, str, tuple, list, dict) or one of three recognised results: a storage
// reference (BINPERSID), a tensor (REDUCE of _rebuild_tensor_v2) and an empty OrderedDict.
// Memory is bounded (pth_pickle.h): every object, string, item array, the stack and the memo are
// counted against a budget of PTH_MEM_FACTOR times the pickle's size + 1 MiB, at most
// PTH_MEM_CAP_MIB; objects come from one arena (no per-object overhead); None, bools and () are
// shared; strings are checked against the bytes left before they are copied; the stack is capped
// at PTH_MAX_STACK items, MARK nesting at PTH_MAX_MARK_DEPTH, the pickle at PTH_MAX_PICKLE_MIB.
// Nothing recurses over the objects.
#include "pth_pickle.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { V_NONE, V_BOOL, V_INT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR } VKind;
typedef enum { G_ORDERED_DICT = 1, G_REBUILD_TENSOR, G_REBUILD_TENSOR_V2, G_REBUILD_PARAMETER, G_STORAGE_CLASS } GKind;

typedef struct Val {
    VKind kind;
    PcDtype dtype;              // V_GLOBAL of a storage class
    int64_t i;                  // V_BOOL, V_INT; V_GLOBAL: the GKind
    union {
        struct {                // V_STR (NUL-terminated copy), V_GLOBAL "module.name"
            char *s;
            size_t slen;
        };
        struct {                // V_TUPLE, V_LIST; V_DICT: key, value, key, value, ...
            struct Val **items;
            int32_t n, cap;     // < 2^31: the memory budget allows at most 8 Mi items
        };
        PthStorageRef *storage; // V_STORAGE
        PthTensorRef *tensor;   // V_TENSOR
    };
} Val;

// Everything the machine allocates comes from chunks of one arena, freed together (no
// recursion over shared objects, no per-object allocation overhead).
typedef struct Chunk {
    struct Chunk *next;
    size_t used, cap;           // bytes of the data that follows the header
} Chunk;
#define CHUNK_HEAD ((sizeof(Chunk) + 15) & ~(size_t)15)
#define CHUNK_BYTES ((size_t)64 << 10)

typedef struct {
    Chunk *head;                // the chunk small allocations come from
} Pool;

typedef struct {
    const unsigned char *p;
    size_t n, pos, op_pos;
    const char *where;
    PcError *err;
    Pool *pool;
    Val **stack;
    size_t sp, cap;
    size_t marks[PTH_MAX_MARK_DEPTH];
    int n_marks;
    Val **memo;
    size_t n_memo, n_puts;
    PthWant want;
    size_t mem, mem_limit;      // bytes allocated so far (arena, stack, memo) and the budget
    int capped;                 // the input is longer than PTH_MAX_PICKLE: n was cut to it
    Val none, yes, no, empty;   // immutable values shared by every None, True, False and ()
} Machine;

// The capacity grow() gives an array of capacity cap that needs `need` slots.
static size_t grown(size_t cap, size_t need) {
    size_t c = cap ? cap : 16;
    while (c < need) c *= 2;
    return c;
}

static void *grow(void *ptr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return ptr;
    size_t c = grown(*cap, need);
    void *q = realloc(ptr, c * elem);
    if (!q) pc_die("alloc", "realloc", __FILE__, __LINE__, "pickle reader");
    *cap = c;
    return q;
}

static void pool_free(Pool *pl) {
    if (!pl) return;
    for (Chunk *c = pl->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(pl);
}

static int fail(Machine *m, const char *fmt, const char *arg) __attribute__((format(printf, 2, 0)));
static int fail(Machine *m, const char *fmt, const char *arg) {
    char what[1024];
    snprintf(what, sizeof what, fmt, arg);
    return pc_fail(m->err, "%s: byte %zu: %s", m->where, m->op_pos, what);
}

// Counts `bytes` more against the memory budget; past it the pickle is refused, naming the limit.
static int charge(Machine *m, size_t bytes) {
    if (bytes <= m->mem_limit - m->mem) {
        m->mem += bytes;
        return 0;
    }
    char what[300];
    snprintf(what, sizeof what, "reading it needs more than %zu bytes of memory, the limit (%d times the size of the "
             "pickle or legacy file + 1 MiB, at most %d MiB)", m->mem_limit, PTH_MEM_FACTOR, PTH_MEM_CAP_MIB);
    return fail(m, "%s", what);
}

// Zeroed memory from the arena (NULL and err past the budget). Large blocks get a chunk of their own.
static void *pool_alloc(Machine *m, size_t bytes) {
    bytes = (bytes + 7) & ~(size_t)7;
    Pool *pl = m->pool;
    Chunk *c = pl->head;
    if (c && bytes <= c->cap - c->used) {
        void *p = (unsigned char *)c + CHUNK_HEAD + c->used;
        c->used += bytes;
        return p;
    }
    int own = bytes > CHUNK_BYTES / 4;
    size_t cap = own ? bytes : CHUNK_BYTES;
    if (charge(m, CHUNK_HEAD + cap)) return NULL;
    Chunk *nc = xcalloc(1, CHUNK_HEAD + cap);
    nc->cap = cap;
    nc->used = bytes;
    if (own && c) {   // behind the head, which keeps its free space
        nc->next = c->next;
        c->next = nc;
    } else {
        nc->next = c;
        pl->head = nc;
    }
    return (unsigned char *)nc + CHUNK_HEAD;
}

static Val *new_val(Machine *m, VKind kind) {
    Val *v = pool_alloc(m, sizeof *v);
    if (v) v->kind = kind;
    return v;
}

static const char *kind_name(VKind k) {
    static const char *const names[] = {"None", "bool", "int", "str", "tuple", "list", "dict",
                                        "class", "storage", "tensor"};
    return names[k];
}

// ---- stack ------------------------------------------------------------------------------------

// Pushes v; v NULL (its allocation failed, err is set) and a stack past its limit fail.
static int push(Machine *m, Val *v) {
    if (!v) return -1;
    if (m->sp == PTH_MAX_STACK)
        return fail(m, "stack deeper than %s items (the reader's limit; torch.save's pickles stay below 2100)",
                    PTH_STR(PTH_MAX_STACK));
    if (m->sp == m->cap) {
        if (charge(m, (grown(m->cap, m->sp + 1) - m->cap) * sizeof *m->stack)) return -1;
        m->stack = grow(m->stack, &m->cap, m->sp + 1, sizeof *m->stack);
    }
    m->stack[m->sp++] = v;
    return 0;
}

// The lowest stack slot the current opcode may pop (above the innermost MARK).
static size_t fence(const Machine *m) { return m->n_marks ? m->marks[m->n_marks - 1] : 0; }

static Val *pop(Machine *m) {
    if (m->sp <= fence(m)) {
        fail(m, "%s", "stack underflow (a corrupt pickle)");
        return NULL;
    }
    return m->stack[--m->sp];
}

static Val *top(Machine *m) {
    if (m->sp <= fence(m)) {
        fail(m, "%s", "stack underflow (a corrupt pickle)");
        return NULL;
    }
    return m->stack[m->sp - 1];
}

// Pops the innermost MARK; *first gets the stack index of the first item above it.
static int pop_mark(Machine *m, size_t *first) {
    if (m->n_marks == 0) return fail(m, "%s", "no MARK before this opcode (a corrupt pickle)");
    *first = m->marks[--m->n_marks];
    return 0;
}

// Appends k items to a tuple, list or dict. A full array is replaced by one twice as large from
// the arena (the old one stays there until the end: at most as much again, counted).
static int append_items(Machine *m, Val *to, Val *const *items, size_t k) {
    if (k == 0) return 0;
    if ((size_t)(to->cap - to->n) < k) {
        size_t cap = to->cap ? 2 * (size_t)to->cap : k;   // a tuple is made once, at its size
        while (cap < (size_t)to->n + k) cap *= 2;
        if (cap > INT32_MAX) return fail(m, "%s", "a container with more than 2^31 items");
        Val **a = pool_alloc(m, cap * sizeof *a);
        if (!a) return -1;
        if (to->n) memcpy(a, to->items, (size_t)to->n * sizeof *a);
        to->items = a;
        to->cap = (int32_t)cap;
    }
    if (k) memcpy(to->items + to->n, items, k * sizeof *items);   // MARK + TUPLE: k = 0, items may be NULL
    to->n += (int32_t)k;
    return 0;
}

static Val *make_tuple(Machine *m, Val *const *items, size_t k) {
    if (k == 0) return &m->empty;   // tuples are never changed: one () serves all
    Val *t = new_val(m, V_TUPLE);
    return t && !append_items(m, t, items, k) ? t : NULL;
}

// ---- operand readers --------------------------------------------------------------------------

static int need(Machine *m, size_t k) {
    if (k > m->n - m->pos)
        return fail(m, "%s", m->capped ? "the pickle is longer than " PTH_STR(PTH_MAX_PICKLE_MIB) " MiB, the limit"
                                       : "the pickle ends inside an opcode (truncated)");
    return 0;
}

static uint64_t read_le(Machine *m, size_t k) {
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++) v |= (uint64_t)m->p[m->pos + i] << (8 * i);
    m->pos += k;
    return v;
}

// One line of GLOBAL's "module\nname\n", copied into buf.
static int read_line(Machine *m, char *buf, size_t cap) {
    const unsigned char *nl = memchr(m->p + m->pos, '\n', m->n - m->pos);
    if (!nl) return fail(m, "%s", "GLOBAL without its newline (truncated)");
    size_t len = (size_t)(nl - (m->p + m->pos));
    if (len >= cap) return fail(m, "%s", "GLOBAL name too long");
    memcpy(buf, m->p + m->pos, len);
    buf[len] = 0;
    m->pos += len + 1;
    for (size_t i = 0; i < len; i++)
        if (buf[i] < 0x20 || (unsigned char)buf[i] >= 0x7F) return fail(m, "%s", "GLOBAL name is not printable");
    return 0;
}

// ---- opcodes with semantics -------------------------------------------------------------------

// GLOBAL: only names torch.save uses for a state dict; anything else is refused here, before a
// REDUCE could even ask for it.
static int op_global(Machine *m) {
    char mod[PTH_MAX_NAME], name[PTH_MAX_NAME], full[2 * PTH_MAX_NAME + 2];
    if (read_line(m, mod, sizeof mod) || read_line(m, name, sizeof name)) return -1;
    snprintf(full, sizeof full, "%s.%s", mod, name);
    Val *g = new_val(m, V_GLOBAL);
    if (!g || !(g->s = pool_alloc(m, strlen(full) + 1))) return -1;
    strcpy(g->s, full);
    if (!strcmp(mod, "collections") && !strcmp(name, "OrderedDict")) {
        g->i = G_ORDERED_DICT;
    } else if (!strcmp(mod, "torch._utils") && !strcmp(name, "_rebuild_tensor_v2")) {
        g->i = G_REBUILD_TENSOR_V2;
    } else if (!strcmp(mod, "torch._utils") && !strcmp(name, "_rebuild_tensor")) {   // PyTorch < 0.4
        g->i = G_REBUILD_TENSOR;
    } else if (!strcmp(mod, "torch._utils") && !strcmp(name, "_rebuild_parameter")) {
        g->i = G_REBUILD_PARAMETER;
    } else if ((!strcmp(mod, "torch") || !strcmp(mod, "torch.cuda")) && strlen(name) > 7 &&
               !strcmp(name + strlen(name) - 7, "Storage")) {   // torch.cuda.*: saved from a GPU, same bytes
        static const struct { const char *name; PcDtype dt; } st[] = {
            {"FloatStorage", PC_DT_F32}, {"HalfStorage", PC_DT_F16},
            {"BFloat16Storage", PC_DT_BF16}, {"LongStorage", PC_DT_I64}};
        g->i = 0;
        for (size_t k = 0; k < sizeof st / sizeof st[0]; k++)
            if (!strcmp(name, st[k].name)) g->i = G_STORAGE_CLASS, g->dtype = st[k].dt;
        if (!g->i)
            return fail(m, "unsupported tensor type %s (float32, float16, bfloat16 and int64 storages are read)",
                        full);
    } else {
        return fail(m, "refers to %s, which has no place in a state dict of tensors (refused: a weights file "
                       "is read as data, its pickle is never executed)", full);
    }
    return push(m, g);
}

static int is_int(const Val *v) { return v->kind == V_INT; }

// BINPERSID: ('storage', torch.<T>Storage, key, location, numel) -> a storage reference. Legacy
// files add a sixth item, the view metadata of pre-0.4 storage views: None for a whole storage.
static int op_persid(Machine *m) {
    Val *pid = pop(m);
    if (!pid) return -1;
    if (pid->kind == V_TUPLE && pid->n == 6 && pid->items[5]->kind != V_NONE)
        return fail(m, "%s", "storage view in a persistent id (PyTorch < 0.4 storage views are not read)");
    if (pid->kind != V_TUPLE || (pid->n != 5 && pid->n != 6) || pid->items[0]->kind != V_STR || strcmp(pid->items[0]->s, "storage") ||
        pid->items[1]->kind != V_GLOBAL || pid->items[1]->i != G_STORAGE_CLASS || pid->items[2]->kind != V_STR ||
        pid->items[3]->kind != V_STR || !is_int(pid->items[4]) || pid->items[4]->i < 0)
        return fail(m, "%s", "persistent id is not ('storage', torch.<type>Storage, key, location, numel)");
    const Val *key = pid->items[2];
    if (key->slen == 0 || key->slen > 64) return fail(m, "%s", "storage key is empty or too long");
    for (size_t i = 0; i < key->slen; i++) {
        char c = key->s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'))
            return fail(m, "%s", "storage key is not a plain name (letters, digits and '_')");
    }
    Val *s = new_val(m, V_STORAGE);
    if (!s || !(s->storage = pool_alloc(m, sizeof *s->storage))) return -1;
    s->storage->key = key->s;
    s->storage->dtype = pid->items[1]->dtype;
    s->storage->numel = pid->items[4]->i;
    return push(m, s);
}

// Reads a tuple of ints (a tensor's size or stride) into out[]; k gets its length.
static int int_tuple(Machine *m, const Val *t, int64_t out[PC_MAX_DIMS], int *k, const char *what) {
    if (t->kind != V_TUPLE) return fail(m, "_rebuild_tensor_v2: %s is not a tuple", what);
    if (t->n > PC_MAX_DIMS) return fail(m, "_rebuild_tensor_v2: %s has more than 8 dimensions", what);
    for (int64_t d = 0; d < t->n; d++) {
        if (!is_int(t->items[d]) || t->items[d]->i < 0)
            return fail(m, "_rebuild_tensor_v2: %s holds a value that is not a non-negative int", what);
        out[d] = t->items[d]->i;
    }
    *k = (int)t->n;
    return 0;
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata]),
// or (v1, PyTorch < 0.4) _rebuild_tensor(storage, storage_offset, size, stride).
static int rebuild_tensor(Machine *m, const Val *args, int v1) {
    if (v1 ? args->n != 4 : (args->n != 6 && args->n != 7))
        return fail(m, "%s", "_rebuild_tensor(_v2) called with a wrong number of arguments");
    Val *const *a = args->items;
    if (a[0]->kind != V_STORAGE || !is_int(a[1]) || a[1]->i < 0 ||
        (!v1 && (a[4]->kind != V_BOOL || a[5]->kind != V_DICT || a[5]->n != 0)))
        return fail(m, "%s", "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride, bool, {})");
    PthTensorRef *t = pool_alloc(m, sizeof *t);
    if (!t) return -1;
    int nstride = 0;
    if (int_tuple(m, a[2], t->shape, &t->ndim, "size") || int_tuple(m, a[3], t->stride, &nstride, "stride"))
        return -1;
    if (nstride != t->ndim) return fail(m, "%s", "_rebuild_tensor_v2: size and stride differ in length");
    t->storage = a[0]->storage;
    t->offset = a[1]->i;
    Val *v = new_val(m, V_TENSOR);
    if (!v) return -1;
    v->tensor = t;
    return push(m, v);
}

static int op_reduce(Machine *m) {
    Val *args = pop(m), *fn = args ? pop(m) : NULL;
    if (!fn) return -1;
    if (fn->kind != V_GLOBAL) return fail(m, "REDUCE of a %s, not of a class", kind_name(fn->kind));
    if (args->kind != V_TUPLE) return fail(m, "REDUCE of %s with arguments that are not a tuple", fn->s);
    switch ((GKind)fn->i) {
    case G_ORDERED_DICT: {
        // OrderedDict() (Python 3), or OrderedDict([[key, value], ...]) (Python 2 pickles)
        Val *d = new_val(m, V_DICT);
        if (!d) return -1;
        if (args->n == 1 && args->items[0]->kind == V_LIST) {
            const Val *items = args->items[0];
            for (int64_t i = 0; i < items->n; i++) {
                const Val *kv = items->items[i];
                if ((kv->kind != V_LIST && kv->kind != V_TUPLE) || kv->n != 2)
                    return fail(m, "%s", "OrderedDict built from items that are not pairs");
                if (append_items(m, d, kv->items, 2)) return -1;
            }
        } else if (args->n != 0) {
            return fail(m, "%s", "OrderedDict built with unexpected arguments");
        }
        return push(m, d);
    }
    case G_REBUILD_TENSOR:
    case G_REBUILD_TENSOR_V2:
        return rebuild_tensor(m, args, fn->i == G_REBUILD_TENSOR);
    case G_REBUILD_PARAMETER:   // _rebuild_parameter(data, requires_grad, backward_hooks): the tensor
        if (args->n != 3 || args->items[0]->kind != V_TENSOR)
            return fail(m, "%s", "_rebuild_parameter arguments are not (tensor, bool, {})");
        return push(m, args->items[0]);
    case G_STORAGE_CLASS:
        break;
    }
    return fail(m, "%s is called, torch.save never does that", fn->s);
}

static int op_setitems(Machine *m, int with_mark) {
    size_t first = 0;
    if (with_mark) {
        if (pop_mark(m, &first)) return -1;
    } else {
        if (m->sp < fence(m) + 2) return fail(m, "%s", "stack underflow (a corrupt pickle)");
        first = m->sp - 2;
    }
    if ((m->sp - first) % 2) return fail(m, "%s", "SETITEMS with an odd number of items");
    if (first <= fence(m) || first == 0) return fail(m, "%s", "SETITEM(S) without a dict");
    Val *d = m->stack[first - 1];
    if (d->kind != V_DICT) return fail(m, "SETITEM(S) on a %s", kind_name(d->kind));
    if (append_items(m, d, m->stack + first, m->sp - first)) return -1;
    m->sp = first;
    return 0;
}

static int op_appends(Machine *m, int with_mark) {
    size_t first = 0;
    if (with_mark) {
        if (pop_mark(m, &first)) return -1;
    } else {
        if (m->sp < fence(m) + 1) return fail(m, "%s", "stack underflow (a corrupt pickle)");
        first = m->sp - 1;
    }
    if (first <= fence(m) || first == 0) return fail(m, "%s", "APPEND(S) without a list");
    Val *l = m->stack[first - 1];
    if (l->kind != V_LIST) return fail(m, "APPEND(S) on a %s", kind_name(l->kind));
    if (append_items(m, l, m->stack + first, m->sp - first)) return -1;
    m->sp = first;
    return 0;
}

static int op_tuple(Machine *m, int k) {   // k < 0: TUPLE (items since the MARK)
    size_t first = 0;
    if (k < 0) {
        if (pop_mark(m, &first)) return -1;
    } else {
        if (m->sp < fence(m) + (size_t)k) return fail(m, "%s", "stack underflow (a corrupt pickle)");
        first = m->sp - (size_t)k;
    }
    // (the stack may not exist yet when the tuple is empty: no pointer arithmetic on NULL)
    Val *t = make_tuple(m, m->sp > first ? m->stack + first : NULL, m->sp - first);
    if (!t) return -1;
    m->sp = first;
    return push(m, t);
}

static int op_memo(Machine *m, int put, size_t idx) {
    // The pickler numbers memo entries 0, 1, 2, ... in the order it stores them: an index beyond
    // the number of stores so far is a lie (and would cost memory the file does not pay for).
    if (put && idx > m->n_puts) return fail(m, "%s", "memo index beyond the entries stored so far");
    if (put) {
        m->n_puts++;
        Val *v = top(m);
        if (!v) return -1;
        if (idx >= m->n_memo) {
            size_t cap = m->n_memo;
            if (charge(m, (grown(cap, idx + 1) - cap) * sizeof *m->memo)) return -1;
            m->memo = grow(m->memo, &cap, idx + 1, sizeof *m->memo);
            memset(m->memo + m->n_memo, 0, (cap - m->n_memo) * sizeof *m->memo);
            m->n_memo = cap;
        }
        m->memo[idx] = v;
        return 0;
    }
    if (idx >= m->n_memo || !m->memo[idx]) return fail(m, "%s", "memo entry read before it was stored");
    return push(m, m->memo[idx]);
}

static int op_int(Machine *m, int64_t v) {
    Val *x = new_val(m, V_INT);
    if (!x) return -1;
    x->i = v;
    return push(m, x);
}

// ---- the loop ---------------------------------------------------------------------------------

static int has_control(const Val *str) {
    for (size_t i = 0; i < str->slen; i++)
        if ((unsigned char)str->s[i] < 0x20 || str->s[i] == 0x7f) return 1;
    return 0;
}

// The result at STOP: a dict of str -> tensor, a list of str, or anything (checked by the caller).
static int collect(Machine *m, Val *d, PthPickle *out) {
    if (m->want == PTH_WANT_ANY) {
        out->value_int = d->kind == V_INT ? d->i : -1;
        return 0;
    }
    if (m->want == PTH_WANT_STR_LIST) {
        if (d->kind != V_LIST) return fail(m, "the storage key list is a %s", kind_name(d->kind));
        out->n_keys = (int)d->n;
        out->keys = pool_alloc(m, (size_t)(d->n ? d->n : 1) * sizeof *out->keys);
        if (!out->keys) return -1;
        for (int64_t i = 0; i < d->n; i++) {
            if (d->items[i]->kind != V_STR) return fail(m, "%s", "a storage key is not a string");
            if (has_control(d->items[i])) return fail(m, "%s", "a storage key holds a control character");
            out->keys[i] = d->items[i]->s;
        }
        return 0;
    }
    if (d->kind != V_DICT)
        return fail(m, "the pickle holds a %s, not a state dict (export whole models or training checkpoints with "
                       "tools/export_torchvision.py)", kind_name(d->kind));
    out->n = (int)(d->n / 2);
    out->tensors = pool_alloc(m, (size_t)(out->n ? out->n : 1) * sizeof *out->tensors);
    if (!out->tensors) return -1;
    for (int i = 0; i < out->n; i++) {
        const Val *k = d->items[2 * i], *v = d->items[2 * i + 1];
        if (k->kind != V_STR || strlen(k->s) != k->slen || k->slen == 0)
            return fail(m, "%s", "a state-dict key is not a non-empty string");
        if (has_control(k))   // the names go into messages and result files: one line each
            return fail(m, "%s", "a state-dict key holds a newline or another control character");
        if (v->kind != V_TENSOR)
            return fail(m, "state-dict entry '%s' is not a tensor (a state dict of tensors is read; convert "
                           "other checkpoints with tools/export_torchvision.py)", k->s);
        out->tensors[i] = *v->tensor;
        out->tensors[i].name = k->s;
    }
    return 0;
}

// PROTO: the protocol byte; torch.save writes protocol 2.
static int op_proto(Machine *m) {
    if (need(m, 1)) return -1;
    if (m->p[m->pos] != 2) return fail(m, "%s", "pickle protocol other than 2 (torch.save writes 2)");
    m->pos++;
    return 0;
}

// MARK: remembers the stack height for the next TUPLE / SETITEMS / APPENDS.
static int op_mark(Machine *m) {
    if (m->n_marks == PTH_MAX_MARK_DEPTH) return fail(m, "%s", "MARKs nested too deep");
    m->marks[m->n_marks++] = m->sp;
    return 0;
}

// BINUNICODE ('X', 4-byte length); BINSTRING ('T', 4-byte) and SHORT_BINSTRING ('U', 1-byte),
// Python 2 str: the bytes as a NUL-terminated string.
static int op_string(Machine *m, unsigned char op) {
    size_t k = op == 'U' ? 1 : 4;
    if (need(m, k)) return -1;
    size_t len = (size_t)read_le(m, k);
    if (len > m->n - m->pos)
        return fail(m, "%s", m->capped ? "the pickle is longer than " PTH_STR(PTH_MAX_PICKLE_MIB) " MiB, the limit"
                                       : "string longer than the rest of the pickle");
    Val *s = new_val(m, V_STR);
    if (!s || !(s->s = pool_alloc(m, len + 1))) return -1;
    memcpy(s->s, m->p + m->pos, len);
    s->slen = len;
    m->pos += len;
    return push(m, s);
}

// LONG1: a one-byte length k <= 8, then k bytes of a little-endian two's-complement integer.
static int op_long1(Machine *m) {
    if (need(m, 1)) return -1;
    size_t k = (size_t)read_le(m, 1);
    if (k > 8) return fail(m, "%s", "integer wider than 64 bits");
    if (need(m, k)) return -1;
    uint64_t u = read_le(m, k);
    if (k > 0 && k < 8 && (u >> (8 * k - 1)) & 1) u |= ~(uint64_t)0 << (8 * k);   // sign-extend
    return op_int(m, (int64_t)u);
}

// BUILD: the only BUILD torch.save writes is a state dict's `_metadata` (module versions), ignored.
static int op_build(Machine *m) {
    Val *state = pop(m), *obj = state ? top(m) : NULL;
    if (!obj) return -1;
    if (obj->kind != V_DICT)
        return fail(m, "BUILD on a %s (only a state dict's _metadata is expected)", kind_name(obj->kind));
    return 0;
}

// STOP: one value left on the stack and no open MARK; it becomes the result.
static int op_stop(Machine *m, int *stopped, PthPickle *out) {
    if (m->n_marks || m->sp != 1) return fail(m, "%s", "STOP with a malformed stack");
    *stopped = 1;
    return collect(m, m->stack[0], out);
}

static int op_unsupported(Machine *m, unsigned char op) {
    char hex[8];
    snprintf(hex, sizeof hex, "0x%02x", op);
    return fail(m, "unsupported pickle opcode %s (not one torch.save writes)", hex);
}

static int step(Machine *m, int *stopped, PthPickle *out) {
    m->op_pos = m->pos;
    unsigned char op = m->p[m->pos++];
    switch (op) {
    case 0x80: return op_proto(m);                                              // PROTO
    case '}': return push(m, new_val(m, V_DICT));                               // EMPTY_DICT
    case ']': return push(m, new_val(m, V_LIST));                               // EMPTY_LIST
    case ')': return push(m, &m->empty);                                        // EMPTY_TUPLE
    case 'N': return push(m, &m->none);                                         // NONE
    case 0x88: return push(m, &m->yes);                                         // NEWTRUE
    case 0x89: return push(m, &m->no);                                          // NEWFALSE
    case 'q': return need(m, 1) ? -1 : op_memo(m, 1, (size_t)read_le(m, 1));   // BINPUT
    case 'r': return need(m, 4) ? -1 : op_memo(m, 1, (size_t)read_le(m, 4));   // LONG_BINPUT
    case 'h': return need(m, 1) ? -1 : op_memo(m, 0, (size_t)read_le(m, 1));   // BINGET
    case 'j': return need(m, 4) ? -1 : op_memo(m, 0, (size_t)read_le(m, 4));   // LONG_BINGET
    case '(': return op_mark(m);                                                // MARK
    case 'X': case 'T': case 'U': return op_string(m, op);   // BINUNICODE, BINSTRING, SHORT_BINSTRING
    case 'c': return op_global(m);                                              // GLOBAL
    case 't': return op_tuple(m, -1);                                           // TUPLE
    case 0x85: return op_tuple(m, 1);                                           // TUPLE1
    case 0x86: return op_tuple(m, 2);                                           // TUPLE2
    case 0x87: return op_tuple(m, 3);                                           // TUPLE3
    case 'J': return need(m, 4) ? -1 : op_int(m, (int32_t)(uint32_t)read_le(m, 4));   // BININT
    case 'K': return need(m, 1) ? -1 : op_int(m, (int64_t)read_le(m, 1));            // BININT1
    case 'M': return need(m, 2) ? -1 : op_int(m, (int64_t)read_le(m, 2));            // BININT2
    case 0x8a: return op_long1(m);                                              // LONG1
    case 'Q': return op_persid(m);                                              // BINPERSID
    case 'R': return op_reduce(m);                                              // REDUCE
    case 's': return op_setitems(m, 0);                                         // SETITEM
    case 'u': return op_setitems(m, 1);                                         // SETITEMS
    case 'a': return op_appends(m, 0);                                          // APPEND
    case 'e': return op_appends(m, 1);                                          // APPENDS
    case 'b': return op_build(m);                                               // BUILD
    case '.': return op_stop(m, stopped, out);                                  // STOP
    default: return op_unsupported(m, op);
    }
}

int pth_unpickle(const unsigned char *p, size_t n, const char *where, PthPickle *out, PcError *err) {
    return pth_unpickle_next(p, n, where, PTH_WANT_STATE_DICT, 0, out, NULL, err);
}

size_t pth_mem_limit(size_t n) {
    const size_t cap = (size_t)PTH_MEM_CAP_MIB << 20, base = (size_t)1 << 20;
    return n < (cap - base) / PTH_MEM_FACTOR ? PTH_MEM_FACTOR * n + base : cap;
}

int pth_unpickle_next(const unsigned char *p, size_t n, const char *where, PthWant want, size_t mem_limit,
                      PthPickle *out, size_t *used, PcError *err) {
    memset(out, 0, sizeof *out);
    // A pickle longer than PTH_MAX_PICKLE is read up to the cap (legacy files hand the rest of the
    // file over: the pickle ends where its STOP is).
    Machine m = {.p = p, .n = n < PTH_MAX_PICKLE ? n : PTH_MAX_PICKLE, .capped = n > PTH_MAX_PICKLE, .where = where,
                 .err = err, .want = want};
    m.mem_limit = mem_limit ? mem_limit : pth_mem_limit(m.n);
    m.none.kind = V_NONE;
    m.yes.kind = m.no.kind = V_BOOL;
    m.yes.i = 1;
    m.empty.kind = V_TUPLE;
    m.pool = xcalloc(1, sizeof(Pool));
    int stopped = 0, rc = 0;
    while (!rc && !stopped) {
        if (m.pos >= m.n) {
            m.op_pos = m.n;
            rc = fail(&m, "%s", m.capped ? "the pickle is longer than " PTH_STR(PTH_MAX_PICKLE_MIB) " MiB, the limit"
                                         : "the pickle ends before its STOP opcode (truncated)");
            break;
        }
        rc = step(&m, &stopped, out);
    }
    free(m.stack);
    free(m.memo);
    if (rc) {
        pool_free(m.pool);
        memset(out, 0, sizeof *out);
        return -1;
    }
    out->pool = m.pool;
    out->mem = m.mem;
    if (used) *used = m.pos;
    return 0;
}

void pth_pickle_free(PthPickle *pk) {
    if (!pk) return;
    pool_free(pk->pool);
    memset(pk, 0, sizeof *pk);
}
