/** Asks for the admin token after a 401; kept in sessionStorage, sent as `Authorization: Bearer`. */
import { useEffect, useRef, useState } from 'preact/hooks';

export function TokenPrompt({ onSave, rejected }: { onSave(token: string): void; rejected: boolean }) {
  const [token, setToken] = useState('');
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  return (
    <div class="overlay" role="dialog" aria-modal="true" aria-labelledby="token-title">
      <form
        class="dialog"
        onSubmit={(event) => {
          event.preventDefault();
          if (token.trim()) onSave(token.trim());
        }}
      >
        <h2 id="token-title">Admin token required</h2>
        <p>
          This control plane requires an admin token. It is kept for this browser tab only (sessionStorage)
          and sent as <code>Authorization: Bearer</code>.
        </p>
        {rejected ? (
          <p class="error-text" role="alert">
            The token was refused; check it and try again.
          </p>
        ) : null}
        <label for="token-input">Token</label>
        <input
          id="token-input"
          ref={input}
          type="password"
          autocomplete="off"
          value={token}
          onInput={(event) => setToken((event.target as HTMLInputElement).value)}
        />
        <div class="actions">
          <button type="submit">Save token</button>
        </div>
      </form>
    </div>
  );
}
