#include "fleet/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"

typedef struct {
    char *model;
    smg_policy_t *policy;
} policy_slot_t;

struct smg_fleet_s {
    pthread_mutex_t mu;
    char *policy_name;
    smg_worker_t **workers; /* registry order; one reference each */
    size_t nworkers, capworkers;
    policy_slot_t *policies; /* per model id, persists across snapshots */
    size_t npolicies;
    smg_policy_t *any_policy, *wildcard_policy;
    smg_fleet_snap_t *current; /* protected by mu; one reference */
    uint64_t next_id;          /* protected by mu */
    _Atomic uint64_t version;
};

typedef struct {
    smg_fleet_t *fleet;
    smg_fleet_snap_t *snap;
    uint64_t version;
} tl_cache_t;
static _Thread_local tl_cache_t tl;

static void group_free(smg_model_group_t *g) {
    if (g->workers)
        for (size_t i = 0; i < g->n; i++)
            smg_worker_unref(g->workers[i]);
    free(g->workers);
    free(g->model);
    smg_policy_unref(g->policy);
}

void smg_fleet_snapshot_unref(smg_fleet_snap_t *s) {
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->ngroups; i++)
        group_free(&s->groups[i]);
    free(s->groups);
    group_free(&s->any);
    group_free(&s->wildcard);
    for (size_t i = 0; i < s->nworkers; i++)
        smg_worker_unref(s->workers[i]);
    free(s->workers);
    free(s);
}

static smg_policy_t *policy_for(smg_fleet_t *f, const char *model) {
    for (size_t i = 0; i < f->npolicies; i++)
        if (strcmp(f->policies[i].model, model) == 0)
            return f->policies[i].policy;
    policy_slot_t *np = realloc(f->policies, (f->npolicies + 1) * sizeof *np);
    if (!np)
        return NULL;
    f->policies = np;
    smg_policy_t *p = smg_policy_create(f->policy_name);
    char *m = strdup(model);
    if (!p || !m) {
        smg_policy_unref(p);
        free(m);
        return NULL;
    }
    f->policies[f->npolicies++] = (policy_slot_t){m, p};
    return p;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int group_init(smg_model_group_t *g, const char *model, smg_policy_t *p, size_t cap) {
    memset(g, 0, sizeof *g);
    g->model = model ? strdup(model) : NULL;
    g->workers = calloc(cap ? cap : 1, sizeof *g->workers);
    if ((model && !g->model) || !g->workers)
        return SMG_ENOMEM;
    g->policy = p;
    smg_policy_ref(p);
    return SMG_OK;
}

static void group_push(smg_model_group_t *g, smg_worker_t *w) {
    smg_worker_ref(w);
    g->workers[g->n++] = w;
}

/* Caller holds f->mu. */
static int publish_locked(smg_fleet_t *f) {
    smg_fleet_snap_t *s = calloc(1, sizeof *s);
    if (!s)
        return SMG_ENOMEM;
    atomic_init(&s->refs, 1);
    int rc = SMG_OK;
    s->workers = calloc(f->nworkers ? f->nworkers : 1, sizeof *s->workers);
    if (!s->workers)
        rc = SMG_ENOMEM;
    for (size_t i = 0; !rc && i < f->nworkers; i++) {
        smg_worker_ref(f->workers[i]);
        s->workers[s->nworkers++] = f->workers[i];
    }
    /* distinct model ids */
    size_t total = 0;
    for (size_t i = 0; i < f->nworkers; i++)
        total += f->workers[i]->nmodels;
    const char **names = calloc(total ? total : 1, sizeof *names);
    if (!names)
        rc = SMG_ENOMEM;
    size_t nnames = 0;
    for (size_t i = 0; !rc && i < f->nworkers; i++)
        for (size_t j = 0; j < f->workers[i]->nmodels; j++)
            names[nnames++] = f->workers[i]->models[j];
    if (!rc)
        qsort(names, nnames, sizeof *names, cmp_str);
    size_t ndistinct = 0;
    for (size_t i = 0; !rc && i < nnames; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0)
            names[ndistinct++] = names[i];
    rc = rc ? rc : group_init(&s->any, NULL, f->any_policy, f->nworkers);
    rc = rc ? rc : group_init(&s->wildcard, NULL, f->wildcard_policy, f->nworkers);
    if (!rc) {
        s->groups = calloc(ndistinct ? ndistinct : 1, sizeof *s->groups);
        if (!s->groups)
            rc = SMG_ENOMEM;
    }
    for (size_t i = 0; !rc && i < f->nworkers; i++) {
        group_push(&s->any, f->workers[i]);
        if (f->workers[i]->nmodels == 0)
            group_push(&s->wildcard, f->workers[i]);
    }
    for (size_t g = 0; !rc && g < ndistinct; g++) {
        smg_policy_t *p = policy_for(f, names[g]);
        if (!p) {
            rc = SMG_ENOMEM;
            break;
        }
        rc = group_init(&s->groups[g], names[g], p, f->nworkers);
        if (rc)
            break;
        s->ngroups++;
        for (size_t i = 0; i < f->nworkers; i++) {
            smg_worker_t *w = f->workers[i];
            if (w->nmodels == 0 || smg_worker_serves(w, smg_str_c(names[g])))
                group_push(&s->groups[g], w);
        }
    }
    free(names);
    if (rc) {
        smg_fleet_snapshot_unref(s);
        return rc;
    }
    /* drop policies of models that no longer have a worker */
    size_t keep = 0;
    for (size_t i = 0; i < f->npolicies; i++) {
        bool used = false;
        for (size_t g = 0; g < s->ngroups && !used; g++)
            used = strcmp(s->groups[g].model, f->policies[i].model) == 0;
        if (used) {
            f->policies[keep++] = f->policies[i];
        } else {
            free(f->policies[i].model);
            smg_policy_unref(f->policies[i].policy);
        }
    }
    f->npolicies = keep;
    s->version = atomic_load(&f->version) + 1;
    smg_fleet_snap_t *old = f->current;
    f->current = s;
    atomic_store_explicit(&f->version, s->version, memory_order_release);
    smg_fleet_snapshot_unref(old);
    return SMG_OK;
}

smg_fleet_t *smg_fleet_new(const char *policy_name) {
    smg_fleet_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    pthread_mutex_init(&f->mu, NULL);
    f->policy_name = strdup(policy_name);
    f->any_policy = smg_policy_create(policy_name);
    f->wildcard_policy = smg_policy_create(policy_name);
    if (!f->policy_name || !f->any_policy || !f->wildcard_policy) {
        smg_fleet_free(f);
        return NULL;
    }
    pthread_mutex_lock(&f->mu);
    int rc = publish_locked(f);
    pthread_mutex_unlock(&f->mu);
    if (rc) {
        smg_fleet_free(f);
        return NULL;
    }
    return f;
}

void smg_fleet_free(smg_fleet_t *f) {
    if (!f)
        return;
    smg_fleet_thread_release(f);
    smg_fleet_snapshot_unref(f->current);
    for (size_t i = 0; i < f->nworkers; i++)
        smg_worker_unref(f->workers[i]);
    free(f->workers);
    for (size_t i = 0; i < f->npolicies; i++) {
        free(f->policies[i].model);
        smg_policy_unref(f->policies[i].policy);
    }
    free(f->policies);
    smg_policy_unref(f->any_policy);
    smg_policy_unref(f->wildcard_policy);
    free(f->policy_name);
    pthread_mutex_destroy(&f->mu);
    free(f);
}

const char *smg_fleet_policy_name(const smg_fleet_t *f) {
    return f->policy_name;
}

int smg_fleet_add(smg_fleet_t *f, smg_worker_t *w) {
    pthread_mutex_lock(&f->mu);
    int rc = SMG_OK;
    for (size_t i = 0; i < f->nworkers; i++) {
        if (strcmp(f->workers[i]->url, w->url) == 0) {
            rc = SMG_EEXIST;
            break;
        }
    }
    if (!rc && f->nworkers == f->capworkers) {
        size_t ncap = f->capworkers ? f->capworkers * 2 : 8;
        smg_worker_t **nw = realloc(f->workers, ncap * sizeof *nw);
        if (!nw)
            rc = SMG_ENOMEM;
        else {
            f->workers = nw;
            f->capworkers = ncap;
        }
    }
    char idbuf[32];
    char *id = NULL;
    if (!rc) {
        snprintf(idbuf, sizeof idbuf, "w%llu", (unsigned long long)(f->next_id + 1));
        id = strdup(idbuf);
        if (!id)
            rc = SMG_ENOMEM;
    }
    if (!rc) {
        char *old = w->id;
        w->id = id;
        f->workers[f->nworkers++] = w;
        rc = publish_locked(f);
        if (rc) {
            f->nworkers--;
            w->id = old;
            free(id);
        } else {
            f->next_id++;
            free(old);
        }
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

smg_worker_t *smg_fleet_remove(smg_fleet_t *f, smg_str_t id) {
    pthread_mutex_lock(&f->mu);
    smg_worker_t *found = NULL;
    for (size_t i = 0; i < f->nworkers; i++) {
        if (smg_str_eq_c(id, f->workers[i]->id)) {
            found = f->workers[i];
            memmove(f->workers + i, f->workers + i + 1, (f->nworkers - i - 1) * sizeof *f->workers);
            f->nworkers--;
            break;
        }
    }
    if (found && publish_locked(f) != SMG_OK) {
        /* could not publish: put it back so the registry and snapshot agree */
        f->workers[f->nworkers++] = found;
        found = NULL;
    }
    pthread_mutex_unlock(&f->mu);
    return found;
}

int smg_fleet_republish(smg_fleet_t *f) {
    pthread_mutex_lock(&f->mu);
    int rc = publish_locked(f);
    pthread_mutex_unlock(&f->mu);
    return rc;
}

smg_worker_t *smg_fleet_find(smg_fleet_t *f, smg_str_t id_or_url) {
    pthread_mutex_lock(&f->mu);
    smg_worker_t *found = NULL;
    for (size_t i = 0; i < f->nworkers && !found; i++) {
        smg_worker_t *w = f->workers[i];
        if (smg_str_eq_c(id_or_url, w->id) || smg_str_eq_c(id_or_url, w->url))
            found = w;
    }
    if (found)
        smg_worker_ref(found);
    pthread_mutex_unlock(&f->mu);
    return found;
}

smg_fleet_snap_t *smg_fleet_snapshot_ref(smg_fleet_t *f) {
    pthread_mutex_lock(&f->mu);
    smg_fleet_snap_t *s = f->current;
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    pthread_mutex_unlock(&f->mu);
    return s;
}

const smg_fleet_snap_t *smg_fleet_snapshot(smg_fleet_t *f) {
    uint64_t v = atomic_load_explicit(&f->version, memory_order_acquire);
    if (tl.fleet == f && tl.version == v)
        return tl.snap;
    if (tl.fleet && tl.fleet != f)
        smg_fleet_thread_release(tl.fleet);
    smg_fleet_snap_t *s = smg_fleet_snapshot_ref(f);
    smg_fleet_snapshot_unref(tl.snap);
    tl.fleet = f;
    tl.snap = s;
    tl.version = s->version;
    return s;
}

void smg_fleet_thread_release(smg_fleet_t *f) {
    if (tl.fleet != f)
        return;
    smg_fleet_snapshot_unref(tl.snap);
    tl.snap = NULL;
    tl.fleet = NULL;
    tl.version = 0;
}

static int cmp_group_key(const void *key, const void *elem) {
    const smg_str_t *k = key;
    const smg_model_group_t *g = elem;
    size_t glen = strlen(g->model);
    size_t n = k->len < glen ? k->len : glen;
    int c = memcmp(k->ptr, g->model, n);
    if (c)
        return c;
    return k->len < glen ? -1 : (k->len > glen ? 1 : 0);
}

const smg_model_group_t *smg_fleet_group(const smg_fleet_snap_t *s, smg_str_t model) {
    if (model.len == 0)
        return &s->any;
    const smg_model_group_t *g =
        s->ngroups ? bsearch(&model, s->groups, s->ngroups, sizeof *s->groups, cmp_group_key)
                   : NULL;
    if (g)
        return g;
    return s->wildcard.n ? &s->wildcard : NULL;
}

size_t smg_fleet_ready_count(const smg_fleet_snap_t *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->nworkers; i++)
        n += smg_worker_routable(s->workers[i]);
    return n;
}
