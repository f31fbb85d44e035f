// sipfront's own addresses: which URIs name it (Route, Request-URI, Via) and what it writes into
// its Via and Record-Route for a given listener.
import type { Uri } from '../message/uri.js';
import { isSipUri, uriTransport } from '../message/uri.js';
import type { ListenerInfo, TransportName } from '../transport/types.js';

const defaultPort = (t: string): number => (t === 'tls' ? 5061 : 5060);

export class LocalAddresses {
  private hosts = new Set<string>();
  private hostPorts = new Set<string>();
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
    this.hosts.clear();
    this.hostPorts.clear();
    const names = [...extraHosts];
    if (this.advertise !== undefined) names.push(this.advertise);
    for (const l of listeners) {
      this.hosts.add(l.host.toLowerCase());
      this.hostPorts.add(`${l.host.toLowerCase()}|${l.port}`);
      for (const n of names) this.hostPorts.add(`${n.toLowerCase()}|${l.port}`);
    }
    for (const n of names) this.hosts.add(n.toLowerCase());
  }

  get listeners(): readonly ListenerInfo[] {
    return this.listenersList;
  }

  /** host (and port, default by transport) is one of ours */
  isLocal(host: string, port: number | undefined, transport: string = 'udp'): boolean {
    const h = host.toLowerCase();
    if (!this.hosts.has(h)) return false;
    return this.hostPorts.has(`${h}|${port ?? defaultPort(transport)}`);
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
