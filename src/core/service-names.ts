/**
 * Service names resolve as DNS names do, case-insensitively: `Orders` and `ORDERS` reach `orders`.
 * The map says, for each lowercased name, which of the services with instances it stands for: among
 * several that differ only in case, the all-lowercase one, else the first in code-unit order.
 */
export function foldServiceNames(names: Iterable<string>): Map<string, string> {
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
