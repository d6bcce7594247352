// The linter `npm run lint` runs: typescript-eslint's recommended rules (syntax only, no type
// information, so the whole tree lints in seconds) and no import circle anywhere.
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdktf.out/', '.gen/', 'dist/', 'results/', 'bench/out/', '.lab/'] },
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX },
    settings: {
      // Sources import each other as `./x.js` (NodeNext); the file on disk is x.ts.
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.json'], extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: {
      'import-x/no-cycle': 'error',
      // `_name` marks a value left out on purpose (a rest sibling, a destructured slot).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // Fakes name `this` (`const world = this`) so the object literals they hand out reach them.
      '@typescript-eslint/no-this-alias': 'off',
    },
  },
);
