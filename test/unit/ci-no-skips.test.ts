// CI's skip guard (scripts/ci-no-skips.ts) as .ci/run calls it, on jest --json results: a skipped
// test fails it, unless its suite is named as allowed to skip.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from '@jest/globals';

const root = resolve(import.meta.dirname, '../..');

function guard(results: object, ...allowed: string[]) {
  const file = join(mkdtempSync(join(tmpdir(), 'criu-lab-ci-')), 'results.json');
  writeFileSync(file, JSON.stringify(results));
  return spawnSync(process.execPath, ['--import', 'tsx', 'scripts/ci-no-skips.ts', file, ...allowed], { cwd: root, encoding: 'utf8' });
}

const suite = (file: string, ...statuses: string[]) => ({
  name: join(root, file),
  assertionResults: statuses.map((status, i) => ({ status, fullName: `test ${i + 1}` })),
});

describe('the CI skip guard', () => {
  it('passes results where every test ran', () => {
    expect(guard({ testResults: [suite('test/unit/a.test.ts', 'passed', 'passed')] }).status).toBe(0);
  });

  it('fails on a suite that skipped itself, naming each skipped test', () => {
    const result = guard({
      testResults: [suite('test/unit/a.test.ts', 'passed'), suite('test/vm/predump.test.ts', 'pending', 'pending'), suite('test/unit/b.test.ts', 'todo')],
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      'CI: 3 test(s) skipped; a suite CI runs must run:\n  test/vm/predump.test.ts: test 1\n  test/vm/predump.test.ts: test 2\n  test/unit/b.test.ts: test 1\n',
    );
  });

  it('lets the suites it is told about skip, and only those', () => {
    const results = { testResults: [suite('test/vm/predump.test.ts', 'pending'), suite('test/infra/aws-plan.test.ts', 'pending')] };
    expect(guard(results, 'test/vm/predump.test.ts', 'test/infra/aws-plan.test.ts').status).toBe(0);
    expect(guard(results, 'test/vm/predump.test.ts').stderr).toContain('test/infra/aws-plan.test.ts: test 1');
  });
});
