export { workerExecArgv } from './exec-argv.ts';
export { createWorkerPool, type WorkerPool, type WorkerPoolOptions } from './pool.ts';
