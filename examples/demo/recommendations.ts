/** Recommendations: fails about one request in ten. */
import { serve, sleep } from './lib.ts';

serve('recommendations', async () => {
  await sleep(2 + Math.random() * 10);
  if (Math.random() < 0.1) return { status: 500, body: { error: 'model timed out' } };
  return { body: { items: ['lamp', 'kettle', 'rug'] } };
});
