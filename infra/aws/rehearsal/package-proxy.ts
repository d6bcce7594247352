// The rehearsal's package mirror seam: on AWS a node's apt reaches Debian's mirror through the
// NAT gateway; here it reaches this HTTP proxy on the host's bridge address (the guests' vendor
// data names it), which forwards plain-HTTP GET and HEAD requests to Debian's mirror, the one
// host the guests' sources list names, and refuses everything else.
import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** The mirror the image's sources list names (debootstrap's default). */
export const MIRROR_HOSTS: readonly string[] = ['deb.debian.org'];
export const PACKAGE_PROXY_PORT = 3142;

export interface PackageProxy {
  readonly url: string;
  /** Requests forwarded and refused so far. */
  readonly counts: () => { readonly forwarded: number; readonly refused: number };
  readonly close: () => Promise<void>;
}

function refuse(response: ServerResponse, status: number, why: string): void {
  response.writeHead(status, { 'content-type': 'text/plain' });
  response.end(`criu-lab rehearsal package proxy: ${why}\n`);
}

/** The upstream URL of a proxy request, when it is one the proxy forwards. */
export function forwardable(method: string | undefined, target: string | undefined, hosts: readonly string[] = MIRROR_HOSTS): URL | string {
  if (method !== 'GET' && method !== 'HEAD') return `${method ?? '?'} is not forwarded (only GET and HEAD)`;
  let url: URL;
  try {
    url = new URL(target ?? '');
  } catch {
    return `${target ?? ''} is not an absolute http URL`;
  }
  if (url.protocol !== 'http:') return `${url.protocol} is not forwarded (only http:)`;
  if (!hosts.includes(url.hostname)) return `${url.hostname} is not a package mirror (${hosts.join(', ')})`;
  return url;
}

export interface PackageProxyOptions {
  /** @default PACKAGE_PROXY_PORT */
  readonly port?: number;
  /** @default MIRROR_HOSTS */
  readonly hosts?: readonly string[];
  readonly log?: (line: string) => void;
}

export function startPackageProxy(address: string, { port = PACKAGE_PROXY_PORT, hosts = MIRROR_HOSTS, log }: PackageProxyOptions = {}): Promise<PackageProxy> {
  let forwarded = 0;
  let refused = 0;
  const server = createServer((incoming: IncomingMessage, response: ServerResponse) => {
    const target = forwardable(incoming.method, incoming.url, hosts);
    if (typeof target === 'string') {
      refused++;
      log?.(`package proxy refused: ${target}`);
      refuse(response, 403, target);
      return;
    }
    forwarded++;
    const headers: Record<string, string | string[] | undefined> = { ...incoming.headers, host: target.host };
    delete headers['proxy-connection'];
    const upstream = request(target, { method: incoming.method, headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', (error) => (response.headersSent ? response.destroy(error) : refuse(response, 502, error.message)));
    incoming.pipe(upstream);
  });
  server.on('connect', (_request, socket) => {
    refused++;
    socket.end('HTTP/1.1 405 Method Not Allowed\r\n\r\n');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () =>
      resolve({
        url: `http://${address}:${(server.address() as AddressInfo).port}`,
        counts: () => ({ forwarded, refused }),
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      }),
    );
  });
}
