// An exact sliding-window counter: the times of the last events inside the window, in a ring
// that grows on demand up to the limit it has to judge. Checking and adding are O(1)
// (amortised) and allocate nothing once the ring has grown; a source that sends one request
// costs a 4-slot ring, not `limit` slots.

const INITIAL = 4;

export class SlidingWindow {
  private times: number[];
  private head = 0;
  private n = 0;

  /** `capacity`: the most events ever needed at once (the limit being enforced). */
  constructor(private readonly capacity: number) {
    this.times = new Array<number>(Math.min(capacity, INITIAL)).fill(0);
  }

  /** Forgets events at or before `now - window`; returns how many remain, i.e. within (now - window, now]. */
  count(now: number, window: number): number {
    const t = this.times;
    const edge = now - window;
    while (this.n > 0 && t[this.head]! <= edge) {
      this.head = this.head + 1 === t.length ? 0 : this.head + 1;
      this.n--;
    }
    return this.n;
  }

  /** Records an event; beyond `capacity` the oldest is forgotten. */
  add(now: number): void {
    let t = this.times;
    if (this.n === t.length) {
      if (t.length < this.capacity) {
        const grown = new Array<number>(Math.min(this.capacity, t.length * 2)).fill(0);
        for (let i = 0; i < this.n; i++) grown[i] = t[(this.head + i) % t.length]!;
        this.times = t = grown;
        this.head = 0;
      } else {
        this.head = this.head + 1 === t.length ? 0 : this.head + 1;
        this.n--;
      }
    }
    let tail = this.head + this.n;
    if (tail >= t.length) tail -= t.length;
    t[tail] = now;
    this.n++;
  }

  get size(): number {
    return this.n;
  }

  /** The newest event's time; -Infinity when empty. */
  get newest(): number {
    if (this.n === 0) return -Infinity;
    let tail = this.head + this.n - 1;
    if (tail >= this.times.length) tail -= this.times.length;
    return this.times[tail]!;
  }
}
