// Transfer methods by name. Adding one is a file in this folder and one line here.
import type { Transfer } from './transfer.js';
import { rsyncTransfer } from './rsync.js';

const transfers = new Map<string, Transfer>();

function register(transfer: Transfer): void {
  if (transfers.has(transfer.name)) throw new Error(`transfer ${transfer.name} is registered twice`);
  transfers.set(transfer.name, transfer);
}

register(rsyncTransfer);

export function transferNames(): string[] {
  return [...transfers.keys()];
}

export function getTransfer(name: string): Transfer {
  const transfer = transfers.get(name);
  if (!transfer) throw new Error(`no transfer named ${name}`);
  return transfer;
}
