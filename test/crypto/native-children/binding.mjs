/** The addon exactly as src/crypto/native.ts loads it (node-gyp-build: build/ first, then the prebuild). */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const root = fileURLToPath(new URL('../../../', import.meta.url));
export const binding = require('node-gyp-build')(root);
