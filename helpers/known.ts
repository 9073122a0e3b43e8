/**
 * Known-limitations profiles (--known FILE): tests expected to fail on a
 * given cluster or plugin, each with a reason and a reference. A listed test
 * that fails is reported as a known failure, not a failure (the run can still
 * exit 0); a listed test that passes is reported so the profile can be pruned.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { SuiteError } from './errors.ts';

export interface KnownFailure {
  /** A fragment of the full test title. */
  test: string;
  reason: string;
  reference?: string;
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
    const e = entry as Partial<KnownFailure>;
    if (typeof e.test !== 'string' || typeof e.reason !== 'string' || !e.test || !e.reason) {
      throw new SuiteError(
        `known-failures profile ${path}: entry ${i + 1} needs "test" and "reason"`,
        'each entry: test (title fragment), reason, reference',
      );
    }
    return {
      test: e.test,
      reason: e.reason,
      reference: typeof e.reference === 'string' ? e.reference : undefined,
    };
  });
}

export function knownFailureFor(fullTitle: string, known: readonly KnownFailure[]): KnownFailure | undefined {
  return known.find((k) => fullTitle.includes(k.test));
}

export function describeKnown(k: KnownFailure): string {
  return `${k.reason}${k.reference ? ` (${k.reference})` : ''}`;
}
