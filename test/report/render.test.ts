// The HTML report opened in a real headless Chromium (Debian's, driven by playwright-core):
// every chart is drawn, nothing is fetched from a network, and a screenshot is kept.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser } from 'playwright-core';
import { writeReport, type ReportFiles } from '../../experiments/report/cli.js';
import { writeFixtureSweep } from './fixture.js';

const CHROMIUM = '/usr/bin/chromium';
let browser: Browser;
let files: ReportFiles;
let dir: string;

/** Debian's chromium, installed on first use: the report needs a browser only for this test. */
function ensureChromium(): void {
  if (existsSync(CHROMIUM)) return;
  const install = () =>
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], {
      stdio: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  try {
    install();
  } catch {
    execFileSync('apt-get', ['update'], { stdio: 'inherit' });
    install();
  }
}

beforeAll(async () => {
  ensureChromium();
  dir = mkdtempSync(join(tmpdir(), 'criu-lab-report-'));
  writeFixtureSweep(dir);
  files = await writeReport(dir);
  // launch() gives the browser a fresh, temporary profile (user data dir) of its own.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}, 600_000);

afterAll(async () => {
  await browser?.close();
});

describe('the HTML report in a browser', () => {
  it('draws every chart from the inlined library without touching a network, and keeps a screenshot', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const requests: string[] = [];
    const errors: string[] = [];
    page.on('request', (request) => {
      if (!request.url().startsWith('file:')) requests.push(request.url());
    });
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(`file://${files.html}`);
    await page.waitForFunction(() => document.body.dataset['chartsDrawn'] !== undefined, null, { timeout: 20_000 });
    const canvases = await page.evaluate(() =>
      [...document.querySelectorAll('canvas')].map((canvas) => {
        const context = canvas.getContext('2d')!;
        const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 3; i < pixels.length; i += 4) if (pixels[i]! > 0) painted += 1;
        return { id: canvas.id, width: canvas.width, painted };
      }),
    );
    const drawn = Number(await page.evaluate(() => document.body.dataset['chartsDrawn']));
    await page.screenshot({ path: join(dir, 'report.png'), fullPage: true });
    expect(errors).toEqual([]);
    expect(requests).toEqual([]);
    expect(drawn).toBe(6);
    expect(canvases.map((c) => c.id)).toEqual(['phases', 'downtime', 'migration', 'throughput', 'placement-transfer', 'placement-migration']);
    for (const canvas of canvases) {
      expect(canvas.width).toBeGreaterThan(100);
      expect(canvas.painted).toBeGreaterThan(1000);
    }
    expect(existsSync(join(dir, 'report.png'))).toBe(true);
  }, 60_000);

  it('is one self-contained file with the summary table, the failed run and the CSV beside it', () => {
    const html = readFileSync(files.html, 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|<img[^>]+src=/);
    expect(html).toContain('Failed runs (1)');
    expect(html).toContain('rsync: connection unexpectedly closed');
    expect(readFileSync(files.csv, 'utf8').trim().split('\n')).toHaveLength(9);
  });
});
