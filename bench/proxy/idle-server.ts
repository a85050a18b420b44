/**
 * The RSS floor of a Node proxy here: a node:http server answering `ok`, run under tsx's loader
 * like every Node proxy of the benchmark (the harness runs the same code under plain node too).
 * Usage: node --import tsx bench/proxy/idle-server.ts PORT
 */
import { createServer } from 'node:http';

createServer((_request, response) => response.end('ok')).listen(Number(process.argv[2]), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
