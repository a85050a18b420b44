/**
 * bin/trellis.js picks the built CLI only while `npm run build`'s stamp still describes src/: run in a
 * throwaway copy of the layout whose two entries say which one ran.
 */
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { STAMP_FILE, sourceStamp } from '../../scripts/source-stamp.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

describe('bin/trellis.js', () => {
  let root: string;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'trellis-entry-'));
    for (const dir of ['bin', 'scripts', 'src/cli', 'src/core', 'dist/bundle']) {
      mkdirSync(join(root, dir), { recursive: true });
    }
    for (const file of ['bin/trellis.js', 'bin/relaunch.js'])
      copyFileSync(join(REPO, file), join(root, file));
    copyFileSync(join(REPO, 'scripts/source-stamp.js'), join(root, 'scripts/source-stamp.js'));
    writeFileSync(join(root, 'package.json'), '{"type":"module"}\n');
    symlinkSync(join(REPO, 'node_modules'), join(root, 'node_modules'), 'dir');
    writeFileSync(join(root, 'tsconfig.json'), '{}\n');
    writeFileSync(join(root, 'tsconfig.build.json'), '{}\n');
    // The TypeScript entry proves it went through tsx: a type annotation plain node would reject.
    writeFileSync(join(root, 'src/cli/main.ts'), "const ran: string = 'src';\nconsole.log(ran);\n");
    writeFileSync(join(root, 'src/core/clock.ts'), 'export const x = 1;\n');
    writeFileSync(join(root, 'dist/bundle/main.js'), "console.log('dist');\n");
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  const stamp = () => writeFileSync(join(root, 'dist', STAMP_FILE), JSON.stringify(sourceStamp(root)));
  const run = (env: Record<string, string> = {}) =>
    execFileSync(process.execPath, [join(root, 'bin/trellis.js')], {
      env: { PATH: process.env.PATH ?? '', ...env },
      encoding: 'utf8',
    }).trim();
  const later = (path: string) => {
    const future = new Date(Date.now() + 60_000);
    utimesSync(join(root, path), future, future);
  };

  it('runs dist/ when the stamp matches the sources, and src/ when there is none', () => {
    expect(run()).toBe('src');
    stamp();
    expect(run()).toBe('dist');
    expect(run({ TRELLIS_FROM_SOURCE: '1' })).toBe('src');
  });

  it('falls back to src/ once a source is edited, added or removed after the build', () => {
    stamp();
    later('src/core/clock.ts');
    expect(run()).toBe('src');

    stamp();
    writeFileSync(join(root, 'src/core/new.ts'), 'export {};\n');
    expect(run()).toBe('src');

    stamp();
    rmSync(join(root, 'src/core/new.ts'));
    expect(run()).toBe('src');

    stamp();
    later('tsconfig.build.json');
    expect(run()).toBe('src');
  });

  it('runs dist/ when there are no sources (an installed package)', () => {
    rmSync(join(root, 'src'), { recursive: true });
    expect(run()).toBe('dist');
  });
});
