"""Day change across currencies (pure Decimal): the reference a position's value today is measured against.

day change (base) = value now at today's FX
                    - opening quantity x previous close x previous FX close
                    - today's net trades x their trade price x their trade FX

Positions opened today thus move from their trade price at their trade FX, and a sell today
takes its proceeds out of the reference. Which previous close counts as "today's" is the
caller's business (market sessions): this function only takes it as an input.
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from models.currency import CONTEXT


def day_reference(opening_quantity: Decimal, previous_close: Decimal | None, previous_factor: Decimal | None,
                  day_flow: Decimal) -> Decimal | None:
    """What today's value is compared with, in the currency `previous_factor` converts into.

    `previous_factor` converts the quote currency at the previous FX close (1 for the quote
    currency itself); `day_flow` is today's net trade cash already in that currency (buys
    positive). None when the opening holding has no previous close or no previous FX.
    """
    if opening_quantity == 0:
        return day_flow
    if previous_close is None or previous_factor is None:
        return None
    with localcontext(CONTEXT):
        return opening_quantity * previous_close * previous_factor + day_flow


def day_change(value: Decimal | None, reference: Decimal | None) -> Decimal | None:
    """Value - reference at full precision; None if either is unknown."""
    if value is None or reference is None:
        return None
    with localcontext(CONTEXT):
        return value - reference
