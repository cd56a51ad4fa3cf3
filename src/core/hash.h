/* Non-cryptographic hashing and a per-thread fast PRNG. */
#ifndef SMG_CORE_HASH_H
#define SMG_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

/* 64-bit FNV-1a variant with a final avalanche; stable across runs. */
uint64_t smg_hash64(const void *p, size_t n, uint64_t seed);
/* xorshift-style generator; state is thread-local and seeded from the clock
 * and thread id on first use. Not for secrets. */
uint64_t smg_rand64(void);
/* Uniform integer in [0, n) (n > 0). */
static inline uint32_t smg_rand_below(uint32_t n) {
    return (uint32_t)(((smg_rand64() >> 32) * (uint64_t)n) >> 32);
}
/* Fill with bytes from the OS CSPRNG (getrandom); falls back to smg_rand64. */
void smg_random_bytes(void *out, size_t n);

#endif
