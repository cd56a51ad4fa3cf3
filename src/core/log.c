#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/time.h"

int smg__log_level = SMG_LOG_INFO;
bool smg__log_json = false;
static int log_fd = 2;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

int smg_log_level_parse(smg_str_t name) {
    for (int i = 0; i < 5; i++)
        if (smg_str_eq_nocase(name, smg_str_c(level_names[i])))
            return i;
    if (smg_str_eq_nocase(name, SMG_STR("warning")))
        return SMG_LOG_WARN;
    return -1;
}

const char *smg_log_level_name(int level) {
    return (level >= 0 && level < 5) ? level_names[level] : "info";
}

void smg_log_configure(int level, bool json) {
    smg__log_level = level;
    smg__log_json = json;
}

void smg_log_set_fd(int fd) {
    log_fd = fd;
}

void smg_log_raw(const char *line, unsigned long len) {
    char nl = '\n';
    /* two writes would interleave across threads; copy when short */
    char tmp[2048];
    if (len < sizeof tmp) {
        memcpy(tmp, line, len);
        tmp[len] = nl;
        ssize_t r = write(log_fd, tmp, len + 1);
        (void)r;
        return;
    }
    smg_buf_t b;
    smg_buf_init(&b, 0);
    if (smg_buf_append(&b, line, len) == SMG_OK && smg_buf_append_byte(&b, nl) == SMG_OK) {
        ssize_t r = write(log_fd, b.ptr, b.len);
        (void)r;
    }
    smg_buf_free(&b);
}

void smg__log(int level, const char *reqid, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t mlen = (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1;
    char ts[40];
    smg_wall_iso(ts, sizeof ts);
    smg_buf_t b;
    smg_buf_init(&b, 0);
    int rc;
    if (smg__log_json) {
        rc = smg_buf_appendf(&b, "{\"ts\":\"%s\",\"level\":\"%s\"", ts, smg_log_level_name(level));
        if (!rc && reqid) {
            rc = smg_buf_append_c(&b, ",\"request_id\":\"");
            rc = rc ? rc : smg_buf_append_json_escaped(&b, smg_str_c(reqid));
            rc = rc ? rc : smg_buf_append_byte(&b, '"');
        }
        rc = rc ? rc : smg_buf_append_c(&b, ",\"msg\":\"");
        rc = rc ? rc : smg_buf_append_json_escaped(&b, smg_str(msg, mlen));
        rc = rc ? rc : smg_buf_append_c(&b, "\"}");
    } else {
        rc = smg_buf_appendf(&b, "%s %-5s ", ts, smg_log_level_name(level));
        if (!rc && reqid)
            rc = smg_buf_appendf(&b, "[%s] ", reqid);
        rc = rc ? rc : smg_buf_append(&b, msg, mlen);
    }
    if (!rc)
        smg_log_raw(b.ptr, b.len);
    smg_buf_free(&b);
}
