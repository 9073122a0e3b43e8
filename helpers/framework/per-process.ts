/**
 * State that must be one per process. The CLI imports the suites as ES
 * modules (runner.ts), but mocha's own command line (the project's tests)
 * `require`s its test files, and tsx then gives them a CommonJS copy of the
 * framework's modules beside the ES one the runner imports: a module-level
 * value would exist twice (the open run, the namespaces being created, the
 * module guard's trackers). Each lives on globalThis instead, under a
 * registered symbol that every copy finds.
 */
export function perProcess<T>(key: string, make: () => T): T {
  const holder = globalThis as { [key: symbol]: unknown };
  const symbol = Symbol.for(`sctp-e2e.${key}`);
  return (holder[symbol] ??= make()) as T;
}
