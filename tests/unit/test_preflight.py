"""preflight: a cluster-mode run's settings checked on the client (pure logic: no JVM here)."""

from __future__ import annotations

import pytest

from mediaextract import preflight
from mediaextract.errors import BadInput


def test_the_settings_arguments_are_picked_out_of_a_jobs_arguments():
    argv = ["--conf", "prod.yaml", "--output", "out/x", "--set", "wiki.id=w", "--set=catalog.partitions=2",
            "--verbose", "hdfs:///user/me/lists/"]
    assert preflight.settings_args(argv) == ("prod.yaml", ["wiki.id=w", "catalog.partitions=2"])


def test_a_bad_setting_is_refused_with_its_one_line(capsys):
    assert preflight.main(["--set", "catalog.partitions=0", "lists/"]) == 2
    assert capsys.readouterr().out.splitlines() == [
        "mediaextract: error: setting catalog.partitions must be a whole number of at least 1, not 0"]


def test_a_plain_secrets_file_is_left_to_the_node_the_driver_runs_on(tmp_path):
    # Not on this machine, and not read: it is a file of the container's node.
    preflight.check(["--set", f"secrets_file={tmp_path / 'absent.yaml'}"])


def test_a_secret_in_the_settings_is_refused_before_submitting():
    with pytest.raises(BadInput, match="is a secret"):
        preflight.check(["--set", "catalog.password=p"])


def test_a_job_option_without_its_value_is_one_line_not_argparses_usage(capsys):
    assert preflight.main(["lists/", "--set"]) == 2
    assert capsys.readouterr().out.splitlines() == ["mediaextract: error: argument --set: expected one argument"]


def test_files_is_catalog_files_as_the_job_takes_it():
    assert preflight.settings_args(["--files", "live", "lists/"]) == (None, ["catalog.files=live"])
