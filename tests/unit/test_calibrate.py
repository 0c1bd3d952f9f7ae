"""The calibration the gate divides by: positive, and measured on one thread whatever the
machine lends the run."""

from threadpoolctl import threadpool_info

from mfbench import calibrate


def test_calibration_runs_its_blas_part_on_one_thread(monkeypatch):
    seen = []
    numpy_part = calibrate._numpy_part

    def spy(rng):
        seen.append([i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"])
        return numpy_part(rng)

    monkeypatch.setattr(calibrate, "_numpy_part", spy)
    seconds = calibrate.calibration_seconds(rounds=2)
    assert seconds > 0
    assert len(seen) == 2 and all(counts and set(counts) == {1} for counts in seen)


def test_a_run_keeps_the_faster_of_a_calibration_before_and_after_its_cells(monkeypatch, tmp_path):
    """A burst of slowness during one calibration must not scale every cell of the run."""
    import mfbench
    import mfbench.calibrate as calibrate
    from mfbench.results import read_environment

    times = iter([0.376, 0.133])
    monkeypatch.setattr(calibrate, "calibration_seconds", lambda: next(times))
    res = mfbench.run(
        ["biases"], ["synthetic"], data_params={"synthetic": {"n_ratings": 2000}}, out=tmp_path, executor="inline"
    )
    env = read_environment(res.path)
    assert env["calibration_seconds"] == 0.133 and env["calibration_runs"] == [0.376, 0.133]
