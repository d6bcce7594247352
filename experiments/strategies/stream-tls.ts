// The page stream over CRIU's TLS (checkpoint.strategy.tls, on by default): a frozen process's
// memory crosses the network, so both ends prove themselves with certificates of a CA made for
// this run only. They are written 0600 into a 0700 directory under the run's control directory on
// each node, which the run's cleanup removes with its other directories.
import { makeStreamCertificates } from '../criu/certificates.js';
import type { TlsFiles } from '../criu/commands.js';
import { ms, type RunContext } from '../run-context.js';
import type { Role } from '../../core/node.js';

type Ctx = Pick<RunContext, 'plan' | 'paths'>;

const ROLES: readonly Role[] = ['source', 'destination'];
const tlsDir = (ctx: Ctx) => `${ctx.paths.sourceControlDir}/tls`;
// Both directories named, so the control directory is 0700 too where this creates it (the destination).
const mkdirArgv = (ctx: Ctx) => ['mkdir', '-p', '-m', '700', ctx.paths.sourceControlDir, tlsDir(ctx)];

/** The same paths on both nodes; each node holds its own certificate and key there. Undefined when the stream runs in the clear (--no-tls). */
export function streamTls(ctx: Ctx): TlsFiles | undefined {
  if (!ctx.plan.checkpoint.strategy.tls) return undefined;
  const dir = tlsDir(ctx);
  return { caCert: `${dir}/ca.pem`, cert: `${dir}/cert.pem`, key: `${dir}/key.pem` };
}

/**
 * Makes the run's CA and one certificate per node, named by the address the other end dials
 * (the dump dials the page server at the destination's address, the lazy-pages daemon the
 * source's), and puts each node's on it. The CA's key stays in the controller's memory.
 */
export async function installStreamTls(ctx: RunContext): Promise<void> {
  const files = streamTls(ctx);
  if (!files) return;
  const { plan } = ctx;
  const certificates = makeStreamCertificates({ source: plan.nodes.source.ip, destination: plan.nodes.destination.ip }, ctx.runId);
  await ctx.progress.track('tls certificates', () =>
    Promise.all(
      ROLES.map(async (role) => {
        const node = ctx[role];
        await node.run(mkdirArgv(ctx), { step: 'tls certificates', timeoutMs: ms(plan.timeouts.commandS), signal: ctx.signal, idempotent: true });
        await Promise.all([
          node.writeFile(files.caCert, certificates.caCert, 0o600),
          node.writeFile(files.cert, certificates[role].cert, 0o600),
          node.writeFile(files.key, certificates[role].key, 0o600),
        ]);
      }),
    ),
  );
}
