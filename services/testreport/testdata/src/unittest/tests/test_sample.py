import unittest


class Arithmetic(unittest.TestCase):
    def test_add(self):
        self.assertEqual(1 + 1, 2)

    def test_sub_wrong(self):
        self.assertEqual(3 - 1, 1, "subtraction is off")

    def test_documented(self):
        """Checks that multiplication works."""
        self.assertEqual(2 * 3, 6)

    @unittest.skip("not ready yet")
    def test_skipped(self):
        pass

    def test_raises(self):
        raise RuntimeError("boom in the test")

    def test_even(self):
        for i in range(4):
            with self.subTest(i=i):
                self.assertEqual(i % 2, 0)

    def test_all_subtests_pass(self):
        for i in range(3):
            with self.subTest(i=i):
                self.assertTrue(i >= 0)

    @unittest.expectedFailure
    def test_known_bug(self):
        self.assertEqual(1, 2)

    def test_prints(self):
        print("some output ... ok")
        self.assertTrue(True)


class Setup(unittest.TestCase):
    def setUp(self):
        raise ValueError("setup broke")

    def test_needs_setup(self):
        pass
