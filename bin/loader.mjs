// Node's --import for the CLI (bin/sctp-e2e): loads @kubernetes/client-node
// with Node's own ESM loader, then registers tsx (what `--import tsx` does).
// tsx's loader hooks see every module loaded after they are registered, and
// the client's ~970 ESM files through them cost about 2 CPU-seconds more per
// process than without them (every run pays it; the local cluster has 2
// cores). Loaded first, the client is in Node's module map when the
// TypeScript imports it: tsx resolves that one specifier and loads nothing
// again. The suites are imported the same way (runner.ts), so the run holds
// one copy of the client.
await import('@kubernetes/client-node');
await import('tsx');
