import { describe, expect, it } from 'vitest';
import { createSseParser, type SseEvent } from '../../../src/client/index.ts';

function collect() {
  const events: SseEvent[] = [];
  const parser = createSseParser({ onEvent: (event) => events.push(event) });
  return { events, parser };
}

describe('createSseParser with many chunks', () => {
  it('reassembles a large event from small chunks, whatever the chunk size', () => {
    const data = JSON.stringify({ blob: 'x'.repeat(200_000), tail: 'é🌿' });
    const text = `id: 9\nevent: snapshot\ndata: ${data}\n\nevent: change\ndata: {}\n\n`;
    for (const size of [1, 7, 4096, text.length]) {
      const { events, parser } = collect();
      for (let i = 0; i < text.length; i += size) parser.push(text.slice(i, i + size));
      expect(events.map((event) => [event.event, event.id, event.data.length])).toEqual([
        ['snapshot', '9', data.length],
        ['change', '9', 2],
      ]);
      expect(events[0].data).toBe(data);
    }
  });

  it('joins a line cut across chunks with a CR before a CRLF', () => {
    const { events, parser } = collect();
    for (const chunk of ['da', 'ta: one', ' two\r', '', '\n', 'data: three\r', '\n\r', '\n'])
      parser.push(chunk);
    expect(events.map((event) => event.data)).toEqual(['one two\nthree']);
  });
});
