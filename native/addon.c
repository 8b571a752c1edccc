/* N-API surface of the native hot path. Every function trusts nothing it is given: the
 * TypeScript layer validates sizes first, and these checks are the second line. */
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aead.h"
#include "buffer-pool.h"

/* The external handle owns a box, so destroy() can free the context while the JS object
 * (and its finalizer) lives on. */
typedef struct {
  pc_aead *aead;
} aead_box;

#define CHECK(call)                                          \
  do {                                                       \
    if ((call) != napi_ok) {                                 \
      napi_throw_type_error(env, "ERR_PEERCOMM_NATIVE", #call); \
      return NULL;                                           \
    }                                                        \
  } while (0)

#define FAIL(msg)                                            \
  do {                                                       \
    napi_throw_range_error(env, "ERR_PEERCOMM_NATIVE", msg); \
    return NULL;                                             \
  } while (0)

typedef struct {
  uint8_t *data;
  size_t len;
} bytes;

static int get_bytes(napi_env env, napi_value v, bytes *out) {
  void *data = NULL;
  size_t len = 0;
  if (napi_get_buffer_info(env, v, &data, &len) != napi_ok) return 0;
  out->data = data;
  out->len = len;
  return 1;
}

static pc_aead *get_aead(napi_env env, napi_value v) {
  aead_box *box = NULL;
  if (napi_get_value_external(env, v, (void **)&box) != napi_ok || box == NULL) return NULL;
  return box->aead;
}

static void finalize_box(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  aead_box *box = data;
  pc_aead_free(box->aead);
  free(box);
}

/* create(key: Uint8Array(32)) -> handle */
static napi_value aead_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], handle;
  bytes key;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || !get_bytes(env, argv[0], &key) || key.len != PC_AEAD_KEY_BYTES)
    FAIL("key must be 32 bytes");
  aead_box *box = calloc(1, sizeof(*box));
  if (box == NULL) FAIL("out of memory");
  box->aead = pc_aead_new(key.data);
  if (box->aead == NULL) {
    free(box);
    FAIL("cannot create AES-256-GCM context");
  }
  if (napi_create_external(env, box, finalize_box, NULL, &handle) != napi_ok) {
    finalize_box(env, box, NULL);
    FAIL("cannot create handle");
  }
  return handle;
}

/* destroy(handle): frees the context now rather than at garbage collection. */
static napi_value aead_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  aead_box *box = NULL;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_external(env, argv[0], (void **)&box) != napi_ok || box == NULL)
    FAIL("not an AEAD handle");
  pc_aead_free(box->aead);
  box->aead = NULL;
  return NULL;
}

/* seal(handle, nonce, aad, plaintext, out): out[0 .. len+16) = ciphertext ‖ tag. */
static napi_value aead_seal(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  bytes nonce, aad, pt, out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  pc_aead *a = argc == 5 ? get_aead(env, argv[0]) : NULL;
  if (a == NULL) FAIL("destroyed or invalid AEAD handle");
  if (!get_bytes(env, argv[1], &nonce) || !get_bytes(env, argv[2], &aad) ||
      !get_bytes(env, argv[3], &pt) || !get_bytes(env, argv[4], &out))
    FAIL("arguments must be Uint8Arrays");
  if (nonce.len != PC_AEAD_NONCE_BYTES) FAIL("nonce must be 12 bytes");
  if (out.len < pt.len || out.len - pt.len < PC_AEAD_TAG_BYTES) FAIL("output too small");
  if (!pc_aead_seal(a, nonce.data, aad.data, aad.len, pt.data, pt.len, out.data))
    FAIL("seal failed");
  return NULL;
}

/* open(handle, nonce, aad, sealed, out) -> boolean: false when the tag does not verify. */
static napi_value aead_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  bytes nonce, aad, sealed, out;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  pc_aead *a = argc == 5 ? get_aead(env, argv[0]) : NULL;
  if (a == NULL) FAIL("destroyed or invalid AEAD handle");
  if (!get_bytes(env, argv[1], &nonce) || !get_bytes(env, argv[2], &aad) ||
      !get_bytes(env, argv[3], &sealed) || !get_bytes(env, argv[4], &out))
    FAIL("arguments must be Uint8Arrays");
  if (nonce.len != PC_AEAD_NONCE_BYTES) FAIL("nonce must be 12 bytes");
  if (sealed.len < PC_AEAD_TAG_BYTES) FAIL("sealed input shorter than the tag");
  size_t len = sealed.len - PC_AEAD_TAG_BYTES;
  if (out.len < len) FAIL("output too small");
  int ok = pc_aead_open(a, nonce.data, aad.data, aad.len, sealed.data, len, out.data);
  CHECK(napi_get_boolean(env, ok, &result));
  return result;
}

/* A batch: n records laid out back to back. nonces holds n × 12 bytes; aads and inputs are
 * concatenations whose per-record lengths are in the Uint32Arrays aadLens and inLens. */
typedef struct {
  pc_aead *a;
  bytes nonces, aads, aad_lens, in, in_lens, out;
  size_t n;
} batch;

static const char *parse_batch(napi_env env, napi_callback_info info, batch *b, int sealing) {
  size_t argc = 7;
  napi_value argv[7];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7)
    return "batch takes 7 arguments";
  b->a = get_aead(env, argv[0]);
  if (b->a == NULL) return "destroyed or invalid AEAD handle";
  if (!get_bytes(env, argv[1], &b->nonces) || !get_bytes(env, argv[2], &b->aads) ||
      !get_bytes(env, argv[3], &b->aad_lens) || !get_bytes(env, argv[4], &b->in) ||
      !get_bytes(env, argv[5], &b->in_lens) || !get_bytes(env, argv[6], &b->out))
    return "arguments must be typed arrays";
  if (b->in_lens.len % 4 != 0 || b->aad_lens.len != b->in_lens.len ||
      ((uintptr_t)b->in_lens.data | (uintptr_t)b->aad_lens.data) % 4 != 0)
    return "length tables must be Uint32Arrays of one size";
  b->n = b->in_lens.len / 4;
  if (b->nonces.len != b->n * PC_AEAD_NONCE_BYTES) return "nonces must be 12 bytes per record";
  const uint32_t *al = (const uint32_t *)b->aad_lens.data;
  const uint32_t *il = (const uint32_t *)b->in_lens.data;
  uint64_t aad_total = 0, in_total = 0, out_total = 0;
  for (size_t i = 0; i < b->n; i++) {
    aad_total += al[i];
    in_total += il[i];
    if (sealing) {
      out_total += (uint64_t)il[i] + PC_AEAD_TAG_BYTES;
    } else {
      if (il[i] < PC_AEAD_TAG_BYTES) return "sealed record shorter than the tag";
      out_total += il[i] - PC_AEAD_TAG_BYTES;
    }
  }
  if (aad_total > b->aads.len || in_total > b->in.len) return "length table exceeds its data";
  if (out_total > b->out.len) return "output too small";
  return NULL;
}

/* sealBatch(handle, nonces, aads, aadLens, plaintexts, ptLens, out) */
static napi_value aead_seal_batch(napi_env env, napi_callback_info info) {
  batch b;
  const char *err = parse_batch(env, info, &b, 1);
  if (err != NULL) FAIL(err);
  const uint32_t *al = (const uint32_t *)b.aad_lens.data;
  const uint32_t *il = (const uint32_t *)b.in_lens.data;
  const uint8_t *aad = b.aads.data, *in = b.in.data;
  uint8_t *out = b.out.data;
  for (size_t i = 0; i < b.n; i++) {
    if (!pc_aead_seal(b.a, b.nonces.data + i * PC_AEAD_NONCE_BYTES, aad, al[i], in, il[i], out))
      FAIL("seal failed");
    aad += al[i];
    in += il[i];
    out += il[i] + PC_AEAD_TAG_BYTES;
  }
  return NULL;
}

/* openBatch(handle, nonces, aads, aadLens, sealed, sealedLens, out) -> number of records
 * opened before the first whose tag fails (n when all verify). */
static napi_value aead_open_batch(napi_env env, napi_callback_info info) {
  batch b;
  napi_value result;
  const char *err = parse_batch(env, info, &b, 0);
  if (err != NULL) FAIL(err);
  const uint32_t *al = (const uint32_t *)b.aad_lens.data;
  const uint32_t *il = (const uint32_t *)b.in_lens.data;
  const uint8_t *aad = b.aads.data, *in = b.in.data;
  uint8_t *out = b.out.data;
  size_t i;
  for (i = 0; i < b.n; i++) {
    size_t len = il[i] - PC_AEAD_TAG_BYTES;
    if (!pc_aead_open(b.a, b.nonces.data + i * PC_AEAD_NONCE_BYTES, aad, al[i], in, len, out))
      break;
    aad += al[i];
    in += il[i];
    out += len;
  }
  CHECK(napi_create_uint32(env, (uint32_t)i, &result));
  return result;
}

/* Region batches: n records inside ONE buffer, sealed or opened in place. table holds four
 * u32 per record: aad offset, aad length, data offset, data length (the tag sits right after
 * the data). This is the session hot path: every frame of a socket write (or read) shares one
 * buffer, so one crossing covers them all with three arguments besides the handle. */
typedef struct {
  pc_aead *a;
  bytes nonces, buf, table;
  size_t n;
} regions;

static const char *parse_regions(napi_env env, napi_callback_info info, regions *r) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4)
    return "region batch takes 4 arguments";
  r->a = get_aead(env, argv[0]);
  if (r->a == NULL) return "destroyed or invalid AEAD handle";
  if (!get_bytes(env, argv[1], &r->nonces) || !get_bytes(env, argv[2], &r->buf) ||
      !get_bytes(env, argv[3], &r->table))
    return "arguments must be typed arrays";
  if (r->table.len % 16 != 0 || (uintptr_t)r->table.data % 4 != 0)
    return "region table must be a Uint32Array of 4 entries per record";
  r->n = r->table.len / 16;
  if (r->nonces.len != r->n * PC_AEAD_NONCE_BYTES) return "nonces must be 12 bytes per record";
  const uint32_t *t = (const uint32_t *)r->table.data;
  for (size_t i = 0; i < r->n; i++) {
    uint64_t aad_end = (uint64_t)t[4 * i] + t[4 * i + 1];
    uint64_t data_end = (uint64_t)t[4 * i + 2] + t[4 * i + 3] + PC_AEAD_TAG_BYTES;
    if (aad_end > r->buf.len || data_end > r->buf.len) return "region outside the buffer";
  }
  return NULL;
}

/* sealRegions(handle, nonces, buf, table): each data region becomes ciphertext, tag after. */
static napi_value aead_seal_regions(napi_env env, napi_callback_info info) {
  regions r;
  const char *err = parse_regions(env, info, &r);
  if (err != NULL) FAIL(err);
  const uint32_t *t = (const uint32_t *)r.table.data;
  for (size_t i = 0; i < r.n; i++) {
    uint8_t *data = r.buf.data + t[4 * i + 2];
    if (!pc_aead_seal(r.a, r.nonces.data + i * PC_AEAD_NONCE_BYTES, r.buf.data + t[4 * i],
                      t[4 * i + 1], data, t[4 * i + 3], data))
      FAIL("seal failed");
  }
  return NULL;
}

/* openRegions(handle, nonces, buf, table) -> records opened in place before the first whose
 * tag fails (n when all verify); a failed region is wiped. */
static napi_value aead_open_regions(napi_env env, napi_callback_info info) {
  regions r;
  napi_value result;
  const char *err = parse_regions(env, info, &r);
  if (err != NULL) FAIL(err);
  const uint32_t *t = (const uint32_t *)r.table.data;
  size_t i;
  for (i = 0; i < r.n; i++) {
    uint8_t *data = r.buf.data + t[4 * i + 2];
    if (!pc_aead_open(r.a, r.nonces.data + i * PC_AEAD_NONCE_BYTES, r.buf.data + t[4 * i],
                      t[4 * i + 1], data, t[4 * i + 3], data))
      break;
  }
  CHECK(napi_create_uint32(env, (uint32_t)i, &result));
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"aeadCreate", NULL, aead_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadDestroy", NULL, aead_destroy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadSeal", NULL, aead_seal, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadOpen", NULL, aead_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadSealBatch", NULL, aead_seal_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadOpenBatch", NULL, aead_open_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadSealRegions", NULL, aead_seal_regions, NULL, NULL, NULL, napi_enumerable, NULL},
      {"aeadOpenRegions", NULL, aead_open_regions, NULL, NULL, NULL, napi_enumerable, NULL},
      {"poolAlloc", NULL, pc_pool_alloc, NULL, NULL, NULL, napi_enumerable, NULL},
      {"poolConfigure", NULL, pc_pool_configure, NULL, NULL, NULL, napi_enumerable, NULL},
      {"poolTrim", NULL, pc_pool_trim, NULL, NULL, NULL, napi_enumerable, NULL},
      {"poolStats", NULL, pc_pool_stats, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok)
    return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
