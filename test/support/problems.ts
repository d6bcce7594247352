// The problems a configuration step reports: [] when it succeeds, the UsageError's list when it
// refuses; anything else thrown fails the test.
import { expect } from '@jest/globals';
import { UsageError } from '../../core/errors.js';

export function problemsFrom(step: () => unknown): string[] {
  try {
    step();
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return [...(error as UsageError).problems];
  }
}
