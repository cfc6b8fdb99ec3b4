// ESLint, flat config: typescript-eslint's recommended rules over the TypeScript sources, tests,
// benchmarks and tools (`npm run lint`). Not linted: the AssemblyScript kernels (decorated
// functions and i32/f32/v128 types are not TypeScript), generated and built files, data.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'node_modules/', 'data/', 'docs/', 'bench/results/', 'src/kernels/wasm/', 'src/kernels/abi/kernels.ts'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  { languageOptions: { globals: globals.node } },
  {
    rules: {
      // `{ seconds: _s, ...rest }` drops fields by destructuring; `_x` marks a parameter kept for its position
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['test/golden/**'],
    // the goldens' metadata are JSON attributes of a different shape for every op
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
