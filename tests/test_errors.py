from __future__ import annotations

import pickle

from scnn_surgery.errors import PrototxtSyntaxError, SurgeryError, SurgeryErrors, UsageError


def test_syntax_error_is_file_line_column_and_one_line() -> None:
    err = PrototxtSyntaxError("net.prototxt", 3, 7, "expected ':' or '{' after field 'top'")
    assert str(err) == "net.prototxt:3:7: expected ':' or '{' after field 'top'"
    assert (err.line, err.column, err.exit_code) == (3, 7, 1)
    assert isinstance(err, SurgeryError)


def test_usage_errors_exit_2_like_click() -> None:
    assert UsageError("x").exit_code == 2
    assert SurgeryError("x").exit_code == 1


def test_several_errors_are_one_line_each_and_one_string() -> None:
    error = SurgeryErrors(["a.prototxt:3:1: x", "a.prototxt:4:1: y", "b", "c", "d", "refused"])
    assert error.lines[-1] == "refused" and len(error.lines) == 6
    assert str(error) == "a.prototxt:3:1: x; a.prototxt:4:1: y; b; and 2 more; refused"
    again = pickle.loads(pickle.dumps(error))  # batch's workers send refusals back
    assert again.lines == error.lines and str(again) == str(error)
