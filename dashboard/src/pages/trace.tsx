import { useState } from 'preact/hooks';
import { ErrorBox } from '../components/bits.tsx';
import { useApp } from '../context.ts';
import { dateTime, ms } from '../format.ts';
import { usePoll } from '../hooks.ts';
import { href } from '../router.ts';
import type { Span, TraceSummary } from '../types.ts';

interface Row {
  span: Span;
  depth: number;
}

function flatten(spans: Span[], depth = 0, rows: Row[] = []): Row[] {
  for (const span of spans) {
    rows.push({ span, depth });
    flatten(span.children ?? [], depth + 1, rows);
  }
  return rows;
}

export function TracePage({ traceId }: { traceId: string }) {
  const { api, authVersion } = useApp();
  const trace = usePoll<{ trace: TraceSummary; spans: Span[] }>(
    api,
    `/api/v1/traces/${encodeURIComponent(traceId)}`,
    0,
    authVersion,
  );
  const [open, setOpen] = useState<Set<string>>(new Set());
  const rows = trace.data ? flatten(trace.data.spans) : [];
  const start = Math.min(...rows.map((row) => row.span.startTime));
  const end = Math.max(...rows.map((row) => row.span.endTime));
  const total = Math.max(end - start, 0.001);
  const toggle = (spanId: string) => {
    const next = new Set(open);
    if (!next.delete(spanId)) next.add(spanId);
    setOpen(next);
  };

  return (
    <section>
      <p class="crumbs">
        <a href={href('traces')}>Traces</a> / <code>{traceId}</code>
      </p>
      <h1>Trace</h1>
      <ErrorBox error={trace.error} title="Trace unavailable" />
      {trace.data ? (
        <p class="facts">
          {trace.data.trace.rootService}: {trace.data.trace.rootOperation} · started{' '}
          {dateTime(trace.data.trace.startTime)} · {ms(trace.data.trace.durationMs)} ·{' '}
          {trace.data.trace.spanCount} spans · {trace.data.trace.errorCount} errors
        </p>
      ) : null}
      <ol class="waterfall">
        {rows.map(({ span, depth }) => {
          const left = ((span.startTime - start) / total) * 100;
          const width = Math.max((span.durationMs / total) * 100, 0.5);
          const expanded = open.has(span.spanId);
          return (
            <li
              key={span.spanId}
              class={span.status.code === 'error' ? 'span-error' : ''}
              data-span={span.spanId}
            >
              <button
                type="button"
                class="span-row"
                aria-expanded={expanded}
                onClick={() => toggle(span.spanId)}
              >
                <span class="span-name" style={{ paddingLeft: `${depth * 16}px` }}>
                  <strong>{span.service}</strong> {span.name} <small>{span.kind}</small>
                </span>
                <span class="span-track">
                  <span class="span-bar" style={{ left: `${left}%`, width: `${width}%` }} />
                </span>
                <span class="span-duration">{ms(span.durationMs)}</span>
              </button>
              {expanded ? <SpanDetails span={span} traceStart={start} /> : null}
            </li>
          );
        })}
      </ol>
    </section>
  );
}

function SpanDetails({ span, traceStart }: { span: Span; traceStart: number }) {
  const entries = Object.entries(span.attributes ?? {}).sort(([a], [b]) => {
    const routing = Number(b.startsWith('trellis.')) - Number(a.startsWith('trellis.'));
    return routing || a.localeCompare(b);
  });
  return (
    <div class="span-details">
      <p>
        status: <strong>{span.status.code}</strong>
        {span.status.message ? ` (${span.status.message})` : ''} · span <code>{span.spanId}</code>
        {span.parentSpanId ? (
          <>
            {' '}
            · parent <code>{span.parentSpanId}</code>
          </>
        ) : null}
      </p>
      <table class="attributes">
        <caption>Attributes (routing decisions first)</caption>
        <tbody>
          {entries.map(([name, value]) => (
            <tr key={name} class={name.startsWith('trellis.') ? 'routing' : ''}>
              <th scope="row">{name}</th>
              <td>{typeof value === 'string' ? value : JSON.stringify(value)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {span.events.length > 0 ? (
        <>
          <h3>Events</h3>
          <ol class="events">
            {span.events.map((event, index) => (
              <li key={`${event.name}-${index}`}>
                <strong>{event.name}</strong> at +{ms(event.time - traceStart)}{' '}
                {Object.entries(event.attributes ?? {})
                  .map(
                    ([name, value]) => `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`,
                  )
                  .join(' · ')}
              </li>
            ))}
          </ol>
        </>
      ) : null}
    </div>
  );
}
