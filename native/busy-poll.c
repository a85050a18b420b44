// Busy polling for Node's event loop: while a poller is on, libuv looks for I/O without blocking
// (epoll_wait with a zero timeout) instead of sleeping until some arrives, so the thread keeps its
// core. src/proxy/engine/reply-poller.ts says when a proxy wants that: on a virtual machine a vCPU
// that went to sleep takes the hypervisor 50-100 us to wake. An active uv_idle_t is what makes libuv
// poll without blocking (Node's setImmediate uses one the same way); its callback, which ends
// polling at the deadline, is all it costs per loop iteration, where a setImmediate loop would
// allocate a JavaScript object each time. The handle is unreferenced: it never keeps a process alive.
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h>
#include <uv.h>

typedef struct {
  uv_idle_t idle;  // first, so a handle pointer is the poller's
  uint64_t deadline;  // uv_hrtime() nanoseconds
} poller_t;

static void on_idle(uv_idle_t* idle) {
  poller_t* poller = (poller_t*)idle;
  if (uv_hrtime() >= poller->deadline) uv_idle_stop(idle);
}

static void free_poller(uv_handle_t* handle) { free(handle); }

// The poller's object was collected, or its environment ends: the handle goes with it.
static void finalize_poller(napi_env env, void* data, void* hint) {
  (void)env;
  (void)hint;
  uv_close((uv_handle_t*)data, free_poller);
}

static poller_t* this_poller(napi_env env, napi_callback_info info, size_t* argc, napi_value* argv) {
  napi_value self;
  void* data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, &self, NULL) != napi_ok ||
      napi_unwrap(env, self, &data) != napi_ok) {
    napi_throw_type_error(env, "TRELLIS_NATIVE", "busy-poll: called on something that is not a poller");
    return NULL;
  }
  return (poller_t*)data;
}

// poll(ms): polls without blocking until ms from now (or later, if already asked to); returns
// whether it was polling already.
static napi_value poll(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  poller_t* poller = this_poller(env, info, &argc, argv);
  if (poller == NULL) return NULL;
  double ms = 0;
  if (argc < 1 || napi_get_value_double(env, argv[0], &ms) != napi_ok || !(ms >= 0)) {
    napi_throw_type_error(env, "TRELLIS_NATIVE", "busy-poll: poll(ms) takes a number of milliseconds >= 0");
    return NULL;
  }
  uint64_t until = uv_hrtime() + (uint64_t)(ms * 1e6);
  bool active = uv_is_active((uv_handle_t*)&poller->idle) != 0;
  if (!active || until > poller->deadline) poller->deadline = until;
  if (!active) uv_idle_start(&poller->idle, on_idle);
  napi_value result;
  if (napi_get_boolean(env, active, &result) != napi_ok) return NULL;
  return result;
}

// stop(): back to sleeping until I/O arrives.
static napi_value stop(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  poller_t* poller = this_poller(env, info, &argc, NULL);
  if (poller == NULL) return NULL;
  uv_idle_stop(&poller->idle);
  return NULL;
}

// create(): a poller of the calling thread's event loop, with poll(ms) and stop().
static napi_value create(napi_env env, napi_callback_info info) {
  (void)info;
  uv_loop_t* loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    napi_throw_error(env, "TRELLIS_NATIVE", "busy-poll: no event loop");
    return NULL;
  }
  poller_t* poller = calloc(1, sizeof(poller_t));
  if (poller == NULL) {
    napi_throw_error(env, "TRELLIS_NATIVE", "busy-poll: out of memory");
    return NULL;
  }
  uv_idle_init(loop, &poller->idle);
  uv_unref((uv_handle_t*)&poller->idle);
  napi_value object, poll_fn, stop_fn;
  if (napi_create_object(env, &object) != napi_ok ||
      napi_wrap(env, object, poller, finalize_poller, NULL, NULL) != napi_ok) {
    uv_close((uv_handle_t*)&poller->idle, free_poller);
    napi_throw_error(env, "TRELLIS_NATIVE", "busy-poll: could not make a poller");
    return NULL;
  }
  if (napi_create_function(env, "poll", NAPI_AUTO_LENGTH, poll, NULL, &poll_fn) != napi_ok ||
      napi_create_function(env, "stop", NAPI_AUTO_LENGTH, stop, NULL, &stop_fn) != napi_ok ||
      napi_set_named_property(env, object, "poll", poll_fn) != napi_ok ||
      napi_set_named_property(env, object, "stop", stop_fn) != napi_ok) {
    napi_throw_error(env, "TRELLIS_NATIVE", "busy-poll: could not make a poller");
    return NULL;
  }
  return object;
}

NAPI_MODULE_INIT() {
  napi_value function;
  if (napi_create_function(env, "create", NAPI_AUTO_LENGTH, create, NULL, &function) != napi_ok ||
      napi_set_named_property(env, exports, "create", function) != napi_ok) {
    napi_throw_error(env, "TRELLIS_NATIVE", "native/busy-poll: could not set up its exports");
    return NULL;
  }
  return exports;
}
