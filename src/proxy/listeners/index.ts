export { createGatewayListener, type GatewayListenerOptions, GatewayRouter } from './gateway.ts';
export { createInboundListener, type InboundListenerOptions, inboundPolicy } from './inbound.ts';
export { type ListenerOptions, listen, type ProxyListener } from './listener.ts';
export { type MetricsServer, type ServeMetricsOptions, serveMetrics } from './metrics-listener.ts';
export { createOutboundListener, type OutboundListenerOptions, OutboundRouter } from './outbound.ts';
