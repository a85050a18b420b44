// execve(2) for Node: replaces the running program with another, in the same process (same PID,
// same standard streams; every other descriptor closes, as Node opens them close-on-exec). Node 20 has no process.execve (it came in Node 23.11); bin/trellis.js
// uses this to start a proxy's Node again with options that only take effect at start-up
// (--v8-pool-size, see bin/relaunch.js), without a second process a supervisor would not know of.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <node_api.h>

static void free_strings(char **strings, uint32_t count) {
  if (strings == NULL) return;
  for (uint32_t i = 0; i < count; i++) free(strings[i]);
  free(strings);
}

static char *copy_string(napi_env env, napi_value value) {
  size_t length;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *copy = malloc(length + 1);
  if (copy == NULL) return NULL;
  if (napi_get_value_string_utf8(env, value, copy, length + 1, &length) != napi_ok) {
    free(copy);
    return NULL;
  }
  return copy;
}

// A NULL-terminated copy of an array of strings; NULL (with *count the entries copied) on failure.
static char **copy_strings(napi_env env, napi_value array, uint32_t *count) {
  uint32_t length;
  *count = 0;
  if (napi_get_array_length(env, array, &length) != napi_ok) return NULL;
  char **strings = calloc((size_t)length + 1, sizeof(char *));
  if (strings == NULL) return NULL;
  for (uint32_t i = 0; i < length; i++) {
    napi_value element;
    if (napi_get_element(env, array, i, &element) != napi_ok ||
        (strings[i] = copy_string(env, element)) == NULL) {
      free_strings(strings, *count);
      return NULL;
    }
    *count = i + 1;
  }
  return strings;
}

// Node marks every descriptor it inherited close-on-exec when it starts, the standard streams too;
// they are what the new program must keep. Returns the descriptors' previous flags.
static void inherit_standard_streams(int previous[3]) {
  for (int fd = 0; fd < 3; fd++) {
    previous[fd] = fcntl(fd, F_GETFD);
    if (previous[fd] >= 0 && (previous[fd] & FD_CLOEXEC)) fcntl(fd, F_SETFD, previous[fd] & ~FD_CLOEXEC);
  }
}

static void restore_standard_streams(const int previous[3]) {
  for (int fd = 0; fd < 3; fd++) {
    if (previous[fd] >= 0) fcntl(fd, F_SETFD, previous[fd]);
  }
}

// exec(file: string, argv: string[], env: string[] of "NAME=value"): does not return when it works;
// otherwise throws an Error (code TRELLIS_EXEC_FAILED) with the system's reason.
static napi_value exec(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value args[3];
  if (napi_get_cb_info(env, info, &argc, args, NULL, NULL) != napi_ok || argc < 3) {
    napi_throw_type_error(env, "TRELLIS_NATIVE", "exec(file, argv, env) takes three arguments");
    return NULL;
  }
  uint32_t argv_count = 0, env_count = 0;
  char *file = copy_string(env, args[0]);
  char **argv = copy_strings(env, args[1], &argv_count);
  char **envp = copy_strings(env, args[2], &env_count);
  int error = EINVAL;
  if (file != NULL && argv != NULL && envp != NULL) {
    int previous[3];
    inherit_standard_streams(previous);
    execve(file, argv, envp);
    error = errno;
    restore_standard_streams(previous);
  }
  free(file);
  free_strings(argv, argv_count);
  free_strings(envp, env_count);
  napi_throw_error(env, "TRELLIS_EXEC_FAILED", strerror(error));
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value function;
  if (napi_create_function(env, "exec", NAPI_AUTO_LENGTH, exec, NULL, &function) != napi_ok ||
      napi_set_named_property(env, exports, "exec", function) != napi_ok) {
    napi_throw_error(env, "TRELLIS_NATIVE", "native/process-exec: could not set up its exports");
    return NULL;
  }
  return exports;
}
