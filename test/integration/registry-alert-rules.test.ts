/** Alert rules in the store: read-your-writes, seen by every reader of the same store, corrupt values skipped. */
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AlertRuleDefinition, alertRuleInput } from '../../src/config/index.ts';
import { type AlertRuleStore, createAlertRuleStore, createRegistry } from '../../src/registry/index.ts';
import { MemoryStore } from '../../src/store/index.ts';

const logger = pino({ level: 'silent' });

const rule = (name: string, threshold = 0): AlertRuleDefinition =>
  alertRuleInput.parse({ name, metric: 'unhealthyInstances', op: '>', threshold });

async function eventually(assertion: () => void, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

describe('alert rule store', () => {
  let store: MemoryStore;
  const opened: AlertRuleStore[] = [];
  const open = async () => {
    const rules = await createAlertRuleStore({ store, logger });
    opened.push(rules);
    return rules;
  };

  beforeEach(async () => {
    store = await MemoryStore.open({});
  });
  afterEach(async () => {
    for (const rules of opened.splice(0)) await rules.close();
    await store.close();
  });

  it('puts, gets, lists by name and deletes, each visible at once to the writer', async () => {
    const rules = await open();
    expect(await rules.put(rule('zeta'))).toEqual({ rule: rule('zeta'), created: true });
    expect(await rules.put(rule('alpha'))).toMatchObject({ created: true });
    expect(rules.list().map((r) => r.name)).toEqual(['alpha', 'zeta']);
    expect(await rules.put(rule('zeta', 3))).toEqual({ rule: rule('zeta', 3), created: false });
    expect(rules.get('zeta')?.threshold).toBe(3);
    expect(await rules.delete('zeta')).toBe(true);
    expect(await rules.delete('zeta')).toBe(false);
    expect(rules.get('zeta')).toBeUndefined();
    expect((await store.get('/trellis/alert-rules/alpha'))?.value).toBe(JSON.stringify(rule('alpha')));
  });

  it("sees another node's writes and tells its listeners", async () => {
    const mine = await open();
    const theirs = await open();
    let changes = 0;
    mine.onChange(() => changes++);
    await theirs.put(rule('remote'));
    await eventually(() => expect(mine.get('remote')).toEqual(rule('remote')));
    await theirs.delete('remote');
    await eventually(() => expect(mine.list()).toEqual([]));
    expect(changes).toBe(2);
  });

  it('loads what is stored when it starts, and skips values it cannot read', async () => {
    await store.put('/trellis/alert-rules/broken', '{not json');
    await store.put('/trellis/alert-rules/invalid', JSON.stringify({ metric: 'nope' }));
    const first = await open();
    await first.put(rule('kept', 2));
    const second = await open();
    expect(second.list()).toEqual([rule('kept', 2)]);
  });

  it('stays out of the registry: rules are not mesh changes', async () => {
    const registry = await createRegistry({ store, logger });
    try {
      const before = registry.revision();
      const seen: string[] = [];
      const subscription = registry.subscribe((change) => seen.push(change.type));
      await (await open()).put(rule('quiet'));
      await eventually(() => expect(registry.revision()).toBeGreaterThan(before));
      subscription.close();
      expect(seen).toEqual([]);
      expect(registry.snapshot().services).toEqual([]);
    } finally {
      await registry.close();
    }
  });
});
