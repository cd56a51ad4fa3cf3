/* Clocks. Monotonic time for durations, wall time for logs. */
#ifndef SMG_CORE_TIME_H
#define SMG_CORE_TIME_H

#include <stdint.h>

/* Monotonic nanoseconds since an arbitrary point. */
uint64_t smg_now_ns(void);
static inline uint64_t smg_now_ms(void) {
    return smg_now_ns() / 1000000u;
}
/* Wall clock, seconds since the epoch. */
double smg_wall_s(void);
/* RFC 3339 UTC with milliseconds into out (at least 32 bytes). */
void smg_wall_iso(char *out, unsigned long outlen);

#endif
