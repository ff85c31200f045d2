import pytest


def test_pass():
    assert 1 + 1 == 2


def test_fail():
    assert 3 - 1 == 1, "subtraction is off"


@pytest.mark.skip(reason="not ready")
def test_skip():
    pass


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


def test_error(broken):
    pass


@pytest.mark.parametrize("n", [1, 2, 3])
def test_even(n):
    assert n % 2 == 0 or n == 1


@pytest.mark.xfail(reason="known bug")
def test_xfail():
    assert False


class TestGroup:
    def test_in_class(self):
        assert True

    def test_in_class_fails(self):
        raise ValueError("bad value\nsecond line")
