/**
 * A service using the SDK with `handleSignals: true`, for the signal test:
 * `node --import tsx sdk-signal-child.ts <controlUrl> <port>`. Prints one JSON line `{"id","pid"}`
 * once registered, then waits for a signal.
 */
import { connect } from '../../src/index.ts';

const [control, port] = process.argv.slice(2);
if (!control || !port) {
  process.stderr.write('usage: sdk-signal-child.ts <controlUrl> <port>\n');
  process.exit(2);
}

const mesh = await connect({ control, handleSignals: true });
const registration = await mesh.register({ service: 'signalled', port: Number(port), ttl: '5s' });
process.stdout.write(`${JSON.stringify({ id: registration.id, pid: process.pid })}\n`);
// Something to keep the process alive, as a real service's server would.
setInterval(() => {}, 1_000);
