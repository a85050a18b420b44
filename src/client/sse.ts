/**
 * A Server-Sent Events parser (the WHATWG "event stream interpretation"): `event`, `data` (several
 * lines joined by "\n"), `id` (kept across events as the last event id), `retry`, and `:` comments.
 * Lines may end in CRLF, LF or CR, and a chunk may stop anywhere, even between a CR and its LF.
 */
export interface SseEvent {
  /** `message` when the event named none. */
  event: string;
  data: string;
  /** The last event id seen on the stream so far (ids persist across events), if any. */
  id: string | undefined;
}

export interface SseHandlers {
  onEvent(event: SseEvent): void;
  onComment?(text: string): void;
  /** A `retry:` field: the server's suggested reconnection delay, ms. */
  onRetry?(ms: number): void;
}

export interface SseParser {
  /** Feeds decoded text; dispatches every event completed by it. */
  push(text: string): void;
  /** The stream ended: a partial event is discarded, as the standard says. */
  end(): void;
  /** The last event id, to resume from. */
  lastEventId(): string | undefined;
}

export function createSseParser(handlers: SseHandlers): SseParser {
  /** The start of a line whose end has not arrived yet. */
  let partial = '';
  let started = false;
  let skipLeadingLf = false;
  let eventType = '';
  let data: string[] = [];
  let lastId: string | undefined;

  function dispatch(): void {
    const type = eventType;
    eventType = '';
    if (data.length === 0) return;
    const payload = data.length === 1 ? data[0] : data.join('\n');
    data = [];
    handlers.onEvent({ event: type || 'message', data: payload, id: lastId });
  }

  function line(text: string): void {
    if (text === '') {
      dispatch();
      return;
    }
    if (text.startsWith(':')) {
      handlers.onComment?.(text.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        eventType = value;
        break;
      case 'data':
        data.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) lastId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) handlers.onRetry?.(Number(value));
        break;
      default:
      // Unknown fields are ignored.
    }
  }

  return {
    push(text) {
      if (!started && text.length > 0) {
        started = true;
        if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      }
      let start = 0;
      if (skipLeadingLf && text.length > 0) {
        skipLeadingLf = false;
        if (text.charCodeAt(0) === 0x0a) start = 1;
      }
      // Only the new text is scanned: a multi-megabyte snapshot arriving in many chunks is read in
      // linear time, its unfinished line kept as a rope until its end arrives.
      for (let i = start; i < text.length; i++) {
        const char = text.charCodeAt(i);
        if (char !== 0x0a && char !== 0x0d) continue;
        const piece = text.slice(start, i);
        if (partial === '') {
          line(piece);
        } else {
          line(partial + piece);
          partial = '';
        }
        if (char === 0x0d) {
          if (i + 1 === text.length) skipLeadingLf = true;
          else if (text.charCodeAt(i + 1) === 0x0a) i++;
        }
        start = i + 1;
      }
      if (start < text.length) partial += start === 0 ? text : text.slice(start);
    },
    end() {
      partial = '';
      data = [];
      eventType = '';
    },
    lastEventId: () => lastId,
  };
}
