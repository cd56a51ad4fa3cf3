/* The loop-thread struct, apart from its API (net/loop.h) so that other
 * modules can embed it by value. Fields are private to net/loop.c except
 * where noted; read them only through the functions in net/loop.h. */
#ifndef SMG_NET_LOOP_T_H
#define SMG_NET_LOOP_T_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include <uv.h>

#define SMG_LOOP_MAX_STOP_HOOKS 16

struct smg__loop_task_s;

typedef struct smg__loop_hook_s {
    void (*fn)(void *arg);
    void *arg;
} smg__loop_hook_t;

typedef struct smg_loop_s {
    uv_loop_t uv;
    uv_async_t async; /* wakes the loop to drain `tasks` */
    int index;
    /* Lock-free MPSC stack of posted closures (producers CAS-push, the loop
     * swaps the whole list out and runs it oldest first). Holds
     * SMG__LOOP_CLOSED once the loop has stopped taking posts. */
    _Atomic(struct smg__loop_task_s *) tasks;
    atomic_bool stop_requested;
    atomic_int senders; /* threads between their check of `tasks` and uv_async_send */
    bool stopping; /* loop thread only: stop hooks already ran */
    bool has_thread;
    bool closed; /* uv_loop_close done */
    pthread_t thread;
    size_t nhooks;
    smg__loop_hook_t hooks[SMG_LOOP_MAX_STOP_HOOKS];
} smg_loop_t;

#endif
