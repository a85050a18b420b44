/** Default share of new traces a proxy samples; requests that bring a sampling decision follow it. */

/** `trellis start`, the one-laptop mesh: every new trace, so a newcomer's first requests show up. */
export const DEFAULT_SAMPLE_RATIO = 1;

/**
 * Sidecars and standalone gateways, the data plane under real load: 1% of new traces, like Istio.
 * Tracing every request costs a proxy about as much CPU again as forwarding it (bench:observability).
 */
export const DEFAULT_PROXY_SAMPLE_RATIO = 0.01;
