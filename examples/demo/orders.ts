/** Orders: checks stock with inventory, then charges with payments. */
import { serve } from './lib.ts';

serve('orders', async (_req, calls) => {
  const stock = await calls.get('inventory', '/stock');
  if (stock.status !== 200) return { status: 503, body: { error: 'inventory unavailable' } };
  const charge = await calls.get('payments', '/charge');
  return {
    status: charge.status === 200 ? 200 : 502,
    body: { order: Date.now() % 100_000, stock: stock.body },
  };
});
