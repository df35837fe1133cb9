"""Kubernetes resource quantities, the way the HPA controller reads them: integer milli-units.

The controller never does floating-point arithmetic on a quantity. It calls
``resource.Quantity.MilliValue()``, which rounds *up* to the next whole milli-unit, and from then on
works on int64 values (``replica_calculator.go``, ``metrics/utilization.go``). So every quantity in
this package is an ``int`` of milli-units: ``"500m"`` is 500, ``"1"`` is 1000, ``"1Ki"`` is 1 024 000.

Going the other way, :func:`format_milli` renders a milli-value the way
``resource.NewMilliQuantity(v, DecimalSI).String()`` does (BinarySI for memory), so the statuses we
print read like ``kubectl get hpa -o yaml``.
"""
from __future__ import annotations

import decimal
import fractions
import math
import re

# Suffix -> power of ten (DecimalSI) or power of two (BinarySI), as in apimachinery's suffix tables.
_DECIMAL_EXPONENTS = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_EXPONENTS = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_SUFFIXES = {exponent: suffix for suffix, exponent in _DECIMAL_EXPONENTS.items()}
_BINARY_SUFFIXES = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
# "1E3" is an exponent, "1E" is exa: the exponent alternative is tried first, as apimachinery does.
_PATTERN = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))"
    r"(?:(?P<exponent>[eE][+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$"
)


def parse(text: str | int | float) -> fractions.Fraction:
    """The exact value of a quantity string (``"250m"``, ``"1.5Gi"``, ``"2e3"``) or a JSON number."""
    if isinstance(text, bool):
        raise ValueError(f"{text!r} is not a quantity")
    if isinstance(text, int):
        return fractions.Fraction(text)
    if isinstance(text, float):
        if not math.isfinite(text):
            raise ValueError(f"{text!r} is not a quantity")
        # Through the shortest decimal repr, so 0.1 means one tenth, not its binary neighbour.
        return fractions.Fraction(decimal.Decimal(repr(text)))
    match = _PATTERN.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a quantity (examples: 500m, 2, 1.5, 256Mi, 1e3)")
    number = fractions.Fraction(decimal.Decimal(match["number"]))
    if match["exponent"]:
        return number * fractions.Fraction(10) ** int(match["exponent"][1:])
    suffix = match["suffix"] or ""
    if suffix in _BINARY_EXPONENTS:
        return number * 2 ** _BINARY_EXPONENTS[suffix]
    return number * fractions.Fraction(10) ** _DECIMAL_EXPONENTS[suffix]


def milli_value(text: str | int | float) -> int:
    """``Quantity.MilliValue()``: the value in milli-units, rounded up (``"0.1m"`` -> 1)."""
    return math.ceil(parse(text) * 1000)


def format_milli(milli: int, *, binary: bool = False) -> str:
    """Canonical string of a milli-value: 1500 -> ``"1500m"``, 2000 -> ``"2"``, 3e6 -> ``"3k"``.

    With ``binary`` (memory), whole byte counts of at least 1024 use Ki/Mi/...; anything else falls
    back to the decimal form, as apimachinery's canonicalisation does.
    """
    if binary and milli % 1000 == 0 and abs(milli // 1000) >= 1024:
        return _format_binary(milli // 1000)
    return _format_decimal(milli)


def _format_decimal(milli: int) -> str:
    if milli == 0:
        return "0"
    mantissa, exponent = milli, -3
    while mantissa % 1000 == 0 and exponent < 18:
        mantissa //= 1000
        exponent += 3
    return f"{mantissa}{_DECIMAL_SUFFIXES[exponent]}"


def _format_binary(whole: int) -> str:
    mantissa, power = whole, 0
    while mantissa % 1024 == 0 and power < len(_BINARY_SUFFIXES) - 1:
        mantissa //= 1024
        power += 1
    return f"{mantissa}{_BINARY_SUFFIXES[power]}"
