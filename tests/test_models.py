"""fitclip.models / fitclip.transforms: real open_clip code paths on random weights."""

import logging
import math

import open_clip
import timm
import pytest
import torch
import torch.nn.functional as F

from fitclip.files import load_state, save_state
from fitclip.models import ToyConvNet, WeightsUnavailable, freeze_batchnorm, load_clip, model_file_state
from fitclip.transforms import clip_transform, transforms_for


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return load_clip("fitclip-tiny", pretrained=None)


def test_tiny_configs_are_registered_like_real_ones():
    assert {"fitclip-tiny", "fitclip-toy", "ViT-B-16"} <= set(open_clip.list_models())
    toy = load_clip("fitclip-toy", None)
    n = sum(p.numel() for p in toy.parameters())
    assert 6e6 < n < 8e6 and toy.image_size == 64
    # The toy's image tower is a timm model registered like timm's own, wrapped by open_clip's adapter.
    assert "fitclip_toy_convnet" in timm.list_models("fitclip_*")
    assert isinstance(toy.clip.visual.trunk, ToyConvNet) and toy.clip.visual.trunk.global_pool == "max"
    with torch.no_grad():
        assert toy.encode_video(torch.randn(2, 4, 3, 64, 64)).shape == (2, 128)


def test_toy_convnet_folds_frozen_batchnorm_into_its_convolutions_exactly():
    torch.manual_seed(0)
    trunk = ToyConvNet()
    with torch.no_grad():  # non-trivial statistics, as after pretraining
        for m in trunk.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2), m.weight.uniform_(0.5, 2)
    trunk.eval()
    x = torch.randn(8, 3, 64, 64)
    with torch.no_grad():
        plain = trunk.features(x).amax(dim=(2, 3))  # conv, BatchNorm, ReLU one after the other
        assert torch.allclose(trunk(x), plain, rtol=1e-4, atol=1e-5)
    trunk.train()  # batch statistics: the plain modules run
    assert torch.equal(trunk(x), trunk.features(x.contiguous(memory_format=torch.channels_last)).amax(dim=(2, 3)))


def test_freeze_batchnorm_keeps_statistics_while_weights_train():
    toy = load_clip("fitclip-toy", None).train()
    freeze_batchnorm(toy)
    bns = [m for m in toy.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and not any(m.training for m in bns) and toy.clip.visual.trunk.features[0].training
    before = {k: v.clone() for k, v in toy.clip.state_dict().items() if "running" in k}
    opt = torch.optim.SGD(toy.parameters(), lr=0.1)
    video, text = toy(torch.randn(2, 4, 3, 64, 64), toy.tokenize(["a red circle", "a blue square"]))
    (video @ text.t()).sum().backward()
    opt.step()
    after = toy.clip.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # running statistics untouched
    assert toy.clip.visual.trunk.features[1].weight.grad is not None  # BN affine parameters still train


def test_encode_video_is_unrenormalised_mean_of_normalised_frames(tiny):
    frames = torch.randn(3, 4, 3, 32, 32)
    with torch.no_grad():
        video = tiny.encode_video(frames)
        per_frame = F.normalize(tiny.clip.encode_image(frames.flatten(0, 1)), dim=-1).view(3, 4, -1)
    assert torch.allclose(video, per_frame.mean(1), atol=1e-6)
    assert (video.norm(dim=-1) < 1 - 1e-4).all()  # not re-normalised


def test_encode_video_lengths_ignore_padding(tiny):
    frames = torch.randn(2, 4, 3, 32, 32)
    padded = frames.clone()
    padded[1, 2:] = 0  # clip 1 has 2 real frames
    with torch.no_grad():
        got = tiny.encode_video(padded, lengths=torch.tensor([4, 2]))
        short = tiny.encode_video(frames[1:, :2])
        full = tiny.encode_video(frames[:1])
    assert torch.allclose(got[1], short[0], atol=1e-6)
    assert torch.allclose(got[0], full[0], atol=1e-6)
    with pytest.raises(ValueError, match="lengths"):
        tiny.encode_video(frames, lengths=torch.tensor([0, 4]))
    with pytest.raises(ValueError, match=r"\[B, T, 3, H, W\]"):
        tiny.encode_video(frames[0])


def test_encode_text_normalised(tiny):
    with torch.no_grad():
        t = tiny.encode_text(tiny.tokenize(["a red circle", "a blue square moving left"]))
    assert t.shape == (2, 32)
    assert torch.allclose(t.norm(dim=-1), torch.ones(2), atol=1e-5)
    with pytest.raises(TypeError):
        tiny.tokenize("not a list")


def test_tokens_are_computed_once_per_architecture_and_texts(tiny, monkeypatch):
    """An α grid tokenises a benchmark's texts once: a second model of the same arch reuses the tokens."""
    calls = []
    texts = ["a green triangle spinning", "a yellow star growing"]
    expected = tiny._tokenizer(texts)
    other = load_clip("fitclip-tiny", pretrained=None)
    monkeypatch.setattr(other, "_tokenizer", lambda t: calls.append(t) or expected)
    first = other.tokenize(texts)
    assert torch.equal(first, expected) and len(calls) == 1
    assert torch.equal(tiny.tokenize(texts), expected) and tiny.tokenize(texts) is first and len(calls) == 1
    assert torch.equal(other.tokenize(texts[:1]), expected) and len(calls) == 2  # other texts: tokenised anew


def test_real_vit_b16_architecture_on_cpu():
    model = load_clip("ViT-B-16", pretrained=None)
    assert model.image_size == 224
    with torch.no_grad():
        v = model.encode_video(torch.randn(2, 4, 3, 224, 224))
        t = model.encode_text(model.tokenize(["a video of a person juggling", "a dog"]))
    assert v.shape == (2, 512) and t.shape == (2, 512)
    assert torch.isfinite(v).all() and torch.isfinite(t).all()


def test_openai_tag_is_the_one_parameter_real_path(monkeypatch):
    """`pretrained="openai"` goes to open_clip with the tag and OpenAI's QuickGELU; no download here."""
    seen = {}
    real_create_model = open_clip.create_model

    def fake_create_model(arch, pretrained=None, force_quick_gelu=False, device="cpu"):
        seen.update(arch=arch, pretrained=pretrained, quick_gelu=force_quick_gelu)
        return real_create_model("fitclip-tiny", pretrained=None)

    monkeypatch.setattr(open_clip, "create_model", fake_create_model)
    monkeypatch.setattr(open_clip, "get_tokenizer", lambda arch: open_clip.SimpleTokenizer())
    load_clip("ViT-B-16")  # all defaults: the paper's teacher
    assert seen == {"arch": "ViT-B-16", "pretrained": "openai", "quick_gelu": True}


def test_roundtrip_plain_open_clip_state_dict(tiny, tmp_path):
    path = save_state(tiny.clip.state_dict(), tmp_path / "plain.pt")
    again = load_clip("fitclip-tiny", path)
    for k, v in tiny.clip.state_dict().items():
        assert torch.equal(v, again.clip.state_dict()[k]), k


def test_model_file_and_training_checkpoint(tiny, tmp_path):
    mf = save_state(model_file_state(tiny), tmp_path / "model.pt")
    assert load_clip("fitclip-tiny", str(mf)).quick_gelu is True
    ckpt = save_state({"student": tiny.clip.state_dict(), "config": {"arch": "fitclip-tiny"}, "step": 3},
                      tmp_path / "train.pt")
    again = load_clip("fitclip-tiny", ckpt)
    assert torch.equal(again.clip.visual.conv1.weight, tiny.clip.visual.conv1.weight)
    with pytest.raises(ValueError, match="arch 'fitclip-tiny'.*pass arch='fitclip-tiny'"):
        load_clip("fitclip-toy", mf)


def test_bare_openai_state_dict_without_logit_scale(tiny, tmp_path):
    """Like the released FitCLIP student: OpenAI key names, no logit_scale; QuickGELU is inferred."""
    sd = {k: v for k, v in tiny.clip.state_dict().items() if k != "logit_scale"}
    sd["input_resolution"] = torch.tensor(32)  # a JIT-archive buffer that is not a parameter
    path = save_state(sd, tmp_path / "fitclip_student.pt")
    model = load_clip("fitclip-tiny", path, quick_gelu=None)
    assert model.quick_gelu is True
    assert model.clip.logit_scale.item() == pytest.approx(math.log(1 / 0.07))


def test_strict_loading_lists_missing_and_unexpected_keys(tiny, tmp_path):
    sd = dict(tiny.clip.state_dict())
    sd.pop("ln_final.weight")
    sd["extra.thing"] = torch.zeros(1)
    path = save_state(sd, tmp_path / "bad.pt")
    with pytest.raises(ValueError) as e:
        load_clip("fitclip-tiny", path)
    assert "ln_final.weight" in str(e.value) and "extra.thing" in str(e.value)


def test_bad_arguments_fail_fast(tmp_path):
    with pytest.raises(ValueError, match="unknown architecture"):
        load_clip("ViT-Z-99", None)
    with pytest.raises(ValueError, match="neither an open_clip tag"):
        load_clip("fitclip-tiny", "laion-nonsense")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_clip("fitclip-tiny", str(tmp_path / "missing.pt"))
    torch.save(torch.nn.Linear(2, 2), tmp_path / "module.pt")  # a pickled module, not a state dict
    with pytest.raises(ValueError, match="weights_only"):
        load_state(tmp_path / "module.pt")


def test_eval_transform_bicubic_shorter_side_center_crop():
    from torchvision.transforms.v2 import functional as TF
    frames = torch.randint(0, 256, (4, 48, 80, 3), dtype=torch.uint8)
    tf = clip_transform(32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), train=False)
    out = tf(frames)
    assert out.shape == (4, 3, 32, 32) and out.dtype == torch.float32
    x = frames.permute(0, 3, 1, 2)
    ref = TF.center_crop(TF.resize(x, [32, 53], interpolation=TF.InterpolationMode.BICUBIC, antialias=True), [32, 32])
    assert torch.allclose(out, (ref.float() / 255 - 0.5) / 0.25, atol=1e-5)


def test_train_transform_shares_crop_and_flip_across_frames():
    # Four identical frames must stay identical: one crop box, one interpolation, one flip per clip.
    frame = torch.randint(0, 256, (1, 40, 60, 3), dtype=torch.uint8)
    tf = clip_transform(32, (0.5,) * 3, (0.25,) * 3, train=True)
    outs = []
    for seed in range(20):
        torch.manual_seed(seed)
        out = tf(frame.repeat(4, 1, 1, 1))
        assert out.shape == (4, 3, 32, 32)
        assert all(torch.equal(out[0], out[i]) for i in range(1, 4))
        outs.append(out[0])
    assert len({tuple(o.flatten()[:50].tolist()) for o in outs}) > 10  # it is random across clips
    crops = tf.pipeline.transforms[0].transforms
    assert {c.interpolation.value for c in crops} == {"bilinear", "bicubic"}
    assert crops[0].scale == (0.5, 1.0) and crops[0].ratio == pytest.approx((3 / 4, 4 / 3))


def test_transform_rejects_wrong_input(tiny):
    _, ev = transforms_for(tiny)
    with pytest.raises(ValueError, match=r"uint8 frames \[T, H, W, 3\]"):
        ev(torch.zeros(4, 3, 32, 32))


def test_loading_a_weights_file_does_not_warn_random_init_but_random_weights_do(tmp_path, caplog):
    """open_clip's "initialized randomly" warning is silenced only where load_clip then loads a file."""
    with caplog.at_level(logging.WARNING):
        model = load_clip("fitclip-tiny", None)
    assert any("initialized randomly" in r.getMessage() for r in caplog.records)
    path = save_state(model_file_state(model), tmp_path / "tiny.pt")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        loaded = load_clip("fitclip-tiny", str(path))
    assert not any("initialized randomly" in r.getMessage() for r in caplog.records)
    assert torch.equal(loaded.clip.state_dict()["text_projection"], model.clip.state_dict()["text_projection"])
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the filter is gone afterwards
        load_clip("fitclip-tiny", "none")
    assert any("initialized randomly" in r.getMessage() for r in caplog.records)


def _offline_download(calls: list, error: Exception):
    """open_clip's download step on a machine without network: huggingface_hub warns once per retry, then fails."""
    def download_pretrained(cfg, *args, **kwargs):
        calls.append(cfg)
        hub = logging.getLogger("huggingface_hub.utils._http")
        for attempt in range(1, 4):
            hub.warning("'[Errno -2] Name or service not known' thrown while requesting HEAD https://huggingface.co/x")
            hub.warning("Retrying in %ds [Retry %d/5].", attempt, attempt)
        raise error
    return download_pretrained


def test_a_tag_whose_weights_cannot_be_downloaded_is_one_clear_error(monkeypatch, caplog):
    """Issue 17: offline, `pretrained="openai"` ended in open_clip's RuntimeError (a 61-line traceback on the command
    line, ~40 lines of retry warnings before it). Now: WeightsUnavailable, one line with the arch, the tag and the
    fix; open_clip's error is its cause; the hub's retry warnings are said once. No network is touched here."""
    import open_clip.factory

    calls = []
    cause = FileNotFoundError("Failed to download file (open_clip_pytorch_model.bin) for timm/vit_base_patch16_"
                              "clip_224.openai. Last error: cannot find the requested files in the local cache")
    monkeypatch.setattr(open_clip.factory, "download_pretrained", _offline_download(calls, cause))
    with caplog.at_level(logging.WARNING), pytest.raises(WeightsUnavailable) as raised:
        load_clip("ViT-B-16", "openai")
    message = str(raised.value)
    assert len(calls) == 1 and isinstance(raised.value, RuntimeError)
    assert "\n" not in message and message.startswith("the ViT-B-16 weights of open_clip tag 'openai' could not be "
                                                      "downloaded: this machine is offline")
    assert "--pretrained PATH" in message and "state-dict file" in message and "run once online" in message
    assert isinstance(raised.value.__cause__, RuntimeError) and "Failed to download" in str(raised.value.__cause__)
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith("open_clip cannot reach the hub for the ViT-B-16 weights 'openai'")
    assert "Name or service not known" in said[0] and "HF_HUB_OFFLINE=1" in said[0]
    # The filters are gone afterwards: the hub's own warnings and open_clip's errors pass again.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        logging.getLogger("huggingface_hub.utils._http").warning("Retrying in 1s [Retry 1/5].")
        logging.getLogger().error("Failed to download weights for tag 'x': y")
    assert [r.getMessage() for r in caplog.records] == ["Retrying in 1s [Retry 1/5].",
                                                        "Failed to download weights for tag 'x': y"]


def test_a_cached_file_that_cannot_be_loaded_is_not_called_a_failed_download(monkeypatch, tmp_path):
    """Only a failed download becomes WeightsUnavailable: a damaged cached file passes open_clip's own error."""
    import open_clip.factory

    junk = tmp_path / "open_clip_pytorch_model.bin"
    junk.write_bytes(b"not a checkpoint")
    monkeypatch.setattr(open_clip.factory, "download_pretrained", lambda cfg, *a, **k: str(junk))
    with pytest.raises(Exception) as raised:
        load_clip("ViT-B-16", "openai")
    assert not isinstance(raised.value, WeightsUnavailable) and "could not be downloaded" not in str(raised.value)
