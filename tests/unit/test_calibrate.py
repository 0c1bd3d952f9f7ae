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
