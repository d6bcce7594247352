// One self-contained HTML page: Chart.js (the UMD build from node_modules) and the data are
// inlined, so the file opens anywhere without a network. Tables are plain HTML.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { bandwidthProfiles } from '../../core/profiles.js';
import { DEADLINES_S } from '../metrics.js';
import { formatDuration } from '../sweep/progress.js';
import { buildCharts, type ChartSpec } from './charts.js';
import type { ReportInput } from './load.js';
import type { Summary } from './stats.js';
import { pairRows, type GroupRow, type Spread } from './summary.js';

const chartJsSource = () => readFileSync(join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js'), 'utf8');

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** JSON inside <script>: no `</script>` can end the block early. */
const scriptJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

function figure(s: Summary | undefined, digits = 2): string {
  if (!s) return '<td class="na">n/a</td>';
  const ci = s.ci95 === undefined ? '' : ` ± ${s.ci95.toFixed(digits)}`;
  return `<td><b>${s.mean.toFixed(digits)}</b>${ci}<br><small>${s.min.toFixed(digits)} – ${s.max.toFixed(digits)}</small></td>`;
}

function summaryTable(rows: readonly GroupRow[]): string {
  const head = [
    'group',
    'placement / profile',
    'ok / runs',
    'migration (s)',
    'downtime (s)',
    'transfer (Mbit/s)',
    'raw link (Mbit/s)',
    'image (MiB)',
    `met ${DEADLINES_S.gcp} s`,
    `met ${DEADLINES_S.aws} s`,
  ];
  const body = rows.map((r) =>
    [
      `<td>${escapeHtml(r.label)}</td>`,
      `<td>${escapeHtml([r.placement, r.profile && r.profile !== r.placement ? `profile ${r.profile}` : undefined].filter(Boolean).join(', ') || '–')}</td>`,
      `<td class="${r.ok < r.runs ? 'warn' : ''}">${r.ok} / ${r.runs}</td>`,
      figure(r.migrationS),
      figure(r.downtimeS),
      figure(r.throughputMbit, 0),
      `<td>${r.rawLinkMbit === undefined ? '–' : r.rawLinkMbit.toFixed(0)}</td>`,
      figure(r.imageMiB, 1),
      `<td>${r.metGcp} / ${r.ok}</td>`,
      `<td>${r.metAws} / ${r.ok}</td>`,
    ].join(''),
  );
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${body.map((b) => `<tr>${b}</tr>`).join('\n')}</tbody></table>
<p class="note">Each cell: <b>mean</b> ± half-width of the 95 % confidence interval (Student's t over the repetitions), and min – max below. Only runs that ended ok count.</p>`;
}

function spread(s: Spread | undefined): string {
  if (!s) return '<td class="na">n/a</td>';
  return `<td><b>${s.median.toFixed(2)}</b><br><small>${s.min.toFixed(2)} – ${s.max.toFixed(2)}</small></td>`;
}

/** Node pairs: the spread of each pair within each group, and which runs overlapped on one host. */
export function pairsSection(input: ReportInput): string {
  const rows = pairRows(input);
  if (rows.length === 0) return '';
  const overlapped = input.runs.filter((r) => r.overlap);
  const parts = [`<h2>Node pairs</h2>`];
  if (input.parallel)
    parts.push(
      `<p class="meta">parallel ${input.parallel.n}: up to ${input.parallel.n} runs at once on ${input.parallel.nodes} nodes, pairs ${escapeHtml(input.parallel.pairs.join(', '))}</p>`,
    );
  if (overlapped.length > 0)
    parts.push(
      `<p class="overlap">⚠ overlap: ${overlapped.length} of ${input.runs.length} runs overlapped in time with runs on other pairs on one host (the lab), sharing its CPUs; their times are not those of a run alone.</p>`,
    );
  parts.push(
    `<table><thead><tr><th>group</th><th>pair</th><th>ok / runs</th><th>downtime (s)</th><th>migration (s)</th><th>overlapped</th></tr></thead><tbody>${rows
      .map(
        (r) =>
          `<tr><td>${escapeHtml(r.group)}</td><td>${escapeHtml(r.pair)}</td><td class="${r.ok < r.runs ? 'warn' : ''}">${r.ok} / ${r.runs}</td>${spread(r.downtimeS)}${spread(r.migrationS)}<td class="${r.overlapped > 0 ? 'warn' : ''}">${r.overlapped > 0 ? `overlap: ${r.overlapped}` : '–'}</td></tr>`,
      )
      .join('')}</tbody></table>
<p class="note">Each cell: <b>median</b>, and min – max below, over the pair's ok runs of the group. Pairs of one group that differ much: the pair matters.</p>`,
  );
  if (overlapped.length > 0)
    parts.push(
      `<table><thead><tr><th>run</th><th>pair</th><th>overlapped with</th></tr></thead><tbody>${overlapped
        .map((r) => `<tr><td>${escapeHtml(r.id)}</td><td>${escapeHtml(r.pair ?? '–')}</td><td>${escapeHtml((r.overlapsWith ?? []).join(', '))}</td></tr>`)
        .join('')}</tbody></table>`,
    );
  return parts.join('\n');
}

function failuresSection(input: ReportInput): string {
  const failed = input.runs.filter((r) => !r.ok);
  if (failed.length === 0) return '';
  return `<h2>Failed runs (${failed.length})</h2><table><thead><tr><th>run</th><th>reason</th><th>results</th></tr></thead><tbody>${failed
    .map((r) => `<tr><td>${escapeHtml(r.id)}</td><td><pre>${escapeHtml(r.error ?? 'unknown')}</pre></td><td>${escapeHtml(r.resultsDir ?? '–')}</td></tr>`)
    .join('')}</tbody></table>`;
}

function watchSection(input: ReportInput): string {
  const watched = input.runs.filter((r) => r.watch);
  if (watched.length === 0) return '';
  return `<h2>Spot notices</h2><table><thead><tr><th>run</th><th>notice</th><th>seen</th><th>notice → migration done</th><th>margin vs ${DEADLINES_S.aws} s</th></tr></thead><tbody>${watched
    .map((r) => {
      const w = r.watch!;
      const seconds = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);
      return `<tr><td>${escapeHtml(r.id)}</td><td>${escapeHtml(`${w.notice.action} at ${w.notice.time} (via ${w.via}${w.fis ? `, FIS experiment ${w.fis.experimentId}` : ''})`)}</td><td>${escapeHtml(w.noticeSeenAt)}</td><td>${seconds(w.noticeToDoneMs)}</td><td class="${w.met ? '' : 'warn'}">${seconds(w.marginMs)} ${w.met ? 'met' : 'MISSED'}</td></tr>`;
    })
    .join('')}</tbody></table>`;
}

/** The estimate the sweep recorded when it started, beside the wall time and cost it took. */
function costSection(input: ReportInput): string {
  const cost = input.cost;
  if (!cost) return '';
  const duration = (ms: number | undefined) => (ms === undefined ? 'n/a' : formatDuration(ms));
  const dollars = (usd: number | undefined) => (usd === undefined ? 'n/a' : `$${usd.toFixed(2)}`);
  const e = cost.estimate;
  const rows = [
    [
      'wall time',
      duration(e?.wallMs),
      `${duration(cost.actualWallMs)} (${cost.sessionsCounted} session(s)${cost.sessionsCutOff > 0 ? `; ${cost.sessionsCutOff} cut off, not counted` : ''})`,
    ],
    [
      'cost',
      e ? `${dollars(e.usd)}${e.market ? ` (${e.market})` : ''}` : 'n/a',
      cost.actualUsd === undefined
        ? 'n/a (not metered)'
        : `${dollars(cost.actualUsd)} (${((cost.upMs ?? 0) / 3_600_000).toFixed(2)} h up × ${dollars(cost.ratePerHourUsd)}/hour)`,
    ],
    ...(cost.budgetUsd === undefined
      ? []
      : [['budget', dollars(cost.budgetUsd), cost.stoppedForBudget ? 'reached: the sweep stopped launching runs' : 'not reached']]),
  ];
  const note = e
    ? `Estimated ${escapeHtml(e.at)} for ${e.runs} runs on ${e.pairs} pair(s): ${escapeHtml(e.model)}${e.prices ? `; prices ${escapeHtml(e.prices)}` : ''}.`
    : 'No estimate was recorded when this sweep started.';
  return `<h2>Cost and time</h2><table><thead><tr><th></th><th>estimate</th><th>actual</th></tr></thead><tbody>${rows
    .map(([what, estimate, actual]) => `<tr><td>${escapeHtml(what!)}</td><td>${escapeHtml(estimate!)}</td><td>${escapeHtml(actual!)}</td></tr>`)
    .join('')}</tbody></table><p class="note">${note}</p>`;
}

function linksSection(input: ReportInput): string {
  const profiles = bandwidthProfiles();
  const usedProfiles = [...new Set(input.runs.map((r) => r.metrics?.profile ?? r.dims['experiment.profile']).filter((p): p is string => p !== undefined))];
  const parts: string[] = [];
  if (input.links.length > 0)
    parts.push(
      `<h2>Raw links</h2><table><thead><tr><th>pair</th><th>profile</th><th>iperf3 (Mbit/s)</th><th>measured</th></tr></thead><tbody>${input.links
        .map(
          (l) =>
            `<tr><td>${escapeHtml(`${l.source} → ${l.destination}`)}</td><td>${escapeHtml(l.profile ?? 'unshaped')}</td><td>${l.mbitPerS.toFixed(0)}</td><td>${escapeHtml(l.measuredAt)}</td></tr>`,
        )
        .join('')}</tbody></table>`,
    );
  if (usedProfiles.length > 0)
    parts.push(
      `<h2>Bandwidth profiles</h2><table><thead><tr><th>profile</th><th>lab rate</th><th>AWS figure</th><th>basis (config/profiles.yaml)</th></tr></thead><tbody>${usedProfiles
        .map((name) => profiles.get(name))
        .filter((p) => p !== undefined)
        .map((p) => `<tr><td>${escapeHtml(p.name)}</td><td>${p.rateMbit} Mbit/s</td><td>${p.awsGbit} Gbit/s</td><td>${escapeHtml(p.basis)}</td></tr>`)
        .join('')}</tbody></table>`,
    );
  return parts.join('\n');
}

function curvesSection(input: ReportInput): string {
  if (input.curves.length === 0) return '';
  return `<h2>Deadline curves</h2><table><thead><tr><th>cell</th><th>deadline</th><th>largest ${escapeHtml(input.sizePath ?? 'size')}</th><th>probes (size: worst migration)</th></tr></thead><tbody>${input.curves
    .map(
      (c) =>
        `<tr><td>${escapeHtml(c.cellLabel)}</td><td>${c.deadlineS} s</td><td>${c.maxSize ?? 'none'}${c.bound === 'above-high' ? ' (or more)' : c.bound === 'below-low' ? ' (below the range)' : ''}</td><td>${c.probes
          .map((p) => `${p.size}: ${p.worstMigrationMs === undefined ? 'failed' : `${(p.worstMigrationMs / 1000).toFixed(1)} s`} ${p.met ? '✓' : '✗'}`)
          .join(', ')}</td></tr>`,
    )
    .join('')}</tbody></table>`;
}

function chartBlock(chart: ChartSpec): string {
  return `<figure class="${chart.half ? 'half' : 'full'}"><h3>${escapeHtml(chart.title)}</h3><div style="height:${chart.height}px"><canvas id="${chart.id}"></canvas></div><figcaption>${escapeHtml(chart.caption)}</figcaption></figure>`;
}

/** Draws [low, high] whiskers for datasets that carry `errorBars`; Chart.js has no error bars of its own. */
const PAGE_SCRIPT = `
const whiskers = {
  id: 'whiskers',
  afterDatasetsDraw(chart) {
    const ctx = chart.ctx;
    chart.data.datasets.forEach((dataset, i) => {
      const meta = chart.getDatasetMeta(i);
      if (!dataset.errorBars || meta.hidden) return;
      const scale = chart.scales[meta.yAxisID];
      ctx.save();
      ctx.strokeStyle = '#222';
      ctx.lineWidth = 1.5;
      meta.data.forEach((bar, j) => {
        const range = dataset.errorBars[j];
        if (!range) return;
        const [low, high] = range.map((v) => scale.getPixelForValue(v));
        const half = Math.min(8, (bar.width || 12) / 4);
        ctx.beginPath();
        ctx.moveTo(bar.x, low); ctx.lineTo(bar.x, high);
        ctx.moveTo(bar.x - half, low); ctx.lineTo(bar.x + half, low);
        ctx.moveTo(bar.x - half, high); ctx.lineTo(bar.x + half, high);
        ctx.stroke();
      });
      ctx.restore();
    });
  },
};
Chart.register(whiskers);
let drawn = 0;
for (const spec of REPORT.charts) {
  new Chart(document.getElementById(spec.id), spec.config);
  drawn += 1;
}
document.body.dataset.chartsDrawn = String(drawn);
`;

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
h1 { margin-bottom: 0; } .meta { color: #666; margin-top: 4px; }
table { border-collapse: collapse; margin: 8px 0 16px; } th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; } td small { color: #777; } td.warn { color: #b00; font-weight: bold; } td.na { color: #999; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; } figure { margin: 0; border: 1px solid #eee; padding: 8px; box-sizing: border-box; }
p.overlap { background: #fff4e0; border-left: 4px solid #e69500; padding: 6px 10px; }
figure.full { width: 100%; } figure.half { width: calc(50% - 8px); } figcaption, .note { color: #666; font-size: 12px; } pre { margin: 0; white-space: pre-wrap; font-size: 12px; }
`;

export function renderReportHtml(input: ReportInput, rows: readonly GroupRow[], generatedAt = new Date()): string {
  const charts = buildCharts(input, rows);
  const ok = input.runs.filter((r) => r.ok).length;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>criu-lab report: ${escapeHtml(input.title)}</title><style>${STYLE}</style></head>
<body>
<h1>criu-lab report: ${escapeHtml(input.title)}</h1>
<p class="meta">${escapeHtml(input.source)} · ${input.runs.length} runs, ${ok} ok, ${input.runs.length - ok} failed${input.parallel ? ` · parallel ${input.parallel.n}${input.runs.some((r) => r.overlap) ? ' · overlap: runs shared this host' : ''}` : ''} · generated ${escapeHtml(generatedAt.toISOString())}</p>
<h2>Summary</h2>
${summaryTable(rows)}
<h2>Charts</h2>
<div class="charts">${charts.map(chartBlock).join('\n')}</div>
${pairsSection(input)}
${curvesSection(input)}
${watchSection(input)}
${costSection(input)}
${linksSection(input)}
${failuresSection(input)}
<script>${chartJsSource().replace(/<\/script/gi, '<\\/script')}</script>
<script>const REPORT = ${scriptJson({ charts: charts.map((c) => ({ id: c.id, config: c.config })) })};
${PAGE_SCRIPT}</script>
</body></html>
`;
}
