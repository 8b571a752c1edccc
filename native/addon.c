/* N-API surface of the native hot path. Every function trusts nothing it is given: the
 * TypeScript layer validates sizes first, and these checks are the second line. */
#include <node_api.h>
#include <stdbool.h>
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

/* What a handle argument that is not a live context of ours fails with: a TypeError. */
static const char NOT_A_HANDLE[] = "not a live AEAD handle (destroyed, or not made by aeadCreate)";

#define FAIL(msg)                                                                          \
  do {                                                                                     \
    const char *m_ = (msg);                                                                \
    if (m_ == NOT_A_HANDLE) napi_throw_type_error(env, "ERR_PEERCOMM_NATIVE", m_);         \
    else napi_throw_range_error(env, "ERR_PEERCOMM_NATIVE", m_);                           \
    return NULL;                                                                           \
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

/* Every handle aeadCreate makes carries this tag, and only a tagged external is read as a box:
 * any other external (another addon's, pointing at anything) is refused, never dereferenced. */
static const napi_type_tag aead_tag = {0x8f1c2e5ad4b34c71ULL, 0xa96e0f27b5d84e13ULL};

static aead_box *get_box(napi_env env, napi_value v) {
  napi_valuetype type;
  bool ours = false;
  aead_box *box = NULL;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_external ||
      napi_check_object_type_tag(env, v, &aead_tag, &ours) != napi_ok || !ours ||
      napi_get_value_external(env, v, (void **)&box) != napi_ok)
    return NULL;
  return box;
}

static pc_aead *get_aead(napi_env env, napi_value v) {
  aead_box *box = get_box(env, v);
  return box == NULL ? NULL : box->aead;
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
  /* (the finalizer owns the box from here on) */
  if (napi_type_tag_object(env, handle, &aead_tag) != napi_ok) FAIL("cannot tag handle");
  return handle;
}

/* destroy(handle): frees the context now rather than at garbage collection. */
static napi_value aead_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  aead_box *box = argc < 1 ? NULL : get_box(env, argv[0]);
  if (box == NULL) FAIL(NOT_A_HANDLE);
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
  if (a == NULL) FAIL(NOT_A_HANDLE);
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
  if (a == NULL) FAIL(NOT_A_HANDLE);
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

/* Length tables are copied into native memory once, and only the copy is checked and used: a
 * table in a SharedArrayBuffer that a Worker rewrites (or one lying inside the output buffer)
 * could otherwise change between the check and the use and send a write out of bounds.
 * Tables of up to PC_TABLE_STACK entries are copied to the stack (the session's usual case). */
#define PC_TABLE_STACK 256

typedef struct {
  uint32_t *v;
  uint32_t stack[PC_TABLE_STACK];
} table;

static void init_table(table *t) { t->v = t->stack; }

/* Copies src (a whole number of u32) into t; returns 0 when out of memory. */
static int copy_table(table *t, const bytes *src) {
  t->v = src->len <= sizeof(t->stack) ? t->stack : malloc(src->len);
  if (t->v == NULL) return 0;
  if (src->len > 0) memcpy(t->v, src->data, src->len);
  return 1;
}

static void free_table(table *t) {
  if (t->v != t->stack) free(t->v);
  t->v = t->stack;
}

/* nonces must hold exactly 12 bytes per record (division: no overflow in n × 12). */
static int nonces_fit(const bytes *nonces, size_t n) {
  return nonces->len % PC_AEAD_NONCE_BYTES == 0 && nonces->len / PC_AEAD_NONCE_BYTES == n &&
         n <= UINT32_MAX;
}

/* A batch: n records laid out back to back. nonces holds n × 12 bytes; aads and inputs are
 * concatenations whose per-record lengths are in the Uint32Arrays aadLens and inLens. */
typedef struct {
  pc_aead *a;
  bytes nonces, aads, in, out;
  table al, il; /* copies of aadLens and inLens */
  size_t n;
} batch;

/* Fills b (its tables must be released with free_batch whatever this returns). Every running
 * total stays within its buffer, so no sum can overflow. */
static const char *parse_batch(napi_env env, napi_callback_info info, batch *b, int sealing) {
  size_t argc = 7;
  napi_value argv[7];
  bytes aad_lens, in_lens;
  init_table(&b->al);
  init_table(&b->il);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 7)
    return "batch takes 7 arguments";
  b->a = get_aead(env, argv[0]);
  if (b->a == NULL) return NOT_A_HANDLE;
  if (!get_bytes(env, argv[1], &b->nonces) || !get_bytes(env, argv[2], &b->aads) ||
      !get_bytes(env, argv[3], &aad_lens) || !get_bytes(env, argv[4], &b->in) ||
      !get_bytes(env, argv[5], &in_lens) || !get_bytes(env, argv[6], &b->out))
    return "arguments must be typed arrays";
  if (in_lens.len % 4 != 0 || aad_lens.len != in_lens.len)
    return "length tables must be Uint32Arrays of one size";
  b->n = in_lens.len / 4;
  if (!nonces_fit(&b->nonces, b->n)) return "nonces must be 12 bytes per record";
  if (!copy_table(&b->al, &aad_lens) || !copy_table(&b->il, &in_lens)) return "out of memory";
  size_t aad_total = 0, in_total = 0, out_total = 0;
  for (size_t i = 0; i < b->n; i++) {
    size_t al = b->al.v[i], il = b->il.v[i];
    if (!sealing && il < PC_AEAD_TAG_BYTES) return "sealed record shorter than the tag";
    size_t ol = sealing ? il + PC_AEAD_TAG_BYTES : il - PC_AEAD_TAG_BYTES;
    if (al > b->aads.len - aad_total || il > b->in.len - in_total)
      return "length table exceeds its data";
    if (ol > b->out.len - out_total) return "output too small";
    aad_total += al;
    in_total += il;
    out_total += ol;
  }
  return NULL;
}

static void free_batch(batch *b) {
  free_table(&b->al);
  free_table(&b->il);
}

/* sealBatch(handle, nonces, aads, aadLens, plaintexts, ptLens, out) */
static napi_value aead_seal_batch(napi_env env, napi_callback_info info) {
  batch b;
  const char *err = parse_batch(env, info, &b, 1);
  if (err == NULL) {
    const uint8_t *aad = b.aads.data, *in = b.in.data;
    uint8_t *out = b.out.data;
    for (size_t i = 0; err == NULL && i < b.n; i++) {
      size_t al = b.al.v[i], il = b.il.v[i];
      if (!pc_aead_seal(b.a, b.nonces.data + i * PC_AEAD_NONCE_BYTES, aad, al, in, il, out))
        err = "seal failed";
      aad += al;
      in += il;
      out += il + PC_AEAD_TAG_BYTES;
    }
  }
  free_batch(&b);
  if (err != NULL) FAIL(err);
  return NULL;
}

/* openBatch(handle, nonces, aads, aadLens, sealed, sealedLens, out) -> number of records
 * opened before the first whose tag fails (n when all verify). */
static napi_value aead_open_batch(napi_env env, napi_callback_info info) {
  batch b;
  napi_value result;
  const char *err = parse_batch(env, info, &b, 0);
  size_t i = 0;
  if (err == NULL) {
    const uint8_t *aad = b.aads.data, *in = b.in.data;
    uint8_t *out = b.out.data;
    for (; i < b.n; i++) {
      size_t al = b.al.v[i], len = b.il.v[i] - PC_AEAD_TAG_BYTES;
      if (!pc_aead_open(b.a, b.nonces.data + i * PC_AEAD_NONCE_BYTES, aad, al, in, len, out))
        break;
      aad += al;
      in += len + PC_AEAD_TAG_BYTES;
      out += len;
    }
  }
  free_batch(&b);
  if (err != NULL) FAIL(err);
  CHECK(napi_create_uint32(env, (uint32_t)i, &result));
  return result;
}

/* Region batches: n records inside ONE buffer, sealed or opened in place. table holds four
 * u32 per record: aad offset, aad length, data offset, data length (the tag sits right after
 * the data). This is the session hot path: every frame of a socket write (or read) shares one
 * buffer, so one crossing covers them all with three arguments besides the handle. */
typedef struct {
  pc_aead *a;
  bytes nonces, buf;
  table t; /* a copy of the region table */
  size_t n;
} regions;

/* Fills r (its table must be released with free_table whatever this returns). */
static const char *parse_regions(napi_env env, napi_callback_info info, regions *r) {
  size_t argc = 4;
  napi_value argv[4];
  bytes tbl;
  init_table(&r->t);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 4)
    return "region batch takes 4 arguments";
  r->a = get_aead(env, argv[0]);
  if (r->a == NULL) return NOT_A_HANDLE;
  if (!get_bytes(env, argv[1], &r->nonces) || !get_bytes(env, argv[2], &r->buf) ||
      !get_bytes(env, argv[3], &tbl))
    return "arguments must be typed arrays";
  if (tbl.len % 16 != 0) return "region table must be a Uint32Array of 4 entries per record";
  r->n = tbl.len / 16;
  if (!nonces_fit(&r->nonces, r->n)) return "nonces must be 12 bytes per record";
  if (!copy_table(&r->t, &tbl)) return "out of memory";
  const uint32_t *t = r->t.v;
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
  const uint32_t *t = r.t.v;
  for (size_t i = 0; err == NULL && i < r.n; i++) {
    uint8_t *data = r.buf.data + t[4 * i + 2];
    if (!pc_aead_seal(r.a, r.nonces.data + i * PC_AEAD_NONCE_BYTES, r.buf.data + t[4 * i],
                      t[4 * i + 1], data, t[4 * i + 3], data))
      err = "seal failed";
  }
  free_table(&r.t);
  if (err != NULL) FAIL(err);
  return NULL;
}

/* openRegions(handle, nonces, buf, table) -> records opened in place before the first whose
 * tag fails (n when all verify); a failed region is wiped. */
static napi_value aead_open_regions(napi_env env, napi_callback_info info) {
  regions r;
  napi_value result;
  const char *err = parse_regions(env, info, &r);
  const uint32_t *t = r.t.v;
  size_t i = 0;
  for (; err == NULL && i < r.n; i++) {
    uint8_t *data = r.buf.data + t[4 * i + 2];
    if (!pc_aead_open(r.a, r.nonces.data + i * PC_AEAD_NONCE_BYTES, r.buf.data + t[4 * i],
                      t[4 * i + 1], data, t[4 * i + 3], data))
      break;
  }
  free_table(&r.t);
  if (err != NULL) FAIL(err);
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
