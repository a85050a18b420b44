/** Inventory: fast, a few milliseconds. */
import { serve, sleep } from './lib.ts';

serve('inventory', async () => {
  await sleep(1 + Math.random() * 4);
  return { body: { inStock: Math.floor(Math.random() * 50) } };
});
