from shared.operations import final_status


def test_all_succeeded_is_completed() -> None:
    assert final_status({"succeeded": 3, "failed": 0}, cancel_requested=False) == "completed"


def test_some_failed_is_completed_with_errors() -> None:
    assert (
        final_status({"succeeded": 2, "failed": 1}, cancel_requested=False)
        == "completed_with_errors"
    )


def test_all_failed_is_failed() -> None:
    assert final_status({"succeeded": 0, "failed": 2}, cancel_requested=False) == "failed"


def test_a_cancel_request_wins() -> None:
    assert final_status({"succeeded": 2, "failed": 0}, cancel_requested=True) == "cancelled"
