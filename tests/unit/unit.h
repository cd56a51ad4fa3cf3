/* A small unit-test runner: each TEST runs in its own forked process with a
 * timeout, assertions print both sides, the binary ends with the line
 * "N passed, N failed". Run one test with `binary NAME`. */
#ifndef SMG_TESTS_UNIT_H
#define SMG_TESTS_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*unit_fn)(void);
void unit_register(const char *name, unit_fn fn);
void unit_fail_at(const char *file, int line);

#define TEST(name)                                                                                 \
    static void name(void);                                                                        \
    __attribute__((constructor)) static void unit_reg_##name(void) {                               \
        unit_register(#name, name);                                                                \
    }                                                                                              \
    static void name(void)

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  expected: %s\n", #cond);                                            \
            unit_fail_at(__FILE__, __LINE__);                                                      \
        }                                                                                          \
    } while (0)

#define EXPECT_EQ_INT(a, b)                                                                        \
    do {                                                                                           \
        long long unit_a = (long long)(a), unit_b = (long long)(b);                                \
        if (unit_a != unit_b) {                                                                    \
            fprintf(stderr, "  %s == %s\n  left:  %lld\n  right: %lld\n", #a, #b, unit_a, unit_b); \
            unit_fail_at(__FILE__, __LINE__);                                                      \
        }                                                                                          \
    } while (0)

#define EXPECT_EQ_DBL(a, b, eps)                                                                   \
    do {                                                                                           \
        double unit_a = (a), unit_b = (b);                                                         \
        if (!(unit_a - unit_b <= (eps) && unit_b - unit_a <= (eps))) {                             \
            fprintf(stderr, "  %s == %s\n  left:  %g\n  right: %g\n", #a, #b, unit_a, unit_b);     \
            unit_fail_at(__FILE__, __LINE__);                                                      \
        }                                                                                          \
    } while (0)

/* Compare a (ptr,len) pair against a C string. */
#define EXPECT_EQ_MEM(p, n, cstr)                                                                  \
    do {                                                                                           \
        const char *unit_p = (p), *unit_c = (cstr);                                                \
        size_t unit_n = (n);                                                                       \
        if (unit_n != strlen(unit_c) || memcmp(unit_p, unit_c, unit_n) != 0) {                     \
            fprintf(stderr, "  %s == %s\n  left:  \"%.*s\"\n  right: \"%s\"\n", #p, #cstr,         \
                    (int)unit_n, unit_p, unit_c);                                                  \
            unit_fail_at(__FILE__, __LINE__);                                                      \
        }                                                                                          \
    } while (0)

#define EXPECT_EQ_STR(a, b)                                                                        \
    do {                                                                                           \
        const char *unit_a = (a), *unit_b = (b);                                                   \
        if (!unit_a || !unit_b || strcmp(unit_a, unit_b) != 0) {                                   \
            fprintf(stderr, "  %s == %s\n  left:  \"%s\"\n  right: \"%s\"\n", #a, #b,              \
                    unit_a ? unit_a : "(null)", unit_b ? unit_b : "(null)");                       \
            unit_fail_at(__FILE__, __LINE__);                                                      \
        }                                                                                          \
    } while (0)

#endif
