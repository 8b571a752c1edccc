/* AES-256-GCM on the OpenSSL that Node ships. One EVP context per key, reused for every
 * record: the key schedule is computed once, each record only sets its 96-bit nonce. */
#ifndef PEERCOMM_AEAD_H
#define PEERCOMM_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define PC_AEAD_KEY_BYTES 32   /* AES-256 */
#define PC_AEAD_NONCE_BYTES 12 /* 96-bit IV: the only GCM IV size we accept */
#define PC_AEAD_TAG_BYTES 16   /* 128-bit tag: never truncated */

typedef struct pc_aead pc_aead;

/* Returns NULL when OpenSSL cannot allocate or key the context. */
pc_aead *pc_aead_new(const uint8_t key[PC_AEAD_KEY_BYTES]);
/* Frees the context; OpenSSL cleanses the key schedule in EVP_CIPHER_CTX_free. */
void pc_aead_free(pc_aead *a);

/* out receives len bytes of ciphertext then the tag (len + 16 bytes). out may equal pt. */
int pc_aead_seal(pc_aead *a, const uint8_t *nonce, const uint8_t *aad,
                 size_t aad_len, const uint8_t *pt, size_t len, uint8_t *out);

/* sealed is ciphertext then tag (len + 16 bytes); out receives len bytes of plaintext.
 * Returns 1 when the tag verifies, 0 otherwise; on 0, out is wiped. out may equal sealed. */
int pc_aead_open(pc_aead *a, const uint8_t *nonce, const uint8_t *aad,
                 size_t aad_len, const uint8_t *sealed, size_t len, uint8_t *out);

#endif
