

def test_merge_does_not_pile_up_provenance_counts():
    from hivemind_kafka.streams.codifier.dedup import merge_bodies

    old = "Learned from 2 session(s) in web.\n\n## When a command fails\n\nThis worked:\n```\nmake check\n```\n"
    new = "Learned from 5 session(s) in web.\n\n## When a command fails\n\nThis worked:\n```\nmake lint\n```\n"
    merged = merge_bodies(old, new, max_chars=4000)
    assert merged.count("Learned from") == 1 and "make lint" in merged
