// malloc_trim(0) for Node: gives the pages that glibc's malloc holds free back to the system (every
// arena's, not only the top of the main one, which is all glibc returns by itself). Node does not
// expose it; src/proxy/malloc-release.ts says why a proxy wants it. It runs on the calling thread
// (0.2-2.4 ms in a sidecar): as N-API async work it would start libuv's thread pool, whose code and
// threads cost a proxy ~0.5 MiB of resident memory, half of what trimming gives back.
// Where the C library has no malloc_trim (musl, macOS), `supported` is false and trim does nothing.
#include <node_api.h>

#if defined(__GLIBC__)
#include <malloc.h>
#define HAVE_MALLOC_TRIM 1
#else
#define HAVE_MALLOC_TRIM 0
#endif

// trim(): boolean, whether any memory went back to the system.
static napi_value trim(napi_env env, napi_callback_info info) {
  (void)info;
  int released = 0;
#if HAVE_MALLOC_TRIM
  released = malloc_trim(0);
#endif
  napi_value result;
  if (napi_get_boolean(env, released != 0, &result) != napi_ok) return NULL;
  return result;
}

NAPI_MODULE_INIT() {
  napi_value function, supported;
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, trim, NULL, &function) != napi_ok ||
      napi_get_boolean(env, HAVE_MALLOC_TRIM, &supported) != napi_ok ||
      napi_set_named_property(env, exports, "trim", function) != napi_ok ||
      napi_set_named_property(env, exports, "supported", supported) != napi_ok) {
    napi_throw_error(env, "TRELLIS_NATIVE", "native/malloc-trim: could not set up its exports");
    return NULL;
  }
  return exports;
}
