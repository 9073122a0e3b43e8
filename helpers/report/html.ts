/**
 * The HTML report: one self-contained file made by Allure 3 (the `allure`
 * npm package; no Java) with its awesome plugin in single-file mode, grouped
 * by tier and KEP-614 item (the allure labels feature and story).
 *
 * Allure writes into an output directory (index.html plus summary files), so
 * it runs in a temporary one and only index.html is kept, under our name.
 * Its template always adds a Google Analytics tag; that one external request
 * is removed, so the file opens offline and tells nobody it was opened.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { SuiteError } from '../framework/errors.ts';

const GENERATE_TIMEOUT_MS = 300_000;

const ANALYTICS =
  /<script async src="https:\/\/www\.googletagmanager\.com\/[^"]*"><\/script>\s*<script>\s*window\.dataLayer[\s\S]*?<\/script>/g;

export function withoutAnalytics(html: string): string {
  return html.replace(ANALYTICS, '');
}

/** Every resource the page would fetch from elsewhere (scripts, styles, images, frames); [] when self-contained. */
export function externalResources(html: string): string[] {
  const refs = [...html.matchAll(/<(?:script|link|img|iframe|source)\b[^>]*?\s(?:src|href)="([^"]*)"/gi)].map(
    (m) => m[1],
  );
  return refs.filter((r) => /^(https?:)?\/\//i.test(r) || (!r.startsWith('data:') && !r.startsWith('#')));
}

/** The allure config object: the awesome plugin, single file. */
export function allureConfig(reportName: string, output: string): object {
  return {
    name: reportName,
    output,
    plugins: {
      awesome: { options: { singleFile: true, reportName, groupBy: ['feature', 'story'] } },
    },
  };
}

export async function writeHtmlReport(
  resultsDir: string,
  outFile: string,
  reportName: string,
): Promise<string[]> {
  const work = mkdtempSync(join(tmpdir(), 'sctp-e2e-allure-'));
  try {
    const output = join(work, 'out');
    const configFile = join(work, 'allurerc.json');
    writeFileSync(configFile, JSON.stringify(allureConfig(reportName, output), null, 2));
    const cli = createRequire(import.meta.url).resolve('allure');
    try {
      // Its own cwd: allure looks for config and history files there.
      await promisify(execFile)(
        process.execPath,
        [cli, 'generate', resolve(resultsDir), '--config', configFile, '--output', output],
        { cwd: work, timeout: GENERATE_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 },
      );
    } catch (err) {
      const e = err as { stderr?: string; stdout?: string; message: string };
      const why = (e.stderr || e.stdout || e.message).trim().split('\n').slice(-1)[0];
      throw new SuiteError(
        `allure could not generate the HTML report: ${why}`,
        `check ${resultsDir} holds allure results`,
      );
    }
    const index = join(output, 'index.html');
    if (!existsSync(index))
      throw new SuiteError(
        `allure wrote no index.html for ${resultsDir}`,
        'check the allure package is installed (npm ci)',
      );
    const html = withoutAnalytics(readFileSync(index, 'utf8'));
    writeFileSync(outFile, html);
    return externalResources(html);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
