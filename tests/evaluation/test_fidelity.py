"""The fidelity protocol: patches, per-block metrics, seeds, unavailable methods, summaries, training coverage."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import scipy.io
import torch
from block_factory import make_block

from nmflowgan_aug.evaluation.fidelity import (
    METRICS,
    NOISE_STATS,
    Method,
    NotAvailable,
    block_metrics,
    blocks_from_mat,
    evaluate,
    official_patches,
    plot_block_ids,
    sample_seed,
    summarize,
    to_8bit,
    training_support,
)
from nmflowgan_aug.metrics import (
    akld,
    kld_block,
    kld_official,
    nlf_error,
    noise_autocorrelation,
    noise_cross_correlation,
    noise_std,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_official_patches_cut_after_sampling():
    x = torch.arange(256 * 256, dtype=torch.float32).view(1, 1, 256, 256).expand(1, 3, 256, 256) / 65536
    patches = official_patches(x)
    assert patches.shape == (36, 3, 96, 96)  # positions 0, 48, 96, 144, 160, 160 per axis
    assert torch.equal(patches[1], x[0, :, 0:96, 48:144])
    assert torch.equal(patches[-1], x[0, :, 160:256, 160:256])


def test_block_metrics_score_the_8bit_output_and_the_float_output():
    b = make_block("x", "GP", 800, 8, seed=0)
    g = torch.Generator().manual_seed(0)
    fake = (b.clean + 0.02 * torch.randn(b.clean.shape, generator=g)).clamp(0, 1)  # continuous, not 8-bit
    got = block_metrics(b.noisy_u8, fake, b.clean_u8)
    assert set(got) == {*METRICS, *NOISE_STATS}
    fake8 = to_8bit(fake)
    assert fake8.dtype == torch.uint8 and torch.equal(fake8, (fake * 255).round().to(torch.uint8))
    real, clean = b.noisy_u8, b.clean_u8
    assert got["kld_block"] == pytest.approx(float(kld_block(real, fake8, clean)[0]))
    assert got["kld_block_float"] == pytest.approx(float(kld_block(real, fake, clean)[0]))
    assert got["kld_block"] != pytest.approx(got["kld_block_float"], abs=1e-3)  # rounding changes the KLD
    assert got["akld"] == pytest.approx(float(akld(real, fake8, clean)[0]))
    patches = [official_patches(t) for t in (real, fake8, clean)]
    assert got["kld_official"] == pytest.approx(float(kld_official(*patches).mean()))
    float_patches = [official_patches(t) for t in (real, fake, clean)]
    assert got["kld_official_float"] == pytest.approx(float(kld_official(*float_patches).mean()))
    assert got["nlf_error"] == pytest.approx(float(nlf_error(real, fake8, clean)[0]))
    rho_real, rho_fake = (noise_autocorrelation(x, clean, 3)[0] for x in (real, fake8))
    assert got["rho_h1_R"] == pytest.approx(float(rho_fake[0, 0, 0])) and got["rho_v3_B"] == pytest.approx(
        float(rho_fake[2, 1, 2]))
    assert got["corr_error_lag1"] == pytest.approx(float((rho_fake - rho_real)[:, :, 0].abs().max()))
    assert got["corr_error_lag2"] == pytest.approx(float((rho_fake - rho_real)[:, :, 1].abs().max()))
    cross_real, cross_fake = (noise_cross_correlation(x, clean)[0] for x in (real, fake8))
    assert got["cross_RB"] == pytest.approx(float(cross_fake[1]))
    assert got["cross_corr_error"] == pytest.approx(float((cross_fake - cross_real).abs().max()))
    ratio = noise_std(fake8, clean)[0] / noise_std(real, clean)[0]
    assert [got[f"std_ratio_{c}"] for c in "RGB"] == pytest.approx(ratio.tolist())
    assert b.real_stats["std_G"] == pytest.approx(255 * float(noise_std(real, clean)[0, 1]))
    # the real noise itself scores 0 everywhere, and its std ratio is 1
    same = block_metrics(real, b.noisy, clean, b.real_stats)
    assert {k: same[k] for k in METRICS} == pytest.approx({k: 0.0 for k in METRICS}, abs=1e-6)
    assert [same[f"std_ratio_{c}"] for c in "RGB"] == pytest.approx([1.0, 1.0, 1.0])
    assert block_metrics(real, fake.half(), clean)["kld_block"] == pytest.approx(got["kld_block"], rel=0.1)


def test_centre_crop():
    b = make_block("x", "GP", 800, 8, seed=0, size=10)
    c = b.centre_crop(4)
    assert torch.equal(c.clean, b.clean[..., 3:7, 3:7]) and torch.equal(c.noisy, b.noisy[..., 3:7, 3:7])
    assert (c.id, c.camera, c.iso) == ("x", "GP", 800) and b.centre_crop(32).clean.shape[-1] == 10


def test_sample_seed_is_crc32_of_seed_and_block():
    assert sample_seed(0, "01") == zlib.crc32(b"0|01")
    assert len({sample_seed(s, b) for s in (0, 1) for b in ("00", "01")}) == 4


def _blocks():
    return [make_block("g1", "GP", 800, 8, 0), make_block("g2", "GP", 800, 8, 1), make_block("c1", "G4", 400, 4, 2)]


def test_evaluate_scores_each_seed_and_skips_unavailable_blocks():
    calls = []

    def real(block, gen):  # the block's own real noise: every metric is 0
        calls.append(("real", block.id, int(torch.randint(1000, (1,), generator=gen))))
        return block.noisy, None

    def gp_only(block, gen):
        calls.append(("gp_only", block.id, None))
        if block.camera != "GP":
            raise NotAvailable(f"no {block.camera}")
        return (block.clean + 0.02 * torch.randn(block.clean.shape, generator=gen)).clamp(0, 1), "noted"

    methods = [Method("real", "reference", "", real, {}), Method("gp_only", "baseline", "", gp_only, {})]
    per_block, samples = evaluate(methods, _blocks(), [0, 1], torch.device("cpu"), progress=False,
                                  keep_samples=lambda b: b.id == "g2")
    assert all(per_block["real"][b][m] == pytest.approx([0.0, 0.0], abs=1e-6) for b in ("g1", "c1") for m in METRICS)
    assert per_block["gp_only"]["c1"] == {"available": False, "note": "n/a: no G4",
                                          **{m: [] for m in (*METRICS, *NOISE_STATS)}}
    assert per_block["gp_only"]["g1"]["note"] == "noted" and len(per_block["gp_only"]["g1"]["akld"]) == 2
    assert [c[1] for c in calls if c[0] == "gp_only"] == ["g1", "g2", "c1", "g1", "g2"]  # c1 not retried
    draws = {(c[1], k // 3): c[2] for k, c in enumerate(x for x in calls if x[0] == "real")}
    expected = int(torch.randint(1000, (1,), generator=torch.Generator().manual_seed(sample_seed(1, "g2"))))
    assert draws[("g2", 1)] == expected  # generator seeded from the seed and the block id
    assert set(samples) == {("real", "g2"), ("gp_only", "g2")} and samples[("real", "g2")].dtype == torch.float32


def test_summarize_means_per_camera_then_over_seeds():
    blocks = _blocks()
    methods = [Method("m", "baseline", "", None, {}), Method("none", "baseline", "", None, {})]
    values = {"g1": [1.0, 2.0], "g2": [3.0, 6.0], "c1": [10.0, 10.0]}
    keys = (*METRICS, *NOISE_STATS)
    per_block = {
        "m": {b: {"available": True, **{k: v for k in keys}} for b, v in values.items()},
        "none": {b: {"available": False, **{k: [] for k in keys}} for b in values},
    }
    s = summarize(methods, blocks, per_block, 2)
    assert s["groups"] == {"all": ["g1", "g2", "c1"], "GP": ["g1", "g2"], "G4": ["c1"]}
    assert set(s["methods"]["m"]) == set(keys)
    gp = s["methods"]["m"]["akld"]["GP"]
    assert gp["per_seed"] == [2.0, 4.0] and gp["mean"] == 3.0 and gp["std"] == pytest.approx(np.sqrt(2.0))
    assert (gp["block_min"], gp["block_max"]) == (1.5, 4.5)  # per-block means over seeds: g1 1.5, g2 4.5
    assert s["methods"]["m"]["std_ratio_G"]["all"]["per_seed"] == pytest.approx([14 / 3, 6.0])
    assert s["methods"]["m"]["akld"]["all"]["block_max"] == 10.0
    assert s["methods"]["none"]["kld_block"]["all"] == {"mean": None, "std": None, "n_blocks": 0, "of_blocks": 3}
    one = summarize(methods[:1], blocks, per_block, 1)["methods"]["m"]["akld"]["G4"]
    assert one["std"] is None and one["n_blocks"] == 1


def test_training_support_and_plot_blocks():
    blocks = _blocks()
    law = {"law": {"train_isos": {"GP": [800, 3200]}}}
    fitted = Method("m", "baseline", "", None, law,
                    support=lambda b: "seen" if b.camera == "GP" else "camera not in training data")
    assert training_support([Method("ref", "reference", "", None, {}), fitted], blocks) == {
        "GP/800": "seen (training ISOs of GP: [800, 3200])", "G4/400": "camera not in training data"}
    assert training_support([Method("ref", "reference", "", None, {})], blocks) == {}
    assert plot_block_ids(blocks, 1) == {"g1", "c1"} and plot_block_ids(blocks, 2) == {"g1", "g2", "c1"}


def test_blocks_from_mat_checks_the_image_count_and_indices(tmp_path):
    gt = np.zeros((40, 1, 8, 8, 3), np.uint8)
    scipy.io.savemat(tmp_path / "ValidationGtBlocksSrgb.mat", {"ValidationGtBlocksSrgb": gt})
    scipy.io.savemat(tmp_path / "ValidationNoisyBlocksSrgb.mat", {"ValidationNoisyBlocksSrgb": gt + 1})
    scipy.io.savemat(tmp_path / "Short.mat", {"Short": gt[:39]})
    blocks = blocks_from_mat(tmp_path / "ValidationNoisyBlocksSrgb.mat", tmp_path / "ValidationGtBlocksSrgb.mat", [39])
    assert [(b.id, b.camera, b.iso) for b in blocks] == [("v39-00", "IP", 1600)]
    clean, noisy = blocks[0].load()
    assert clean.dtype == np.uint8 and clean.shape == (8, 8, 3) and int(noisy.max()) == 1
    with pytest.raises(ValueError, match="image index 40 out of range 0..39"):
        blocks_from_mat(tmp_path / "ValidationNoisyBlocksSrgb.mat", tmp_path / "ValidationGtBlocksSrgb.mat", [40])
    with pytest.raises(ValueError, match=r"shape \(40, \*, \*, \*, 3\)"):
        blocks_from_mat(tmp_path / "Short.mat", tmp_path / "ValidationGtBlocksSrgb.mat")
