"""Progress line: plain lines in pipes (no control characters), in-place redraw on a TTY."""

import io

from difftraffic.run.progress import ProgressLine, fmt_count, fmt_duration, fmt_num


def test_formatting():
    assert fmt_num(943.51234) == "943.5"
    assert fmt_num(-3.8e-10) == "-3.8e-10"
    assert fmt_num(float("nan")) == "n/a"
    assert fmt_count(950) == "950" and fmt_count(12345) == "12.3k" and fmt_count(1_024_000) == "1.02M"
    assert fmt_duration(12.34) == "12.3 s" and fmt_duration(125) == "2:05" and fmt_duration(3725) == "1:02:05"


def test_pipe_output_is_plain_and_sparse():
    buf = io.StringIO()
    line = ProgressLine(total_epochs=100, stream=buf, tty=False)
    for epoch in range(1, 101):
        line.update(epoch, epoch * 64, 1000.0, -1.0 / epoch, -0.01, alpha=1e-5 if epoch % 2 else None)
        if epoch == 50:
            line.message("  eval @ epoch 50: return -0.02")
    text = buf.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    progress = [ln for ln in lines if ln.startswith("epoch")]
    # the first epoch (early feedback), then every ceil(100 / 20) = 5 epochs, the last included
    assert [int(ln.split()[1].split("/")[0]) for ln in progress] == [1, *range(5, 101, 5)]
    assert progress[-1].startswith("epoch 100/100") and "ETA" in progress[-1]
    assert "  eval @ epoch 50: return -0.02" in lines
    assert "alpha 1e-05" in progress[0] and "alpha" not in progress[2]  # epochs 1 (odd) and 10 (even)


def test_tty_redraws_in_place_and_ends_with_newline():
    buf = io.StringIO()
    line = ProgressLine(total_epochs=3, stream=buf, tty=True)
    line.update(1, 64, 10.0, -5.0, -5.0)
    line.message("event")
    line.update(3, 192, 10.0, -4.0, -4.0)
    text = buf.getvalue()
    assert text.startswith("\repoch 1/3")
    assert "\r\x1b[Kevent\n" in text  # the progress line is erased before an event line
    assert text.endswith("\x1b[K\n")  # final redraw then newline


def test_quiet_prints_nothing():
    buf = io.StringIO()
    line = ProgressLine(total_epochs=3, stream=buf, quiet=True)
    line.update(3, 1, 1.0, 0.0, 0.0)
    line.message("x")
    assert buf.getvalue() == ""
