/** Hash routing: `#/services/orders` → `['services', 'orders']`, query after `?` in the hash. */
import { useEffect, useState } from 'preact/hooks';

export interface Location {
  parts: string[];
  query: URLSearchParams;
}

function read(): Location {
  const hash = window.location.hash.replace(/^#\/?/, '');
  const at = hash.indexOf('?');
  const path = at === -1 ? hash : hash.slice(0, at);
  return {
    parts: path.split('/').filter(Boolean).map(decodeURIComponent),
    query: new URLSearchParams(at === -1 ? '' : hash.slice(at + 1)),
  };
}

export function useLocation(): Location {
  const [location, setLocation] = useState(read);
  useEffect(() => {
    const onChange = () => setLocation(read());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return location;
}

export function href(...parts: string[]): string {
  return `#/${parts.map(encodeURIComponent).join('/')}`;
}

export function navigate(to: string): void {
  window.location.hash = to.replace(/^#/, '');
}
