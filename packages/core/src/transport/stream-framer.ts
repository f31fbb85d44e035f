// Cuts a TCP/TLS byte stream into SIP messages (RFC 3261 §18.3): header section up to the first
// CRLFCRLF, then Content-Length bytes of body. Also spots RFC 5626 §3.5.1 CRLFCRLF pings between
// messages. Complete messages inside one chunk are handed on as zero-copy slices of that chunk;
// only a message cut by a chunk boundary is copied, once, into a per-connection buffer.

const CR = 0x0d;
const LF = 0x0a;
const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const CONTENT_LENGTH = Buffer.from('content-length', 'latin1');
/** Bigger than any sane Content-Length; stops the digit loop from growing without bound. */
const CL_CAP = 1e12;

export type FramerFailure = 'too-large' | 'buffer-overflow' | 'framing';

export interface FramerSink {
  /** One complete message, header and body bytes exactly as received. */
  message(data: Buffer): void;
  /** A CRLFCRLF keep-alive arrived; the owner answers with a CRLF pong. */
  ping(): void;
  /** The stream cannot be framed any more; the owner closes the connection. */
  fail(reason: FramerFailure): void;
}

export interface FramerLimits {
  maxMessageSize: number;
  maxBuffered: number;
}

/**
 * Content-Length of the header section in buf[start, end) (end just past the last header
 * line's CRLF): -1 when absent, -2 when malformed or given twice with different values.
 * Only line starts are looked at; a line is examined further only when it begins with
 * `l` or `c` (the compact and full names).
 */
export function findContentLength(buf: Buffer, start: number, end: number): number {
  let found = -1;
  // The start line never carries a header.
  let p = buf.indexOf(LF, start) + 1;
  while (p > 0 && p < end) {
    const c = buf[p]! | 0x20;
    let q = -1;
    if (c === 0x6c /* l */) {
      q = p + 1;
    } else if (c === 0x63 /* c */ && p + 14 <= end) {
      q = p + 1;
      for (let i = 1; i < 14; i++, q++) {
        if ((buf[q]! | 0x20) !== CONTENT_LENGTH[i]) {
          q = -1;
          break;
        }
      }
    }
    if (q > 0) {
      while (q < end && (buf[q] === 0x20 || buf[q] === 0x09)) q++;
      if (buf[q] === 0x3a /* : */) {
        q++;
        // Linear white space, including a folded continuation line.
        for (;;) {
          const b = buf[q];
          if (b === 0x20 || b === 0x09) q++;
          else if (b === CR && buf[q + 1] === LF && (buf[q + 2] === 0x20 || buf[q + 2] === 0x09) && q + 2 < end) q += 3;
          else break;
        }
        let value = 0;
        let digits = 0;
        for (let b = buf[q]!; b >= 0x30 && b <= 0x39 && q < end; b = buf[++q]!) {
          if (value < CL_CAP) value = value * 10 + (b - 0x30);
          digits++;
        }
        while (q < end && (buf[q] === 0x20 || buf[q] === 0x09)) q++;
        if (digits === 0 || buf[q] !== CR) return -2;
        if (found >= 0 && found !== value) return -2;
        found = value;
      }
    }
    p = buf.indexOf(LF, p) + 1;
  }
  return found;
}

export class StreamFramer {
  /** The start of a message cut by a chunk boundary; always begins with a non-CR/LF byte. */
  private acc: Buffer | null = null;
  private accLen = 0;
  /** Where the CRLFCRLF search resumes in acc. */
  private scanFrom = 0;
  /** Total length of the message in acc once its header section is parsed, else -1. */
  private need = -1;
  /** How many bytes of a CRLFCRLF ping have been seen between messages (0..3). */
  private crlf = 0;
  private failed = false;

  constructor(
    private readonly limits: FramerLimits,
    private readonly sink: FramerSink,
  ) {}

  /** Bytes held for an incomplete message. */
  get buffered(): number {
    return this.accLen;
  }

  /** Feeds one chunk; false once the stream has failed (the sink was told why). */
  push(chunk: Buffer): boolean {
    if (this.failed) return false;
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      if (this.acc === null) {
        off = this.frame(chunk, off);
        if (this.failed) return false;
        if (off < len) this.startPartial(chunk, off);
        return true;
      }
      off = this.continuePartial(chunk, off);
      if (this.failed) return false;
    }
    return true;
  }

  private fail(reason: FramerFailure): void {
    this.failed = true;
    this.acc = null;
    this.accLen = 0;
    this.sink.fail(reason);
  }

  /** Delivers every complete message of chunk[off..]; returns where an incomplete one starts. */
  private frame(chunk: Buffer, off: number): number {
    const len = chunk.length;
    const max = this.limits.maxMessageSize;
    for (;;) {
      off = this.skipCrlf(chunk, off);
      if (off >= len || this.failed) return len;
      const idx = chunk.indexOf(CRLFCRLF, off);
      if (idx < 0) {
        if (len - off >= max) this.fail('too-large');
        this.need = -1;
        return off;
      }
      const total = this.messageLength(chunk, off, idx);
      if (total < 0) return len;
      if (off + total > len) {
        this.need = total;
        return off;
      }
      this.sink.message(chunk.subarray(off, off + total));
      off += total;
      if (this.failed) return len;
    }
  }

  /** Skips CR/LF between messages, counting CRLFCRLF pings even when split across chunks. */
  private skipCrlf(chunk: Buffer, off: number): number {
    const len = chunk.length;
    let b: number;
    while (off < len && ((b = chunk[off]!) === CR || b === LF)) {
      // Expected: CR LF CR LF, i.e. CR at even positions, LF at odd ones.
      if (b === ((this.crlf & 1) === 0 ? CR : LF)) {
        if (++this.crlf === 4) {
          this.crlf = 0;
          this.sink.ping();
          if (this.failed) return len;
        }
      } else {
        this.crlf = b === CR ? 1 : 0;
      }
      off++;
    }
    if (off < len) this.crlf = 0;
    return off;
  }

  /** Length of the message starting at `start` whose headers end at `idx`; -1 after a failure. */
  private messageLength(buf: Buffer, start: number, idx: number): number {
    const max = this.limits.maxMessageSize;
    const headerLen = idx + 4 - start;
    if (headerLen > max) {
      this.fail('too-large');
      return -1;
    }
    const cl = findContentLength(buf, start, idx + 2);
    if (cl === -2) {
      this.fail('framing');
      return -1;
    }
    // RFC 3261 §18.3 makes Content-Length mandatory on streams; a missing one is read as 0.
    const total = headerLen + (cl < 0 ? 0 : cl);
    if (total > max) {
      this.fail('too-large');
      return -1;
    }
    return total;
  }

  private startPartial(chunk: Buffer, off: number): void {
    const n = chunk.length - off;
    if ((this.need >= 0 ? this.need : n) > this.limits.maxBuffered) {
      this.fail('buffer-overflow');
      return;
    }
    const cap = this.need >= 0 ? this.need : Math.min(Math.max(n * 2, 1024), this.limits.maxMessageSize);
    this.acc = Buffer.allocUnsafe(Math.max(cap, n));
    chunk.copy(this.acc, 0, off);
    this.accLen = n;
    this.scanFrom = n > 3 ? n - 3 : 0;
  }

  /** Adds chunk[off..] to the partial message; returns how far into chunk it read. */
  private continuePartial(chunk: Buffer, off: number): number {
    const max = this.limits.maxMessageSize;
    const avail = chunk.length - off;
    if (this.need >= 0) {
      const take = Math.min(avail, this.need - this.accLen);
      chunk.copy(this.acc!, this.accLen, off, off + take);
      this.accLen += take;
      if (this.accLen === this.need) this.deliverPartial(this.need);
      return off + take;
    }
    // Header section still open: it cannot usefully grow past maxMessageSize.
    const take = Math.min(avail, max - this.accLen);
    this.reserve(this.accLen + take);
    chunk.copy(this.acc!, this.accLen, off, off + take);
    this.accLen += take;
    const acc = this.acc!;
    const idx = acc.subarray(0, this.accLen).indexOf(CRLFCRLF, this.scanFrom);
    if (idx < 0) {
      if (this.accLen >= max) this.fail('too-large');
      else if (this.accLen > this.limits.maxBuffered) this.fail('buffer-overflow');
      else this.scanFrom = Math.max(0, this.accLen - 3);
      return off + take;
    }
    const total = this.messageLength(acc, 0, idx);
    if (total < 0) return chunk.length;
    if (this.accLen >= total) {
      // Bytes past the message came from this chunk: hand them back to the caller's loop.
      const over = this.accLen - total;
      this.accLen = total;
      this.deliverPartial(total);
      return off + take - over;
    }
    if (total > this.limits.maxBuffered) {
      this.fail('buffer-overflow');
      return chunk.length;
    }
    this.need = total;
    this.reserve(total);
    return off + take;
  }

  private reserve(size: number): void {
    const acc = this.acc!;
    if (acc.length >= size) return;
    const grown = Buffer.allocUnsafe(Math.min(Math.max(acc.length * 2, size), Math.max(size, this.limits.maxMessageSize)));
    acc.copy(grown, 0, 0, this.accLen);
    this.acc = grown;
  }

  /** The message leaves with the buffer it lives in; the next partial gets a fresh one. */
  private deliverPartial(total: number): void {
    const msg = this.acc!.subarray(0, total);
    this.acc = null;
    this.accLen = 0;
    this.need = -1;
    this.scanFrom = 0;
    this.sink.message(msg);
  }
}
