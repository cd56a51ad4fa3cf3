/* Metrics store: exact exposition text, escaping, sharded sums, series cap, callbacks. */
#include <ctype.h>
#include <math.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <pthread.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>

#include <utf8proc.h>

#include "core/buf.h"
#include "core/time.h"
#include "metrics/metrics.h"
#include "metrics/smg_metrics.h"
#include "unit.h"

static char *render(void) {
    smg_buf_t b;
    smg_buf_init(&b, 0);
    EXPECT_EQ_INT(smg_metrics_render(&b), SMG_OK);
    if (!b.ptr)
        return strdup("");
    return smg_buf_detach(&b);
}

#define S(x) SMG_STR(x)

static const char *const method_path[] = {"method", "path"};

TEST(counter_exposition_exact) {
    static smg_metric_family_t f = {.name = "t_requests_total", .help = "Requests seen.",
                                    .type = SMG_METRIC_COUNTER, .labels = method_path,
                                    .nlabels = 2};
    EXPECT_EQ_INT(smg_metric_register(&f), SMG_OK);
    smg_str_t a[] = {S("POST"), S("/b")}, b[] = {S("GET"), S("/a")};
    smg_metric_counter_add(&f, a, 2, 2.5);
    smg_metric_counter_add(&f, b, 2, 1);
    smg_metric_counter_add(&f, b, 2, 2);
    char *out = render();
    EXPECT_EQ_STR(out, "# HELP t_requests_total Requests seen.\n"
                       "# TYPE t_requests_total counter\n"
                       "t_requests_total{method=\"GET\",path=\"/a\"} 3\n"
                       "t_requests_total{method=\"POST\",path=\"/b\"} 2.5\n");
    free(out);
}

TEST(gauge_exposition_and_semantics) {
    static smg_metric_family_t g = {.name = "t_open", .help = "Open things.",
                                    .type = SMG_METRIC_GAUGE};
    static const char *const w[] = {"worker"};
    static smg_metric_family_t s = {.name = "t_level", .help = "A level.",
                                    .type = SMG_METRIC_GAUGE, .labels = w, .nlabels = 1};
    EXPECT_EQ_INT(smg_metric_register(&g), SMG_OK);
    EXPECT_EQ_INT(smg_metric_register(&s), SMG_OK);
    char *out = render(); /* a gauge without labels shows 0 before any sample */
    EXPECT_EQ_STR(out, "# HELP t_open Open things.\n# TYPE t_open gauge\nt_open 0\n");
    free(out);
    smg_metric_gauge_add(&g, NULL, 0, 3);
    smg_metric_gauge_add(&g, NULL, 0, -1);
    smg_str_t x = S("http://x:1");
    smg_metric_gauge_set(&s, &x, 1, 7);
    smg_metric_gauge_set(&s, &x, 1, -0.25);
    out = render();
    EXPECT_EQ_STR(out, "# HELP t_level A level.\n# TYPE t_level gauge\n"
                       "t_level{worker=\"http://x:1\"} -0.25\n"
                       "# HELP t_open Open things.\n# TYPE t_open gauge\nt_open 2\n");
    free(out);
}

static void *set_from_thread(void *arg) {
    smg_metric_family_t *f = arg;
    smg_metric_gauge_set(f, NULL, 0, 42);
    return NULL;
}

TEST(gauge_latest_set_wins_across_threads) {
    static smg_metric_family_t g = {.name = "t_pool", .help = "Pool.", .type = SMG_METRIC_GAUGE};
    EXPECT_EQ_INT(smg_metric_register(&g), SMG_OK);
    smg_metric_gauge_set(&g, NULL, 0, 5);
    pthread_t t;
    pthread_create(&t, NULL, set_from_thread, &g);
    pthread_join(t, NULL);
    char *out = render();
    EXPECT(strstr(out, "\nt_pool 42\n") != NULL);
    free(out);
    smg_metric_gauge_set(&g, NULL, 0, 6); /* main thread's shard, newer */
    out = render();
    EXPECT(strstr(out, "\nt_pool 6\n") != NULL);
    free(out);
}

static const double hb[] = {0.25, 1, 10};

TEST(histogram_exposition_exact) {
    static smg_metric_family_t h = {.name = "t_seconds", .help = "Durations.",
                                    .type = SMG_METRIC_HISTOGRAM, .labels = method_path,
                                    .nlabels = 2, .buckets = hb, .nbuckets = 3};
    EXPECT_EQ_INT(smg_metric_register(&h), SMG_OK);
    smg_str_t l[] = {S("GET"), S("/x")};
    smg_metric_hist_observe(&h, l, 2, 0.125);
    smg_metric_hist_observe(&h, l, 2, 0.25); /* le is inclusive */
    smg_metric_hist_observe(&h, l, 2, 0.5);
    smg_metric_hist_observe(&h, l, 2, 20);
    smg_metric_hist_observe(&h, l, 2, NAN); /* ignored */
    char *out = render();
    EXPECT_EQ_STR(out, "# HELP t_seconds Durations.\n"
                       "# TYPE t_seconds histogram\n"
                       "t_seconds_bucket{method=\"GET\",path=\"/x\",le=\"0.25\"} 2\n"
                       "t_seconds_bucket{method=\"GET\",path=\"/x\",le=\"1\"} 3\n"
                       "t_seconds_bucket{method=\"GET\",path=\"/x\",le=\"10\"} 3\n"
                       "t_seconds_bucket{method=\"GET\",path=\"/x\",le=\"+Inf\"} 4\n"
                       "t_seconds_sum{method=\"GET\",path=\"/x\"} 20.875\n"
                       "t_seconds_count{method=\"GET\",path=\"/x\"} 4\n");
    free(out);
}

TEST(histogram_without_labels) {
    static smg_metric_family_t h = {.name = "t_lat", .help = "Latency.",
                                    .type = SMG_METRIC_HISTOGRAM, .buckets = hb, .nbuckets = 3};
    EXPECT_EQ_INT(smg_metric_register(&h), SMG_OK);
    smg_metric_hist_observe(&h, NULL, 0, 1e-7);
    char *out = render();
    EXPECT_EQ_STR(out, "# HELP t_lat Latency.\n# TYPE t_lat histogram\n"
                       "t_lat_bucket{le=\"0.25\"} 1\nt_lat_bucket{le=\"1\"} 1\n"
                       "t_lat_bucket{le=\"10\"} 1\nt_lat_bucket{le=\"+Inf\"} 1\n"
                       "t_lat_sum 1e-07\nt_lat_count 1\n");
    free(out);
}

TEST(label_and_help_escaping) {
    static const char *const m[] = {"model"};
    static smg_metric_family_t f = {.name = "t_esc_total", .help = "Back\\slash\nnew \"q\".",
                                    .type = SMG_METRIC_COUNTER, .labels = m, .nlabels = 1};
    EXPECT_EQ_INT(smg_metric_register(&f), SMG_OK);
    smg_str_t v = S("a\\b\"c\nd");
    smg_metric_counter_add(&f, &v, 1, 1);
    smg_str_t bad = S("x\xff\xc3(y\xe2\x82");                  /* invalid UTF-8 */
    smg_metric_counter_add(&f, &bad, 1, 1);
    smg_str_t ok = S("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"); /* é € 😀 pass through */
    smg_metric_counter_add(&f, &ok, 1, 1);
    char *out = render();
    EXPECT_EQ_STR(out, "# HELP t_esc_total Back\\\\slash\\nnew \"q\".\n"
                       "# TYPE t_esc_total counter\n"
                       "t_esc_total{model=\"a\\\\b\\\"c\\nd\"} 1\n"
                       "t_esc_total{model=\"x\xEF\xBF\xBD\xEF\xBF\xBD(y\xEF\xBF\xBD\xEF\xBF\xBD\"} 1\n"
                       "t_esc_total{model=\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"} 1\n");
    free(out);
}

TEST(long_label_values_are_cut_at_utf8_boundary) {
    static const char *const m[] = {"model"};
    static smg_metric_family_t f = {.name = "t_long_total", .help = "h",
                                    .type = SMG_METRIC_COUNTER, .labels = m, .nlabels = 1};
    EXPECT_EQ_INT(smg_metric_register(&f), SMG_OK);
    char v[400];
    v[0] = 'a'; /* then 2-byte 'é' pairs: byte 128 is a continuation byte */
    for (size_t i = 1; i + 1 < sizeof v; i += 2) {
        v[i] = '\xc3';
        v[i + 1] = '\xa9';
    }
    smg_str_t l = smg_str(v, sizeof v - 1);
    smg_metric_counter_add(&f, &l, 1, 1);
    smg_str_t l2 = smg_str(v, 300); /* same first 127 bytes: same series */
    smg_metric_counter_add(&f, &l2, 1, 1);
    char *out = render();
    char want[600];
    snprintf(want, sizeof want, "t_long_total{model=\"%.*s\"} 2\n", 127, v);
    EXPECT(strstr(out, want) != NULL);
    EXPECT(strstr(out, "\xEF\xBF\xBD") == NULL);
    free(out);
}

TEST(families_sorted_by_name) {
    static smg_metric_family_t b = {.name = "t_b", .help = "b", .type = SMG_METRIC_GAUGE};
    static smg_metric_family_t a = {.name = "t_a", .help = "a", .type = SMG_METRIC_GAUGE};
    EXPECT_EQ_INT(smg_metric_register(&b), SMG_OK);
    EXPECT_EQ_INT(smg_metric_register(&a), SMG_OK);
    EXPECT_EQ_INT(smg_metric_register(&a), SMG_OK); /* same struct again: fine */
    char *out = render();
    EXPECT_EQ_STR(out, "# HELP t_a a\n# TYPE t_a gauge\nt_a 0\n# HELP t_b b\n# TYPE t_b gauge\nt_b 0\n");
    free(out);
}

TEST(register_rejects_bad_families) {
    static const char *const le[] = {"le"};
    static const char *const dup[] = {"a", "a"};
    static const char *const bad[] = {"1x"};
    static const char *const reserved[] = {"__name"};
    static const double down[] = {1, 0.5};
    smg_metric_family_t f1 = {.name = "t-bad", .help = "h", .type = SMG_METRIC_COUNTER};
    smg_metric_family_t f2 = {.name = "t_h", .help = "h", .type = SMG_METRIC_HISTOGRAM,
                              .labels = le, .nlabels = 1, .buckets = hb, .nbuckets = 3};
    smg_metric_family_t f3 = {.name = "t_h2", .help = "h", .type = SMG_METRIC_HISTOGRAM,
                              .buckets = down, .nbuckets = 2};
    smg_metric_family_t f4 = {.name = "t_c", .help = "h", .type = SMG_METRIC_COUNTER,
                              .labels = dup, .nlabels = 2};
    smg_metric_family_t f5 = {.name = "t_c", .help = "h", .type = SMG_METRIC_COUNTER,
                              .labels = bad, .nlabels = 1};
    smg_metric_family_t f6 = {.name = "t_c", .help = "h", .type = SMG_METRIC_COUNTER,
                              .labels = reserved, .nlabels = 1};
    smg_metric_family_t f7 = {.name = "t_h3", .help = "h", .type = SMG_METRIC_HISTOGRAM};
    smg_metric_family_t ok = {.name = "t_c", .help = "h", .type = SMG_METRIC_COUNTER};
    smg_metric_family_t same = {.name = "t_c", .help = "h", .type = SMG_METRIC_COUNTER};
    EXPECT_EQ_INT(smg_metric_register(&f1), SMG_EINVAL);
    EXPECT_EQ_INT(smg_metric_register(&f2), SMG_EINVAL);
    EXPECT_EQ_INT(smg_metric_register(&f3), SMG_EINVAL);
    EXPECT_EQ_INT(smg_metric_register(&f4), SMG_EINVAL);
    EXPECT_EQ_INT(smg_metric_register(&f5), SMG_EINVAL);
    EXPECT_EQ_INT(smg_metric_register(&f6), SMG_EINVAL);
    EXPECT_EQ_INT(smg_metric_register(&f7), SMG_EINVAL);
    EXPECT_EQ_INT(smg_metric_register(&ok), SMG_OK);
    EXPECT_EQ_INT(smg_metric_register(&same), SMG_EEXIST);
}

TEST(series_cap_sends_new_label_sets_to_other) {
    static const char *const m[] = {"model", "route"};
    static smg_metric_family_t f = {.name = "t_capped_total", .help = "Capped.",
                                    .type = SMG_METRIC_COUNTER, .labels = m, .nlabels = 2,
                                    .max_series = 3};
    EXPECT_EQ_INT(smg_metric_register(&f), SMG_OK);
    const char *names[] = {"m1", "m2", "m3", "m4", "m5", "m1"};
    for (size_t i = 0; i < 6; i++) {
        smg_str_t l[] = {smg_str_c(names[i]), S("/r")};
        smg_metric_counter_add(&f, l, 2, 1);
    }
    smg_str_t m5[] = {S("m5"), S("/r")};
    smg_metric_counter_add(&f, m5, 2, 10); /* refused again: counted again */
    char *out = render();
    EXPECT_EQ_STR(out, "# HELP smg_metrics_dropped_series_total Samples recorded in the 'other' "
                       "series because their family was at its series cap.\n"
                       "# TYPE smg_metrics_dropped_series_total counter\n"
                       "smg_metrics_dropped_series_total{family=\"t_capped_total\"} 3\n"
                       "# HELP t_capped_total Capped.\n# TYPE t_capped_total counter\n"
                       "t_capped_total{model=\"m1\",route=\"/r\"} 2\n"
                       "t_capped_total{model=\"m2\",route=\"/r\"} 1\n"
                       "t_capped_total{model=\"m3\",route=\"/r\"} 1\n"
                       "t_capped_total{model=\"other\",route=\"other\"} 12\n");
    free(out);
}

/* Series handles record into the same series as the labelled calls; a label set that
 * overflowed gets no handle (each labelled call counts its refusal). */
TEST(series_handles) {
    static const char *const m[] = {"model"};
    static const double bk[] = {1, 2};
    static smg_metric_family_t c = {.name = "t_h_total", .help = "c", .type = SMG_METRIC_COUNTER,
                                    .labels = m, .nlabels = 1, .max_series = 2};
    static smg_metric_family_t h = {.name = "t_h_seconds", .help = "h",
                                    .type = SMG_METRIC_HISTOGRAM, .labels = m, .nlabels = 1,
                                    .buckets = bk, .nbuckets = 2};
    EXPECT_EQ_INT(smg_metric_register(&c), SMG_OK);
    EXPECT_EQ_INT(smg_metric_register(&h), SMG_OK);
    smg_str_t a = S("a");
    smg_metric_series_t *sa = smg_metric_series(&c, &a, 1);
    EXPECT(sa != NULL);
    EXPECT(smg_metric_series(&c, &a, 1) == sa); /* the same series every time */
    smg_metric_series_add(&c, sa, 2);
    smg_metric_counter_add(&c, &a, 1, 1);
    smg_metric_series_t *ha = smg_metric_series(&h, &a, 1);
    EXPECT(ha != NULL);
    smg_metric_series_observe(&h, ha, 1.5);
    smg_metric_series_observe(&h, ha, NAN);
    smg_metric_hist_observe(&h, &a, 1, 3);
    smg_str_t b = S("b"), x = S("x");
    smg_metric_counter_add(&c, &b, 1, 1); /* the family is full now */
    EXPECT(smg_metric_series(&c, &x, 1) == NULL);
    smg_metric_counter_add(&c, &x, 1, 5);
    char *out = render();
    EXPECT_EQ_STR(out, "# HELP smg_metrics_dropped_series_total Samples recorded in the 'other' "
                       "series because their family was at its series cap.\n"
                       "# TYPE smg_metrics_dropped_series_total counter\n"
                       "smg_metrics_dropped_series_total{family=\"t_h_total\"} 1\n"
                       "# HELP t_h_seconds h\n# TYPE t_h_seconds histogram\n"
                       "t_h_seconds_bucket{model=\"a\",le=\"1\"} 0\n"
                       "t_h_seconds_bucket{model=\"a\",le=\"2\"} 1\n"
                       "t_h_seconds_bucket{model=\"a\",le=\"+Inf\"} 2\n"
                       "t_h_seconds_sum{model=\"a\"} 4.5\n"
                       "t_h_seconds_count{model=\"a\"} 2\n"
                       "# HELP t_h_total c\n# TYPE t_h_total counter\n"
                       "t_h_total{model=\"a\"} 3\n"
                       "t_h_total{model=\"b\"} 1\n"
                       "t_h_total{model=\"other\"} 5\n");
    free(out);
}

/* The request-path helpers memoize series handles per thread (8 label sets each): many more
 * label sets than that, interleaved, from two threads, and one too long to memoize, must all
 * count exactly. */
static void *done_many(void *arg) {
    (void)arg;
    char w[32], model[300];
    memset(model, 'm', sizeof model);
    for (int round = 0; round < 50; round++) {
        for (int k = 0; k < 20; k++) {
            int n = snprintf(w, sizeof w, "http://w%d:1", k);
            smg_metrics_request_done(&(smg_metrics_request_t){
                .route = S("/v1/chat/completions"), .model = S("llama"),
                .worker = smg_str(w, (size_t)n), .status = k % 2 ? 200 : 500,
                .streaming = k % 3 == 0, .seconds = 0.002, .ttft_seconds = 0.02});
            smg_metrics_worker_selected(S("llama"), S("round_robin"), smg_str(w, (size_t)n));
            smg_metrics_upstream_response(k % 2 ? 200 : 500, S(""));
        }
        smg_metrics_request_done(&(smg_metrics_request_t){
            .route = S("/v1/chat/completions"), .model = smg_str(model, 100),
            .worker = smg_str(model, 200), .status = 200, .seconds = 0.002, .ttft_seconds = -1});
        smg_metrics_http_request(S("POST"), S("/v1/chat/completions"), 200, S(""), 0.002);
    }
    return NULL;
}

TEST(memoized_helpers_count_exactly) {
    EXPECT_EQ_INT(smg_metrics_init(), SMG_OK);
    pthread_t t;
    EXPECT(pthread_create(&t, NULL, done_many, NULL) == 0);
    done_many(NULL);
    pthread_join(t, NULL);
    char *out = render();
    char line[400];
    for (int k = 0; k < 20; k++) {
        snprintf(line, sizeof line,
                 "smg_gateway_requests_total{route=\"/v1/chat/completions\",model=\"llama\","
                 "worker=\"http://w%d:1\",status=\"%d\"} 100\n", k, k % 2 ? 200 : 500);
        if (!strstr(out, line))
            fprintf(stderr, "  missing: %s", line);
        EXPECT(strstr(out, line) != NULL);
        snprintf(line, sizeof line,
                 "smg_worker_selection_total{model=\"llama\",policy=\"round_robin\","
                 "worker=\"http://w%d:1\"} 100\n", k);
        EXPECT(strstr(out, line) != NULL);
    }
    static const char *const want[] = {
        "smg_router_requests_total{model=\"llama\",endpoint=\"/v1/chat/completions\","
        "streaming=\"true\"} 700\n",
        "smg_router_requests_total{model=\"llama\",endpoint=\"/v1/chat/completions\","
        "streaming=\"false\"} 1300\n",
        "smg_router_ttft_seconds_count{model=\"llama\"} 2000\n",
        "smg_router_request_errors_total{model=\"llama\",endpoint=\"/v1/chat/completions\","
        "error_type=\"500\"} 1000\n",
        "smg_router_upstream_responses_total{status_code=\"200\",error_code=\"\"} 1000\n",
        "smg_router_upstream_responses_total{status_code=\"500\",error_code=\"\"} 1000\n",
        "smg_http_requests_total{method=\"POST\",path=\"/v1/chat/completions\"} 100\n",
        "smg_gateway_request_duration_seconds_count{route=\"/v1/chat/completions\","
        "model=\"llama\",worker=\"http://w3:1\",status=\"200\"} 100\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(out, want[i]))
            fprintf(stderr, "  missing: %s", want[i]);
        EXPECT(strstr(out, want[i]) != NULL);
    }
    /* the long label set (not memoized): 100 requests */
    char *p = strstr(out, "smg_gateway_requests_total{route=\"/v1/chat/completions\",model=\"mmmm");
    EXPECT(p != NULL);
    if (p) {
        char *eol = strchr(p, '\n');
        EXPECT(eol && eol - p > 4 && strncmp(eol - 4, " 100", 4) == 0);
    }
    free(out);
}

/* ---- concurrency ---------------------------------------------------------------------------- */

enum { NTHREADS = 4, PER_THREAD = 200000 };
static smg_metric_family_t conc_c, conc_h;
static const char *const conc_labels[] = {"worker"};
static atomic_int stop_scraper;

static void *hammer(void *arg) {
    long id = (long)arg;
    smg_str_t shared = S("shared");
    char own[16];
    int n = snprintf(own, sizeof own, "w%ld", id);
    smg_str_t mine = smg_str(own, (size_t)n);
    for (int i = 0; i < PER_THREAD; i++) {
        smg_metric_counter_add(&conc_c, &shared, 1, 1);
        smg_metric_hist_observe(&conc_h, &shared, 1, (i % 4) * 0.5); /* 0, .5, 1, 1.5 */
        if (i % 1000 == 0) {                                          /* new series meanwhile */
            char dyn[24];
            int k = snprintf(dyn, sizeof dyn, "d%ld-%d", id, i / 1000);
            smg_str_t d = smg_str(dyn, (size_t)k);
            smg_metric_counter_add(&conc_c, &d, 1, 1);
            smg_metric_counter_add(&conc_c, &mine, 1, 2);
        }
    }
    return NULL;
}

static void *scraper(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_scraper)) {
        smg_buf_t b;
        smg_buf_init(&b, 0);
        if (smg_metrics_render(&b) != SMG_OK)
            abort();
        smg_buf_free(&b);
    }
    return NULL;
}

TEST(concurrent_increments_sum_exactly) {
    conc_c = (smg_metric_family_t){.name = "t_conc_total", .help = "c", .type = SMG_METRIC_COUNTER,
                                   .labels = conc_labels, .nlabels = 1};
    conc_h = (smg_metric_family_t){.name = "t_conc_seconds", .help = "h",
                                   .type = SMG_METRIC_HISTOGRAM, .labels = conc_labels,
                                   .nlabels = 1, .buckets = hb, .nbuckets = 3};
    EXPECT_EQ_INT(smg_metric_register(&conc_c), SMG_OK);
    EXPECT_EQ_INT(smg_metric_register(&conc_h), SMG_OK);
    pthread_t t[NTHREADS], s;
    pthread_create(&s, NULL, scraper, NULL);
    for (long i = 0; i < NTHREADS; i++)
        pthread_create(&t[i], NULL, hammer, (void *)i);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    atomic_store(&stop_scraper, 1);
    pthread_join(s, NULL);
    char *out = render();
    char want[1024];
    snprintf(want, sizeof want, "t_conc_total{worker=\"shared\"} %d\n", NTHREADS * PER_THREAD);
    EXPECT(strstr(out, want) != NULL);
    snprintf(want, sizeof want, "t_conc_total{worker=\"w2\"} %d\n", 2 * PER_THREAD / 1000);
    EXPECT(strstr(out, want) != NULL);
    EXPECT(strstr(out, "t_conc_total{worker=\"d3-199\"} 1\n") != NULL);
    int q = NTHREADS * PER_THREAD / 4; /* each of 0, .5, 1, 1.5 */
    snprintf(want, sizeof want,
             "t_conc_seconds_bucket{worker=\"shared\",le=\"0.25\"} %d\n"
             "t_conc_seconds_bucket{worker=\"shared\",le=\"1\"} %d\n"
             "t_conc_seconds_bucket{worker=\"shared\",le=\"10\"} %d\n"
             "t_conc_seconds_bucket{worker=\"shared\",le=\"+Inf\"} %d\n"
             "t_conc_seconds_sum{worker=\"shared\"} %d\n"
             "t_conc_seconds_count{worker=\"shared\"} %d\n",
             q, 3 * q, 4 * q, 4 * q, 3 * q, 4 * q);
    EXPECT(strstr(out, want) != NULL);
    size_t lines = 0;
    for (const char *p = out; (p = strstr(p, "t_conc_total{")); p++)
        lines++;
    EXPECT_EQ_INT(lines, 1 + NTHREADS + NTHREADS * PER_THREAD / 1000);
    free(out);
}

static void *add_five(void *arg) {
    smg_metric_counter_add(arg, NULL, 0, 5);
    return NULL;
}

TEST(values_survive_thread_exit) {
    static smg_metric_family_t f = {.name = "t_exit_total", .help = "e",
                                    .type = SMG_METRIC_COUNTER};
    EXPECT_EQ_INT(smg_metric_register(&f), SMG_OK);
    for (int i = 0; i < 3; i++) { /* later threads adopt the shard of earlier ones */
        pthread_t t;
        pthread_create(&t, NULL, add_five, &f);
        pthread_join(t, NULL);
    }
    smg_metric_counter_add(&f, NULL, 0, 1);
    char *out = render();
    EXPECT(strstr(out, "\nt_exit_total 16\n") != NULL);
    free(out);
}

/* ---- callbacks ------------------------------------------------------------------------------ */

static void workers_cb(smg_metric_emit_t *e, void *arg) {
    int *calls = arg;
    (*calls)++;
    smg_str_t b = S("http://b:2"), a = S("http://a:1");
    smg_metric_emit(e, &b, 1, 0);
    smg_metric_emit(e, &a, 1, 1);
    smg_metric_emit(e, &a, 1, 5);     /* duplicate: first value kept */
    smg_metric_emit(e, NULL, 0, 9);   /* wrong label count: ignored */
}

TEST(callback_gauges) {
    static const char *const w[] = {"worker"};
    static smg_metric_family_t f = {.name = "t_worker_health", .help = "Health.",
                                    .type = SMG_METRIC_GAUGE, .labels = w, .nlabels = 1};
    EXPECT_EQ_INT(smg_metric_register(&f), SMG_OK);
    int calls = 0;
    smg_metric_set_collect(&f, workers_cb, &calls);
    char *out = render();
    EXPECT_EQ_INT(calls, 1);
    EXPECT_EQ_STR(out, "# HELP t_worker_health Health.\n# TYPE t_worker_health gauge\n"
                       "t_worker_health{worker=\"http://a:1\"} 1\n"
                       "t_worker_health{worker=\"http://b:2\"} 0\n");
    free(out);
    smg_metric_set_collect(&f, NULL, NULL);
    out = render();
    EXPECT_EQ_STR(out, "");
    free(out);
}

/* ---- smg's families ------------------------------------------------------------------------- */

TEST(smg_families_and_helpers) {
    EXPECT_EQ_INT(smg_metrics_init(), SMG_OK);
    EXPECT_EQ_INT(smg_metrics_init(), SMG_OK);
    smg_metrics_http_request(S("POST"), S("/v1/chat/completions"), 200, S(""), 0.3);
    smg_metrics_connections_add(1);
    smg_metrics_request_done(&(smg_metrics_request_t){.route = S("/v1/chat/completions"),
                                                      .model = S("llama"),
                                                      .worker = S("http://w:1"),
                                                      .status = 200,
                                                      .streaming = true,
                                                      .seconds = 2,
                                                      .ttft_seconds = 0.2});
    smg_metrics_request_done(&(smg_metrics_request_t){.route = S("/v1/chat/completions"),
                                                      .model = S("llama"),
                                                      .status = 503,
                                                      .error_type = S("no_healthy_worker"),
                                                      .seconds = 0.001,
                                                      .ttft_seconds = -1});
    smg_metrics_upstream_response(200, S(""));
    smg_metrics_worker_selected(S("llama"), S("round_robin"), S("http://w:1"));
    smg_metrics_worker_error(S("http://w:1"), S("connect"));
    smg_metrics_worker_retry(S("http://w:2"));
    smg_metrics_health_check(S("http://w:1"), false);
    smg_metrics_worker_pool_size(2);
    char *out = render();
    const char *want[] = {
        "smg_http_requests_total{method=\"POST\",path=\"/v1/chat/completions\"} 1\n",
        "smg_http_request_duration_seconds_count{method=\"POST\",path=\"/v1/chat/completions\"} 1\n",
        "smg_http_responses_total{path=\"/v1/chat/completions\",status_code=\"200\",error_code=\"\"} 1\n",
        "smg_http_connections_active 1\n",
        "smg_router_requests_total{model=\"llama\",endpoint=\"/v1/chat/completions\",streaming=\"true\"} 1\n",
        "smg_router_requests_total{model=\"llama\",endpoint=\"/v1/chat/completions\",streaming=\"false\"} 1\n",
        "smg_router_request_duration_seconds_count{model=\"llama\",endpoint=\"/v1/chat/completions\"} 2\n",
        "smg_router_ttft_seconds_bucket{model=\"llama\",le=\"0.25\"} 1\n",
        "smg_router_ttft_seconds_count{model=\"llama\"} 1\n",
        "smg_router_request_errors_total{model=\"llama\",endpoint=\"/v1/chat/completions\",error_type=\"no_healthy_worker\"} 1\n",
        "smg_router_upstream_responses_total{status_code=\"200\",error_code=\"\"} 1\n",
        "smg_worker_selection_total{model=\"llama\",policy=\"round_robin\",worker=\"http://w:1\"} 1\n",
        "smg_worker_errors_total{worker=\"http://w:1\",error_type=\"connect\"} 1\n",
        "smg_worker_retries_total{worker=\"http://w:2\"} 1\n",
        "smg_worker_health_checks_total{worker=\"http://w:1\",result=\"failure\"} 1\n",
        "smg_worker_pool_size 2\n",
        "smg_gateway_requests_total{route=\"/v1/chat/completions\",model=\"llama\",worker=\"http://w:1\",status=\"200\"} 1\n",
        "smg_gateway_requests_total{route=\"/v1/chat/completions\",model=\"llama\",worker=\"\",status=\"503\"} 1\n",
        "smg_gateway_request_duration_seconds_bucket{route=\"/v1/chat/completions\",model=\"llama\",worker=\"\",status=\"503\",le=\"0.001\"} 1\n",
        "# TYPE smg_gateway_request_duration_seconds histogram\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(out, want[i]))
            fprintf(stderr, "  missing: %s", want[i]);
        EXPECT(strstr(out, want[i]) != NULL);
    }
    /* Families appear in name order. */
    EXPECT(strstr(out, "# TYPE smg_gateway_requests_total") <
           strstr(out, "# TYPE smg_http_connections_active"));
    EXPECT(strstr(out, "# TYPE smg_router_ttft_seconds") <
           strstr(out, "# TYPE smg_worker_errors_total"));
    free(out);
}

/* ---- a strict check of the text format ------------------------------------------------------ */

/* Validate exposition 0.0.4 line by line: HELP then TYPE once per family before its samples,
 * metric and label names well formed, label values properly escaped, values parseable,
 * histogram buckets ascending with +Inf last and _count equal to it, no duplicate series.
 * Returns NULL when valid, else a static description. */
static const char *strict_check(const char *text) {
    static char why[200];
    char fam[2048] = "", type[32] = "";
    char prev_series[1200] = "";
    double last_le = -INFINITY, inf_count = -1;
    int line_no = 0;
    for (const char *p = text; *p;) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            return "last line has no newline";
        line_no++;
        size_t len = (size_t)(nl - p);
        char line[2048];
        if (len >= sizeof line)
            return "line too long for the checker";
        memcpy(line, p, len);
        line[len] = 0;
        p = nl + 1;
        if (!strncmp(line, "# HELP ", 7)) {
            char *sp = strchr(line + 7, ' ');
            if (!sp)
                return "HELP without text";
            *sp = 0;
            if (!strcmp(line + 7, fam))
                return "family repeated";
            snprintf(fam, sizeof fam, "%s", line + 7);
            type[0] = 0;
            for (char *q = sp + 1; *q; q++)
                if (*q == '\\' && q[1] != '\\' && q[1] != 'n')
                    return "bad escape in HELP";
                else if (*q == '\\')
                    q++;
            continue;
        }
        if (!strncmp(line, "# TYPE ", 7)) {
            char n[128], t[32];
            if (sscanf(line + 7, "%127s %31s", n, t) != 2 || strcmp(n, fam) || type[0])
                return "TYPE does not follow its HELP";
            if (strcmp(t, "counter") && strcmp(t, "gauge") && strcmp(t, "histogram"))
                return "unknown TYPE";
            snprintf(type, sizeof type, "%s", t);
            continue;
        }
        if (line[0] == '#' || !type[0])
            return "sample before TYPE or stray comment";
        /* name */
        size_t i = 0;
        while (line[i] && (isalnum((unsigned char)line[i]) || line[i] == '_' || line[i] == ':'))
            i++;
        if (i == 0 || isdigit((unsigned char)line[0]))
            return "bad metric name";
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)i, line);
        size_t fl = strlen(fam);
        const char *suffix = strncmp(name, fam, fl) ? NULL : name + fl;
        if (!suffix)
            return "sample of another family";
        if (!strcmp(type, "histogram") ? strcmp(suffix, "_bucket") && strcmp(suffix, "_sum") &&
                                             strcmp(suffix, "_count")
                                       : *suffix != 0)
            return "bad sample suffix for the family type";
        double le = NAN;
        char series_key[1024];
        size_t sk = 0;
        if (line[i] == '{') {
            i++;
            bool first = true;
            while (line[i] != '}') {
                if (!first) {
                    if (line[i] != ',')
                        return "expected ',' between labels";
                    i++;
                }
                first = false;
                size_t s = i;
                while (isalnum((unsigned char)line[i]) || line[i] == '_')
                    i++;
                if (i == s || isdigit((unsigned char)line[s]))
                    return "bad label name";
                bool is_le = i - s == 2 && !strncmp(line + s, "le", 2);
                if (line[i++] != '=' || line[i++] != '"')
                    return "expected =\"";
                size_t vs = i;
                while (line[i] != '"') {
                    if (!line[i])
                        return "unterminated label value";
                    if (line[i] == '\\') {
                        if (line[i + 1] != '\\' && line[i + 1] != '"' && line[i + 1] != 'n')
                            return "bad escape in label value";
                        i++;
                    }
                    i++;
                }
                if (is_le) {
                    char lv[40];
                    snprintf(lv, sizeof lv, "%.*s", (int)(i - vs), line + vs);
                    le = !strcmp(lv, "+Inf") ? INFINITY : strtod(lv, NULL);
                } else if (sk + (i - s) + 2 < sizeof series_key) {
                    memcpy(series_key + sk, line + s, i - s);
                    sk += i - s;
                    series_key[sk++] = ';';
                }
                i++;
            }
            i++;
        }
        series_key[sk] = 0;
        if (line[i++] != ' ')
            return "expected one space before the value";
        char *end;
        const char *val = line + i;
        double v = !strcmp(val, "+Inf") ? INFINITY
                   : !strcmp(val, "-Inf") ? -INFINITY
                   : !strcmp(val, "NaN")  ? NAN
                                          : strtod(val, &end);
        if (strcmp(val, "+Inf") && strcmp(val, "-Inf") && strcmp(val, "NaN") &&
            (end == val || *end))
            return "bad value";
        char full[1200];
        snprintf(full, sizeof full, "%s|%s|%g", name, series_key, le);
        if (!strcmp(full, prev_series))
            return "duplicate series";
        snprintf(prev_series, sizeof prev_series, "%s", full);
        if (suffix && !strcmp(suffix, "_bucket")) {
            if (isnan(le))
                return "bucket without le";
            if (le <= last_le && last_le != -INFINITY)
                last_le = -INFINITY; /* next series of the family starts */
            if (isinf(le))
                inf_count = v;
            last_le = isinf(le) ? -INFINITY : le;
        } else if (suffix && !strcmp(suffix, "_count") && !strcmp(type, "histogram")) {
            if (v != inf_count)
                return "_count differs from the +Inf bucket";
        }
    }
    (void)why;
    return NULL;
}

/* Status codes become label text without printf: every width, and values
 * outside 0..999 as "0". */
TEST(status_code_labels) {
    EXPECT_EQ_INT(smg_metrics_init(), SMG_OK);
    static const int codes[] = {0, 7, 42, 100, 200, 404, 999, 1000, -5};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        smg_metrics_upstream_response(codes[i], S("x"));
    char *out = render();
    static const char *const want[] = {"0", "7", "42", "100", "200", "404", "999"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char line[160];
        snprintf(line, sizeof line,
                 "smg_router_upstream_responses_total{status_code=\"%s\",error_code=\"x\"} %d\n",
                 want[i], i == 0 ? 3 : 1);
        if (!strstr(out, line))
            fprintf(stderr, "  missing: %s", line);
        EXPECT(strstr(out, line) != NULL);
    }
    free(out);
}

TEST(full_output_passes_strict_check) {
    EXPECT_EQ_INT(smg_metrics_init(), SMG_OK);
    smg_metrics_request_done(&(smg_metrics_request_t){.route = S("/v1/completions"),
                                                      .model = S("m\"odel\n"),
                                                      .worker = S("http://w:1"),
                                                      .status = 200,
                                                      .seconds = 1e-9,
                                                      .ttft_seconds = 1e9});
    smg_metrics_http_request(S("GET"), S("/health"), 200, S(""), 0.0001);
    char *out = render();
    const char *why = strict_check(out);
    if (why)
        fprintf(stderr, "  strict check: %s\n", why);
    EXPECT(why == NULL);
    /* The checker itself catches a broken exposition. */
    EXPECT(strict_check("# HELP a h\n# TYPE a counter\na{x=\"\\q\"} 1\n") != NULL);
    EXPECT(strict_check("# HELP a h\n# TYPE a counter\na 1\na 1\n") != NULL);
    EXPECT(strict_check("# HELP a h\n# TYPE a histogram\na_bucket{le=\"+Inf\"} 2\na_count 1\n") !=
           NULL);
    free(out);
}

/* ---- cost on the hot path (printed, never asserted) ------------------------------------------ */

TEST(hot_path_cost) {
    EXPECT_EQ_INT(smg_metrics_init(), SMG_OK);
    smg_str_t g[] = {S("/v1/chat/completions"), S("meta-llama/Llama-3.1-8B-Instruct"),
                     S("http://10.0.0.12:8000"), S("200")};
    /* Thread CPU time, best of 5 rounds: the machine is shared, wall time is noisy. */
    enum { N = 400000, ROUNDS = 5 };
    double best = 1e30;
    for (int r = 0; r < ROUNDS; r++) {
        struct timespec a, b;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        for (int i = 0; i < N; i++) {
            smg_metric_counter_add(&smg_fam_gateway_requests_total, g, 4, 1);
            smg_metric_hist_observe(&smg_fam_gateway_request_duration_seconds, g, 4, i * 1e-6);
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / N;
        best = ns < best ? ns : best;
    }
    fprintf(stderr, "  hot path: counter_add + hist_observe (4 labels) = %.1f ns per pair\n",
            best);
    char *out = render();
    EXPECT(strstr(out, "status=\"200\"} 2000000\n") != NULL);
    free(out);
}

/* ---- the cap under concurrency ------------------------------------------------------------- */

static smg_metric_family_t capc;
static void *many_models(void *arg) {
    long id = (long)arg;
    for (int i = 0; i < 400; i++) {
        char m[16];
        int k = snprintf(m, sizeof m, "m%d", (int)((i * 7 + id * 13) % 300));
        smg_str_t l = smg_str(m, (size_t)k);
        smg_metric_counter_add(&capc, &l, 1, 1);
    }
    return NULL;
}

TEST(series_cap_under_concurrency_keeps_every_sample) {
    static const char *const m[] = {"model"};
    capc = (smg_metric_family_t){.name = "t_capc_total", .help = "c", .type = SMG_METRIC_COUNTER,
                                 .labels = m, .nlabels = 1, .max_series = 50};
    EXPECT_EQ_INT(smg_metric_register(&capc), SMG_OK);
    pthread_t t[4];
    for (long i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, many_models, (void *)i);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    char *out = render();
    /* Exactly 50 series plus "other", and no sample lost: they sum to 4 x 400. */
    size_t series = 0;
    double sum = 0, dropped = -1;
    for (char *p = out; (p = strstr(p, "\nt_capc_total{")); p++) {
        series++;
        sum += strtod(strchr(p, '}') + 2, NULL);
    }
    char *d = strstr(out, "smg_metrics_dropped_series_total{family=\"t_capc_total\"} ");
    if (d)
        dropped = strtod(strchr(d, '}') + 2, NULL);
    EXPECT_EQ_INT(series, 51);
    EXPECT(strstr(out, "t_capc_total{model=\"other\"} ") != NULL);
    EXPECT_EQ_DBL(sum, 1600, 0);
    char *o = strstr(out, "t_capc_total{model=\"other\"} ");
    EXPECT_EQ_DBL(dropped, o ? strtod(strchr(o, '}') + 2, NULL) : -2, 0);
    free(out);
}

/* ---- the real Prometheus parser, when installed (Debian package "prometheus") ---------------- */

TEST(promtool_accepts_the_exposition) {
    if (access("/usr/bin/promtool", X_OK) != 0) {
        fprintf(stderr, "  promtool not installed: check skipped\n");
        return;
    }
    EXPECT_EQ_INT(smg_metrics_init(), SMG_OK);
    smg_metrics_request_done(&(smg_metrics_request_t){.route = S("/v1/chat/completions"),
                                                      .model = S("we\"ird\\\nmo\xff" "del"),
                                                      .worker = S("http://w:1"),
                                                      .status = 200,
                                                      .streaming = true,
                                                      .seconds = 0.5,
                                                      .ttft_seconds = 0.1});
    smg_metrics_http_request(S("GET"), S("/health"), 200, S(""), 0.0001);
    smg_metrics_connections_add(3);
    smg_metrics_worker_pool_size(1);
    char *out = render();
    FILE *p = popen("promtool check metrics >/dev/null 2>&1", "w");
    EXPECT(p != NULL);
    fputs(out, p);
    EXPECT_EQ_INT(pclose(p), 0);
    /* and promtool does reject a broken text */
    p = popen("promtool check metrics >/dev/null 2>&1", "w");
    fputs("# HELP x h\n# TYPE x counter\nx_total{a=\"1} 1\n", p);
    EXPECT(pclose(p) != 0);
    free(out);
}

/* ---- hostile label values ------------------------------------------------------------------- */

TEST(invalid_utf8_values_that_render_alike_are_one_series) {
    static const char *const m[] = {"model"};
    static smg_metric_family_t f = {.name = "t_inv_total", .help = "i",
                                    .type = SMG_METRIC_COUNTER, .labels = m, .nlabels = 1};
    EXPECT_EQ_INT(smg_metric_register(&f), SMG_OK);
    smg_str_t a = S("m\xff"), b = S("m\xfe"), c = S("m\xef\xbf\xbd"); /* the last is U+FFFD */
    smg_metric_counter_add(&f, &a, 1, 1);
    smg_metric_counter_add(&f, &b, 1, 1);
    smg_metric_counter_add(&f, &c, 1, 1);
    char *out = render();
    EXPECT_EQ_STR(out, "# HELP t_inv_total i\n# TYPE t_inv_total counter\n"
                       "t_inv_total{model=\"m\xef\xbf\xbd\"} 3\n");
    free(out);
}

static int cmp_line(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST(random_label_bytes_render_valid_unique_lines) {
    static const char *const m[] = {"a", "b"};
    static smg_metric_family_t f = {.name = "t_rand_total", .help = "r",
                                    .type = SMG_METRIC_COUNTER, .labels = m, .nlabels = 2};
    EXPECT_EQ_INT(smg_metric_register(&f), SMG_OK);
    uint64_t x = 0x243F6A8885A308D3ull; /* fixed seed: reproducible */
    for (int i = 0; i < 3000; i++) {
        char v[2][200];
        size_t len[2];
        for (int k = 0; k < 2; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            len[k] = x % 190;
            for (size_t j = 0; j < len[k]; j++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                /* mostly bytes that matter: quotes, backslashes, newlines, high bytes */
                static const char pick[] = "\"\\\n\x80\xbf\xc3\xe2\xf0\xff" "ab";
                v[k][j] = (x & 1) ? pick[(x >> 8) % (sizeof pick - 1)] : (char)(x >> 16);
            }
        }
        smg_str_t l[] = {smg_str(v[0], len[0]), smg_str(v[1], len[1])};
        smg_metric_counter_add(&f, l, 2, 1);
    }
    char *out = render();
    /* valid UTF-8 throughout, checked by utf8proc (not our decoder) */
    const char *p = out;
    size_t total = strlen(out), off = 0;
    while (off < total) {
        int32_t cp;
        ssize_t n = utf8proc_iterate((const uint8_t *)p + off, (ssize_t)(total - off), &cp);
        if (n <= 0) {
            fprintf(stderr, "  invalid UTF-8 at byte %zu\n", off);
            EXPECT(n > 0);
            break;
        }
        off += (size_t)n;
    }
    const char *why = strict_check(out);
    if (why)
        fprintf(stderr, "  strict check: %s\n", why);
    EXPECT(why == NULL);
    /* no two series render alike, and all 3000 samples are there */
    char **lines = malloc(4000 * sizeof *lines);
    size_t nl = 0;
    double sum = 0;
    for (char *s = out, *e; *s && nl < 4000; s = e + 1) {
        e = strchr(s, '\n');
        if (!e)
            break;
        *e = '\0';
        if (s[0] == '#')
            continue;
        lines[nl++] = s;
        sum += strtod(strrchr(s, ' ') + 1, NULL);
    }
    EXPECT_EQ_DBL(sum, 3000, 0);
    qsort(lines, nl, sizeof *lines, cmp_line);
    for (size_t i = 1; i < nl; i++) {
        char *sa = strrchr(lines[i - 1], ' '), *sb = strrchr(lines[i], ' ');
        EXPECT(sa - lines[i - 1] != sb - lines[i] ||
               memcmp(lines[i - 1], lines[i], (size_t)(sa - lines[i - 1])) != 0);
    }
    free(lines);
    free(out);
}
