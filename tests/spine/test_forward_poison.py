"""The poison watch (agent/forward_poison.py): which losses count, when it goes careful,
what it convicts and what ends the watch. Pure: losses and outcomes are fed by hand."""

from __future__ import annotations

from agent.forward_poison import CRAWL, MAX_FAMILIES, PoisonWatch, family


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


def test_more_than_a_crawl_of_outcomes_ends_the_series() -> None:
    watch = PoisonWatch()
    watch.lost(5, 40, silent=False)
    watch.lost(5, 40, silent=False)
    watch.settled(set(range(5, 5 + CRAWL - 1)))
    assert watch.tracked == 5  # a crawl: the series goes on
    watch.settled({99})  # CRAWL outcomes since the loss: a slow link that resets at random
    assert watch.tracked is None
    watch.lost(50, 40, silent=False)
    watch.lost(50, 40, silent=False)
    assert not watch.careful  # counting starts over: two strikes, not four
    watch.lost(50, 40, silent=False)
    assert watch.careful


def test_a_crawl_of_a_row_per_connection_still_counts() -> None:
    # A firewall that passes what precedes the poison: each connection gets the oldest
    # row or two through, so the oldest row is never the same twice.
    watch = PoisonWatch()
    watch.lost(5, 40, silent=False)
    watch.settled({5})
    watch.lost(6, 39, silent=False)
    watch.settled({6, 7})
    assert not watch.careful
    watch.lost(8, 37, silent=False)
    assert watch.careful and watch.tracked == 8


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


def _convict(watch: PoisonWatch, row: int, topic: str) -> None:
    """Three losses with ``row`` oldest, then twice alone on the wire (sent as the
    forwarder sends in careful mode)."""
    for _ in range(3):
        watch.lost(row, 10, silent=False)
    for _ in range(2):
        watch.sending(row, topic)
        convicted = watch.lost(row, 1, silent=False)
    assert convicted == row
    assert "sent alone twice, after 3 connection losses in a row" in watch.reason()


def test_topic_families_are_what_an_acl_names() -> None:
    assert family("events/elevator") == "events/elevator"
    assert family("telemetry/vitals") == "telemetry/vitals"
    assert family("snapshots/01a2-ev/3") == "snapshots"  # every snapshot, whatever event
    assert family("status") == "status"


def test_after_a_conviction_its_family_goes_alone_and_one_loss_convicts() -> None:
    watch = PoisonWatch()
    _convict(watch, 5, "snapshots/ev-1/1")
    assert watch.suspect("snapshots/ev-2/1") and not watch.suspect("events/elevator")
    assert not watch.careful  # nothing suspect on the wire yet: full speed
    watch.sending(9, "snapshots/ev-2/1")
    assert watch.careful  # nothing joins it on the wire
    assert watch.lost(9, 1, silent=False) == 9  # one reconnect, not five
    assert "(sent alone, after another publish on snapshots was set aside" in watch.reason()
    assert watch.suspect("snapshots/ev-3/1")


def test_a_suspect_answered_by_the_broker_clears_its_family() -> None:
    watch = PoisonWatch()
    _convict(watch, 5, "events/parking")
    watch.sending(9, "events/parking/x")
    watch.settled({9})  # delivered (or refused with a PUBACK): the ACL was fixed
    assert not watch.suspect("events/parking") and not watch.careful


def test_a_suspect_lost_to_silence_is_not_convicted_and_stays_suspect() -> None:
    watch = PoisonWatch()
    _convict(watch, 5, "events/parking")
    watch.sending(9, "events/parking")
    assert watch.lost(9, 1, silent=True) is None  # a deadline says nothing about row 9
    assert not watch.careful  # nothing is on the wire after a loss
    assert watch.suspect("events/parking")
    watch.sending(9, "events/parking")  # first, alone, on the next connection
    assert watch.lost(9, 1, silent=False) == 9


def test_a_family_conviction_leaves_another_rows_count_alone() -> None:
    watch = PoisonWatch()
    _convict(watch, 5, "events/parking")
    watch.lost(20, 10, silent=False)
    watch.lost(20, 10, silent=False)
    watch.sending(21, "events/parking")
    assert watch.lost(21, 1, silent=False) == 21
    assert watch.tracked == 20 and not watch.careful
    watch.lost(20, 10, silent=False)
    assert watch.careful  # its two strikes stood: this was the third


def test_an_alarm_of_a_suspect_family_needs_two_losses_alone() -> None:
    watch = PoisonWatch()
    _convict(watch, 5, "events/elevator")
    assert watch.watching is False
    watch.sending(9, "events/elevator", alarm=True)
    assert watch.watching  # its outcome must reach the watch
    assert watch.lost(9, 1, silent=False) is None  # an entrapment alarm: not on one loss
    watch.sending(9, "events/elevator", alarm=True)
    assert watch.lost(9, 1, silent=False) == 9
    assert "(an alarm sent alone twice, after another publish on events/elevator" in (
        watch.reason()
    )


def test_a_connection_that_ends_without_a_loss_leaves_nothing_out() -> None:
    watch = PoisonWatch()
    _convict(watch, 5, "events/parking")
    watch.sending(9, "events/parking")
    assert watch.careful
    watch.ended()  # an outbox error ended the pump, say: no loss recorded
    assert not watch.careful and watch.suspect("events/parking")


def test_suspect_families_are_bounded() -> None:
    watch = PoisonWatch()
    for n in range(MAX_FAMILIES + 5):
        _convict(watch, n, f"events/c{n}")
    assert len(watch.families) == MAX_FAMILIES
    assert not watch.suspect("events/c0") and watch.suspect(f"events/c{MAX_FAMILIES + 4}")
