/* Data-plane loop threads (DESIGN.md §2): one libuv loop per thread, an
 * index, and a lock-free queue of closures other threads post to it.
 *
 * Lifecycle: smg_loop_init → (smg_loop_start_thread | smg_loop_run_here) →
 * smg_loop_stop (any thread) → smg_loop_join (after start_thread). When the
 * loop stops it runs the posted closures still queued, then the stop hooks
 * (in registration order), then closes its own handles and any handle still
 * open, lets the close callbacks run, and closes the uv loop. A loop is run
 * once; it cannot be restarted. */
#ifndef SMG_NET_LOOP_H
#define SMG_NET_LOOP_H

#include <uv.h>

#include "core/status.h"
#include "net/loop-t.h"

/* Initialise `l` (caller-owned memory that must outlive the loop). Returns
 * SMG_OK or SMG_EIO when libuv cannot create the loop or its async handle. */
SMG_MUST_CHECK int smg_loop_init(smg_loop_t *l, int index);
uv_loop_t *smg_loop_uv(smg_loop_t *l);
int smg_loop_index(const smg_loop_t *l);
/* The loop running on the calling thread; NULL off any loop thread. */
smg_loop_t *smg_loop_current(void);
/* Thread-safe: queue fn(arg) to run on l's thread, in posting order per
 * producer. Costs one malloc. Returns SMG_ECLOSED once the loop has stopped
 * taking posts (fn will never run: the caller keeps ownership of arg), or
 * SMG_ENOMEM. Called from l's own thread, fn runs on a later iteration,
 * never inside this call. */
SMG_MUST_CHECK int smg_loop_post(smg_loop_t *l, void (*fn)(void *arg), void *arg);
/* Register a hook run on the loop thread when the loop stops, before its
 * handles are force-closed: owners close their handles there with their own
 * close callbacks (so they free what they own). Call on the loop thread or
 * before the loop runs. SMG_ELIMIT past SMG_LOOP_MAX_STOP_HOOKS. */
SMG_MUST_CHECK int smg_loop_on_stop(smg_loop_t *l, void (*fn)(void *arg), void *arg);
/* Run uv_run in a new pthread. SMG_EIO if the thread cannot be created. */
SMG_MUST_CHECK int smg_loop_start_thread(smg_loop_t *l);
/* Run the loop on the calling thread until smg_loop_stop; then close it. */
void smg_loop_run_here(smg_loop_t *l);
/* Thread-safe and idempotent: ask the loop to stop (see lifecycle above). */
void smg_loop_stop(smg_loop_t *l);
/* Wait for the thread started by smg_loop_start_thread to end. */
void smg_loop_join(smg_loop_t *l);

#endif
