import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, rootCertificates, type Server, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DEFERRED_EXTRA_CA_CERTS,
  deferredExtraCaEnvironment,
  extraCaTrust,
} from '../../../src/core/index.ts';
import { makeTestCa, type TestCa } from '../../helpers/test-ca.ts';

/** Connects to `port` verifying the peer with `secureContext` (Node's default when undefined). */
function handshake(
  port: number,
  secureContext: ReturnType<ReturnType<typeof extraCaTrust>['secureContext']>,
) {
  return new Promise<{ authorized: boolean; error?: string }>((resolve) => {
    const socket: TLSSocket = connect(
      { host: '127.0.0.1', port, secureContext, rejectUnauthorized: false },
      () => {
        resolve({ authorized: socket.authorized, error: socket.authorizationError?.message });
        socket.destroy();
      },
    );
    socket.on('error', (error) => resolve({ authorized: false, error: error.message }));
  });
}

describe('extraCaTrust: the certificates a relaunched proxy deferred, loaded on first use', () => {
  let dir: string;
  let mesh: TestCa;
  let other: TestCa;
  let server: Server;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'trellis-extra-ca-'));
    mesh = makeTestCa(dir, 'mesh');
    other = makeTestCa(dir, 'other');
    server = createServer({ key: mesh.key, cert: mesh.cert }, (socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it("trusts the deferred file's certificates beside Node's bundled roots", async () => {
    const trust = extraCaTrust({ [DEFERRED_EXTRA_CA_CERTS]: mesh.caFile });
    const context = trust.secureContext();
    expect(context).toBeDefined();
    expect(trust.secureContext()).toBe(context);
    expect(await handshake(port, context)).toEqual({ authorized: true, error: undefined });
    // Not any certificate: the other CA's file does not vouch for the mesh CA's server.
    const others = extraCaTrust({ [DEFERRED_EXTRA_CA_CERTS]: other.caFile }).secureContext();
    expect((await handshake(port, others)).authorized).toBe(false);
    // The bundled roots are there too (what Node itself puts beside NODE_EXTRA_CA_CERTS).
    expect(rootCertificates.length).toBeGreaterThan(100);
  });

  it("leaves Node's default trust alone when nothing was deferred", async () => {
    expect(extraCaTrust({}).secureContext()).toBeUndefined();
    expect(extraCaTrust({ [DEFERRED_EXTRA_CA_CERTS]: '' }).secureContext()).toBeUndefined();
    expect((await handshake(port, undefined)).authorized).toBe(false);
  });

  it('warns as Node does and keeps the default trust when the file cannot be read', () => {
    const warnings: string[] = [];
    const missing = join(dir, 'missing.pem');
    const trust = extraCaTrust({ [DEFERRED_EXTRA_CA_CERTS]: missing }, (message) => warnings.push(message));
    expect(trust.secureContext()).toBeUndefined();
    expect(trust.secureContext()).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`Ignoring extra certs from \`${missing}\`, load failed: ENOENT`);
  });
});

describe("deferredExtraCaEnvironment: a worker's environment beside its parent's", () => {
  it('moves NODE_EXTRA_CA_CERTS to TRELLIS_EXTRA_CA_CERTS, removing it (undefined)', () => {
    const changes = deferredExtraCaEnvironment({ NODE_EXTRA_CA_CERTS: '/etc/ca.pem', PATH: '/bin' }, []);
    expect(changes).toEqual({ NODE_EXTRA_CA_CERTS: undefined, [DEFERRED_EXTRA_CA_CERTS]: '/etc/ca.pem' });
    expect(Object.hasOwn(changes, 'NODE_EXTRA_CA_CERTS')).toBe(true);
  });

  it('changes nothing without the variable, or when OpenSSL’s store is the default trust', () => {
    expect(deferredExtraCaEnvironment({ PATH: '/bin' }, [])).toEqual({});
    expect(deferredExtraCaEnvironment({ NODE_EXTRA_CA_CERTS: '' }, [])).toEqual({});
    expect(deferredExtraCaEnvironment({ NODE_EXTRA_CA_CERTS: '/etc/ca.pem' }, ['--use-openssl-ca'])).toEqual(
      {},
    );
    expect(
      deferredExtraCaEnvironment(
        { NODE_EXTRA_CA_CERTS: '/etc/ca.pem', NODE_OPTIONS: '--max-old-space-size=64 --use-openssl-ca' },
        [],
      ),
    ).toEqual({});
  });
});
