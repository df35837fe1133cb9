"""The GPU emulator's own exceptions, so callers can tell an emulated GPU fault from a bug.

``EccError`` is the injected crash: an uncorrectable (double-bit) ECC error, which the driver
reports as Xid 48 and after which the GPU must be reset, so every request in flight on it is lost.
"""
from __future__ import annotations


class GpuEmulatorError(Exception):
    """Base class of everything the emulator raises on purpose."""


class RequestRejected(GpuEmulatorError, ValueError):
    """A request that can never be served (e.g. longer than the whole KV cache)."""


class EccError(GpuEmulatorError):
    """Uncorrectable ECC error (Xid 48): the engine is dead and its in-flight requests failed."""

    def __init__(self, message: str, *, failed_request_ids: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.failed_request_ids = failed_request_ids
        """Requests that were in flight (running or waiting) when the GPU failed."""


class EngineStalled(GpuEmulatorError):
    """The GPU is stalled (a hung kernel) and an emulated-time driver cannot make progress."""


class EngineStopped(GpuEmulatorError):
    """The asyncio driver was stopped while the request was still in flight."""
