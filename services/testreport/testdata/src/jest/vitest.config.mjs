export default { test: { include: ['t/**/*.test.js'], globals: true } };
