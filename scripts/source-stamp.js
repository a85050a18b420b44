// What `npm run build` records about src/ and bin/trellis.js compares at start: the newest mtime of
// every file and folder under src/ (plus the build's tsconfig files) and how many there are. An edit
// moves a file's mtime; an added, removed or renamed file moves its folder's mtime and the count.
// A stat per entry (a few hundred) costs a few milliseconds at start, less than hashing the sources.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const STAMP_FILE = '.build-stamp.json';
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json'];

/** { newest, entries } of the sources under `root` (the repository root). */
export function sourceStamp(root) {
  let newest = 0;
  let entries = 0;
  const visit = (path) => {
    const mtime = statSync(path).mtimeMs;
    if (mtime > newest) newest = mtime;
    entries++;
  };
  const walk = (dir) => {
    visit(dir);
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else visit(path);
    }
  };
  walk(join(root, 'src'));
  for (const name of CONFIG_FILES) visit(join(root, name));
  return { newest, entries };
}

/** Whether dist/ was built from the sources as they are now (false when unbuilt or unreadable). */
export function builtIsCurrent(root) {
  let recorded;
  try {
    recorded = JSON.parse(readFileSync(join(root, 'dist', STAMP_FILE), 'utf8'));
  } catch {
    return false;
  }
  const now = sourceStamp(root);
  return now.newest <= recorded.newest && now.entries === recorded.entries;
}
