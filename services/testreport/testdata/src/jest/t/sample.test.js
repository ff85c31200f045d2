describe('math', () => {
  test('adds', () => { expect(1 + 1).toBe(2); });
  test('subtracts wrongly', () => { expect(3 - 1).toBe(1); });
  test.skip('skipped one', () => {});
  test.todo('write this');
  describe('nested', () => {
    test('deep fails', () => { throw new Error('boom deep'); });
  });
});
test.each([1, 2])('param %i', (n) => { expect(n).toBe(1); });
