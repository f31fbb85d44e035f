// Batched UDP for the hot path (Linux): recvmmsg on a listen socket's descriptor, sendmmsg for the
// datagrams a batch of work produced. Node's dgram costs a system call, a request object and a
// callback per datagram; here one wake-up reads up to `slots` datagrams and one call sends as many.
//
// The socket itself stays a node:dgram socket (bind, cluster sharing, close): this module is handed
// its descriptor. Reading polls a dup() of it, so libuv's own watcher of the original descriptor is
// left alone (the caller stops dgram's reading). Sending writes on the original descriptor.
//
// JS side: packages/core/src/transport/udp-batch.ts. Meta layouts are shared with it:
//   read slot i:  meta[i*8 + 0] length (-1: truncated), 1 port, 2 family (4|6), 3 unused,
//                 4..7 address as big-endian 32-bit words (IPv4: word 4 only)
//   send entry i: meta[i*8 + 0] offset in the out buffer, 1 length, 2 port, 3 family,
//                 4..7 address as above

#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define META_WORDS 8
#define MAX_SLOTS 256

typedef struct {
  napi_env env;
  uv_poll_t poll;
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

static void on_readable(uv_poll_t *handle, int status, int events) {
  reader_t *r = (reader_t *)handle->data;
  if (r->closed) return;
  (void)events;
  int n = 0;
  if (status == 0) {
    // the headers are set up at open; the kernel shortens the address length of each one it fills
    for (unsigned i = 0; i < r->slots; i++) r->msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_storage);
    do {
      n = recvmmsg(r->fd, r->msgs, r->slots, MSG_DONTWAIT, NULL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      // EAGAIN: another reader (a worker sharing the socket) was faster. Anything else is
      // reported to JS as a negative count.
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      n = -errno;
    } else {
      for (int i = 0; i < n; i++) {
        int32_t *m = r->meta + (size_t)i * META_WORDS;
        m[0] = (r->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) ? -1 : (int32_t)r->msgs[i].msg_len;
        put_address(m, &r->addrs[i]);
      }
    }
  } else {
    n = status; // a libuv error code, negative
  }
  if (n == 0) return;

  // One call a datagram, each through make_callback, as dgram's 'message': the process.nextTick
  // queue and the microtasks run between two datagrams (a promise settled by one is seen by the
  // next). An exception goes to 'uncaughtException'. A read error is one call with (-errno, 0).
  napi_env env = r->env;
  napi_handle_scope outer;
  if (napi_open_handle_scope(env, &outer) != napi_ok) return;
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
        napi_status s = napi_make_callback(env, r->async_context, recv, cb, 2, argv, &result);
        if (s == napi_pending_exception) {
          napi_value exc;
          napi_get_and_clear_last_exception(env, &exc);
          napi_fatal_exception(env, exc);
        }
      }
      napi_close_handle_scope(env, scope);
    }
  }
  napi_close_handle_scope(env, outer);
}

static void on_poll_closed(uv_handle_t *handle) {
  free(handle->data);
}

static void env_cleanup(void *arg);

static void release_reader(reader_t *r) {
  if (r->closed) return;
  r->closed = 1;
  uv_poll_stop(&r->poll);
  napi_remove_env_cleanup_hook(r->env, env_cleanup, r);
  napi_delete_reference(r->env, r->callback);
  napi_delete_reference(r->env, r->resource);
  napi_delete_reference(r->env, r->buffer_ref);
  napi_delete_reference(r->env, r->meta_ref);
  napi_async_destroy(r->env, r->async_context);
  // uv_close stops the poll and drops the descriptor from epoll at once; the descriptor is closed
  // now, not at the close callback, so the port is free when the caller's socket closes
  uv_close((uv_handle_t *)&r->poll, on_poll_closed);
  close(r->fd);
}

// The environment goes away (a worker thread ends) with the reader open: close it, or the loop's
// close finds a live handle.
static void env_cleanup(void *arg) { release_reader((reader_t *)arg); }

// open(fd, slots, slotSize, onDatagram(i, n): datagram i of the n read, or (-errno, 0)) → { handle, buffer: ArrayBuffer, meta: Int32Array }
static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, slots, slot_size;
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  CHECK(env, napi_get_value_int32(env, argv[1], &slots));
  CHECK(env, napi_get_value_int32(env, argv[2], &slot_size));
  if (slots < 1 || slots > MAX_SLOTS || slot_size < 512 || slot_size > 65536) {
    napi_throw_range_error(env, NULL, "udp_batch: slots 1..256, slot size 512..65536");
    return NULL;
  }
  int dupfd = dup(fd);
  if (dupfd < 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  reader_t *r = calloc(1, sizeof(reader_t));
  if (r == NULL) {
    close(dupfd);
    napi_throw_error(env, NULL, "udp_batch: out of memory");
    return NULL;
  }
  r->env = env;
  r->fd = dupfd;
  r->slots = (unsigned)slots;
  r->slot_size = (unsigned)slot_size;

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

// send(fd, out: ArrayBuffer, meta: Int32Array, start, end) → datagrams sent from start (≥ 0), or
// -errno when the datagram at `start` failed (EAGAIN: the send buffer is full).
static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, start, end;
  void *out;
  size_t out_len;
  napi_typedarray_type type;
  size_t meta_len, meta_offset;
  void *meta_data;
  napi_value meta_ab;
  CHECK(env, napi_get_value_int32(env, argv[0], &fd));
  CHECK(env, napi_get_arraybuffer_info(env, argv[1], &out, &out_len));
  CHECK(env, napi_get_typedarray_info(env, argv[2], &type, &meta_len, &meta_data, &meta_ab, &meta_offset));
  CHECK(env, napi_get_value_int32(env, argv[3], &start));
  CHECK(env, napi_get_value_int32(env, argv[4], &end));
  const int32_t *meta = meta_data;
  if (type != napi_int32_array || start < 0 || end < start || (size_t)end * META_WORDS > meta_len) {
    napi_throw_range_error(env, NULL, "udp_batch: bad send range");
    return NULL;
  }
  struct mmsghdr msgs[64];
  struct iovec iov[64];
  struct sockaddr_storage addrs[64];
  int total = 0;
  int pos = start;
  while (pos < end) {
    int count = end - pos > 64 ? 64 : end - pos;
    for (int i = 0; i < count; i++) {
      const int32_t *m = meta + (size_t)(pos + i) * META_WORDS;
      size_t off = (uint32_t)m[0], len = (uint32_t)m[1];
      if (off > out_len || len > out_len - off) {
        napi_throw_range_error(env, NULL, "udp_batch: datagram outside the out buffer");
        return NULL;
      }
      iov[i].iov_base = (uint8_t *)out + off;
      iov[i].iov_len = len;
      memset(&msgs[i], 0, sizeof(msgs[i]));
      memset(&addrs[i], 0, sizeof(addrs[i]));
      if (m[3] == 6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&addrs[i];
        uint32_t w[4];
        for (int k = 0; k < 4; k++) w[k] = htonl((uint32_t)m[4 + k]);
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)m[2]);
        memcpy(&a->sin6_addr, w, 16);
        msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in6);
      } else {
        struct sockaddr_in *a = (struct sockaddr_in *)&addrs[i];
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)m[2]);
        a->sin_addr.s_addr = htonl((uint32_t)m[4]);
        msgs[i].msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
      }
      msgs[i].msg_hdr.msg_name = &addrs[i];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
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
  };
  if (napi_define_properties(env, exports, 5, props) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
