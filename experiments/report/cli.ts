// `criu-lab report <sweep or results dir>`: report.html (self-contained) and summary.csv.
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { renderReportHtml } from './html.js';
import { loadReportInput } from './load.js';
import { summaryCsv, summaryRows } from './summary.js';

export interface ReportFiles {
  readonly html: string;
  readonly csv: string;
  readonly runs: number;
  readonly groups: number;
}

/** Writes the report of a sweep or results dir; by default into that dir. */
export async function writeReport(dir: string, out: { html?: string; csv?: string } = {}): Promise<ReportFiles> {
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
