// The one flag table: every flag names its config paths once, and run and watch read it alike.
import { describe, expect, it } from '@jest/globals';
import { overridesFrom, PLAN_FLAGS, RUN_FLAGS, SWITCH_FLAGS, workloadFlags } from '../../experiments/config/flags.js';

describe('the flag table', () => {
  it('names each flag once, so a flag means one setting in every command', () => {
    const flags = [...PLAN_FLAGS, ...RUN_FLAGS, ...workloadFlags()].map((f) => f.flag);
    expect(new Set(flags).size).toBe(flags.length);
  });

  it('turns given flags into overrides at their config paths, and skips flags not given', () => {
    expect(overridesFrom({ workload: 'memory', strategy: 'predump', mbSize: '64' }, [...PLAN_FLAGS, ...workloadFlags()])).toEqual([
      { path: 'workload.type', value: 'memory', flag: '--workload' },
      { path: 'experiment.workload_type', value: 'memory', flag: '--workload' },
      { path: 'checkpoint.strategy.mode', value: 'predump', flag: '--strategy' },
      { path: 'workload.mb_size', value: '64', flag: '--mb-size' },
    ]);
  });

  it('sets a switch only when it is given: --no-cleanup and --no-tls only when negated, --output also asks for the metrics file', () => {
    expect(overridesFrom({ cleanup: true, tls: true, lazyPages: undefined }, SWITCH_FLAGS)).toEqual([]);
    expect(overridesFrom({ cleanup: false, tls: false, lazyPages: true, output: 'm.json' }, SWITCH_FLAGS)).toEqual([
      { path: 'checkpoint.strategy.lazy_pages', value: true, flag: '--lazy-pages' },
      { path: 'experiment.save_metrics', value: true, flag: '--output' },
      { path: 'experiment.cleanup', value: false, flag: '--no-cleanup' },
      { path: 'checkpoint.strategy.tls', value: false, flag: '--no-tls' },
    ]);
  });
});
