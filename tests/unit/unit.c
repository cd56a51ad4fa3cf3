#include "unit.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#define UNIT_MAX 1024
#define UNIT_TIMEOUT_S 60

static struct {
    const char *name;
    unit_fn fn;
} tests[UNIT_MAX];
static int ntests;

void unit_register(const char *name, unit_fn fn) {
    if (ntests < UNIT_MAX) {
        tests[ntests].name = name;
        tests[ntests].fn = fn;
        ntests++;
    }
}

void unit_fail_at(const char *file, int line) {
    fprintf(stderr, "  at %s:%d\n", file, line);
    fflush(stderr);
    _exit(1);
}

static int run_one(int i) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        alarm(UNIT_TIMEOUT_S);
        tests[i].fn();
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st))
        fprintf(stderr, "  killed by signal %d%s\n", WTERMSIG(st),
                WTERMSIG(st) == SIGALRM ? " (timeout)" : "");
    return 1;
}

int main(int argc, char **argv) {
    int passed = 0, failed = 0;
    for (int i = 0; i < ntests; i++) {
        if (argc > 1 && strcmp(argv[1], tests[i].name) != 0)
            continue;
        if (run_one(i) == 0) {
            passed++;
            printf("ok   %s\n", tests[i].name);
        } else {
            failed++;
            printf("FAIL %s\n", tests[i].name);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
