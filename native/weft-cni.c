// weft-cni: the CNI plugin's native forwarder, installed by `weft setup-cni` as BIN_DIR/weft.
// A container runtime starts the plugin once per container; a Node process costs 100-150 ms to
// start, this one with its round trip to the router a few ms. It does no CNI work itself: it hands the whole invocation to the router, which
// runs the same plugin code (src/cni/plugin.ts) in its own process, and prints what comes back.
// Protocol and measurements: docs/cni.md ("The native forwarder").
//
//   stdin (≤ 1 MiB) + CNI_* ──► POST /cni/exec to the router (the conflist's "api", IPv4 only)
//        │                          200 + X-Cni-Exit: N ──► body to stdout, X-Cni-Stderr to stderr, exit N
//        └── anything else ──► exec BIN_DIR/weft-cni.js (the Node plugin) with the same argv,
//                              environment and stdin (kept in a memfd), which handles every
//                              router-down case itself (DEL succeeds, ADD code 5, STATUS code 50)
//
// Falling back after the request was sent (the router died mid-answer) runs the command a second
// time, in Node; that is safe because every CNI command weft answers is idempotent.
// Primitives only (read, socket, connect, poll, write, memfd_create, execve); no policy lives here.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_STDIN (1 << 20)          // a larger config goes to the Node plugin
#define MAX_RESPONSE (4 << 20)       // a larger answer is not the router's: fall back
#define MAX_ENV_VALUE 4096           // a longer CNI_* value goes to the Node plugin
#define MAX_HEAD (8 * 1024 + 6 * (MAX_ENV_VALUE + 32))
#define CONNECT_TIMEOUT_MS 2000
// ADD legitimately waits (for the address ring to form, up to the config's timeoutSeconds); the
// runtime has its own deadline and kills the plugin. This only bounds a router that went silent.
#define IO_TIMEOUT_MS (600 * 1000)
#define DEFAULT_IP "127.0.0.1"
#define DEFAULT_PORT 6784
#define FALLBACK_NAME "weft-cni.js"

extern char **environ;

static char in[MAX_STDIN + 1];       // stdin; one byte more tells "over the bound" from "exactly it"
static size_t in_len;
static bool in_eof;                  // all of stdin is in `in` (else the rest is still on fd 0)
static char head[MAX_HEAD];
static char resp[MAX_RESPONSE + 1];

// The CNI_* variables, in the order of their X-Cni-* headers.
static const char *const ENV_NAMES[] = { "CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH" };
static const char *const HEADER_NAMES[] = { "X-Cni-Command", "X-Cni-Containerid", "X-Cni-Netns", "X-Cni-Ifname", "X-Cni-Args", "X-Cni-Path" };

// ---- falling back to the Node plugin ---------------------------------------------------------

static void write_fd_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

// A CNI error object on stdout (code 5: the plugin cannot do its work), exit 1. `what` and `detail`
// are our own text and a path or strerror; quotes, backslashes and control bytes are escaped.
static void cni_error_exit(const char *what, const char *detail) {
  static char out[8192];
  size_t n = 0;
  const char *parts[] = { "{\"cniVersion\":\"1.0.0\",\"code\":5,\"msg\":\"", what, detail, " \\u2014 reinstall the plugin with `weft setup-cni`\"}\n" };
  for (size_t i = 0; i < 4; i++) {
    bool escape = i == 1 || i == 2;
    for (const char *s = parts[i]; *s && n + 8 < sizeof out; s++) {
      unsigned char c = (unsigned char)*s;
      if (escape && (c == '"' || c == '\\')) {
        out[n++] = '\\';
        out[n++] = (char)c;
      } else if (escape && c < 0x20) {
        n += (size_t)snprintf(out + n, sizeof out - n, "\\u%04x", c);
      } else {
        out[n++] = (char)c;
      }
    }
  }
  write_fd_all(1, out, n);
  exit(1);
}

// Replaces this process with <dir of /proc/self/exe>/weft-cni.js: same argv and environment, and
// on fd 0 a memfd holding the stdin this process already consumed, followed by whatever of stdin it
// had not read yet (a config over the bound is copied through whole). Never returns.
static void fallback(char **argv) {
  static char path[4096];
  static char chunk[65536];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - sizeof FALLBACK_NAME - 1);
  if (n <= 0) cni_error_exit("cannot find the plugin's own path (/proc/self/exe): ", strerror(errno));
  path[n] = '\0';
  char *slash = strrchr(path, '/');
  if (slash == NULL) cni_error_exit("cannot find the plugin's own directory: ", path);
  strcpy(slash + 1, FALLBACK_NAME);

  int mfd = memfd_create("weft-cni-stdin", MFD_CLOEXEC);
  if (mfd < 0) cni_error_exit("cannot keep stdin for the Node plugin (memfd_create): ", strerror(errno));
  const char *p = in;
  size_t left = in_len;
  while (left > 0) {
    ssize_t w = write(mfd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) cni_error_exit("cannot keep stdin for the Node plugin (write): ", strerror(errno));
    p += w;
    left -= (size_t)w;
  }
  while (!in_eof) {
    ssize_t r = read(0, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;  // EOF, or stdin unreadable: the Node plugin gets what there was
    for (ssize_t off = 0; off < r;) {
      ssize_t w = write(mfd, chunk + off, (size_t)(r - off));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) cni_error_exit("cannot keep stdin for the Node plugin (write): ", strerror(errno));
      off += w;
    }
  }
  // dup2 clears close-on-exec on fd 0; the memfd's own descriptor closes at exec.
  if (lseek(mfd, 0, SEEK_SET) != 0 || dup2(mfd, 0) != 0) cni_error_exit("cannot give stdin to the Node plugin: ", strerror(errno));
  execve(path, argv, environ);
  cni_error_exit("cannot run the Node plugin: ", path);
}

// ---- reading the request's parts -------------------------------------------------------------

// Reads stdin up to MAX_STDIN + 1 bytes. False when it is over the bound or unreadable.
static bool read_stdin(void) {
  while (in_len < sizeof in) {
    ssize_t r = read(0, in + in_len, sizeof in - in_len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return false;
    if (r == 0) {
      in_eof = true;
      return true;
    }
    in_len += (size_t)r;
  }
  return false;  // MAX_STDIN + 1 bytes and maybe more
}

static const char *skip_ws(const char *p, const char *end) {
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
  return p;
}

// Parses 1 to 3 decimal digits (or up to 5 for a port) into *v, bounded by max.
static const char *parse_uint(const char *p, const char *end, int digits, unsigned max, unsigned *v) {
  unsigned x = 0;
  int n = 0;
  while (p < end && n < digits && *p >= '0' && *p <= '9') {
    x = x * 10 + (unsigned)(*p - '0');
    p++;
    n++;
  }
  if (n == 0 || x > max || (p < end && *p >= '0' && *p <= '9')) return NULL;
  *v = x;
  return p;
}

// The router's address from the config: the first `"api"` that is a key (followed by optional
// whitespace and `:`) must have the string value "A.B.C.D:PORT". No key: 127.0.0.1:6784. A key
// whose value is anything else (a host name, [v6]:port) is the Node plugin's to handle: false.
// This is a scan, not a JSON parser: an "api" key nested in another object before the plugin's
// own would be taken (weft's conflist has none), and a malformed config is the router's to refuse.
static bool router_addr(struct sockaddr_in *sa, char *text, size_t text_size) {
  static const char key[] = "\"api\"";
  const char *end = in + in_len;
  memset(sa, 0, sizeof *sa);
  sa->sin_family = AF_INET;
  for (const char *p = in; p + sizeof key - 1 <= end; p++) {
    if (memcmp(p, key, sizeof key - 1) != 0) continue;
    const char *q = skip_ws(p + sizeof key - 1, end);
    if (q >= end || *q != ':') continue;  // "api" as a value, not a key
    q = skip_ws(q + 1, end);
    if (q >= end || *q != '"') return false;
    ++q;
    unsigned oct[4], port;
    for (int i = 0; i < 4; i++) {
      if (q == NULL || (i > 0 && (q >= end || *q++ != '.'))) return false;
      q = parse_uint(q, end, 3, 255, &oct[i]);
    }
    if (q == NULL || q >= end || *q++ != ':') return false;
    q = parse_uint(q, end, 5, 65535, &port);
    if (q == NULL || port == 0 || q >= end || *q != '"') return false;
    // The Host header: canonical, so "127.000.0.1:06784" still names the router's own address,
    // which the API requires (src/api/local-only.ts).
    snprintf(text, text_size, "%u.%u.%u.%u:%u", oct[0], oct[1], oct[2], oct[3], port);
    sa->sin_addr.s_addr = htonl(oct[0] << 24 | oct[1] << 16 | oct[2] << 8 | oct[3]);
    sa->sin_port = htons((unsigned short)port);
    return true;
  }
  snprintf(text, text_size, "%s:%d", DEFAULT_IP, DEFAULT_PORT);
  sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa->sin_port = htons(DEFAULT_PORT);
  return true;
}

// A value that can travel as a header and arrive unchanged: printable ASCII (and tab) only, at
// most MAX_ENV_VALUE bytes, no leading or trailing blank (HTTP trims them). CR, LF and NUL would
// break the request; bytes over 0x7f would arrive re-encoded (Node reads header values as latin1).
static bool header_safe(const char *v) {
  size_t n = strlen(v);
  if (n > MAX_ENV_VALUE) return false;
  if (n > 0 && (v[0] == ' ' || v[0] == '\t' || v[n - 1] == ' ' || v[n - 1] == '\t')) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if ((c < 0x20 && c != '\t') || c >= 0x7f) return false;
  }
  return true;
}

// The request line and headers; false if a value cannot be sent (or, impossibly, it overflows).
static bool build_head(const char *addr, size_t *len) {
  int n = snprintf(head, sizeof head,
                   "POST /cni/exec HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n",
                   addr, in_len);
  if (n < 0 || (size_t)n >= sizeof head) return false;
  size_t used = (size_t)n;
  for (size_t i = 0; i < sizeof ENV_NAMES / sizeof ENV_NAMES[0]; i++) {
    const char *v = getenv(ENV_NAMES[i]);
    if (v == NULL) continue;  // unset travels as no header; set-but-empty as an empty one
    if (!header_safe(v)) return false;
    n = snprintf(head + used, sizeof head - used, "%s: %s\r\n", HEADER_NAMES[i], v);
    if (n < 0 || (size_t)n >= sizeof head - used) return false;
    used += (size_t)n;
  }
  if (used + 2 >= sizeof head) return false;
  memcpy(head + used, "\r\n", 2);
  *len = used + 2;
  return true;
}

// ---- talking to the router (a non-blocking socket, each wait bounded by poll) -----------------

static bool wait_for(int fd, short events, int timeout_ms) {
  struct pollfd p = { .fd = fd, .events = events };
  for (;;) {
    int r = poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r == 1;  // ready, or an error/hang-up the next read or write reports
  }
}

static int connect_router(const struct sockaddr_in *sa) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  // The head and the body go out as two writes: without this, Nagle would hold the body until
  // the head is acknowledged, and loopback's delayed ACK makes that ~40 ms.
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0) return fd;
  if (errno == EINPROGRESS && wait_for(fd, POLLOUT, CONNECT_TIMEOUT_MS)) {
    int err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) return fd;
  }
  close(fd);
  return -1;
}

static bool send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);  // a router gone mid-request is an error, not SIGPIPE
    if (w > 0) {
      p += w;
      n -= (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else if (w < 0 && errno == EAGAIN) {
      if (!wait_for(fd, POLLOUT, IO_TIMEOUT_MS)) return false;
    } else {
      return false;
    }
  }
  return true;
}

// Reads the whole answer until the router closes (the request said Connection: close).
static bool recv_all(int fd, size_t *len) {
  size_t n = 0;
  for (;;) {
    if (n == sizeof resp) return false;  // over MAX_RESPONSE
    ssize_t r = read(fd, resp + n, sizeof resp - n);
    if (r > 0) {
      n += (size_t)r;
    } else if (r == 0) {
      *len = n;
      return true;
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      if (!wait_for(fd, POLLIN, IO_TIMEOUT_MS)) return false;
    } else {
      return false;
    }
  }
}

// ---- the router's answer ---------------------------------------------------------------------

struct answer {
  int exit_code;
  const char *body;
  size_t body_len;
  const char *note;  // X-Cni-Stderr's value, or NULL
  size_t note_len;
};

// A header's value: the text after "Name:" on one line, blanks trimmed at both ends.
static bool header_is(const char *line, const char *eol, const char *name, const char **v, size_t *vlen) {
  size_t n = strlen(name);
  if ((size_t)(eol - line) <= n || strncasecmp(line, name, n) != 0 || line[n] != ':') return false;
  const char *s = line + n + 1, *e = eol;
  while (s < e && (*s == ' ' || *s == '\t')) s++;
  while (e > s && (e[-1] == ' ' || e[-1] == '\t')) e--;
  *v = s;
  *vlen = (size_t)(e - s);
  return true;
}

// The router answered the invocation: HTTP/1.x 200, X-Cni-Exit 0..255, a body no shorter than its
// Content-Length, not chunked. Anything else (another status: an older router without the route,
// a refused request) is not an answer: false.
static bool parse_answer(size_t len, struct answer *a) {
  const char *end = resp + len;
  const char *hdr_end = memmem(resp, len, "\r\n\r\n", 4);
  if (hdr_end == NULL || len < 12 || memcmp(resp, "HTTP/1.", 7) != 0 || memcmp(resp + 8, " 200", 4) != 0) return false;
  if (len > 12 && resp[12] != ' ' && resp[12] != '\r') return false;
  long content_length = -1;
  a->exit_code = -1;
  a->note = NULL;
  a->note_len = 0;
  for (const char *line = (const char *)memchr(resp, '\n', len) + 1; line < hdr_end + 2;) {
    const char *eol = memchr(line, '\r', (size_t)(hdr_end + 2 - line));
    if (eol == NULL) return false;
    const char *v;
    size_t vl;
    unsigned x;
    if (header_is(line, eol, "X-Cni-Exit", &v, &vl)) {
      if (vl == 0 || parse_uint(v, v + vl, 3, 255, &x) != v + vl) return false;
      a->exit_code = (int)x;
    } else if (header_is(line, eol, "Content-Length", &v, &vl)) {
      if (vl == 0 || vl > 7 || parse_uint(v, v + vl, 7, MAX_RESPONSE, &x) != v + vl) return false;
      content_length = (long)x;
    } else if (header_is(line, eol, "Transfer-Encoding", &v, &vl)) {
      return false;  // never sent for a whole reply; not worth a chunk decoder
    } else if (header_is(line, eol, "X-Cni-Stderr", &v, &vl)) {
      a->note = v;
      a->note_len = vl;
    }
    line = eol + 2;
  }
  if (a->exit_code < 0) return false;
  a->body = hdr_end + 4;
  a->body_len = (size_t)(end - a->body);
  if (content_length >= 0) {
    if ((size_t)content_length > a->body_len) return false;  // cut short
    a->body_len = (size_t)content_length;
  }
  return true;
}

int main(int argc, char **argv) {
  (void)argc;
  struct sockaddr_in sa;
  char addr[32];
  size_t head_len, resp_len;
  struct answer a;
  if (!read_stdin() || !router_addr(&sa, addr, sizeof addr) || !build_head(addr, &head_len)) fallback(argv);
  int fd = connect_router(&sa);
  if (fd < 0) fallback(argv);
  bool ok = send_all(fd, head, head_len) && send_all(fd, in, in_len) && recv_all(fd, &resp_len);
  close(fd);
  if (!ok || !parse_answer(resp_len, &a)) fallback(argv);
  // The router ran the command: from here on its answer is final (no fallback, no second run).
  write_fd_all(1, a.body, a.body_len);
  if (a.note != NULL && a.note_len > 0) {
    write_fd_all(2, a.note, a.note_len);
    write_fd_all(2, "\n", 1);
  }
  return a.exit_code;
}
