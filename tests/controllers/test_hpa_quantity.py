"""Kubernetes quantities as the HPA reads them.

We test these aspects:

- parsing decimal and binary suffixes, exponents and JSON numbers into milli-values;
- ``MilliValue()`` rounds up;
- canonical formatting (``500m``, ``2``, ``3k``, ``512Ki``) and rejection of malformed strings.
"""
from __future__ import annotations

import pytest

from controllers.hpa import quantity


@pytest.mark.parametrize(
    "text, milli",
    [
        pytest.param("500m", 500, id="milli"),
        pytest.param("1", 1000, id="whole"),
        pytest.param("1.5", 1500, id="fraction"),
        pytest.param(".5", 500, id="leading-dot"),
        pytest.param("2k", 2_000_000, id="kilo"),
        pytest.param("1Ki", 1_024_000, id="kibi"),
        pytest.param("256Mi", 256 * 1024 * 1024 * 1000, id="mebi"),
        pytest.param("1e3", 1_000_000, id="exponent"),
        pytest.param("1E", 10**21, id="exa-suffix-not-exponent"),
        pytest.param("0.1m", 1, id="milli-value-rounds-up"),
        pytest.param("100n", 1, id="nano-rounds-up"),
        pytest.param("-1.5", -1500, id="negative"),
        pytest.param(2, 2000, id="json-integer"),
        pytest.param(0.1, 100, id="json-float-is-its-decimal"),
    ],
)
def test_milli_value_parses_like_apimachinery(text: str | int | float, milli: int) -> None:
    assert quantity.milli_value(text) == milli


@pytest.mark.parametrize("text", ["abc", "1.5.5", "5 m", "", "1Ti2", "0x10"])
def test_malformed_quantities_are_rejected_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match="is not a quantity"):
        quantity.milli_value(text)


@pytest.mark.parametrize(
    "milli, binary, text",
    [
        pytest.param(1500, False, "1500m", id="milli"),
        pytest.param(2000, False, "2", id="whole"),
        pytest.param(3_000_000, False, "3k", id="kilo"),
        pytest.param(2_500_000, False, "2500", id="no-fractional-mantissa"),
        pytest.param(0, False, "0", id="zero"),
        pytest.param(-2000, False, "-2", id="negative"),
        pytest.param(524_288_000, True, "512Ki", id="binary"),
        pytest.param(1_536_000, True, "1536", id="binary-not-a-power-of-1024"),
        pytest.param(500, True, "500m", id="binary-falls-back-below-one-byte"),
    ],
)
def test_format_milli_renders_canonical_quantities(milli: int, binary: bool, text: str) -> None:
    assert quantity.format_milli(milli, binary=binary) == text
