// How the strategy keys combine at the config edge: mode and lazy_pages, auto pre-dumps, deadlines,
// and the shipped experiment files.
import { resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { UsageError } from '../../core/errors.js';
import { flag, planWith } from './strategies-fakes.js';

const root = resolve(import.meta.dirname, '../..');

function problems(...flags: ReturnType<typeof flag>[]): string[] {
  try {
    planWith(flags);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return [...(error as UsageError).problems];
  }
}

const strategyOf = (...flags: ReturnType<typeof flag>[]) => planWith(flags).checkpoint.strategy;

describe('checkpoint.strategy', () => {
  it("turns full with lazy_pages (the seed's --lazy-pages) into the lazy strategy", () => {
    expect(strategyOf(flag('checkpoint.strategy.lazy_pages', true))).toMatchObject({ mode: 'lazy', lazyPages: true });
  });

  it('makes mode lazy imply lazy_pages', () => {
    expect(strategyOf(flag('checkpoint.strategy.mode', 'lazy'))).toMatchObject({ mode: 'lazy', lazyPages: true });
  });

  it('keeps predump with lazy_pages as pre-dumps followed by a lazy final dump', () => {
    expect(strategyOf(flag('checkpoint.strategy.mode', 'predump'), flag('checkpoint.strategy.lazy_pages', true))).toMatchObject({
      mode: 'predump',
      lazyPages: true,
    });
  });

  it('refuses pageserver with lazy_pages, naming the key', () => {
    expect(problems(flag('checkpoint.strategy.mode', 'pageserver'), flag('checkpoint.strategy.lazy_pages', true))).toEqual([
      expect.stringMatching(/^checkpoint\.strategy\.lazy_pages: cannot be combined with mode pageserver .*use mode lazy, or mode predump with lazy_pages/),
    ]);
  });

  it('accepts --predump-iterations auto and refuses other words', () => {
    expect(strategyOf(flag('checkpoint.strategy.predump_iterations', 'auto')).predumpIterations).toBe('auto');
    expect(strategyOf(flag('checkpoint.strategy.predump_iterations', '3')).predumpIterations).toBe(3);
    expect(problems(flag('checkpoint.strategy.predump_iterations', 'often'))).toEqual([
      expect.stringContaining("checkpoint.strategy.predump_iterations: must be a whole number of pre-dumps (0 to 100) or 'auto'"),
    ]);
  });

  it('takes the deadline as a provider or a number of seconds, AWS by default', () => {
    expect(strategyOf().deadline).toEqual({ name: 'aws', seconds: 120 });
    expect(strategyOf(flag('checkpoint.strategy.deadline', 'gcp')).deadline).toEqual({ name: 'gcp', seconds: 30 });
    expect(strategyOf(flag('checkpoint.strategy.deadline', '45')).deadline).toEqual({ name: 'custom', seconds: 45 });
    expect(problems(flag('checkpoint.strategy.deadline', 'azure'))).toEqual([
      expect.stringContaining('checkpoint.strategy.deadline: must be a provider (aws, gcp) or a number of seconds'),
    ]);
  });

  it('ships experiment files for each strategy, lazy_pages.yaml as in the seed', () => {
    const load = (file: string) => planWith([], resolve(root, 'config/experiments', file)).checkpoint.strategy;
    expect(load('lazy_pages.yaml')).toMatchObject({ mode: 'predump', lazyPages: true });
    expect(load('predump.yaml')).toMatchObject({ mode: 'predump', lazyPages: false, predumpIterations: 8, predumpIntervalS: 10 });
    expect(load('pageserver.yaml')).toMatchObject({ mode: 'pageserver', pageServerPort: 27000 });
  });
});
