"""Ids typed by people or sent by other systems: digits within bigint, 19-digit snowflakes too."""
from integration.ids import BIGINT_MAX, parse_id


def test_it_reads_every_bigint_id_and_nothing_else():
    assert parse_id(" 42 ") == 42 and parse_id(42) == 42
    assert parse_id("1911954762319073280") == 1911954762319073280  # a snowflake of 19 digits
    assert parse_id(str(BIGINT_MAX)) == BIGINT_MAX
    for value in (str(BIGINT_MAX + 1), "1" * 20, "²", "-1", "1.0", "", None, "#12", "12a"):
        assert parse_id(value) is None, value
