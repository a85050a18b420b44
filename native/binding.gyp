{
  "targets": [
    {
      "target_name": "malloc_trim",
      "sources": ["malloc-trim.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    },
    {
      "target_name": "busy_poll",
      "sources": ["busy-poll.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    },
    {
      "target_name": "process_exec",
      "sources": ["process-exec.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"]
    }
  ]
}
