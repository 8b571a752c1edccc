/* Recycled memory for large reassembly buffers.
 *
 * A buffered chunked message (up to 64 MiB) is decrypted into one buffer allocated at its
 * announced size. glibc serves allocations over 32 MiB with a fresh mmap and unmaps them on
 * free, so every such message made the kernel fault in and zero 16,384 pages on the receiving
 * thread (~25-30 ms per 64 MiB on the benchmark machine: 0.73x the MB/s of 1 MiB messages).
 *
 * Here a large buffer is handed to JavaScript as an external Buffer whose finalizer (run once
 * V8 has collected every view of it) puts the memory back into a small pool instead of freeing
 * it; the next large message reuses it, already mapped. Bounds: at most `slots` buffers kept
 * (default 2, at most PC_POOL_MAX_SLOTS), and nothing kept once no large buffer was asked for
 * in `idle` ms (JavaScript calls pc_pool_trim on a timer). Memory is only reused after the
 * garbage collector proved nothing can read it, and the reassembler overwrites every byte of a
 * buffer before it delivers the message (and wipes what arrived of an abandoned one), so no
 * byte of an earlier message can show through. The mutex is for worker threads: each has its
 * own napi_env but they share this pool. */
#include "buffer-pool.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

typedef struct {
  void *data;
  size_t capacity;
} slot;

static struct {
  pthread_mutex_t lock;
  slot slots[PC_POOL_MAX_SLOTS];
  size_t kept;
  size_t max_slots;
  uint64_t idle_ns;
  uint64_t last_alloc_ns;
  double hits, misses;
} pool = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0, 2, 10000000000ull, 0, 0, 0};

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int pool_idle(uint64_t now) { return now - pool.last_alloc_ns >= pool.idle_ns; }

/* Finalizer of a pooled Buffer: the memory goes back to the pool, or is freed. The capacity
 * travels in the hint. */
static void give_back(napi_env env, void *data, void *hint) {
  (void)env;
  size_t capacity = (size_t)(uintptr_t)hint;
  pthread_mutex_lock(&pool.lock);
  if (pool.kept < pool.max_slots && !pool_idle(now_ns())) {
    pool.slots[pool.kept].data = data;
    pool.slots[pool.kept].capacity = capacity;
    pool.kept++;
    data = NULL;
  }
  pthread_mutex_unlock(&pool.lock);
  free(data);
}

/* Frees kept buffers until at most `keep` remain; called with the lock held. */
static void drop_slots(size_t keep, void **to_free, size_t *n_free) {
  while (pool.kept > keep) to_free[(*n_free)++] = pool.slots[--pool.kept].data;
}

static void free_all(void **to_free, size_t n) {
  for (size_t i = 0; i < n; i++) free(to_free[i]);
}

napi_value pc_pool_alloc(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  double requested = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_double(env, argv[0], &requested) != napi_ok || !(requested >= 1) ||
      requested > 4294967295.0 || requested != (double)(size_t)requested) {
    napi_throw_range_error(env, "ERR_PEERCOMM_NATIVE", "poolAlloc(bytes): bytes must be an integer in [1, 2^32)");
    return NULL;
  }
  size_t len = (size_t)requested;
  void *data = NULL;
  size_t capacity = len;
  pthread_mutex_lock(&pool.lock);
  pool.last_alloc_ns = now_ns();
  size_t best = pool.kept;
  for (size_t i = 0; i < pool.kept; i++) {
    if (pool.slots[i].capacity >= len && (best == pool.kept || pool.slots[i].capacity < pool.slots[best].capacity)) best = i;
  }
  if (best < pool.kept) {
    data = pool.slots[best].data;
    capacity = pool.slots[best].capacity;
    pool.slots[best] = pool.slots[--pool.kept];
    pool.hits++;
  } else {
    pool.misses++;
  }
  pthread_mutex_unlock(&pool.lock);
  if (data == NULL && (data = malloc(len)) == NULL) {
    napi_throw_range_error(env, "ERR_PEERCOMM_NATIVE", "poolAlloc: out of memory");
    return NULL;
  }
  napi_status status = napi_create_external_buffer(env, len, data, give_back, (void *)(uintptr_t)capacity, &out);
  if (status != napi_ok) {
    /* e.g. napi_no_external_buffers_allowed (a V8 sandbox): the caller allocates itself. */
    free(data);
    napi_get_undefined(env, &out);
  }
  return out;
}

napi_value pc_pool_configure(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  uint32_t slots = 0, idle_ms = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_uint32(env, argv[0], &slots) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &idle_ms) != napi_ok || slots > PC_POOL_MAX_SLOTS) {
    napi_throw_range_error(env, "ERR_PEERCOMM_NATIVE", "poolConfigure(slots <= 8, idleMs)");
    return NULL;
  }
  void *to_free[PC_POOL_MAX_SLOTS];
  size_t n_free = 0;
  pthread_mutex_lock(&pool.lock);
  pool.max_slots = slots;
  pool.idle_ns = (uint64_t)idle_ms * 1000000ull;
  drop_slots(slots, to_free, &n_free);
  pthread_mutex_unlock(&pool.lock);
  free_all(to_free, n_free);
  return NULL;
}

napi_value pc_pool_trim(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  void *to_free[PC_POOL_MAX_SLOTS];
  size_t n_free = 0;
  double wait_ms = 0;
  pthread_mutex_lock(&pool.lock);
  uint64_t now = now_ns();
  if (pool_idle(now)) drop_slots(0, to_free, &n_free);
  else wait_ms = (double)((pool.last_alloc_ns + pool.idle_ns - now + 999999) / 1000000);
  pthread_mutex_unlock(&pool.lock);
  free_all(to_free, n_free);
  if (napi_create_double(env, wait_ms, &out) != napi_ok) return NULL;
  return out;
}

napi_value pc_pool_stats(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out, v;
  double values[4];
  pthread_mutex_lock(&pool.lock);
  values[0] = pool.hits;
  values[1] = pool.misses;
  values[2] = (double)pool.kept;
  values[3] = 0;
  for (size_t i = 0; i < pool.kept; i++) values[3] += (double)pool.slots[i].capacity;
  pthread_mutex_unlock(&pool.lock);
  if (napi_create_array_with_length(env, 4, &out) != napi_ok) return NULL;
  for (uint32_t i = 0; i < 4; i++) {
    if (napi_create_double(env, values[i], &v) != napi_ok || napi_set_element(env, out, i, v) != napi_ok) return NULL;
  }
  return out;
}
