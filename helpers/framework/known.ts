/**
 * Known-limitations profiles (--known FILE): tests expected to fail on a
 * given cluster or plugin. Each entry is precise:
 *   test       a fragment of the full title that must match exactly one
 *              selected test (several: exit 2 naming them; none: reported unused)
 *   message    a regex the failure must match; a failure that does not match
 *              is a plain failure saying the entry did not match
 *   reason, reference
 * A guard failure and an error (the suite could not judge) are never known.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { SuiteError } from './errors.ts';
import type { KnownEntryRef } from './outcome.ts';

export interface KnownFailure extends KnownEntryRef {
  /** `message`, compiled. */
  pattern: RegExp;
}

export function loadKnownFailures(path: string): KnownFailure[] {
  let data: unknown;
  try {
    data = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new SuiteError(
      `cannot read known-failures profile ${path}: ${(err as Error).message.split('\n')[0]}`,
      'give a readable YAML file with --known',
    );
  }
  const list = (data as { known?: unknown })?.known;
  if (!Array.isArray(list))
    throw new SuiteError(
      `known-failures profile ${path} has no "known:" list`,
      'see fixtures/known/ for the format',
    );
  return list.map((entry, i) => {
    const e = entry as Partial<KnownEntryRef>;
    const str = (v: unknown) => typeof v === 'string' && v !== '';
    if (!str(e.test) || !str(e.reason) || !str(e.message)) {
      throw new SuiteError(
        `known-failures profile ${path}: entry ${i + 1} needs "test", "message" and "reason"`,
        'each entry: test (title fragment), message (regex the failure must match), reason, reference',
      );
    }
    let pattern: RegExp;
    try {
      pattern = new RegExp(e.message!);
    } catch (err) {
      throw new SuiteError(
        `known-failures profile ${path}: entry ${i + 1}: message is not a regex (${(err as Error).message})`,
        'give a JavaScript regular expression',
      );
    }
    return {
      test: e.test!,
      message: e.message!,
      reason: e.reason!,
      reference: typeof e.reference === 'string' ? e.reference : undefined,
      pattern,
    };
  });
}

/** The entry for a test (checkKnownProfile made sure at most one matches). */
export function knownEntryFor(fullTitle: string, known: readonly KnownFailure[]): KnownFailure | undefined {
  return known.find((k) => fullTitle.includes(k.test));
}

/**
 * Checks the profile against the selected tests before anything runs: an
 * entry matching several tests is ambiguous (exit 2, naming them); entries
 * matching none are returned, to be reported as unused.
 */
export function checkKnownProfile(
  selected: readonly string[],
  known: readonly KnownFailure[],
): KnownFailure[] {
  const unused: KnownFailure[] = [];
  for (const k of known) {
    const matches = selected.filter((t) => t.includes(k.test));
    if (matches.length > 1)
      throw new SuiteError(
        `known-failures entry "${k.test}" matches ${matches.length} selected tests: ${matches.map((m) => `"${m}"`).join(', ')}`,
        'make its "test" fragment name exactly one test',
      );
    if (matches.length === 0) unused.push(k);
  }
  for (const t of selected) {
    const entries = known.filter((k) => t.includes(k.test));
    if (entries.length > 1)
      throw new SuiteError(
        `test "${t}" is matched by ${entries.length} known-failures entries (${entries.map((e) => `"${e.test}"`).join(', ')})`,
        'keep one entry per test',
      );
  }
  return unused;
}

/** The entry without its compiled pattern: what the outcome keeps. */
export function entryRef(k: KnownFailure): KnownEntryRef {
  return { test: k.test, message: k.message, reason: k.reason, reference: k.reference };
}
