"""Static masks come out bit-identical to those recorded before distributions and N:M patterns
were added (commit b83d5e8), asked for by the distribution the retired `scope` now reads as
(settings holding `scope` map to it), and by each method's declared default distribution.

Fingerprint = sha256 over (name, uint8 mask bytes) in sorted name order, first 16 hex digits;
ResNet-20 at width 0.25 on 8x8 digits, one scoring batch of 64, synflow with 5 rounds.
"""
import hashlib

import pytest
import torch

import sparsekit as sk
from sparsekit import masks
from sparsekit.models import build

torch.set_num_threads(1)

# (method, scope, sparsity, seed, ablation) -> (fingerprint, kept), recorded at b83d5e8.
RECORDED = {
    ("random", "global", 0.5, 0, ""): ("efb1d8b72e200eee", 8450),
    ("random", "global", 0.5, 3, ""): ("c9d558df369bfd55", 8450),
    ("random", "global", 0.5, 0, "shuffle"): ("f085f9d84b3e9f37", 8450),
    ("random", "global", 0.5, 3, "shuffle"): ("e7a43d98c8676dc2", 8450),
    ("random", "global", 0.9, 0, ""): ("78ba30d9104dd4e4", 1690),
    ("random", "global", 0.9, 3, ""): ("82cfbe74b38ce6aa", 1690),
    ("random", "global", 0.9, 0, "shuffle"): ("a1f422e03799624f", 1690),
    ("random", "global", 0.9, 3, "shuffle"): ("cbbe56feacd26a02", 1690),
    ("random", "layerwise", 0.5, 0, ""): ("efb1d8b72e200eee", 8450),
    ("random", "layerwise", 0.5, 3, ""): ("c9d558df369bfd55", 8450),
    ("random", "layerwise", 0.5, 0, "shuffle"): ("f085f9d84b3e9f37", 8450),
    ("random", "layerwise", 0.5, 3, "shuffle"): ("e7a43d98c8676dc2", 8450),
    ("random", "layerwise", 0.9, 0, ""): ("cd3a29a0c33018f5", 1688),
    ("random", "layerwise", 0.9, 3, ""): ("6b4835f23cbc1006", 1688),
    ("random", "layerwise", 0.9, 0, "shuffle"): ("c14a2efbdfc83c06", 1688),
    ("random", "layerwise", 0.9, 3, "shuffle"): ("c922f64a2dd95da5", 1688),
    ("erk", "global", 0.5, 0, ""): ("361f37f970f2d752", 8450),
    ("erk", "global", 0.5, 3, ""): ("a57b583f0cf3d7fe", 8450),
    ("erk", "global", 0.5, 0, "shuffle"): ("32a52346038328d2", 8450),
    ("erk", "global", 0.5, 3, "shuffle"): ("a88f2cc14c901407", 8450),
    ("erk", "global", 0.9, 0, ""): ("99fffac32299b6bb", 1690),
    ("erk", "global", 0.9, 3, ""): ("112fce8c1a27e438", 1690),
    ("erk", "global", 0.9, 0, "shuffle"): ("b6f36313021ffb61", 1690),
    ("erk", "global", 0.9, 3, "shuffle"): ("1297ef8c1f045031", 1690),
    ("magnitude", "global", 0.5, 0, ""): ("ea5c815c3c77f401", 8450),
    ("magnitude", "global", 0.5, 3, ""): ("aa3a16938388b168", 8450),
    ("magnitude", "global", 0.5, 0, "shuffle"): ("d6a557578c1a67f5", 8450),
    ("magnitude", "global", 0.5, 3, "shuffle"): ("ab0c0d8ff37cb246", 8450),
    ("magnitude", "global", 0.5, 0, "invert"): ("75d454a5f1869c36", 8450),
    ("magnitude", "global", 0.5, 3, "invert"): ("31792a4d89c71db6", 8450),
    ("magnitude", "global", 0.9, 0, ""): ("2069943ec2693f43", 1690),
    ("magnitude", "global", 0.9, 3, ""): ("ef5fae721d784161", 1690),
    ("magnitude", "global", 0.9, 0, "shuffle"): ("82c83dbff82dd3bc", 1690),
    ("magnitude", "global", 0.9, 3, "shuffle"): ("f77a058b3d47fe66", 1690),
    ("magnitude", "global", 0.9, 0, "invert"): ("3ef04a89f951134e", 1690),
    ("magnitude", "global", 0.9, 3, "invert"): ("2caa4b4901772e2c", 1690),
    ("magnitude", "layerwise", 0.5, 0, ""): ("d8c9b20b6316f794", 8450),
    ("magnitude", "layerwise", 0.5, 3, ""): ("d8a3d2b935014371", 8450),
    ("magnitude", "layerwise", 0.5, 0, "shuffle"): ("efb1d8b72e200eee", 8450),
    ("magnitude", "layerwise", 0.5, 3, "shuffle"): ("c9d558df369bfd55", 8450),
    ("magnitude", "layerwise", 0.5, 0, "invert"): ("48cfe44e59c2e142", 8450),
    ("magnitude", "layerwise", 0.5, 3, "invert"): ("99d7c23179f1db3c", 8450),
    ("magnitude", "layerwise", 0.9, 0, ""): ("2b18ca5bbb3c6d73", 1688),
    ("magnitude", "layerwise", 0.9, 3, ""): ("0a6141c445b8ac96", 1688),
    ("magnitude", "layerwise", 0.9, 0, "shuffle"): ("cd3a29a0c33018f5", 1688),
    ("magnitude", "layerwise", 0.9, 3, "shuffle"): ("6b4835f23cbc1006", 1688),
    ("magnitude", "layerwise", 0.9, 0, "invert"): ("dc263d6c993783ac", 1688),
    ("magnitude", "layerwise", 0.9, 3, "invert"): ("6f002242be73e6a6", 1688),
    ("snip", "global", 0.5, 0, ""): ("fcf3b9754ae4f3fd", 8450),
    ("snip", "global", 0.5, 3, ""): ("875f58bcdf521094", 8450),
    ("snip", "global", 0.5, 0, "shuffle"): ("db20ce83d35dc5d6", 8450),
    ("snip", "global", 0.5, 3, "shuffle"): ("d95c8784330b69e2", 8450),
    ("snip", "global", 0.5, 0, "invert"): ("3faaf6d3712ea655", 8450),
    ("snip", "global", 0.5, 3, "invert"): ("0c44f124bc16b337", 8450),
    ("snip", "global", 0.9, 0, ""): ("8af1f8d198f0b278", 1690),
    ("snip", "global", 0.9, 3, ""): ("fc787ecec7fcf218", 1690),
    ("snip", "global", 0.9, 0, "shuffle"): ("ef97be7606a24c7a", 1690),
    ("snip", "global", 0.9, 3, "shuffle"): ("520f27c712579ccd", 1690),
    ("snip", "global", 0.9, 0, "invert"): ("34bfafade8429959", 1690),
    ("snip", "global", 0.9, 3, "invert"): ("6cfeabbc4790ad58", 1690),
    ("snip", "layerwise", 0.5, 0, ""): ("2fe0fdc9d328d5d5", 8450),
    ("snip", "layerwise", 0.5, 3, ""): ("7db8abbefa0e7e4d", 8450),
    ("snip", "layerwise", 0.5, 0, "shuffle"): ("efb1d8b72e200eee", 8450),
    ("snip", "layerwise", 0.5, 3, "shuffle"): ("c9d558df369bfd55", 8450),
    ("snip", "layerwise", 0.5, 0, "invert"): ("941c8e5d36d96dfa", 8450),
    ("snip", "layerwise", 0.5, 3, "invert"): ("94d902ed72b80fd8", 8450),
    ("snip", "layerwise", 0.9, 0, ""): ("e9c815aa05365524", 1688),
    ("snip", "layerwise", 0.9, 3, ""): ("97e4a44936ec2900", 1688),
    ("snip", "layerwise", 0.9, 0, "shuffle"): ("cd3a29a0c33018f5", 1688),
    ("snip", "layerwise", 0.9, 3, "shuffle"): ("6b4835f23cbc1006", 1688),
    ("snip", "layerwise", 0.9, 0, "invert"): ("cca7f63b932f84dc", 1688),
    ("snip", "layerwise", 0.9, 3, "invert"): ("53e91ac2694febc8", 1688),
    ("grasp", "global", 0.5, 0, ""): ("d8b3ecdc6fedbf69", 8450),
    ("grasp", "global", 0.5, 3, ""): ("84fb0f0fd1464c73", 8450),
    ("grasp", "global", 0.5, 0, "shuffle"): ("d007b6f632aa2ef8", 8450),
    ("grasp", "global", 0.5, 3, "shuffle"): ("fe69ddcf28c2b763", 8450),
    ("grasp", "global", 0.5, 0, "invert"): ("27fe17531bcc6439", 8450),
    ("grasp", "global", 0.5, 3, "invert"): ("3a51aba76d8ce93d", 8450),
    ("grasp", "global", 0.9, 0, ""): ("075db70e155b5b7f", 1690),
    ("grasp", "global", 0.9, 3, ""): ("a41ad6e4ec1962a2", 1690),
    ("grasp", "global", 0.9, 0, "shuffle"): ("8839a7e1e5913c8e", 1690),
    ("grasp", "global", 0.9, 3, "shuffle"): ("d6a1b7d5c5b78b46", 1690),
    ("grasp", "global", 0.9, 0, "invert"): ("9a0d9e86bab8b7bc", 1690),
    ("grasp", "global", 0.9, 3, "invert"): ("c8f9f1e340879e49", 1690),
    ("grasp", "layerwise", 0.5, 0, ""): ("02ecc17b0762e2f3", 8450),
    ("grasp", "layerwise", 0.5, 3, ""): ("7a143c247ed798c4", 8450),
    ("grasp", "layerwise", 0.5, 0, "shuffle"): ("efb1d8b72e200eee", 8450),
    ("grasp", "layerwise", 0.5, 3, "shuffle"): ("c9d558df369bfd55", 8450),
    ("grasp", "layerwise", 0.5, 0, "invert"): ("c824693d67ad6861", 8450),
    ("grasp", "layerwise", 0.5, 3, "invert"): ("4cb14562c2fbe1fb", 8450),
    ("grasp", "layerwise", 0.9, 0, ""): ("651f5034a564cef2", 1688),
    ("grasp", "layerwise", 0.9, 3, ""): ("c67d7c0849dbba04", 1688),
    ("grasp", "layerwise", 0.9, 0, "shuffle"): ("cd3a29a0c33018f5", 1688),
    ("grasp", "layerwise", 0.9, 3, "shuffle"): ("6b4835f23cbc1006", 1688),
    ("grasp", "layerwise", 0.9, 0, "invert"): ("831e1e5bf2137f23", 1688),
    ("grasp", "layerwise", 0.9, 3, "invert"): ("8fac21b5712929d6", 1688),
    ("synflow", "global", 0.5, 0, ""): ("61f0977cb733acb3", 8450),
    ("synflow", "global", 0.5, 3, ""): ("1d65cbe1af00a0db", 8450),
    ("synflow", "global", 0.5, 0, "shuffle"): ("c7066fdabefca0f8", 8450),
    ("synflow", "global", 0.5, 3, "shuffle"): ("2748aa246f1c6ac3", 8450),
    ("synflow", "global", 0.9, 0, ""): ("61208dec4a00fc8f", 1690),
    ("synflow", "global", 0.9, 3, ""): ("9d1f8a43a81f6af7", 1690),
    ("synflow", "global", 0.9, 0, "shuffle"): ("095d187d430eb95c", 1690),
    ("synflow", "global", 0.9, 3, "shuffle"): ("0a737cdb2409cd46", 1690),
    ("synflow", "layerwise", 0.5, 0, ""): ("ef3ff0e769e944f4", 8450),
    ("synflow", "layerwise", 0.5, 3, ""): ("3a93ef4ccf105ada", 8450),
    ("synflow", "layerwise", 0.5, 0, "shuffle"): ("efb1d8b72e200eee", 8450),
    ("synflow", "layerwise", 0.5, 3, "shuffle"): ("c9d558df369bfd55", 8450),
    ("synflow", "layerwise", 0.9, 0, ""): ("515bf8e71d6ef44b", 1688),
    ("synflow", "layerwise", 0.9, 3, ""): ("b91761d1b5bda1e9", 1688),
    ("synflow", "layerwise", 0.9, 0, "shuffle"): ("cd3a29a0c33018f5", 1688),
    ("synflow", "layerwise", 0.9, 3, "shuffle"): ("6b4835f23cbc1006", 1688),
}
# What settings holding the retired scope read as (`training.config.scope_as_distribution`):
# "global" was every call's default and asked for the method's own counts.
SCOPE_AS_DISTRIBUTION = {"global": None, "layerwise": "uniform"}


@pytest.fixture(scope="module")
def batches():
    digits = sk.data.load("digits", batch_size=64)
    digits.train.set_epoch(0)
    return [next(iter(digits.train))]


def resnet(seed):
    torch.manual_seed(seed)
    return build("resnet20", 10, in_channels=1, width=0.25, input_size=8)


def fingerprint(mask):
    digest = hashlib.sha256()
    for name in sorted(mask):
        digest.update(name.encode())
        digest.update(mask[name].to(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def _compute(case, batches, **how):
    method, _, sparsity, seed, ablation = case
    options = {"rounds": 5} if method == "synflow" else {}
    if ablation:
        options[ablation] = True
    return masks.compute(method, resnet(seed), sparsity, data=batches, seed=seed, **how, **options)


@pytest.mark.parametrize("case", sorted(RECORDED), ids=lambda case: "-".join(map(str, case)))
def test_the_distribution_scope_reads_as_gives_the_recorded_mask(case, batches):
    config = sk.TrainConfig(scope=case[1])  # an old config, record or sweep spec naming scope
    assert config.distribution == SCOPE_AS_DISTRIBUTION[case[1]]
    mask = _compute(case, batches, distribution=config.distribution)
    assert (fingerprint(mask), mask.num_kept()) == RECORDED[case]


@pytest.mark.parametrize("case", sorted(c for c in RECORDED if c[1] == "global"), ids=lambda case: "-".join(map(str, case)))
def test_the_methods_declared_distribution_gives_the_recorded_mask(case, batches):
    mask = _compute(case, batches, distribution=masks.METHODS.get(case[0]).distribution)
    assert (fingerprint(mask), mask.num_kept()) == RECORDED[case]


@pytest.mark.parametrize("case", sorted(c for c in RECORDED if c[1] == "global"), ids=lambda case: "-".join(map(str, case)))
def test_no_scope_and_no_distribution_is_the_old_default(case, batches):
    mask = _compute(case, batches)
    assert (fingerprint(mask), mask.num_kept()) == RECORDED[case]
