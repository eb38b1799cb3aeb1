"""The per-process cache of rows that never change: bounded, the newest kept."""

from segmentation.readcache import WriteOnceCache


def test_past_its_bound_the_cache_drops_the_older_half_and_keeps_the_newest() -> None:
    cache: WriteOnceCache[int, str] = WriteOnceCache(limit=4)
    for key in range(4):
        cache.put(key, f"value {key}")
    assert [cache.get(key) for key in range(4)] == ["value 0", "value 1", "value 2", "value 3"]

    cache.put(4, "value 4")

    assert len(cache) == 3
    assert [cache.get(key) for key in range(5)] == [None, None, "value 2", "value 3", "value 4"]
