import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';

// `npm run dev` serves the console with hot reload and sends API and sign-in
// calls to the control plane of `gatehouse dev` on :8080, so cookies stay same-origin.
const controlPlane = 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    // Inline assets would need `data:` in more CSP directives; keep every asset a file.
    assetsInlineLimit: 0,
    sourcemap: false,
    // One bundle for an admin app on a fast link; splitting would not pay for itself.
    chunkSizeWarningLimit: 1024,
  },
  server: {
    proxy: { '/v1': controlPlane, '/auth': controlPlane },
  },
  test: {
    include: ['src/**/*.test.ts'],
  },
});
