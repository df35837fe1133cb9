"""Paged KV-cache block allocator, as in vLLM's PagedAttention.

The KV pool is cut into fixed blocks of ``block_size_tokens`` (vLLM default 16, ``CacheConfig``
``block_size``). A sequence holds ceil(tokens / block size) blocks; it grows one block at a time
as it decodes across a block boundary and gives all of them back when it finishes or is preempted.
Allocation is all-or-nothing: a request that cannot get every block it asks for gets none, which
is what lets the scheduler decide to preempt instead (vLLM ``KVCacheManager.allocate_slots``
returns ``None``). Prefix caching is not modelled: blocks are never shared.
"""
from __future__ import annotations


class BlockAllocator:
    """Hands out KV blocks to owners (request ids) and never exceeds ``total_blocks``."""

    def __init__(self, *, total_blocks: int, block_size_tokens: int = 16) -> None:
        if total_blocks < 1:
            raise ValueError(f"total_blocks must be at least 1, got {total_blocks}.")
        if block_size_tokens < 1:
            raise ValueError(f"block_size_tokens must be at least 1, got {block_size_tokens}.")
        self.total_blocks = total_blocks
        self.block_size_tokens = block_size_tokens
        self._held: dict[int, int] = {}
        self._used = 0

    @property
    def used_blocks(self) -> int:
        """Blocks currently held by some owner."""
        return self._used

    @property
    def free_blocks(self) -> int:
        """Blocks nobody holds."""
        return self.total_blocks - self._used

    @property
    def usage(self) -> float:
        """Held share of the pool, 0..1 (what ``vllm:kv_cache_usage_perc`` reports)."""
        return self._used / self.total_blocks

    def blocks_needed(self, tokens: int) -> int:
        """Blocks that hold ``tokens`` tokens."""
        return -(-tokens // self.block_size_tokens)

    def held_by(self, owner: int) -> int:
        """Blocks ``owner`` holds now."""
        return self._held.get(owner, 0)

    def can_hold(self, owner: int, *, tokens: int) -> bool:
        """Whether ``owner`` could grow to hold ``tokens`` tokens from the free blocks."""
        return self.blocks_needed(tokens) - self.held_by(owner) <= self.free_blocks

    def grow_to(self, owner: int, *, tokens: int) -> bool:
        """Make ``owner`` hold enough blocks for ``tokens``; False (and no change) if they are not free."""
        extra = self.blocks_needed(tokens) - self.held_by(owner)
        if extra <= 0:
            return True
        if extra > self.free_blocks:
            return False
        self._held[owner] = self.held_by(owner) + extra
        self._used += extra
        return True

    def free(self, owner: int) -> int:
        """Return every block ``owner`` holds to the pool; the number freed."""
        freed = self._held.pop(owner, 0)
        self._used -= freed
        return freed
