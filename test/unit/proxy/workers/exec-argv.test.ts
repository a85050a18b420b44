import { describe, expect, it } from 'vitest';
import { workerExecArgv } from '../../../../src/proxy/workers/index.ts';

describe('workerExecArgv', () => {
  it("adds tsx's loader when the parent registered tsx through its API (bin/trellis.js)", () => {
    const argv = workerExecArgv(['--max-old-space-size=256']);
    expect(argv.slice(0, 2)).toEqual(['--max-old-space-size=256', '--import']);
    expect(argv[2]).toMatch(/^file:\/\/.*\/tsx\/dist\/loader\.mjs$/);
    expect(argv).toHaveLength(3);
  });

  it('keeps a parent that already loads tsx as it is', () => {
    const viaCli = [
      '--require',
      '/app/node_modules/tsx/dist/preflight.cjs',
      '--import',
      'file:///app/node_modules/tsx/dist/loader.mjs',
    ];
    expect(workerExecArgv(viaCli)).toEqual(viaCli);
    expect(workerExecArgv(['--import', 'tsx'])).toEqual(['--import', 'tsx']);
    expect(workerExecArgv(['--import=tsx'])).toEqual(['--import=tsx']);
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
    expect(argv).toEqual(['--import', 'tsx']);
  });
});
