// A node that records each command instead of running it: the dry run runs the real pipeline
// against two of these. Every command succeeds at once, with what `answer` says (a probe that
// must fail to let the run go on, a file the run reads back), so the pipeline takes the path a
// healthy run takes and nothing is touched.
import { ExternalError } from '../../core/errors.js';
import type { CommandResult, RemoteNode, RunOptions } from '../../core/node.js';

/** One command the pipeline issued, on which node, in which stage of the run. */
export interface RecordedCommand {
  readonly node: string;
  readonly stage: string;
  readonly argv: readonly string[];
}

/** How a recording node answers: an exit code and output for a command, the content of a file it is asked to read. */
export interface RecordingScript {
  answer(argv: readonly string[]): { readonly exitCode?: number; readonly stdout?: string; readonly settleAfterMs?: number } | undefined;
  file(path: string): string | undefined;
}

/** The log both recording nodes of a dry run write to, with the stage the driver is in. */
export class CommandRecorder {
  readonly commands: RecordedCommand[] = [];
  stage = '';

  /** Runs `work` with its commands recorded under `stage`. */
  async during<T>(stage: string, work: () => Promise<T>): Promise<T> {
    this.stage = stage;
    return work();
  }

  node(name: string, ip: string, script: RecordingScript, putVerb: string): RemoteNode {
    const record = (argv: readonly string[]) => this.commands.push({ node: name, stage: this.stage, argv });
    const mode = (m: number | undefined) => (m === undefined ? [] : ['--mode', `0${m.toString(8)}`]);
    return {
      name,
      ip,
      hostKey: `ssh-ed25519 <host key of ${name}>`,
      async run(argv: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
        record(argv);
        const answer = script.answer(argv) ?? {};
        // A long-running CRIU call (a lazy dump, the lazy-pages daemon) ends after the waits that watch it.
        if (answer.settleAfterMs) await new Promise((resolve) => setTimeout(resolve, answer.settleAfterMs));
        const startedAtMs = Date.now();
        const result: CommandResult = {
          node: name,
          argv,
          exitCode: answer.exitCode ?? 0,
          stdout: answer.stdout ?? '',
          stderr: '',
          durationMs: 0,
          ...(options.timed ? { nodeTiming: { startedAtMs, durationMs: 0 } } : {}),
        };
        if ((options.check ?? true) && result.exitCode !== 0)
          throw new ExternalError(`${argv[0]} exited ${result.exitCode} on ${name} (recorded)`, {
            node: name,
            ...(options.step ? { step: options.step } : {}),
          });
        return result;
      },
      async writeFile(remotePath, _content, fileMode) {
        record([putVerb, ...mode(fileMode), remotePath]);
      },
      async readFile(remotePath) {
        const content = script.file(remotePath);
        if (content === undefined) throw new ExternalError(`no ${remotePath} on ${name} (recorded)`, { node: name });
        return Buffer.from(content);
      },
      async upload(localPath, remotePath, fileMode) {
        record([putVerb, ...mode(fileMode), localPath, remotePath]);
      },
      async download() {},
      async close() {},
    };
  }
}
