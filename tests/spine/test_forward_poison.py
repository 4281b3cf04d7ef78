"""The poison watch (agent/forward_poison.py): which losses count, when it goes careful,
what it convicts and what ends the watch. Pure: losses and outcomes are fed by hand."""

from __future__ import annotations

from agent.forward_poison import PoisonWatch


def test_three_losses_on_the_same_row_then_two_with_it_alone_on_the_wire_convict() -> None:
    watch = PoisonWatch()
    assert watch.lost(5, 40, silent=False) is None
    assert watch.lost(5, 40, silent=False) is None
    assert not watch.careful
    assert watch.lost(5, 40, silent=False) is None
    assert watch.careful  # one message at a time from here
    watch.settled({5})  # the tracked row itself goes through alone: not the culprit
    watch.settled({6})
    assert watch.lost(7, 1, silent=False) is None  # row 7 alone on the wire: once
    assert watch.careful
    assert watch.lost(7, 1, silent=False) == 7  # and again, first on the next connection
    assert not watch.careful and watch.tracked is None


def test_a_silent_broker_is_not_a_poison_message() -> None:
    watch = PoisonWatch()
    for _ in range(10):  # publish deadlines: the link or the broker went quiet
        assert watch.lost(5, 40, silent=True) is None
    assert not watch.careful and watch.tracked is None


def test_progress_past_the_tracked_row_ends_the_watch() -> None:
    watch = PoisonWatch()
    watch.lost(5, 40, silent=False)
    watch.lost(5, 40, silent=False)
    watch.settled({5, 6, 7})  # delivered after all: a flaky link
    assert watch.tracked is None
    watch.lost(9, 40, silent=False)
    watch.lost(9, 40, silent=False)
    assert not watch.careful  # counting starts over with the new row


def test_a_different_oldest_row_restarts_the_count() -> None:
    watch = PoisonWatch()
    watch.lost(5, 40, silent=False)
    watch.lost(5, 40, silent=False)
    watch.lost(6, 40, silent=False)
    assert not watch.careful and watch.tracked == 6


def test_careful_mode_ends_after_twice_the_messages_that_were_on_the_wire() -> None:
    watch = PoisonWatch()
    for _ in range(3):
        watch.lost(5, 3, silent=False)
    for row in range(5, 10):
        assert watch.careful
        watch.settled({row})
    watch.settled({10})
    assert not watch.careful and watch.tracked is None  # six outcomes, no loss


def test_a_loss_in_careful_mode_with_more_than_one_open_convicts_nothing() -> None:
    watch = PoisonWatch()
    for _ in range(3):
        watch.lost(5, 3, silent=False)
    assert watch.lost(5, 2, silent=False) is None
    assert watch.careful
    assert watch.lost(5, 1, silent=True) is None  # a deadline: still nothing
    assert watch.lost(5, 1, silent=False) is None
    assert watch.lost(5, 1, silent=False) == 5


def test_a_link_that_resets_at_random_convicts_nothing() -> None:
    watch = PoisonWatch()
    for _ in range(3):
        watch.lost(5, 40, silent=False)
    assert watch.lost(5, 1, silent=False) is None  # the reset hit row 5 alone
    watch.settled({5})  # the next connection got it through
    assert watch.lost(6, 1, silent=False) is None  # a reset hit row 6: not the same row
    assert watch.careful and watch.tracked == 5


def test_an_outcome_for_the_lone_message_starts_its_count_again() -> None:
    watch = PoisonWatch()
    for _ in range(3):
        watch.lost(5, 40, silent=False)
    assert watch.lost(5, 1, silent=False) is None
    watch.settled({5})  # refused for now (0x97) or delivered: not the culprit
    assert watch.lost(5, 1, silent=False) is None  # one loss with it alone, not two
    assert watch.lost(5, 1, silent=False) == 5
