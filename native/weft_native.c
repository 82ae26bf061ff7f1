// weft's kernel socket primitives for Node: netlink and packet sockets, datagram send/recv, TUN
// devices with batched read/write, batched UDP (sendmmsg/recvmmsg), a readability watch on the
// libuv loop, and batched ESP AEAD with OpenSSL (the EVP symbols resolve from the node binary itself,
// so there is no -lcrypto). No policy lives here; router/native.ts and crypto/esp-native.ts describe the API.
// Every failure becomes a JS Error with .code (errno name) and .errno; nothing here aborts.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <net/ethernet.h>
#include <arpa/inet.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <node_api.h>
#include <openssl/evp.h>
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

// ---- TUN devices and batched datagrams ------------------------------------------------------
// Batches live in one "slab" Buffer cut into equal slots: packet i occupies
// slab[i * slotSize + offset …], its length is lengths[i]. One N-API call moves a whole batch.

#define MAX_BATCH 256

// Reads an object property as a boolean; absent or non-boolean counts as false.
static int get_flag(napi_env env, napi_value obj, const char *name) {
  napi_valuetype t;
  if (napi_typeof(env, obj, &t) != napi_ok || t != napi_object) return 0;
  bool has = false;
  napi_has_named_property(env, obj, name, &has);
  if (!has) return 0;
  napi_value v;
  bool b = false;
  napi_get_named_property(env, obj, name, &v);
  if (napi_get_value_bool(env, v, &b) != napi_ok) return 0;
  return b;
}

typedef struct {
  int32_t fd;
  uint8_t *slab;
  size_t slab_len;
  uint32_t slot;
  uint32_t offset;
  int32_t *lengths;
  size_t nlengths;
} batch_args;

// Parses (fd, slab, slotSize, offset, lengths: Int32Array) from argv[0..4]; returns the usable slot count or -1.
static int get_batch(napi_env env, napi_value *argv, batch_args *b) {
  bool is_buffer = false;
  int32_t slot, offset;
  if (!get_int(env, argv[0], &b->fd)) return -1;
  napi_is_buffer(env, argv[1], &is_buffer);
  if (!is_buffer || napi_get_buffer_info(env, argv[1], (void **)&b->slab, &b->slab_len) != napi_ok) return -1;
  if (!get_int(env, argv[2], &slot) || slot <= 0) return -1;
  if (!get_int(env, argv[3], &offset) || offset < 0 || offset >= slot) return -1;
  napi_typedarray_type type;
  void *data;
  if (napi_get_typedarray_info(env, argv[4], &type, &b->nlengths, &data, NULL, NULL) != napi_ok || type != napi_int32_array) return -1;
  b->lengths = (int32_t *)data;
  b->slot = (uint32_t)slot;
  b->offset = (uint32_t)offset;
  size_t slots = b->slab_len / b->slot;
  if (slots > b->nlengths) slots = b->nlengths;
  if (slots > MAX_BATCH) slots = MAX_BATCH;
  return (int)slots;
}

static int get_uint32_array(napi_env env, napi_value v, uint32_t **out, size_t *len) {
  napi_typedarray_type type;
  void *data;
  if (napi_get_typedarray_info(env, v, &type, len, &data, NULL, NULL) != napi_ok || type != napi_uint32_array) return 0;
  *out = (uint32_t *)data;
  return 1;
}

// openTun(name, netnsPath | null, { persist, multiQueue }) -> fd. Non-blocking, close-on-exec,
// IFF_TUN | IFF_NO_PI: every read is one whole IP packet. Attaches to the device if it exists.
static napi_value open_tun(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_type(env, "openTun(name, netnsPath, options)");
  char name[IFNAMSIZ + 1];
  size_t nlen;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t != napi_string || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok || nlen == 0 || nlen >= IFNAMSIZ)
    return throw_type(env, "name must be 1 to 15 bytes");
  char path[4096];
  if (!get_opt_path(env, argv[1], path, sizeof path)) return throw_type(env, "netnsPath must be a string or null");
  int persist = argc >= 3 && get_flag(env, argv[2], "persist");
  int multi = argc >= 3 && get_flag(env, argv[2], "multiQueue");

  // The device is created in the namespace of the task that opens /dev/net/tun.
  netns_switch sw;
  if (!netns_enter(env, path, &sw)) return NULL;
  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  int open_err = errno;
  if (!netns_leave(env, &sw)) {
    if (fd >= 0) close(fd);
    return NULL;
  }
  if (fd < 0) return throw_errno(env, "open /dev/net/tun", open_err);

  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, nlen);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi ? IFF_MULTI_QUEUE : 0);
  if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "ioctl(TUNSETIFF)", e);
  }
  if (persist && ioctl(fd, TUNSETPERSIST, 1) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "ioctl(TUNSETPERSIST)", e);
  }
  return make_int(env, fd);
}

// setTunPersist(fd, on): a persistent device outlives its last fd; clearing it lets close() delete the device.
static napi_value set_tun_persist(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  bool on = false;
  if (argc < 2 || !get_int(env, argv[0], &fd) || napi_get_value_bool(env, argv[1], &on) != napi_ok) return throw_type(env, "setTunPersist(fd, on)");
  if (ioctl(fd, TUNSETPERSIST, on ? 1 : 0) < 0) return throw_errno(env, "ioctl(TUNSETPERSIST)", errno);
  return NULL;
}

// setMark(fd, mark): SO_MARK on a socket (needs CAP_NET_ADMIN); nftables can then tell its packets apart.
static napi_value set_mark(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  uint32_t mark;
  if (argc < 2 || !get_int(env, argv[0], &fd) || napi_get_value_uint32(env, argv[1], &mark) != napi_ok) return throw_type(env, "setMark(fd, mark)");
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark) < 0) return throw_errno(env, "setsockopt(SO_MARK)", errno);
  return NULL;
}

// setTcpLiveness(fd, idleS, intervalS, count, userTimeoutMs): the kernel watches a TCP connection
// instead of the program: keepalive probes after idleS of silence, every intervalS, and the
// connection fails once nothing it sent (data or probe) was acknowledged for userTimeoutMs
// (TCP_USER_TIMEOUT overrides the probe count). The mesh's control connections use it (mesh/transport.ts).
static napi_value set_tcp_liveness(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, idle, interval, count;
  uint32_t user_timeout;
  if (argc < 5 || !get_int(env, argv[0], &fd) || !get_int(env, argv[1], &idle) || !get_int(env, argv[2], &interval) || !get_int(env, argv[3], &count) ||
      napi_get_value_uint32(env, argv[4], &user_timeout) != napi_ok)
    return throw_type(env, "setTcpLiveness(fd, idleS, intervalS, count, userTimeoutMs)");
  int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) < 0) return throw_errno(env, "setsockopt(SO_KEEPALIVE)", errno);
  if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle) < 0) return throw_errno(env, "setsockopt(TCP_KEEPIDLE)", errno);
  if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval) < 0) return throw_errno(env, "setsockopt(TCP_KEEPINTVL)", errno);
  if (setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count) < 0) return throw_errno(env, "setsockopt(TCP_KEEPCNT)", errno);
  if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof user_timeout) < 0) return throw_errno(env, "setsockopt(TCP_USER_TIMEOUT)", errno);
  return NULL;
}

// setUdpEncap(fd, type): UDP_ENCAP on a UDP socket (2 = ESP in UDP, RFC 3948): the kernel's xfrm
// then takes the ESP datagrams arriving on it.
#ifndef UDP_ENCAP
#define UDP_ENCAP 100
#endif
static napi_value set_udp_encap(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd, type;
  if (argc < 2 || !get_int(env, argv[0], &fd) || !get_int(env, argv[1], &type)) return throw_type(env, "setUdpEncap(fd, type)");
  if (setsockopt(fd, IPPROTO_UDP, UDP_ENCAP, &type, sizeof type) < 0) return throw_errno(env, "setsockopt(UDP_ENCAP)", errno);
  return NULL;
}

// readBatch(fd, slab, slotSize, offset, lengths) -> count. Reads until EAGAIN or the batch is full.
// An error after the first packet ends the batch quietly (the next call reports it).
static napi_value read_batch(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  batch_args b;
  int slots = argc < 5 ? -1 : get_batch(env, argv, &b);
  if (slots < 0) return throw_type(env, "readBatch(fd, slab, slotSize, offset, lengths: Int32Array)");
  int n = 0;
  while (n < slots) {
    ssize_t r = read(b.fd, b.slab + (size_t)n * b.slot + b.offset, b.slot - b.offset);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK || n > 0) break;
      return throw_errno(env, "read", errno);
    }
    b.lengths[n++] = (int32_t)r;
  }
  return make_int(env, n);
}

// writeBatch(fd, slab, slotSize, offset, lengths, count) -> packets consumed. A packet the kernel
// rejects (a malformed one: EINVAL, …) is skipped with lengths[i] = -errno; EAGAIN stops the batch,
// so a result < count means "the rest did not fit now".
static napi_value write_batch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  batch_args b;
  int32_t count;
  int slots = argc < 6 ? -1 : get_batch(env, argv, &b);
  if (slots < 0 || !get_int(env, argv[5], &count) || count < 0 || count > slots)
    return throw_type(env, "writeBatch(fd, slab, slotSize, offset, lengths: Int32Array, count)");
  int n = 0;
  while (n < count) {
    int32_t len = b.lengths[n];
    if (len < 0 || (uint32_t)len > b.slot - b.offset) return throw_type(env, "lengths[i] must fit its slot");
    ssize_t r = write(b.fd, b.slab + (size_t)n * b.slot + b.offset, (size_t)len);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      b.lengths[n] = -errno;
    }
    n++;
  }
  return make_int(env, n);
}

// openUdp(address, port, netnsPath | null, bufferBytes) -> fd: a non-blocking IPv4 UDP socket bound
// to address:port, with send and receive buffers of bufferBytes (forced when privileged).
static napi_value open_udp(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return throw_type(env, "openUdp(address, port, netnsPath, bufferBytes)");
  char addr_text[64];
  size_t alen;
  int32_t port, bufbytes;
  if (napi_get_value_string_utf8(env, argv[0], addr_text, sizeof addr_text, &alen) != napi_ok) return throw_type(env, "address must be a string");
  struct in_addr a;
  if (inet_pton(AF_INET, addr_text, &a) != 1) return throw_type(env, "address must be an IPv4 address");
  if (!get_int(env, argv[1], &port) || port < 0 || port > 0xffff) return throw_type(env, "port must be 0..65535");
  char path[4096];
  if (!get_opt_path(env, argv[2], path, sizeof path)) return throw_type(env, "netnsPath must be a string or null");
  if (!get_int(env, argv[3], &bufbytes) || bufbytes < 0) return throw_type(env, "bufferBytes must be a number");

  netns_switch sw;
  if (!netns_enter(env, path, &sw)) return NULL;
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int sock_err = errno;
  if (!netns_leave(env, &sw)) {
    if (fd >= 0) close(fd);
    return NULL;
  }
  if (fd < 0) return throw_errno(env, "socket(AF_INET, SOCK_DGRAM)", sock_err);
  if (bufbytes > 0) {
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bufbytes, sizeof bufbytes) < 0)
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufbytes, sizeof bufbytes);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bufbytes, sizeof bufbytes) < 0)
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufbytes, sizeof bufbytes);
  }
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)port);
  sin.sin_addr = a;
  if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind(AF_INET)", e);
  }
  return make_int(env, fd);
}

// sendBatch(fd, slab, slotSize, offset, lengths, count, addrs: Uint32Array, port[, gso]) -> datagrams consumed.
// Datagram i goes to addrs[i] (IPv4 as a host-order number) : port, by sendmmsg. A datagram the
// kernel refuses is skipped with lengths[i] = -errno; EAGAIN stops the batch (result < count).
// With gso, runs of consecutive datagrams to one address with one length (the last of a run may be
// shorter) leave as one UDP_SEGMENT message: one trip through the stack for up to 64 datagrams,
// cut into separate datagrams at the device (or later). A refused GSO message is sent again
// datagram by datagram.
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#define GSO_MAX_SEGMENTS 64
#define GSO_MAX_BYTES 65000

static int send_one(int fd, struct iovec *iov, struct sockaddr_in *to) {
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_iov = iov;
  m.msg_iovlen = 1;
  m.msg_name = to;
  m.msg_namelen = sizeof *to;
  for (;;) {
    if (sendmsg(fd, &m, MSG_DONTWAIT) >= 0) return 0;
    if (errno != EINTR) return -errno;
  }
}

static napi_value send_batch(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value argv[9];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  batch_args b;
  int32_t count, port;
  uint32_t *addrs;
  size_t naddrs;
  bool gso = false;
  int slots = argc < 8 ? -1 : get_batch(env, argv, &b);
  if (slots < 0 || !get_int(env, argv[5], &count) || count < 0 || count > slots || !get_uint32_array(env, argv[6], &addrs, &naddrs) ||
      naddrs < (size_t)count || !get_int(env, argv[7], &port) || port <= 0 || port > 0xffff ||
      (argc >= 9 && napi_get_value_bool(env, argv[8], &gso) != napi_ok))
    return throw_type(env, "sendBatch(fd, slab, slotSize, offset, lengths: Int32Array, count, addrs: Uint32Array, port, gso?: boolean)");
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  struct sockaddr_in to[MAX_BATCH];
  int first[MAX_BATCH + 1]; // first datagram of message k; first[nmsg] = count
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } ctl[MAX_BATCH];
  memset(msgs, 0, sizeof(struct mmsghdr) * (size_t)count);
  for (int i = 0; i < count; i++) {
    int32_t len = b.lengths[i];
    if (len < 0 || (uint32_t)len > b.slot - b.offset) return throw_type(env, "lengths[i] must fit its slot");
    iov[i].iov_base = b.slab + (size_t)i * b.slot + b.offset;
    iov[i].iov_len = (size_t)len;
    memset(&to[i], 0, sizeof to[i]);
    to[i].sin_family = AF_INET;
    to[i].sin_port = htons((uint16_t)port);
    to[i].sin_addr.s_addr = htonl(addrs[i]);
  }
  int nmsg = 0;
  for (int i = 0; i < count;) {
    int n = 1;
    if (gso && b.lengths[i] > 0) {
      int32_t size = b.lengths[i];
      int32_t limit = GSO_MAX_BYTES / size;
      if (limit > GSO_MAX_SEGMENTS) limit = GSO_MAX_SEGMENTS;
      while (i + n < count && n < limit && addrs[i + n] == addrs[i] && b.lengths[i + n] <= size && b.lengths[i + n] > 0) {
        n++;
        if (b.lengths[i + n - 1] < size) break; // a shorter one ends the run
      }
    }
    struct msghdr *h = &msgs[nmsg].msg_hdr;
    h->msg_iov = &iov[i];
    h->msg_iovlen = (size_t)n;
    h->msg_name = &to[i];
    h->msg_namelen = sizeof to[i];
    if (n > 1) {
      h->msg_control = ctl[nmsg].buf;
      h->msg_controllen = sizeof ctl[nmsg].buf;
      struct cmsghdr *c = CMSG_FIRSTHDR(h);
      c->cmsg_level = SOL_UDP;
      c->cmsg_type = UDP_SEGMENT;
      c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t seg = (uint16_t)b.lengths[i];
      memcpy(CMSG_DATA(c), &seg, sizeof seg);
    }
    first[nmsg++] = i;
    i += n;
  }
  first[nmsg] = count;
  int done = 0; // messages
  while (done < nmsg) {
    int r = sendmmsg(b.fd, msgs + done, (unsigned)(nmsg - done), MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      int e = errno;
      if (first[done + 1] - first[done] > 1) {
        // GSO refused (no checksum offload on the route's device, say): one by one instead.
        for (int i = first[done]; i < first[done + 1]; i++) {
          int err = send_one(b.fd, &iov[i], &to[i]);
          if (err == -EAGAIN || err == -EWOULDBLOCK) return make_int(env, i);
          if (err < 0) b.lengths[i] = err;
        }
      } else {
        b.lengths[first[done]] = -e;
      }
      done++;
      continue;
    }
    done += r;
  }
  return make_int(env, first[done]);
}

// recvBatch(fd, slab, slotSize, offset, lengths, addrs: Uint32Array, ports: Uint32Array) -> count,
// by recvmmsg without waiting. A truncated datagram gets lengths[i] = -EMSGSIZE.
static napi_value recv_batch(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  batch_args b;
  uint32_t *addrs, *ports;
  size_t naddrs, nports;
  int slots = argc < 7 ? -1 : get_batch(env, argv, &b);
  if (slots < 0 || !get_uint32_array(env, argv[5], &addrs, &naddrs) || !get_uint32_array(env, argv[6], &ports, &nports))
    return throw_type(env, "recvBatch(fd, slab, slotSize, offset, lengths: Int32Array, addrs: Uint32Array, ports: Uint32Array)");
  if ((size_t)slots > naddrs) slots = (int)naddrs;
  if ((size_t)slots > nports) slots = (int)nports;
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  struct sockaddr_in from[MAX_BATCH];
  memset(msgs, 0, sizeof(struct mmsghdr) * (size_t)slots);
  for (int i = 0; i < slots; i++) {
    iov[i].iov_base = b.slab + (size_t)i * b.slot + b.offset;
    iov[i].iov_len = b.slot - b.offset;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &from[i];
    msgs[i].msg_hdr.msg_namelen = sizeof from[i];
  }
  int r;
  do {
    r = recvmmsg(b.fd, msgs, (unsigned)slots, MSG_DONTWAIT, NULL);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return make_int(env, 0);
    return throw_errno(env, "recvmmsg", errno);
  }
  for (int i = 0; i < r; i++) {
    b.lengths[i] = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -EMSGSIZE : (int32_t)msgs[i].msg_len;
    addrs[i] = ntohl(from[i].sin_addr.s_addr);
    ports[i] = ntohs(from[i].sin_port);
  }
  return make_int(env, r);
}

// ---- ESP AEAD over batches ------------------------------------------------------------------
// One OpenSSL cipher context per SA, keyed once; every packet only sets its nonce. The byte layout
// is crypto/esp.ts's (the reference): SPI ‖ seq ‖ IV ‖ AEAD(payload ‖ pad 1,2,3… ‖ padlen ‖ next
// header) ‖ ICV, nonce = salt ‖ IV, AAD = SPI ‖ seq. Sequence numbers and the replay window belong
// to the caller; this code only transforms bytes, in place, inside each packet's slot.

#define ESP_HDR 8
#define ESP_IV 8
#define ESP_AT (ESP_HDR + ESP_IV)
#define ESP_ICV 16
#define ESP_TRAILER 2
#define ESP_MIN (ESP_AT + ESP_TRAILER + ESP_ICV)

// Per-slot results (lengths[i] < 0). Seal: the packet did not fit its slot / OpenSSL refused.
#define SEAL_TOO_SMALL (-1)
#define SEAL_FAILED (-2)
// Open: shorter than a minimal packet (or a negative input length) / ICV mismatch / authentic
// but malformed trailer / the stated length runs past the slot.
#define OPEN_SHORT (-1)
#define OPEN_AUTH_FAILED (-2)
#define OPEN_BAD_PADDING (-3)
#define OPEN_OUT_OF_SLOT (-4)

typedef struct {
  EVP_CIPHER_CTX *ctx;
  uint8_t nonce[12];
  int seal;
} esp_ctx;

static const napi_type_tag esp_ctx_tag = {0x7765667445535043ULL, 0x0e5b8f3ad2c64a71ULL};

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void esp_ctx_release(esp_ctx *c) {
  if (c->ctx) EVP_CIPHER_CTX_free(c->ctx);
  c->ctx = NULL;
}

static void esp_ctx_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  esp_ctx_release((esp_ctx *)data);
  free(data);
}

// Returns the context behind a handle, or NULL with a pending exception (not ours, or freed).
static esp_ctx *get_esp_ctx(napi_env env, napi_value v) {
  napi_valuetype t;
  bool ours = false;
  void *data = NULL;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_object || napi_check_object_type_tag(env, v, &esp_ctx_tag, &ours) != napi_ok || !ours ||
      napi_unwrap(env, v, &data) != napi_ok || !data) {
    throw_type(env, "expected an ESP context from espContext()");
    return NULL;
  }
  esp_ctx *c = (esp_ctx *)data;
  if (!c->ctx) {
    napi_throw_error(env, "ERR_WEFT_ESP_FREED", "the ESP context was freed");
    return NULL;
  }
  return c;
}

// espContext(cipher: 'aes-256-gcm' | 'chacha20-poly1305', key: Buffer(32), salt: Buffer(4), seal: boolean) -> handle.
// The key is scheduled once here; espContextFree() or the garbage collector releases it.
static napi_value esp_context(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 4) return throw_type(env, "espContext(cipher, key, salt, seal)");
  char name[32];
  size_t nlen;
  napi_valuetype t;
  napi_typeof(env, argv[0], &t);
  if (t != napi_string || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &nlen) != napi_ok)
    return throw_type(env, "cipher must be 'aes-256-gcm' or 'chacha20-poly1305'");
  const EVP_CIPHER *cipher = NULL;
  if (strcmp(name, "aes-256-gcm") == 0) cipher = EVP_aes_256_gcm();
  else if (strcmp(name, "chacha20-poly1305") == 0) cipher = EVP_chacha20_poly1305();
  if (!cipher) return throw_type(env, "cipher must be 'aes-256-gcm' or 'chacha20-poly1305'");
  bool is_buffer = false;
  void *key, *salt;
  size_t key_len = 0, salt_len = 0;
  napi_is_buffer(env, argv[1], &is_buffer);
  if (!is_buffer || napi_get_buffer_info(env, argv[1], &key, &key_len) != napi_ok || key_len != 32) return throw_type(env, "key must be a 32-byte Buffer");
  napi_is_buffer(env, argv[2], &is_buffer);
  if (!is_buffer || napi_get_buffer_info(env, argv[2], &salt, &salt_len) != napi_ok || salt_len != 4) return throw_type(env, "salt must be a 4-byte Buffer");
  bool seal;
  if (napi_get_value_bool(env, argv[3], &seal) != napi_ok) return throw_type(env, "seal must be a boolean");

  esp_ctx *c = calloc(1, sizeof *c);
  if (!c) return throw_errno(env, "calloc", ENOMEM);
  c->seal = seal;
  memcpy(c->nonce, salt, 4);
  c->ctx = EVP_CIPHER_CTX_new();
  // Both ciphers default to a 12-byte nonce (salt ‖ IV) and a 16-byte tag, as ESP uses them.
  if (!c->ctx || EVP_CipherInit_ex(c->ctx, cipher, NULL, key, NULL, seal ? 1 : 0) != 1) {
    esp_ctx_release(c);
    free(c);
    napi_throw_error(env, "ERR_WEFT_OPENSSL", "OpenSSL could not set up the ESP cipher");
    return NULL;
  }
  napi_value handle;
  napi_create_object(env, &handle);
  if (napi_wrap(env, handle, c, esp_ctx_finalize, NULL, NULL) != napi_ok) {
    esp_ctx_release(c);
    free(c);
    return throw_errno(env, "napi_wrap", EINVAL);
  }
  napi_type_tag_object(env, handle, &esp_ctx_tag);
  return handle;
}

// espContextFree(handle): releases the OpenSSL context now; later use throws. Safe to repeat.
static napi_value esp_context_free(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype t = napi_undefined;
  bool ours = false;
  void *data = NULL;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t != napi_object || napi_check_object_type_tag(env, argv[0], &esp_ctx_tag, &ours) != napi_ok || !ours || napi_unwrap(env, argv[0], &data) != napi_ok || !data)
    return throw_type(env, "espContextFree(handle)");
  esp_ctx_release((esp_ctx *)data);
  return NULL;
}

typedef struct {
  esp_ctx *c;
  uint8_t *slab;
  uint32_t slot;
  uint32_t at;
  int32_t *lengths;
  const int32_t *list;
  uint32_t n;
} aead_batch;

// Parses (handle, slab, slotSize, at, lengths: Int32Array, slots: Int32Array, n) from argv[0..6] and
// checks every listed slot index: in range (slab, lengths and `limit` entries) and listed once.
// Returns 0 with a pending exception on any misuse, before any byte is touched.
static int get_aead_batch(napi_env env, napi_value *argv, int want_seal, size_t limit, aead_batch *b) {
  const char *usage = want_seal ? "espSealBatch(ctx, slab, slotSize, payloadAt, lengths: Int32Array, slots: Int32Array, n, spi, firstSeq, nextHeader)"
                                : "espOpenBatch(ctx, slab, slotSize, espAt, lengths: Int32Array, slots: Int32Array, n, nextHeaders: Uint8Array)";
  b->c = get_esp_ctx(env, argv[0]);
  if (!b->c) return 0;
  if (b->c->seal != want_seal) {
    throw_type(env, want_seal ? "this ESP context opens; it cannot seal" : "this ESP context seals; it cannot open");
    return 0;
  }
  bool is_buffer = false;
  size_t slab_len, nlengths, nlist;
  int32_t slot, at, n;
  napi_typedarray_type type;
  void *data;
  napi_is_buffer(env, argv[1], &is_buffer);
  if (!is_buffer || napi_get_buffer_info(env, argv[1], (void **)&b->slab, &slab_len) != napi_ok || !get_int(env, argv[2], &slot) || slot <= 0 ||
      !get_int(env, argv[3], &at) || at < 0 || at > slot || (want_seal && at < ESP_AT) ||
      napi_get_typedarray_info(env, argv[4], &type, &nlengths, &data, NULL, NULL) != napi_ok || type != napi_int32_array) {
    throw_type(env, usage);
    return 0;
  }
  b->lengths = (int32_t *)data;
  if (napi_get_typedarray_info(env, argv[5], &type, &nlist, &data, NULL, NULL) != napi_ok || type != napi_int32_array || !get_int(env, argv[6], &n) ||
      n < 0 || (size_t)n > nlist) {
    throw_type(env, usage);
    return 0;
  }
  b->list = (const int32_t *)data;
  b->slot = (uint32_t)slot;
  b->at = (uint32_t)at;
  b->n = (uint32_t)n;
  size_t slots = slab_len / b->slot;
  if (slots > nlengths) slots = nlengths;
  if (slots > limit) slots = limit;
  if (slots > MAX_BATCH) slots = MAX_BATCH;
  uint8_t seen[MAX_BATCH];
  memset(seen, 0, sizeof seen);
  for (uint32_t k = 0; k < b->n; k++) {
    int32_t s = b->list[k];
    if (s < 0 || (size_t)s >= slots || seen[s]) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "slots must list distinct slot indices inside the batch");
      return 0;
    }
    seen[s] = 1;
  }
  return 1;
}

// Seals one packet whose payload (len bytes) sits at p + ESP_AT; `room` bytes from p belong to the slot.
static int32_t seal_one(esp_ctx *c, uint8_t *p, size_t room, int32_t len, uint32_t spi, uint32_t seq, uint8_t next_header) {
  if (len < 0) return SEAL_TOO_SMALL;
  size_t pad = (4 - (((size_t)len + ESP_TRAILER) & 3)) & 3;
  size_t plain = (size_t)len + pad + ESP_TRAILER;
  size_t total = ESP_AT + plain + ESP_ICV;
  if (total > room || total > INT32_MAX) return SEAL_TOO_SMALL;
  put_be32(p, spi);
  put_be32(p + 4, seq);
  put_be32(p + 8, 0);
  put_be32(p + 12, seq);
  memcpy(c->nonce + 4, p + ESP_HDR, ESP_IV);
  uint8_t *q = p + ESP_AT + len;
  for (size_t i = 1; i <= pad; i++) *q++ = (uint8_t)i;
  *q++ = (uint8_t)pad;
  *q = next_header;
  int out = 0, fin = 0;
  if (EVP_CipherInit_ex(c->ctx, NULL, NULL, NULL, c->nonce, -1) != 1 || EVP_CipherUpdate(c->ctx, NULL, &out, p, ESP_HDR) != 1 ||
      EVP_CipherUpdate(c->ctx, p + ESP_AT, &out, p + ESP_AT, (int)plain) != 1 || EVP_CipherFinal_ex(c->ctx, p + ESP_AT + out, &fin) != 1 ||
      (size_t)out + (size_t)fin != plain || EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_AEAD_GET_TAG, ESP_ICV, p + ESP_AT + plain) != 1)
    return SEAL_FAILED;
  return (int32_t)total;
}

// espSealBatch(ctx, slab, slotSize, payloadAt, lengths, slots, n, spi, firstSeq, nextHeader) -> packets sealed.
// For k < n, slot s = slots[k] holds lengths[s] payload bytes at payloadAt; it becomes the ESP packet
// starting at payloadAt - 16 with sequence number firstSeq + k, and lengths[s] its length. A packet
// that does not fit gets lengths[s] = -1 (its sequence number is skipped, never reused); -2 if
// OpenSSL fails. firstSeq + n - 1 must not pass 2^32 - 1.
static napi_value esp_seal_batch(napi_env env, napi_callback_info info) {
  size_t argc = 10;
  napi_value argv[10];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 10) return throw_type(env, "espSealBatch(ctx, slab, slotSize, payloadAt, lengths, slots, n, spi, firstSeq, nextHeader)");
  aead_batch b;
  if (!get_aead_batch(env, argv, 1, MAX_BATCH, &b)) return NULL;
  int64_t spi, first;
  int32_t next_header;
  if (napi_get_value_int64(env, argv[7], &spi) != napi_ok || spi < 0 || spi > 0xffffffffLL || napi_get_value_int64(env, argv[8], &first) != napi_ok ||
      first < 0 || first + (int64_t)b.n - 1 > 0xffffffffLL || !get_int(env, argv[9], &next_header) || next_header < 0 || next_header > 255)
    return throw_type(env, "spi and firstSeq must be 32-bit sequence-safe numbers, nextHeader 0..255");
  int sealed = 0;
  size_t start = b.at - ESP_AT;
  for (uint32_t k = 0; k < b.n; k++) {
    int32_t s = b.list[k];
    uint8_t *p = b.slab + (size_t)s * b.slot + start;
    int32_t r = seal_one(b.c, p, b.slot - start, b.lengths[s], (uint32_t)spi, (uint32_t)(first + k), (uint8_t)next_header);
    b.lengths[s] = r;
    if (r >= 0) sealed++;
  }
  return make_int(env, sealed);
}

// Opens one packet of len bytes at p in place; on success the payload is at p + ESP_AT.
static int32_t open_one(esp_ctx *c, uint8_t *p, size_t room, int32_t len, uint8_t *next_header) {
  if (len < 0) return OPEN_SHORT;
  if ((size_t)len > room) return OPEN_OUT_OF_SLOT;
  if (len < ESP_MIN) return OPEN_SHORT;
  int plain = len - ESP_AT - ESP_ICV;
  memcpy(c->nonce + 4, p + ESP_HDR, ESP_IV);
  int out = 0, fin = 0;
  if (EVP_CipherInit_ex(c->ctx, NULL, NULL, NULL, c->nonce, -1) != 1 ||
      EVP_CIPHER_CTX_ctrl(c->ctx, EVP_CTRL_AEAD_SET_TAG, ESP_ICV, p + len - ESP_ICV) != 1 || EVP_CipherUpdate(c->ctx, NULL, &out, p, ESP_HDR) != 1 ||
      EVP_CipherUpdate(c->ctx, p + ESP_AT, &out, p + ESP_AT, plain) != 1 || EVP_CipherFinal_ex(c->ctx, p + ESP_AT + out, &fin) != 1 || out + fin != plain)
    return OPEN_AUTH_FAILED;
  const uint8_t *q = p + ESP_AT;
  int pad = q[plain - 2];
  int length = plain - ESP_TRAILER - pad;
  if (length < 0) return OPEN_BAD_PADDING;
  for (int i = 0; i < pad; i++)
    if (q[length + i] != i + 1) return OPEN_BAD_PADDING;
  *next_header = q[plain - 1];
  return length;
}

// espOpenBatch(ctx, slab, slotSize, espAt, lengths, slots, n, nextHeaders: Uint8Array) -> packets opened.
// For k < n, slot s = slots[k] holds an ESP packet of lengths[s] bytes at espAt. Its ICV is checked
// and it is decrypted in place: lengths[s] becomes the payload length (payload at espAt + 16) and
// nextHeaders[s] its next header, or lengths[s] < 0: -1 short, -2 auth failed, -3 bad padding (the
// packet was authentic), -4 longer than its slot. The header (SPI, seq, IV) is left as it was; after
// a failure the rest of the packet is unspecified.
static napi_value esp_open_batch(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  const char *usage = "espOpenBatch(ctx, slab, slotSize, espAt, lengths, slots, n, nextHeaders: Uint8Array)";
  if (argc < 8) return throw_type(env, usage);
  napi_typedarray_type type;
  size_t nheaders;
  void *data;
  if (napi_get_typedarray_info(env, argv[7], &type, &nheaders, &data, NULL, NULL) != napi_ok || type != napi_uint8_array) return throw_type(env, usage);
  uint8_t *next_headers = (uint8_t *)data;
  aead_batch b;
  if (!get_aead_batch(env, argv, 0, nheaders, &b)) return NULL;
  int opened = 0;
  for (uint32_t k = 0; k < b.n; k++) {
    int32_t s = b.list[k];
    uint8_t *p = b.slab + (size_t)s * b.slot + b.at;
    int32_t r = open_one(b.c, p, b.slot - b.at, b.lengths[s], &next_headers[s]);
    b.lengths[s] = r;
    if (r >= 0) opened++;
  }
  return make_int(env, opened);
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
      {"openTun", NULL, open_tun, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setTunPersist", NULL, set_tun_persist, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setMark", NULL, set_mark, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setUdpEncap", NULL, set_udp_encap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setTcpLiveness", NULL, set_tcp_liveness, NULL, NULL, NULL, napi_enumerable, NULL},
      {"readBatch", NULL, read_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"writeBatch", NULL, write_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openUdp", NULL, open_udp, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendBatch", NULL, send_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"recvBatch", NULL, recv_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"espContext", NULL, esp_context, NULL, NULL, NULL, napi_enumerable, NULL},
      {"espContextFree", NULL, esp_context_free, NULL, NULL, NULL, napi_enumerable, NULL},
      {"espSealBatch", NULL, esp_seal_batch, NULL, NULL, NULL, napi_enumerable, NULL},
      {"espOpenBatch", NULL, esp_open_batch, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(weft_native, init)
