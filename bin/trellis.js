#!/usr/bin/env node
// The CLI is TypeScript run through tsx's loader, so `npm install` is all a checkout needs.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
