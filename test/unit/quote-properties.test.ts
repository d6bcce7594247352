// argv quoting under arbitrary input, checked against a real `sh -c`: whatever a string holds,
// the shell sees exactly the argv; and every workload's start command, built from arbitrary
// parameter values (the built-in ones and a bring-your-own payload's argv template), reaches the
// shell only through that quoting.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { quoteArg, quoteArgv } from '../../core/quote.js';
import { customWorkload, definitionSchema } from '../../workloads/custom/custom.js';
import { workloads } from '../../workloads/registry.js';
import { paramDefault, type WorkloadParam } from '../../workloads/workload.js';

/** Each property spawns one shell per case: bounded so the suite stays a few seconds. */
const RUNS = { numRuns: 60 };

/** Runs a quoted command line with a fake command in front (printf of each word) and returns the argv the shell saw. */
function argvSeenByShell(argv: readonly string[]): string[] {
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${quoteArgv(argv)}`], { timeout: 10_000 });
  return out.toString('utf8').split('\0').slice(0, -1);
}

/** Strings a shell argument can hold: no NUL, valid UTF-8 (a lone surrogate has no bytes to pass). */
const roundTrips = (s: string) => !s.includes('\0') && Buffer.from(s, 'utf8').toString('utf8') === s;
const shellMeta = fc.constantFrom(...`'"\\\`$(){}[]<>|&;*?~!# \t\n%=-+,.:@/`.split(''), '$(id)', '${PATH}', "'\\''", '--', '-e');
const word = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 30 }).filter(roundTrips),
  fc.array(shellMeta, { maxLength: 10 }).map((parts) => parts.join('')),
);
/** What a parameter can be given as before any schema sees it: flags are strings, YAML gives numbers and booleans. */
const paramValue = fc.oneof(word, fc.integer(), fc.double(), fc.boolean());

describe('quoteArgv against a real shell', () => {
  it('makes the shell see exactly the argv for arbitrary strings', () => {
    fc.assert(
      fc.property(fc.array(word, { minLength: 1, maxLength: 6 }), (argv) => expect(argvSeenByShell(argv)).toEqual(argv)),
      RUNS,
    );
  });

  it('refuses every string holding a NUL instead of truncating it', () => {
    fc.assert(
      fc.property(word, word, (before, after) => expect(() => quoteArg(`${before}\0${after}`)).toThrow(TypeError)),
      { numRuns: 200 },
    );
  });

  it('leaves no unquoted character a shell treats specially', () => {
    fc.assert(
      fc.property(word, (arg) => {
        const quoted = quoteArg(arg);
        expect(quoted.startsWith("'") || /^[A-Za-z0-9_@%+=:,./-]+$/.test(quoted)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('workload start commands built from arbitrary parameter values', () => {
  for (const workload of workloads.all()) {
    it(`${workload.name}: every value its schema accepts reaches the shell as the argument it was meant to be`, () => {
      // Arbitrary raw values, kept when the parameter's schema accepts them (as the config loader does), as the schema returns them.
      const accepted = (param: WorkloadParam) =>
        fc
          .oneof(paramValue, fc.constant(paramDefault(param)))
          .filter((v) => param.schema.safeParse(v).success)
          .map((v) => param.schema.parse(v));
      const params = fc.record(Object.fromEntries(workload.params.map((p) => [p.key, accepted(p)])));
      fc.assert(
        fc.property(params, fc.constantFrom('/srv/criu-lab/work/run_1', "/srv/it's here", '/srv/$(id)'), (values, workDir) => {
          const argv = ['setsid', '-f', ...workload.startArgv({ params: values, workDir })];
          expect(argv.every((a) => typeof a === 'string')).toBe(true);
          expect(argvSeenByShell(argv)).toEqual(argv);
        }),
        RUNS,
      );
    });
  }
});

describe('a bring-your-own payload argv template', () => {
  let script: string;
  let definitionFile: string;

  beforeAll(() => {
    const dir = mkdtempSync(join(tmpdir(), 'criu-lab-quote-props-'));
    script = join(dir, 'payload.py');
    writeFileSync(script, 'print("hi")\n');
    definitionFile = join(dir, 'byo.yaml');
  });

  it('keeps arbitrary parameter and env values inside their own arguments, template text included', () => {
    const template = fc.array(
      fc.oneof(
        word.filter((w) => !/\{[a-z_][a-z0-9_]*\}/.test(w)),
        fc.constantFrom('{label}', '--label={label}', '{work_dir}/x', '{script}', '{count}'),
      ),
      { maxLength: 5 },
    );
    fc.assert(
      fc.property(template, word, fc.oneof(word, fc.integer()), word, (args, label, count, envValue) => {
        const definition = definitionSchema.parse({
          description: 'arbitrary',
          script,
          args,
          env: { PAYLOAD_NOTE: envValue },
          params: { label: { flag: '--label', type: 'string', default: 'x' }, count: { flag: '--count', type: 'string', default: '1' } },
        });
        const workload = customWorkload('byo', definition, definitionFile);
        const argv = workload.startArgv({ params: { label, count }, workDir: '/srv/criu-lab/work/run_1' });
        expect(argv).toContain(`PAYLOAD_NOTE=${envValue}`);
        // A template word that is only a placeholder becomes exactly the value, one argument.
        args.forEach((arg, i) => {
          if (arg === '{label}') expect(argv[argv.length - args.length + i]).toBe(label);
        });
        expect(argvSeenByShell(argv)).toEqual(argv);
      }),
      RUNS,
    );
  });
});
