import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const frameworkImports = ['fastify', 'fastify-plugin', 'express'].map((name) => ({
  name,
  message: 'Only src/fastify.ts and src/express.ts may import a web framework.',
}));

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      // The web-vitals browser bundle (a build output).
      'packages/web-vitals/browser/**',
      '**/node_modules/**',
      '**/.turbo/**',
      '**/coverage/**',
      'bench/results/**',
      '**/*.config.ts',
      '**/*.config.js',
      // tsup writes a temporary tsup.config.bundled_*.mjs while a build runs beside the lint.
      '**/tsup.config.*',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // Framework-free code: only the adapters translate framework events.
    files: ['packages/*/src/**/*.ts'],
    ignores: ['packages/*/src/fastify.ts', 'packages/*/src/express.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: frameworkImports }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        URL: 'readonly',
        fetch: 'readonly',
        Buffer: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        performance: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
);
