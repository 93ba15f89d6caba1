from shared.operations import final_status


def test_all_succeeded_is_completed() -> None:
    assert final_status({"succeeded": 3, "failed": 0}) == "completed"


def test_some_failed_is_completed_with_errors() -> None:
    assert final_status({"succeeded": 2, "failed": 1}) == "completed_with_errors"


def test_all_failed_is_failed() -> None:
    assert final_status({"succeeded": 0, "failed": 2}) == "failed"


def test_cancelled_items_make_it_cancelled() -> None:
    assert final_status({"succeeded": 2, "failed": 0, "cancelled": 3}) == "cancelled"


def test_a_cancel_that_stopped_nothing_leaves_the_real_outcome() -> None:
    assert final_status({"succeeded": 1, "failed": 0, "cancelled": 0}) == "completed"
