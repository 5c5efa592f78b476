"""Objects in slices of equal length: one compiled shape for every slice of a batch."""

from __future__ import annotations


def padded_slices(count: int, size: int) -> list[tuple[list[int], int]]:
    """Indices of ``count`` objects in slices of equal length (at most ``size``), the last padded with
    copies of the last object.

    Every slice has the same length, so one compiled function serves them all; each comes with
    the number of its real (unpadded) objects.  The slices are as even as they can be (1000 objects
    in slices of at most 976 go as 500 + 500, not 976 + 24 padded to 976).
    """
    size = max(1, min(size, count))
    size = -(-count // -(-count // size))
    return [([min(i, count - 1) for i in range(first, first + size)], min(size, count - first))
            for first in range(0, count, size)]


__all__ = ["padded_slices"]
