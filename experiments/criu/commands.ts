// argv builders for the CRIU calls, in one place so strategies share flags and log names.

export const CRIU = 'criu';

/** x86-64 and arm64 lab/cloud nodes: CRIU's page counters are in 4 KiB pages. */
export const PAGE_BYTES = 4096;

/** The files of CRIU's TLS on one node (gnutls, mutual: each end proves itself with a certificate of the run's CA). */
export interface TlsFiles {
  readonly caCert: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * The client end checks the server's certificate against the address it dials (--address); the
 * server end has no --address here, so it checks only that the client's certificate is the run CA's.
 */
const tlsArgv = (tls: TlsFiles | undefined): string[] => (tls ? ['--tls', '--tls-cacert', tls.caCert, '--tls-cert', tls.cert, '--tls-key', tls.key] : []);

/** Where a call reads or writes its images and its log (relative to the images), at CRIU's most verbose level. */
/** `workDir`: CRIU's working directory (its logs, stats and sockets, relative to it); @default the images dir */
const imagesAndLog = (options: { readonly imageDir: string; readonly logFile: string; readonly workDir?: string }): string[] => [
  '--images-dir',
  options.imageDir,
  ...(options.workDir !== undefined ? ['--work-dir', options.workDir] : []),
  '--log-file',
  options.logFile,
  '-v4',
];

/** `criu <verb> --tree <pid>` with its images and log: the head of dump and pre-dump. */
const treeCall = (verb: 'dump' | 'pre-dump', options: { readonly pid: number | string; readonly imageDir: string; readonly logFile: string }): string[] => [
  CRIU,
  verb,
  '--tree',
  String(options.pid),
  ...imagesAndLog(options),
];

export interface DumpOptions {
  readonly pid: number | string;
  readonly imageDir: string;
  readonly logFile: string;
  readonly leaveStopped: boolean;
  readonly extraFlags: readonly string[];
  /** The previous images of a pre-dump chain, relative to imageDir (`../2`): pages unchanged since then are not written again. */
  readonly parentDir?: string;
  /** Stream pages to a `criu page-server` there instead of writing pages-*.img. */
  readonly pageServer?: { readonly address: string; readonly port: number };
  /** Keep the pages in memory and serve them from this port to a `criu lazy-pages` daemon. */
  readonly lazyPagesPort?: number;
  /** Over TLS, the page stream of pageServer or lazyPagesPort. */
  readonly tls?: TlsFiles;
}

/** `criu dump`: a shell job is not involved (payloads start under setsid), so no --shell-job. */
export function dumpArgv(options: DumpOptions): string[] {
  return [
    ...treeCall('dump', options),
    ...(options.leaveStopped ? ['--leave-stopped'] : []),
    // A dump on top of pre-dumps needs soft-dirty tracking to know which pages the parent already holds.
    ...(options.parentDir !== undefined ? ['--track-mem', '--prev-images-dir', options.parentDir] : []),
    ...(options.pageServer ? ['--page-server', '--address', options.pageServer.address, '--port', String(options.pageServer.port)] : []),
    // No --address: the source listens on every address, since the plan's address may be a NAT'd one.
    ...(options.lazyPagesPort !== undefined ? ['--lazy-pages', '--port', String(options.lazyPagesPort)] : []),
    ...(options.pageServer || options.lazyPagesPort !== undefined ? tlsArgv(options.tls) : []),
    ...options.extraFlags,
  ];
}

export interface PreDumpOptions {
  readonly pid: number | string;
  readonly imageDir: string;
  readonly logFile: string;
  /** The pre-dump before this one, relative to imageDir; none for the first. */
  readonly parentDir?: string;
  readonly extraFlags: readonly string[];
}

/** `criu pre-dump --track-mem`: copies the pages dirtied since the parent and lets the process run on. */
export function preDumpArgv(options: PreDumpOptions): string[] {
  return [
    ...treeCall('pre-dump', options),
    '--track-mem',
    ...(options.parentDir !== undefined ? ['--prev-images-dir', options.parentDir] : []),
    ...options.extraFlags,
  ];
}

export interface RestoreOptions {
  readonly imageDir: string;
  /** Relative to workDir. */
  readonly logFile: string;
  /** Where the restore's log and stats go and where it finds the lazy-pages daemon's socket. @default imageDir */
  readonly workDir?: string;
  readonly extraFlags: readonly string[];
  /** Leave anonymous memory to a `criu lazy-pages` daemon that fills it on demand. */
  readonly lazyPages?: boolean;
}

/** `criu restore --restore-detached`: CRIU returns once the tree runs, reparented to the node's init. */
export function restoreArgv(options: RestoreOptions): string[] {
  return [CRIU, 'restore', ...imagesAndLog(options), '--restore-detached', ...(options.lazyPages ? ['--lazy-pages'] : []), ...options.extraFlags];
}

/** `criu page-server --daemon`: returns once it listens; it writes what a dump streams into imageDir and exits when the dump disconnects. */
export function pageServerArgv(options: { readonly imageDir: string; readonly logFile: string; readonly port: number; readonly tls?: TlsFiles }): string[] {
  return [
    CRIU,
    'page-server',
    '--images-dir',
    options.imageDir,
    '--port',
    String(options.port),
    ...tlsArgv(options.tls),
    '--daemon',
    '--log-file',
    options.logFile,
    '-v4',
  ];
}

/**
 * `criu lazy-pages` in the foreground: it waits for the restore on its socket (lazy-pages.socket
 * in imageDir), fetches every page from the source's dump, and exits when the last one arrived.
 */
export function lazyPagesArgv(options: {
  readonly imageDir: string;
  /** Relative to workDir. */
  readonly logFile: string;
  /** Where its log and its socket (LAZY_PAGES_SOCKET) go; the restore must be given the same. @default imageDir */
  readonly workDir?: string;
  readonly address: string;
  readonly port: number;
  readonly tls?: TlsFiles;
}): string[] {
  return [CRIU, 'lazy-pages', '--page-server', '--address', options.address, '--port', String(options.port), ...tlsArgv(options.tls), ...imagesAndLog(options)];
}

/** The unix socket the lazy-pages daemon opens in its working directory when it is ready for the restore. */
export const LAZY_PAGES_SOCKET = 'lazy-pages.socket';

export const featureCheckArgv = (feature: string): string[] => [CRIU, 'check', '--feature', feature];
export const cpuinfoDumpArgv = (dir: string): string[] => [CRIU, 'cpuinfo', 'dump', '--images-dir', dir];
export const cpuinfoCheckArgv = (dir: string): string[] => [CRIU, 'cpuinfo', 'check', '--images-dir', dir];

/** Where a CRIU call writes its log: --log-file, relative to its --images-dir. */
export function criuLogPath(argv: readonly string[]): string | undefined {
  const value = (option: string) => (argv.includes(option) ? argv[argv.indexOf(option) + 1] : undefined);
  const log = value('--log-file');
  const dir = value('--images-dir');
  if (argv[0] !== CRIU || log === undefined) return undefined;
  return log.startsWith('/') || dir === undefined ? log : `${dir}/${log}`;
}

/** Parses `criu --version` output ("Version: 4.2.1"). */
export function parseCriuVersion(output: string): string | undefined {
  return /^Version:\s*(\S+)/m.exec(output)?.[1];
}
