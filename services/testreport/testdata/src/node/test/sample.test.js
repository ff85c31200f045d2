const { test, describe, it } = require('node:test');
const assert = require('node:assert');

test('adds numbers', () => {
  assert.strictEqual(1 + 1, 2);
});

test('subtracts wrongly', () => {
  assert.strictEqual(3 - 1, 1, 'subtraction is off');
});

test('is skipped', { skip: 'not ready' }, () => {});

test('is todo', { todo: true }, () => {});

test('throws', () => {
  throw new Error('boom in the test');
});

describe('math suite', () => {
  it('multiplies', () => {
    assert.strictEqual(2 * 3, 6);
  });
  it('divides wrongly', () => {
    assert.strictEqual(6 / 3, 3);
  });
  describe('nested', () => {
    it('deep pass', () => {});
  });
});

test('with subtests', async (t) => {
  await t.test('sub ok', () => {});
  await t.test('sub fails', () => {
    assert.ok(false, 'sub failed');
  });
});
