import { connect } from 'node:net';
import type { TcpCheck } from '../../core/index.ts';
import type { CheckResult } from './state.ts';

/** Passes when a TCP connection opens within the timeout; the connection is closed at once. */
export function probeTcp(check: TcpCheck): Promise<CheckResult> {
  const target = `${check.address}:${check.port}`;
  return new Promise((resolve) => {
    const socket = connect({ host: check.address, port: check.port });
    const finish = (result: CheckResult) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(
      () => finish({ status: 'fail', output: `TCP ${target}: timed out after ${check.timeoutMs}ms` }),
      check.timeoutMs,
    );
    socket.once('connect', () => finish({ status: 'pass', output: `TCP ${target}: connected` }));
    socket.once('error', (error: NodeJS.ErrnoException) =>
      finish({ status: 'fail', output: `TCP ${target}: ${error.code ?? error.message}` }),
    );
  });
}
