/* random, round_robin, power_of_two: the policies that need no request
 * content. See docs/policies.md. */
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "policy/policy.h"

typedef struct {
    smg_policy_t base;
    _Atomic uint64_t next;
} rr_policy_t;

static smg_policy_t *rr_create(void) {
    rr_policy_t *p = calloc(1, sizeof *p);
    return p ? &p->base : NULL;
}

/* A shared counter, as the reference does: requests are spread evenly over the
 * candidates whatever thread they arrive on. One relaxed fetch_add per request. */
static int rr_select(smg_policy_t *base, smg_worker_t *const *cands, size_t n,
                     const smg_policy_ctx_t *ctx) {
    rr_policy_t *p = (rr_policy_t *)base;
    uint64_t k = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
    return (int)(k % n);
}

static smg_policy_t *plain_create(void) {
    return calloc(1, sizeof(smg_policy_t));
}

static int random_select(smg_policy_t *base, smg_worker_t *const *cands, size_t n,
                         const smg_policy_ctx_t *ctx) {
    return (int)smg_rand_below((uint32_t)n);
}

/* Two distinct random candidates; the one with fewer in-flight requests wins,
 * ties go to the first draw. */
static int p2_select(smg_policy_t *base, smg_worker_t *const *cands, size_t n,
                     const smg_policy_ctx_t *ctx) {
    if (n == 1)
        return 0;
    uint32_t a = smg_rand_below((uint32_t)n);
    uint32_t b = smg_rand_below((uint32_t)n - 1);
    if (b >= a)
        b++;
    int64_t la = atomic_load_explicit(&cands[a]->in_flight, memory_order_relaxed);
    int64_t lb = atomic_load_explicit(&cands[b]->in_flight, memory_order_relaxed);
    return (int)(lb < la ? b : a);
}

static void plain_destroy(smg_policy_t *p) {
    free(p);
}

static const smg_policy_ops_t random_ops = {
    .name = "random",
    .help = "uniform over healthy workers",
    .create = plain_create,
    .select = random_select,
    .destroy = plain_destroy,
};
static const smg_policy_ops_t rr_ops = {
    .name = "round_robin",
    .help = "healthy workers in turn (shared atomic counter)",
    .create = rr_create,
    .select = rr_select,
    .destroy = plain_destroy,
};
static const smg_policy_ops_t p2_ops = {
    .name = "power_of_two",
    .help = "fewer in-flight requests of two random healthy workers",
    .create = plain_create,
    .select = p2_select,
    .destroy = plain_destroy,
};

static const smg_policy_ops_t *const all_policies[] = {&random_ops, &rr_ops, &p2_ops};

const smg_policy_ops_t *const *smg_policy_all(size_t *n) {
    *n = sizeof all_policies / sizeof all_policies[0];
    return all_policies;
}

smg_policy_t *smg_policy_create(const char *name) {
    for (size_t i = 0; i < sizeof all_policies / sizeof all_policies[0]; i++) {
        if (strcmp(all_policies[i]->name, name) == 0) {
            smg_policy_t *p = all_policies[i]->create();
            if (!p)
                return NULL;
            p->ops = all_policies[i];
            atomic_init(&p->refs, 1);
            return p;
        }
    }
    return NULL;
}

void smg_policy_ref(smg_policy_t *p) {
    atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void smg_policy_unref(smg_policy_t *p) {
    if (p && atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) == 1)
        p->ops->destroy(p);
}
