/**
 * A control plane in its own process, for tests that kill it: `node --import tsx control-child.ts
 * <dataDir> [port] [store]`. Prints one JSON line `{"url","pid"}` on stdout once it listens.
 */
import { pino } from 'pino';
import { trellisConfig, validate } from '../../src/config/index.ts';
import { startControlNode } from '../../src/control/index.ts';

const [dataDir, port = '0', store = 'memory'] = process.argv.slice(2);
if (!dataDir) {
  process.stderr.write('usage: control-child.ts <dataDir> [port] [store]\n');
  process.exit(2);
}

const config = validate(trellisConfig, {
  control: { host: '127.0.0.1', port: Number(port), dataDir, store },
  gateway: { port: 0 },
});
const node = await startControlNode(config, { logger: pino({ level: 'warn' }, pino.destination(2)) });
process.stdout.write(`${JSON.stringify({ url: node.url, pid: process.pid })}\n`);

const stop = () => {
  node.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
