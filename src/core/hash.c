#include "core/hash.h"

#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "core/time.h"

uint64_t smg_hash64(const void *p, size_t n, uint64_t seed) {
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull ^ seed;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return h;
}

static _Thread_local uint64_t rng_state;

uint64_t smg_rand64(void) {
    if (rng_state == 0) {
        uint64_t seed = smg_now_ns() ^ ((uint64_t)(uintptr_t)pthread_self() << 17);
        if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed)
            seed ^= 0x9e3779b97f4a7c15ull;
        rng_state = seed | 1;
    }
    /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void smg_random_bytes(void *out, size_t n) {
    unsigned char *o = out;
    while (n) {
        ssize_t r = getrandom(o, n, 0);
        if (r <= 0)
            break;
        o += r;
        n -= (size_t)r;
    }
    while (n) {
        uint64_t v = smg_rand64();
        size_t k = n < 8 ? n : 8;
        memcpy(o, &v, k);
        o += k;
        n -= k;
    }
}
