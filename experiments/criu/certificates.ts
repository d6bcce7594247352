// Throwaway X.509 certificates for one run's CRIU page stream (page server, lazy pages): a CA
// whose key never leaves the controller's memory signs one certificate per node, named by the
// address the other node dials. Built with Node's own crypto and a small DER writer, so the
// controller needs no openssl or certtool, and the validity can start before "now": the nodes'
// clocks may trail the controller's, and `openssl x509 -req` cannot backdate before OpenSSL 3.4.
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';

/** A certificate and its private key, PEM. */
export interface CertifiedKey {
  readonly cert: string;
  readonly key: string;
}

export interface StreamCertificates {
  /** The run's CA certificate, the only one either end trusts (--tls-cacert). */
  readonly caCert: string;
  readonly source: CertifiedKey;
  readonly destination: CertifiedKey;
}

/** Validity around the moment of creation: an hour back for clock skew, two days ahead for a long run. */
const BACKDATE_MS = 3_600_000;
const VALID_MS = 2 * 86_400_000;

// DER, only the types a certificate needs.
function tlv(tag: number, content: Buffer): Buffer {
  const size: number[] = [];
  for (let n = content.length; n > 0; n >>>= 8) size.unshift(n & 0xff);
  const length = content.length < 0x80 ? [content.length] : [0x80 | size.length, ...size];
  return Buffer.concat([Buffer.from([tag, ...length]), content]);
}
const sequence = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const explicit = (n: number, content: Buffer) => tlv(0xa0 + n, content);
const octets = (content: Buffer) => tlv(0x04, content);
const bits = (content: Buffer, unusedBits = 0) => tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), content]));
const TRUE = tlv(0x01, Buffer.from([0xff]));

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * first + second];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) base128.unshift(0x80 | (v & 0x7f));
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime (years 1950–2049), YYMMDDHHMMSSZ. */
const utcTime = (date: Date) => tlv(0x17, Buffer.from(`${date.toISOString().slice(2, 19).replace(/[-T:]/g, '')}Z`, 'ascii'));
const commonName = (name: string) => sequence(set(sequence(oid('2.5.4.3'), tlv(0x0c, Buffer.from(name, 'utf8')))));
const ECDSA_SHA256 = sequence(oid('1.2.840.10045.4.3.2'));
const extension = (id: string, critical: boolean, value: Buffer) => sequence(oid(id), ...(critical ? [TRUE] : []), octets(value));

/** An IP address SAN ([7], network bytes) or a DNS name ([2]): CRIU's gnutls checks the address it dialled against it. */
function subjectAltName(host: string): Buffer {
  if (isIP(host) === 4) return tlv(0x87, Buffer.from(host.split('.').map(Number)));
  if (isIP(host) === 6) return tlv(0x87, ipv6Bytes(host));
  return tlv(0x82, Buffer.from(host, 'ascii'));
}

function ipv6Bytes(address: string): Buffer {
  const [head = '', tail] = address.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const missing = 8 - groups(head).length - groups(tail ?? '').length;
  const all = [...groups(head), ...(tail === undefined ? [] : Array<string>(missing).fill('0')), ...groups(tail ?? '')];
  return Buffer.from(all.map((g) => g.padStart(4, '0')).join(''), 'hex');
}

const keyId = (publicKey: KeyObject) =>
  createHash('sha1')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest();

interface Signer {
  readonly name: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

function certificate(subject: string, publicKey: KeyObject, issuer: Signer, extensions: Buffer[], now: number): string {
  // Positive and minimal: the top bit clear, the next one set.
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x40;
  const tbs = sequence(
    explicit(0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    ECDSA_SHA256,
    commonName(issuer.name),
    sequence(utcTime(new Date(now - BACKDATE_MS)), utcTime(new Date(now + VALID_MS))),
    commonName(subject),
    publicKey.export({ type: 'spki', format: 'der' }),
    explicit(
      3,
      sequence(
        ...extensions,
        extension('2.5.29.14', false, octets(keyId(publicKey))),
        extension('2.5.29.35', false, sequence(tlv(0x80, keyId(issuer.publicKey)))),
      ),
    ),
  );
  const der = sequence(tbs, ECDSA_SHA256, bits(sign('sha256', tbs, issuer.privateKey)));
  return `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END CERTIFICATE-----\n`;
}

const newKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' });

/** A certificate for a node at `address`, good for either end of a stream (the page server and the dump swap roles between strategies). */
function nodeCertificate(address: string, ca: Signer, now: number): CertifiedKey {
  const { publicKey, privateKey } = newKey();
  const cert = certificate(
    address,
    publicKey,
    ca,
    [
      extension('2.5.29.19', true, sequence()),
      extension('2.5.29.15', true, bits(Buffer.from([0x80]), 7)), // digitalSignature
      extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2'))), // serverAuth, clientAuth
      extension('2.5.29.17', false, sequence(subjectAltName(address))),
    ],
    now,
  );
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** A fresh CA and a certificate for each node's address; the CA's private key is dropped when this returns. */
export function makeStreamCertificates(
  addresses: { readonly source: string; readonly destination: string },
  runId: string,
  now = Date.now(),
): StreamCertificates {
  const { publicKey, privateKey } = newKey();
  const ca: Signer = { name: `criu-lab run ${runId} CA`, publicKey, privateKey };
  const caCert = certificate(
    ca.name,
    publicKey,
    ca,
    [
      extension('2.5.29.19', true, sequence(TRUE)),
      extension('2.5.29.15', true, bits(Buffer.from([0x06]), 1)), // keyCertSign, cRLSign
    ],
    now,
  );
  return { caCert, source: nodeCertificate(addresses.source, ca, now), destination: nodeCertificate(addresses.destination, ca, now) };
}
