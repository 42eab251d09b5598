from __future__ import annotations

from scnn_surgery.errors import PrototxtSyntaxError, SurgeryError, UsageError


def test_syntax_error_is_file_line_column_and_one_line() -> None:
    err = PrototxtSyntaxError("net.prototxt", 3, 7, "expected ':' or '{' after field 'top'")
    assert str(err) == "net.prototxt:3:7: expected ':' or '{' after field 'top'"
    assert (err.line, err.column, err.exit_code) == (3, 7, 1)
    assert isinstance(err, SurgeryError)


def test_usage_errors_exit_2_like_click() -> None:
    assert UsageError("x").exit_code == 2
    assert SurgeryError("x").exit_code == 1
