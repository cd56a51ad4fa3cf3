#include "net/loop.h"

#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

typedef struct smg__loop_task_s {
    struct smg__loop_task_s *next;
    void (*fn)(void *arg);
    void *arg;
} smg__loop_task_t;

/* Marker stored in `tasks` once the loop takes no more posts. */
static smg__loop_task_t loop_closed_marker;
#define SMG__LOOP_CLOSED (&loop_closed_marker)

static _Thread_local smg_loop_t *tl_current;

/* Swap the queue out (leaving `replacement`) and run it oldest first. */
static void run_tasks(smg_loop_t *l, smg__loop_task_t *replacement) {
    smg__loop_task_t *list = atomic_exchange(&l->tasks, replacement);
    if (list == SMG__LOOP_CLOSED)
        return;
    smg__loop_task_t *rev = NULL;
    while (list) { /* the stack is newest first: reverse it */
        smg__loop_task_t *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev) {
        smg__loop_task_t *n = rev->next;
        rev->fn(rev->arg);
        free(rev);
        rev = n;
    }
}

static void close_any(uv_handle_t *h, void *arg) {
    (void)arg;
    if (!uv_is_closing(h)) {
        SMG_DEBUG("loop: force-closing a leftover handle of type %s", uv_handle_type_name(h->type));
        uv_close(h, NULL);
    }
}

static void begin_stop(smg_loop_t *l) {
    if (l->stopping)
        return;
    l->stopping = true;
    run_tasks(l, NULL);
    for (size_t i = 0; i < l->nhooks; i++)
        l->hooks[i].fn(l->hooks[i].arg);
    /* Hooks may have posted work (e.g. a listener close): run it, then take
     * no more posts. */
    run_tasks(l, SMG__LOOP_CLOSED);
    /* A producer that saw no marker may still be about to uv_async_send:
     * wait for it before the handle goes away (a window of a few
     * instructions, so spinning is fine). */
    while (atomic_load(&l->senders) != 0)
        sched_yield();
    uv_close((uv_handle_t *)&l->async, NULL);
}

static void async_cb(uv_async_t *a) {
    smg_loop_t *l = a->data;
    run_tasks(l, NULL);
    if (atomic_load_explicit(&l->stop_requested, memory_order_acquire))
        begin_stop(l);
}

int smg_loop_init(smg_loop_t *l, int index) {
    memset(l, 0, sizeof *l);
    l->index = index;
    atomic_init(&l->tasks, NULL);
    atomic_init(&l->stop_requested, false);
    atomic_init(&l->senders, 0);
    int rc = uv_loop_init(&l->uv);
    if (rc) {
        SMG_ERROR("loop %d: uv_loop_init: %s", index, uv_strerror(rc));
        return SMG_EIO;
    }
    rc = uv_async_init(&l->uv, &l->async, async_cb);
    if (rc) {
        SMG_ERROR("loop %d: uv_async_init: %s", index, uv_strerror(rc));
        uv_loop_close(&l->uv);
        return SMG_EIO;
    }
    l->async.data = l;
    l->uv.data = l;
    return SMG_OK;
}

uv_loop_t *smg_loop_uv(smg_loop_t *l) {
    return &l->uv;
}

int smg_loop_index(const smg_loop_t *l) {
    return l->index;
}

smg_loop_t *smg_loop_current(void) {
    return tl_current;
}

int smg_loop_post(smg_loop_t *l, void (*fn)(void *arg), void *arg) {
    smg__loop_task_t *t = malloc(sizeof *t);
    if (!t)
        return SMG_ENOMEM;
    t->fn = fn;
    t->arg = arg;
    atomic_fetch_add(&l->senders, 1);
    smg__loop_task_t *head = atomic_load(&l->tasks);
    do {
        if (head == SMG__LOOP_CLOSED) {
            atomic_fetch_sub_explicit(&l->senders, 1, memory_order_release);
            free(t);
            return SMG_ECLOSED;
        }
        t->next = head;
    } while (!atomic_compare_exchange_weak_explicit(&l->tasks, &head, t, memory_order_release,
                                                    memory_order_relaxed));
    /* `senders` keeps the async handle open until this send is done. */
    uv_async_send(&l->async);
    atomic_fetch_sub_explicit(&l->senders, 1, memory_order_release);
    return SMG_OK;
}

int smg_loop_on_stop(smg_loop_t *l, void (*fn)(void *arg), void *arg) {
    if (l->nhooks >= SMG_LOOP_MAX_STOP_HOOKS)
        return SMG_ELIMIT;
    l->hooks[l->nhooks++] = (smg__loop_hook_t){fn, arg};
    return SMG_OK;
}

static void run_and_close(smg_loop_t *l) {
    tl_current = l;
    /* A stop may have been requested before the loop ran. */
    if (atomic_load_explicit(&l->stop_requested, memory_order_acquire))
        uv_async_send(&l->async);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    /* uv_run returns when no handle is active; close what is left (inactive
     * timers, idle listeners of owners without a stop hook). */
    if (!l->stopping)
        begin_stop(l);
    uv_walk(&l->uv, close_any, NULL);
    uv_run(&l->uv, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&l->uv);
    if (rc)
        SMG_WARN("loop %d: uv_loop_close: %s", l->index, uv_strerror(rc));
    l->closed = true;
    tl_current = NULL;
}

static void *thread_main(void *arg) {
    run_and_close(arg);
    return NULL;
}

int smg_loop_start_thread(smg_loop_t *l) {
    int rc = pthread_create(&l->thread, NULL, thread_main, l);
    if (rc) {
        SMG_ERROR("loop %d: pthread_create failed (%d)", l->index, rc);
        return SMG_EIO;
    }
    l->has_thread = true;
    return SMG_OK;
}

void smg_loop_run_here(smg_loop_t *l) {
    run_and_close(l);
}

void smg_loop_stop(smg_loop_t *l) {
    atomic_store_explicit(&l->stop_requested, true, memory_order_release);
    atomic_fetch_add(&l->senders, 1);
    if (atomic_load(&l->tasks) != SMG__LOOP_CLOSED)
        uv_async_send(&l->async);
    atomic_fetch_sub_explicit(&l->senders, 1, memory_order_release);
}

void smg_loop_join(smg_loop_t *l) {
    if (!l->has_thread)
        return;
    pthread_join(l->thread, NULL);
    l->has_thread = false;
}
