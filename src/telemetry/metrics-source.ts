/** Anything that renders Prometheus text: a proxy's or a control node's metrics. */
export interface MetricsSource {
  /** The Content-Type of `text()`. */
  readonly contentType: string;
  text(): Promise<string>;
}
