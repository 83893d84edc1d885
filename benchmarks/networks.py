"""Cost of the paper's networks on this machine: Table A.3 of Wang et al. (ICLR 2020) and cheap sampling.

Parts, each timed with the compared variants taking turns within every repeat (so both see the same load)
and reported as medians, at batch size 1 in eval mode under ``torch.no_grad()``:

1. pix2pix ResNet-9 generator against its BasisGAN version (the second conv of each residual block
   stochastic): per-image test time at 256x256, parameters, and peak training memory of one
   generator + discriminator step.
2. pix2pixHD global generator (36 input channels, as on Cityscapes) plain and BasisGAN: time at 1024x512
   and parameters, and training memory when enough memory is free (``--no-pix2pixhd-memory`` skips it).
3. 10 samples per input with ``sample()`` (the deterministic prefix once, the rest in chunks of rows)
   against 10 full forward passes, for the BasisGAN ResNet-9 and a U-Net with a stochastic outermost
   decoder level; a single forward on the input repeated 10 times separates batching from prefix sharing.
4. Filter generation (section 3 of the paper, :class:`bgan_lightning.nn.FilterGeneratorConv2d`) against
   basis generation in the ResNet-9 generator: parameters and time.

Training memory is measured in a fresh process per network that builds the generator, the discriminator
and their Adam optimizers and runs one training step (generator forward, discriminator step on real and fake
pairs, generator step with GAN + 100 x L1 for pix2pix or LSGAN + feature matching for pix2pixHD, no VGG
loss). It covers weights, gradients, optimizer state and activations, as the GPU numbers of the paper do, and
is taken two ways, each in its own process:

- tensors: the peak of the bytes held by torch tensors, from the profiler's allocation records
  (:func:`benchmarks.profiling.peak_allocated_bytes`). It is exact and the same on every run, like
  ``torch.cuda.max_memory_allocated`` on a GPU, and the goal is judged on it.
- process: the peak resident set size (``ru_maxrss``) minus the resident size after importing torch. It also
  includes allocator caches and fragmentation, so it moves by tens of MB between runs.

Usage:
    python -m benchmarks.networks            # full: 256x256 and 1024x512, 10-20 minutes on 2 busy cores
    python -m benchmarks.networks --quick    # about 60 s of CPU time: fewer repeats, smaller labeled shapes
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.profiling import peak_allocated_bytes
from bgan_lightning.losses import adversarial_loss, feature_matching_loss
from bgan_lightning.networks import (
    GlobalGenerator,
    MultiscaleDiscriminator,
    NLayerDiscriminator,
    ResnetGenerator,
    StagedGenerator,
    UnetGenerator,
)
from bgan_lightning.networks.sampling import is_stochastic
from bgan_lightning.nn import stochastic_modules

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "benchmarks" / "results" / "networks.md"
NUM_SAMPLES = 10
# Table A.3 of Wang et al. (ICLR 2020), GTX 1080 Ti: (seconds per test image, training MB, parameters).
PAPER = {
    "pix2pix": (0.01017, 1465, 11_330_243),
    "basisgan": (0.01025, 1439, 10_261_763),
    "pix2pixhd": (0.0299, 8145, 182_546_755),
    "pix2pixhd-basisgan": (0.0324, 8137, 154_378_051),
}
# Ways of measuring training memory, see the module docstring; the goal is judged on the first.
MEMORY_MEASURES = ("tensors", "process")
TABLE_HEADER = (
    "| generator | s / image | parameters | training MB, tensors | training MB, process | paper: s / image "
    "| paper: MB | paper: parameters |"
)
# Free memory needed before the pix2pixHD training step is measured. Its processes run one at a time, and
# at 1024x512 one peaked at a 4.7 GB resident size on the machine of BENCHMARKS.md.
PIX2PIXHD_MEMORY_NEEDED_GB = 8

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- networks
def build(name: str) -> tuple[nn.Module, nn.Module, int]:
    """Return (generator, discriminator, condition channels) of a Table A.3 row."""
    if name in ("pix2pix", "basisgan"):
        stochastic = "alternate" if name == "basisgan" else "off"
        return ResnetGenerator(3, 3, 64, 9, "instance", stochastic=stochastic), NLayerDiscriminator(6), 3
    if name in ("pix2pixhd", "pix2pixhd-basisgan"):
        stochastic = "alternate" if name == "pix2pixhd-basisgan" else "off"
        generator = GlobalGenerator(36, 3, stochastic=stochastic)
        return generator, MultiscaleDiscriminator(39, num_D=2, norm="instance"), 36
    raise ValueError(f"Unknown network {name!r}; expected one of {tuple(PAPER)}.")


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---------------------------------------------------------------------------------------------- memory
def current_rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def training_step(name: str, height: int, width: int) -> None:
    """Build a Table A.3 row's networks with Adam optimizers and run one generator + discriminator step."""
    torch.manual_seed(0)
    generator, discriminator, input_nc = build(name)
    opt_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    condition = torch.rand(1, input_nc, height, width) * 2 - 1
    target = torch.rand(1, 3, height, width) * 2 - 1
    hd = name.startswith("pix2pixhd")
    gan_mode = "lsgan" if hd else "vanilla"

    fake = generator(condition)
    opt_d.zero_grad()
    real_out = discriminator(torch.cat([condition, target], 1))
    fake_out = discriminator(torch.cat([condition, fake.detach()], 1))
    d_loss = 0.5 * (adversarial_loss(real_out, True, gan_mode) + adversarial_loss(fake_out, False, gan_mode))
    d_loss.backward()
    opt_d.step()

    opt_g.zero_grad()
    fake_out = discriminator(torch.cat([condition, fake], 1))
    g_loss = adversarial_loss(fake_out, True, gan_mode, for_discriminator=False)
    if hd:
        with torch.no_grad():
            real_out = discriminator(torch.cat([condition, target], 1))
        g_loss = g_loss + 10 * feature_matching_loss(fake_out, real_out)
    else:
        g_loss = g_loss + 100 * F.l1_loss(fake, target)
    g_loss.backward()
    opt_g.step()


def memory_child(name: str, height: int, width: int, measure: str) -> None:
    """Run :func:`training_step` in this (fresh) process and print its peak memory in MB as JSON.

    Args:
        name: Table A.3 row.
        height: Input height.
        width: Input width.
        measure: ``"tensors"`` (profiler allocation records) or ``"process"`` (resident set size).
    """
    if measure == "tensors":
        peak = peak_allocated_bytes(lambda: training_step(name, height, width)) / 2**20
    else:
        baseline = current_rss_mb()
        training_step(name, height, width)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - baseline  # kB on Linux
    print(json.dumps({"training_mb": peak}))


def training_memory_mb(names: list[str], height: int, width: int, parallel: bool = True) -> dict[str, dict[str, float]]:
    """Measure :func:`memory_child` both ways for each network, each in its own fresh interpreter.

    Each process reports its own peak, so running them side by side changes their speed but not the numbers.

    Args:
        names: Table A.3 rows.
        height: Input height.
        width: Input width.
        parallel: Run all processes at once; False runs one at a time, for networks that need several GB.

    Returns:
        Network name to {measure: MB} for the measures in ``MEMORY_MEASURES``.
    """
    jobs = [(name, measure) for name in names for measure in MEMORY_MEASURES]
    memory: dict[str, dict[str, float]] = {name: {} for name in names}
    for batch in [jobs] if parallel else [[job] for job in jobs]:
        processes = {
            (name, measure): subprocess.Popen(
                [sys.executable, "-m", "benchmarks.networks", "--memory-child", name, str(height), str(width), measure],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                text=True,
            )
            for name, measure in batch
        }
        for (name, measure), process in processes.items():
            stdout, _ = process.communicate()
            if process.returncode != 0:
                raise RuntimeError(
                    f"The {measure} memory measurement of {name} failed with exit code {process.returncode}."
                )
            memory[name][measure] = json.loads(stdout.strip().splitlines()[-1])["training_mb"]
    return memory


def available_memory_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable"):
            return int(line.split()[1]) / 2**20
    return 0.0


# ---------------------------------------------------------------------------------------------- timing
def interleaved_times(calls: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of every repeat of each call, the calls taking turns (order reversed every other repeat)."""
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    with torch.no_grad():
        for _ in range(warmup):
            for name in names:
                calls[name]()
        for repeat in range(repeats):
            for name in names if repeat % 2 == 0 else reversed(names):
                start = time.perf_counter()
                calls[name]()
                times[name].append(time.perf_counter() - start)
    return times


def interleaved_medians(calls: dict[str, Callable[[], object]], repeats: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each call over :func:`interleaved_times`."""
    times = interleaved_times(calls, repeats, warmup)
    return {name: statistics.median(values) for name, values in times.items()}


def prefix_share(generator: StagedGenerator, x: torch.Tensor) -> float:
    """Return the share of convolution multiply-accumulates in the stages before the first stochastic stage."""
    counts = {"prefix": 0, "total": 0}
    prefix = {"open": True}

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        kh, kw = module.kernel_size
        if isinstance(module, nn.ConvTranspose2d) or "Transpose" in type(module).__name__:
            macs = inputs[0][0].numel() * module.out_channels * kh * kw
        else:
            macs = output[0].numel() * module.in_channels * kh * kw
        counts["total"] += macs
        if prefix["open"]:
            counts["prefix"] += macs

    handles = [
        module.register_forward_hook(hook)
        for module in generator.modules()
        if hasattr(module, "kernel_size") and hasattr(module, "in_channels")
    ]
    try:
        state = x
        with torch.no_grad():
            for stage in generator.stages():
                if is_stochastic(stage):
                    prefix["open"] = False
                state = stage.run(state)
    finally:
        for handle in handles:
            handle.remove()
    return counts["prefix"] / counts["total"]


def compute_paths(generator: nn.Module) -> str:
    """Name the compute paths that the stochastic layers took last (their ``auto`` choice, if any)."""
    paths = sorted({str(getattr(module, "last_compute", None)) for _, module in stochastic_modules(generator)})
    return ", ".join(paths) if paths else "-"


def memory_cells(memory: dict[str, float]) -> str:
    """Format one network's training memory as the cells "tensors MB | process MB", or dashes if not measured."""
    return " | ".join(f"{memory[measure]:,.0f}" if measure in memory else "-" for measure in MEMORY_MEASURES)


def verdict(value: float, goal: float) -> str:
    return "yes" if value <= goal else "no"


# ---------------------------------------------------------------------------------------------- parts
def table_a3(quick: bool) -> list[str]:
    lines = ["### Table A.3: pix2pix ResNet-9 and its BasisGAN version", ""]
    torch.manual_seed(0)
    networks = {name: build(name)[0].eval() for name in ("pix2pix", "basisgan")}
    # The same BasisGAN weights with every stochastic conv forced to one grouped convolution, which at
    # batch size 1 is a plain convolution with freshly built filters.
    networks["basisgan-grouped"] = build("basisgan")[0].eval()
    networks["basisgan-grouped"].load_state_dict(networks["basisgan"].state_dict())
    for _, module in stochastic_modules(networks["basisgan-grouped"]):
        module.compute = "grouped"
    size = 128 if quick else 256
    x = torch.rand(1, 3, size, size) * 2 - 1
    repeats = 2 if quick else 15
    all_times = interleaved_times({name: (lambda g=g: g(x)) for name, g in networks.items()}, repeats)
    times = {name: statistics.median(values) for name, values in all_times.items()}
    best = {name: min(values) for name, values in all_times.items()}
    params = {name: count_parameters(g) for name, g in networks.items()}
    paths = compute_paths(networks["basisgan"])
    del networks
    memory_size = 64 if quick else size
    memory = training_memory_mb(["pix2pix", "basisgan"], memory_size, memory_size)

    shape = f"{size}x{size}" + (" (smaller than the paper's 256x256 in --quick)" if quick else "")
    lines += [
        f"{shape}, batch 1, median of {repeats} interleaved repeats; memory of one G+D training step at "
        f"{memory_size}x{memory_size} (pix2pix PatchGAN discriminator, batch norm, 6 input channels).",
        "",
        TABLE_HEADER,
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, label in (("pix2pix", "pix2pix ResNet-9"), ("basisgan", "BasisGAN ResNet-9")):
        paper = PAPER[name]
        lines.append(
            f"| {label} | {times[name]:.3f} | {params[name]:,} | {memory_cells(memory[name])} | "
            f"{paper[0]} | {paper[1]:,} | {paper[2]:,} |"
        )
    time_ratio = times["basisgan"] / times["pix2pix"]
    param_ratio = params["basisgan"] / params["pix2pix"]
    memory_ratio = memory["basisgan"]["tensors"] / memory["pix2pix"]["tensors"]
    process_ratio = memory["basisgan"]["process"] / memory["pix2pix"]["process"]
    grouped_ratio = times["basisgan-grouped"] / times["pix2pix"]
    lines += [
        "",
        "| ratio BasisGAN / pix2pix | here | paper | goal | met |",
        "|---|---|---|---|---|",
        f"| time (medians) | {time_ratio:.3f} | {0.01025 / 0.01017:.3f} | <= 1.02 | {verdict(time_ratio, 1.02)} |",
        f"| time (fastest repeats) | {best['basisgan'] / best['pix2pix']:.3f} | - | - | - |",
        f"| parameters | {param_ratio:.3f} | {10_261_763 / 11_330_243:.3f} | <= 0.91 | {verdict(param_ratio, 0.91)} |",
        f"| training memory (tensors) | {memory_ratio:.3f} | {1439 / 1465:.3f} | <= 1.0 "
        f"| {verdict(memory_ratio, 1.0)} |",
        f"| training memory (process) | {process_ratio:.3f} | {1439 / 1465:.3f} | - | - |",
        "",
        "Training memory is given as the tensors' peak and as the process's peak resident size (see the module "
        "docstring of `benchmarks/networks.py`). The goal is judged on the tensors' peak, which does not move "
        "between runs.",
        "",
        "The fastest repeats show the cost with the least interference from other processes. Each stochastic "
        "conv builds a fresh 256x256x3x3 filter bank per image (under a millisecond on this CPU, see the layer "
        "benchmark), which is about 1% of the BasisGAN generator's time over its 9 stochastic convs.",
        "",
        f"Compute path of the stochastic convs (chosen by `bgan_lightning.nn` at the first call): {paths}. "
        f"With every stochastic conv forced to the grouped path the BasisGAN generator takes "
        f"{times['basisgan-grouped']:.3f} s per image, a time ratio of {grouped_ratio:.3f}.",
        "",
    ]
    return lines


def pix2pixhd(quick: bool, with_memory: bool = True) -> list[str]:
    height, width = (128, 256) if quick else (512, 1024)
    repeats = 1
    shape = f"{width}x{height}" + (" (smaller than the paper's 1024x512 in --quick)" if quick else "")
    lines = [f"### pix2pixHD global generator, {shape}", ""]
    torch.manual_seed(0)
    networks = {name: build(name)[0].eval() for name in ("pix2pixhd", "pix2pixhd-basisgan")}
    x = torch.rand(1, 36, height, width) * 2 - 1
    calls = {name: (lambda g=g: g(x)) for name, g in networks.items()}
    times = interleaved_medians(calls, repeats, warmup=0 if quick else 1)
    params = {name: count_parameters(g) for name, g in networks.items()}
    paths = compute_paths(networks["pix2pixhd-basisgan"])
    del networks, calls

    free_gb = available_memory_gb()
    if not with_memory or free_gb < PIX2PIXHD_MEMORY_NEEDED_GB:
        reason = "not measured (--no-pix2pixhd-memory)" if not with_memory else f"skipped: {free_gb:.1f} GB free"
        memory = dict.fromkeys(params, {})
    else:
        reason = ""
        memory = training_memory_mb(list(params), height, width, parallel=False)

    lines += [
        f"36 input channels (Cityscapes labels and instance edges), 4 downsamplings, 9 blocks, batch 1, "
        f"median of {repeats} interleaved repeats. Training memory: {reason or 'one G+D step, 2-scale discriminator'}.",
        "",
        TABLE_HEADER,
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, label in (("pix2pixhd", "pix2pixHD"), ("pix2pixhd-basisgan", "pix2pixHD BasisGAN")):
        paper = PAPER[name]
        lines.append(
            f"| {label} | {times[name]:.3f} | {params[name]:,} | {memory_cells(memory[name])} | {paper[0]} | "
            f"{paper[1]:,} | {paper[2]:,} |"
        )
    lines += [
        "",
        f"Time ratio BasisGAN / plain: {times['pix2pixhd-basisgan'] / times['pix2pixhd']:.3f} "
        f"(paper {0.0324 / 0.0299:.3f}); parameter ratio {params['pix2pixhd-basisgan'] / params['pix2pixhd']:.3f} "
        f"(paper {154_378_051 / 182_546_755:.3f}). Compute path of the stochastic convs: {paths}.",
        "",
    ]
    if memory["pix2pixhd"]:
        ratio = memory["pix2pixhd-basisgan"]["tensors"] / memory["pix2pixhd"]["tensors"]
        lines[-1:-1] = [
            "",
            f"Training memory ratio BasisGAN / plain (tensors): {ratio:.3f} (paper {8137 / 8145:.3f}).",
        ]
    return lines


def sampling(quick: bool) -> list[str]:
    size = 64 if quick else 256
    repeats = 1 if quick else 2
    shape = f"{size}x{size}" + (" (smaller than 256x256 in --quick)" if quick else "")
    lines = [
        f"### {NUM_SAMPLES} samples per input: `sample()` against {NUM_SAMPLES} forward passes, {shape}",
        "",
        f"Median of {repeats} interleaved repeats. `sample()` computes the layers before the first stochastic "
        f"layer once and the rest in chunks of rows: by default as many rows as inputs on the CPU (here 1), "
        f'and all {NUM_SAMPLES} rows at once on other devices. The column "sample(), one batch" forces all '
        f"{NUM_SAMPLES} rows at once, and the batched forward runs the whole network on the input repeated "
        f"{NUM_SAMPLES} times, which shows what batching alone gains or costs on this machine.",
        "",
        "The prefix share is the fraction of convolution multiply-accumulates before the first stochastic layer, "
        f"p; sharing the prefix alone can at best bring the ratio to p / {NUM_SAMPLES} + (1 - p) when batching "
        "gains nothing.",
        "",
        f"| generator | {NUM_SAMPLES} forwards (s) | batched forward (s) | sample(), one batch (s) | sample() (s) "
        "| sample / forwards | prefix share p | bound from sharing | goal | met |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    torch.manual_seed(0)
    num_downs = 6 if quick else 8
    generators = {
        "BasisGAN ResNet-9": ResnetGenerator(3, 3, 64, 9, "instance", stochastic="alternate"),
        f"BasisGAN U-Net ({num_downs} levels), stochastic outermost decoder": UnetGenerator(
            3, 3, num_downs, 64, stochastic_levels=(0,)
        ),
    }
    x = torch.rand(1, 3, size, size) * 2 - 1
    repeated = x.repeat(NUM_SAMPLES, 1, 1, 1)
    for label, generator in generators.items():
        generator.eval()
        with torch.no_grad():
            # Every shape that the three variants use, once, before the clock starts.
            generator(x)
            generator(repeated)
        calls = {
            "forwards": lambda g=generator: [g(x) for _ in range(NUM_SAMPLES)],
            "batched": lambda g=generator: g(repeated),
            "sample_one_batch": lambda g=generator: g.sample(x, NUM_SAMPLES, seed=0, chunk_size=NUM_SAMPLES),
            "sample": lambda g=generator: g.sample(x, NUM_SAMPLES, seed=0),
        }
        times = interleaved_medians(calls, repeats, warmup=0)
        ratio = times["sample"] / times["forwards"]
        share = prefix_share(generator, x)
        bound = share / NUM_SAMPLES + (1 - share)
        lines.append(
            f"| {label} | {times['forwards']:.2f} | {times['batched']:.2f} | {times['sample_one_batch']:.2f} | "
            f"{times['sample']:.2f} | "
            f"{ratio:.3f} | {share:.3f} | {bound:.3f} | <= 0.75 | {verdict(ratio, 0.75)} |"
        )
    lines.append("")
    return lines


def filter_generation(quick: bool) -> list[str]:
    size = 64 if quick else 256
    repeats = 1 if quick else 3
    shape = f"{size}x{size}" + (" (smaller than 256x256 in --quick)" if quick else "")
    lines = [f"### Filter generation against basis generation in ResNet-9, {shape}", ""]
    torch.manual_seed(0)
    generators = {
        "basis generation (K = 7)": ResnetGenerator(stochastic="alternate"),
        "filter generation": ResnetGenerator(stochastic="alternate", stochastic_layer="filter"),
    }
    x = torch.rand(1, 3, size, size) * 2 - 1
    for generator in generators.values():
        generator.eval()
    times = interleaved_medians({name: (lambda g=g: g(x)) for name, g in generators.items()}, repeats)
    lines += [
        f"Both with the second conv of each of the 9 residual blocks stochastic, latent and hidden size 64; batch 1, "
        f"median of {repeats} interleaved repeats.",
        "",
        "| stochastic layer | parameters | s / image |",
        "|---|---|---|",
    ]
    for name, generator in generators.items():
        lines.append(f"| {name} | {count_parameters(generator):,} | {times[name]:.3f} |")
    lines.append("")
    return lines


# ---------------------------------------------------------------------------------------------- report
def machine() -> str:
    name = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            name = line.split(":", 1)[1].strip()
            break
    cores = len(os.sched_getaffinity(0))
    return (
        f"Machine: {name}, {cores} cores visible, {torch.get_num_threads()} torch threads, "
        f"Python {platform.python_version()}, torch {torch.__version__}, {platform.system()} {platform.release()}."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller shapes where labeled")
    parser.add_argument(
        "--no-pix2pixhd-memory",
        dest="pix2pixhd_memory",
        action="store_false",
        help="skip the pix2pixHD training memory (about 2 minutes at 1024x512 on 2 cores)",
    )
    parser.add_argument(
        "--memory-child", nargs=4, metavar=("NAME", "HEIGHT", "WIDTH", "MEASURE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.memory_child:
        name, height, width, measure = args.memory_child
        memory_child(name, int(height), int(width), measure)
        return 0
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    start = time.perf_counter()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines = ["## Networks", "", machine(), f"Load average at the start: {load} (1, 5, 15 min).", ""]
    command = "python -m benchmarks.networks" + (" --quick" if args.quick else "")
    lines += [f"`{command}`; memory is measured as the module docstring of `benchmarks/networks.py` states.", ""]
    parts = (table_a3, lambda quick: pix2pixhd(quick, args.pix2pixhd_memory), sampling, filter_generation)
    for part in parts:
        part_start = time.perf_counter()
        lines += part(args.quick)
        log.info("part took %.0f s", time.perf_counter() - part_start)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines.append(
        f"Total run time {time.perf_counter() - start:.0f} s; load average at the end {load} (1, 5, 15 min) on "
        f"{len(os.sched_getaffinity(0))} cores. Under a load above the core count absolute times are inflated and "
        "single timings noisy; the interleaved ratios are the numbers to read."
    )

    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text("\n".join(lines) + "\n")
    log.info("wrote %s", OUTPUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
