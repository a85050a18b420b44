import { execFileSync } from 'node:child_process';

/** True when `command` is on the PATH. */
export function hasCommand(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes sure each command is on the PATH, apt-get installing its Debian package when it is missing.
 * Throws (with the packages to install by hand) when something is missing and this is not root.
 */
export function ensureCommands(packageOf: Record<string, string>, log: (line: string) => void): void {
  const missing = Object.keys(packageOf).filter((command) => !hasCommand(command));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((command) => packageOf[command]!))];
  if (process.getuid?.() !== 0) {
    throw new Error(
      `missing ${missing.join(', ')}: run as root or install them (apt-get install ${packages.join(' ')})`,
    );
  }
  log(`apt-get install ${packages.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
      env,
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  try {
    install();
  } catch {
    execFileSync('apt-get', ['update', '-qq'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    install();
  }
  const still = missing.filter((command) => !hasCommand(command));
  if (still.length > 0) throw new Error(`still missing after apt-get install: ${still.join(', ')}`);
}
