"""Paged KV-cache block allocator.

We test these aspects:
- tokens round up to whole 16-token blocks;
- growth is all-or-nothing when blocks run out;
- freeing returns every block an owner held;
- random growth and frees never take more blocks than exist (seeded);
- a pool or block size below one is refused with its sentence; a single block is a pool;
- `can_hold` answers what `grow_to` would do, counting the blocks the owner already holds.
"""
from __future__ import annotations

import random

import pytest

from services.inference.gpu import kvcache


@pytest.mark.parametrize(("tokens", "blocks"), [
    pytest.param(1, 1, id="one-token"), pytest.param(16, 1, id="full-block"),
    pytest.param(17, 2, id="one-over"), pytest.param(0, 0, id="nothing"),
])
def test_tokens_round_up_to_whole_blocks(tokens: int, blocks: int) -> None:
    assert kvcache.BlockAllocator(total_blocks=8).blocks_needed(tokens) == blocks


def test_growth_is_all_or_nothing_when_blocks_run_out() -> None:
    allocator = kvcache.BlockAllocator(total_blocks=4)
    assert allocator.grow_to(1, tokens=48)
    assert not allocator.grow_to(2, tokens=32)
    assert (allocator.held_by(2), allocator.used_blocks) == (0, 3)
    assert allocator.grow_to(2, tokens=16)
    assert allocator.usage == 1.0


def test_growing_to_fewer_tokens_than_held_keeps_the_blocks() -> None:
    allocator = kvcache.BlockAllocator(total_blocks=4)
    allocator.grow_to(1, tokens=40)
    assert allocator.grow_to(1, tokens=10)
    assert allocator.held_by(1) == 3


def test_freeing_returns_every_block_the_owner_held() -> None:
    allocator = kvcache.BlockAllocator(total_blocks=10)
    allocator.grow_to(1, tokens=50)
    allocator.grow_to(2, tokens=20)
    assert allocator.free(1) == 4
    assert (allocator.used_blocks, allocator.free_blocks, allocator.free(1)) == (2, 8, 0)


def test_random_growth_and_frees_never_exceed_the_pool() -> None:
    stream = random.Random(11)
    allocator = kvcache.BlockAllocator(total_blocks=64)
    wanted: dict[int, int] = {}
    for _ in range(5000):
        owner = stream.randrange(20)
        if stream.random() < 0.2:
            allocator.free(owner)
            wanted.pop(owner, None)
        else:
            tokens = wanted.get(owner, 0) + stream.randrange(1, 40)
            if allocator.grow_to(owner, tokens=tokens):
                wanted[owner] = tokens
        assert 0 <= allocator.used_blocks <= allocator.total_blocks
        assert allocator.used_blocks == sum(allocator.held_by(o) for o in range(20))
        assert all(allocator.held_by(o) >= allocator.blocks_needed(t) for o, t in wanted.items())


def test_an_empty_pool_is_rejected() -> None:
    with pytest.raises(ValueError, match="total_blocks"):
        kvcache.BlockAllocator(total_blocks=0)


@pytest.mark.parametrize("block_size", [0, -16])
def test_a_block_size_below_one_token_is_rejected(block_size: int) -> None:
    with pytest.raises(ValueError, match="block_size_tokens"):
        kvcache.BlockAllocator(total_blocks=8, block_size_tokens=block_size)


def test_a_block_size_of_one_token_is_accepted() -> None:
    allocator = kvcache.BlockAllocator(total_blocks=8, block_size_tokens=1)
    assert allocator.blocks_needed(5) == 5


def test_a_pool_of_a_single_block_is_accepted() -> None:
    allocator = kvcache.BlockAllocator(total_blocks=1)
    assert allocator.grow_to(1, tokens=16) and not allocator.grow_to(2, tokens=1)


@pytest.mark.parametrize(("arguments", "message"), [
    pytest.param({"total_blocks": 0}, "total_blocks must be at least 1, got 0.", id="empty-pool"),
    pytest.param({"total_blocks": 8, "block_size_tokens": 0}, "block_size_tokens must be at least 1, got 0.",
                 id="empty-block"),
])
def test_a_pool_or_block_below_one_is_refused_with_its_sentence(arguments: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        kvcache.BlockAllocator(**arguments)
    assert str(raised.value) == message


def test_can_hold_counts_the_blocks_the_owner_already_holds_and_allows_an_exact_fit() -> None:
    allocator = kvcache.BlockAllocator(total_blocks=4)
    allocator.grow_to(1, tokens=32)  # 2 blocks held, 2 free
    assert allocator.can_hold(1, tokens=64)  # 2 more blocks: exactly what is free
    assert not allocator.can_hold(1, tokens=65)
    assert allocator.can_hold(2, tokens=32) and not allocator.can_hold(2, tokens=33)
    assert allocator.used_blocks == 2  # asking changes nothing
