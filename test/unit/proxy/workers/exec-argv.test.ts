import { describe, expect, it } from 'vitest';
import { workerExecArgv } from '../../../../src/proxy/workers/index.ts';

/** The memory settings bin/trellis.js gives a proxy, carried to its workers. */
const MEMORY = [
  '--max-semi-space-size=1',
  '--no-flush-bytecode',
  '--incremental-marking-hard-trigger=5',
  '--v8-pool-size=1',
];

describe('workerExecArgv', () => {
  it("adds tsx's loader when the parent registered tsx through its API (bin/trellis.js)", () => {
    const argv = workerExecArgv(['--max-old-space-size=256']);
    const loaderAt = 2 + MEMORY.length;
    expect(argv.slice(0, loaderAt)).toEqual(['--max-old-space-size=256', ...MEMORY, '--import']);
    expect(argv[loaderAt]).toMatch(/^file:\/\/.*\/tsx\/dist\/loader\.mjs$/);
    expect(argv).toHaveLength(loaderAt + 1);
  });

  it('keeps a parent that already loads tsx as it is', () => {
    const viaCli = [
      '--require',
      '/app/node_modules/tsx/dist/preflight.cjs',
      '--import',
      'file:///app/node_modules/tsx/dist/loader.mjs',
    ];
    expect(workerExecArgv(viaCli)).toEqual([...viaCli, ...MEMORY]);
    expect(workerExecArgv(['--import', 'tsx'])).toEqual(['--import', 'tsx', ...MEMORY]);
    expect(workerExecArgv(['--import=tsx'])).toEqual(['--import=tsx', ...MEMORY]);
  });

  it('leaves an option the parent sets to its value', () => {
    expect(workerExecArgv(['--v8-pool-size=4', '--max-semi-space-size=16'], false)).toEqual([
      '--v8-pool-size=4',
      '--max-semi-space-size=16',
      '--no-flush-bytecode',
      '--incremental-marking-hard-trigger=5',
    ]);
  });

  it('drops code given on the command line, which would run in the worker instead of its entry', () => {
    const argv = workerExecArgv([
      '--import',
      'tsx',
      '--eval',
      'console.log(1)',
      '-p',
      '1',
      '--input-type=module',
    ]);
    expect(argv).toEqual(['--import', 'tsx', ...MEMORY]);
  });

  it('adds no loader when the workers run from the build (dist/, plain JavaScript)', () => {
    expect(workerExecArgv(['--max-old-space-size=256'], false)).toEqual([
      '--max-old-space-size=256',
      ...MEMORY,
    ]);
  });
});
