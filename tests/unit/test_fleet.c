#include <pthread.h>
#include <stdlib.h>

#include "fleet/registry.h"
#include "fleet/worker.h"
#include "policy/policy.h"
#include "unit.h"

TEST(worker_url_parsing) {
    char err[200];
    smg_worker_t *w = smg_worker_new("http://127.0.0.1:8001/", err, sizeof err);
    EXPECT(w != NULL);
    EXPECT_EQ_STR(w->host, "127.0.0.1");
    EXPECT_EQ_INT(w->port, 8001);
    EXPECT_EQ_STR(w->base_path, "");
    EXPECT_EQ_STR(w->url, "http://127.0.0.1:8001");
    EXPECT_EQ_STR(w->host_header, "127.0.0.1:8001");
    smg_worker_unref(w);
    w = smg_worker_new("http://[::1]:9/api/v2", err, sizeof err);
    EXPECT(w != NULL);
    EXPECT_EQ_STR(w->host, "::1");
    EXPECT_EQ_INT(w->port, 9);
    EXPECT_EQ_STR(w->base_path, "/api/v2");
    EXPECT_EQ_STR(w->host_header, "[::1]:9");
    smg_worker_unref(w);
    w = smg_worker_new("http://engine", err, sizeof err);
    EXPECT(w != NULL && w->port == 80);
    smg_worker_unref(w);
    const char *bad[] = {"ftp://x", "http://", "http://h:0", "http://h:70000", "http://h:12a",
                         "http://[::1", "https://x:1", "127.0.0.1:8000", "http://a b:1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        w = smg_worker_new(bad[i], err, sizeof err);
        if (w)
            fprintf(stderr, "  accepted %s\n", bad[i]);
        EXPECT(w == NULL);
        EXPECT(err[0] != 0);
    }
}

static smg_worker_t *mk(const char *url, const char *model) {
    char err[100];
    smg_worker_t *w = smg_worker_new(url, err, sizeof err);
    if (model) {
        const char *m[] = {model};
        EXPECT_EQ_INT(smg_worker_set_models(w, m, 1), SMG_OK);
    }
    return w;
}

TEST(registry_groups) {
    smg_fleet_t *f = smg_fleet_new("round_robin");
    EXPECT(f != NULL);
    const smg_fleet_snap_t *s = smg_fleet_snapshot(f);
    EXPECT(smg_fleet_group(s, SMG_STR("m")) == NULL);
    EXPECT_EQ_INT(smg_fleet_add(f, mk("http://a:1", "llama")), SMG_OK);
    EXPECT_EQ_INT(smg_fleet_add(f, mk("http://b:1", "qwen")), SMG_OK);
    EXPECT_EQ_INT(smg_fleet_add(f, mk("http://c:1", "llama")), SMG_OK);
    smg_worker_t *dup = mk("http://a:1", NULL);
    EXPECT_EQ_INT(smg_fleet_add(f, dup), SMG_EEXIST);
    smg_worker_unref(dup);
    s = smg_fleet_snapshot(f);
    EXPECT_EQ_INT(s->nworkers, 3);
    const smg_model_group_t *g = smg_fleet_group(s, SMG_STR("llama"));
    EXPECT(g && g->n == 2);
    EXPECT(smg_fleet_group(s, SMG_STR("qwen"))->n == 1);
    EXPECT(smg_fleet_group(s, SMG_STR("gpt")) == NULL);
    EXPECT(smg_fleet_group(s, SMG_STR(""))->n == 3);
    /* a wildcard worker joins every group and serves unknown models */
    EXPECT_EQ_INT(smg_fleet_add(f, mk("http://d:1", NULL)), SMG_OK);
    s = smg_fleet_snapshot(f);
    EXPECT(smg_fleet_group(s, SMG_STR("llama"))->n == 3);
    EXPECT(smg_fleet_group(s, SMG_STR("gpt"))->n == 1);
    /* policy instance persists per model across snapshots */
    smg_policy_t *p1 = smg_fleet_group(s, SMG_STR("llama"))->policy;
    smg_worker_t *w = smg_fleet_remove(f, SMG_STR("nope"));
    EXPECT(w == NULL);
    smg_worker_t *b = smg_fleet_find(f, SMG_STR("http://b:1"));
    EXPECT(b != NULL);
    w = smg_fleet_remove(f, smg_str_c(b->id));
    EXPECT(w == b);
    smg_worker_unref(w);
    smg_worker_unref(b);
    s = smg_fleet_snapshot(f);
    EXPECT(smg_fleet_group(s, SMG_STR("llama"))->policy == p1);
    EXPECT(smg_fleet_group(s, SMG_STR("qwen")) == smg_fleet_group(s, SMG_STR("gpt")));
    EXPECT_EQ_INT(s->nworkers, 3);
    EXPECT_EQ_INT(smg_fleet_ready_count(s), 0);
    atomic_store(&s->workers[0]->state, SMG_WORKER_READY);
    EXPECT_EQ_INT(smg_fleet_ready_count(s), 1);
    smg_fleet_free(f);
}

static smg_worker_t *cands[4];

TEST(round_robin_even) {
    for (int i = 0; i < 4; i++)
        cands[i] = mk("http://x:1", NULL);
    smg_policy_t *p = smg_policy_create("round_robin");
    int counts[4] = {0};
    smg_policy_ctx_t ctx = {0};
    for (int i = 0; i < 400; i++)
        counts[smg_policy_select(p, cands, 4, &ctx)]++;
    for (int i = 0; i < 4; i++)
        EXPECT_EQ_INT(counts[i], 100);
    EXPECT_EQ_INT(smg_policy_select(p, cands, 0, &ctx), -1);
    smg_policy_unref(p);
    for (int i = 0; i < 4; i++)
        smg_worker_unref(cands[i]);
}

TEST(power_of_two_prefers_less_loaded) {
    for (int i = 0; i < 4; i++)
        cands[i] = mk("http://x:1", NULL);
    atomic_store(&cands[0]->in_flight, 0);
    for (int i = 1; i < 4; i++)
        atomic_store(&cands[i]->in_flight, 10);
    smg_policy_t *p = smg_policy_create("power_of_two");
    smg_policy_ctx_t ctx = {0};
    int zero = 0;
    for (int i = 0; i < 3000; i++)
        zero += smg_policy_select(p, cands, 4, &ctx) == 0;
    /* worker 0 is in the pair with probability 1/2 and then always wins */
    EXPECT(zero > 1300 && zero < 1700);
    /* two candidates: the lighter always wins */
    for (int i = 0; i < 100; i++)
        EXPECT_EQ_INT(smg_policy_select(p, cands, 2, &ctx), 0);
    smg_policy_unref(p);
    for (int i = 0; i < 4; i++)
        smg_worker_unref(cands[i]);
}

TEST(random_spreads) {
    for (int i = 0; i < 4; i++)
        cands[i] = mk("http://x:1", NULL);
    smg_policy_t *p = smg_policy_create("random");
    smg_policy_ctx_t ctx = {0};
    int counts[4] = {0};
    for (int i = 0; i < 4000; i++)
        counts[smg_policy_select(p, cands, 4, &ctx)]++;
    for (int i = 0; i < 4; i++)
        EXPECT(counts[i] > 800 && counts[i] < 1200);
    EXPECT(smg_policy_create("cache_aware") == NULL);
    smg_policy_unref(p);
    for (int i = 0; i < 4; i++)
        smg_worker_unref(cands[i]);
}

static smg_fleet_t *shared;
static _Atomic int stop_readers;

static void *reader(void *arg) {
    (void)arg;
    long seen = 0;
    while (!atomic_load(&stop_readers)) {
        const smg_fleet_snap_t *s = smg_fleet_snapshot(shared);
        for (size_t i = 0; i < s->nworkers; i++)
            seen += s->workers[i]->port;
    }
    smg_fleet_thread_release(shared);
    return (void *)seen;
}

TEST(snapshots_under_concurrent_publish) {
    shared = smg_fleet_new("random");
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&th[i], NULL, reader, NULL);
    char url[64];
    for (int i = 0; i < 300; i++) {
        snprintf(url, sizeof url, "http://h%d:%d", i, i + 1);
        EXPECT_EQ_INT(smg_fleet_add(shared, mk(url, i % 2 ? "a" : "b")), SMG_OK);
        if (i % 3 == 0) {
            smg_worker_t *w = smg_fleet_remove(shared, smg_str_c(smg_fleet_snapshot(shared)->workers[0]->id));
            smg_worker_unref(w);
        }
    }
    atomic_store(&stop_readers, 1);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    EXPECT_EQ_INT(smg_fleet_snapshot(shared)->nworkers, 200);
    smg_fleet_free(shared);
}
