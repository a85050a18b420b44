import type { CliContext } from './context.ts';
import { createProgram } from './program.ts';

const ctx: CliContext = {
  env: process.env,
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  setExitCode: (code) => {
    process.exitCode = code;
  },
};

await createProgram(ctx).parseAsync(process.argv);
