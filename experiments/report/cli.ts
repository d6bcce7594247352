// `criu-lab report <sweep or results dir>`: report.html (self-contained) and summary.csv.
// The report's code (chart.js among it) loads when a report is written, not for other commands.
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';

export interface ReportFiles {
  readonly html: string;
  readonly csv: string;
  readonly runs: number;
  readonly groups: number;
}

/** Writes the report of a sweep or results dir; by default into that dir. */
export async function writeReport(dir: string, out: { html?: string; csv?: string } = {}): Promise<ReportFiles> {
  const [{ renderReportHtml }, { loadReportInput }, { summaryCsv, summaryRows }] = await Promise.all([
    import('./html.js'),
    import('./load.js'),
    import('./summary.js'),
  ]);
  const input = loadReportInput(dir);
  const rows = summaryRows(input);
  const html = resolve(out.html ?? join(dir, 'report.html'));
  const csv = resolve(out.csv ?? join(dir, 'summary.csv'));
  await writeFile(html, renderReportHtml(input, rows));
  await writeFile(csv, summaryCsv(rows));
  return { html, csv, runs: input.runs.length, groups: rows.length };
}

export function registerReportCommand(program: Command): Command {
  return program
    .command('report')
    .description('write one self-contained HTML report (charts inlined, no network needed) and a CSV of its summary table')
    .argument('<dir>', 'a sweep dir (results/sweeps/<name>) or a results dir')
    .option('--html <file>', 'where the HTML goes (default: <dir>/report.html)')
    .option('--csv <file>', 'where the CSV goes (default: <dir>/summary.csv)')
    .action(async (dir: string, flags: { html?: string; csv?: string }) => {
      const files = await writeReport(dir, flags);
      process.stdout.write(`report of ${files.runs} runs in ${files.groups} groups\n  ${files.html}\n  ${files.csv}\n`);
    });
}
