export declare const BUNDLE_DIR: string;
/** Bundles `<dist>/cli/main.js` and `<dist>/proxy/workers/worker-main.js` into `<dist>/bundle/`; resolves to that folder. */
export declare function bundleCli(dist: string): Promise<string>;
