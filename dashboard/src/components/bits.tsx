import type { ComponentChildren } from 'preact';
import { ApiError } from '../api.ts';
import type { Health } from '../types.ts';

export function HealthBadge({ health }: { health: Health | string }) {
  return <span class={`badge health-${health}`}>{health}</span>;
}

export function ErrorBox({ error, title }: { error: Error | undefined; title?: string }) {
  if (!error) return null;
  const api = error instanceof ApiError ? error : undefined;
  return (
    <div class="error-box" role="alert">
      <strong>{title ?? 'Request failed'}</strong>
      {api ? <code class="code">{api.code}</code> : null}
      <p>{error.message}</p>
      {api && api.details.length > 0 ? (
        <ul>
          {api.details.map((detail) => (
            <li key={`${detail.path}:${detail.message}`}>
              {detail.path ? <code class="field-path">{detail.path}</code> : null} {detail.message}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function Card({ label, value, tone }: { label: string; value: ComponentChildren; tone?: string }) {
  return (
    <div class={`card ${tone ?? ''}`}>
      <div class="card-value">{value}</div>
      <div class="card-label">{label}</div>
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="empty">{children}</p>;
}
