import os
import signal

import pytest

from ot_gan.interrupt import stop_on_signals


def test_first_signal_requests_a_stop_second_quits_and_handlers_come_back(capsys):
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with stop_on_signals("stopping") as stop:
            assert not stop.requested
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.requested  # no exception: the loop decides when to stop
            os.kill(os.getpid(), signal.SIGTERM)  # a second request, of either kind, quits
    assert "stopping" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before
