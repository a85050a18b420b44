export { createHttp1Transport } from './http1-transport.ts';
export { createSpanPoster } from './span-poster.ts';
