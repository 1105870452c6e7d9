import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// Built into console/dist and served by the API process at `/` (src/api/console.ts), same origin as the API.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The CSP allows scripts from our origin only: no inline module-preload polyfill.
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 600,
  },
  worker: { format: 'es' },
});
