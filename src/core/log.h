/* Logging (STYLE.md rule 9). The level is checked before any argument is
 * evaluated. Output goes to stderr, one line per call, as text or JSON
 * (--log-json). Lines from different threads never interleave: each line is
 * built in a local buffer and written with one write(2). */
#ifndef SMG_CORE_LOG_H
#define SMG_CORE_LOG_H

#include <stdbool.h>

#include "core/str.h"

typedef enum {
    SMG_LOG_ERROR = 0,
    SMG_LOG_WARN = 1,
    SMG_LOG_INFO = 2,
    SMG_LOG_DEBUG = 3,
    SMG_LOG_TRACE = 4,
} smg_log_level_t;

extern int smg__log_level;
extern bool smg__log_json;

/* "error", "warn", "info", "debug", "trace"; returns -1 for anything else. */
int smg_log_level_parse(smg_str_t name);
const char *smg_log_level_name(int level);
void smg_log_configure(int level, bool json);
/* Where lines go; default 2 (stderr). */
void smg_log_set_fd(int fd);

#define smg_log_enabled(lvl) ((int)(lvl) <= smg__log_level)

void smg__log(int level, const char *reqid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Write a pre-formatted line (no level filter), adding the newline. */
void smg_log_raw(const char *line, unsigned long len);

#define SMG_LOG(lvl, ...)                                                                          \
    do {                                                                                           \
        if (smg_log_enabled(lvl))                                                                  \
            smg__log((lvl), NULL, __VA_ARGS__);                                                    \
    } while (0)
/* As SMG_LOG, naming the request the line is about. */
#define SMG_LOG_REQ(lvl, reqid, ...)                                                               \
    do {                                                                                           \
        if (smg_log_enabled(lvl))                                                                  \
            smg__log((lvl), (reqid), __VA_ARGS__);                                                 \
    } while (0)

#define SMG_ERROR(...) SMG_LOG(SMG_LOG_ERROR, __VA_ARGS__)
#define SMG_WARN(...) SMG_LOG(SMG_LOG_WARN, __VA_ARGS__)
#define SMG_INFO(...) SMG_LOG(SMG_LOG_INFO, __VA_ARGS__)
#define SMG_DEBUG(...) SMG_LOG(SMG_LOG_DEBUG, __VA_ARGS__)

#endif
