"""Library errors name settings as keyword arguments; the CLI renders the same error with flags."""
from ot_gan.errors import InputError, cli_setting


def test_a_setting_reads_as_python_in_the_library_and_as_a_flag_on_the_command_line():
    err = InputError("{path}: {batch_size} is odd; pass {overwrite} or use {method}",
                     batch_size=3, overwrite=True, method="maxal")
    assert str(err) == "{path}: batch_size=3 is odd; pass overwrite=True or use method='maxal'"
    assert err.render(cli_setting) == "{path}: --batch-size 3 is odd; pass --overwrite or use --method maxal"
