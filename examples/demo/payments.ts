/** Payments: the slow one, 40-250 ms and now and then half a second. */
import { serve, sleep } from './lib.ts';

serve('payments', async () => {
  await sleep(Math.random() < 0.05 ? 500 : 40 + Math.random() * 210);
  return { body: { charged: true } };
});
