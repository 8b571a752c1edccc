/* Recycled memory for large reassembly buffers (see buffer-pool.c). */
#ifndef PEERCOMM_BUFFER_POOL_H
#define PEERCOMM_BUFFER_POOL_H

#include <node_api.h>

#define PC_POOL_MAX_SLOTS 8 /* the most buffers the pool can be configured to keep */

/* poolAlloc(bytes) -> Buffer of exactly `bytes` (contents undefined), or undefined when this
 * runtime refuses external buffers. */
napi_value pc_pool_alloc(napi_env env, napi_callback_info info);
/* poolConfigure(slots, idleMs): keep at most `slots` buffers, for `idleMs` after the last alloc. */
napi_value pc_pool_configure(napi_env env, napi_callback_info info);
/* poolTrim() -> ms until the pool falls idle (call again then), or 0: idle and emptied. */
napi_value pc_pool_trim(napi_env env, napi_callback_info info);
/* poolStats() -> [hits, misses, buffers kept, bytes kept]. */
napi_value pc_pool_stats(napi_env env, napi_callback_info info);

#endif
