// What the proxy asks the rest of sipfront: where an initial request goes. The server package
// composes a Router from the dispatcher, registrar, security and config (`routes:`); core only
// declares the shapes.
import type { SipMessage } from '../message/message.js';
import type { Endpoint, ListenerInfo } from '../transport/types.js';

export interface RequestContext {
  source: Endpoint;
  listener: ListenerInfo;
  connectionId: string | undefined;
  /** the Request-URI names one of sipfront's own addresses */
  ruriIsLocal: boolean;
}

export interface RouteTarget {
  /** where the request is sent: a SIP URI (literal address or host name, port, transport param) */
  destination: string;
  /** a new Request-URI (a registered contact); absent = keep the Request-URI (dispatcher) */
  requestUri?: string;
  /** a Path / Route set to put in front (RFC 3327 registrations) */
  route?: string[];
  /**
   * The next hop challenged the request (a provider's 401/407): the credential headers to send
   * it again with (CSeq + 1, new branch), or undefined to pass the challenge to the caller.
   * The dialog's later requests towards this hop keep the raised CSeq.
   */
  onChallenge?(res: SipMessage, sent: SipMessage): Array<[string, string]> | undefined;
  /** raise the CSeq by this much towards this hop (set by the proxy for in-dialog requests) */
  cseqShift?: number;
  /** called when this target is about to be tried */
  onAttempt?(): void;
  /** told how this branch ended: a final status, or 408 for a timeout / 503 for a transport error */
  onResult?(status: number, res: SipMessage | undefined): void;
}

export type RouteDecision =
  | {
      action: 'forward';
      targets: RouteTarget[];
      /** parallel: fork to every target at once; serial (default): the next one after a failover answer */
      fork?: 'serial' | 'parallel';
      /** headers to add to the forwarded request (e.g. P-Asserted-Identity) */
      addHeaders?: Array<[string, string]>;
      /** header keys to remove from the forwarded request */
      removeHeaders?: string[];
      /** the status when every serial target fails with a failover code */
      exhaustedStatus?: number;
    }
  | { action: 'reply'; status: number; reason?: string; headers?: Array<[string, string]> }
  | { action: 'drop'; reason: string };

export interface Router {
  route(req: SipMessage, ctx: RequestContext): RouteDecision | Promise<RouteDecision>;
}

/** Events for metrics and traces; every method is optional and must not throw. */
export interface ProxyObserver {
  requestIn?(req: SipMessage, source: Endpoint): void;
  responseIn?(res: SipMessage, source: Endpoint): void;
  /** `local`: sipfront's socket the message leaves from (undefined when none fits) */
  sent?(msg: SipMessage, target: Endpoint, data: Buffer, local: Endpoint | undefined): void;
  /** `local`: sipfront's socket the message arrived on; `at`: Date.now() when it was read */
  received?(msg: SipMessage, source: Endpoint, data: Buffer, local: Endpoint, at: number): void;
  parseError?(source: Endpoint, err: Error): void;
  refused?(reason: string, source: Endpoint): void;
}
