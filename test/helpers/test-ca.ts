/**
 * A certificate authority of a test's own and a server certificate it signed, made with the
 * openssl command line (scripts/provision.sh installs it): for TLS servers the code under test must
 * trust through its configuration, never through a switched-off verification.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCa {
  /** The CA's certificate (PEM file). */
  caFile: string;
  /** A server certificate for 127.0.0.1 and localhost, signed by the CA (PEM). */
  cert: string;
  /** Its private key (PEM). */
  key: string;
}

/** `openssl req` arguments for a new unencrypted P-256 key. */
const NEW_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Makes a CA named `name` and a server certificate it signed, in `dir`. */
export function makeTestCa(dir: string, name: string): TestCa {
  const file = (suffix: string) => join(dir, `${name}-${suffix}`);
  openssl(dir, [
    'req',
    '-x509',
    ...NEW_KEY,
    '-days',
    '2',
    '-subj',
    `/CN=${name} test CA`,
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.pem'),
  ]);
  openssl(dir, [
    'req',
    ...NEW_KEY,
    '-subj',
    '/CN=localhost',
    '-keyout',
    file('server.key'),
    '-out',
    file('server.csr'),
  ]);
  writeFileSync(file('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    file('server.csr'),
    '-CA',
    file('ca.pem'),
    '-CAkey',
    file('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    file('server.ext'),
    '-out',
    file('server.pem'),
  ]);
  return {
    caFile: file('ca.pem'),
    cert: readFileSync(file('server.pem'), 'utf8'),
    key: readFileSync(file('server.key'), 'utf8'),
  };
}
