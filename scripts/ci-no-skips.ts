// CI's guard against a suite that passes by skipping itself: reads jest's --json results and
// fails when any test was skipped, outside the suites named as allowed (each with its reason).
// Usage: node --import tsx scripts/ci-no-skips.ts <jest results.json> [<allowed test file>...]
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

interface JestResults {
  readonly testResults: readonly {
    readonly name: string;
    readonly assertionResults: readonly { readonly status: string; readonly fullName: string }[];
  }[];
}

/** The skipped tests (pending, skipped or todo) of every suite not in `allowed`, as "<file>: <test>". */
export function skippedTests(results: JestResults, root: string, allowed: readonly string[]): string[] {
  return results.testResults
    .filter((suite) => !allowed.includes(relative(root, suite.name)))
    .flatMap((suite) =>
      suite.assertionResults
        .filter((test) => ['pending', 'skipped', 'todo', 'disabled'].includes(test.status))
        .map((test) => `${relative(root, suite.name)}: ${test.fullName}`),
    );
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const [file, ...allowed] = process.argv.slice(2);
  if (!file) throw new Error('usage: ci-no-skips.ts <jest results.json> [<allowed test file>...]');
  const skipped = skippedTests(JSON.parse(readFileSync(file, 'utf8')) as JestResults, process.cwd(), allowed);
  if (skipped.length > 0) {
    process.stderr.write(`CI: ${skipped.length} test(s) skipped; a suite CI runs must run:\n${skipped.map((s) => `  ${s}`).join('\n')}\n`);
    process.exit(1);
  }
  process.stderr.write(`CI: no test skipped in ${file}${allowed.length > 0 ? ` (allowed to skip: ${allowed.join(', ')})` : ''}\n`);
}
