// Batched UDP for the hot path (Linux): recvmmsg on a listen socket's descriptor, sendmmsg for the
// datagrams a batch of work produced. Node's dgram costs a system call, a request object and a
// callback per datagram; here one wake-up reads up to `slots` datagrams and one call sends as many.
//
// The socket itself stays a node:dgram socket (bind, cluster sharing, close): this module is handed
// its descriptor. Reading polls a dup() of it, so libuv's own watcher of the original descriptor is
// left alone (the caller stops dgram's reading). Sending writes on the original descriptor.
//
// JS side: packages/core/src/transport/udp-batch.ts. Meta layouts are shared with it:
//   read slot i:  meta[i*8 + 0] length (-1: truncated), 1 port, 2 family (4|6),
//                 3 µs the datagram waited in the socket's queue (-1: not known),
//                 4..7 address as big-endian 32-bit words (IPv4: word 4 only)
//   send entry i: meta[i*8 + 0] offset in the out buffer, 1 length, 2 port, 3 family,
//                 4..7 address as above

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define META_WORDS 8
#define MAX_SLOTS 256
// room for one SCM_TIMESTAMPNS control message a slot
#define STAMP_SPACE CMSG_SPACE(sizeof(struct timespec))

typedef struct {
  napi_env env;
  uv_poll_t poll;
  // the read window (sip.udp_read_window; coalesce_ms > 0): after a read that emptied the
  // socket's queue, the poll stops and this timer reads what came meanwhile at once (after_read)
  uv_timer_t timer;
  unsigned coalesce_ms;
  int waiting;
  // handles not yet closed (the block is freed when the last one is)
  int open_handles;
  int fd;
  int closed;
  napi_ref callback;
  napi_ref resource;
  napi_ref buffer_ref;
  napi_ref meta_ref;
  napi_async_context async_context;
  uint8_t *buffer;
  int32_t *meta;
  unsigned slots;
  unsigned slot_size;
  struct mmsghdr msgs[MAX_SLOTS];
  struct iovec iov[MAX_SLOTS];
  struct sockaddr_storage addrs[MAX_SLOTS];
  // the kernel's receive time of each datagram (SO_TIMESTAMPNS), when the socket took the option
  int stamps;
  union {
    struct cmsghdr align;
    char bytes[STAMP_SPACE];
  } ctrl[MAX_SLOTS];
} reader_t;

#define CHECK(env, call)                                                        \
  do {                                                                          \
    if ((call) != napi_ok) {                                                    \
      napi_throw_error((env), NULL, "udp_batch: N-API call failed: " #call);    \
      return NULL;                                                              \
    }                                                                           \
  } while (0)

static void put_address(int32_t *m, const struct sockaddr_storage *ss) {
  if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    uint32_t w[4];
    memcpy(w, &a->sin6_addr, 16);
    m[1] = ntohs(a->sin6_port);
    m[2] = 6;
    for (int k = 0; k < 4; k++) m[4 + k] = (int32_t)ntohl(w[k]);
  } else {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    m[1] = ntohs(a->sin_port);
    m[2] = 4;
    m[4] = (int32_t)ntohl(a->sin_addr.s_addr);
    m[5] = m[6] = m[7] = 0;
  }
}

// An exception the callback threw goes to 'uncaughtException', as dgram's would. When JS cannot run
// (the environment is going away) make_callback fails with no exception pending: nothing to report.
static void report_pending_exception(napi_env env) {
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) != napi_ok || !pending) return;
  napi_value exc;
  if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
}

// How long a datagram waited in the socket's queue, in µs, from the kernel's receive time (-1: no
// time came with it). The load shedder reads it: a queue that stays long is a proxy falling behind.
static int32_t queued_us(struct msghdr *h, const struct timespec *now) {
  for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
    struct timespec at;
    memcpy(&at, CMSG_DATA(c), sizeof at);
    if (at.tv_sec == 0 && at.tv_nsec == 0) return -1;
    int64_t us = ((int64_t)now->tv_sec - at.tv_sec) * 1000000 + (now->tv_nsec - at.tv_nsec) / 1000;
    // the wall clock can step back between the two readings
    return us < 0 ? 0 : us > INT32_MAX ? INT32_MAX : (int32_t)us;
  }
  return -1;
}

// Reads what waits (up to `slots` datagrams) and hands each to JS; returns how many were read
// (0: none, the queue was empty), or a negative errno reported to JS.
static int read_batch(reader_t *r, int status) {
  int n = 0;
  if (status == 0) {
    // the headers are set up at open; the kernel shortens the address length of each one it fills
    for (unsigned i = 0; i < r->slots; i++) {
      r->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
      if (r->stamps) r->msgs[i].msg_hdr.msg_controllen = STAMP_SPACE;
    }
    do {
      n = recvmmsg(r->fd, r->msgs, r->slots, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    struct timespec now = {0, 0};
    if (n > 0 && r->stamps) clock_gettime(CLOCK_REALTIME, &now);
    if (n < 0) {
      // EAGAIN: another reader (a worker sharing the socket) was faster. Anything else is
      // reported to JS as a negative count.
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      n = -errno;
    } else {
      for (int i = 0; i < n; i++) {
        int32_t *m = r->meta + (size_t)i * META_WORDS;
        m[0] = (r->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)r->msgs[i].msg_len;
        put_address(m, &r->addrs[i]);
        m[3] = r->stamps ? queued_us(&r->msgs[i].msg_hdr, &now) : -1;
      }
    }
  } else {
    n = status; // a libuv error code, negative
  }
  if (n == 0) return 0;

  // One call a datagram, each through make_callback, as dgram's 'message': the process.nextTick
  // queue and the microtasks run between two datagrams (a promise settled by one is seen by the
  // next). An exception goes to 'uncaughtException'. A read error is one call with (-errno, 0).
  napi_env env = r->env;
  napi_handle_scope outer;
  if (napi_open_handle_scope(env, &outer) != napi_ok) return n;
  napi_value cb, recv;
  if (napi_get_reference_value(env, r->callback, &cb) == napi_ok &&
      napi_get_reference_value(env, r->resource, &recv) == napi_ok) {
    int calls = n < 0 ? 1 : n;
    for (int i = 0; i < calls && !r->closed; i++) {
      napi_handle_scope scope;
      if (napi_open_handle_scope(env, &scope) != napi_ok) break;
      napi_value argv[2], result;
      if (napi_create_int32(env, n < 0 ? n : i, &argv[0]) == napi_ok &&
          napi_create_int32(env, n < 0 ? 0 : n, &argv[1]) == napi_ok) {
        napi_make_callback(env, r->async_context, recv, cb, 2, argv, &result);
        report_pending_exception(env);
      }
      napi_close_handle_scope(env, scope);
    }
  }
  napi_close_handle_scope(env, outer);
  return n;
}

static void on_coalesced(uv_timer_t *timer);
static void on_readable(uv_poll_t *handle, int status, int events);

// The read window (read coalescing). A wake-up of the process costs far more than reading one more datagram does
// (a context switch, the caches refilled, a turn of the event loop, a send call for what the
// batch produced): at a few hundred calls a second each datagram would otherwise be a wake-up of
// its own. After a read that emptied the queue (fewer than `slots`), the poll stops and the
// timer reads, coalesce_ms later, everything that came meanwhile; while datagrams keep coming
// the socket is read that way, once a window. A window with nothing in it, a full batch (more
// may wait) or an error goes back to the poll, which wakes on the next datagram at once.
static void after_read(reader_t *r, int n) {
  if (r->closed || r->coalesce_ms == 0) return;
  if (n > 0 && (unsigned)n < r->slots) {
    if (!r->waiting) {
      uv_poll_stop(&r->poll);
      r->waiting = 1;
    }
    uv_timer_start(&r->timer, on_coalesced, r->coalesce_ms, 0);
  } else if (r->waiting) {
    r->waiting = 0;
    if (uv_poll_start(&r->poll, UV_READABLE, on_readable) != 0) {
      // the poll cannot restart: JS falls back to dgram's reading, as on a read error
      read_batch(r, UV_EBADF);
    }
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  reader_t *r = (reader_t *)handle->data;
  if (r->closed) return;
  (void)events;
  after_read(r, read_batch(r, status));
}

static void on_coalesced(uv_timer_t *timer) {
  reader_t *r = (reader_t *)timer->data;
  if (r->closed) return;
  after_read(r, read_batch(r, 0));
}

static void on_handle_closed(uv_handle_t *handle) {
  reader_t *r = (reader_t *)handle->data;
  if (--r->open_handles == 0) free(r);
}

static void env_cleanup(void *arg);

static void release_reader(reader_t *r) {
  if (r->closed) return;
  r->closed = 1;
  uv_poll_stop(&r->poll);
  if (r->coalesce_ms > 0) uv_timer_stop(&r->timer);
  napi_remove_env_cleanup_hook(r->env, env_cleanup, r);
  napi_delete_reference(r->env, r->callback);
  napi_delete_reference(r->env, r->resource);
  napi_delete_reference(r->env, r->buffer_ref);
  napi_delete_reference(r->env, r->meta_ref);
  napi_async_destroy(r->env, r->async_context);
  // uv_close stops the poll and drops the descriptor from epoll at once; the descriptor is closed
  // now, not at the close callback, so the port is free when the caller's socket closes
  uv_close((uv_handle_t *)&r->poll, on_handle_closed);
  if (r->coalesce_ms > 0) uv_close((uv_handle_t *)&r->timer, on_handle_closed);
  close(r->fd);
}

// The environment goes away (a worker thread ends) with the reader open: close it, or the loop's
// close finds a live handle.
static void env_cleanup(void *arg) { release_reader((reader_t *)arg); }

// A dup() of fd and a zeroed block of `size` bytes, or NULL with a JS error thrown (nothing left open).
static void *dup_with_block(napi_env env, int fd, size_t size, int *dupfd) {
  *dupfd = dup(fd);
  if (*dupfd < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  void *block = calloc(1, size);
  if (block == NULL) {
    close(*dupfd);
    napi_throw_error(env, NULL, "udp_batch: out of memory");
  }
  return block;
}

// open(fd, slots, slotSize, onDatagram(i, n): datagram i of the n read, or (-errno, 0)[, coalesceMs])
//   → { handle, buffer: ArrayBuffer, meta: Int32Array }
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, NULL, "udp_batch: open(fd, slots, slotSize, onDatagram[, coalesceMs])");
    return NULL;
  }
  int32_t fd, slots, slot_size, coalesce_ms = 0;
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  CHECK(env, napi_get_value_int32(env, argv[1], &slots));
  CHECK(env, napi_get_value_int32(env, argv[2], &slot_size));
  if (argc >= 5) {
    napi_valuetype t;
    CHECK(env, napi_typeof(env, argv[4], &t));
    if (t != napi_undefined) CHECK(env, napi_get_value_int32(env, argv[4], &coalesce_ms));
  }
  if (slots < 1 || slots > MAX_SLOTS || slot_size < 512 || slot_size > 65536) {
    napi_throw_range_error(env, NULL, "udp_batch: slots 1..256, slot size 512..65536");
    return NULL;
  }
  if (coalesce_ms < 0 || coalesce_ms > 100) {
    napi_throw_range_error(env, NULL, "udp_batch: coalesceMs 0..100");
    return NULL;
  }
  int dupfd;
  reader_t *r = dup_with_block(env, fd, sizeof(reader_t), &dupfd);
  if (r == NULL) return NULL;
  r->env = env;
  r->fd = dupfd;
  r->slots = (unsigned)slots;
  r->slot_size = (unsigned)slot_size;
  // the option is the socket's (every dup of it, and dgram's reads ignore the control data). It
  // also turns on the kernel's receive timestamps host-wide (one clock read per packet received,
  // as any program asking for them does). The only control message asked for: MSG_CTRUNC cannot
  // cut it short.
  int on = 1;
  r->stamps = setsockopt(dupfd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on) == 0;

  napi_value out, buffer, meta, meta_ab, handle, resource_name;
  void *data;
  CHECK(env, napi_create_arraybuffer(env, (size_t)slots * (size_t)slot_size, &data, &buffer));
  r->buffer = data;
  // one header a slot, set up once (calloc zeroed the rest)
  for (unsigned i = 0; i < r->slots; i++) {
    r->iov[i].iov_base = r->buffer + (size_t)i * r->slot_size;
    r->iov[i].iov_len = r->slot_size;
    r->msgs[i].msg_hdr.msg_iov = &r->iov[i];
    r->msgs[i].msg_hdr.msg_iovlen = 1;
    r->msgs[i].msg_hdr.msg_name = &r->addrs[i];
    if (r->stamps) r->msgs[i].msg_hdr.msg_control = r->ctrl[i].bytes;
  }
  CHECK(env, napi_create_arraybuffer(env, (size_t)slots * META_WORDS * 4, &data, &meta_ab));
  r->meta = data;
  CHECK(env, napi_create_typedarray(env, napi_int32_array, (size_t)slots * META_WORDS, meta_ab, 0, &meta));
  CHECK(env, napi_create_reference(env, buffer, 1, &r->buffer_ref));
  CHECK(env, napi_create_reference(env, meta_ab, 1, &r->meta_ref));
  CHECK(env, napi_create_reference(env, argv[3], 1, &r->callback));
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_create_reference(env, out, 1, &r->resource));
  CHECK(env, napi_create_string_utf8(env, "sipfront:udp-batch", NAPI_AUTO_LENGTH, &resource_name));
  CHECK(env, napi_async_init(env, out, resource_name, &r->async_context));

  uv_loop_t *loop;
  CHECK(env, napi_get_uv_event_loop(env, &loop));
  int rc = uv_poll_init(loop, &r->poll, dupfd);
  if (rc != 0) {
    close(dupfd);
    free(r);
    napi_throw_error(env, NULL, uv_strerror(rc));
    return NULL;
  }
  r->poll.data = r;
  r->open_handles = 1;
  r->coalesce_ms = (unsigned)coalesce_ms;
  if (r->coalesce_ms > 0) {
    // cannot fail on a live loop (libuv only initializes the structure)
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    r->open_handles++;
  }
  CHECK(env, napi_add_env_cleanup_hook(env, env_cleanup, r));
  rc = uv_poll_start(&r->poll, UV_READABLE, on_readable);
  if (rc != 0) {
    release_reader(r);
    napi_throw_error(env, NULL, uv_strerror(rc));
    return NULL;
  }
  CHECK(env, napi_create_external(env, r, NULL, NULL, &handle));
  CHECK(env, napi_set_named_property(env, out, "handle", handle));
  CHECK(env, napi_set_named_property(env, out, "buffer", buffer));
  CHECK(env, napi_set_named_property(env, out, "meta", meta));
  return out;
}

// close(handle): stops reading; the descriptor dup is closed, the socket itself is the caller's.
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void *p;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_external(env, argv[0], &p) != napi_ok) {
    napi_throw_type_error(env, NULL, "udp_batch: a reader handle expected");
    return NULL;
  }
  release_reader((reader_t *)p);
  return NULL;
}

// Fills a sendmmsg header from send entry m (layout above), pointing at `base + m[0]`.
static void fill_entry(struct mmsghdr *msg, struct iovec *iov, struct sockaddr_storage *addr, const int32_t *m, uint8_t *base) {
  iov->iov_base = base + (uint32_t)m[0];
  iov->iov_len = (uint32_t)m[1];
  memset(msg, 0, sizeof(*msg));
  memset(addr, 0, sizeof(*addr));
  if (m[3] == 6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)addr;
    uint32_t w[4];
    for (int k = 0; k < 4; k++) w[k] = htonl((uint32_t)m[4 + k]);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)m[2]);
    memcpy(&a->sin6_addr, w, 16);
    msg->msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
  } else {
    struct sockaddr_in *a = (struct sockaddr_in *)addr;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)m[2]);
    a->sin_addr.s_addr = htonl((uint32_t)m[4]);
    msg->msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
  }
  msg->msg_hdr.msg_name = addr;
  msg->msg_hdr.msg_iov = iov;
  msg->msg_hdr.msg_iovlen = 1;
}

// The (out, meta, start, end) arguments of send and sendAsync, checked: every entry from start to
// end lies inside out. Returns 0 with a JS error thrown when not.
typedef struct {
  uint8_t *out;
  size_t out_len;
  const int32_t *meta;
  int32_t start, end;
} send_range_t;

static int send_range(napi_env env, const napi_value *argv, send_range_t *r) {
  void *out, *meta_data;
  size_t meta_len, meta_offset;
  napi_typedarray_type type;
  napi_value meta_ab;
  if (napi_get_arraybuffer_info(env, argv[0], &out, &r->out_len) != napi_ok ||
      napi_get_typedarray_info(env, argv[1], &type, &meta_len, &meta_data, &meta_ab, &meta_offset) != napi_ok ||
      napi_get_value_int32(env, argv[2], &r->start) != napi_ok || napi_get_value_int32(env, argv[3], &r->end) != napi_ok) {
    napi_throw_type_error(env, NULL, "udp_batch: send(out: ArrayBuffer, meta: Int32Array, start, end) expected");
    return 0;
  }
  r->out = out;
  r->meta = meta_data;
  if (type != napi_int32_array || r->start < 0 || r->end < r->start || (size_t)r->end * META_WORDS > meta_len) {
    napi_throw_range_error(env, NULL, "udp_batch: bad send range");
    return 0;
  }
  for (int32_t i = r->start; i < r->end; i++) {
    const int32_t *m = r->meta + (size_t)i * META_WORDS;
    size_t off = (uint32_t)m[0], len = (uint32_t)m[1];
    if (off > r->out_len || len > r->out_len - off) {
      napi_throw_range_error(env, NULL, "udp_batch: datagram outside the out buffer");
      return 0;
    }
  }
  return 1;
}

// send(fd, out: ArrayBuffer, meta: Int32Array, start, end) → datagrams sent from start (≥ 0), or
// -errno when the datagram at `start` failed (EAGAIN: the send buffer is full).
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  send_range_t range;
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  if (!send_range(env, argv + 1, &range)) return NULL;
  const int32_t *meta = range.meta;
  int32_t start = range.start, end = range.end;
  struct mmsghdr msgs[64];
  struct iovec iov[64];
  struct sockaddr_storage addrs[64];
  int total = 0;
  int pos = start;
  while (pos < end) {
    int count = end - pos > 64 ? 64 : end - pos;
    for (int i = 0; i < count; i++) fill_entry(&msgs[i], &iov[i], &addrs[i], meta + (size_t)(pos + i) * META_WORDS, range.out);
    int n;
    do {
      n = sendmmsg(fd, msgs, (unsigned)count, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (total > 0) break; // report what went; the caller retries from the failing one
      napi_value v;
      CHECK(env, napi_create_int32(env, -errno, &v));
      return v;
    }
    total += n;
    pos += n;
    if (n < count) break;
  }
  napi_value v;
  CHECK(env, napi_create_int32(env, total, &v));
  return v;
}

// ---- The sender thread: sendmmsg off the JS thread.
//
// The kernel does a loopback datagram's whole delivery (and the wake-up of its reader) inside the
// sender's sendmmsg: a sixth of the proxy's main-thread time at 3,000 calls/s. With a sender open,
// a flush copies its datagrams into a job and returns; one thread per environment sends the jobs
// in order, on a dup() of the socket's descriptor (so a descriptor number reused after the
// caller's close is never written to). A refused datagram is reported back on the loop
// (uv_async) as onError(seq, index, -errno, and the entry's port, family and address words).
// EAGAIN: the thread waits for the socket to drain (poll, EAGAIN_WAIT_MS at most a job), then
// drops the rest of that job, reporting each; the socket is then "congested" and its next jobs
// do not wait (a full socket does not hold back the others' jobs) until a send of it succeeds.
// The queue is bounded (SENDER_MAX_JOBS a sender; SENDER_MAX_BYTES in all, four times that for a
// socket with jobs queued, whose next flush must follow them): past it sendAsync says EAGAIN and
// the caller sends itself. close waits for the socket's jobs to leave, then closes
// the dup (the port is free when the caller's socket closes).

#define SENDER_MAX_BYTES (8u * 1024u * 1024u)
#define SENDER_MAX_JOBS 512
#define EAGAIN_WAIT_MS 200
#define EAGAIN_POLL_MS 20

typedef struct sender sender_t;
typedef struct sender_env sender_env_t;

typedef struct job {
  struct job *next;
  sender_t *sender;
  int32_t seq;
  int count;
  size_t bytes;
  int32_t *meta; // count entries, offsets relative to data
  uint8_t *data;
} job_t;

typedef struct send_error {
  struct send_error *next;
  sender_t *sender;
  int32_t seq, index, err;
  int32_t port, family, w[4]; // the datagram's destination, from its entry
} send_error_t;

struct sender {
  sender_env_t *st; // NULL once the environment is gone
  sender_t *next_live;
  int fd;
  int closed;
  int pending; // jobs queued or being sent
  int closing; // set (atomically) by close: the thread stops waiting for room
  int congested; // the thread's own: a job gave up waiting; cleared by a send that succeeds
  int undelivered; // errors recorded, not yet delivered or purged
  // readable from JS: state[0] pending (a flush then goes to the thread too, to stay in order),
  // state[1] undelivered (the error callbacks kept for it must stay)
  int32_t *state;
  napi_ref state_ref;
  napi_ref callback;
  napi_ref resource;
  napi_async_context async_context;
};

struct sender_env {
  napi_env env;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t work; // a job came, or stop
  pthread_cond_t idle; // a sender's last job left
  job_t *head, *tail;
  size_t queued_bytes;
  int stop;
  send_error_t *errors, *errors_tail;
  uv_async_t async;
  sender_t *live;
};

static void sender_record_error(send_error_t **list, send_error_t **tail, const job_t *job, int32_t index, int err) {
  send_error_t *e = malloc(sizeof(send_error_t));
  if (e == NULL) return; // out of memory: the error goes unreported, as a lost datagram would
  e->next = NULL;
  const int32_t *m = job->meta + (size_t)index * META_WORDS;
  e->sender = job->sender;
  e->seq = job->seq;
  e->index = index;
  e->err = err;
  e->port = m[2];
  e->family = m[3];
  memcpy(e->w, m + 4, sizeof(e->w));
  if (*tail != NULL) (*tail)->next = e;
  else *list = e;
  *tail = e;
}

// Sends one job on the thread; errors are collected into list/tail.
static void sender_run_job(job_t *job, send_error_t **list, send_error_t **tail) {
  struct mmsghdr msgs[64];
  struct iovec iov[64];
  struct sockaddr_storage addrs[64];
  sender_t *s = job->sender;
  int fd = s->fd;
  int pos = 0;
  int wait_left = s->congested || __atomic_load_n(&s->closing, __ATOMIC_RELAXED) ? 0 : EAGAIN_WAIT_MS;
  while (pos < job->count) {
    int count = job->count - pos > 64 ? 64 : job->count - pos;
    for (int i = 0; i < count; i++) fill_entry(&msgs[i], &iov[i], &addrs[i], job->meta + (size_t)(pos + i) * META_WORDS, job->data);
    int n;
    do {
      n = sendmmsg(fd, msgs, (unsigned)count, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
      pos += n;
      s->congested = 0;
      continue;
    }
    int err = n < 0 ? errno : EIO;
    if (err == EAGAIN || err == EWOULDBLOCK) {
      if (wait_left > 0 && !__atomic_load_n(&s->closing, __ATOMIC_RELAXED)) {
        struct pollfd p = {.fd = fd, .events = POLLOUT, .revents = 0};
        int slice = wait_left < EAGAIN_POLL_MS ? wait_left : EAGAIN_POLL_MS;
        wait_left -= slice;
        if (poll(&p, 1, slice) >= 0 || errno == EINTR) continue;
      }
      s->congested = 1;
      for (; pos < job->count; pos++) sender_record_error(list, tail, job, pos, err);
      break;
    }
    // the datagram at pos was refused (ECONNREFUSED of an earlier one, EINVAL, ENETUNREACH…):
    // reported, and the rest go on
    sender_record_error(list, tail, job, pos, err);
    pos++;
  }
}

static void *sender_main(void *arg) {
  sender_env_t *st = arg;
  pthread_setname_np(pthread_self(), "sipfront-send"); // in top -H, /proc/PID/task/*/comm
  pthread_mutex_lock(&st->mu);
  for (;;) {
    while (st->head == NULL && !st->stop) pthread_cond_wait(&st->work, &st->mu);
    if (st->head == NULL) break; // stop, and nothing left
    job_t *job = st->head;
    st->head = job->next;
    if (st->head == NULL) st->tail = NULL;
    pthread_mutex_unlock(&st->mu);

    send_error_t *list = NULL, *tail = NULL;
    sender_run_job(job, &list, &tail);

    pthread_mutex_lock(&st->mu);
    st->queued_bytes -= job->bytes;
    sender_t *s = job->sender;
    __atomic_store_n(s->state, --s->pending, __ATOMIC_RELAXED);
    if (s->pending == 0) pthread_cond_broadcast(&st->idle);
    if (list != NULL) {
      for (send_error_t *e = list; e != NULL; e = e->next) s->undelivered++;
      __atomic_store_n(s->state + 1, s->undelivered, __ATOMIC_RELAXED);
      if (st->errors_tail != NULL) st->errors_tail->next = list;
      else st->errors = list;
      st->errors_tail = tail;
      uv_async_send(&st->async);
    }
    free(job);
  }
  pthread_mutex_unlock(&st->mu);
  return NULL;
}

// On the loop: the errors the thread met, each to its sender's callback.
static void sender_on_async(uv_async_t *handle) {
  sender_env_t *st = handle->data;
  pthread_mutex_lock(&st->mu);
  send_error_t *e = st->errors;
  st->errors = st->errors_tail = NULL;
  pthread_mutex_unlock(&st->mu);
  if (e == NULL) return;
  napi_env env = st->env;
  napi_handle_scope outer;
  int scoped = napi_open_handle_scope(env, &outer) == napi_ok;
  while (e != NULL) {
    send_error_t *next = e->next;
    sender_t *s = e->sender;
    napi_value cb, recv;
    if (scoped && !s->closed && napi_get_reference_value(env, s->callback, &cb) == napi_ok &&
        napi_get_reference_value(env, s->resource, &recv) == napi_ok) {
      napi_handle_scope scope;
      if (napi_open_handle_scope(env, &scope) == napi_ok) {
        int32_t args[9] = {e->seq, e->index, -e->err, e->port, e->family, e->w[0], e->w[1], e->w[2], e->w[3]};
        napi_value argv[9], result;
        int ok = 1;
        for (int k = 0; k < 9 && ok; k++) ok = napi_create_int32(env, args[k], &argv[k]) == napi_ok;
        if (ok) {
          napi_make_callback(env, s->async_context, recv, cb, 9, argv, &result);
          report_pending_exception(env);
        }
        napi_close_handle_scope(env, scope);
      }
    }
    // delivered (or its sender closed, which purged its count): the callback kept for it may go
    pthread_mutex_lock(&st->mu);
    if (!s->closed && s->undelivered > 0) __atomic_store_n(s->state + 1, --s->undelivered, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&st->mu);
    free(e);
    e = next;
  }
  if (scoped) napi_close_handle_scope(env, outer);
}

// Drops the errors of a sender not yet delivered (it is closing). Holds st->mu.
static void sender_purge_errors(sender_env_t *st, sender_t *s) {
  send_error_t **p = &st->errors;
  st->errors_tail = NULL;
  while (*p != NULL) {
    if ((*p)->sender == s) {
      send_error_t *gone = *p;
      s->undelivered--;
      *p = gone->next;
      free(gone);
    } else {
      st->errors_tail = *p;
      p = &(*p)->next;
    }
  }
}

// Waits for the sender's jobs, forgets its errors, closes its dup. On the loop.
static void sender_release(sender_t *s) {
  if (s->closed) return;
  s->closed = 1;
  sender_env_t *st = s->st;
  if (st != NULL) {
    pthread_mutex_lock(&st->mu);
    __atomic_store_n(&s->closing, 1, __ATOMIC_RELAXED);
    while (s->pending > 0) pthread_cond_wait(&st->idle, &st->mu);
    // errors of its last jobs not delivered yet are dropped: the socket's owner is closing it
    sender_purge_errors(st, s);
    for (sender_t **p = &st->live; *p != NULL; p = &(*p)->next_live) {
      if (*p == s) {
        *p = s->next_live;
        break;
      }
    }
    pthread_mutex_unlock(&st->mu);
    napi_delete_reference(st->env, s->callback);
    napi_delete_reference(st->env, s->resource);
    napi_delete_reference(st->env, s->state_ref);
    napi_async_destroy(st->env, s->async_context);
  }
  close(s->fd);
}

static void sender_env_on_closed(uv_handle_t *handle) {
  sender_env_t *st = handle->data;
  pthread_mutex_destroy(&st->mu);
  pthread_cond_destroy(&st->work);
  pthread_cond_destroy(&st->idle);
  free(st);
}

// The environment goes away: every open sender is drained and closed, the thread stops.
static void sender_env_cleanup(void *arg) {
  sender_env_t *st = arg;
  while (st->live != NULL) {
    sender_t *s = st->live;
    sender_release(s);
    s->st = NULL;
  }
  pthread_mutex_lock(&st->mu);
  st->stop = 1;
  pthread_cond_signal(&st->work);
  pthread_mutex_unlock(&st->mu);
  pthread_join(st->thread, NULL);
  for (send_error_t *e = st->errors; e != NULL;) {
    send_error_t *next = e->next;
    free(e);
    e = next;
  }
  st->errors = st->errors_tail = NULL;
  uv_close((uv_handle_t *)&st->async, sender_env_on_closed);
}

static sender_env_t *sender_env_of(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) == napi_ok && data != NULL) return data;
  sender_env_t *st = calloc(1, sizeof(sender_env_t));
  if (st == NULL) return NULL;
  st->env = env;
  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_async_init(loop, &st->async, sender_on_async) != 0) {
    free(st);
    return NULL;
  }
  st->async.data = st;
  // the async handle must not keep the process alive
  uv_unref((uv_handle_t *)&st->async);
  pthread_mutex_init(&st->mu, NULL);
  pthread_cond_init(&st->work, NULL);
  pthread_cond_init(&st->idle, NULL);
  if (pthread_create(&st->thread, NULL, sender_main, st) != 0) {
    uv_close((uv_handle_t *)&st->async, sender_env_on_closed);
    return NULL;
  }
  if (napi_set_instance_data(env, st, NULL, NULL) != napi_ok || napi_add_env_cleanup_hook(env, sender_env_cleanup, st) != napi_ok) {
    // a thread without a way to stop it: stop it now
    napi_set_instance_data(env, NULL, NULL, NULL);
    pthread_mutex_lock(&st->mu);
    st->stop = 1;
    pthread_cond_signal(&st->work);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->thread, NULL);
    uv_close((uv_handle_t *)&st->async, sender_env_on_closed);
    return NULL;
  }
  return st;
}

static void sender_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  sender_t *s = data;
  sender_release(s);
  free(s);
}

// openSender(fd, onError(seq, index, -errno, port, family, w0..w3)) → { handle, state: Int32Array(2) }
static napi_value js_open_sender(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  sender_env_t *st = sender_env_of(env);
  if (st == NULL) {
    napi_throw_error(env, NULL, "udp_batch: the sender thread could not start");
    return NULL;
  }
  int dupfd;
  sender_t *s = dup_with_block(env, fd, sizeof(sender_t), &dupfd);
  if (s == NULL) return NULL;
  s->st = st;
  s->fd = dupfd;
  napi_value out, handle, resource_name, state_ab, state;
  void *state_data;
  CHECK(env, napi_create_arraybuffer(env, 2 * sizeof(int32_t), &state_data, &state_ab));
  s->state = state_data;
  CHECK(env, napi_create_typedarray(env, napi_int32_array, 2, state_ab, 0, &state));
  CHECK(env, napi_create_reference(env, state_ab, 1, &s->state_ref));
  CHECK(env, napi_create_reference(env, argv[1], 1, &s->callback));
  CHECK(env, napi_create_object(env, &out));
  CHECK(env, napi_create_reference(env, out, 1, &s->resource));
  CHECK(env, napi_create_string_utf8(env, "sipfront:udp-send", NAPI_AUTO_LENGTH, &resource_name));
  CHECK(env, napi_async_init(env, out, resource_name, &s->async_context));
  pthread_mutex_lock(&st->mu);
  s->next_live = st->live;
  st->live = s;
  pthread_mutex_unlock(&st->mu);
  CHECK(env, napi_create_external(env, s, sender_finalize, NULL, &handle));
  CHECK(env, napi_set_named_property(env, out, "handle", handle));
  CHECK(env, napi_set_named_property(env, out, "state", state));
  return out;
}

static sender_t *sender_arg(napi_env env, napi_value v) {
  void *p;
  if (napi_get_value_external(env, v, &p) != napi_ok) {
    napi_throw_type_error(env, NULL, "udp_batch: a sender handle expected");
    return NULL;
  }
  return p;
}

// closeSender(handle): waits for its queued datagrams to leave, then closes its descriptor dup.
static napi_value js_close_sender(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  sender_t *s = sender_arg(env, argv[0]);
  if (s == NULL) return NULL;
  sender_release(s);
  return NULL;
}

// sendAsync(handle, out: ArrayBuffer, meta: Int32Array, start, end, seq) → 0: the entries are
// copied and queued for the thread; -EAGAIN: the queue is full (nothing queued); -EBADF: closed.
static napi_value js_send_async(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  // missing arguments are undefined: the checks below throw for them
  sender_t *s = sender_arg(env, argv[0]);
  if (s == NULL) return NULL;
  napi_value v;
  int32_t seq;
  send_range_t range;
  if (!send_range(env, argv + 1, &range)) return NULL;
  CHECK(env, napi_get_value_int32(env, argv[5], &seq));
  const int32_t *meta = range.meta;
  int32_t start = range.start, end = range.end;
  uint8_t *out = range.out;
  if (end == start) {
    CHECK(env, napi_create_int32(env, 0, &v));
    return v;
  }
  // the entries' bytes, lowest to highest offset (the caller fills the buffer in order, but any
  // order is accepted)
  size_t lo = SIZE_MAX, hi = 0;
  for (int32_t i = start; i < end; i++) {
    const int32_t *m = meta + (size_t)i * META_WORDS;
    size_t off = (uint32_t)m[0], len = (uint32_t)m[1];
    if (off < lo) lo = off;
    if (off + len > hi) hi = off + len;
  }
  if (hi < lo) hi = lo;
  int count = end - start;
  size_t meta_bytes = (size_t)count * META_WORDS * sizeof(int32_t);
  size_t bytes = sizeof(job_t) + meta_bytes + (hi - lo);
  int32_t rc = 0;
  sender_env_t *st = s->st;
  // the job is made before the lock, so the lock is taken once: checked and queued together (a
  // full queue, rare, costs a copy thrown away)
  job_t *job = s->closed || st == NULL ? NULL : malloc(bytes);
  if (s->closed || st == NULL) rc = -EBADF;
  else if (job == NULL) rc = -ENOMEM;
  else {
    job->next = NULL;
    job->sender = s;
    job->seq = seq;
    job->count = count;
    job->bytes = bytes;
    job->meta = (int32_t *)(job + 1);
    job->data = (uint8_t *)job->meta + meta_bytes;
    memcpy(job->meta, meta + (size_t)start * META_WORDS, meta_bytes);
    for (int i = 0; i < count; i++) job->meta[(size_t)i * META_WORDS] -= (int32_t)lo;
    memcpy(job->data, out + lo, hi - lo);
    pthread_mutex_lock(&st->mu);
    size_t cap = s->pending > 0 ? 4 * (size_t)SENDER_MAX_BYTES : SENDER_MAX_BYTES;
    if (s->pending >= SENDER_MAX_JOBS || (st->queued_bytes > 0 && st->queued_bytes + bytes > cap)) rc = -EAGAIN;
    else {
      __atomic_store_n(s->state, ++s->pending, __ATOMIC_RELAXED);
      st->queued_bytes += bytes;
      if (st->tail != NULL) st->tail->next = job;
      else st->head = job;
      st->tail = job;
      pthread_cond_signal(&st->work);
    }
    pthread_mutex_unlock(&st->mu);
    if (rc != 0) free(job);
  }
  CHECK(env, napi_create_int32(env, rc, &v));
  return v;
}

// ntop(family, w0, w1, w2, w3) → the address as text (inet_ntop: the form libuv gives dgram too)
static napi_value js_ntop(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t family, w[4] = {0, 0, 0, 0};
  CHECK(env, napi_get_value_int32(env, argv[0], &family));
  for (int k = 0; k < 4 && (size_t)(k + 1) < argc; k++) CHECK(env, napi_get_value_int32(env, argv[k + 1], &w[k]));
  char text[INET6_ADDRSTRLEN];
  const char *ok;
  if (family == 6) {
    uint32_t n[4];
    for (int k = 0; k < 4; k++) n[k] = htonl((uint32_t)w[k]);
    ok = inet_ntop(AF_INET6, n, text, sizeof(text));
  } else {
    uint32_t n = htonl((uint32_t)w[0]);
    ok = inet_ntop(AF_INET, &n, text, sizeof(text));
  }
  if (ok == NULL) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  napi_value v;
  CHECK(env, napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &v));
  return v;
}

// pton(text, out: Int32Array(5)) → true with out = [family, w0..w3], false when not an address
static napi_value js_pton(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char text[INET6_ADDRSTRLEN + 1];
  size_t len;
  CHECK(env, napi_get_value_string_utf8(env, argv[0], text, sizeof(text), &len));
  napi_typedarray_type type;
  size_t n_out, offset;
  void *data;
  napi_value ab;
  CHECK(env, napi_get_typedarray_info(env, argv[1], &type, &n_out, &data, &ab, &offset));
  if (type != napi_int32_array || n_out < 5) {
    napi_throw_range_error(env, NULL, "udp_batch: pton needs an Int32Array of 5");
    return NULL;
  }
  int32_t *out = data;
  bool ok = false;
  uint32_t w[4];
  if (len < sizeof(text) - 1) {
    if (inet_pton(AF_INET, text, w) == 1) {
      out[0] = 4;
      out[1] = (int32_t)ntohl(w[0]);
      out[2] = out[3] = out[4] = 0;
      ok = true;
    } else if (inet_pton(AF_INET6, text, w) == 1) {
      out[0] = 6;
      for (int k = 0; k < 4; k++) out[1 + k] = (int32_t)ntohl(w[k]);
      ok = true;
    }
  }
  napi_value v;
  CHECK(env, napi_get_boolean(env, ok, &v));
  return v;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ntop", NULL, js_ntop, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pton", NULL, js_pton, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openSender", NULL, js_open_sender, NULL, NULL, NULL, napi_enumerable, NULL},
      {"closeSender", NULL, js_close_sender, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendAsync", NULL, js_send_async, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
