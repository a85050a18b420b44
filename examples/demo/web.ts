/** The storefront: asks orders and recommendations at once, and answers with what it got. */
import { serve } from './lib.ts';

serve('web', async (_req, calls) => {
  const [orders, recommendations] = await Promise.all([
    calls.get('orders', '/orders'),
    calls.get('recommendations', '/recommendations'),
  ]);
  // Recommendations are optional: the page still renders without them.
  return {
    status: orders.status === 200 ? 200 : 502,
    body: {
      orders: orders.body,
      recommendations: recommendations.status === 200 ? recommendations.body : null,
    },
  };
});
