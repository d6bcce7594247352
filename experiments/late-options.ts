// Options a command can declare only after loading heavy code (the flag table needs every
// workload's parameter schema: zod, yaml, the workloads themselves): declared when commander
// dispatches to that command, to run it or to show its help, and never for `criu-lab --help`
// or another command.
import type { Command } from 'commander';

/** Runs `declare` on `command` just before commander parses its arguments; `command` must be a subcommand. */
export function declareWhenChosen(command: Command, declare: (command: Command) => Promise<void>): Command {
  const parent = command.parent;
  if (!parent) throw new Error(`${command.name()}: late options need a subcommand`);
  parent.hook('preSubcommand', async (_parent, chosen) => {
    if (chosen === command) await declare(command);
  });
  return command;
}
