// Marks dist/cjs as CommonJS: the package itself is "type": "module".
const fs = require('node:fs');
fs.writeFileSync('dist/cjs/package.json', JSON.stringify({ type: 'commonjs' }) + '\n');
