// sipfront's own addresses: which URIs name it (Route, Request-URI, Via) and what it writes into
// its Via and Record-Route for a given listener.
import type { Uri } from '../message/uri.js';
import { isSipUri, uriTransport } from '../message/uri.js';
import type { ListenerInfo, TransportName } from '../transport/types.js';

const defaultPort = (t: string): number => (t === 'tls' ? 5061 : 5060);

export class LocalAddresses {
  /** each of our host names (lower case) and the ports we listen on under it (none: a name only) */
  private portsByHost = new Map<string, Set<number>>();
  private listenersList: ListenerInfo[] = [];

  constructor(
    listeners: readonly ListenerInfo[],
    readonly advertise: string | undefined,
    extraHosts: readonly string[] = [],
  ) {
    this.update(listeners, extraHosts);
  }

  update(listeners: readonly ListenerInfo[], extraHosts: readonly string[] = []): void {
    this.listenersList = [...listeners];
    const byHost = new Map<string, Set<number>>();
    const portsOf = (host: string): Set<number> => {
      const h = host.toLowerCase();
      let ports = byHost.get(h);
      if (ports === undefined) byHost.set(h, (ports = new Set<number>()));
      return ports;
    };
    const names = [...extraHosts];
    if (this.advertise !== undefined) names.push(this.advertise);
    for (const n of names) portsOf(n);
    for (const l of listeners) {
      portsOf(l.host).add(l.port);
      for (const n of names) portsOf(n).add(l.port);
    }
    this.portsByHost = byHost;
  }

  get listeners(): readonly ListenerInfo[] {
    return this.listenersList;
  }

  /** host (and port, default by transport) is one of ours */
  isLocal(host: string, port: number | undefined, transport: string = 'udp'): boolean {
    // a lookup by host, then the port: no key string built per message (this runs on each request)
    const ports = this.portsByHost.get(host) ?? this.portsByHost.get(host.toLowerCase());
    return ports !== undefined && ports.has(port ?? defaultPort(transport));
  }

  isLocalUri(u: Uri | undefined): boolean {
    if (!isSipUri(u)) return false;
    return this.isLocal(u.host, u.port, uriTransport(u));
  }

  /** the host written into Via / Record-Route for a listener */
  hostFor(l: ListenerInfo): string {
    if (this.advertise !== undefined) return this.advertise;
    return l.family === 6 ? `[${l.host}]` : l.host;
  }

  /** `<sip:host:port;transport=tcp;lr>` for a listener */
  recordRoute(l: ListenerInfo, extraParams = ''): string {
    const t = l.transport === 'udp' ? '' : `;transport=${l.transport}`;
    return `<sip:${this.hostFor(l)}:${l.port}${t};lr${extraParams}>`;
  }

  /** `SIP/2.0/UDP host:port;branch=...` for a listener */
  via(l: ListenerInfo, branch: string): string {
    return `SIP/2.0/${viaTransport(l.transport)} ${this.hostFor(l)}:${l.port};branch=${branch}`;
  }
}

export const viaTransport = (t: TransportName): string => t.toUpperCase();
