// weft's kernel socket primitives for Node: netlink and packet sockets, datagram send/recv, and a
// readability watch on the libuv loop. No policy lives here; router/native.ts describes the API.
// Every failure becomes a JS Error with .code (errno name) and .errno; nothing here aborts.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <net/ethernet.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

#define MAX_GROUPS 64

static const char *errno_name(int err) {
  const char *name = strerrorname_np(err);
  return name ? name : "EUNKNOWN";
}

static napi_value throw_errno(napi_env env, const char *syscall, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s failed: %s", syscall, strerror(err));
  napi_value code, text, error, num;
  napi_create_string_utf8(env, errno_name(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, err, &num);
  napi_set_named_property(env, error, "errno", num);
  napi_value sc;
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &sc);
  napi_set_named_property(env, error, "syscall", sc);
  napi_throw(env, error);
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

static napi_value make_int(napi_env env, int64_t v) {
  napi_value out;
  napi_create_int64(env, v, &out);
  return out;
}

static int get_int(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

// Reads an optional string argument (null/undefined -> empty). Returns 0 on a type error.
static int get_opt_path(napi_env env, napi_value v, char *buf, size_t cap) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  buf[0] = 0;
  if (t == napi_null || t == napi_undefined) return 1;
  if (t != napi_string) return 0;
  size_t len;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) return 0;
  return len < cap - 1;
}

// Netns switching: enter() saves the thread's namespace and joins the target; leave() always restores.
typedef struct {
  int orig;
  int target;
} netns_switch;

static int netns_enter(napi_env env, const char *path, netns_switch *sw) {
  sw->orig = -1;
  sw->target = -1;
  if (!path[0]) return 1;
  sw->target = open(path, O_RDONLY | O_CLOEXEC);
  if (sw->target < 0) {
    int e = errno;
    char what[300];
    snprintf(what, sizeof what, "open netns %s", path);
    throw_errno(env, what, e);
    return 0;
  }
  sw->orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (sw->orig < 0) {
    int e = errno;
    close(sw->target);
    throw_errno(env, "open /proc/thread-self/ns/net", e);
    return 0;
  }
  if (setns(sw->target, CLONE_NEWNET) < 0) {
    int e = errno;
    close(sw->target);
    close(sw->orig);
    char what[300];
    snprintf(what, sizeof what, "setns %s", path);
    throw_errno(env, what, e);
    return 0;
  }
  return 1;
}

// Returns 0 (with a pending JS error) only if the thread could not go back: the caller must not go on.
static int netns_leave(napi_env env, netns_switch *sw) {
  if (sw->orig < 0) return 1;
  int ok = setns(sw->orig, CLONE_NEWNET) == 0;
  int e = errno;
  close(sw->orig);
  close(sw->target);
  if (!ok) throw_errno(env, "setns back to the original netns", e);
  return ok;
}

// openNetlink(protocol, groups, netnsPath | null, rcvbuf) -> fd
static napi_value open_netlink(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return throw_type(env, "openNetlink(protocol, groups, netnsPath, rcvbuf)");
  int32_t protocol, rcvbuf;
  if (!get_int(env, argv[0], &protocol)) return throw_type(env, "protocol must be a number");
  if (!get_int(env, argv[3], &rcvbuf)) return throw_type(env, "rcvbuf must be a number");
  bool is_array = false;
  napi_is_array(env, argv[1], &is_array);
  if (!is_array) return throw_type(env, "groups must be an array of numbers");
  uint32_t ngroups;
  napi_get_array_length(env, argv[1], &ngroups);
  if (ngroups > MAX_GROUPS) return throw_type(env, "too many groups");
  int32_t groups[MAX_GROUPS];
  for (uint32_t i = 0; i < ngroups; i++) {
    napi_value g;
    napi_get_element(env, argv[1], i, &g);
    if (!get_int(env, g, &groups[i]) || groups[i] <= 0) return throw_type(env, "groups must be positive numbers");
  }
  char path[4096];
  if (!get_opt_path(env, argv[2], path, sizeof path)) return throw_type(env, "netnsPath must be a string or null");

  netns_switch sw;
  if (!netns_enter(env, path, &sw)) return NULL;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  int sock_err = errno;
  if (!netns_leave(env, &sw)) {
    if (fd >= 0) close(fd);
    return NULL;
  }
  if (fd < 0) return throw_errno(env, "socket(AF_NETLINK)", sock_err);

  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "setsockopt(SO_RCVBUF)", e);
  }
  int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);

  struct sockaddr_nl addr;
  memset(&addr, 0, sizeof addr);
  addr.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind(AF_NETLINK)", e);
  }
  for (uint32_t i = 0; i < ngroups; i++) {
    if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &groups[i], sizeof groups[i]) < 0) {
      int e = errno;
      close(fd);
      return throw_errno(env, "setsockopt(NETLINK_ADD_MEMBERSHIP)", e);
    }
  }
  return make_int(env, fd);
}

// openPacket(ifindex, ethertype, netnsPath | null) -> fd
static napi_value open_packet(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_type(env, "openPacket(ifindex, ethertype, netnsPath)");
  int32_t ifindex, ethertype;
  if (!get_int(env, argv[0], &ifindex) || ifindex <= 0) return throw_type(env, "ifindex must be a positive number");
  if (!get_int(env, argv[1], &ethertype) || ethertype < 0 || ethertype > 0xffff)
    return throw_type(env, "ethertype must be a 16-bit number");
  char path[4096] = {0};
  if (argc >= 3 && !get_opt_path(env, argv[2], path, sizeof path))
    return throw_type(env, "netnsPath must be a string or null");

  netns_switch sw;
  if (!netns_enter(env, path, &sw)) return NULL;
  // Protocol 0 until bind: the socket receives nothing before it is tied to the interface.
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int sock_err = errno;
  if (!netns_leave(env, &sw)) {
    if (fd >= 0) close(fd);
    return NULL;
  }
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", sock_err);

  struct sockaddr_ll addr;
  memset(&addr, 0, sizeof addr);
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons((uint16_t)ethertype);
  addr.sll_ifindex = ifindex;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind(AF_PACKET)", e);
  }
  return make_int(env, fd);
}

static int get_fd_and_buffer(napi_env env, napi_callback_info info, int32_t *fd, void **data, size_t *len) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  bool is_buffer = false;
  if (argc < 2 || !get_int(env, argv[0], fd)) return 0;
  napi_is_buffer(env, argv[1], &is_buffer);
  if (!is_buffer) return 0;
  return napi_get_buffer_info(env, argv[1], data, len) == napi_ok;
}

// send(fd, buf) -> bytes sent. Netlink datagrams go to the kernel (nl_pid 0).
static napi_value do_send(napi_env env, napi_callback_info info) {
  int32_t fd;
  void *data;
  size_t len;
  if (!get_fd_and_buffer(env, info, &fd, &data, &len)) return throw_type(env, "send(fd, buffer)");
  int domain = 0;
  socklen_t dlen = sizeof domain;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &dlen) < 0) return throw_errno(env, "getsockopt(SO_DOMAIN)", errno);
  ssize_t n;
  do {
    if (domain == AF_NETLINK) {
      struct sockaddr_nl to;
      memset(&to, 0, sizeof to);
      to.nl_family = AF_NETLINK;
      n = sendto(fd, data, len, 0, (struct sockaddr *)&to, sizeof to);
    } else {
      n = send(fd, data, len, 0);
    }
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "send", errno);
  return make_int(env, n);
}

// recv(fd, buf) -> datagram length (may exceed buf.length: truncated), or -1 when nothing is queued.
static napi_value do_recv(napi_env env, napi_callback_info info) {
  int32_t fd;
  void *data;
  size_t len;
  if (!get_fd_and_buffer(env, info, &fd, &data, &len)) return throw_type(env, "recv(fd, buffer)");
  ssize_t n;
  do {
    n = recv(fd, data, len, MSG_TRUNC | MSG_DONTWAIT);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_int(env, -1);
    return throw_errno(env, "recv", errno);
  }
  return make_int(env, n);
}

static napi_value do_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  if (argc < 1 || !get_int(env, argv[0], &fd)) return throw_type(env, "close(fd)");
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, "close", errno);
  return NULL;
}

// A readability watch. Two owners hold it: the JS handle (external) and the uv handle until it
// has closed; whichever lets go last frees it. The callback reference and async context are
// released in the close callback, so unwatch() from inside the callback is safe.
typedef struct {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  int refs;
  int stopped;
  int env_dead;
} watcher;

static void watcher_release(watcher *w) {
  if (--w->refs == 0) free(w);
}

static void env_cleanup(void *arg);

static void on_poll_closed(uv_handle_t *h) {
  watcher *w = (watcher *)h->data;
  if (!w->env_dead) {
    napi_remove_env_cleanup_hook(w->env, env_cleanup, w);
    napi_async_destroy(w->env, w->async);
    napi_delete_reference(w->env, w->callback);
  }
  watcher_release(w);
}

static void watcher_stop(watcher *w) {
  if (w->stopped) return;
  w->stopped = 1;
  uv_poll_stop(&w->poll);
  uv_close((uv_handle_t *)&w->poll, on_poll_closed);
}

static void env_cleanup(void *arg) {
  watcher *w = (watcher *)arg;
  w->env_dead = 1;
  watcher_stop(w);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  watcher *w = (watcher *)h->data;
  if (w->stopped) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn, recv, result;
  napi_get_reference_value(env, w->callback, &fn);
  napi_get_global(env, &recv);
  napi_status st = napi_make_callback(env, w->async, recv, fn, 0, NULL, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
  }
  napi_close_handle_scope(env, scope);
  // libuv stops a poll handle whose fd reports POLLERR (a netlink overrun sets sk_err, a packet
  // socket's interface going down too). The callback's recv has consumed that error, so re-arm.
  if (status < 0 && !w->stopped) uv_poll_start(&w->poll, UV_READABLE, on_readable);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  watcher_release((watcher *)data);
}

// watch(fd, callback) -> handle; callback() runs whenever fd is readable until unwatch(handle).
static napi_value do_watch(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  napi_valuetype t = napi_undefined;
  if (argc >= 2) napi_typeof(env, argv[1], &t);
  if (argc < 2 || !get_int(env, argv[0], &fd) || t != napi_function) return throw_type(env, "watch(fd, callback)");
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) return throw_errno(env, "napi_get_uv_event_loop", EINVAL);
  watcher *w = calloc(1, sizeof *w);
  if (!w) return throw_errno(env, "calloc", ENOMEM);
  int rc = uv_poll_init(loop, &w->poll, fd);
  if (rc < 0) {
    free(w);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  w->poll.data = w;
  w->env = env;
  w->refs = 2;
  napi_create_reference(env, argv[1], 1, &w->callback);
  napi_value name, resource;
  napi_create_string_utf8(env, "weft:watch", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &resource);
  napi_async_init(env, resource, name, &w->async);
  napi_add_env_cleanup_hook(env, env_cleanup, w);
  rc = uv_poll_start(&w->poll, UV_READABLE, on_readable);
  napi_value handle;
  napi_create_external(env, w, finalize_handle, NULL, &handle);
  if (rc < 0) {
    watcher_stop(w);
    return throw_errno(env, "uv_poll_start", -rc);
  }
  return handle;
}

// unwatch(handle): no callback runs after this returns. Safe to repeat.
static napi_value do_unwatch(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_external) return throw_type(env, "unwatch(handle)");
  void *data;
  napi_get_value_external(env, argv[0], &data);
  watcher_stop((watcher *)data);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"openNetlink", NULL, open_netlink, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openPacket", NULL, open_packet, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, do_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recv", NULL, do_recv, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, do_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watch", NULL, do_watch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unwatch", NULL, do_unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(weft_native, init)
