"""``@atoll_command`` is atoll's own option, checked like every field tmux hands back: a
multi-line or huge argv must still give a value that passes (else the session would list as
``unknown``, as a ``python3 -c`` daemon test showed after the bounds landed)."""

from atoll.core.display import COMMAND_CAP, command_label


def test_control_characters_are_escaped_into_one_line() -> None:
    label = command_label(["python3", "-c", "import os\nos.fork()\t# x"])
    assert label == "python3 -c 'import os\\nos.fork()\\t# x'"
    assert label.isprintable()


def test_a_huge_command_is_cut_to_the_field_cap() -> None:
    label = command_label(["echo", "\u00e9" * 5000])
    assert len(label.encode()) <= COMMAND_CAP and label.endswith("...")
