import { describe, expect, it } from 'vitest';
import { createSseParser, type SseEvent } from '../../../src/client/index.ts';

function parse(chunks: string[]) {
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  const parser = createSseParser({
    onEvent: (event) => events.push(event),
    onComment: (text) => comments.push(text),
    onRetry: (ms) => retries.push(ms),
  });
  for (const chunk of chunks) parser.push(chunk);
  return { events, comments, retries, parser };
}

describe('createSseParser', () => {
  it('parses named events with ids', () => {
    const { events } = parse([
      'id: 7\nevent: snapshot\ndata: {"revision":7}\n\nid: 8\nevent: change\ndata: {}\n\n',
    ]);
    expect(events).toEqual([
      { event: 'snapshot', data: '{"revision":7}', id: '7' },
      { event: 'change', data: '{}', id: '8' },
    ]);
  });

  it('joins multi-line data with newlines and defaults the type to message', () => {
    const { events } = parse(['data: first\ndata:second\ndata\ndata:  indented\n\n']);
    expect(events).toEqual([{ event: 'message', data: 'first\nsecond\n\n indented', id: undefined }]);
  });

  it('reports comments and dispatches nothing for them', () => {
    const { events, comments } = parse([': ping\n\n:no space\n\n']);
    expect(events).toEqual([]);
    expect(comments).toEqual(['ping', 'no space']);
  });

  it('handles events split across chunks at any byte', () => {
    const text = 'id: 1\nevent: change\ndata: {"a":1}\n\n: ping\n\nid: 2\nevent: change\ndata: {"b":2}\n\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const { events } = parse([text.slice(0, cut), text.slice(cut)]);
      expect(events.map((event) => [event.id, event.data])).toEqual([
        ['1', '{"a":1}'],
        ['2', '{"b":2}'],
      ]);
    }
    const { events } = parse([...text]);
    expect(events).toHaveLength(2);
  });

  it('accepts CRLF and lone CR line endings, even with CR and LF in different chunks', () => {
    expect(parse(['data: a\r\n\r\n']).events.map((event) => event.data)).toEqual(['a']);
    expect(parse(['data: b\r\r']).events.map((event) => event.data)).toEqual(['b']);
    const split = parse(['data: c\r', '\ndata: d\r', '\n\r', '\n']);
    expect(split.events.map((event) => event.data)).toEqual(['c\nd']);
  });

  it('keeps the last event id across events and ignores ids with NUL', () => {
    const { events, parser } = parse(['id: 5\ndata: x\n\ndata: y\n\nid: bad\0id\ndata: z\n\n']);
    expect(events.map((event) => event.id)).toEqual(['5', '5', '5']);
    expect(parser.lastEventId()).toBe('5');
  });

  it('does not dispatch an event without data, and resets its type', () => {
    const { events } = parse(['event: change\n\ndata: plain\n\n']);
    expect(events).toEqual([{ event: 'message', data: 'plain', id: undefined }]);
  });

  it('reads retry only when it is all digits, and ignores unknown fields', () => {
    const { events, retries } = parse(['retry: 1000\nretry: 10s\nfoo: bar\ndata: x\n\n']);
    expect(retries).toEqual([1000]);
    expect(events).toHaveLength(1);
  });

  it('strips a leading byte-order mark', () => {
    expect(parse(['\uFEFFdata: x\n\n']).events.map((event) => event.data)).toEqual(['x']);
  });

  it('discards an unfinished event at the end of the stream', () => {
    const { events, parser } = parse(['data: half']);
    parser.end();
    expect(events).toEqual([]);
  });
});
