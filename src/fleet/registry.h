/* The worker registry and its read-mostly snapshots (DESIGN.md §2).
 *
 * Writers (the control thread: start-up, admin API, health checker's model
 * discovery) change the registry under its mutex and publish a new immutable
 * snapshot. Readers (loop threads) call smg_fleet_snapshot(), which costs one
 * atomic load when nothing changed: each thread caches a reference to the last
 * snapshot it saw and swaps it only when the version moved. A snapshot stays
 * valid on the calling thread until that thread calls smg_fleet_snapshot()
 * again; anything kept across callbacks must take its own reference
 * (smg_worker_ref, smg_policy_ref).
 *
 * Model groups: every model id that some worker serves has a group with its
 * own policy instance (created on first sight, kept while the model has a
 * worker). Workers whose model list is empty serve any model ("wildcard") and
 * are members of every group and of the fallback group used for model names
 * no worker lists. */
#ifndef SMG_FLEET_REGISTRY_H
#define SMG_FLEET_REGISTRY_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/status.h"
#include "fleet/worker.h"
#include "policy/policy.h"

typedef struct smg_model_group_s {
    char *model; /* NULL for the "any" and "wildcard" groups */
    smg_policy_t *policy;
    smg_worker_t **workers;
    size_t n;
} smg_model_group_t;

typedef struct smg_fleet_snap_s {
    _Atomic int refs;
    uint64_t version;
    smg_worker_t **workers; /* every registered worker, in registration order */
    size_t nworkers;
    smg_model_group_t *groups; /* sorted by model id */
    size_t ngroups;
    smg_model_group_t any;      /* all workers: for requests that name no model */
    smg_model_group_t wildcard; /* workers without a model list */
} smg_fleet_snap_t;

typedef struct smg_fleet_s smg_fleet_t;

/* policy_name must be one of smg_policy_all(). */
smg_fleet_t *smg_fleet_new(const char *policy_name);
void smg_fleet_free(smg_fleet_t *f);
const char *smg_fleet_policy_name(const smg_fleet_t *f);

/* Control thread. Adds w (takes over the caller's reference) and publishes. */
SMG_MUST_CHECK int smg_fleet_add(smg_fleet_t *f, smg_worker_t *w);
/* Removes the worker with this id and publishes; returns it with a reference
 * the caller must drop (after closing its pools), or NULL if unknown. */
smg_worker_t *smg_fleet_remove(smg_fleet_t *f, smg_str_t id);
/* Rebuild and publish after a worker's model list changed. */
SMG_MUST_CHECK int smg_fleet_republish(smg_fleet_t *f);
/* A new reference to the worker with this id or URL, or NULL. Any thread. */
smg_worker_t *smg_fleet_find(smg_fleet_t *f, smg_str_t id_or_url);

/* Any thread: the current snapshot (see the header comment for validity). */
const smg_fleet_snap_t *smg_fleet_snapshot(smg_fleet_t *f);
/* Any thread: a counted reference to the current snapshot, for work that
 * spans callbacks (admin listing, health sweeps). */
smg_fleet_snap_t *smg_fleet_snapshot_ref(smg_fleet_t *f);
void smg_fleet_snapshot_unref(smg_fleet_snap_t *s);
/* Drop this thread's cached snapshot (call before a loop thread exits). */
void smg_fleet_thread_release(smg_fleet_t *f);

/* The group for a model: its own group, else the wildcard group if it has
 * workers, else NULL (unknown model). An empty model selects the "any" group. */
const smg_model_group_t *smg_fleet_group(const smg_fleet_snap_t *s, smg_str_t model);

/* Counts for readiness: workers in READY state. */
size_t smg_fleet_ready_count(const smg_fleet_snap_t *s);

#endif
