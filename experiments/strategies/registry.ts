// Checkpoint strategies by name. Adding one is a file in this folder and one line here.
import type { Strategy } from './strategy.js';
import { fullStrategy } from './full.js';

const strategies = new Map<string, Strategy>();

function register(strategy: Strategy): void {
  if (strategies.has(strategy.name)) throw new Error(`strategy ${strategy.name} is registered twice`);
  strategies.set(strategy.name, strategy);
}

register(fullStrategy);

export function strategyNames(): string[] {
  return [...strategies.keys()];
}

export function getStrategy(name: string): Strategy {
  const strategy = strategies.get(name);
  if (!strategy) throw new Error(`no strategy named ${name}`);
  return strategy;
}
