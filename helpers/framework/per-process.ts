/**
 * State that must be one per process. Mocha loads the test files with their
 * own copy of the framework's modules (the CLI has another), so a
 * module-level value would exist twice: the open run, the namespaces being
 * created, the module guard's trackers. Each lives on globalThis instead,
 * under a registered symbol that every copy finds.
 */
export function perProcess<T>(key: string, make: () => T): T {
  const holder = globalThis as { [key: symbol]: unknown };
  const symbol = Symbol.for(`sctp-e2e.${key}`);
  return (holder[symbol] ??= make()) as T;
}
