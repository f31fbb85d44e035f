// Calls per second per destination, derived from the `selectedTotal` counters of successive
// refreshes: the API reports totals, and a rate over two samples needs no server-side state.

export interface RateSample {
  total: number;
  /** ms */
  at: number;
}

export interface RateState {
  samples: ReadonlyMap<string, RateSample>;
  /** calls per second; null until two samples are far enough apart */
  rates: ReadonlyMap<string, number | null>;
}

export const emptyRates = (): RateState => ({ samples: new Map(), rates: new Map() });

/** The key of a destination in the rate tables: set and URI. */
export const rateKey = (setId: number, uri: string): string => `${setId} ${uri}`;

/**
 * Folds one refresh into the rates. Samples closer than `minIntervalMs` to the last one keep the
 * previous rate (an event-triggered refresh right after a periodic one would be noise); a counter
 * that went down (a restart, a re-created destination) starts over.
 */
export const updateRates = (
  state: RateState,
  totals: ReadonlyArray<{ key: string; total: number }>,
  now: number,
  minIntervalMs = 1000,
): RateState => {
  const samples = new Map<string, RateSample>();
  const rates = new Map<string, number | null>();
  for (const { key, total } of totals) {
    const prev = state.samples.get(key);
    if (prev === undefined || total < prev.total) {
      samples.set(key, { total, at: now });
      rates.set(key, null);
      continue;
    }
    const dt = now - prev.at;
    if (dt < minIntervalMs) {
      samples.set(key, prev);
      rates.set(key, state.rates.get(key) ?? null);
      continue;
    }
    samples.set(key, { total, at: now });
    rates.set(key, ((total - prev.total) * 1000) / dt);
  }
  return { samples, rates };
};

/** The sum of the known rates; null when none is known yet. */
export const sumRates = (rates: ReadonlyArray<number | null | undefined>): number | null => {
  let sum: number | null = null;
  for (const r of rates) if (r !== null && r !== undefined) sum = (sum ?? 0) + r;
  return sum;
};
