export declare const STAMP_FILE: string;
export interface SourceStamp {
  /** The newest mtime (ms) of the files and folders under src/ and of the build's tsconfig files. */
  newest: number;
  /** How many there are. */
  entries: number;
}
export declare function sourceStamp(root: string): SourceStamp;
export declare function builtIsCurrent(root: string): boolean;
