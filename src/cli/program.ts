import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { packageRoot } from '../core/package-root.ts';
import { demoCommand } from './commands/demo.ts';
import { deregisterCommand } from './commands/deregister.ts';
import { gatewayCommand } from './commands/gateway.ts';
import { healthCommand } from './commands/health.ts';
import { heartbeatCommand } from './commands/heartbeat.ts';
import { instancesCommand } from './commands/instances.ts';
import { policyCommand } from './commands/policy.ts';
import { proxyCommand } from './commands/proxy.ts';
import { registerCommand } from './commands/register.ts';
import { routeCommand } from './commands/route.ts';
import { routesCommand } from './commands/routes.ts';
import { servicesCommand } from './commands/services.ts';
import { startCommand } from './commands/start.ts';
import type { CliContext } from './context.ts';
import { EXIT_CODES_HELP } from './exit-codes.ts';

export function createProgram(ctx: CliContext): Command {
  const program = new Command('trellis')
    .description('Trellis: a service mesh for Node.js (control plane, registry, health checks, proxies)')
    .version(packageVersion(), '-V, --version')
    // Root options only before the command name, so `register --version v2` reaches the command.
    .enablePositionalOptions()
    .showHelpAfterError('(run "trellis --help" for usage)')
    .configureOutput({ writeOut: ctx.stdout, writeErr: ctx.stderr })
    .addHelpText('after', EXIT_CODES_HELP);
  for (const command of [
    startCommand(ctx),
    proxyCommand(ctx),
    gatewayCommand(ctx),
    registerCommand(ctx),
    deregisterCommand(ctx),
    heartbeatCommand(ctx),
    servicesCommand(ctx),
    instancesCommand(ctx),
    healthCommand(ctx),
    policyCommand(ctx),
    routesCommand(ctx),
    routeCommand(ctx),
    demoCommand(ctx),
  ]) {
    command
      .configureOutput({ writeOut: ctx.stdout, writeErr: ctx.stderr })
      .showHelpAfterError(`(run "trellis ${command.name()} --help" for usage)`);
    program.addCommand(command);
  }
  return program;
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('package.json', packageRoot(import.meta.url)), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}
