// `npm run console:build`: builds the web console (console/ → console/dist) that the API serves at `/`.
// With --if-available (the `prepare` script, run by npm install and npm ci) a production install without the dev
// dependencies (`npm ci --omit=dev`, the Dockerfile's deps stage) skips the build with a note instead of failing the
// install; the API then answers `/` with how to build it. Plain JavaScript, so it runs before anything is compiled.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const optional = process.argv.includes('--if-available');
const require = createRequire(import.meta.url);
let hasVite = true;
try {
  require.resolve('vite/package.json');
} catch {
  hasVite = false;
}
if (!hasVite) {
  console.warn(
    'itinera: the web console was not built (vite, a dev dependency, is not installed). Run `npm install`, then `npm run console:build`.\n' +
      'itinera：网页控制台未构建（开发依赖 vite 未安装）。请运行 `npm install`，然后运行 `npm run console:build`。',
  );
  process.exit(optional ? 0 : 1);
}
const { build } = await import('vite');
await build({ configFile: path.join(root, 'console', 'vite.config.ts'), logLevel: 'warn' });
console.log('itinera: console built into console/dist');
