/* The metrics store (DESIGN.md §2): per-thread shards summed at scrape time, rendered as the
 * Prometheus text exposition format 0.0.4.
 *
 * A family (name, help, type, label names, histogram buckets) is declared once as a static
 * smg_metric_family_t and registered at start-up. A series is a family plus one value per label.
 *
 * Hot path: smg_metric_counter_add / gauge_add / gauge_set / hist_observe may be called from any
 * thread. Each thread writes its own shard (a per-family hash table keyed by the label values);
 * values are single-writer relaxed atomics, so the update takes no lock. A lock is taken only the
 * first time a thread meets a series (to insert it), and by the scraper, which reads one shard
 * at a time. Shards outlive their threads (counters never go down); a new thread adopts the shard
 * of a finished one.
 *
 * Label values are stored as valid UTF-8: invalid sequences and control bytes other than tab and
 * newline become U+FFFD when recorded, so values that differ only in such bytes are one series
 * (a scrape never has duplicates, nor a NUL).
 *
 * Bounds: a label value is cut to SMG_METRIC_LABEL_MAX bytes (at a UTF-8 boundary). A family
 * holds at most max_series label sets (default SMG_METRIC_MAX_SERIES); once full, a new label
 * set is recorded in the series whose label values are all "other", and
 * smg_metrics_dropped_series_total{family} counts each such refusal (refused label sets are not
 * remembered, so a set seen twice counts twice). Once full, a family's set of series is frozen
 * and lookups of new label sets take no lock either.
 *
 * Gauges: adds from all threads are summed; a set replaces the value of earlier sets (the latest
 * set from any thread wins) and the scraped value is that plus all adds. Use one style per
 * family. A set also bumps one process-wide atomic sequence, so keep sets off per-token paths. Gauges whose truth lives elsewhere (worker health, in-flight per worker) are better
 * read at scrape time through a collect callback (smg_metric_set_collect).
 *
 * Out of memory on the hot path drops the sample; nothing on the hot path aborts. Misuse that is
 * a programming error (unregistered family, wrong label count) trips SMG_BUG_ON. */
#ifndef SMG_METRICS_METRICS_H
#define SMG_METRICS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/status.h"
#include "core/str.h"

#define SMG_METRIC_MAX_SERIES 10000
#define SMG_METRIC_MAX_LABELS 8
#define SMG_METRIC_MAX_BUCKETS 64
#define SMG_METRIC_MAX_FAMILIES 256
#define SMG_METRIC_LABEL_MAX 128

typedef enum {
    SMG_METRIC_COUNTER,
    SMG_METRIC_GAUGE,
    SMG_METRIC_HISTOGRAM,
} smg_metric_type_t;

typedef struct smg_metric_emit_s smg_metric_emit_t;
/* Emits the series of a collected family at scrape time with smg_metric_emit(). Runs on the
 * scraping thread, with the store's registry lock held: it must not register families or call
 * smg_metrics_render. It may read shared state (atomics, snapshots) but must not block long. */
typedef void (*smg_metric_collect_cb)(smg_metric_emit_t *e, void *arg);

struct smg__metric_state;

typedef struct smg_metric_family_s {
    const char *name;           /* [a-zA-Z_:][a-zA-Z0-9_:]* */
    const char *help;           /* one line or more; escaped on output */
    smg_metric_type_t type;
    const char *const *labels;  /* label names [a-zA-Z_][a-zA-Z0-9_]*, not "le" for histograms */
    size_t nlabels;             /* <= SMG_METRIC_MAX_LABELS */
    const double *buckets;      /* histogram upper bounds, strictly increasing, finite; +Inf is
                                   implicit */
    size_t nbuckets;            /* 1..SMG_METRIC_MAX_BUCKETS for histograms */
    size_t max_series;          /* 0: SMG_METRIC_MAX_SERIES */
    struct smg__metric_state *state; /* set by smg_metric_register; leave NULL */
} smg_metric_family_t;

/* Register a family (static storage; the store keeps the pointer). Registering the same struct
 * again is SMG_OK. Returns SMG_EINVAL for a malformed description, SMG_EEXIST when another
 * family has the name, SMG_ELIMIT past SMG_METRIC_MAX_FAMILIES, SMG_ENOMEM. Thread-safe. */
SMG_MUST_CHECK int smg_metric_register(smg_metric_family_t *fam);

/* Make a registered counter or gauge family read its series from cb at every scrape instead of
 * from the shards (cb NULL: back to the shards). Thread-safe. */
void smg_metric_set_collect(smg_metric_family_t *fam, smg_metric_collect_cb cb, void *arg);

/* Hot path. `labels` holds nlabels values in the order of fam->labels; nlabels must equal
 * fam->nlabels. Values are copied; the views need only live for the call. */
void smg_metric_counter_add(smg_metric_family_t *fam, const smg_str_t *labels, size_t nlabels,
                            double v);
void smg_metric_gauge_add(smg_metric_family_t *fam, const smg_str_t *labels, size_t nlabels,
                          double v);
void smg_metric_gauge_set(smg_metric_family_t *fam, const smg_str_t *labels, size_t nlabels,
                          double v);
/* NaN observations are ignored. */
void smg_metric_hist_observe(smg_metric_family_t *fam, const smg_str_t *labels, size_t nlabels,
                             double v);

/* Series handles, for a caller that records the same label set over and over (the request
 * path keeps a small per-thread memo of them): the lookup by label values is done once.
 *
 * smg_metric_series returns this thread's series of fam for the labels, creating it like the
 * calls above would, or NULL when the label set has no series of its own (the family is full:
 * keep using the labelled calls for it, which record it in "other" and count each refusal) or
 * memory ran out. The handle stays valid for the life of the process but belongs to the calling
 * thread: only that thread may record through it (values are single-writer). Nothing is
 * recorded by the lookup itself. */
typedef struct smg_metric_series_s smg_metric_series_t;
smg_metric_series_t *smg_metric_series(smg_metric_family_t *fam, const smg_str_t *labels,
                                       size_t nlabels);
/* Counter add or gauge add through a handle of fam. */
void smg_metric_series_add(smg_metric_family_t *fam, smg_metric_series_t *s, double v);
/* Histogram observation through a handle of fam (NaN is ignored). */
void smg_metric_series_observe(smg_metric_family_t *fam, smg_metric_series_t *s, double v);

/* From a collect callback: one series of the family being collected. Label values are copied
 * (and cut like hot-path ones); a label set emitted twice keeps its first value; wrong label
 * counts and series past the family's cap are ignored. */
void smg_metric_emit(smg_metric_emit_t *e, const smg_str_t *labels, size_t nlabels, double v);

/* Append the exposition of every registered family to out: "# HELP", "# TYPE", then the series.
 * Families are sorted by name, series by label values (byte order). A family with labels and no
 * series is left out; a family without labels is always shown. Histograms give cumulative
 * _bucket{le=...} lines including le="+Inf", then _sum and _count. Label values are escaped
 * (\\, \", \n) and invalid UTF-8 becomes U+FFFD. Returns SMG_OK, or SMG_ETOOBIG / SMG_ENOMEM
 * from out (out then holds a truncated text the caller must not serve). Thread-safe; the
 * content type to serve is "text/plain; version=0.0.4; charset=utf-8". */
SMG_MUST_CHECK int smg_metrics_render(smg_buf_t *out);

#define SMG_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
