/* Shared helpers of the benchmark load tools (the .c files of bench/tools). Header-only, static
 * functions: each tool is one translation unit built with `cc -O2` by bench/Makefile. Not part of
 * src/. */
#ifndef SMG_BENCH_UTIL_H
#define SMG_BENCH_UTIL_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* Monotonic clock in nanoseconds (CLOCK_MONOTONIC is shared by every process of the machine). */
static inline uint64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Parses a whole decimal string into [min, max]. Returns 0 on success, -1 (and prints why) on
 * anything else: empty, sign, trailing junk, overflow, out of range. */
static inline int bench_parse_u64(const char *flag, const char *s, uint64_t min, uint64_t max,
                                  uint64_t *out) {
    if (s == NULL || *s < '0' || *s > '9') {
        fprintf(stderr, "%s: expected a non-negative integer, got '%s'\n", flag, s ? s : "");
        return -1;
    }
    errno = 0;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s: '%s' is not an integer in [%llu, %llu]\n", flag, s,
                (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses a non-negative decimal number with an optional fraction ("5", "0.5"). */
static inline int bench_parse_double(const char *flag, const char *s, double min, double max,
                                     double *out) {
    if (s == NULL || ((*s < '0' || *s > '9') && *s != '.')) {
        fprintf(stderr, "%s: expected a non-negative number, got '%s'\n", flag, s ? s : "");
        return -1;
    }
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !(v >= min && v <= max)) {
        fprintf(stderr, "%s: '%s' is not a number in [%g, %g]\n", flag, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* Raises RLIMIT_NOFILE's soft limit to the hard limit; returns the soft limit now in force. */
static inline uint64_t bench_raise_nofile(void) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
    rl.rlim_cur = rl.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return (uint64_t)rl.rlim_cur;
}

static inline int bench_set_nonblock(int fd) {
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

/* Reads a whole file into a malloc'd buffer, at most `cap` bytes. Returns NULL (and prints why) on
 * error or when the file is larger than cap. The caller frees. */
static inline char *bench_read_file(const char *path, size_t cap, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(cap + 1);
    if (buf == NULL) {
        fclose(f);
        return NULL;
    }
    size_t n = fread(buf, 1, cap + 1, f);
    fclose(f);
    if (n > cap) {
        fprintf(stderr, "%s: larger than %zu bytes\n", path, cap);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Rejects (prints why, returns -1) a --path that does not start with '/' or is over 1024 bytes,
 * and a --host over 255 bytes: bench_post_request's 2048 bytes of header room rely on both. */
static inline int bench_check_target(const char *host, const char *path) {
    if (strlen(path) > 1024 || strlen(host) > 255 || path[0] != '/') {
        fprintf(stderr, "--path must start with '/' (max 1024 bytes), --host max 255 bytes\n");
        return -1;
    }
    return 0;
}

/* Sets *addr to host:port; returns -1 (and prints why) when host is not an IPv4 address. */
static inline int bench_ipv4_addr(const char *host, uint64_t port, struct sockaddr_in *addr) {
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &addr->sin_addr) != 1) {
        fprintf(stderr, "--host: '%s' is not an IPv4 address\n", host);
        return -1;
    }
    return 0;
}

/* A whole HTTP/1.1 request POSTing body (JSON) to path on host:port, with extra_headers (each
 * line ending in CRLF; "" for none) after Content-Type. host and path must have passed
 * bench_check_target. Returns a malloc'd buffer (the caller frees) and its length in *len; NULL
 * when out of memory or the head does not fit. */
static inline char *bench_post_request(const char *host, uint64_t port, const char *path,
                                       const char *extra_headers, const char *body,
                                       size_t body_len, size_t *len) {
    size_t cap = body_len + 2048;
    char *req = malloc(cap);
    if (req == NULL) return NULL;
    int hl = snprintf(req, cap,
                      "POST %s HTTP/1.1\r\nHost: %s:%u\r\nContent-Type: application/json\r\n"
                      "%sContent-Length: %zu\r\n\r\n",
                      path, host, (unsigned)port, extra_headers, body_len);
    if (hl < 0 || (size_t)hl + body_len > cap) {
        free(req);
        return NULL;
    }
    memcpy(req + hl, body, body_len);
    *len = (size_t)hl + body_len;
    return req;
}

/* Latency histogram in microseconds: exact below 1024 us, then 128 sub-buckets per power of two
 * (under 1% relative error) up to 2^40 us. Fixed size, no allocation, values above saturate. */
enum { BENCH_HIST_SUB = 128, BENCH_HIST_EXP = 40 };
typedef struct {
    uint64_t count;
    double sum;
    uint64_t max;
    uint64_t b[1024 + BENCH_HIST_EXP * BENCH_HIST_SUB];
} bench_hist_t;

static inline size_t bench_hist_index(uint64_t v) {
    if (v < 1024) return (size_t)v;
    int e = 63 - __builtin_clzll(v); /* e >= 10 */
    if (e >= 10 + BENCH_HIST_EXP) return 1024 + BENCH_HIST_EXP * BENCH_HIST_SUB - 1;
    uint64_t sub = (v >> (e - 7)) & (BENCH_HIST_SUB - 1);
    return 1024 + (size_t)(e - 10) * BENCH_HIST_SUB + (size_t)sub;
}

/* Lower bound of the values that land in bucket i. */
static inline uint64_t bench_hist_value(size_t i) {
    if (i < 1024) return i;
    size_t e = (i - 1024) / BENCH_HIST_SUB + 10;
    uint64_t sub = (i - 1024) % BENCH_HIST_SUB;
    return (1ull << e) | (sub << (e - 7));
}

static inline void bench_hist_add(bench_hist_t *h, uint64_t v) {
    h->b[bench_hist_index(v)]++;
    h->count++;
    h->sum += (double)v;
    if (v > h->max) h->max = v;
}

/* Value at quantile q in [0, 1]; 0 for an empty histogram. */
static inline uint64_t bench_hist_quantile(const bench_hist_t *h, double q) {
    if (h->count == 0) return 0;
    uint64_t rank = (uint64_t)(q * (double)(h->count - 1)) + 1, seen = 0;
    size_t n = sizeof h->b / sizeof h->b[0];
    for (size_t i = 0; i < n; i++) {
        seen += h->b[i];
        if (seen >= rank) return bench_hist_value(i);
    }
    return h->max;
}

#endif
