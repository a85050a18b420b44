/** A named service: the unit of discovery and, later, of routing policy. */
export interface ServiceSpec {
  name: string;
  tags: string[];
  metadata: Record<string, string>;
}

export interface Service extends ServiceSpec {
  createdAt: number;
}
