/// <reference types="vitest/config" />
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

// dist/.keep is committed so `go build` (web/embed.go) works before the first
// web build. Vite empties dist/ on every build; put the marker back.
const keepDist: Plugin = {
  name: 'switchyard-keep-dist',
  apply: 'build',
  closeBundle() {
    writeFileSync(fileURLToPath(new URL('./dist/.keep', import.meta.url)), '');
  },
};

// No @vitejs/plugin-react: esbuild's automatic JSX runtime is all this small
// app needs (no fast refresh; the page reloads on change).
export default defineConfig({
  esbuild: { jsx: 'automatic' },
  plugins: [keepDist],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
  },
  server: {
    // `npm run dev` against a server started with `make run`.
    proxy: { '/graphql': 'http://localhost:8080' },
  },
  test: {
    environment: 'node',
    include: ['src/**/*.test.ts'],
  },
});
