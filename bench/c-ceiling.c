/* The ceiling for the native path: native/aead.c's pc_aead_seal / pc_aead_open looped in C,
 * with no JavaScript, N-API or allocation around it. Same record shape as bench/aead.js
 * (24-byte AAD, 12-byte nonce), output into a reused buffer.
 *
 *   cc -O2 -Inative bench/c-ceiling.c native/aead.c -lcrypto -o /tmp/c-ceiling && /tmp/c-ceiling
 *
 * Links the system libcrypto: compare its version with process.versions.openssl (the addon
 * uses the OpenSSL inside node). Prints the best of 5 runs of ~0.3 s for each size.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>

#include "aead.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(void) {
  static const size_t sizes[] = {64, 1024, 16384, 65536, 1048576};
  uint8_t key[32], nonce[12], aad[24];
  for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 7 + 1);
  for (int i = 0; i < 12; i++) nonce[i] = (uint8_t)(i * 13 + 5);
  for (int i = 0; i < 24; i++) aad[i] = (uint8_t)i;
  pc_aead *a = pc_aead_new(key);
  if (a == NULL) return 1;
  printf("%s\n", OpenSSL_version(OPENSSL_VERSION));
  printf("%-8s %14s %12s %14s %12s\n", "size", "seal ops/s", "seal MB/s", "open ops/s", "open MB/s");
  for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
    size_t len = sizes[s];
    uint8_t *pt = malloc(len), *sealed = malloc(len + 16), *out = malloc(len + 16);
    memset(pt, 0xa5, len);
    if (!pc_aead_seal(a, nonce, aad, sizeof aad, pt, len, sealed)) return 1;
    double best[2] = {0, 0};
    for (int op = 0; op < 2; op++) {
      for (int run = 0; run < 5; run++) {
        long n = 0;
        double t0 = now(), t;
        do {
          for (int i = 0; i < 64; i++, n++) {
            int ok = op == 0 ? pc_aead_seal(a, nonce, aad, sizeof aad, pt, len, out)
                             : pc_aead_open(a, nonce, aad, sizeof aad, sealed, len, out);
            if (!ok) return 1;
          }
          t = now() - t0;
        } while (t < 0.3);
        if (n / t > best[op]) best[op] = n / t;
      }
    }
    printf("%-8zu %14.0f %12.0f %14.0f %12.0f\n", len, best[0], best[0] * len / 1e6, best[1], best[1] * len / 1e6);
    free(pt);
    free(sealed);
    free(out);
  }
  pc_aead_free(a);
  return 0;
}
