/* A stand-in for another addon: exports external() -> an N-API external whose data points at
 * memory that is not one of peercomm's AEAD contexts (its first word is a wild pointer). Built
 * by the test with the system C compiler; declares the few N-API functions it uses so that it
 * needs no headers. */
#include <stddef.h>

typedef struct napi_env__ *napi_env;
typedef struct napi_value__ *napi_value;
typedef struct napi_callback_info__ *napi_callback_info;
typedef int napi_status;
typedef napi_value (*napi_callback)(napi_env, napi_callback_info);
typedef void (*napi_finalize)(napi_env, void *, void *);

napi_status napi_create_external(napi_env, void *, napi_finalize, void *, napi_value *);
napi_status napi_create_function(napi_env, const char *, size_t, napi_callback, void *, napi_value *);
napi_status napi_set_named_property(napi_env, napi_value, const char *, napi_value);

static void *wild[4] = {(void *)0x4141414141414141ull, (void *)0x4242424242424242ull};

static napi_value external(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value v = NULL;
  napi_create_external(env, wild, NULL, NULL, &v);
  return v;
}

__attribute__((visibility("default"))) napi_value napi_register_module_v1(napi_env env, napi_value exports) {
  napi_value fn;
  if (napi_create_function(env, "external", 8, external, NULL, &fn) == 0)
    napi_set_named_property(env, exports, "external", fn);
  return exports;
}

__attribute__((visibility("default"))) int node_api_module_get_api_version_v1(void) { return 8; }
