import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.shared';

export default defineConfig([
  // "." , "./fastify", "./express" and "./browser" (ESM and CommonJS, web-vitals left to the
  // application's bundler), as every package.
  packageConfig(),
  // One file for a <script> tag, web-vitals included: window.obskitWebVitals.reportWebVitals().
  {
    entry: { 'obskit-web-vitals': 'src/browser.ts' },
    outDir: 'browser',
    format: ['iife'],
    globalName: 'obskitWebVitals',
    platform: 'browser',
    target: 'es2020',
    noExternal: ['web-vitals'],
    minify: true,
    clean: true,
    dts: false,
  },
]);
