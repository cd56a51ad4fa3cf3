/* Two tiers of assertions (STYLE.md rule 15).
 * SMG_ASSERT: debug builds only (NDEBUG removes it).
 * SMG_BUG_ON: always on; a true condition is a programming error and aborts. */
#ifndef SMG_CORE_ASSERT_H
#define SMG_CORE_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

#define SMG_BUG_ON(cond)                                                                           \
    do {                                                                                           \
        if (__builtin_expect(!!(cond), 0)) {                                                       \
            fprintf(stderr, "BUG at %s:%d: %s\n", __FILE__, __LINE__, #cond);                      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#ifdef NDEBUG
#define SMG_ASSERT(cond) ((void)0)
#else
#define SMG_ASSERT(cond) SMG_BUG_ON(!(cond))
#endif

#define SMG_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define SMG_UNUSED(x) ((void)(x))

#endif
