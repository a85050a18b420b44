/**
 * Service names resolve as DNS names do, case-insensitively: `Orders` and `ORDERS` reach `orders`.
 * The map says, for each lowercased name, which of the services with instances it stands for: among
 * several that differ only in case, the all-lowercase one, else the first in code-unit order.
 */
function foldServiceNames(names: Iterable<string>): Map<string, string> {
  const folded = new Map<string, string>();
  for (const name of names) {
    const lower = name.toLowerCase();
    const taken = folded.get(lower);
    if (taken === undefined || (taken !== lower && (name === lower || name < taken))) {
      folded.set(lower, name);
    }
  }
  return folded;
}

/**
 * The names of the services with instances, read from `list` on the first need after `forget()` (a
 * change of the mesh), never per request: what the proxies' and the SDK's clusters resolve names with.
 */
export class ServiceNames {
  private names: Set<string> | undefined;
  private folded: Map<string, string> | undefined;

  constructor(private readonly list: () => Iterable<string>) {}

  /** Whether a service of exactly this name has instances. */
  has(name: string): boolean {
    this.names ??= new Set(this.list());
    return this.names.has(name);
  }

  /** The service with instances that `written` names but for case (see foldServiceNames), if any. */
  caseFolded(written: string): string | undefined {
    if (this.folded === undefined) {
      this.names ??= new Set(this.list());
      this.folded = foldServiceNames(this.names);
    }
    return this.folded.get(written.toLowerCase());
  }

  /** The mesh changed: the names are read again at the next need. */
  forget(): void {
    this.names = undefined;
    this.folded = undefined;
  }
}
