// A bare core proxy (no server, no config) on one UDP socket of 127.0.0.1, with the router a test
// gives it: for proxy behaviour that needs a router the server's config cannot express (a next
// hop's challenge, a decision held back).
import { createProxy, createResolver, createTransportLayer, type DestinationResolver, type Proxy, type Router, type TransportLayer } from '@sipfront/core';

const silent = { debug() {}, info() {}, warn() {}, error() {} };

export interface CoreProxy {
  proxy: Proxy;
  transport: TransportLayer;
  /** the UDP port it listens on */
  port: number;
  close(): Promise<void>;
}

/** A stateful proxy (or `mode`) with T1 = 50 ms routing through `router`, resolving with `resolver` (default: the real one). */
export const startCoreProxy = async (router: Router, opts: { resolver?: DestinationResolver; mode?: 'stateful' | 'stateless' } = {}): Promise<CoreProxy> => {
  // the transport delivers to the proxy made just after it
  const ref: { proxy?: Proxy } = {};
  const transport = createTransportLayer({ onMessage: (m) => ref.proxy?.handleInbound(m) });
  const [l] = await transport.listen([{ transport: 'udp', host: '127.0.0.1', port: 0 }]);
  const p = createProxy({ mode: opts.mode ?? 'stateful', transport, resolver: opts.resolver ?? createResolver(), log: silent, timers: { t1: 50 }, router });
  ref.proxy = p;
  p.updateListeners();
  return {
    proxy: p,
    transport,
    port: l!.port,
    close: async () => {
      p.close();
      await transport.close();
    },
  };
};
