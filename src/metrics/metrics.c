/* Metrics store: see metrics.h for the contract.
 *
 * Layout. Each family owns a "canonical" set of series (label values stored once, an index per
 * series), guarded by the family mutex until the family is full, immutable afterwards. Each
 * thread owns a shard: per family, an open-addressing table of entries that point at a canonical
 * series and hold this thread's values as relaxed atomics (one writer: the owning thread). The
 * scraper holds a family's mutex while it sums that family over every shard, taking each
 * shard's mutex in turn; a writer takes its shard mutex only to insert or grow, and the family
 * mutex only to create a series, never both at once. */
#include "metrics/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"

typedef struct canon_s {
    uint64_t hash;
    uint32_t index;
    smg_str_t labels[]; /* nlabels views into the same allocation */
} canon_t;

struct smg__metric_state {
    uint32_t id;
    size_t nvalues; /* slots per series in a shard */
    size_t cap;     /* regular series allowed */
    pthread_mutex_t mu;
    atomic_bool frozen; /* full: canonical set immutable, readable without mu */
    canon_t **slots;    /* open addressing, power of two */
    size_t nslots;
    canon_t **list; /* by index */
    size_t count, list_cap, regular;
    canon_t *other;
    smg_metric_collect_cb collect;
    void *collect_arg;
};

typedef struct smg_metric_series_s {
    uint64_t hash;
    canon_t *c;
    _Atomic uint64_t v[]; /* nvalues */
} entry_t;

typedef struct {
    entry_t **slots;
    size_t nslots, count;
} tab_t;

typedef struct shard_s {
    pthread_mutex_t mu;
    tab_t *tabs; /* by family id */
    size_t ntabs;
    atomic_bool orphan;
    struct shard_s *next;
} shard_t;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static smg_metric_family_t *families[SMG_METRIC_MAX_FAMILIES];
static size_t nfamilies;

static pthread_mutex_t shards_mu = PTHREAD_MUTEX_INITIALIZER;
static shard_t *shards;
static pthread_key_t shard_key;
static pthread_once_t shard_key_once = PTHREAD_ONCE_INIT;
static _Thread_local shard_t *my;

static atomic_uint_fast64_t gauge_seq;

static const char *const dropped_labels[] = {"family"};
static smg_metric_family_t dropped_family = {
    .name = "smg_metrics_dropped_series_total",
    .help = "Samples recorded in the 'other' series because their family was at its series cap.",
    .type = SMG_METRIC_COUNTER,
    .labels = dropped_labels,
    .nlabels = 1,
    .max_series = SMG_METRIC_MAX_FAMILIES,
};

/* ---- bits ------------------------------------------------------------------------------------ */

static inline double bits_dbl(uint64_t b) {
    double d;
    memcpy(&d, &b, sizeof d);
    return d;
}
static inline uint64_t dbl_bits(double d) {
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    return b;
}
static inline void slot_add_dbl(_Atomic uint64_t *p, double v) {
    double d = bits_dbl(atomic_load_explicit(p, memory_order_relaxed)) + v;
    atomic_store_explicit(p, dbl_bits(d), memory_order_relaxed);
}
static inline void slot_inc(_Atomic uint64_t *p) {
    atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) + 1,
                          memory_order_relaxed);
}

/* Cut to SMG_METRIC_LABEL_MAX bytes without splitting a UTF-8 sequence. */
static inline smg_str_t cut_label(smg_str_t s) {
    if (s.len <= SMG_METRIC_LABEL_MAX)
        return s;
    size_t n = SMG_METRIC_LABEL_MAX;
    while (n > 0 && ((unsigned char)s.ptr[n] & 0xC0) == 0x80)
        n--;
    return smg_str(s.ptr, n);
}

/* Length of a valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_len(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return len;
}

/* Whether any byte is >= 0x80 or < 0x20 (word at a time: most label values are plain ASCII). */
static inline bool has_odd_bytes(const char *p, size_t n) {
    const uint64_t hi = 0x8080808080808080ull, sp = 0x2020202020202020ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if ((w & hi) || ((w - sp) & ~w & hi))
            return true;
    }
    for (; i < n; i++)
        if ((unsigned char)p[i] >= 0x80 || (unsigned char)p[i] < 0x20)
            return true;
    return false;
}

/* Length of the character at p as kept in a label value, or 0 to replace it: invalid UTF-8 and
 * control bytes other than tab and newline (a NUL or an escape sequence in a scrape helps no
 * one and trips some parsers). */
static size_t label_char_len(const unsigned char *p, size_t n) {
    if (p[0] < 0x20)
        return p[0] == '\n' || p[0] == '\t';
    return utf8_len(p, n);
}

/* A label value as stored: invalid UTF-8 sequences and control bytes other than tab and newline
 * become U+FFFD, so that two values that would
 * render the same are the same series (Prometheus refuses a scrape with duplicate series).
 * Returns s itself when it is valid; else a copy in buf (SMG_METRIC_LABEL_MAX bytes, cut at a
 * character boundary). */
static smg_str_t clean_label(smg_str_t s, char *buf) {
    if (!has_odd_bytes(s.ptr, s.len))
        return s;
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t i = 0, o = 0, n;
    while (i < s.len && (n = label_char_len(p + i, s.len - i)))
        i += n;
    if (i == s.len)
        return s;
    memcpy(buf, s.ptr, i);
    o = i;
    while (i < s.len) {
        n = label_char_len(p + i, s.len - i);
        const char *src = n ? s.ptr + i : "\xEF\xBF\xBD";
        size_t k = n ? n : 3;
        if (o + k > SMG_METRIC_LABEL_MAX)
            break;
        memcpy(buf + o, src, k);
        o += k;
        i += n ? n : 1;
    }
    return smg_str(buf, o);
}

/* Folded 64x64->128 multiply: the mixing step of the label hash (8 bytes per step; the hot path
 * hashes every label set it records, so byte-at-a-time hashing would dominate its cost). */
static inline uint64_t fold_mul(uint64_t a, uint64_t b) {
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t load64(const char *p) {
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

/* The last 1..7 bytes of a label as one word, without a byte loop (overlapping loads). */
static inline uint64_t load_tail(const char *p, size_t len, size_t full) {
    if (full >= 8) /* the label had whole words before: reread its last 8 bytes */
        return load64(p + len - 8);
    if (len >= 4) {
        uint32_t a, b;
        memcpy(&a, p, 4);
        memcpy(&b, p + len - 4, 4);
        return (uint64_t)a << 32 | b;
    }
    return (uint64_t)(unsigned char)p[0] << 16 | (uint64_t)(unsigned char)p[len >> 1] << 8 |
           (unsigned char)p[len - 1];
}

/* High bit of each byte of w that is >= 0x80 or < 0x20 (exact as "any": a borrow only spreads
 * upward from a byte that is itself < 0x20). */
static inline uint64_t odd_bits(uint64_t w) {
    const uint64_t hi = 0x8080808080808080ull, sp = 0x2020202020202020ull;
    return (w | ((w - sp) & ~w)) & hi;
}

/* Hash of a label set; with `odd`, also whether any value has a byte >= 0x80 or < 0x20 (then
 * clean_label has work to do), computed from the same loads. */
static uint64_t labels_hash(const smg_str_t *l, size_t n, bool *odd) {
    const uint64_t k1 = 0x9e3779b97f4a7c15ull, k2 = 0xd6e8feb86659fd93ull;
    uint64_t h = k2 ^ n, oddacc = 0;
    for (size_t i = 0; i < n; i++) {
        const char *p = l[i].ptr;
        size_t len = l[i].len;
        while (len >= 8) {
            uint64_t w = load64(p);
            oddacc |= odd_bits(w);
            h = fold_mul(h ^ w, k1);
            p += 8;
            len -= 8;
        }
        uint64_t w = 0;
        if (len) {
            w = load_tail(p, len, l[i].len);
            /* a 1..3 byte tail fills only the low 3 bytes: pad the rest with spaces */
            oddacc |= odd_bits(len >= 4 || l[i].len >= 8 ? w : w | 0x2020202020000000ull);
        }
        /* the length closes each label, so ("ab","c") and ("a","bc") differ */
        h = fold_mul(h ^ w, k2 ^ ((uint64_t)l[i].len << 8 | i));
    }
    if (odd)
        *odd = oddacc != 0;
    return h ^ (h >> 29);
}

static bool labels_eq(const smg_str_t *a, const smg_str_t *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!smg_str_eq(a[i], b[i]))
            return false;
    return true;
}

/* ---- canonical series -------------------------------------------------------------------- */

static canon_t *canon_find(const struct smg__metric_state *st, const smg_str_t *l, size_t n,
                           uint64_t h) {
    if (!st->nslots)
        return NULL;
    size_t mask = st->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        canon_t *c = st->slots[i];
        if (!c)
            return NULL;
        if (c->hash == h && labels_eq(c->labels, l, n))
            return c;
    }
}

static canon_t *canon_new(struct smg__metric_state *st, const smg_str_t *l, size_t n,
                          uint64_t h) {
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        bytes += l[i].len;
    canon_t *c = malloc(sizeof *c + n * sizeof(smg_str_t) + bytes + 1);
    if (!c)
        return NULL;
    char *p = (char *)(c->labels + n);
    for (size_t i = 0; i < n; i++) {
        if (l[i].len)
            memcpy(p, l[i].ptr, l[i].len);
        c->labels[i] = smg_str(p, l[i].len);
        p += l[i].len;
    }
    c->hash = h;
    if (st->count == st->list_cap) {
        size_t nc = st->list_cap ? st->list_cap * 2 : 16;
        canon_t **nl = realloc(st->list, nc * sizeof *nl);
        if (!nl) {
            free(c);
            return NULL;
        }
        st->list = nl;
        st->list_cap = nc;
    }
    if ((st->count + 1) * 2 > st->nslots) {
        size_t ns = st->nslots ? st->nslots * 2 : 32;
        canon_t **nsl = calloc(ns, sizeof *nsl);
        if (!nsl) {
            free(c);
            return NULL;
        }
        for (size_t i = 0; i < st->nslots; i++) {
            canon_t *o = st->slots[i];
            if (!o)
                continue;
            size_t j = o->hash & (ns - 1);
            while (nsl[j])
                j = (j + 1) & (ns - 1);
            nsl[j] = o;
        }
        free(st->slots);
        st->slots = nsl;
        st->nslots = ns;
    }
    size_t j = h & (st->nslots - 1);
    while (st->slots[j])
        j = (j + 1) & (st->nslots - 1);
    st->slots[j] = c;
    c->index = (uint32_t)st->count;
    st->list[st->count++] = c;
    return c;
}

static void count_dropped(smg_metric_family_t *fam);

/* The canonical series for these labels, or the family's "other" series when it is full (a
 * refusal, counted when count_drop), or NULL when memory ran out. */
static canon_t *canon_get(smg_metric_family_t *fam, const smg_str_t *l, size_t n, uint64_t h,
                          bool count_drop) {
    struct smg__metric_state *st = fam->state;
    if (atomic_load_explicit(&st->frozen, memory_order_acquire)) {
        canon_t *c = canon_find(st, l, n, h);
        if (c)
            return c;
        if (count_drop)
            count_dropped(fam);
        return st->other;
    }
    bool dropped = false;
    pthread_mutex_lock(&st->mu);
    canon_t *c = canon_find(st, l, n, h);
    if (!c && st->other) { /* full, frozen by another thread just now */
        c = st->other;
        dropped = true;
    } else if (!c) {
        c = canon_new(st, l, n, h);
        if (c && ++st->regular >= st->cap) {
            /* Full: create the overflow series (or reuse a real all-"other" one), then freeze. */
            smg_str_t ol[SMG_METRIC_MAX_LABELS];
            for (size_t i = 0; i < n; i++)
                ol[i] = SMG_STR("other");
            uint64_t oh = labels_hash(ol, n, NULL);
            canon_t *o = canon_find(st, ol, n, oh);
            if (!o)
                o = canon_new(st, ol, n, oh);
            if (o) {
                st->other = o;
                atomic_store_explicit(&st->frozen, true, memory_order_release);
            }
        }
    }
    pthread_mutex_unlock(&st->mu);
    if (dropped && count_drop)
        count_dropped(fam);
    return c;
}

static void count_dropped(smg_metric_family_t *fam) {
    if (fam == &dropped_family)
        return;
    smg_str_t l = smg_str_c(fam->name);
    smg_metric_counter_add(&dropped_family, &l, 1, 1);
}

/* ---- shards ---------------------------------------------------------------------------------- */

static void shard_release_cb(void *p) {
    shard_t *s = p;
    if (my == s)
        my = NULL;
    atomic_store_explicit(&s->orphan, true, memory_order_release);
}

static void shard_key_init(void) {
    SMG_BUG_ON(pthread_key_create(&shard_key, shard_release_cb) != 0);
}

static shard_t *shard_attach(void) {
    pthread_once(&shard_key_once, shard_key_init);
    pthread_mutex_lock(&shards_mu);
    shard_t *s = shards;
    for (; s; s = s->next) {
        bool expect = true;
        if (atomic_compare_exchange_strong(&s->orphan, &expect, false))
            break;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (s) {
            pthread_mutex_init(&s->mu, NULL);
            s->next = shards;
            shards = s;
        }
    }
    pthread_mutex_unlock(&shards_mu);
    if (s) {
        my = s;
        pthread_setspecific(shard_key, s);
    }
    return s;
}

static entry_t *tab_find(const tab_t *t, const smg_str_t *l, size_t n, uint64_t h) {
    if (!t->nslots)
        return NULL;
    size_t mask = t->nslots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        entry_t *e = t->slots[i];
        if (!e)
            return NULL;
        if (e->hash == h && labels_eq(e->c->labels, l, n))
            return e;
    }
}

/* Insert an entry for canonical series c into this thread's shard (under its mutex). */
static entry_t *shard_insert(shard_t *s, smg_metric_family_t *fam, canon_t *c) {
    struct smg__metric_state *st = fam->state;
    entry_t *e = calloc(1, sizeof *e + st->nvalues * sizeof(uint64_t));
    if (!e)
        return NULL;
    e->hash = c->hash;
    e->c = c;
    pthread_mutex_lock(&s->mu);
    if (st->id >= s->ntabs) {
        size_t nt = st->id + 8;
        tab_t *tabs = realloc(s->tabs, nt * sizeof *tabs);
        if (!tabs)
            goto fail;
        memset(tabs + s->ntabs, 0, (nt - s->ntabs) * sizeof *tabs);
        s->tabs = tabs;
        s->ntabs = nt;
    }
    tab_t *t = &s->tabs[st->id];
    if ((t->count + 1) * 2 > t->nslots) {
        size_t ns = t->nslots ? t->nslots * 2 : 16;
        entry_t **nsl = calloc(ns, sizeof *nsl);
        if (!nsl)
            goto fail;
        for (size_t i = 0; i < t->nslots; i++) {
            entry_t *o = t->slots[i];
            if (!o)
                continue;
            size_t j = o->hash & (ns - 1);
            while (nsl[j])
                j = (j + 1) & (ns - 1);
            nsl[j] = o;
        }
        free(t->slots);
        t->slots = nsl;
        t->nslots = ns;
    }
    size_t j = e->hash & (t->nslots - 1);
    while (t->slots[j])
        j = (j + 1) & (t->nslots - 1);
    t->slots[j] = e;
    t->count++;
    pthread_mutex_unlock(&s->mu);
    return e;
fail:
    pthread_mutex_unlock(&s->mu);
    free(e);
    return NULL;
}

/* This thread's values for the series, creating it on first use; NULL drops the sample.
 * With overflow (a handle lookup), a label set refused by a full family sets *overflow and
 * is not counted as a refusal (nothing is recorded by a lookup). */
static entry_t *series_of(smg_metric_family_t *fam, const smg_str_t *labels, size_t nlabels,
                          bool *overflow) {
    SMG_BUG_ON(!fam->state);
    SMG_BUG_ON(nlabels != fam->nlabels);
    shard_t *s = my;
    if (__builtin_expect(!s, 0) && !(s = shard_attach()))
        return NULL;
    smg_str_t l[SMG_METRIC_MAX_LABELS];
    char scratch[SMG_METRIC_MAX_LABELS][SMG_METRIC_LABEL_MAX];
    for (size_t i = 0; i < nlabels; i++)
        l[i] = cut_label(labels[i]);
    bool odd;
    uint64_t h = labels_hash(l, nlabels, &odd);
    if (__builtin_expect(odd, 0)) { /* non-ASCII or control bytes: store them cleaned */
        for (size_t i = 0; i < nlabels; i++)
            l[i] = clean_label(l[i], scratch[i]);
        h = labels_hash(l, nlabels, NULL);
    }
    uint32_t id = fam->state->id;
    entry_t *e = id < s->ntabs ? tab_find(&s->tabs[id], l, nlabels, h) : NULL;
    if (__builtin_expect(e != NULL, 1))
        return e;
    canon_t *c = canon_get(fam, l, nlabels, h, overflow == NULL);
    if (!c)
        return NULL;
    if (c->hash != h || !labels_eq(c->labels, l, nlabels)) { /* the overflow series */
        if (overflow)
            *overflow = true;
        e = id < s->ntabs ? tab_find(&s->tabs[id], c->labels, nlabels, c->hash) : NULL;
        if (e)
            return e;
    }
    return shard_insert(s, fam, c);
}

static inline entry_t *series(smg_metric_family_t *fam, const smg_str_t *labels,
                              size_t nlabels) {
    return series_of(fam, labels, nlabels, NULL);
}

smg_metric_series_t *smg_metric_series(smg_metric_family_t *fam, const smg_str_t *labels,
                                       size_t nlabels) {
    bool overflow = false;
    entry_t *e = series_of(fam, labels, nlabels, &overflow);
    /* An overflowing label set must go through the labelled calls every time:
     * they count each refusal (and the sample just recorded nothing). */
    return overflow ? NULL : e;
}

void smg_metric_series_add(smg_metric_family_t *fam, smg_metric_series_t *s, double v) {
    SMG_ASSERT(fam->type != SMG_METRIC_HISTOGRAM);
    (void)fam;
    slot_add_dbl(&s->v[0], v);
}

static void hist_record(smg_metric_family_t *fam, entry_t *e, double v);

void smg_metric_series_observe(smg_metric_family_t *fam, smg_metric_series_t *s, double v) {
    SMG_ASSERT(fam->type == SMG_METRIC_HISTOGRAM);
    if (!isnan(v))
        hist_record(fam, s, v);
}

void smg_metric_counter_add(smg_metric_family_t *fam, const smg_str_t *labels, size_t nlabels,
                            double v) {
    SMG_ASSERT(fam->type == SMG_METRIC_COUNTER);
    entry_t *e = series(fam, labels, nlabels);
    if (e)
        slot_add_dbl(&e->v[0], v);
}

void smg_metric_gauge_add(smg_metric_family_t *fam, const smg_str_t *labels, size_t nlabels,
                          double v) {
    SMG_ASSERT(fam->type == SMG_METRIC_GAUGE);
    entry_t *e = series(fam, labels, nlabels);
    if (e)
        slot_add_dbl(&e->v[0], v);
}

void smg_metric_gauge_set(smg_metric_family_t *fam, const smg_str_t *labels, size_t nlabels,
                          double v) {
    SMG_ASSERT(fam->type == SMG_METRIC_GAUGE);
    entry_t *e = series(fam, labels, nlabels);
    if (!e)
        return;
    uint64_t seq = atomic_fetch_add_explicit(&gauge_seq, 1, memory_order_relaxed) + 1;
    atomic_store_explicit(&e->v[1], dbl_bits(v), memory_order_relaxed);
    atomic_store_explicit(&e->v[2], seq, memory_order_release);
}

void smg_metric_hist_observe(smg_metric_family_t *fam, const smg_str_t *labels, size_t nlabels,
                             double v) {
    SMG_ASSERT(fam->type == SMG_METRIC_HISTOGRAM);
    if (isnan(v))
        return;
    entry_t *e = series(fam, labels, nlabels);
    if (e)
        hist_record(fam, e, v);
}

static void hist_record(smg_metric_family_t *fam, entry_t *e, double v) {
    const double *b = fam->buckets;
    size_t lo = 0, hi = fam->nbuckets; /* first bound >= v, or nbuckets (+Inf) */
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v <= b[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    slot_inc(&e->v[lo]);
    slot_add_dbl(&e->v[fam->nbuckets + 1], v);
}

/* ---- registration ------------------------------------------------------------------------ */

static bool valid_name(const char *s, bool colon) {
    if (!s || !*s)
        return false;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                  (colon && c == ':') || (p != s && c >= '0' && c <= '9');
        if (!ok)
            return false;
    }
    return true;
}

static int register_locked(smg_metric_family_t *fam) {
    if (fam->state)
        return SMG_OK;
    if (!valid_name(fam->name, true) || !fam->help || fam->nlabels > SMG_METRIC_MAX_LABELS ||
        (fam->nlabels && !fam->labels) || fam->type > SMG_METRIC_HISTOGRAM)
        return SMG_EINVAL;
    for (size_t i = 0; i < fam->nlabels; i++) {
        const char *ln = fam->labels[i];
        if (!valid_name(ln, false) || strncmp(ln, "__", 2) == 0 ||
            (fam->type == SMG_METRIC_HISTOGRAM && strcmp(ln, "le") == 0))
            return SMG_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(ln, fam->labels[j]) == 0)
                return SMG_EINVAL;
    }
    if (fam->type == SMG_METRIC_HISTOGRAM) {
        if (!fam->buckets || fam->nbuckets == 0 || fam->nbuckets > SMG_METRIC_MAX_BUCKETS)
            return SMG_EINVAL;
        for (size_t i = 0; i < fam->nbuckets; i++)
            if (!isfinite(fam->buckets[i]) || (i && fam->buckets[i] <= fam->buckets[i - 1]))
                return SMG_EINVAL;
    }
    for (size_t i = 0; i < nfamilies; i++)
        if (strcmp(families[i]->name, fam->name) == 0)
            return SMG_EEXIST;
    if (nfamilies == SMG_METRIC_MAX_FAMILIES)
        return SMG_ELIMIT;
    struct smg__metric_state *st = calloc(1, sizeof *st);
    if (!st)
        return SMG_ENOMEM;
    pthread_mutex_init(&st->mu, NULL);
    st->id = (uint32_t)nfamilies;
    st->nvalues = fam->type == SMG_METRIC_COUNTER ? 1
                  : fam->type == SMG_METRIC_GAUGE ? 3
                                                  : fam->nbuckets + 2;
    st->cap = fam->max_series ? fam->max_series : SMG_METRIC_MAX_SERIES;
    if (fam->nlabels == 0) { /* the one series exists from the start */
        st->cap = 1;
        if (!canon_new(st, NULL, 0, labels_hash(NULL, 0, NULL))) {
            free(st);
            return SMG_ENOMEM;
        }
        st->regular = 1;
        st->other = st->list[0];
        atomic_store(&st->frozen, true);
    }
    fam->state = st;
    families[nfamilies++] = fam;
    return SMG_OK;
}

int smg_metric_register(smg_metric_family_t *fam) {
    pthread_mutex_lock(&reg_mu);
    int rc = register_locked(&dropped_family);
    if (rc == SMG_OK)
        rc = register_locked(fam);
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

void smg_metric_set_collect(smg_metric_family_t *fam, smg_metric_collect_cb cb, void *arg) {
    SMG_BUG_ON(!fam->state || fam->type == SMG_METRIC_HISTOGRAM);
    pthread_mutex_lock(&reg_mu);
    fam->state->collect = cb;
    fam->state->collect_arg = arg;
    pthread_mutex_unlock(&reg_mu);
}

/* ---- exposition -------------------------------------------------------------------------- */

/* Exposition text of a number: shortest round-trip form, +Inf, -Inf, NaN. */
static const char *fmt_num(double v, char *tmp, size_t len) {
    if (isnan(v))
        return "NaN";
    if (isinf(v))
        return v > 0 ? "+Inf" : "-Inf";
    if (v == 0)
        return "0"; /* also -0 */
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(tmp, len, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    return tmp;
}

static int put_value(smg_buf_t *b, double v) {
    char tmp[40];
    return smg_buf_append_c(b, fmt_num(v, tmp, sizeof tmp));
}

/* Escape for a label value (quote too) or for HELP text. */
static int put_escaped(smg_buf_t *b, smg_str_t s, bool quote) {
    const unsigned char *p = (const unsigned char *)s.ptr;
    size_t start = 0, i = 0;
    int rc = SMG_OK;
    while (i < s.len && !rc) {
        const char *rep = NULL;
        size_t adv = 1;
        if (p[i] == '\\')
            rep = "\\\\";
        else if (p[i] == '\n')
            rep = "\\n";
        else if (quote && p[i] == '"')
            rep = "\\\"";
        else if (p[i] >= 0x80) {
            adv = utf8_len(p + i, s.len - i);
            if (!adv) {
                rep = "\xEF\xBF\xBD"; /* U+FFFD */
                adv = 1;
            }
        }
        if (rep) {
            rc = smg_buf_append(b, s.ptr + start, i - start);
            if (!rc)
                rc = smg_buf_append_c(b, rep);
            start = i + adv;
        }
        i += adv;
    }
    if (!rc)
        rc = smg_buf_append(b, s.ptr + start, s.len - start);
    return rc;
}

/* `name{a="x",b="y"` plus an optional le, then "} " — or `name ` without labels. */
static int put_series(smg_buf_t *b, const smg_metric_family_t *f, const char *suffix,
                      const smg_str_t *l, const char *le) {
    int rc = smg_buf_append_c(b, f->name);
    if (!rc && suffix)
        rc = smg_buf_append_c(b, suffix);
    if (rc || (f->nlabels == 0 && !le))
        return rc ? rc : smg_buf_append_byte(b, ' ');
    rc = smg_buf_append_byte(b, '{');
    for (size_t i = 0; i < f->nlabels && !rc; i++) {
        rc = smg_buf_appendf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
        if (!rc)
            rc = put_escaped(b, l[i], true);
        if (!rc)
            rc = smg_buf_append_byte(b, '"');
    }
    if (!rc && le)
        rc = smg_buf_appendf(b, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    if (!rc)
        rc = smg_buf_append_c(b, "} ");
    return rc;
}

static int cmp_labels(const smg_str_t *a, const smg_str_t *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        size_t m = a[i].len < b[i].len ? a[i].len : b[i].len;
        int c = m ? memcmp(a[i].ptr, b[i].ptr, m) : 0;
        if (c)
            return c;
        if (a[i].len != b[i].len)
            return a[i].len < b[i].len ? -1 : 1;
    }
    return 0;
}
static int cmp_canon(const void *x, const void *y, void *nlabels) {
    return cmp_labels((*(canon_t *const *)x)->labels, (*(canon_t *const *)y)->labels,
                      *(const size_t *)nlabels);
}
static int cmp_family(const void *x, const void *y) {
    return strcmp((*(smg_metric_family_t *const *)x)->name,
                  (*(smg_metric_family_t *const *)y)->name);
}

struct smg_metric_emit_s {
    smg_metric_family_t *fam;
    struct smg__metric_state tmp; /* canonical set of the emitted series */
    double *vals;
    size_t vals_cap;
    bool oom;
};

void smg_metric_emit(smg_metric_emit_t *e, const smg_str_t *labels, size_t nlabels, double v) {
    if (e->oom || nlabels != e->fam->nlabels)
        return;
    smg_str_t l[SMG_METRIC_MAX_LABELS];
    char scratch[SMG_METRIC_MAX_LABELS][SMG_METRIC_LABEL_MAX];
    for (size_t i = 0; i < nlabels; i++)
        l[i] = clean_label(cut_label(labels[i]), scratch[i]);
    uint64_t h = labels_hash(l, nlabels, NULL);
    if (canon_find(&e->tmp, l, nlabels, h) || e->tmp.count >= e->tmp.cap)
        return;
    if (e->tmp.count == e->vals_cap) {
        size_t nc = e->vals_cap ? e->vals_cap * 2 : 16;
        double *nv = realloc(e->vals, nc * sizeof *nv);
        if (!nv) {
            e->oom = true;
            return;
        }
        e->vals = nv;
        e->vals_cap = nc;
    }
    if (!canon_new(&e->tmp, l, nlabels, h)) {
        e->oom = true;
        return;
    }
    e->vals[e->tmp.count - 1] = v;
}

static void state_free_canon(struct smg__metric_state *st) {
    for (size_t i = 0; i < st->count; i++)
        free(st->list[i]);
    free(st->list);
    free(st->slots);
}

static int render_head(smg_buf_t *out, const smg_metric_family_t *f) {
    static const char *const types[] = {"counter", "gauge", "histogram"};
    int rc = smg_buf_appendf(out, "# HELP %s ", f->name);
    if (!rc)
        rc = put_escaped(out, smg_str_c(f->help), false);
    if (!rc)
        rc = smg_buf_appendf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
    return rc;
}

static int render_collected(smg_buf_t *out, smg_metric_family_t *f) {
    smg_metric_emit_t e = {.fam = f};
    e.tmp.cap = f->max_series ? f->max_series : SMG_METRIC_MAX_SERIES;
    f->state->collect(&e, f->state->collect_arg);
    int rc = e.oom ? SMG_ENOMEM : SMG_OK;
    if (!rc && e.tmp.count) {
        canon_t **order = malloc(e.tmp.count * sizeof *order);
        if (!order)
            rc = SMG_ENOMEM;
        if (!rc) {
            memcpy(order, e.tmp.list, e.tmp.count * sizeof *order);
            qsort_r(order, e.tmp.count, sizeof *order, cmp_canon, &f->nlabels);
            rc = render_head(out, f);
            for (size_t i = 0; i < e.tmp.count && !rc; i++) {
                rc = put_series(out, f, NULL, order[i]->labels, NULL);
                if (!rc)
                    rc = put_value(out, e.vals[order[i]->index]);
                if (!rc)
                    rc = smg_buf_append_byte(out, '\n');
            }
            free(order);
        }
    }
    state_free_canon(&e.tmp);
    free(e.vals);
    return rc;
}

/* Sum one family over every shard and render it. Holds the family mutex throughout so that no
 * series is created meanwhile (writers that only update values are not slowed down). */
static int render_family(smg_buf_t *out, smg_metric_family_t *f) {
    struct smg__metric_state *st = f->state;
    if (st->collect)
        return render_collected(out, f);
    pthread_mutex_lock(&st->mu);
    size_t count = st->count, nv = st->nvalues;
    int rc = SMG_OK;
    double *acc = calloc(count * nv + 1, sizeof *acc);
    uint64_t *seq = calloc(count + 1, sizeof *seq);
    bool *present = calloc(count + 1, sizeof *present);
    canon_t **order = malloc((count + 1) * sizeof *order);
    if (!acc || !seq || !present || !order) {
        rc = SMG_ENOMEM;
        goto done;
    }
    pthread_mutex_lock(&shards_mu);
    for (shard_t *s = shards; s; s = s->next) {
        pthread_mutex_lock(&s->mu);
        if (st->id < s->ntabs) {
            const tab_t *t = &s->tabs[st->id];
            for (size_t i = 0; i < t->nslots; i++) {
                entry_t *e = t->slots[i];
                if (!e)
                    continue;
                size_t k = e->c->index;
                present[k] = true;
                double *a = acc + k * nv;
                if (f->type == SMG_METRIC_COUNTER) {
                    a[0] += bits_dbl(atomic_load_explicit(&e->v[0], memory_order_relaxed));
                } else if (f->type == SMG_METRIC_GAUGE) {
                    a[0] += bits_dbl(atomic_load_explicit(&e->v[0], memory_order_relaxed));
                    uint64_t sq = atomic_load_explicit(&e->v[2], memory_order_acquire);
                    if (sq > seq[k]) {
                        seq[k] = sq;
                        a[1] = bits_dbl(atomic_load_explicit(&e->v[1], memory_order_relaxed));
                    }
                } else {
                    for (size_t j = 0; j <= f->nbuckets; j++)
                        a[j] += (double)atomic_load_explicit(&e->v[j], memory_order_relaxed);
                    a[nv - 1] +=
                        bits_dbl(atomic_load_explicit(&e->v[nv - 1], memory_order_relaxed));
                }
            }
        }
        pthread_mutex_unlock(&s->mu);
    }
    pthread_mutex_unlock(&shards_mu);
    if (f->nlabels == 0)
        present[0] = true;
    size_t m = 0;
    for (size_t k = 0; k < count; k++)
        if (present[k])
            order[m++] = st->list[k];
    if (m == 0)
        goto done;
    qsort_r(order, m, sizeof *order, cmp_canon, &f->nlabels);
    rc = render_head(out, f);
    for (size_t i = 0; i < m && !rc; i++) {
        const canon_t *c = order[i];
        const double *a = acc + (size_t)c->index * nv;
        if (f->type != SMG_METRIC_HISTOGRAM) {
            double v = a[0] + (f->type == SMG_METRIC_GAUGE && seq[c->index] ? a[1] : 0);
            rc = put_series(out, f, NULL, c->labels, NULL);
            if (!rc)
                rc = put_value(out, v);
            if (!rc)
                rc = smg_buf_append_byte(out, '\n');
            continue;
        }
        double cum = 0;
        char le[40];
        for (size_t j = 0; j <= f->nbuckets && !rc; j++) {
            cum += a[j];
            const char *les = j < f->nbuckets ? fmt_num(f->buckets[j], le, sizeof le) : "+Inf";
            rc = put_series(out, f, "_bucket", c->labels, les);
            if (!rc)
                rc = put_value(out, cum);
            if (!rc)
                rc = smg_buf_append_byte(out, '\n');
        }
        if (!rc)
            rc = put_series(out, f, "_sum", c->labels, NULL);
        if (!rc)
            rc = put_value(out, a[nv - 1]);
        if (!rc)
            rc = smg_buf_append_byte(out, '\n');
        if (!rc)
            rc = put_series(out, f, "_count", c->labels, NULL);
        if (!rc)
            rc = put_value(out, cum);
        if (!rc)
            rc = smg_buf_append_byte(out, '\n');
    }
done:
    pthread_mutex_unlock(&st->mu);
    free(acc);
    free(seq);
    free(present);
    free(order);
    return rc;
}

int smg_metrics_render(smg_buf_t *out) {
    pthread_mutex_lock(&reg_mu);
    smg_metric_family_t *sorted[SMG_METRIC_MAX_FAMILIES];
    size_t n = nfamilies;
    memcpy(sorted, families, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_family);
    int rc = SMG_OK;
    for (size_t i = 0; i < n && !rc; i++)
        rc = render_family(out, sorted[i]);
    pthread_mutex_unlock(&reg_mu);
    return rc;
}
